package tvm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	readWriteScope = Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: All}}
	readOnlyScope  = Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}
	privateScope   = Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "user-{sub}"}}
)

func cognitoRules(t testing.TB) *GroupScopes {
	return htGroupScopes(t,
		GroupRule{Group: "ReadWriteUserGroup", Scope: readWriteScope, TTL: 15 * time.Minute},
		GroupRule{Group: "ReadOnlyUserGroup", Scope: readOnlyScope},
	)
}

// TestResolverDefaultRule: one default rule gives everyone the same scope
// (what StaticScope did), its templates filled from the identity.
func TestResolverDefaultRule(t *testing.T) {
	res := htDefault(t, Scope{
		{Role: PublishSubscribe, Cache: "chat", Topic: "user-{sub}"},
		{Role: ReadOnly, Cache: "chat"},
	})

	g, err := res.Resolve(context.Background(), Identity{Subject: "alice", Groups: []string{"x"}}, hostileRequest())
	require.NoError(t, err)
	assert.Equal(t, Grant{
		Scope: Scope{{Role: PublishSubscribe, Cache: "chat", Topic: "user-alice"}, {Role: ReadOnly, Cache: "chat"}},
		Rule:  "default",
	}, g)

	// A nil request is fine: group rules never read it.
	_, err = res.Resolve(context.Background(), Identity{Subject: "bob"}, nil)
	require.NoError(t, err)

	// A caller whose identity cannot fill the template is forbidden, and
	// the error is not a configuration error.
	_, err = res.Resolve(context.Background(), Identity{Subject: "*"}, hostileRequest())
	require.ErrorIs(t, err, ErrForbidden)
	assert.NotErrorIs(t, err, ErrInvalidScope)
	assert.NotErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "rule default")
}

