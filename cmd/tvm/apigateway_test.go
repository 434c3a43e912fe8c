package main

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestAPIGatewayNeverInventsGroups: one IdP group whose name holds a space
// or a comma, flattened by API Gateway, is never split into groups the
// caller is not in: by default (json) a flattened string is refused, and a
// declared format splits only on its own delimiter.
func TestAPIGatewayNeverInventsGroups(t *testing.T) {
	for _, tt := range []struct {
		claim, format string
	}{
		{"[ReadWriteUserGroup Requesters]", ""}, // HTTP API: one group "ReadWriteUserGroup Requesters"
		{"ReadWriteUserGroup,Requesters", ""},   // REST API + Cognito: one group "ReadWriteUserGroup,Requesters"
		{"[ReadWriteUserGroup Requesters]", groupsJSON},
		{"ReadWriteUserGroup,Requesters", groupsSpace}, // commas are part of names under space
		{"[ReadWriteUserGroup,Requesters]", groupsSpace},
		{"ReadWriteUserGroup Requesters", groupsSpace}, // not the [a b] form: refused
		{"[ReadWriteUserGroup Requesters]", groupsComma},
		{"ReadWriteUserGroup Requesters", groupsComma},
	} {
		groups, err := parseGroups(tt.claim, cmp.Or(tt.format, groupsJSON))
		if err == nil && slices.Contains(groups, "ReadWriteUserGroup") {
			t.Errorf("claim %q, format %q: groups %q: ReadWriteUserGroup invented", tt.claim, tt.format, groups)
		}
	}
}

// TestParseGroupsFormats: what each format accepts.
func TestParseGroupsFormats(t *testing.T) {
	tests := []struct {
		in     any
		format string
		want   string // groups joined with "|"
		err    bool
	}{
		{[]any{"a", "b c"}, groupsJSON, "a|b c", false}, // a real list: always unambiguous
		{[]any{"a b", "c,d"}, groupsSpace, "a b|c,d", false},
		{[]string{"a", "b"}, groupsComma, "a|b", false},
		{[]any{"a", 1.0}, groupsJSON, "", true},
		{`["a","b c"]`, groupsJSON, "a|b c", false},
		{"", groupsJSON, "", false},
		{"[]", groupsJSON, "", false},
		{"[a b]", groupsJSON, "", true},
		{"a,b", groupsJSON, "", true},
		{"single", groupsJSON, "", true},
		{"[a b]", groupsSpace, "a|b", false},
		{"[a]", groupsSpace, "a", false},
		{"[a,b c]", groupsSpace, "a,b|c", false},
		{"single", groupsSpace, "single", false},
		{"a b", groupsSpace, "", true},
		{"a,b", groupsComma, "a|b", false},
		{"a,,b,", groupsComma, "a|b", false},
		{" a ,b", groupsComma, " a |b", false}, // never trimmed into another name
		{"single", groupsComma, "single", false},
		{1.0, groupsComma, "", true},
	}
	for _, tt := range tests {
		got, err := parseGroups(tt.in, tt.format)
		if (err != nil) != tt.err {
			t.Errorf("parseGroups(%#v, %s) err = %v", tt.in, tt.format, err)
			continue
		}
		if strings.Join(got, "|") != tt.want {
			t.Errorf("parseGroups(%#v, %s) = %q, want %q", tt.in, tt.format, got, tt.want)
		}
	}
}

// TestAPIGatewayGroupsFormatConfig: tvm check refuses an unknown format,
// and a rule group holding the declared delimiter (it could never match).
func TestAPIGatewayGroupsFormatConfig(t *testing.T) {
	scopes := "scopes:\n  - group: 'Read Write'\n    permissions: [{role: readonly, cache: c}]\n  - group: 'a,b'\n    permissions: [{role: readonly, cache: c}]\n"
	for format, want := range map[string]string{
		"json":  "",
		"space": "scopes[0].group: holds whitespace, where auth.apigateway.groupsFormat: space splits the groups claim: it could never match",
		"comma": "scopes[1].group: holds a comma, where auth.apigateway.groupsFormat: comma splits the groups claim: it could never match",
		"auto":  "auth.apigateway.groupsFormat: must be json, space or comma",
	} {
		_, err := ParseConfig([]byte("auth: {method: apigateway, apigateway: {groupsFormat: " + format + "}}\n" + scopes))
		var ce configErrors
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", format, err)
		case want != "" && (!errors.As(err, &ce) || len(ce) != 1 || ce[0].String() != want):
			t.Errorf("%s: %v, want %s", format, err, want)
		}
	}
}
