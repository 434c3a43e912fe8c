package tvm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func narrowRequestFor(query string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.URL.RawQuery = query
	return r
}

func TestNarrowResolve(t *testing.T) {
	chatAll := Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: All}}
	rooms := Scope{{Role: PublishSubscribe, Cache: "default-cache", TopicPrefix: "room-"}}
	mixed := Scope{
		{Role: SubscribeOnly, Cache: All, Topic: All},
		{Role: PublishOnly, Cache: "chat", TopicPrefix: "room-"},
		{Role: ReadOnly, Cache: "chat"},
		{Role: ReadWrite, Cache: "chat", KeyPrefix: "user-42/"},
		{Role: WriteOnly, Cache: "audit", Key: "log"},
	}
	keyOpts := NarrowOptions{KeyParam: "key", KeyPrefixParam: "keyPrefix"}
	tests := []struct {
		name    string
		scope   Scope
		opts    NarrowOptions
		query   string
		want    Scope
		wantErr error
	}{
		{"no query: unchanged", mixed, NarrowOptions{}, "", mixed, nil},
		{"unrelated params: unchanged", mixed, NarrowOptions{}, "usergroup=ReadWriteUserGroup&role=readwrite&cachename=other", mixed, nil},
		{"all topics to one", chatAll, NarrowOptions{}, "topic=room-42",
			Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "room-42"}}, nil},
		{"prefix to one", rooms, NarrowOptions{}, "topic=room-42",
			Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "room-42"}}, nil},
		{"prefix itself is a topic name", rooms, NarrowOptions{}, "topic=room-",
			Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "room-"}}, nil},
		{"outside prefix", rooms, NarrowOptions{}, "topic=other", Scope{}, ErrForbidden},
		{"prefix case-sensitive", rooms, NarrowOptions{}, "topic=Room-42", Scope{}, ErrForbidden},
		{"same cache", chatAll, NarrowOptions{}, "cache=default-cache", chatAll, nil},
		{"other cache", chatAll, NarrowOptions{}, "cache=other", Scope{}, ErrForbidden},
		{"cache and topic", chatAll, NarrowOptions{}, "cache=default-cache&topic=room-1",
			Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "room-1"}}, nil},
		{"all caches to one", mixed, NarrowOptions{}, "cache=news",
			Scope{{Role: SubscribeOnly, Cache: "news", Topic: All}}, nil},
		{"mixed topic: roles kept, cache perms dropped", mixed, NarrowOptions{}, "cache=chat&topic=room-7",
			Scope{{Role: SubscribeOnly, Cache: "chat", Topic: "room-7"}, {Role: PublishOnly, Cache: "chat", Topic: "room-7"}}, nil},
		{"mixed topic outside the publish prefix", mixed, NarrowOptions{}, "topic=lobby",
			Scope{{Role: SubscribeOnly, Cache: All, Topic: "lobby"}}, nil},
		{"mixed cache only", mixed, NarrowOptions{}, "cache=chat",
			Scope{{Role: SubscribeOnly, Cache: "chat", Topic: All}, {Role: PublishOnly, Cache: "chat", TopicPrefix: "room-"}, {Role: ReadOnly, Cache: "chat"}, {Role: ReadWrite, Cache: "chat", KeyPrefix: "user-42/"}}, nil},
		{"key: topic perms dropped", mixed, keyOpts, "key=user-42/profile",
			Scope{{Role: ReadOnly, Cache: "chat", Key: "user-42/profile"}, {Role: ReadWrite, Cache: "chat", Key: "user-42/profile"}}, nil},
		{"key outside prefix keeps only the all-items perm", mixed, keyOpts, "key=user-43/profile",
			Scope{{Role: ReadOnly, Cache: "chat", Key: "user-43/profile"}}, nil},
		{"exact key", mixed, keyOpts, "cache=audit&key=log", Scope{{Role: WriteOnly, Cache: "audit", Key: "log"}}, nil},
		{"other key of an exact-key perm", mixed, keyOpts, "cache=audit&key=log2", Scope{}, ErrForbidden},
		{"longer key prefix", mixed, keyOpts, "cache=chat&keyPrefix=user-42/drafts/",
			Scope{{Role: ReadOnly, Cache: "chat", KeyPrefix: "user-42/drafts/"}, {Role: ReadWrite, Cache: "chat", KeyPrefix: "user-42/drafts/"}}, nil},
		{"shorter key prefix keeps the granted one", mixed, keyOpts, "cache=chat&keyPrefix=user-",
			Scope{{Role: ReadOnly, Cache: "chat", KeyPrefix: "user-"}, {Role: ReadWrite, Cache: "chat", KeyPrefix: "user-42/"}}, nil},
		{"key prefix over an exact key", mixed, keyOpts, "cache=audit&keyPrefix=lo", Scope{{Role: WriteOnly, Cache: "audit", Key: "log"}}, nil},
		{"key prefix beside an exact key", mixed, keyOpts, "cache=audit&keyPrefix=x", Scope{}, ErrForbidden},
		{"topic and key together", mixed, keyOpts, "cache=chat&topic=room-1&key=user-42/a",
			Scope{{Role: SubscribeOnly, Cache: "chat", Topic: "room-1"}, {Role: PublishOnly, Cache: "chat", Topic: "room-1"}, {Role: ReadOnly, Cache: "chat", Key: "user-42/a"}, {Role: ReadWrite, Cache: "chat", Key: "user-42/a"}}, nil},
		{"key params off by default", mixed, NarrowOptions{}, "key=user-42/x&keyPrefix=y", mixed, nil},
		{"duplicates merged", Scope{{Role: PublishSubscribe, Cache: "c", Topic: All}, {Role: PublishSubscribe, Cache: "c", TopicPrefix: "r"}},
			NarrowOptions{}, "topic=r1", Scope{{Role: PublishSubscribe, Cache: "c", Topic: "r1"}}, nil},
		{"custom names", chatAll, NarrowOptions{CacheParam: "cacheName", TopicParam: "room"}, "room=r9&topic=ignored",
			Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "r9"}}, nil},
		{"disabled topic param", chatAll, NarrowOptions{TopicParam: "-"}, "topic=r9", chatAll, nil},
		{"percent-encoded name", chatAll, NarrowOptions{}, "topic=caf%C3%A9", Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: "café"}}, nil},

		// Malformed requests.
		{"wildcard topic", rooms, NarrowOptions{}, "topic=*", Scope{}, ErrBadRequest},
		{"encoded wildcard", rooms, NarrowOptions{}, "topic=%2A", Scope{}, ErrBadRequest},
		{"prefix-looking topic", rooms, NarrowOptions{}, "topic=room-*", Scope{}, ErrBadRequest},
		{"wildcard cache", chatAll, NarrowOptions{}, "cache=*", Scope{}, ErrBadRequest},
		{"empty topic", chatAll, NarrowOptions{}, "topic=", Scope{}, ErrBadRequest},
		{"bare topic", chatAll, NarrowOptions{}, "topic", Scope{}, ErrBadRequest},
		{"duplicate topic", chatAll, NarrowOptions{}, "topic=a&topic=b", Scope{}, ErrBadRequest},
		{"duplicate same value", chatAll, NarrowOptions{}, "topic=a&topic=a", Scope{}, ErrBadRequest},
		{"duplicate cache", chatAll, NarrowOptions{}, "cache=default-cache&cache=other", Scope{}, ErrBadRequest},
		{"template", chatAll, NarrowOptions{}, "topic=%7Bsub%7D", Scope{}, ErrBadRequest},
		{"space", chatAll, NarrowOptions{}, "topic=a+b", Scope{}, ErrBadRequest},
		{"newline", chatAll, NarrowOptions{}, "topic=a%0Ab", Scope{}, ErrBadRequest},
		{"NUL", chatAll, NarrowOptions{}, "topic=a%00", Scope{}, ErrBadRequest},
		{"invalid utf-8", chatAll, NarrowOptions{}, "topic=%FF", Scope{}, ErrBadRequest},
		{"overlong", chatAll, NarrowOptions{}, "topic=" + strings.Repeat("a", MaxNameLength+1), Scope{}, ErrBadRequest},
		{"bad escape", chatAll, NarrowOptions{}, "topic=%zz", Scope{}, ErrBadRequest},
		{"semicolon", chatAll, NarrowOptions{}, "topic=a;cache=b", Scope{}, ErrBadRequest},
		{"malformed unrelated param", chatAll, NarrowOptions{}, "x=%zz", Scope{}, ErrBadRequest},
		{"key and keyPrefix", mixed, keyOpts, "key=a&keyPrefix=a", Scope{}, ErrBadRequest},
		{"wildcard key", mixed, keyOpts, "key=*", Scope{}, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := htGroupScopes(t, GroupRule{Group: "g", Scope: tt.scope, TTL: time.Minute})
			res := htNarrowing(t, inner, tt.opts)
			got, err := res.Resolve(context.Background(), Identity{Subject: "alice", Groups: []string{"g"}}, narrowRequestFor(tt.query))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				for _, other := range []error{ErrBadRequest, ErrForbidden} {
					if other != tt.wantErr {
						assert.NotErrorIs(t, err, other)
					}
				}
				assert.Empty(t, got.Scope)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Scope, got.Scope.String())
			assert.Equal(t, "group:g", got.Rule)
			assert.Equal(t, time.Minute, got.TTL)
			require.NoError(t, got.Scope.Validate())
		})
	}
}