// TestResolverDefaultRuleInvalid: an invalid scope fails construction, with
// the rule, permission and field named; no resolver is returned.
func TestResolverDefaultRuleInvalid(t *testing.T) {
	for name, tt := range map[string]struct {
		s     Scope
		field string
	}{
		"empty":        {Scope{}, "GroupScopes.Rules[0].Scope"},
		"nil":          {nil, "GroupScopes.Rules[0].Scope"},
		"bad role":     {Scope{{Role: "root", Cache: "*"}}, "GroupScopes.Rules[0].Scope[0].role"},
		"bad template": {Scope{{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub"}}, "GroupScopes.Rules[0].Scope[0].topic"},
		"bad name":     {Scope{{Role: ReadOnly, Cache: "ok"}, {Role: ReadOnly, Cache: "a b"}}, "GroupScopes.Rules[0].Scope[1].cache"},
		"too many":     {make(Scope, MaxPermissions+1), "GroupScopes.Rules[0].Scope"},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := NewGroupScopes(GroupRule{Default: true, Scope: tt.s})
			require.Nil(t, res)
			assert.Equal(t, []string{tt.field}, configFields(t, err), err.Error())
		})
	}
}

func TestResolverDefaultRuleCopiesItsArgument(t *testing.T) {
	s := Scope{{Role: SubscribeOnly, Cache: "c", Topic: All}}
	res := htDefault(t, s)
	s[0] = Permission{Role: PublishSubscribe, Cache: All, Topic: All}
	g, err := res.Resolve(context.Background(), Identity{Subject: "a"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Scope{{Role: SubscribeOnly, Cache: "c", Topic: All}}, g.Scope)
}

func TestResolverGroupScopes(t *testing.T) {
	withDefault := htGroupScopes(t,
		GroupRule{Group: "ReadWriteUserGroup", Scope: readWriteScope, TTL: 15 * time.Minute},
		GroupRule{Group: "ReadOnlyUserGroup", Scope: readOnlyScope},
		GroupRule{Default: true, Scope: privateScope, TTL: 5 * time.Minute},
	)
	readOnlyFirst := htGroupScopes(t,
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
		{"read-write user", cognitoRules(t), Identity{Subject: "alice", Groups: []string{"ReadWriteUserGroup"}},
			Grant{Scope: readWriteScope, TTL: 15 * time.Minute, Rule: "group:ReadWriteUserGroup"}, false},
		{"read-only user", cognitoRules(t), Identity{Subject: "bob", Groups: []string{"ReadOnlyUserGroup"}},
			Grant{Scope: readOnlyScope, Rule: "group:ReadOnlyUserGroup"}, false},
		{"both groups: first rule wins", cognitoRules(t), Identity{Subject: "c", Groups: []string{"ReadOnlyUserGroup", "ReadWriteUserGroup"}},
			Grant{Scope: readWriteScope, TTL: 15 * time.Minute, Rule: "group:ReadWriteUserGroup"}, false},
		{"both groups: rule order, not group order", readOnlyFirst, Identity{Subject: "c", Groups: []string{"ReadWriteUserGroup", "ReadOnlyUserGroup"}},
			Grant{Scope: readOnlyScope, Rule: "group:ReadOnlyUserGroup"}, false},
		{"other groups only", cognitoRules(t), Identity{Subject: "d", Groups: []string{"Admins", "readwriteusergroup"}}, Grant{}, true},
		{"no groups", cognitoRules(t), Identity{Subject: "e"}, Grant{}, true},
		{"group names are case-sensitive", cognitoRules(t), Identity{Subject: "f", Groups: []string{"readwriteusergroup"}}, Grant{}, true},
		{"group with extra space", cognitoRules(t), Identity{Subject: "f", Groups: []string{"ReadWriteUserGroup "}}, Grant{}, true},
		{"default rule", withDefault, Identity{Subject: "guest-1", Groups: []string{"Visitors"}},
			Grant{Scope: Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "user-guest-1"}}, TTL: 5 * time.Minute, Rule: "default"}, false},
		{"group before default", withDefault, Identity{Subject: "bob", Groups: []string{"ReadOnlyUserGroup"}},
			Grant{Scope: readOnlyScope, Rule: "group:ReadOnlyUserGroup"}, false},
		{"default rule template refused", withDefault, Identity{Subject: "a/b"}, Grant{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.res.Resolve(context.Background(), tt.id, hostileRequest())
			if tt.forbidden {
				require.ErrorIs(t, err, ErrForbidden)
				assert.Empty(t, got.Scope)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, got.TokenID, "the handler's policy decides the token id")
		})
	}
}

