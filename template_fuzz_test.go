package tvm

import (
	"errors"
	"strings"
	"testing"
)

// tfPermission puts tmpl in the field of a permission chosen by field.
func tfPermission(field uint8, tmpl string) Permission {
	switch field % 5 {
	case 0:
		return Permission{Role: PublishSubscribe, Cache: "c", Topic: tmpl}
	case 1:
		return Permission{Role: SubscribeOnly, Cache: "c", TopicPrefix: tmpl}
	case 2:
		return Permission{Role: ReadWrite, Cache: "c", Key: tmpl}
	case 3:
		return Permission{Role: ReadOnly, Cache: "c", KeyPrefix: tmpl}
	}
	return Permission{Role: ReadOnly, Cache: tmpl}
}

// tfField returns the field of p that tfPermission filled.
func tfField(field uint8, p Permission) string {
	return [...]string{p.Topic, p.TopicPrefix, p.Key, p.KeyPrefix, p.Cache}[field%5]
}

// FuzzScopeExpand expands arbitrary templates with arbitrary subjects and
// claim values. It must never panic; a failure wraps ErrInvalidScope; and a
// success is a scope that passes Validate, has no brace left, has a
// wildcard only where the template's own text had one, keeps the field's
// kind (name or prefix), is the template with each placeholder replaced by
// the value, and, when the subject is the only thing that differs, never
// lets one subject's prefix cover another's names.
//
//	go test -run '^$' -fuzz FuzzScopeExpand -fuzztime 60s .
func FuzzScopeExpand(f *testing.F) {
	for _, s := range []struct {
		tmpl         string
		field        uint8
		sub, sub2, v string
	}{
		{"user-{sub}", 0, "alice", "bob", "t1"},
		{"{sub}/", 1, "ab", "abc", "t1"},
		{"{tenant}/{sub}/", 3, "ab", "abc", "acme"},
		{"{tenant}:{sub}", 2, "u-1", "u-2", "acme"},
		{"room-{sub}", 1, "a", "ab", ""},
		{"{sub}", 4, "cache-a", "cache-b", ""},
		{"*", 0, "alice", "bob", "*"},
		{"{sub}", 0, "*", "a*", "x"},
		{"{sub}", 1, "a", "b", ""},
		{"{sub}{tenant}", 0, "a", "b", "c"},
		{"{{sub}}", 0, "a", "b", "c"},
		{"{sub", 0, "a", "b", "c"},
		{"pre-{custom:tenant}/", 3, "a", "b", "acme"},
		{"{sub}/{sub}/", 3, "a", "aa", ""},
		{"x{sub}y/", 1, "é", "e\u0301", ""},
		{"{sub}", 2, "a\u202eb", "ab", ""},
		{"{sub}", 0, strings.Repeat("a", 300), "a", ""},
	} {
		f.Add(s.tmpl, s.field, s.sub, s.sub2, s.v)
	}
	f.Fuzz(func(t *testing.T, tmpl string, field uint8, sub, sub2, value string) {
		scope := Scope{tfPermission(field, tmpl)}
		id := Identity{Subject: sub, Claims: map[string]any{"tenant": value, "custom:tenant": value, "n": 42.0}}
		out, err := scope.Expand(id)
		if err != nil {
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("error does not wrap ErrInvalidScope: %v", err)
			}
			return
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("expanded scope %v does not validate: %v", out, err)
		}
		if len(out) != 1 {
			t.Fatalf("%d permissions", len(out))
		}
		got := tfField(field, out[0])
		// Same kind of field, nothing else changed.
		if out[0] != tfPermission(field, got) {
			t.Fatalf("expansion changed the permission's shape: %+v from template %q", out[0], tmpl)
		}
		if strings.ContainsAny(got, "{}") {
			t.Fatalf("brace left in %q (template %q)", got, tmpl)
		}
		// The template with each placeholder replaced by its value.
		want := tmpl
		for name, v := range map[string]string{"sub": sub, "tenant": value, "custom:tenant": value} {
			want = strings.ReplaceAll(want, "{"+name+"}", v)
		}
		if got != want {
			t.Fatalf("template %q expanded to %q, want %q", tmpl, got, want)
		}
		// Wildcards come from the template's text only.
		literal := tmpl
		for _, name := range []string{"{sub}", "{tenant}", "{custom:tenant}"} {
			literal = strings.ReplaceAll(literal, name, "")
		}
		if strings.Count(got, "*") != strings.Count(literal, "*") {
			t.Fatalf("template %q with values %q/%q expanded to %q: a value added a wildcard", tmpl, sub, value, got)
		}

		// Another subject, everything else equal.
		if sub2 == sub || !strings.Contains(tmpl, "{sub}") {
			return
		}
		id.Subject = sub2
		out2, err := scope.Expand(id)
		if err != nil {
			return
		}
		got2 := tfField(field, out2[0])
		if got == got2 {
			t.Fatalf("subjects %q and %q both expand %q to %q", sub, sub2, tmpl, got)
		}
		if field%5 == 1 || field%5 == 3 { // prefixes
			if strings.HasPrefix(got, got2) || strings.HasPrefix(got2, got) {
				t.Fatalf("prefix template %q: %q (subject %q) and %q (subject %q) overlap", tmpl, got, sub, got2, sub2)
			}
		}
	})
}
