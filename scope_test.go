package tvm

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
