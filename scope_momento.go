package tvm

import (
	"github.com/momentohq/client-sdk-go/momento"
)

// MomentoScope converts the scope to the Momento Go SDK's type, ready for
// momento.GenerateDisposableTokenRequest.Scope. It validates the scope first
// (see Scope.Validate) and returns an error wrapping ErrInvalidScope rather
// than convert an empty, malformed or unexpanded scope.
//
// The result is always a momento.Permissions (the only scope type the SDK's
// token client sends) holding, per permission:
//
//   - a momento.TopicPermission for topic roles, with momento.AllTopics,
//     momento.TopicName or momento.TopicNamePrefix;
//   - a momento.CachePermission for a cache role on all items (as the SDK's
//     CacheReadWrite etc. build it);
//   - a momento.DisposableTokenCachePermission with momento.CacheItemKey or
//     momento.CacheItemKeyPrefix for a cache role on one key or a key prefix.
//
// Cache "*" becomes momento.AllCaches, any other cache a momento.CacheName.
func (s Scope) MomentoScope() (momento.DisposableTokenScope, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	perms := make([]momento.Permission, 0, len(s.Permissions))
	for _, p := range s.Permissions {
		perms = append(perms, p.momentoPermission())
	}
	return momento.Permissions{Permissions: perms}, nil
}

// MomentoPermission converts one permission to the Momento Go SDK's type,
// as Scope.MomentoScope does. It validates p first and returns an error
// wrapping ErrInvalidScope when p is invalid.
func (p Permission) MomentoPermission() (momento.Permission, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p.momentoPermission(), nil
}

// momentoPermission converts a permission that has been validated.
func (p Permission) momentoPermission() momento.Permission {
	var cache momento.CacheSelector = momento.CacheName{Name: p.Cache}
	if p.Cache == All {
		cache = momento.AllCaches{}
	}
	if p.Role.IsTopicRole() {
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
