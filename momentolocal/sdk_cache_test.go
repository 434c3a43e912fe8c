package momentolocal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/responses"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tvmgo/tvm/momentolocal"

	"github.com/tvmgo/tvm/internal/testenv"
)

// These tests drive the cache and control planes through client-sdk-go
// v1.38.0's CacheClient.

// setIfCall is one SetIf* method of the Go SDK with "v" as the value to
// compare with; it reports whether the value was stored.
type setIfCall func(ctx context.Context, cc momento.CacheClient, key string) (bool, error)

var setIfCalls = map[string]setIfCall{
	"SetIfAbsent": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		r, err := cc.SetIfAbsent(ctx, &momento.SetIfAbsentRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new")})
		_, ok := r.(*responses.SetIfAbsentStored)
		return ok, err
	},
	"SetIfNotExists": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		//lint:ignore SA1019 the deprecated method is still in the SDK; it sends SetIf absent.
		r, err := cc.SetIfNotExists(ctx, &momento.SetIfNotExistsRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new")})
		_, ok := r.(*responses.SetIfNotExistsStored)
		return ok, err
	},
	"SetIfPresent": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		r, err := cc.SetIfPresent(ctx, &momento.SetIfPresentRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new")})
		_, ok := r.(*responses.SetIfPresentStored)
		return ok, err
	},
	"SetIfEqual": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		r, err := cc.SetIfEqual(ctx, &momento.SetIfEqualRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new"), Equal: momento.String("v")})
		_, ok := r.(*responses.SetIfEqualStored)
		return ok, err
	},
	"SetIfNotEqual": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		r, err := cc.SetIfNotEqual(ctx, &momento.SetIfNotEqualRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new"), NotEqual: momento.String("v")})
		_, ok := r.(*responses.SetIfNotEqualStored)
		return ok, err
	},
	"SetIfPresentAndNotEqual": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		r, err := cc.SetIfPresentAndNotEqual(ctx, &momento.SetIfPresentAndNotEqualRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new"), NotEqual: momento.String("v")})
		_, ok := r.(*responses.SetIfPresentAndNotEqualStored)
		return ok, err
	},
	"SetIfAbsentOrEqual": func(ctx context.Context, cc momento.CacheClient, key string) (bool, error) {
		r, err := cc.SetIfAbsentOrEqual(ctx, &momento.SetIfAbsentOrEqualRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String("new"), Equal: momento.String("v")})
		_, ok := r.(*responses.SetIfAbsentOrEqualStored)
		return ok, err
	},
}

// TestGoSDKSetIf checks every SetIf* method against an absent item, an
// item equal to "v" and an item with another value, with the semantics of
// Momento's API reference (public-dev-docs
// docs/cache/develop/api-reference/index.mdx).
func TestGoSDKSetIf(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	ctx := ctxT(t)
	//                                absent, equal, other value
	want := map[string][3]bool{
		"SetIfAbsent":             {true, false, false},
		"SetIfNotExists":          {true, false, false},
		"SetIfPresent":            {false, true, true},
		"SetIfEqual":              {false, true, false},
		"SetIfNotEqual":           {true, false, true},
		"SetIfPresentAndNotEqual": {false, false, true},
		"SetIfAbsentOrEqual":      {true, true, false},
	}
	for name, call := range setIfCalls {
		for i, state := range []string{"", "v", "other"} {
			key := fmt.Sprintf("%s-%d", name, i)
			if state != "" {
				_, err := cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String(key), Value: momento.String(state)})
				require.NoError(t, err)
			}
			stored, err := call(ctx, cc, key)
			require.NoError(t, err, name)
			assert.Equal(t, want[name][i], stored, "%s on %q", name, state)
			got, err := cc.Get(ctx, &momento.GetRequest{CacheName: testCache, Key: momento.String(key)})
			require.NoError(t, err)
			switch {
			case stored:
				assert.Equal(t, "new", got.(*responses.GetHit).ValueString(), name)
			case state == "":
				assert.IsType(t, &responses.GetMiss{}, got, name)
			default:
				assert.Equal(t, state, got.(*responses.GetHit).ValueString(), name)
			}
		}
	}
}

