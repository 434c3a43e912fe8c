package tvm

import (
	"testing"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopeMomentoScopeMatchesSDKConstructors(t *testing.T) {
	cache := momento.CacheName{Name: "default-cache"}
	tests := []struct {
		name string
		perm Permission
		want momento.DisposableTokenScope
	}{
		{"topic pubsub all caches all topics", TopicPublishSubscribe(AllCaches, AllTopics),
			momento.TopicPublishSubscribe(momento.AllCaches{}, momento.AllTopics{})},
		{"topic pubsub one cache all topics", TopicPublishSubscribe("default-cache", AllTopics),
			momento.TopicPublishSubscribe(cache, momento.AllTopics{})},
		{"topic subscribe one topic", TopicSubscribeOnly("default-cache", Topic("room-42")),
			momento.TopicSubscribeOnly(cache, momento.TopicName{Name: "room-42"})},
		{"topic publish one topic all caches", TopicPublishOnly(AllCaches, Topic("room-42")),
			momento.TopicPublishOnly(momento.AllCaches{}, momento.TopicName{Name: "room-42"})},
		{"topic pubsub prefix", TopicPublishSubscribe("default-cache", TopicNamePrefix("room-")),
			momento.TopicNamePrefixPublishSubscribe(cache, "room-")},
		{"topic subscribe prefix", TopicSubscribeOnly("default-cache", TopicNamePrefix("room-")),
			momento.TopicNamePrefixSubscribeOnly(cache, "room-")},
		{"topic publish prefix", TopicPublishOnly("default-cache", TopicNamePrefix("room-")),
			momento.TopicNamePrefixPublishOnly(cache, "room-")},
		{"cache readwrite", CacheReadWrite("default-cache"), momento.CacheReadWrite(cache)},
		{"cache readonly all caches", CacheReadOnly(AllCaches), momento.CacheReadOnly(momento.AllCaches{})},
		{"cache writeonly", CacheWriteOnly("default-cache"), momento.CacheWriteOnly(cache)},
		{"key readwrite", CacheKeyReadWrite("default-cache", "k"), momento.CacheKeyReadWrite(cache, momento.String("k"))},
		{"key readonly", CacheKeyReadOnly("default-cache", "k"), momento.CacheKeyReadOnly(cache, momento.String("k"))},
		{"key writeonly", CacheKeyWriteOnly("default-cache", "k"), momento.CacheKeyWriteOnly(cache, momento.String("k"))},
		{"key prefix readwrite", CacheKeyPrefixReadWrite("default-cache", "u/"), momento.CacheKeyPrefixReadWrite(cache, momento.String("u/"))},
		{"key prefix readonly", CacheKeyPrefixReadOnly(AllCaches, "u/"), momento.CacheKeyPrefixReadOnly(momento.AllCaches{}, momento.String("u/"))},
		{"key prefix writeonly", CacheKeyPrefixWriteOnly("default-cache", "u/"), momento.CacheKeyPrefixWriteOnly(cache, momento.String("u/"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewScope(tt.perm).MomentoScope()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			one, err := tt.perm.MomentoPermission()
			require.NoError(t, err)
			assert.Equal(t, tt.want.(momento.Permissions).Permissions[0], one)
		})
	}
}

func TestScopeMomentoScopeMixed(t *testing.T) {
	s := NewScope(
		TopicSubscribeOnly("chat", AllTopics),
		TopicPublishOnly("chat", TopicNamePrefix("user-42-")),
		CacheReadOnly("chat"),
		CacheKeyPrefixReadWrite("chat", "user-42/"),
	)
	got, err := s.MomentoScope()
	require.NoError(t, err)
	chat := momento.CacheName{Name: "chat"}
	want := momento.Permissions{Permissions: []momento.Permission{
		momento.TopicPermission{Role: momento.SubscribeOnly, Cache: chat, Topic: momento.AllTopics{}},
		momento.TopicPermission{Role: momento.PublishOnly, Cache: chat, Topic: momento.TopicNamePrefix{NamePrefix: "user-42-"}},
		momento.CachePermission{Role: momento.ReadOnly, Cache: chat},
		momento.DisposableTokenCachePermission{Role: momento.ReadWrite, Cache: chat, Item: momento.CacheItemKeyPrefix{KeyPrefix: []byte("user-42/")}},
	}}
	assert.Equal(t, want, got)
}

func TestScopeMomentoScopeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name  string
		scope Scope
	}{
		{"empty", Scope{}},
		{"unknown role", NewScope(Permission{Role: "admin", Cache: "c", Topic: "*"})},
		{"unexpanded template", NewScope(TopicPublishSubscribe("c", Topic("user-{sub}")))},
		{"topic on cache role", NewScope(Permission{Role: ReadWrite, Cache: "c", Topic: "t"})},
		{"missing topic", NewScope(Permission{Role: PublishSubscribe, Cache: "c"})},
		{"missing cache", NewScope(TopicPublishSubscribe("", AllTopics))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.scope.MomentoScope()
			require.ErrorIs(t, err, ErrInvalidScope)
			assert.Nil(t, got)
			if len(tt.scope.Permissions) > 0 {
				_, err := tt.scope.Permissions[0].MomentoPermission()
				require.ErrorIs(t, err, ErrInvalidScope)
			}
		})
	}
}
