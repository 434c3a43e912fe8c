package tvm

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopeValidateTemplate(t *testing.T) {
	tests := []struct {
		name    string
		perm    Permission
		field   string // "" means valid
		problem string
	}{
		{"subject topic", Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub}"}, "", ""},
		{"whole field", Permission{Role: PublishSubscribe, Cache: "c", Topic: "{sub}"}, "", ""},
		{"claim cache", Permission{Role: ReadOnly, Cache: "{custom:tenant}-cache"}, "", ""},
		{"namespaced claim", Permission{Role: ReadOnly, Cache: "{https://example.com/tenant}"}, "", ""},
		{"dotted claim name", Permission{Role: ReadOnly, Cache: "{a.b}"}, "", ""},
		{"key prefix with slash", Permission{Role: ReadWrite, Cache: "c", KeyPrefix: "{sub}/"}, "", ""},
		{"topic prefix with colon", Permission{Role: PublishSubscribe, Cache: "c", TopicPrefix: "user-{sub}:"}, "", ""},
		{"two placeholders with delimiter", Permission{Role: ReadOnly, Cache: "c", Key: "{tenant}/{sub}"}, "", ""},
		{"delimiter anywhere after", Permission{Role: ReadOnly, Cache: "c", KeyPrefix: "{sub}-inbox/"}, "", ""},
		{"wildcard topic unaffected", Permission{Role: PublishSubscribe, Cache: "{tenant}", Topic: All}, "", ""},
		{"no placeholder", Permission{Role: ReadOnly, Cache: "c", KeyPrefix: "shared-"}, "", ""},

		{"prefix ending with placeholder", Permission{Role: PublishSubscribe, Cache: "c", TopicPrefix: "user-{sub}"}, "topicPrefix", "delimiter"},
		{"key prefix without delimiter", Permission{Role: ReadOnly, Cache: "c", KeyPrefix: "{sub}-x"}, "keyPrefix", "delimiter"},
		{"adjacent placeholders", Permission{Role: ReadOnly, Cache: "c", Key: "{tenant}{sub}"}, "key", "separated"},
		{"placeholders separated by dash", Permission{Role: PublishOnly, Cache: "c", Topic: "{tenant}-{sub}"}, "topic", "separated"},
		{"unterminated", Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub"}, "topic", "unterminated"},
		{"nested", Permission{Role: PublishSubscribe, Cache: "c", Topic: "{a{b}}"}, "topic", "unterminated"},
		{"lone close", Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-}"}, "topic", "unbalanced"},
		{"empty placeholder", Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{}"}, "topic", "empty placeholder"},
		{"space in placeholder", Permission{Role: PublishSubscribe, Cache: "c", Topic: "{ sub }"}, "topic", "whitespace"},
		{"star in placeholder", Permission{Role: PublishSubscribe, Cache: "c", Topic: "{*}"}, "topic", `"*"`},
		{"overlong placeholder", Permission{Role: PublishSubscribe, Cache: "c", Topic: "{" + strings.Repeat("a", 129) + "}"}, "topic", "placeholder name longer"},
		{"star literal", Permission{Role: PublishSubscribe, Cache: "c", Topic: "{sub}*"}, "topic", `"*"`},
		{"space literal", Permission{Role: ReadOnly, Cache: "c", Key: "{sub} x"}, "key", "whitespace"},
		{"too long even with short values", Permission{Role: ReadOnly, Cache: "c", Key: strings.Repeat("a", MaxNameLength) + "{sub}"}, "key", "even with one-byte values"},
		{"topic on cache role", Permission{Role: ReadOnly, Cache: "c", Topic: "{sub}"}, "topic", "cache permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Scope{tt.perm}.validateTemplate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidScope)
			var se *ScopeError
			require.True(t, errors.As(err, &se))
			assert.Equal(t, 0, se.Index)
			assert.Equal(t, tt.field, se.Field)
			assert.Contains(t, se.Problem, tt.problem)
		})
	}
}

func TestScopeExpand(t *testing.T) {
	alice := Identity{
		Subject: "3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b",
		Claims: map[string]any{
			"custom:tenant":              "acme",
			"https://example.com/team":   "blue",
			"email":                      "alice+chat@example.com",
			"cognito:username":           "Zoë",
			"auth0":                      "auth0|abc123",
			"a.b":                        "flat",
			"a":                          map[string]any{"b": "nested"},
			"sub":                        "ignored-claims-sub",
			"decomposed":                 "Zoe\u0308",
			"number":                     float64(42),
			"empty":                      "",
			"list":                       []any{"a"},
			"null":                       nil,
			"star":                       "*",
			"slash":                      "a/b",
			"colon":                      "a:b",
			"brace":                      "{sub}",
			"space":                      "a b",
			"newline":                    "a\nb",
			"nul":                        "a\x00",
			"zwsp":                       "a\u200bb",
			"bidi":                       "a\u202eb",
			"long":                       strings.Repeat("x", MaxNameLength+1),
			"maxlen":                     strings.Repeat("x", MaxNameLength),
			"badutf8":                    "a\xffb",
			"dots":                       "..",
			"hash":                       "a#b",
			"percent":                    "a%2Fb",
			"question":                   "a?b",
			"backslash":                  `a\b`,
			"prefix-tenant-with-trailer": "acme-",
		},
	}
	tests := []struct {
		name     string
		id       Identity
		in, want Permission
		problem  string // substring of the error; "" means success
	}{
		{"subject topic", alice, Permission{Role: PublishSubscribe, Cache: "chat", Topic: "user-{sub}"},
			Permission{Role: PublishSubscribe, Cache: "chat", Topic: "user-3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b"}, ""},
		{"subject key prefix", alice, Permission{Role: ReadWrite, Cache: "chat", KeyPrefix: "{sub}/"},
			Permission{Role: ReadWrite, Cache: "chat", KeyPrefix: "3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b/"}, ""},
		{"cognito custom claim cache", alice, Permission{Role: ReadOnly, Cache: "{custom:tenant}-cache"}, Permission{Role: ReadOnly, Cache: "acme-cache"}, ""},
		{"namespaced claim", alice, Permission{Role: SubscribeOnly, Cache: "{https://example.com/team}", Topic: All}, Permission{Role: SubscribeOnly, Cache: "blue", Topic: All}, ""},
		{"email value", alice, Permission{Role: ReadOnly, Cache: "c", Key: "{email}"}, Permission{Role: ReadOnly, Cache: "c", Key: "alice+chat@example.com"}, ""},
		{"unicode value", alice, Permission{Role: ReadOnly, Cache: "c", Key: "u/{cognito:username}"}, Permission{Role: ReadOnly, Cache: "c", Key: "u/Zoë"}, ""},
		{"combining mark", alice, Permission{Role: ReadOnly, Cache: "c", Key: "{decomposed}"}, Permission{Role: ReadOnly, Cache: "c", Key: "Zoe\u0308"}, ""},
		{"auth0 pipe", alice, Permission{Role: PublishOnly, Cache: "c", Topic: "{auth0}"}, Permission{Role: PublishOnly, Cache: "c", Topic: "auth0|abc123"}, ""},
		{"dotted claim is top level", alice, Permission{Role: ReadOnly, Cache: "c", Key: "{a.b}"}, Permission{Role: ReadOnly, Cache: "c", Key: "flat"}, ""},
		{"two placeholders", alice, Permission{Role: ReadWrite, Cache: "c", KeyPrefix: "{custom:tenant}/{sub}/"},
			Permission{Role: ReadWrite, Cache: "c", KeyPrefix: "acme/3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b/"}, ""},
		{"sub is the subject, not the claim", alice, Permission{Role: ReadOnly, Cache: "c", Key: "{sub}"}, Permission{Role: ReadOnly, Cache: "c", Key: alice.Subject}, ""},
		{"max length value", alice, Permission{Role: ReadOnly, Cache: "c", Key: "{maxlen}"}, Permission{Role: ReadOnly, Cache: "c", Key: strings.Repeat("x", MaxNameLength)}, ""},
		{"dots are plain characters", alice, Permission{Role: ReadOnly, Cache: "c", Key: "{dots}"}, Permission{Role: ReadOnly, Cache: "c", Key: ".."}, ""},
		{"no placeholder", alice, Permission{Role: PublishSubscribe, Cache: All, Topic: All}, Permission{Role: PublishSubscribe, Cache: All, Topic: All}, ""},

		{"missing claim", alice, Permission{Role: ReadOnly, Cache: "{custom:region}"}, Permission{}, "placeholder {custom:region}: claim missing"},
		{"nil claims", Identity{Subject: "bob"}, Permission{Role: ReadOnly, Cache: "{custom:tenant}"}, Permission{}, "claim missing"},
		{"no nested lookup", alice, Permission{Role: ReadOnly, Cache: "{a}"}, Permission{}, "not a string"},
		{"number claim", alice, Permission{Role: ReadOnly, Cache: "{number}"}, Permission{}, "not a string"},
		{"list claim", alice, Permission{Role: ReadOnly, Cache: "{list}"}, Permission{}, "not a string"},
		{"null claim", alice, Permission{Role: ReadOnly, Cache: "{null}"}, Permission{}, "not a string"},
		{"empty claim", alice, Permission{Role: ReadOnly, Cache: "{empty}"}, Permission{}, "value is empty"},
		{"empty subject", Identity{}, Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub}"}, Permission{}, "no subject"},
		{"star claim", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{star}"}, Permission{}, `holds "*"`},
		{"star subject", Identity{Subject: "*"}, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{sub}"}, Permission{}, `holds "*"`},
		{"star subject in cache", Identity{Subject: "*"}, Permission{Role: ReadWrite, Cache: "{sub}"}, Permission{}, `holds "*"`},
		{"slash", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{slash}"}, Permission{}, `holds '/'`},
		{"slash subject escaping key prefix", Identity{Subject: "alice/../bob"}, Permission{Role: ReadWrite, Cache: "c", KeyPrefix: "{sub}/"}, Permission{}, `holds '/'`},
		{"colon", alice, Permission{Role: ReadWrite, Cache: "c", KeyPrefix: "{colon}:"}, Permission{}, `holds ':'`},
		{"brace", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{brace}"}, Permission{}, `holds "{" or "}"`},
		{"space", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{space}"}, Permission{}, "whitespace"},
		{"newline", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{newline}"}, Permission{}, "control"},
		{"NUL", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{nul}"}, Permission{}, "control"},
		{"zero-width space", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{zwsp}"}, Permission{}, "other than letters"},
		{"bidi override", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{bidi}"}, Permission{}, "other than letters"},
		{"overlong value", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{long}"}, Permission{}, "longer than"},
		{"overlong result", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "user-{maxlen}"}, Permission{}, "longer than"},
		{"invalid utf-8", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{badutf8}"}, Permission{}, "UTF-8"},
		{"hash", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{hash}"}, Permission{}, `holds '#'`},
		{"percent encoding", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{percent}"}, Permission{}, `holds '%'`},
		{"question mark", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{question}"}, Permission{}, `holds '?'`},
		{"backslash", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{backslash}"}, Permission{}, `holds '\\'`},
		{"bad template", alice, Permission{Role: PublishSubscribe, Cache: "c", Topic: "{sub"}, Permission{}, "unterminated"},
		{"prefix template without delimiter", alice, Permission{Role: PublishSubscribe, Cache: "c", TopicPrefix: "{prefix-tenant-with-trailer}"}, Permission{}, "delimiter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Scope{{Role: ReadOnly, Cache: "fixed"}, tt.in}
			before := slices.Clone(in)

			got, err := in.Expand(tt.id)
			assert.Equal(t, before, in, "Expand must not modify its receiver")
			if tt.problem != "" {
				require.ErrorIs(t, err, ErrInvalidScope)
				assert.Contains(t, err.Error(), tt.problem)
				assert.Contains(t, err.Error(), "permissions[1].")
				assert.Empty(t, got)
				// The error never repeats an offending value.
				for _, v := range tt.id.Claims {
					if s, ok := v.(string); ok && len(s) > 3 && !strings.Contains(s, "{") {
						assert.NotContains(t, err.Error(), s)
					}
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, Scope{{Role: ReadOnly, Cache: "fixed"}, tt.want}, got)
			require.NoError(t, got.Validate())
			assert.False(t, got.isTemplate())
		})
	}
}

// TestScopeExpandNeverWidens checks, for hostile subjects, that expansion
// either fails or yields a literal topic and a prefix under the subject's
// own delimiter-terminated namespace.
func TestScopeExpandNeverWidens(t *testing.T) {
	tmpl := Scope{
		{Role: PublishSubscribe, Cache: "chat", Topic: "user-{sub}"},
		{Role: ReadWrite, Cache: "chat", KeyPrefix: "{sub}/"},
	}
	subjects := []string{"*", "**", "a*", "{sub}", "}", "{", "", " ", "/", "a/", "../x", "a:b", "\x00", "\t", "\u2028",
		"\u00a0", "a\u200d", strings.Repeat("a", 300), "%2A", "ok-user_1.2@x", "Ünïcødé"}
	for _, sub := range subjects {
		got, err := tmpl.Expand(Identity{Subject: sub})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidScope, "%q", sub)
			continue
		}
		require.Len(t, got, 2)
		topic, prefix := got[0], got[1]
		assert.Equal(t, "user-"+sub, topic.Topic, "%q", sub)
		assert.Empty(t, topic.TopicPrefix)
		assert.NotEqual(t, All, topic.Topic)
		assert.Equal(t, sub+"/", prefix.KeyPrefix)
		assert.Empty(t, prefix.Key)
		assert.NotContains(t, sub, "*")
		assert.NotContains(t, sub, "/")
	}
}

func TestScopeIsTemplate(t *testing.T) {
	assert.False(t, Scope{{Role: PublishSubscribe, Cache: "c", Topic: All}}.isTemplate())
	assert.True(t, Scope{{Role: ReadOnly, Cache: "c"}, {Role: ReadOnly, Cache: "c", KeyPrefix: "{sub}/"}}.isTemplate())
	assert.True(t, Scope{{Role: ReadOnly, Cache: "{x"}}.isTemplate())
}

// TestScopeExpandFastPath checks that a scope without placeholders expands
// without allocating, to exactly what the full expansion gives (the same
// scope, or the same error), and that the result cannot be appended into
// the caller's backing array.
func TestScopeExpandFastPath(t *testing.T) {
	id := Identity{Subject: "alice", Claims: map[string]any{"tenant": "acme"}}
	tests := []struct {
		name  string
		scope Scope
	}{
		{"static mixed", Scope{
			{Role: PublishSubscribe, Cache: All, Topic: "news"},
			{Role: SubscribeOnly, Cache: "c", TopicPrefix: "room/"},
			{Role: ReadWrite, Cache: "c"},
			{Role: ReadOnly, Cache: "c", Key: "k1"},
			{Role: WriteOnly, Cache: "c", KeyPrefix: "user/"},
		}},
		{"single wildcard", Scope{{Role: PublishSubscribe, Cache: All, Topic: All}}},
		{"empty scope", Scope{}},
		{"invalid name", Scope{{Role: PublishSubscribe, Cache: "c", Topic: "a b"}}},
		{"missing role", Scope{{Cache: "c"}}},
		{"lone closing brace", Scope{{Role: PublishSubscribe, Cache: "c", Topic: "a}"}}},
		{"template", Scope{{Role: PublishSubscribe, Cache: "c", TopicPrefix: "{tenant}/{sub}/"}}},
		{"bad template", Scope{{Role: PublishSubscribe, Cache: "c", Topic: "{sub"}}},
		{"unfillable template", Scope{{Role: PublishSubscribe, Cache: "c", Topic: "{team}"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.scope.Expand(id)
			want, wantErr := tt.scope.expandFull(id)
			assert.Equal(t, want, got)
			if wantErr == nil {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Equal(t, wantErr.Error(), err.Error())
				var se *ScopeError
				assert.True(t, errors.As(err, &se))
			}
		})
	}

	// Spare capacity, as a scope built with append has.
	static := make(Scope, 0, 8)
	static = append(static, tests[0].scope...)
	orig := slices.Clone(static)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := static.Expand(id); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "expanding a template-free scope allocates")

	got, err := static.Expand(id)
	require.NoError(t, err)
	assert.Equal(t, len(got), cap(got), "capacity capped so append copies")
	_ = append(got, Permission{Role: ReadOnly, Cache: "other"})
	assert.Equal(t, orig, static, "the caller's scope is unchanged")
	assert.Equal(t, Permission{}, static[:len(static)+1][len(static)], "nothing appended into the caller's spare capacity")
}
