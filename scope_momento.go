package tvm

import (
	"github.com/momentohq/client-sdk-go/momento"
)

// momentoScope converts a validated scope to the Momento Go SDK's type, for
// momento.GenerateDisposableTokenRequest.Scope: always a momento.Permissions
// (the only scope type the SDK's token client sends) holding, per
// permission:
//
//   - a momento.TopicPermission for topic roles, with momento.AllTopics,
//     momento.TopicName or momento.TopicNamePrefix;
//   - a momento.CachePermission for a cache role on all items (as the SDK's
//     CacheReadWrite etc. build it);
//   - a momento.DisposableTokenCachePermission with momento.CacheItemKey or
//     momento.CacheItemKeyPrefix for a cache role on one key or a key prefix.
//
// Cache "*" becomes momento.AllCaches, any other cache a momento.CacheName.
func momentoScope(s Scope) momento.DisposableTokenScope {
	perms := make([]momento.Permission, 0, len(s))
	for _, p := range s {
		perms = append(perms, momentoPermission(p))
	}
	return momento.Permissions{Permissions: perms}
}

// momentoPermission converts a validated permission.
func momentoPermission(p Permission) momento.Permission {
	var cache momento.CacheSelector = momento.CacheName{Name: p.Cache}
	if p.Cache == All {
		cache = momento.AllCaches{}
	}
	if p.Role.isTopic() {
		var topic momento.TopicSelector
		switch {
		case p.TopicPrefix != "":
			topic = momento.TopicNamePrefix{NamePrefix: p.TopicPrefix}
		case p.Topic == All:
			topic = momento.AllTopics{}
		default:
			topic = momento.TopicName{Name: p.Topic}
		}
		return momento.TopicPermission{Role: momentoTopicRole(p.Role), Cache: cache, Topic: topic}
	}
	role := momentoCacheRole(p.Role)
	switch {
	case p.Key != "":
		return momento.DisposableTokenCachePermission{Role: role, Cache: cache, Item: momento.CacheItemKey{Key: []byte(p.Key)}}
	case p.KeyPrefix != "":
		return momento.DisposableTokenCachePermission{Role: role, Cache: cache, Item: momento.CacheItemKeyPrefix{KeyPrefix: []byte(p.KeyPrefix)}}
	default:
		return momento.CachePermission{Role: role, Cache: cache}
	}
}

// momentoTopicRole maps a validated topic role to the SDK's.
func momentoTopicRole(r Role) momento.TopicRole {
	switch r {
	case SubscribeOnly:
		return momento.SubscribeOnly
	case PublishOnly:
		return momento.PublishOnly
	default:
		return momento.PublishSubscribe
	}
}

// momentoCacheRole maps a validated cache role to the SDK's.
func momentoCacheRole(r Role) momento.CacheRole {
	switch r {
	case ReadOnly:
		return momento.ReadOnly
	case WriteOnly:
		return momento.WriteOnly
	default:
		return momento.ReadWrite
	}
}
