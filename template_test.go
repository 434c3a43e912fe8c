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
		{"subject topic", TopicPublishSubscribe("c", Topic("user-{sub}")), "", ""},
		{"whole field", TopicPublishSubscribe("c", Topic("{sub}")), "", ""},
		{"claim cache", CacheReadOnly("{custom:tenant}-cache"), "", ""},
		{"namespaced claim", CacheReadOnly("{https://example.com/tenant}"), "", ""},
		{"dotted claim name", CacheReadOnly("{a.b}"), "", ""},
		{"key prefix with slash", CacheKeyPrefixReadWrite("c", "{sub}/"), "", ""},
		{"topic prefix with colon", TopicPublishSubscribe("c", TopicNamePrefix("user-{sub}:")), "", ""},
		{"two placeholders with delimiter", CacheKeyReadOnly("c", "{tenant}/{sub}"), "", ""},
		{"delimiter anywhere after", CacheKeyPrefixReadOnly("c", "{sub}-inbox/"), "", ""},
		{"wildcard topic unaffected", TopicPublishSubscribe("{tenant}", AllTopics), "", ""},
		{"no placeholder", CacheKeyPrefixReadOnly("c", "shared-"), "", ""},

		{"prefix ending with placeholder", TopicPublishSubscribe("c", TopicNamePrefix("user-{sub}")), "topicPrefix", "delimiter"},
		{"key prefix without delimiter", CacheKeyPrefixReadOnly("c", "{sub}-x"), "keyPrefix", "delimiter"},
		{"adjacent placeholders", CacheKeyReadOnly("c", "{tenant}{sub}"), "key", "separated"},
		{"placeholders separated by dash", TopicPublishOnly("c", Topic("{tenant}-{sub}")), "topic", "separated"},
		{"unterminated", TopicPublishSubscribe("c", Topic("user-{sub")), "topic", "unterminated"},
		{"nested", TopicPublishSubscribe("c", Topic("{a{b}}")), "topic", "unterminated"},
		{"lone close", TopicPublishSubscribe("c", Topic("user-}")), "topic", "unbalanced"},
		{"empty placeholder", TopicPublishSubscribe("c", Topic("user-{}")), "topic", "empty placeholder"},
		{"space in placeholder", TopicPublishSubscribe("c", Topic("{ sub }")), "topic", "whitespace"},
		{"star in placeholder", TopicPublishSubscribe("c", Topic("{*}")), "topic", `"*"`},
		{"overlong placeholder", TopicPublishSubscribe("c", Topic("{"+strings.Repeat("a", 129)+"}")), "topic", "placeholder name longer"},
		{"star literal", TopicPublishSubscribe("c", Topic("{sub}*")), "topic", `"*"`},
		{"space literal", CacheKeyReadOnly("c", "{sub} x"), "key", "whitespace"},
		{"too long even with short values", CacheKeyReadOnly("c", strings.Repeat("a", MaxNameLength)+"{sub}"), "key", "even with one-byte values"},
		{"topic on cache role", Permission{Role: ReadOnly, Cache: "c", Topic: "{sub}"}, "topic", "cache permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewScope(tt.perm).ValidateTemplate()
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
		{"subject topic", alice, TopicPublishSubscribe("chat", Topic("user-{sub}")),
			TopicPublishSubscribe("chat", Topic("user-3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b")), ""},
		{"subject key prefix", alice, CacheKeyPrefixReadWrite("chat", "{sub}/"),
			CacheKeyPrefixReadWrite("chat", "3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b/"), ""},
		{"cognito custom claim cache", alice, CacheReadOnly("{custom:tenant}-cache"), CacheReadOnly("acme-cache"), ""},
		{"namespaced claim", alice, TopicSubscribeOnly("{https://example.com/team}", AllTopics), TopicSubscribeOnly("blue", AllTopics), ""},
		{"email value", alice, CacheKeyReadOnly("c", "{email}"), CacheKeyReadOnly("c", "alice+chat@example.com"), ""},
		{"unicode value", alice, CacheKeyReadOnly("c", "u/{cognito:username}"), CacheKeyReadOnly("c", "u/Zoë"), ""},
		{"combining mark", alice, CacheKeyReadOnly("c", "{decomposed}"), CacheKeyReadOnly("c", "Zoe\u0308"), ""},
		{"auth0 pipe", alice, TopicPublishOnly("c", Topic("{auth0}")), TopicPublishOnly("c", Topic("auth0|abc123")), ""},
		{"dotted claim is top level", alice, CacheKeyReadOnly("c", "{a.b}"), CacheKeyReadOnly("c", "flat"), ""},
		{"two placeholders", alice, CacheKeyPrefixReadWrite("c", "{custom:tenant}/{sub}/"),
			CacheKeyPrefixReadWrite("c", "acme/3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b/"), ""},
		{"sub is the subject, not the claim", alice, CacheKeyReadOnly("c", "{sub}"), CacheKeyReadOnly("c", alice.Subject), ""},
		{"max length value", alice, CacheKeyReadOnly("c", "{maxlen}"), CacheKeyReadOnly("c", strings.Repeat("x", MaxNameLength)), ""},
		{"dots are plain characters", alice, CacheKeyReadOnly("c", "{dots}"), CacheKeyReadOnly("c", ".."), ""},
		{"no placeholder", alice, TopicPublishSubscribe(AllCaches, AllTopics), TopicPublishSubscribe(AllCaches, AllTopics), ""},

		{"missing claim", alice, CacheReadOnly("{custom:region}"), Permission{}, "placeholder {custom:region}: claim missing"},
		{"nil claims", Identity{Subject: "bob"}, CacheReadOnly("{custom:tenant}"), Permission{}, "claim missing"},
		{"no nested lookup", alice, CacheReadOnly("{a}"), Permission{}, "not a string"},
		{"number claim", alice, CacheReadOnly("{number}"), Permission{}, "not a string"},
		{"list claim", alice, CacheReadOnly("{list}"), Permission{}, "not a string"},
		{"null claim", alice, CacheReadOnly("{null}"), Permission{}, "not a string"},
		{"empty claim", alice, CacheReadOnly("{empty}"), Permission{}, "value is empty"},
		{"empty subject", Identity{}, TopicPublishSubscribe("c", Topic("user-{sub}")), Permission{}, "no subject"},
		{"star claim", alice, TopicPublishSubscribe("c", Topic("{star}")), Permission{}, `holds "*"`},
		{"star subject", Identity{Subject: "*"}, TopicPublishSubscribe("c", Topic("{sub}")), Permission{}, `holds "*"`},
		{"star subject in cache", Identity{Subject: "*"}, CacheReadWrite("{sub}"), Permission{}, `holds "*"`},
		{"slash", alice, TopicPublishSubscribe("c", Topic("user-{slash}")), Permission{}, `holds '/'`},
		{"slash subject escaping key prefix", Identity{Subject: "alice/../bob"}, CacheKeyPrefixReadWrite("c", "{sub}/"), Permission{}, `holds '/'`},
		{"colon", alice, CacheKeyPrefixReadWrite("c", "{colon}:"), Permission{}, `holds ':'`},
		{"brace", alice, TopicPublishSubscribe("c", Topic("{brace}")), Permission{}, `holds "{" or "}"`},
		{"space", alice, TopicPublishSubscribe("c", Topic("{space}")), Permission{}, "whitespace"},
		{"newline", alice, TopicPublishSubscribe("c", Topic("{newline}")), Permission{}, "control"},
		{"NUL", alice, TopicPublishSubscribe("c", Topic("{nul}")), Permission{}, "control"},
		{"zero-width space", alice, TopicPublishSubscribe("c", Topic("{zwsp}")), Permission{}, "other than letters"},
		{"bidi override", alice, TopicPublishSubscribe("c", Topic("{bidi}")), Permission{}, "other than letters"},
		{"overlong value", alice, TopicPublishSubscribe("c", Topic("{long}")), Permission{}, "longer than"},
		{"overlong result", alice, TopicPublishSubscribe("c", Topic("user-{maxlen}")), Permission{}, "longer than"},
		{"invalid utf-8", alice, TopicPublishSubscribe("c", Topic("{badutf8}")), Permission{}, "UTF-8"},
		{"hash", alice, TopicPublishSubscribe("c", Topic("{hash}")), Permission{}, `holds '#'`},
		{"percent encoding", alice, TopicPublishSubscribe("c", Topic("{percent}")), Permission{}, `holds '%'`},
		{"question mark", alice, TopicPublishSubscribe("c", Topic("{question}")), Permission{}, `holds '?'`},
		{"backslash", alice, TopicPublishSubscribe("c", Topic("{backslash}")), Permission{}, `holds '\\'`},
		{"bad template", alice, TopicPublishSubscribe("c", Topic("{sub")), Permission{}, "unterminated"},
		{"prefix template without delimiter", alice, TopicPublishSubscribe("c", TopicNamePrefix("{prefix-tenant-with-trailer}")), Permission{}, "delimiter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewScope(CacheReadOnly("fixed"), tt.in)
			before := NewScope(in.Permissions...)
			before.Permissions = append([]Permission(nil), in.Permissions...)

			got, err := in.Expand(tt.id)
			assert.Equal(t, before, in, "Expand must not modify its receiver")
			if tt.problem != "" {
				require.ErrorIs(t, err, ErrInvalidScope)
				assert.Contains(t, err.Error(), tt.problem)
				assert.Contains(t, err.Error(), "permissions[1].")
				assert.Empty(t, got.Permissions)
				// The error never repeats an offending value.
				for _, v := range tt.id.Claims {
					if s, ok := v.(string); ok && len(s) > 3 && !strings.Contains(s, "{") {
						assert.NotContains(t, err.Error(), s)
					}
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, NewScope(CacheReadOnly("fixed"), tt.want), got)
			require.NoError(t, got.Validate())
			assert.False(t, got.IsTemplate())
		})
	}
}