func TestNarrowNeverReadsHeaders(t *testing.T) {
	inner := htDefault(t, Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}})
	res := htNarrowing(t, inner, NarrowOptions{KeyParam: "key", KeyPrefixParam: "keyPrefix"})
	r := narrowRequestFor("")
	for _, h := range []string{"cache", "topic", "key", "keyPrefix", "cachename", "usergroup", "X-Topic"} {
		r.Header.Set(h, "other")
	}
	r.Header.Set("usergroup", "ReadWriteUserGroup")
	got, err := res.Resolve(context.Background(), Identity{Subject: "bob"}, r)
	require.NoError(t, err)
	assert.Equal(t, Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}, got.Scope)

	// A form body is not read either.
	r = httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("topic=room-1&cache=other"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	got, err = res.Resolve(context.Background(), Identity{Subject: "bob"}, r)
	require.NoError(t, err)
	assert.Equal(t, Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}, got.Scope)

	// A nil request means no narrowing.
	got, err = res.Resolve(context.Background(), Identity{Subject: "bob"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}, got.Scope)
}

func TestNarrowPassesInnerErrors(t *testing.T) {
	var res ScopeResolver = htNarrowing(t, cognitoRules(t), NarrowOptions{})
	_, err := res.Resolve(context.Background(), Identity{Subject: "x", Groups: []string{"nobody"}}, narrowRequestFor("topic=a"))
	require.ErrorIs(t, err, ErrForbidden)

	boom := errors.New("boom")
	res = htNarrowing(t, ResolverFunc(func(context.Context, Identity, *http.Request) (Grant, error) {
		return Grant{}, boom
	}), NarrowOptions{})
	_, err = res.Resolve(context.Background(), Identity{Subject: "x"}, narrowRequestFor("topic=a"))
	require.ErrorIs(t, err, boom)
}

