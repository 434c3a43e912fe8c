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
		{"topic pubsub all caches all topics", Permission{Role: PublishSubscribe, Cache: All, Topic: All},
			momento.TopicPublishSubscribe(momento.AllCaches{}, momento.AllTopics{})},
		{"topic pubsub one cache all topics", Permission{Role: PublishSubscribe, Cache: "default-cache", Topic: All},
			momento.TopicPublishSubscribe(cache, momento.AllTopics{})},
		{"topic subscribe one topic", Permission{Role: SubscribeOnly, Cache: "default-cache", Topic: "room-42"},
			momento.TopicSubscribeOnly(cache, momento.TopicName{Name: "room-42"})},
		{"topic publish one topic all caches", Permission{Role: PublishOnly, Cache: All, Topic: "room-42"},
			momento.TopicPublishOnly(momento.AllCaches{}, momento.TopicName{Name: "room-42"})},
		{"topic pubsub prefix", Permission{Role: PublishSubscribe, Cache: "default-cache", TopicPrefix: "room-"},
			momento.TopicNamePrefixPublishSubscribe(cache, "room-")},
		{"topic subscribe prefix", Permission{Role: SubscribeOnly, Cache: "default-cache", TopicPrefix: "room-"},
			momento.TopicNamePrefixSubscribeOnly(cache, "room-")},
		{"topic publish prefix", Permission{Role: PublishOnly, Cache: "default-cache", TopicPrefix: "room-"},
			momento.TopicNamePrefixPublishOnly(cache, "room-")},
		{"cache readwrite", Permission{Role: ReadWrite, Cache: "default-cache"}, momento.CacheReadWrite(cache)},
		{"cache readonly all caches", Permission{Role: ReadOnly, Cache: All}, momento.CacheReadOnly(momento.AllCaches{})},
		{"cache writeonly", Permission{Role: WriteOnly, Cache: "default-cache"}, momento.CacheWriteOnly(cache)},
		{"key readwrite", Permission{Role: ReadWrite, Cache: "default-cache", Key: "k"}, momento.CacheKeyReadWrite(cache, momento.String("k"))},
		{"key readonly", Permission{Role: ReadOnly, Cache: "default-cache", Key: "k"}, momento.CacheKeyReadOnly(cache, momento.String("k"))},
		{"key writeonly", Permission{Role: WriteOnly, Cache: "default-cache", Key: "k"}, momento.CacheKeyWriteOnly(cache, momento.String("k"))},
		{"key prefix readwrite", Permission{Role: ReadWrite, Cache: "default-cache", KeyPrefix: "u/"}, momento.CacheKeyPrefixReadWrite(cache, momento.String("u/"))},
		{"key prefix readonly", Permission{Role: ReadOnly, Cache: All, KeyPrefix: "u/"}, momento.CacheKeyPrefixReadOnly(momento.AllCaches{}, momento.String("u/"))},
		{"key prefix writeonly", Permission{Role: WriteOnly, Cache: "default-cache", KeyPrefix: "u/"}, momento.CacheKeyPrefixWriteOnly(cache, momento.String("u/"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, Scope{tt.perm}.Validate())
			assert.Equal(t, tt.want, momentoScope(Scope{tt.perm}))
			assert.Equal(t, tt.want.(momento.Permissions).Permissions[0], momentoPermission(tt.perm))
		})
	}
}

func TestScopeMomentoScopeMixed(t *testing.T) {
	s := Scope{
		{Role: SubscribeOnly, Cache: "chat", Topic: All},
		{Role: PublishOnly, Cache: "chat", TopicPrefix: "user-42-"},
		{Role: ReadOnly, Cache: "chat"},
		{Role: ReadWrite, Cache: "chat", KeyPrefix: "user-42/"},
	}
	require.NoError(t, s.Validate())
	got := momentoScope(s)
	chat := momento.CacheName{Name: "chat"}
	want := momento.Permissions{Permissions: []momento.Permission{
		momento.TopicPermission{Role: momento.SubscribeOnly, Cache: chat, Topic: momento.AllTopics{}},
		momento.TopicPermission{Role: momento.PublishOnly, Cache: chat, Topic: momento.TopicNamePrefix{NamePrefix: "user-42-"}},
		momento.CachePermission{Role: momento.ReadOnly, Cache: chat},
		momento.DisposableTokenCachePermission{Role: momento.ReadWrite, Cache: chat, Item: momento.CacheItemKeyPrefix{KeyPrefix: []byte("user-42/")}},
	}}
	assert.Equal(t, want, got)
}