// TestGoSDKBatchesTTLsAndPing covers GetBatch, SetBatch, KeysExist,
// ItemGetTtl, UpdateTtl, IncreaseTtl, DecreaseTtl and Ping.
func TestGoSDKBatchesTTLsAndPing(t *testing.T) {
	clock := &testenv.ShiftedClock{}
	srv := startServer(t, momentolocal.Config{Now: clock.Now})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	ctx := ctxT(t)

	ping, err := cc.Ping(ctx)
	require.NoError(t, err)
	assert.IsType(t, &responses.PingSuccess{}, ping)

	sb, err := cc.SetBatch(ctx, &momento.SetBatchRequest{CacheName: testCache, Ttl: time.Minute, Items: []momento.BatchSetItem{
		{Key: momento.String("a"), Value: momento.String("1")},
		{Key: momento.String("b"), Value: momento.String("2")},
	}})
	require.NoError(t, err)
	require.IsType(t, responses.SetBatchSuccess{}, sb)
	gb, err := cc.GetBatch(ctx, &momento.GetBatchRequest{CacheName: testCache, Keys: []momento.Value{momento.String("a"), momento.String("missing"), momento.String("b")}})
	require.NoError(t, err)
	results := gb.(responses.GetBatchSuccess).Results()
	require.Len(t, results, 3)
	assert.Equal(t, "1", results[0].(*responses.GetHit).ValueString())
	assert.IsType(t, &responses.GetMiss{}, results[1])
	assert.Equal(t, "2", results[2].(*responses.GetHit).ValueString())
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, gb.(responses.GetBatchSuccess).ValueMap())

	ke, err := cc.KeysExist(ctx, &momento.KeysExistRequest{CacheName: testCache, Keys: []momento.Key{momento.String("b"), momento.String("missing"), momento.String("a")}})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false, true}, ke.(*responses.KeysExistSuccess).Exists())

	ttl := func(key string) time.Duration {
		t.Helper()
		r, err := cc.ItemGetTtl(ctx, &momento.ItemGetTtlRequest{CacheName: testCache, Key: momento.String(key)})
		require.NoError(t, err)
		if hit, ok := r.(*responses.ItemGetTtlHit); ok {
			return hit.RemainingTtl()
		}
		assert.IsType(t, &responses.ItemGetTtlMiss{}, r)
		return -1
	}
	assert.InDelta(t, time.Minute, ttl("a"), float64(time.Second))
	assert.Equal(t, time.Duration(-1), ttl("missing"))
	clock.Advance(20 * time.Second)
	assert.InDelta(t, 40*time.Second, ttl("a"), float64(time.Second), "the remaining TTL follows the clock")

	inc, err := cc.IncreaseTtl(ctx, &momento.IncreaseTtlRequest{CacheName: testCache, Key: momento.String("a"), Ttl: 10 * time.Second})
	require.NoError(t, err)
	assert.IsType(t, &responses.IncreaseTtlNotSet{}, inc, "10s is not longer than 40s")
	inc, err = cc.IncreaseTtl(ctx, &momento.IncreaseTtlRequest{CacheName: testCache, Key: momento.String("a"), Ttl: 2 * time.Minute})
	require.NoError(t, err)
	assert.IsType(t, &responses.IncreaseTtlSet{}, inc)
	assert.InDelta(t, 2*time.Minute, ttl("a"), float64(time.Second))
	dec, err := cc.DecreaseTtl(ctx, &momento.DecreaseTtlRequest{CacheName: testCache, Key: momento.String("a"), Ttl: 5 * time.Minute})
	require.NoError(t, err)
	assert.IsType(t, &responses.DecreaseTtlNotSet{}, dec)
	dec, err = cc.DecreaseTtl(ctx, &momento.DecreaseTtlRequest{CacheName: testCache, Key: momento.String("a"), Ttl: 30 * time.Second})
	require.NoError(t, err)
	assert.IsType(t, &responses.DecreaseTtlSet{}, dec)
	assert.InDelta(t, 30*time.Second, ttl("a"), float64(time.Second))
	up, err := cc.UpdateTtl(ctx, &momento.UpdateTtlRequest{CacheName: testCache, Key: momento.String("a"), Ttl: time.Hour})
	require.NoError(t, err)
	assert.IsType(t, &responses.UpdateTtlSet{}, up)
	assert.InDelta(t, time.Hour, ttl("a"), float64(time.Second))
	for _, r := range []any{
		must(cc.UpdateTtl(ctx, &momento.UpdateTtlRequest{CacheName: testCache, Key: momento.String("missing"), Ttl: time.Hour})),
		must(cc.IncreaseTtl(ctx, &momento.IncreaseTtlRequest{CacheName: testCache, Key: momento.String("missing"), Ttl: time.Hour})),
		must(cc.DecreaseTtl(ctx, &momento.DecreaseTtlRequest{CacheName: testCache, Key: momento.String("missing"), Ttl: time.Hour})),
	} {
		assert.Contains(t, fmt.Sprintf("%T", r), "Miss")
	}
	clock.Advance(time.Hour)
	assert.Equal(t, time.Duration(-1), ttl("a"), "expired with its updated TTL")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestGoSDKCacheLimits checks Momento's item limits: TTL at most 24 h