func TestNewNarrowingRejectsBadConfig(t *testing.T) {
	good := htDefault(t, readOnlyScope)
	var nilInner *GroupScopes // what a failed NewGroupScopes returns
	tests := []struct {
		name  string
		inner ScopeResolver
		opts  NarrowOptions
		field string
		want  string
	}{
		{"nil inner", nil, NarrowOptions{}, "Narrowing.inner", "required"},
		{"typed nil inner", nilInner, NarrowOptions{}, "Narrowing.inner", "required"},
		{"same names", good, NarrowOptions{CacheParam: "x", TopicParam: "x"}, "NarrowOptions.TopicParam", "same parameter name as CacheParam"},
		{"key named like default topic", good, NarrowOptions{KeyParam: "topic"}, "NarrowOptions.KeyParam", "same parameter name as TopicParam"},
		{"bad name", good, NarrowOptions{TopicParam: "a&b"}, "NarrowOptions.TopicParam", "must be 1 to 64"},
		{"long name", good, NarrowOptions{KeyParam: strings.Repeat("k", 65)}, "NarrowOptions.KeyParam", "must be 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := NewNarrowing(tt.inner, tt.opts)
			require.Nil(t, res)
			ces := configErrors(t, err)
			require.Len(t, ces, 1, err.Error())
			assert.Equal(t, tt.field, ces[0].Field)
			assert.Contains(t, ces[0].Problem, tt.want)
		})
	}
	res, err := NewNarrowing(good, NarrowOptions{CacheParam: "-", TopicParam: "-"})
	require.NoError(t, err)
	// Both parameters off: nothing narrows, nothing is refused.
	g, err := res.Resolve(context.Background(), Identity{Subject: "a"}, narrowRequestFor("cache=other&topic=x"))
	require.NoError(t, err)
	assert.Equal(t, readOnlyScope, g.Scope)
}

// covers reports whether allowed grants everything narrowed grants.
func covers(allowed, narrowed Permission) bool {
	if allowed.Role != narrowed.Role {
		return false
	}
	if allowed.Cache != All && allowed.Cache != narrowed.Cache {
		return false
	}
	coversName := func(all bool, name, prefix string, nAll bool, nName, nPrefix string) bool {
		switch {
		case all:
			return true
		case nAll:
			return false
		case nName != "":
			return name == nName || prefix != "" && strings.HasPrefix(nName, prefix)
		default:
			return prefix != "" && strings.HasPrefix(nPrefix, prefix)
		}
	}
	if allowed.Role.isTopic() {
		return coversName(allowed.Topic == All, allowed.Topic, allowed.TopicPrefix,
			narrowed.Topic == All, narrowed.Topic, narrowed.TopicPrefix)
	}
	return coversName(allowed.Key == "" && allowed.KeyPrefix == "", allowed.Key, allowed.KeyPrefix,
		narrowed.Key == "" && narrowed.KeyPrefix == "", narrowed.Key, narrowed.KeyPrefix)
}

