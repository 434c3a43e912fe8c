package momentolocal

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The matrix below is the product of three small explicit tables: which
// operations each role permits, which targets each cache selector matches,
// and which targets each topic or item selector matches. Every combination
// of selector × role × operation × target is checked against Allows.

// roleOps lists, for every role, the operations it permits.
var roleOps = map[string]map[Operation]bool{
	RolePublishSubscribe: {OpPublish: true, OpSubscribe: true},
	RoleSubscribeOnly:    {OpSubscribe: true},
	RolePublishOnly:      {OpPublish: true},
	RoleReadWrite:        {OpRead: true, OpWrite: true},
	RoleReadOnly:         {OpRead: true},
	RoleWriteOnly:        {OpWrite: true},
}

var topicRoles = []string{RolePublishSubscribe, RoleSubscribeOnly, RolePublishOnly}
var cacheRoles = []string{RoleReadWrite, RoleReadOnly, RoleWriteOnly}
var allOps = []Operation{OpPublish, OpSubscribe, OpRead, OpWrite}

// cacheSelectors maps a Permission.Cache to the request caches it matches.
var cacheSelectors = []struct {
	cache   string
	matches map[string]bool
}{
	{All, map[string]bool{"c1": true, "c2": true}},
	{"c1", map[string]bool{"c1": true, "c2": false}},
}

var requestCaches = []string{"c1", "c2"}

// topicSelectors: (Topic, TopicPrefix) → request topics it matches.
var topicSelectors = []struct {
	topic, prefix string
	matches       map[string]bool
}{
	{All, "", map[string]bool{"room-1": true, "room-10": true, "room": true, "lobby": true, "*": true}},
	{"room-1", "", map[string]bool{"room-1": true, "room-10": false, "room": false, "lobby": false, "*": false}},
	{"", "room-", map[string]bool{"room-1": true, "room-10": true, "room": false, "lobby": false, "*": false}},
}

var requestTopics = []string{"room-1", "room-10", "room", "lobby", "*"}

// itemSelectors: (Key, KeyPrefix) → request keys it matches.
var itemSelectors = []struct {
	key, prefix string
	matches     map[string]bool
}{
	{"", "", map[string]bool{"alice/x": true, "alice": true, "bob/x": true, "al": true, "\x00\xff": true}},
	{"alice", "", map[string]bool{"alice/x": false, "alice": true, "bob/x": false, "al": false, "\x00\xff": false}},
	{"", "alice/", map[string]bool{"alice/x": true, "alice": false, "bob/x": false, "al": false, "\x00\xff": false}},
	{"\x00\xff", "", map[string]bool{"alice/x": false, "alice": false, "bob/x": false, "al": false, "\x00\xff": true}},
}

var requestKeys = []string{"alice/x", "alice", "bob/x", "al", "\x00\xff"}

func TestAllowsTopicPermissionMatrix(t *testing.T) {
	n := 0
	for _, cs := range cacheSelectors {
		for _, ts := range topicSelectors {
			for _, role := range topicRoles {
				p := Permission{Role: role, Cache: cs.cache, Topic: ts.topic, TopicPrefix: ts.prefix}
				for _, op := range allOps {
					for _, cache := range requestCaches {
						// Topic operations name a topic; cache operations a key.
						targets := requestTopics
						if op == OpRead || op == OpWrite {
							targets = requestKeys
						}
						for _, target := range targets {
							r := Request{Op: op, Cache: cache}
							want := roleOps[role][op] && cs.matches[cache]
							if op == OpPublish || op == OpSubscribe {
								r.Topic = target
								want = want && ts.matches[target]
							} else {
								r.Key = target
								want = false // a topic permission never covers cache items
							}
							n++
							assert.Equal(t, want, Allows([]Permission{p}, r), "%s → %s %s/%q", p, op, cache, target)
						}
					}
				}
			}
		}
	}
	assert.Equal(t, 2*3*3*(2*2*5+2*2*5), n)
}