func TestNewGroupScopesRejectsBadRules(t *testing.T) {
	ok := GroupRule{Group: "g", Scope: readOnlyScope}
	tests := []struct {
		name  string
		rules []GroupRule
		field string
		want  string // substring of the problem
	}{
		{"no rules", nil, "GroupScopes", "no rules"},
		{"empty scope", []GroupRule{{Group: "g"}}, "GroupScopes.Rules[0].Scope", "no permissions"},
		{"empty scope in default", []GroupRule{ok, {Default: true}}, "GroupScopes.Rules[1].Scope", "no permissions"},
		{"bad template", []GroupRule{ok, {Group: "h", Scope: Scope{{Role: ReadOnly, Cache: "c", KeyPrefix: "{sub}"}}}}, "GroupScopes.Rules[1].Scope[0].keyPrefix", "delimiter"},
		{"empty group", []GroupRule{{Scope: readOnlyScope}}, "GroupScopes.Rules[0].Group", "required"},
		{"duplicate group", []GroupRule{ok, {Group: "h", Scope: readOnlyScope}, {Group: "g", Scope: readWriteScope}}, "GroupScopes.Rules[2].Group", "duplicate"},
		{"default not last", []GroupRule{{Default: true, Scope: readOnlyScope}, ok}, "GroupScopes.Rules[0].Default", "only the last rule"},
		{"two defaults", []GroupRule{{Default: true, Scope: readOnlyScope}, {Default: true, Scope: readOnlyScope}}, "GroupScopes.Rules[0].Default", "only the last rule"},
		{"group on default", []GroupRule{{Default: true, Group: "x", Scope: readOnlyScope}}, "GroupScopes.Rules[0].Group", "set together with Default"},
		{"negative TTL", []GroupRule{{Group: "g", Scope: readOnlyScope, TTL: -time.Second}}, "GroupScopes.Rules[0].TTL", "between"},
		{"TTL under a second", []GroupRule{{Group: "g", Scope: readOnlyScope, TTL: time.Millisecond}}, "GroupScopes.Rules[0].TTL", "between"},
		{"TTL over an hour", []GroupRule{{Group: "g", Scope: readOnlyScope, TTL: MaxTokenTTL + time.Second}}, "GroupScopes.Rules[0].TTL", "between"},
		{"control character in group", []GroupRule{{Group: "g\n", Scope: readOnlyScope}}, "GroupScopes.Rules[0].Group", "control"},
		{"C1 control character in group", []GroupRule{{Group: "g\u0085", Scope: readOnlyScope}}, "GroupScopes.Rules[0].Group", "control"},
		{"invalid UTF-8 group", []GroupRule{{Group: "g\xff", Scope: readOnlyScope}}, "GroupScopes.Rules[0].Group", "UTF-8"},
		{"overlong group", []GroupRule{{Group: strings.Repeat("g", 257), Scope: readOnlyScope}}, "GroupScopes.Rules[0].Group", "longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := NewGroupScopes(tt.rules...)
			require.Nil(t, res)
			ces := configErrors(t, err)
			require.Len(t, ces, 1, err.Error())
			assert.Equal(t, tt.field, ces[0].Field)
			assert.Contains(t, ces[0].Problem, tt.want)
		})
	}

	// Valid edge cases.
	for name, rules := range map[string][]GroupRule{
		"only a default":   {{Default: true, Scope: readOnlyScope}},
		"max TTL":          {{Group: "g", Scope: readOnlyScope, TTL: MaxTokenTTL}},
		"min TTL":          {{Group: "g", Scope: readOnlyScope, TTL: minTokenTTL}},
		"group with space": {{Group: "Read Only", Scope: readOnlyScope}},
		"max permissions": {{Group: "g", Scope: func() Scope {
			s := make(Scope, MaxPermissions)
			for i := range s {
				s[i] = Permission{Role: ReadOnly, Cache: "c" + strings.Repeat("x", i)}
			}
			return s
		}()}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewGroupScopes(rules...)
			require.NoError(t, err)
		})
	}
}

func TestResolverGroupScopesCopiesRules(t *testing.T) {
	rules := []GroupRule{{Group: "g", Scope: Scope{{Role: SubscribeOnly, Cache: "c", Topic: All}}}}
	res := htGroupScopes(t, rules...)
	rules[0].Group = "other"
	rules[0].Scope[0] = Permission{Role: PublishSubscribe, Cache: All, Topic: All}
	g, err := res.Resolve(context.Background(), Identity{Subject: "a", Groups: []string{"g"}}, nil)
	require.NoError(t, err)
	assert.Equal(t, Scope{{Role: SubscribeOnly, Cache: "c", Topic: All}}, g.Scope)
}

func TestResolverGroupRuleNames(t *testing.T) {
	assert.Equal(t, "group:ReadWriteUserGroup", GroupRule{Group: "ReadWriteUserGroup"}.name())
	assert.Equal(t, "default", GroupRule{Default: true, Scope: readOnlyScope}.name())
}

func TestResolverFunc(t *testing.T) {
	var res ScopeResolver = ResolverFunc(func(_ context.Context, id Identity, _ *http.Request) (Grant, error) {
		return Grant{Scope: Scope{{Role: ReadOnly, Cache: id.Subject}}, Rule: "func"}, nil
	})
	g, err := res.Resolve(context.Background(), Identity{Subject: "c"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Grant{Scope: Scope{{Role: ReadOnly, Cache: "c"}}, Rule: "func"}, g)
}