// TestNarrowProperty checks, for random granted scopes and random
// requests, that every narrowed permission is covered by a granted one,
// that it matches the request, and that a request some granted permission
// covers exactly is never refused.
func TestNarrowProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	caches := []string{All, "a", "b"}
	names := []string{"r", "r1", "r12", "s", "s1"}
	randPerm := func() Permission {
		p := Permission{Cache: pick(caches...)}
		if rng.IntN(2) == 0 {
			p.Role = Role(pick(string(PublishSubscribe), string(SubscribeOnly), string(PublishOnly)))
			switch rng.IntN(3) {
			case 0:
				p.Topic = All
			case 1:
				p.Topic = pick(names...)
			default:
				p.TopicPrefix = pick(names...)
			}
		} else {
			p.Role = Role(pick(string(ReadWrite), string(ReadOnly), string(WriteOnly)))
			switch rng.IntN(3) {
			case 1:
				p.Key = pick(names...)
			case 2:
				p.KeyPrefix = pick(names...)
			}
		}
		return p
	}
	opts := NarrowOptions{KeyParam: "key", KeyPrefixParam: "keyPrefix"}
	id := Identity{Subject: "p"}
	var granted, refused int
	for i := 0; i < 3000; i++ {
		scope := Scope{}
		for n := 1 + rng.IntN(4); n > 0; n-- {
			scope = append(scope, randPerm())
		}
		require.NoError(t, scope.Validate())
		var q []string
		var req narrowRequest
		if rng.IntN(2) == 0 {
			req.cache = pick("a", "b", "c")
			q = append(q, "cache="+req.cache)
		}
		if rng.IntN(2) == 0 {
			req.topic = pick(names...)
			q = append(q, "topic="+req.topic)
		}
		switch rng.IntN(3) {
		case 1:
			req.key = pick(names...)
			q = append(q, "key="+req.key)
		case 2:
			req.keyPrefix = pick(names...)
			q = append(q, "keyPrefix="+req.keyPrefix)
		}
		res := htNarrowing(t, htDefault(t, scope), opts)
		got, err := res.Resolve(context.Background(), id, narrowRequestFor(strings.Join(q, "&")))
		msg := fmt.Sprintf("scope %s, query %q", scope, strings.Join(q, "&"))
		if err != nil {
			require.ErrorIs(t, err, ErrForbidden, msg)
			refused++
			// Nothing refused that a granted permission covers exactly.
			for _, p := range scope {
				if req == (narrowRequest{}) {
					t.Fatalf("refused an empty request: %s", msg)
				}
				probe, ok := req.probe(p.Role)
				if ok && covers(p, probe) {
					t.Fatalf("refused %s although %s covers it: %s", probe, p, msg)
				}
			}
			continue
		}
		granted++
		require.NotEmpty(t, got.Scope, msg)
		require.NoError(t, got.Scope.Validate(), msg)
		for _, np := range got.Scope {
			ok := false
			for _, p := range scope {
				ok = ok || covers(p, np)
			}
			require.True(t, ok, "%s is covered by no granted permission: %s", np, msg)
			if req.cache != "" {
				require.Equal(t, req.cache, np.Cache, msg)
			}
			if np.Role.isTopic() {
				require.False(t, req.topic == "" && (req.key != "" || req.keyPrefix != ""), msg)
				if req.topic != "" {
					require.Equal(t, req.topic, np.Topic, msg)
				}
			} else {
				require.False(t, req.topic != "" && req.key == "" && req.keyPrefix == "", msg)
				if req.key != "" {
					require.Equal(t, req.key, np.Key, msg)
				}
				if req.keyPrefix != "" {
					require.True(t, strings.HasPrefix(np.Key+np.KeyPrefix, req.keyPrefix), msg)
				}
			}
		}
	}
	// The generator exercises both outcomes.
	assert.Greater(t, granted, 300)
	assert.Greater(t, refused, 300)
}

// probe returns the narrowest permission of the given role that the request
// asks for, when the request pins every dimension of that role's kind.
func (q narrowRequest) probe(role Role) (Permission, bool) {
	if q.cache == "" {
		return Permission{}, false
	}
	p := Permission{Role: role, Cache: q.cache}
	if role.isTopic() {
		if q.topic == "" {
			return Permission{}, false
		}
		p.Topic = q.topic
		return p, true
	}
	if q.key == "" {
		return Permission{}, false
	}
	p.Key = q.key
	return p, true
}
