package tvm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestPermissionValidate(t *testing.T) {
	long := strings.Repeat("a", MaxNameLength)
	tests := []struct {
		name    string
		perm    Permission
		field   string // "" means valid
		problem string // substring of the problem
	}{
		// Valid permissions of every shape.
		{"topic all/all", Permission{Role: PublishSubscribe, Cache: All, Topic: All}, "", ""},
		{"topic one cache all topics", Permission{Role: SubscribeOnly, Cache: "default-cache", Topic: All}, "", ""},
		{"topic one topic", Permission{Role: PublishOnly, Cache: "default-cache", Topic: "room-42"}, "", ""},
		{"topic prefix", Permission{Role: PublishSubscribe, Cache: "default-cache", TopicPrefix: "room-"}, "", ""},
		{"cache all items", Permission{Role: ReadWrite, Cache: "default-cache"}, "", ""},
		{"cache all caches", Permission{Role: ReadOnly, Cache: All}, "", ""},
		{"cache key", Permission{Role: WriteOnly, Cache: "c", Key: "user/42:profile"}, "", ""},
		{"cache key prefix", Permission{Role: ReadOnly, Cache: "c", KeyPrefix: "user/42/"}, "", ""},
		{"max length name", Permission{Role: PublishSubscribe, Cache: "c", Topic: long}, "", ""},
		{"unicode letters", Permission{Role: PublishSubscribe, Cache: "c", Topic: "salle-été-é"}, "", ""},
		{"email-like and pipes", Permission{Role: ReadOnly, Cache: "c", Key: "auth0|alice@example.com"}, "", ""},

		// Role.
		{"missing role", Permission{Cache: "c", Topic: "*"}, "role", "missing"},
		{"unknown role", Permission{Role: "admin", Cache: "c", Topic: "*"}, "role", "unknown"},
		{"role not normalised", Permission{Role: "PublishSubscribe", Cache: "c", Topic: "*"}, "role", "unknown"},

		// Selector fields for the role's kind.
		{"key on topic role", Permission{Role: PublishSubscribe, Cache: "c", Topic: "*", Key: "k"}, "key", "topic permission"},
		{"keyPrefix on topic role", Permission{Role: SubscribeOnly, Cache: "c", Topic: "*", KeyPrefix: "k"}, "keyPrefix", "topic permission"},
		{"topic on cache role", Permission{Role: ReadOnly, Cache: "c", Topic: "t"}, "topic", "cache permission"},
		{"topicPrefix on cache role", Permission{Role: WriteOnly, Cache: "c", TopicPrefix: "t"}, "topicPrefix", "cache permission"},
		{"topic and topicPrefix", Permission{Role: PublishOnly, Cache: "c", Topic: "t", TopicPrefix: "t"}, "topicPrefix", "exactly one"},
		{"no topic selector", Permission{Role: PublishOnly, Cache: "c"}, "topic", "missing"},
		{"key and keyPrefix", Permission{Role: ReadWrite, Cache: "c", Key: "k", KeyPrefix: "k"}, "keyPrefix", "at most one"},

		// Cache.
		{"missing cache", Permission{Role: ReadWrite}, "cache", "empty"},
		{"blank cache", Permission{Role: ReadWrite, Cache: " "}, "cache", "whitespace"},
		{"cache with wildcard inside", Permission{Role: ReadWrite, Cache: "cache-*"}, "cache", `"*"`},

		// Names.
		{"topic prefix wildcard", Permission{Role: PublishSubscribe, Cache: "c", TopicPrefix: "*"}, "topicPrefix", `"*"`},
		{"topic with star", Permission{Role: PublishSubscribe, Cache: "c", Topic: "room*"}, "topic", `"*"`},
		{"key wildcard", Permission{Role: ReadOnly, Cache: "c", Key: "*"}, "key", `"*"`},
		{"key prefix wildcard", Permission{Role: ReadOnly, Cache: "c", KeyPrefix: "*"}, "keyPrefix", `"*"`},
		{"overlong topic", Permission{Role: PublishSubscribe, Cache: "c", Topic: long + "a"}, "topic", "longer than"},
		{"overlong cache", Permission{Role: ReadOnly, Cache: long + "a"}, "cache", "longer than"},
		{"space in topic", Permission{Role: PublishSubscribe, Cache: "c", Topic: "room 42"}, "topic", "whitespace"},
		{"tab in key", Permission{Role: ReadOnly, Cache: "c", Key: "a\tb"}, "key", "control"},
		{"newline in cache", Permission{Role: ReadOnly, Cache: "c\nINFO fake log line"}, "cache", "control"},
		{"NUL in topic", Permission{Role: PublishSubscribe, Cache: "c", Topic: "a\x00"}, "topic", "control"},
		{"DEL in topic", Permission{Role: PublishSubscribe, Cache: "c", Topic: "a\x7f"}, "topic", "control"},
		{"no-break space", Permission{Role: PublishSubscribe, Cache: "c", Topic: "a\u00a0b"}, "topic", "whitespace"},
		{"zero-width space", Permission{Role: PublishSubscribe, Cache: "c", Topic: "a\u200bb"}, "topic", "formatting"},
		{"bidi override", Permission{Role: ReadOnly, Cache: "c", Key: "a\u202eb"}, "key", "formatting"},
		{"invalid utf-8", Permission{Role: ReadOnly, Cache: "c", KeyPrefix: "a\xffb"}, "keyPrefix", "UTF-8"},
		{"unexpanded template", Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub}"}, "topic", "template"},
		{"lone brace", Permission{Role: ReadWrite, Cache: "c", KeyPrefix: "}"}, "keyPrefix", "template"},
		{"empty topic prefix", Permission{Role: PublishSubscribe, Cache: "c", TopicPrefix: ""}, "topic", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.perm.validate(-1, false)
			if tt.field == "" {
				require.NoError(t, err)
				require.NoError(t, Scope{tt.perm}.Validate())
				return
			}
			require.ErrorIs(t, err, ErrInvalidScope)
			var se *ScopeError
			require.True(t, errors.As(err, &se))
			assert.Equal(t, -1, se.Index)
			assert.Equal(t, tt.field, se.Field)
			assert.Contains(t, se.Problem, tt.problem)

			// In a scope, the index of the offending permission is named.
			err = Scope{{Role: ReadOnly, Cache: "ok"}, tt.perm}.Validate()
			require.ErrorIs(t, err, ErrInvalidScope)
			require.True(t, errors.As(err, &se))
			assert.Equal(t, 1, se.Index)
			assert.Equal(t, tt.field, se.Field)
			assert.Contains(t, err.Error(), "permissions[1]."+tt.field+": ")
			// The message never echoes the offending value.
			for _, v := range []string{tt.perm.Cache, tt.perm.Topic, tt.perm.TopicPrefix, tt.perm.Key, tt.perm.KeyPrefix} {
				if len(v) > 3 {
					assert.NotContains(t, err.Error(), v)
				}
			}
		})
	}
}

