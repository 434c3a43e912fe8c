package tvm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// validator is the optional interface NewHandler checks.
type validator interface{ Validate() error }

// hostileRequest carries every header and query parameter a client might
// use to ask for more; resolvers must ignore them all.
func hostileRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/token?usergroup=ReadWriteUserGroup&cachename=other&group=admin&role=readwrite", nil)
	r.Header.Set("usergroup", "ReadWriteUserGroup")
	r.Header.Set("cachename", "other")
	r.Header.Set("X-Groups", "ReadWriteUserGroup")
	return r
}

var (
	readWriteScope = NewScope(TopicPublishSubscribe("default-cache", AllTopics))
	readOnlyScope  = NewScope(TopicSubscribeOnly("default-cache", AllTopics))
	privateScope   = NewScope(TopicPublishSubscribe("default-cache", Topic("user-{sub}")))
)

func cognitoRules() ScopeResolver {
	return GroupScopes(
		GroupRule{Group: "ReadWriteUserGroup", Scope: readWriteScope, TTL: 15 * time.Minute},
		GroupRule{Group: "ReadOnlyUserGroup", Scope: readOnlyScope},
	)
}

func TestResolverStaticScope(t *testing.T) {
	res := StaticScope(NewScope(TopicPublishSubscribe("chat", Topic("user-{sub}")), CacheReadOnly("chat")))
	require.NoError(t, res.(validator).Validate())

	g, err := res.Resolve(context.Background(), Identity{Subject: "alice", Groups: []string{"x"}}, hostileRequest())
	require.NoError(t, err)
	assert.Equal(t, Grant{
		Scope: NewScope(TopicPublishSubscribe("chat", Topic("user-alice")), CacheReadOnly("chat")),
		Rule:  RuleStatic,
	}, g)

	// A nil request is fine: static scopes never read it.
	_, err = res.Resolve(context.Background(), Identity{Subject: "bob"}, nil)
	require.NoError(t, err)

	// A caller whose identity cannot fill the template is forbidden, and
	// the error is not a configuration error.
	_, err = res.Resolve(context.Background(), Identity{Subject: "*"}, hostileRequest())
	require.ErrorIs(t, err, ErrForbidden)
	assert.NotErrorIs(t, err, ErrInvalidScope)
	assert.NotErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "rule static")
}

func TestResolverStaticScopeInvalid(t *testing.T) {
	for name, s := range map[string]Scope{
		"empty":        {},
		"bad role":     NewScope(Permission{Role: "root", Cache: "*"}),
		"bad template": NewScope(TopicPublishSubscribe("c", Topic("user-{sub"))),
		"bad name":     NewScope(CacheReadOnly("a b")),
	} {
		t.Run(name, func(t *testing.T) {
			res := StaticScope(s)
			err := res.(validator).Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorIs(t, err, ErrInvalidScope)
			g, rerr := res.Resolve(context.Background(), Identity{Subject: "alice"}, nil)
			assert.Equal(t, err, rerr, "Resolve fails closed with the construction error")
			assert.Empty(t, g.Scope.Permissions)
		})
	}
}

func TestResolverStaticScopeCopiesItsArgument(t *testing.T) {
	s := NewScope(TopicSubscribeOnly("c", AllTopics))
	res := StaticScope(s)
	s.Permissions[0] = TopicPublishSubscribe(AllCaches, AllTopics)
	g, err := res.Resolve(context.Background(), Identity{Subject: "a"}, nil)
	require.NoError(t, err)
	assert.Equal(t, NewScope(TopicSubscribeOnly("c", AllTopics)), g.Scope)
}

