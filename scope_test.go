package tvm

import (
	"encoding/json"
	"errors"
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
		{"topic all/all", TopicPublishSubscribe(AllCaches, AllTopics), "", ""},
		{"topic one cache all topics", TopicSubscribeOnly("default-cache", AllTopics), "", ""},
		{"topic one topic", TopicPublishOnly("default-cache", Topic("room-42")), "", ""},
		{"topic prefix", TopicPublishSubscribe("default-cache", TopicNamePrefix("room-")), "", ""},
		{"cache all items", CacheReadWrite("default-cache"), "", ""},
		{"cache all caches", CacheReadOnly(AllCaches), "", ""},
		{"cache key", CacheKeyWriteOnly("c", "user/42:profile"), "", ""},
		{"cache key prefix", CacheKeyPrefixReadOnly("c", "user/42/"), "", ""},
		{"max length name", TopicPublishSubscribe("c", Topic(long)), "", ""},
		{"unicode letters", TopicPublishSubscribe("c", Topic("salle-été-é")), "", ""},
		{"email-like and pipes", CacheKeyReadOnly("c", "auth0|alice@example.com"), "", ""},

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
		{"blank cache", CacheReadWrite(" "), "cache", "whitespace"},
		{"cache with wildcard inside", CacheReadWrite("cache-*"), "cache", `"*"`},

		// Names.
		{"topic prefix wildcard", TopicPublishSubscribe("c", TopicNamePrefix("*")), "topicPrefix", `"*"`},
		{"topic with star", TopicPublishSubscribe("c", Topic("room*")), "topic", `"*"`},
		{"key wildcard", CacheKeyReadOnly("c", "*"), "key", `"*"`},
		{"key prefix wildcard", CacheKeyPrefixReadOnly("c", "*"), "keyPrefix", `"*"`},
		{"overlong topic", TopicPublishSubscribe("c", Topic(long+"a")), "topic", "longer than"},
		{"overlong cache", CacheReadOnly(long + "a"), "cache", "longer than"},
		{"space in topic", TopicPublishSubscribe("c", Topic("room 42")), "topic", "whitespace"},
		{"tab in key", CacheKeyReadOnly("c", "a\tb"), "key", "control"},
		{"newline in cache", CacheReadOnly("c\nINFO fake log line"), "cache", "control"},
		{"NUL in topic", TopicPublishSubscribe("c", Topic("a\x00")), "topic", "control"},
		{"DEL in topic", TopicPublishSubscribe("c", Topic("a\x7f")), "topic", "control"},
		{"no-break space", TopicPublishSubscribe("c", Topic("a\u00a0b")), "topic", "whitespace"},
		{"zero-width space", TopicPublishSubscribe("c", Topic("a\u200bb")), "topic", "formatting"},
		{"bidi override", CacheKeyReadOnly("c", "a\u202eb"), "key", "formatting"},
		{"invalid utf-8", CacheKeyPrefixReadOnly("c", "a\xffb"), "keyPrefix", "UTF-8"},
		{"unexpanded template", TopicPublishSubscribe("c", Topic("user-{sub}")), "topic", "template"},
		{"lone brace", CacheKeyPrefixReadWrite("c", "}"), "keyPrefix", "template"},
		{"empty topic prefix", Permission{Role: PublishSubscribe, Cache: "c", TopicPrefix: ""}, "topic", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.perm.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				require.NoError(t, NewScope(tt.perm).Validate())
				return
			}
			require.ErrorIs(t, err, ErrInvalidScope)
			var se *ScopeError
			require.True(t, errors.As(err, &se))
			assert.Equal(t, -1, se.Index)
			assert.Equal(t, tt.field, se.Field)
			assert.Contains(t, se.Problem, tt.problem)

			// In a scope, the index of the offending permission is named.
			err = NewScope(CacheReadOnly("ok"), tt.perm).Validate()
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
	for _, s := range []Scope{{}, NewScope(), {Permissions: []Permission{}}} {
		err := s.Validate()
		require.ErrorIs(t, err, ErrInvalidScope)
		assert.Contains(t, err.Error(), "empty scope")
		require.ErrorIs(t, s.ValidateTemplate(), ErrInvalidScope)
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
		{NewScope(TopicPublishSubscribe("default-cache", AllTopics)), "topic:publishsubscribe(default-cache/*)"},
		{NewScope(TopicSubscribeOnly(AllCaches, Topic("room-42"))), "topic:subscribeonly(*/room-42)"},
		{NewScope(TopicPublishOnly("c", TopicNamePrefix("room-"))), "topic:publishonly(c/room-*)"},
		{NewScope(CacheReadWrite("c")), "cache:readwrite(c)"},
		{NewScope(CacheKeyReadOnly("c", "k")), "cache:readonly(c/k)"},
		{NewScope(CacheKeyPrefixWriteOnly("c", "u/")), "cache:writeonly(c/u/*)"},
		{NewScope(TopicSubscribeOnly("c", AllTopics), CacheReadOnly("c")), "topic:subscribeonly(c/*) cache:readonly(c)"},
		// Hostile or broken values stay on one quoted line.
		{NewScope(CacheReadOnly("a\nb")), `cache:readonly("a\nb")`},
		{NewScope(Permission{Role: "x y", Cache: ""}), `"x y"("")`},
		{NewScope(TopicPublishOnly("c", Topic(") cache:readwrite(*"))), `topic:publishonly(c/") cache:readwrite(*")`},
		{NewScope(CacheReadOnly(strings.Repeat("a", 100))), `cache:readonly("` + strings.Repeat("a", 64) + `"...)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := tt.scope.String()
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "\n")
			if len(tt.scope.Permissions) == 1 {
				assert.Equal(t, got, tt.scope.Permissions[0].String())
			}
		})
	}
}

func TestRoleKinds(t *testing.T) {
	for _, r := range []Role{PublishSubscribe, SubscribeOnly, PublishOnly} {
		assert.True(t, r.IsTopicRole(), r)
		assert.False(t, r.IsCacheRole(), r)
	}
	for _, r := range []Role{ReadWrite, ReadOnly, WriteOnly} {
		assert.True(t, r.IsCacheRole(), r)
		assert.False(t, r.IsTopicRole(), r)
	}
	for _, r := range []Role{"", "admin", "ReadWrite"} {
		assert.False(t, r.IsCacheRole(), r)
		assert.False(t, r.IsTopicRole(), r)
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
			got, err := ParseRole(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrInvalidScope)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			var r Role
			require.NoError(t, r.UnmarshalText([]byte(tt.in)))
			assert.Equal(t, tt.want, r)
		})
	}
}

// mixedScope is the scope of testdata/scopes/valid/mixed.yaml and array.json.
var mixedScope = NewScope(
	TopicPublishSubscribe("chat", TopicNamePrefix("room-")),
	TopicSubscribeOnly(AllCaches, Topic("42")),
	TopicPublishOnly("chat", Topic("announcements")),
	CacheKeyPrefixReadWrite("chat", "{sub}/"),
	CacheKeyReadOnly("chat", "motd"),
	CacheWriteOnly(AllCaches),
	TopicPublishSubscribe("chat", TopicNamePrefix("room-")),
)

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
		{"readwrite.json", NewScope(TopicPublishSubscribe("default-cache", AllTopics))},
		{"readonly.yaml", NewScope(TopicSubscribeOnly("default-cache", AllTopics))},
		{"mixed.yaml", mixedScope},
		{"array.json", mixedScope},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeScopeFile(t, filepath.Join("testdata", "scopes", "valid", tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			require.NoError(t, got.ValidateTemplate())

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
		{"empty object decodes (Validate refuses it)", `{}`, Scope{}, ""},
		{"empty array", `[]`, Scope{Permissions: []Permission{}}, ""},
		{"empty permissions", `{"permissions": []}`, Scope{Permissions: []Permission{}}, ""},
		{"null scope", `null`, Scope{}, "JSON object or array"},
		{"string scope", `"readwrite"`, Scope{}, "JSON object or array"},
		{"null permissions", `{"permissions": null}`, Scope{}, "must be a JSON array"},
		{"object permissions", `{"permissions": {}}`, Scope{}, "must be a JSON array"},
		{"duplicate permissions", `{"permissions": [], "permissions": []}`, Scope{}, "duplicate"},
		{"nested object value", `[{"role": {"x": 1}}]`, Scope{}, "role: must be a JSON string"},
		{"bool value", `[{"role": "readonly", "cache": true}]`, Scope{}, "cache: must be a JSON string"},
		{"null value", `[{"role": "readonly", "cache": null}]`, Scope{}, "cache: must be a JSON string"},
		{"second permission bad", `[{"role": "readonly", "cache": "c"}, {"role": "x"}]`, Scope{}, "permissions[1].role"},
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
}

func TestPermissionDecodeInStruct(t *testing.T) {
	// Permission and Scope decode strictly also when embedded in a larger
	// configuration document.
	var cfg struct {
		Scope Scope      `json:"scope" yaml:"scope"`
		Extra Permission `json:"extra" yaml:"extra"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"scope": [{"role":"readonly","cache":"c"}], "extra": {"role":"read-only","cache":"d"}}`), &cfg))
	assert.Equal(t, NewScope(CacheReadOnly("c")), cfg.Scope)
	assert.Equal(t, CacheReadOnly("d"), cfg.Extra)

	err := yaml.Unmarshal([]byte("scope:\n  - role: readonly\n    cache: c\n    topic: t\n    admin: yes\n"), &cfg)
	require.ErrorIs(t, err, ErrInvalidScope)
	assert.Contains(t, err.Error(), "admin: unknown field")
}
