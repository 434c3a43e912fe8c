package main

import "github.com/tvmgo/tvm"

// roomScopes decides what a chat user may do, from the verified identity's
// groups only (first matching rule wins; anyone else gets 403):
//
//   - ReadWriteUserGroup: publish and subscribe to every room (topic) of
//     the chat cache;
//   - ReadOnlyUserGroup: subscribe only.
//
// The page asks for one room with ?topic=<room>; tvm.Narrowing intersects
// that with the group's scope, so each token covers one room and nothing
// the page sends can widen it. The cache cannot be chosen by the page.
func roomScopes(cache string) (tvm.ScopeResolver, error) {
	groups, err := tvm.NewGroupScopes(
		tvm.GroupRule{Group: readWriteGroup, Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: cache, Topic: tvm.All}}},
		tvm.GroupRule{Group: readOnlyGroup, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: cache, Topic: tvm.All}}},
	)
	if err != nil {
		return nil, err
	}
	return tvm.NewNarrowing(groups, tvm.NarrowOptions{TopicParam: "topic", CacheParam: "-"})
}