// TestScopeExpandNeverWidens checks, for hostile subjects, that expansion
// either fails or yields a literal topic and a prefix under the subject's
// own delimiter-terminated namespace.
func TestScopeExpandNeverWidens(t *testing.T) {
	tmpl := NewScope(
		TopicPublishSubscribe("chat", Topic("user-{sub}")),
		CacheKeyPrefixReadWrite("chat", "{sub}/"),
	)
	subjects := []string{"*", "**", "a*", "{sub}", "}", "{", "", " ", "/", "a/", "../x", "a:b", "\x00", "\t", "\u2028",
		"\u00a0", "a\u200d", strings.Repeat("a", 300), "%2A", "ok-user_1.2@x", "Ünïcødé"}
	for _, sub := range subjects {
		got, err := tmpl.Expand(Identity{Subject: sub})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidScope, "%q", sub)
			continue
		}
		require.Len(t, got.Permissions, 2)
		topic, prefix := got.Permissions[0], got.Permissions[1]
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
	assert.False(t, NewScope(TopicPublishSubscribe("c", AllTopics)).IsTemplate())
	assert.True(t, NewScope(CacheReadOnly("c"), CacheKeyPrefixReadOnly("c", "{sub}/")).IsTemplate())
	assert.True(t, NewScope(CacheReadOnly("{x")).IsTemplate())
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
		{"static mixed", Scope{Permissions: []Permission{
			TopicPublishSubscribe(All, Topic("news")),
			TopicSubscribeOnly("c", TopicNamePrefix("room/")),
			CacheReadWrite("c"),
			CacheKeyReadOnly("c", "k1"),
			CacheKeyPrefixWriteOnly("c", "user/"),
		}}},
		{"single wildcard", Scope{Permissions: []Permission{TopicPublishSubscribe(All, Topic(All))}}},
		{"empty scope", Scope{}},
		{"invalid name", Scope{Permissions: []Permission{TopicPublishSubscribe("c", Topic("a b"))}}},
		{"missing role", Scope{Permissions: []Permission{{Cache: "c"}}}},
		{"lone closing brace", Scope{Permissions: []Permission{TopicPublishSubscribe("c", Topic("a}"))}}},
		{"template", Scope{Permissions: []Permission{TopicPublishSubscribe("c", TopicNamePrefix("{tenant}/{sub}/"))}}},
		{"bad template", Scope{Permissions: []Permission{TopicPublishSubscribe("c", Topic("{sub"))}}},
		{"unfillable template", Scope{Permissions: []Permission{TopicPublishSubscribe("c", Topic("{team}"))}}},
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
	static := Scope{Permissions: make([]Permission, 0, 8)}
	static.Permissions = append(static.Permissions, tests[0].scope.Permissions...)
	orig := Scope{Permissions: slices.Clone(static.Permissions)}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := static.Expand(id); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "expanding a template-free scope allocates")

	got, err := static.Expand(id)
	require.NoError(t, err)
	assert.Equal(t, len(got.Permissions), cap(got.Permissions), "capacity capped so append copies")
	_ = append(got.Permissions, CacheReadOnly("other"))
	assert.Equal(t, orig, static, "the caller's scope is unchanged")
	assert.Equal(t, Permission{}, static.Permissions[:len(static.Permissions)+1][len(static.Permissions)], "nothing appended into the caller's spare capacity")
}