// (INVALID_ARGUMENT), item at most 5 MB (LIMIT_EXCEEDED with
// "err: item_size_limit_exceeded", which client-sdk-go turns into its
// "Item size limit exceeded" message).
func TestGoSDKCacheLimits(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	ctx := ctxT(t)
	set := func(key string, size int, ttl time.Duration) error {
		_, err := cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String(key), Value: momento.Bytes(make([]byte, size)), Ttl: ttl})
		return err
	}
	require.NoError(t, set("k", 10, 24*time.Hour), "24 h is the longest TTL")
	err := set("k", 10, 24*time.Hour+time.Millisecond)
	assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%v", err)
	_, err = cc.UpdateTtl(ctx, &momento.UpdateTtlRequest{CacheName: testCache, Key: momento.String("k"), Ttl: 25 * time.Hour})
	assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%v", err)
	_, err = cc.SetIfAbsent(ctx, &momento.SetIfAbsentRequest{CacheName: testCache, Key: momento.String("k2"), Value: momento.String("v"), Ttl: 48 * time.Hour})
	assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%v", err)

	require.NoError(t, set("big", 5_000_000-len("big"), time.Minute), "5 MB, key included, is the largest item")
	err = set("big", 5_000_000-len("big")+1, time.Minute)
	require.Error(t, err)
	assert.Equal(t, momento.LimitExceededError, momentoErrorCode(err), "%v", err)
	var me momento.MomentoError
	require.ErrorAs(t, err, &me)
	assert.True(t, strings.HasPrefix(me.Message(), "Item size limit exceeded for this account"), "the SDK read err: item_size_limit_exceeded: %s", me.Message())
	_, err = cc.SetBatch(ctx, &momento.SetBatchRequest{CacheName: testCache, Items: []momento.BatchSetItem{
		{Key: momento.String("small"), Value: momento.String("v")},
		{Key: momento.String("huge"), Value: momento.Bytes(make([]byte, 5_000_000))},
	}})
	require.Error(t, err)
	got, err := cc.Get(ctx, &momento.GetRequest{CacheName: testCache, Key: momento.String("small")})
	require.NoError(t, err)
	assert.IsType(t, &responses.GetMiss{}, got, "a refused batch stores nothing")
}

