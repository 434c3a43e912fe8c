package tvm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/tvmgo/tvm"
	"go.yaml.in/yaml/v3"
)

// Scopes are built from constructors that read like Momento's own.
func ExampleNewScope() {
	s := tvm.NewScope(
		tvm.TopicPublishSubscribe("default-cache", tvm.AllTopics),
		tvm.TopicSubscribeOnly(tvm.AllCaches, tvm.TopicNamePrefix("news-")),
		tvm.CacheReadOnly("default-cache"),
		tvm.CacheKeyPrefixReadWrite("default-cache", "drafts/"),
	)
	fmt.Println(s.Validate())
	fmt.Println(s)
	// Output:
	// <nil>
	// topic:publishsubscribe(default-cache/*) topic:subscribeonly(*/news-*) cache:readonly(default-cache) cache:readwrite(default-cache/drafts/*)
}

// An empty or malformed scope is refused, naming the permission and field.
func ExampleScope_Validate() {
	fmt.Println(tvm.Scope{}.Validate())
	fmt.Println(tvm.NewScope(
		tvm.CacheReadOnly("default-cache"),
		tvm.TopicPublishSubscribe("default-cache", tvm.Topic("room 42")),
	).Validate())
	// Output:
	// tvm: invalid scope: no permissions (an empty scope is never vended)
	// tvm: invalid scope: permissions[1].topic: contains whitespace
}

// MomentoScope converts a scope for the official SDK's
// GenerateDisposableTokenRequest.
func ExampleScope_MomentoScope() {
	scope, err := tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.AllTopics)).MomentoScope()
	if err != nil {
		panic(err)
	}
	fmt.Printf("%T\n", scope)
	// Output:
	// momento.Permissions
}

// Scopes decode strictly from YAML (and JSON): unknown fields are refused
// and roles are case-insensitive.
func ExampleScope_UnmarshalYAML() {
	var s tvm.Scope
	err := yaml.Unmarshal([]byte(`
permissions:
  - role: publish-subscribe
    cache: default-cache
    topic: "*"          # quote the wildcard: a bare * is a YAML alias
  - role: ReadOnly
    cache: default-cache
    keyPrefix: "{sub}/"
`), &s)
	fmt.Println(s, err)

	err = yaml.Unmarshal([]byte("- {role: readwrite, cache: c, usergroup: admin}"), &s)
	fmt.Println(err)
	// Output:
	// topic:publishsubscribe(default-cache/*) cache:readonly(default-cache/{sub}/*) <nil>
	// tvm: invalid scope: permissions[0].usergroup: unknown field (want role, cache, topic, topicPrefix, key or keyPrefix)
}

// Templates are filled from the verified identity only. A value that could
// widen the scope, such as the subject "*", is refused.
func ExampleScope_Expand() {
	tmpl := tvm.NewScope(
		tvm.TopicPublishSubscribe("{custom:tenant}", tvm.Topic("user-{sub}")),
		tvm.CacheKeyPrefixReadWrite("{custom:tenant}", "{sub}/"),
	)
	alice := tvm.Identity{Subject: "alice", Claims: map[string]any{"custom:tenant": "acme"}}
	s, err := tmpl.Expand(alice)
	fmt.Println(s, err)

	_, err = tmpl.Expand(tvm.Identity{Subject: "*", Claims: alice.Claims})
	fmt.Println(err)

	_, err = tmpl.Expand(tvm.Identity{Subject: "bob"})
	fmt.Println(err)
	// Output:
	// topic:publishsubscribe(acme/user-alice) cache:readwrite(acme/alice/*) <nil>
	// tvm: invalid scope: permissions[0].topic: placeholder {sub}: value holds "*"
	// tvm: invalid scope: permissions[0].cache: placeholder {custom:tenant}: claim missing
}

// GroupScopes reproduces Momento's Cognito example: read-write users
// publish and subscribe, read-only users only subscribe, everyone else is
// refused (403). Nothing the client sends can change the group.
func ExampleGroupScopes() {
	scopes := tvm.GroupScopes(
		tvm.GroupRule{
			Group: "ReadWriteUserGroup",
			Scope: tvm.NewScope(tvm.TopicPublishSubscribe("default-cache", tvm.AllTopics)),
			TTL:   15 * time.Minute,
		},
		tvm.GroupRule{
			Group: "ReadOnlyUserGroup",
			Scope: tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.AllTopics)),
		},
	)

	// The client's headers and query are ignored.
	r := httptest.NewRequest("GET", "/api/momento/token?cachename=other", nil)
	r.Header.Set("usergroup", "ReadWriteUserGroup")

	for _, id := range []tvm.Identity{
		{Subject: "alice", Groups: []string{"ReadWriteUserGroup"}},
		{Subject: "bob", Groups: []string{"ReadOnlyUserGroup"}},
		{Subject: "eve", Groups: []string{"Admins"}},
	} {
		g, err := scopes.Resolve(context.Background(), id, r)
		if err != nil {
			fmt.Println(id.Subject, errors.Is(err, tvm.ErrForbidden))
			continue
		}
		fmt.Println(id.Subject, g.Rule, g.TTL, g.Scope)
	}
	// Output:
	// alice group:ReadWriteUserGroup 15m0s topic:publishsubscribe(default-cache/*)
	// bob group:ReadOnlyUserGroup 0s topic:subscribeonly(default-cache/*)
	// eve true
}

// A DefaultRule, last, matches every caller; here it gives each caller a
// private topic named after its verified subject.
func ExampleDefaultRule() {
	scopes := tvm.GroupScopes(
		tvm.GroupRule{Group: "Moderators", Scope: tvm.NewScope(tvm.TopicPublishSubscribe("chat", tvm.AllTopics))},
		tvm.DefaultRule(tvm.NewScope(
			tvm.TopicSubscribeOnly("chat", tvm.TopicNamePrefix("room-")),
			tvm.TopicPublishSubscribe("chat", tvm.Topic("inbox-{sub}")),
		)).WithTTL(5*time.Minute),
	)
	g, err := scopes.Resolve(context.Background(), tvm.Identity{Subject: "carol"}, nil)
	fmt.Println(g.Rule, g.TTL, g.Scope, err)
	// Output:
	// default 5m0s topic:subscribeonly(chat/room-*) topic:publishsubscribe(chat/inbox-carol) <nil>
}

// With AllowNarrowing, a caller may ask for less than its identity allows
// (?topic=room-42), never for more.
func ExampleAllowNarrowing() {
	scopes := tvm.AllowNarrowing(
		tvm.StaticScope(tvm.NewScope(tvm.TopicPublishSubscribe("chat", tvm.TopicNamePrefix("room-")))),
		tvm.NarrowOptions{}, // ?cache= and ?topic=
	)
	id := tvm.Identity{Subject: "dave"}
	for _, query := range []string{"", "topic=room-42", "topic=admin", "topic=*", "topic=a&topic=b"} {
		r := httptest.NewRequest("GET", "/token?"+query, nil)
		g, err := scopes.Resolve(context.Background(), id, r)
		switch {
		case errors.Is(err, tvm.ErrBadRequest):
			fmt.Printf("%-16q 400\n", query)
		case errors.Is(err, tvm.ErrForbidden):
			fmt.Printf("%-16q 403\n", query)
		default:
			fmt.Printf("%-16q %s\n", query, g.Scope)
		}
	}
	// Output:
	// ""               topic:publishsubscribe(chat/room-*)
	// "topic=room-42"  topic:publishsubscribe(chat/room-42)
	// "topic=admin"    403
	// "topic=*"        400
	// "topic=a&topic=b" 400
}
