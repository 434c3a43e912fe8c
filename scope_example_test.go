package tvm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/tvmgo/tvm"
	"go.yaml.in/yaml/v3"
)

// A Scope is a list of permissions, written as struct literals: a topic
// role with Topic (a name or tvm.All) or TopicPrefix, a cache role with
// Key, KeyPrefix or neither (every item).
func ExampleScope() {
	s := tvm.Scope{
		{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All},
		{Role: tvm.SubscribeOnly, Cache: tvm.All, TopicPrefix: "news-"},
		{Role: tvm.ReadOnly, Cache: "default-cache"},
		{Role: tvm.ReadWrite, Cache: "default-cache", KeyPrefix: "drafts/"},
	}
	fmt.Println(s.Validate())
	fmt.Println(s)
	// Output:
	// <nil>
	// topic:publishsubscribe(default-cache/*) topic:subscribeonly(*/news-*) cache:readonly(default-cache) cache:readwrite(default-cache/drafts/*)
}

// An empty or malformed scope is refused, naming the permission and field.
func ExampleScope_Validate() {
	fmt.Println(tvm.Scope{}.Validate())
	fmt.Println(tvm.Scope{
		{Role: tvm.ReadOnly, Cache: "default-cache"},
		{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: "room 42"},
	}.Validate())
	fmt.Println(make(tvm.Scope, tvm.MaxPermissions+1).Validate())
	// Output:
	// tvm: invalid scope: no permissions (an empty scope is never vended)
	// tvm: invalid scope: permissions[1].topic: contains whitespace
	// tvm: invalid scope: 21 permissions (Momento accepts at most 20 per token)
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
	tmpl := tvm.Scope{
		{Role: tvm.PublishSubscribe, Cache: "{custom:tenant}", Topic: "user-{sub}"},
		{Role: tvm.ReadWrite, Cache: "{custom:tenant}", KeyPrefix: "{sub}/"},
	}
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

// NewGroupScopes reproduces Momento's Cognito example: read-write users
// publish and subscribe, read-only users only subscribe, everyone else is
// refused (403). Nothing the client sends can change the group.
func ExampleNewGroupScopes() {
	scopes, err := tvm.NewGroupScopes(
		tvm.GroupRule{
			Group: "ReadWriteUserGroup",
			Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All}},
			TTL:   15 * time.Minute,
		},
		tvm.GroupRule{
			Group: "ReadOnlyUserGroup",
			Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}},
		},
	)
	if err != nil {
		log.Fatal(err)
	}

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

	// Misconfigured rules fail at construction, every problem at once,
	// each a *tvm.ConfigError naming the rule, permission and field.
	_, err = tvm.NewGroupScopes(
		tvm.GroupRule{Group: "Moderators", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "chat", Topic: "room 1"}}},
		tvm.GroupRule{Group: "Moderators", Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "chat", Topic: tvm.All}}, TTL: 2 * time.Hour},
	)
	fmt.Println(err)
	// Output:
	// alice group:ReadWriteUserGroup 15m0s topic:publishsubscribe(default-cache/*)
	// bob group:ReadOnlyUserGroup 0s topic:subscribeonly(default-cache/*)
	// eve true
	// GroupScopes.Rules[0].Scope[0].topic: contains whitespace
	// GroupScopes.Rules[1].Group: duplicate group Moderators (only the first rule could match)
	// GroupScopes.Rules[1].TTL: must be 0 (the handler's default) or between 1s and 1h0m0s
}

// A default rule, last, matches every caller; here it gives each caller a
// private topic named after its verified subject. A default rule alone is
// a static scope: everyone gets the same.
func ExampleNewGroupScopes_default() {
	scopes, err := tvm.NewGroupScopes(
		tvm.GroupRule{Group: "Moderators", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "chat", Topic: tvm.All}}},
		tvm.GroupRule{
			Default: true,
			Scope: tvm.Scope{
				{Role: tvm.SubscribeOnly, Cache: "chat", TopicPrefix: "room-"},
				{Role: tvm.PublishSubscribe, Cache: "chat", Topic: "inbox-{sub}"},
			},
			TTL: 5 * time.Minute,
		},
	)
	if err != nil {
		log.Fatal(err)
	}
	g, err := scopes.Resolve(context.Background(), tvm.Identity{Subject: "carol"}, nil)
	fmt.Println(g.Rule, g.TTL, g.Scope, err)
	// Output:
	// default 5m0s topic:subscribeonly(chat/room-*) topic:publishsubscribe(chat/inbox-carol) <nil>
}

// With NewNarrowing, a caller may ask for less than its identity allows
// (?topic=room-42), never for more.
func ExampleNewNarrowing() {
	rooms, err := tvm.NewGroupScopes(tvm.GroupRule{
		Default: true,
		Scope:   tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "chat", TopicPrefix: "room-"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	scopes, err := tvm.NewNarrowing(rooms, tvm.NarrowOptions{}) // ?cache= and ?topic=
	if err != nil {
		log.Fatal(err)
	}
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