func TestResolverGroupScopes(t *testing.T) {
	withDefault := GroupScopes(
		GroupRule{Group: "ReadWriteUserGroup", Scope: readWriteScope, TTL: 15 * time.Minute},
		GroupRule{Group: "ReadOnlyUserGroup", Scope: readOnlyScope},
		DefaultRule(privateScope).WithTTL(5*time.Minute),
	)
	readOnlyFirst := GroupScopes(
		GroupRule{Group: "ReadOnlyUserGroup", Scope: readOnlyScope},
		GroupRule{Group: "ReadWriteUserGroup", Scope: readWriteScope},
	)
	tests := []struct {
		name      string
		res       ScopeResolver
		id        Identity
		want      Grant
		forbidden bool
	}{
		{"read-write user", cognitoRules(), Identity{Subject: "alice", Groups: []string{"ReadWriteUserGroup"}},
			Grant{Scope: readWriteScope, TTL: 15 * time.Minute, Rule: "group:ReadWriteUserGroup"}, false},
		{"read-only user", cognitoRules(), Identity{Subject: "bob", Groups: []string{"ReadOnlyUserGroup"}},
			Grant{Scope: readOnlyScope, Rule: "group:ReadOnlyUserGroup"}, false},
		{"both groups: first rule wins", cognitoRules(), Identity{Subject: "c", Groups: []string{"ReadOnlyUserGroup", "ReadWriteUserGroup"}},
			Grant{Scope: readWriteScope, TTL: 15 * time.Minute, Rule: "group:ReadWriteUserGroup"}, false},
		{"both groups: rule order, not group order", readOnlyFirst, Identity{Subject: "c", Groups: []string{"ReadWriteUserGroup", "ReadOnlyUserGroup"}},
			Grant{Scope: readOnlyScope, Rule: "group:ReadOnlyUserGroup"}, false},
		{"other groups only", cognitoRules(), Identity{Subject: "d", Groups: []string{"Admins", "readwriteusergroup"}}, Grant{}, true},
		{"no groups", cognitoRules(), Identity{Subject: "e"}, Grant{}, true},
		{"group names are case-sensitive", cognitoRules(), Identity{Subject: "f", Groups: []string{"readwriteusergroup"}}, Grant{}, true},
		{"group with extra space", cognitoRules(), Identity{Subject: "f", Groups: []string{"ReadWriteUserGroup "}}, Grant{}, true},
		{"default rule", withDefault, Identity{Subject: "guest-1", Groups: []string{"Visitors"}},
			Grant{Scope: NewScope(TopicPublishSubscribe("default-cache", Topic("user-guest-1"))), TTL: 5 * time.Minute, Rule: "default"}, false},
		{"group before default", withDefault, Identity{Subject: "bob", Groups: []string{"ReadOnlyUserGroup"}},
			Grant{Scope: readOnlyScope, Rule: "group:ReadOnlyUserGroup"}, false},
		{"default rule template refused", withDefault, Identity{Subject: "a/b"}, Grant{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.res.(validator).Validate())
			got, err := tt.res.Resolve(context.Background(), tt.id, hostileRequest())
			if tt.forbidden {
				require.ErrorIs(t, err, ErrForbidden)
				assert.Empty(t, got.Scope.Permissions)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, got.TokenID, "the handler's policy decides the token id")
		})
	}
}

func TestResolverGroupScopesValidate(t *testing.T) {
	ok := GroupRule{Group: "g", Scope: readOnlyScope}
	tests := []struct {
		name  string
		rules []GroupRule
		field string // substring of the error
		scope bool   // whether the error also wraps ErrInvalidScope
	}{
		{"no rules", nil, "GroupScopes: no rules", false},
		{"empty scope", []GroupRule{{Group: "g"}}, "rules[0].Scope", true},
		{"empty scope in default", []GroupRule{ok, DefaultRule(Scope{})}, "rules[1].Scope (default)", true},
		{"bad template", []GroupRule{ok, {Group: "h", Scope: NewScope(CacheKeyPrefixReadOnly("c", "{sub}"))}}, "rules[1].Scope (group:h)", true},
		{"empty group", []GroupRule{{Scope: readOnlyScope}}, "rules[0].Group: empty", false},
		{"duplicate group", []GroupRule{ok, {Group: "h", Scope: readOnlyScope}, {Group: "g", Scope: readWriteScope}}, "rules[2].Group: duplicate", false},
		{"default not last", []GroupRule{DefaultRule(readOnlyScope), ok}, "rules[0]: DefaultRule must be the last", false},
		{"two defaults", []GroupRule{DefaultRule(readOnlyScope), DefaultRule(readOnlyScope)}, "rules[0]: DefaultRule must be the last", false},
		{"group on default", []GroupRule{func() GroupRule { r := DefaultRule(readOnlyScope); r.Group = "x"; return r }()}, "rules[0].Group: must be empty", false},
		{"negative TTL", []GroupRule{{Group: "g", Scope: readOnlyScope, TTL: -time.Second}}, "rules[0].TTL", false},
		{"TTL under a second", []GroupRule{{Group: "g", Scope: readOnlyScope, TTL: time.Millisecond}}, "rules[0].TTL", false},
		{"TTL over an hour", []GroupRule{{Group: "g", Scope: readOnlyScope, TTL: MaxTokenTTL + time.Second}}, "rules[0].TTL", false},
		{"control character in group", []GroupRule{{Group: "g\n", Scope: readOnlyScope}}, "rules[0].Group", false},
		{"overlong group", []GroupRule{{Group: strings.Repeat("g", 257), Scope: readOnlyScope}}, "rules[0].Group: longer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := GroupScopes(tt.rules...)
			err := res.(validator).Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.field)
			assert.Equal(t, tt.scope, errors.Is(err, ErrInvalidScope), err.Error())
			if !tt.scope {
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
			}
			_, rerr := res.Resolve(context.Background(), Identity{Subject: "a", Groups: []string{"g", "h"}}, nil)
			assert.Equal(t, err, rerr, "Resolve fails closed with the construction error")
		})
	}

	// Valid edge cases.
	for name, rules := range map[string][]GroupRule{
		"only a default":   {DefaultRule(readOnlyScope)},
		"max TTL":          {{Group: "g", Scope: readOnlyScope, TTL: MaxTokenTTL}},
		"min TTL":          {{Group: "g", Scope: readOnlyScope, TTL: MinTokenTTL}},
		"group with space": {{Group: "Read Only", Scope: readOnlyScope}},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, GroupScopes(rules...).(validator).Validate())
		})
	}
}