func TestScopeValidateEmpty(t *testing.T) {
	for _, s := range []Scope{nil, {}} {
		err := s.Validate()
		require.ErrorIs(t, err, ErrInvalidScope)
		assert.Contains(t, err.Error(), "empty scope")
		require.ErrorIs(t, s.validateTemplate(), ErrInvalidScope)
	}
}

// TestScopeValidateMaxPermissions: Momento accepts at most 20 permissions
// in one token.
func TestScopeValidateMaxPermissions(t *testing.T) {
	s := make(Scope, 0, MaxPermissions+1)
	for i := range MaxPermissions {
		s = append(s, Permission{Role: ReadOnly, Cache: fmt.Sprint("c", i)})
	}
	require.NoError(t, s.Validate())
	require.NoError(t, s.validateTemplate())
	s = append(s, Permission{Role: ReadOnly, Cache: "one-too-many"})
	for _, err := range []error{s.Validate(), s.validateTemplate()} {
		require.ErrorIs(t, err, ErrInvalidScope)
		var se *ScopeError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, -1, se.Index)
		assert.Contains(t, se.Problem, "21 permissions (Momento accepts at most 20 per token)")
	}
}

func TestScopeErrorMessage(t *testing.T) {
	tests := []struct {
		err  *ScopeError
		want string
	}{
		{&ScopeError{Index: 2, Field: "topic", Problem: "empty"}, "tvm: invalid scope: permissions[2].topic: empty"},
		{&ScopeError{Index: 0, Problem: "bad"}, "tvm: invalid scope: permissions[0]: bad"},
		{&ScopeError{Index: -1, Field: "role", Problem: "missing"}, "tvm: invalid scope: role: missing"},
		{&ScopeError{Index: -1, Problem: "no permissions"}, "tvm: invalid scope: no permissions"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
		assert.ErrorIs(t, tt.err, ErrInvalidScope)
	}
}

func TestScopeString(t *testing.T) {
	tests := []struct {
		scope Scope
		want  string
	}{
		{Scope{}, "(empty)"},
		{Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: All}}, "topic:publishsubscribe(default-cache/*)"},
		{Scope{{Role: SubscribeOnly, Cache: All, Topic: "room-42"}}, "topic:subscribeonly(*/room-42)"},
		{Scope{{Role: PublishOnly, Cache: "c", TopicPrefix: "room-"}}, "topic:publishonly(c/room-*)"},
		{Scope{{Role: ReadWrite, Cache: "c"}}, "cache:readwrite(c)"},
		{Scope{{Role: ReadOnly, Cache: "c", Key: "k"}}, "cache:readonly(c/k)"},
		{Scope{{Role: WriteOnly, Cache: "c", KeyPrefix: "u/"}}, "cache:writeonly(c/u/*)"},
		{Scope{{Role: SubscribeOnly, Cache: "c", Topic: All}, {Role: ReadOnly, Cache: "c"}}, "topic:subscribeonly(c/*) cache:readonly(c)"},
		// Hostile or broken values stay on one quoted line.
		{Scope{{Role: ReadOnly, Cache: "a\nb"}}, `cache:readonly("a\nb")`},
		{Scope{{Role: "x y", Cache: ""}}, `"x y"("")`},
		{Scope{{Role: PublishOnly, Cache: "c", Topic: ") cache:readwrite(*"}}, `topic:publishonly(c/") cache:readwrite(*")`},
		{Scope{{Role: ReadOnly, Cache: strings.Repeat("a", 100)}}, `cache:readonly("` + strings.Repeat("a", 64) + `"...)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := tt.scope.String()
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "\n")
		})
	}
}

func TestRoleKinds(t *testing.T) {
	for _, r := range []Role{PublishSubscribe, SubscribeOnly, PublishOnly} {
		assert.True(t, r.isTopic(), r)
		assert.False(t, r.isCache(), r)
	}
	for _, r := range []Role{ReadWrite, ReadOnly, WriteOnly} {
		assert.True(t, r.isCache(), r)
		assert.False(t, r.isTopic(), r)
	}
	for _, r := range []Role{"", "admin", "ReadWrite"} {
		assert.False(t, r.isCache(), r)
		assert.False(t, r.isTopic(), r)
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
	}{
		{"publishsubscribe", PublishSubscribe},
		{"PublishSubscribe", PublishSubscribe},
		{"publish-subscribe", PublishSubscribe},
		{"PUBLISH_SUBSCRIBE", PublishSubscribe},
		{"subscribe-only", SubscribeOnly},
		{"SubscribeOnly", SubscribeOnly},
		{"publish_only", PublishOnly},
		{"read-write", ReadWrite},
		{"ReadOnly", ReadOnly},
		{"WRITEONLY", WriteOnly},
		{"", ""},
		{"admin", ""},
		{"read write", ""},
		{"readwrite ", ""},
		{"pubsub", ""},
		{strings.Repeat("-", 1000) + "readwrite", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRole(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrInvalidScope)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			// Decoding a scope, in JSON and YAML, normalises the role.
			var fromJSON, fromYAML Scope
			js, _ := json.Marshal([]map[string]string{{"role": tt.in, "cache": "c"}})
			require.NoError(t, json.Unmarshal(js, &fromJSON))
			require.NoError(t, yaml.Unmarshal([]byte("- {role: "+tt.in+", cache: c}"), &fromYAML))
			assert.Equal(t, Scope{{Role: tt.want, Cache: "c"}}, fromJSON)
			assert.Equal(t, Scope{{Role: tt.want, Cache: "c"}}, fromYAML)
		})
	}
}

// mixedScope is the scope of testdata/scopes/valid/mixed.yaml and array.json.
var mixedScope = Scope{
	{Role: PublishSubscribe, Cache: "chat", TopicPrefix: "room-"},
	{Role: SubscribeOnly, Cache: All, Topic: "42"},
	{Role: PublishOnly, Cache: "chat", Topic: "announcements"},
	{Role: ReadWrite, Cache: "chat", KeyPrefix: "{sub}/"},
	{Role: ReadOnly, Cache: "chat", Key: "motd"},
	{Role: WriteOnly, Cache: All},
	{Role: PublishSubscribe, Cache: "chat", TopicPrefix: "room-"},
}

func decodeScopeFile(t *testing.T, path string) (Scope, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var s Scope
	if strings.HasSuffix(path, ".json") {
		err = json.Unmarshal(data, &s)
	} else {
		err = yaml.Unmarshal(data, &s)
	}
	return s, err
}

func TestScopeDecodeValidFixtures(t *testing.T) {
	tests := []struct {
		file string
		want Scope
	}{
		{"readwrite.json", Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: All}}},
		{"readonly.yaml", Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}},
		{"mixed.yaml", mixedScope},
		{"array.json", mixedScope},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeScopeFile(t, filepath.Join("testdata", "scopes", "valid", tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			require.NoError(t, got.validateTemplate())

			// Round trips through both encodings give the same scope.
			js, err := json.Marshal(got)
			require.NoError(t, err)
			var fromJSON Scope
			require.NoError(t, json.Unmarshal(js, &fromJSON), string(js))
			assert.Equal(t, got, fromJSON)

			ys, err := yaml.Marshal(got)
			require.NoError(t, err)
			var fromYAML Scope
			require.NoError(t, yaml.Unmarshal(ys, &fromYAML), string(ys))
			assert.Equal(t, got, fromYAML)
		})
	}
}

func TestScopeDecodeInvalidFixtures(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"unknown-field.json", "usergroup: unknown field"},
		{"unknown-scope-field.json", "admin: unknown field"},
		{"duplicate-field.json", "cache: duplicate field"},
		{"unknown-role.json", "unknown role superuser"},
		{"number.json", "cache: must be a JSON string"},
		{"wrong-case-field.json", "Role: unknown field"},
		{"null-permission.json", "must be a JSON object"},
		{"unknown-field.yaml", "cachename: unknown field"},
		{"duplicate-key.yaml", "role: duplicate field"},
		{"unknown-role.yaml", "unknown role admin"},
		{"null-value.yaml", "cache: line 2: must be a string"},
		{"list-value.yaml", "cache: line 2: must be a string"},
		{"not-a-scope.yaml", "a scope must be a YAML mapping or sequence"},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "scopes", "invalid", "*"))
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every invalid fixture has a row")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := decodeScopeFile(t, filepath.Join("testdata", "scopes", "invalid", tt.file))
			require.ErrorIs(t, err, ErrInvalidScope)
			assert.Contains(t, err.Error(), tt.want)
			if strings.HasPrefix(tt.file, "unknown-field") || tt.file == "duplicate-field.json" || tt.file == "duplicate-key.yaml" {
				assert.Contains(t, err.Error(), "permissions[0].")
			}
		})
	}
}

func TestScopeDecodeJSONEdgeCases(t *testing.T) {
	tests := []struct {
		name, in string
		want     Scope
		problem  string // "" means success
	}{
		{"empty object decodes (Validate refuses it)", `{}`, nil, ""},
		{"empty array", `[]`, Scope{}, ""},
		{"empty permissions", `{"permissions": []}`, Scope{}, ""},
		{"null scope", `null`, Scope{}, "JSON object or array"},
		{"string scope", `"readwrite"`, Scope{}, "JSON object or array"},
		{"null permissions", `{"permissions": null}`, Scope{}, "must be a JSON array"},
		{"object permissions", `{"permissions": {}}`, Scope{}, "must be a JSON array"},
		{"duplicate permissions", `{"permissions": [], "permissions": []}`, Scope{}, "duplicate"},
		{"nested object value", `[{"role": {"x": 1}}]`, Scope{}, "role: must be a JSON string"},
		{"bool value", `[{"role": "readonly", "cache": true}]`, Scope{}, "cache: must be a JSON string"},
		{"null value", `[{"role": "readonly", "cache": null}]`, Scope{}, "cache: must be a JSON string"},
		{"second permission bad", `[{"role": "readonly", "cache": "c"}, {"role": "x"}]`, Scope{}, "permissions[1].role"},
		{"unknown top-level field", `{"permissions": [], "usergroup": "admins"}`, Scope{}, "usergroup: unknown field (want permissions)"},
		{"wrapped array", `[[{"role": "readonly", "cache": "c"}]]`, Scope{}, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Scope
			err := json.Unmarshal([]byte(tt.in), &s)
			if tt.problem != "" {
				require.ErrorIs(t, err, ErrInvalidScope)
				assert.Contains(t, err.Error(), tt.problem)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s)
		})
	}

	// Syntax errors are reported by encoding/json before the scope sees
	// the data.
	var s Scope
	var syntaxErr *json.SyntaxError
	require.ErrorAs(t, json.Unmarshal([]byte(`[{"role": "readonly",}]`), &s), &syntaxErr)

	// Called directly (encoding/json refuses trailing data before it gets
	// there), UnmarshalJSON refuses anything after the scope.
	for _, in := range []string{`[] []`, `[{"role": "readonly", "cache": "c"}] {"role": "readwrite", "cache": "c"}`, `{"permissions": []} x`} {
		s = nil
		err := s.UnmarshalJSON([]byte(in))
		require.ErrorIs(t, err, ErrInvalidScope, in)
		assert.Contains(t, err.Error(), "trailing data", in)
		assert.Nil(t, s, "a refused scope is not stored")
	}
	// Nor does it accept an unterminated document.
	for _, in := range []string{`{"permissions": []`, `{"permissions": [{"role": "readonly", "cache": "c"}]`, `[`} {
		s = nil
		require.ErrorIs(t, s.UnmarshalJSON([]byte(in)), ErrInvalidScope, in)
		assert.Nil(t, s)
	}
}

func TestPermissionDecodeInStruct(t *testing.T) {
	// A Scope decodes strictly also when embedded in a larger
	// configuration document.
	var cfg struct {
		Scope Scope `json:"scope" yaml:"scope"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"scope": [{"role":"read-only","cache":"c"}]}`), &cfg))
	assert.Equal(t, Scope{{Role: ReadOnly, Cache: "c"}}, cfg.Scope)
	err := json.Unmarshal([]byte(`{"scope": {"permissions": [{"role":"readonly","cache":"c","Cache":"d"}]}}`), &cfg)
	require.ErrorIs(t, err, ErrInvalidScope)
	assert.Contains(t, err.Error(), "permissions[0].Cache: unknown field")

	err = yaml.Unmarshal([]byte("scope:\n  - role: readonly\n    cache: c\n    topic: t\n    admin: yes\n"), &cfg)
	require.ErrorIs(t, err, ErrInvalidScope)
	assert.Contains(t, err.Error(), "admin: unknown field")
}