// TestGoSDKCacheRoleChecks checks the role and key checks of the added
// cache methods: reads need a reading role, writes (SetIf*, SetBatch,
// UpdateTtl) a writing role, and every key must be covered.
func TestGoSDKCacheRoleChecks(t *testing.T) {
	srv := startServer(t, momentolocal.Config{Caches: []string{testCache, "other-cache"}})
	ctx := ctxT(t)
	root := cacheClient(t, srv, srv.RootAPIKey())
	for _, k := range []string{"alice/a", "alice/b", "bob/a"} {
		_, err := root.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String(k), Value: momento.String("v")})
		require.NoError(t, err)
	}
	type op struct {
		name  string
		write bool
		call  func(cc momento.CacheClient, keys ...string) error
	}
	keysOf := func(ks []string) []momento.Key {
		out := make([]momento.Key, len(ks))
		for i, k := range ks {
			out[i] = momento.String(k)
		}
		return out
	}
	ops := []op{
		{"GetBatch", false, func(cc momento.CacheClient, ks ...string) error {
			vs := make([]momento.Value, len(ks))
			for i, k := range ks {
				vs[i] = momento.String(k)
			}
			_, err := cc.GetBatch(ctx, &momento.GetBatchRequest{CacheName: testCache, Keys: vs})
			return err
		}},
		{"KeysExist", false, func(cc momento.CacheClient, ks ...string) error {
			_, err := cc.KeysExist(ctx, &momento.KeysExistRequest{CacheName: testCache, Keys: keysOf(ks)})
			return err
		}},
		{"ItemGetTtl", false, func(cc momento.CacheClient, ks ...string) error {
			_, err := cc.ItemGetTtl(ctx, &momento.ItemGetTtlRequest{CacheName: testCache, Key: momento.String(ks[0])})
			return err
		}},
		{"SetIfPresent", true, func(cc momento.CacheClient, ks ...string) error {
			_, err := cc.SetIfPresent(ctx, &momento.SetIfPresentRequest{CacheName: testCache, Key: momento.String(ks[0]), Value: momento.String("v")})
			return err
		}},
		{"SetBatch", true, func(cc momento.CacheClient, ks ...string) error {
			items := make([]momento.BatchSetItem, len(ks))
			for i, k := range ks {
				items[i] = momento.BatchSetItem{Key: momento.String(k), Value: momento.String("v")}
			}
			_, err := cc.SetBatch(ctx, &momento.SetBatchRequest{CacheName: testCache, Items: items})
			return err
		}},
		{"UpdateTtl", true, func(cc momento.CacheClient, ks ...string) error {
			_, err := cc.UpdateTtl(ctx, &momento.UpdateTtlRequest{CacheName: testCache, Key: momento.String(ks[0]), Ttl: time.Minute})
			return err
		}},
	}
	tokens := []struct {
		name          string
		scope         momento.DisposableTokenScope
		read, write   bool
		keys          []string // keys the token covers (all of them)
		uncoveredKeys []string // a key list the token does not fully cover
	}{
		{"read-only", momento.CacheReadOnly(momento.CacheName{Name: testCache}), true, false, []string{"alice/a", "bob/a"}, nil},
		{"write-only", momento.CacheWriteOnly(momento.AllCaches{}), false, true, []string{"alice/a", "bob/a"}, nil},
		{"prefix read-write", momento.CacheKeyPrefixReadWrite(momento.AllCaches{}, momento.String("alice/")), true, true,
			[]string{"alice/a", "alice/b"}, []string{"alice/a", "bob/a"}},
		{"other cache", momento.CacheReadWrite(momento.CacheName{Name: "other-cache"}), false, false, []string{"alice/a"}, nil},
	}
	for _, tk := range tokens {
		cc := cacheClient(t, srv, token(t, srv, tk.scope, utils.ExpiresInMinutes(5), "id"))
		for _, o := range ops {
			allowed := (o.write && tk.write) || (!o.write && tk.read)
			err := o.call(cc, tk.keys...)
			if allowed {
				assert.NoError(t, err, "%s %s", tk.name, o.name)
			} else {
				assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%s %s: %v", tk.name, o.name, err)
			}
			if tk.uncoveredKeys != nil && (o.name == "GetBatch" || o.name == "KeysExist" || o.name == "SetBatch") {
				err := o.call(cc, tk.uncoveredKeys...)
				assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%s %s with a key outside the prefix: %v", tk.name, o.name, err)
			}
		}
	}
	got, err := root.Get(ctx, &momento.GetRequest{CacheName: testCache, Key: momento.String("bob/a")})
	require.NoError(t, err)
	assert.Equal(t, "v", got.(*responses.GetHit).ValueString())
}