func TestResolverGroupScopesCopiesRules(t *testing.T) {
	rules := []GroupRule{{Group: "g", Scope: NewScope(TopicSubscribeOnly("c", AllTopics))}}
	res := GroupScopes(rules...)
	rules[0].Group = "other"
	rules[0].Scope.Permissions[0] = TopicPublishSubscribe(AllCaches, AllTopics)
	g, err := res.Resolve(context.Background(), Identity{Subject: "a", Groups: []string{"g"}}, nil)
	require.NoError(t, err)
	assert.Equal(t, NewScope(TopicSubscribeOnly("c", AllTopics)), g.Scope)
}

func TestResolverGroupRuleNames(t *testing.T) {
	assert.Equal(t, "group:ReadWriteUserGroup", GroupRule{Group: "ReadWriteUserGroup"}.Name())
	assert.Equal(t, "default", DefaultRule(readOnlyScope).Name())
	assert.True(t, DefaultRule(readOnlyScope).IsDefault())
	assert.False(t, GroupRule{Group: "g"}.IsDefault())
	assert.Equal(t, time.Minute, DefaultRule(readOnlyScope).WithTTL(time.Minute).TTL)
}

func TestResolverFunc(t *testing.T) {
	var res ScopeResolver = ResolverFunc(func(_ context.Context, id Identity, _ *http.Request) (Grant, error) {
		return Grant{Scope: NewScope(CacheReadOnly(id.Subject)), Rule: "func"}, nil
	})
	g, err := res.Resolve(context.Background(), Identity{Subject: "c"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Grant{Scope: NewScope(CacheReadOnly("c")), Rule: "func"}, g)
}

type rulesFile struct {
	Rules []GroupRule `json:"rules" yaml:"rules"`
}

func decodeRulesFile(t *testing.T, name string) ([]GroupRule, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "scopes", "rules", name))
	require.NoError(t, err)
	var f rulesFile
	if strings.HasSuffix(name, ".json") {
		err = json.Unmarshal(data, &f)
	} else {
		err = yaml.Unmarshal(data, &f)
	}
	return f.Rules, err
}

func TestResolverGroupRulesFromFiles(t *testing.T) {
	want := []GroupRule{
		{Group: "ReadWriteUserGroup", Scope: readWriteScope, TTL: 15 * time.Minute},
		{Group: "ReadOnlyUserGroup", Scope: readOnlyScope},
		DefaultRule(privateScope).WithTTL(5 * time.Minute),
	}
	for _, name := range []string{"cognito.yaml", "cognito.json"} {
		t.Run(name, func(t *testing.T) {
			rules, err := decodeRulesFile(t, name)
			require.NoError(t, err)
			assert.Equal(t, want, rules)
			res := GroupScopes(rules...)
			require.NoError(t, res.(validator).Validate())
			g, err := res.Resolve(context.Background(), Identity{Subject: "zed"}, nil)
			require.NoError(t, err)
			assert.Equal(t, "default", g.Rule)
			assert.Equal(t, "topic:publishsubscribe(default-cache/user-zed)", g.Scope.String())
		})
	}

	invalid := map[string]string{
		"invalid-unknown-field.yaml":     "GroupRule.usergroup: line 3: unknown field",
		"invalid-ttl.json":               "GroupRule.ttl: not a duration",
		"invalid-default-and-group.json": "set together with default",
		"invalid-scope.yaml":             "admin: unknown field",
	}
	for name, want := range invalid {
		t.Run(name, func(t *testing.T) {
			_, err := decodeRulesFile(t, name)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestResolverGroupRuleDecodeEdgeCases(t *testing.T) {
	jsonCases := map[string]string{
		`{"group": "g", "group": "h", "scope": []}`: "duplicate field",
		`{"group": 1, "scope": []}`:                 "must be a JSON string",
		`{"default": "yes", "scope": []}`:           "must be true or false",
		`{"scope": {"permissions": 1}}`:             "must be a JSON array",
		`[]`:                                        "must be a JSON object",
		`{"Group": "g"}`:                            "unknown field",
	}
	for in, want := range jsonCases {
		var g GroupRule
		err := json.Unmarshal([]byte(in), &g)
		require.ErrorIs(t, err, ErrInvalidConfig, in)
		assert.Contains(t, err.Error(), want, in)
	}
	yamlCases := map[string]string{
		"group: g\ngroup: h\n":   "duplicate field",
		"default: yes\n":         "must be true or false",
		"group: [a]\n":           "must be a string",
		"- group: g\n":           "must be a YAML mapping",
		"group: g\nscope: x\n":   "a scope must be a YAML mapping or sequence",
		"group: g\n<<: {a: b}\n": "unknown field",
	}
	for in, want := range yamlCases {
		var g GroupRule
		err := yaml.Unmarshal([]byte(in), &g)
		require.ErrorIs(t, err, ErrInvalidConfig, in)
		assert.Contains(t, err.Error(), want, in)
	}
	var g GroupRule
	require.NoError(t, yaml.Unmarshal([]byte("default: false\ngroup: g\nscope: []\n"), &g))
	assert.Equal(t, GroupRule{Group: "g", Scope: Scope{Permissions: []Permission{}}}, g)
}
