package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/tvmgo/tvm"
)

// roomScopes maps the caller's groups to a scope on the chat cache's topics
// and lets the page narrow it to one room with ?topic=.
// TEMPORARY: hand-written until tvm.GroupScopes and tvm.AllowNarrowing land.
func roomScopes(cache string) tvm.ScopeResolver {
	return tvm.ResolverFunc(func(_ context.Context, id tvm.Identity, r *http.Request) (tvm.Grant, error) {
		topic := tvm.AllTopics
		if t := r.URL.Query().Get("topic"); t != "" {
			topic = tvm.Topic(t)
		}
		switch {
		case slices.Contains(id.Groups, readWriteGroup):
			return tvm.Grant{Scope: tvm.NewScope(tvm.TopicPublishSubscribe(cache, topic)), Rule: readWriteGroup}, nil
		case slices.Contains(id.Groups, readOnlyGroup):
			return tvm.Grant{Scope: tvm.NewScope(tvm.TopicSubscribeOnly(cache, topic)), Rule: readOnlyGroup}, nil
		}
		return tvm.Grant{}, fmt.Errorf("%w: no chat group", tvm.ErrForbidden)
	})
}