func TestAllowsCachePermissionMatrix(t *testing.T) {
	n := 0
	for _, cs := range cacheSelectors {
		for _, is := range itemSelectors {
			for _, role := range cacheRoles {
				p := Permission{Role: role, Cache: cs.cache, Key: is.key, KeyPrefix: is.prefix}
				for _, op := range allOps {
					for _, cache := range requestCaches {
						targets := requestKeys
						if op == OpPublish || op == OpSubscribe {
							targets = requestTopics
						}
						for _, target := range targets {
							r := Request{Op: op, Cache: cache}
							want := roleOps[role][op] && cs.matches[cache]
							if op == OpRead || op == OpWrite {
								r.Key = target
								want = want && is.matches[target]
							} else {
								r.Topic = target
								want = false // a cache permission never covers topics
							}
							n++
							assert.Equal(t, want, Allows([]Permission{p}, r), "%s → %s %s/%q", p, op, cache, target)
						}
					}
				}
			}
		}
	}
	assert.Equal(t, 2*4*3*(2*2*5+2*2*5), n)
}

func TestAllowsCombinesPermissions(t *testing.T) {
	perms := []Permission{
		{Role: RoleSubscribeOnly, Cache: All, Topic: All},
		{Role: RolePublishOnly, Cache: "c1", Topic: "mine"},
		{Role: RoleReadOnly, Cache: "c1", KeyPrefix: "shared/"},
		{Role: RoleWriteOnly, Cache: "c1", Key: "mine"},
	}
	tests := []struct {
		r    Request
		want bool
	}{
		{Request{Op: OpSubscribe, Cache: "c2", Topic: "any"}, true},
		{Request{Op: OpPublish, Cache: "c1", Topic: "mine"}, true},
		{Request{Op: OpPublish, Cache: "c1", Topic: "other"}, false},
		{Request{Op: OpPublish, Cache: "c2", Topic: "mine"}, false},
		{Request{Op: OpRead, Cache: "c1", Key: "shared/x"}, true},
		{Request{Op: OpRead, Cache: "c1", Key: "mine"}, false},
		{Request{Op: OpWrite, Cache: "c1", Key: "mine"}, true},
		{Request{Op: OpWrite, Cache: "c1", Key: "shared/x"}, false},
		{Request{Op: Operation(0), Cache: "c1", Key: "mine"}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %s %s%s", tc.r.Op, tc.r.Cache, tc.r.Topic, tc.r.Key), func(t *testing.T) {
			assert.Equal(t, tc.want, Allows(perms, tc.r))
		})
	}
	assert.False(t, Allows(nil, Request{Op: OpSubscribe, Cache: "c1", Topic: "t"}), "no permission allows nothing")
}

func TestAllowsRejectsMalformedPermissions(t *testing.T) {
	all := []Request{
		{Op: OpPublish, Cache: "c1", Topic: "t"},
		{Op: OpSubscribe, Cache: "c1", Topic: "t"},
		{Op: OpRead, Cache: "c1", Key: "k"},
		{Op: OpWrite, Cache: "c1", Key: "k"},
	}
	malformed := []Permission{
		{Role: "", Cache: All, Topic: All},
		{Role: "admin", Cache: All, Topic: All},
		{Role: "PublishSubscribe", Cache: All, Topic: All}, // roles are exact
		{Role: RolePublishSubscribe, Cache: "", Topic: All},
		{Role: RolePublishSubscribe, Cache: All},                               // no topic selector
		{Role: RolePublishSubscribe, Cache: All, Topic: All, TopicPrefix: "t"}, // two topic selectors
		{Role: RolePublishSubscribe, Cache: All, Topic: All, Key: "k"},
		{Role: RoleReadWrite, Cache: All, Topic: "t"},
		{Role: RoleReadWrite, Cache: All, TopicPrefix: "t"},
		{Role: RoleReadWrite, Cache: All, Key: "k", KeyPrefix: "k"},
		{Role: RoleReadWrite, Cache: ""},
	}
	for _, p := range malformed {
		for _, r := range all {
			assert.False(t, Allows([]Permission{p}, r), "%#v must not allow %v", p, r)
		}
	}
}

func TestOperationString(t *testing.T) {
	assert.Equal(t, "publish", OpPublish.String())
	assert.Equal(t, "subscribe", OpSubscribe.String())
	assert.Equal(t, "read", OpRead.String())
	assert.Equal(t, "write", OpWrite.String())
	assert.Equal(t, "Operation(9)", Operation(9).String())
}