// TestGoSDKControlPlane covers CreateCache, ListCaches and DeleteCache for
// api keys (v1 and v2 root keys) and PERMISSION_DENIED for disposable
// tokens, which are data-plane only (public-dev-docs
// docs/platform/authentication/tokens.md; client-sdk-go
// momento/auth_client_test.go expects PermissionError for data-only keys).
func TestGoSDKControlPlane(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ctx := ctxT(t)
	names := func(cc momento.CacheClient) []string {
		t.Helper()
		r, err := cc.ListCaches(ctx, &momento.ListCachesRequest{})
		require.NoError(t, err)
		var out []string
		for _, c := range r.(*responses.ListCachesSuccess).Caches() {
			out = append(out, c.Name())
		}
		return out
	}
	root := cacheClient(t, srv, srv.RootAPIKey())
	v2 := cacheClient(t, srv, srv.RootAPIKeyV2())
	assert.Equal(t, []string{testCache}, names(root))

	cr, err := root.CreateCache(ctx, &momento.CreateCacheRequest{CacheName: "made"})
	require.NoError(t, err)
	assert.IsType(t, &responses.CreateCacheSuccess{}, cr)
	cr, err = v2.CreateCache(ctx, &momento.CreateCacheRequest{CacheName: "made"})
	require.NoError(t, err)
	assert.IsType(t, &responses.CreateCacheAlreadyExists{}, cr, "ALREADY_EXISTS")
	assert.Equal(t, []string{testCache, "made"}, names(v2))
	assert.Equal(t, []string{testCache, "made"}, srv.Config().Caches, "Config lists the caches that exist now")
	_, err = root.Set(ctx, &momento.SetRequest{CacheName: "made", Key: momento.String("k"), Value: momento.String("v")})
	require.NoError(t, err)

	for _, tok := range []string{
		token(t, srv, momento.CacheReadWrite(momento.AllCaches{}), utils.ExpiresInMinutes(5), "data"),
		token(t, srv, momento.Permissions{Permissions: []momento.Permission{
			momento.CachePermission{Role: momento.ReadWrite, Cache: momento.AllCaches{}},
			momento.TopicPermission{Role: momento.PublishSubscribe, Cache: momento.AllCaches{}, Topic: momento.AllTopics{}},
		}}, utils.ExpiresInMinutes(5), "everything"),
	} {
		cc := cacheClient(t, srv, tok)
		_, err := cc.ListCaches(ctx, &momento.ListCachesRequest{})
		assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)
		_, err = cc.CreateCache(ctx, &momento.CreateCacheRequest{CacheName: "by-token"})
		assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)
		_, err = cc.DeleteCache(ctx, &momento.DeleteCacheRequest{CacheName: "made"})
		assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)
	}

	// Deleting a cache ends its subscriptions with NOT_FOUND
	// (client-sdk-javascript common-integration-tests
	// src/topics/topic-client.ts, "should unsubscribe automatically if the
	// cache is deleted mid-subscription").
	sub, err := newRawClient(t, srv.Addr(), srv.RootAPIKey()).subscribe(t, ctx, "made", "t", 0, 0)
	require.NoError(t, err)
	ev, err := sub.recv()
	require.NoError(t, err)
	require.Equal(t, "heartbeat", ev.kind)

	dr, err := root.DeleteCache(ctx, &momento.DeleteCacheRequest{CacheName: "made"})
	require.NoError(t, err)
	assert.IsType(t, &responses.DeleteCacheSuccess{}, dr)
	_, err = sub.recv()
	assert.Equal(t, codes.NotFound, status.Code(err), "%v", err)
	// The emulator answers NOT_FOUND (see the Node test); client-sdk-go
	// v1.38.0's DeleteCache reports that as success.
	dr, err = root.DeleteCache(ctx, &momento.DeleteCacheRequest{CacheName: "made"})
	require.NoError(t, err)
	assert.IsType(t, &responses.DeleteCacheSuccess{}, dr)
	_, err = root.Get(ctx, &momento.GetRequest{CacheName: "made", Key: momento.String("k")})
	assert.Equal(t, momento.CacheNotFoundError, momentoErrorCode(err), "%v", err)
	assert.Equal(t, []string{testCache}, names(root))

	// Recreated, it is empty.
	_, err = root.CreateCache(ctx, &momento.CreateCacheRequest{CacheName: "made"})
	require.NoError(t, err)
	got, err := root.Get(ctx, &momento.GetRequest{CacheName: "made", Key: momento.String("k")})
	require.NoError(t, err)
	assert.IsType(t, &responses.GetMiss{}, got)
}

// TestGoSDKUnimplemented checks that a method the emulator does not serve
// answers UNIMPLEMENTED naming the method (client-sdk-go maps it to
// BadRequestError).
func TestGoSDKUnimplemented(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	_, err := cc.DictionaryFetch(ctxT(t), &momento.DictionaryFetchRequest{CacheName: testCache, DictionaryName: "d"})
	require.Error(t, err)
	assert.Equal(t, momento.BadRequestError, momentoErrorCode(err), "%v", err)
	assert.Contains(t, err.Error(), "/cache_client.Scs/DictionaryFetch")
}
