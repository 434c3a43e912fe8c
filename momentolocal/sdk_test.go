package momentolocal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger/momento_default_logger"
	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/responses"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/momentolocal"

	"github.com/tvmgo/tvm/internal/testenv"
)

// These tests drive the emulator only through the official Go SDK.

const testCache = "default-cache"

// quietLogs keeps the SDK's logs to errors.
var quietLogs = momento_default_logger.NewDefaultMomentoLoggerFactory(momento_default_logger.ERROR)

// token vends a disposable token through the Go SDK's auth client with the
// emulator's root credentials and returns the SDK-wrapped api key.
func token(t testing.TB, srv *momentolocal.Server, scope momento.DisposableTokenScope, validFor utils.ExpiresIn, tokenID string) string {
	t.Helper()
	tok, err := vend(t, rootAuthClient(t, srv), scope, validFor, tokenID)
	require.NoError(t, err)
	return tok.ApiKey
}

// topicClient returns a Go SDK topic client that uses apiKey.
func topicClient(t testing.TB, srv *momentolocal.Server, apiKey string) momento.TopicClient {
	t.Helper()
	cp, err := srv.CredentialProviderFor(apiKey)
	require.NoError(t, err)
	c, err := momento.NewTopicClient(config.TopicsDefaultWithLogger(quietLogs), cp)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// cacheClient returns a Go SDK cache client that uses apiKey.
func cacheClient(t testing.TB, srv *momentolocal.Server, apiKey string) momento.CacheClient {
	t.Helper()
	cp, err := srv.CredentialProviderFor(apiKey)
	require.NoError(t, err)
	c, err := momento.NewCacheClientWithEagerConnectTimeout(config.LaptopLatestWithLogger(quietLogs), cp, time.Minute, 0)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func subscribe(t testing.TB, tc momento.TopicClient, req *momento.TopicSubscribeRequest) momento.TopicSubscription {
	t.Helper()
	sub, err := tc.Subscribe(ctxT(t), req)
	require.NoError(t, err)
	t.Cleanup(sub.Close)
	return sub
}

// nextEvent returns the next item or discontinuity, skipping heartbeats.
// The context outlives the call on purpose: when the SDK resubscribes after
// a broken stream, it binds the new stream to the context of the Event call
// that noticed the break (client-sdk-go v1.38.0).
func nextEvent(t testing.TB, sub momento.TopicSubscription) momento.TopicEvent {
	t.Helper()
	ctx := ctxT(t)
	for {
		ev, err := sub.Event(ctx)
		require.NoError(t, err)
		if _, ok := ev.(momento.TopicHeartbeat); !ok {
			return ev
		}
	}
}

func nextItem(t testing.TB, sub momento.TopicSubscription) momento.TopicItem {
	t.Helper()
	ev := nextEvent(t, sub)
	item, ok := ev.(momento.TopicItem)
	require.True(t, ok, "got %#v, want an item", ev)
	return item
}

func publish(ctx context.Context, tc momento.TopicClient, topic string, v momento.TopicValue) error {
	_, err := tc.Publish(ctx, &momento.TopicPublishRequest{CacheName: testCache, TopicName: topic, Value: v})
	return err
}

var pubSubAll = momento.TopicPublishSubscribe(momento.CacheName{Name: testCache}, momento.AllTopics{})

func testTopicsPublishSubscribe(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	alice := topicClient(t, srv, token(t, srv, pubSubAll, utils.ExpiresInMinutes(5), "alice"))
	bob := topicClient(t, srv, token(t, srv, momento.TopicSubscribeOnly(momento.AllCaches{}, momento.TopicName{Name: "chat"}), utils.ExpiresInMinutes(5), "bob"))

	sub := subscribe(t, bob, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "chat"})
	require.NoError(t, publish(ctxT(t), alice, "chat", momento.String("hello")))
	require.NoError(t, publish(ctxT(t), alice, "chat", momento.Bytes{0, 1, 2}))
	require.NoError(t, publish(ctxT(t), alice, "other", momento.String("elsewhere")))

	first := nextItem(t, sub)
	assert.Equal(t, momento.String("hello"), first.GetValue())
	assert.Equal(t, momento.String("alice"), first.GetPublisherId(), "publisher_id is the publisher's token id")
	assert.Equal(t, uint64(1), first.GetTopicSequenceNumber())
	assert.NotZero(t, first.GetTopicSequencePage())
	second := nextItem(t, sub)
	assert.Equal(t, momento.Bytes{0, 1, 2}, second.GetValue())
	assert.Equal(t, uint64(2), second.GetTopicSequenceNumber())
	assert.Equal(t, first.GetTopicSequencePage(), second.GetTopicSequencePage())
}

func testTopicsRootKeyPublisherHasEmptyID(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	root := topicClient(t, srv, srv.RootAPIKey())
	sub := subscribe(t, root, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t"})
	require.NoError(t, publish(ctxT(t), root, "t", momento.String("x")))
	assert.Equal(t, momento.String(""), nextItem(t, sub).GetPublisherId())
}

func testTopicsRoleEnforcement(t *testing.T) {
	srv := startServer(t, momentolocal.Config{Caches: []string{testCache, "other-cache"}})
	tests := []struct {
		name                  string
		scope                 momento.DisposableTokenScope
		cache, topic          string
		canPublish, canSubscr bool
	}{
		{"subscribe-only cannot publish", momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{}), testCache, "t", false, true},
		{"publish-only cannot subscribe", momento.TopicPublishOnly(momento.AllCaches{}, momento.AllTopics{}), testCache, "t", true, false},
		{"publish-subscribe on one topic", momento.TopicPublishSubscribe(momento.CacheName{Name: testCache}, momento.TopicName{Name: "t"}), testCache, "t", true, true},
		{"other topic denied", momento.TopicPublishSubscribe(momento.CacheName{Name: testCache}, momento.TopicName{Name: "t"}), testCache, "u", false, false},
		{"other cache denied", momento.TopicPublishSubscribe(momento.CacheName{Name: testCache}, momento.AllTopics{}), "other-cache", "t", false, false},
		{"topic prefix match", momento.TopicNamePrefixPublishSubscribe(momento.AllCaches{}, "room-"), testCache, "room-42", true, true},
		{"topic prefix mismatch", momento.TopicNamePrefixPublishSubscribe(momento.AllCaches{}, "room-"), testCache, "lobby", false, false},
		{"cache permission grants no topic", momento.CacheReadWrite(momento.AllCaches{}), testCache, "t", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := topicClient(t, srv, token(t, srv, tc.scope, utils.ExpiresInMinutes(5), "id"))
			_, err := c.Publish(ctxT(t), &momento.TopicPublishRequest{CacheName: tc.cache, TopicName: tc.topic, Value: momento.String("x")})
			if tc.canPublish {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)
			}
			sub, err := c.Subscribe(ctxT(t), &momento.TopicSubscribeRequest{CacheName: tc.cache, TopicName: tc.topic})
			if tc.canSubscr {
				require.NoError(t, err)
				sub.Close()
			} else {
				assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)
			}
		})
	}
}

func TestExpiredTokenRefused(t *testing.T) {
	clock := &testenv.ShiftedClock{}
	srv := startServer(t, momentolocal.Config{Now: clock.Now})
	scope := momento.Permissions{Permissions: []momento.Permission{
		momento.TopicPermission{Role: momento.PublishSubscribe, Cache: momento.AllCaches{}, Topic: momento.AllTopics{}},
		momento.CachePermission{Role: momento.ReadWrite, Cache: momento.AllCaches{}},
	}}
	key := token(t, srv, scope, utils.ExpiresInSeconds(1), "short")
	cc := cacheClient(t, srv, key)
	_, err := cc.Get(ctxT(t), &momento.GetRequest{CacheName: testCache, Key: momento.String("k")})
	require.NoError(t, err)
	clock.Advance(2 * time.Second)
	_, err = cc.Get(ctxT(t), &momento.GetRequest{CacheName: testCache, Key: momento.String("k")})
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)
}

func testTopicsExpiredTokenRefused(t *testing.T) {
	clock := &testenv.ShiftedClock{}
	srv := startServer(t, momentolocal.Config{Now: clock.Now})
	tc := topicClient(t, srv, token(t, srv, pubSubAll, utils.ExpiresInSeconds(1), "short"))
	require.NoError(t, publish(ctxT(t), tc, "t", momento.String("before")))
	clock.Advance(2 * time.Second)
	err := publish(ctxT(t), tc, "t", momento.String("after"))
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)
	_, err = tc.Subscribe(ctxT(t), &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t"})
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)
}

func TestForeignTokenRefused(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	other := startServer(t, momentolocal.Config{})
	key := token(t, other, momento.CacheReadWrite(momento.AllCaches{}), utils.ExpiresInMinutes(5), "mallory")
	cc := cacheClient(t, srv, key) // other's token, sent to srv
	_, err := cc.Get(ctxT(t), &momento.GetRequest{CacheName: testCache, Key: momento.String("k")})
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)
}

func testTopicsForeignTokenRefused(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	other := startServer(t, momentolocal.Config{})
	tc := topicClient(t, srv, token(t, other, pubSubAll, utils.ExpiresInMinutes(5), "mallory"))
	err := publish(ctxT(t), tc, "t", momento.String("x"))
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)
}

func TestUnknownCacheNotFound(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	_, err := cc.Get(ctxT(t), &momento.GetRequest{CacheName: "nope", Key: momento.String("k")})
	assert.Equal(t, momento.CacheNotFoundError, momentoErrorCode(err), "%v", err)
	_, err = cc.Set(ctxT(t), &momento.SetRequest{CacheName: "nope", Key: momento.String("k"), Value: momento.String("v")})
	assert.Equal(t, momento.CacheNotFoundError, momentoErrorCode(err), "%v", err)
}

func testTopicsUnknownCacheNotFound(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	tc := topicClient(t, srv, srv.RootAPIKey())
	_, err := tc.Publish(ctxT(t), &momento.TopicPublishRequest{CacheName: "nope", TopicName: "t", Value: momento.String("x")})
	assert.Equal(t, momento.CacheNotFoundError, momentoErrorCode(err), "%v", err)
	_, err = tc.Subscribe(ctxT(t), &momento.TopicSubscribeRequest{CacheName: "nope", TopicName: "t"})
	assert.Equal(t, momento.CacheNotFoundError, momentoErrorCode(err), "%v", err)
}

func testSubscribeResumeFromSequenceNumber(t *testing.T) {
	srv := startServer(t, momentolocal.Config{TopicHistory: 4})
	tc := topicClient(t, srv, token(t, srv, pubSubAll, utils.ExpiresInMinutes(5), "p"))
	live := subscribe(t, tc, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t"})
	for i := 1; i <= 6; i++ {
		require.NoError(t, publish(ctxT(t), tc, "t", momento.String(fmt.Sprint(i))))
	}
	var page uint64
	for i := 1; i <= 6; i++ {
		it := nextItem(t, live)
		require.Equal(t, uint64(i), it.GetTopicSequenceNumber())
		page = it.GetTopicSequencePage()
	}

	// Resuming at 4 replays 4, 5, 6 (resume_at is the first wanted number).
	sub := subscribe(t, tc, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t", ResumeAtTopicSequenceNumber: 4, SequencePage: page})
	for i := 4; i <= 6; i++ {
		it := nextItem(t, sub)
		assert.Equal(t, uint64(i), it.GetTopicSequenceNumber())
		assert.Equal(t, momento.String(fmt.Sprint(i)), it.GetValue())
	}
	require.NoError(t, publish(ctxT(t), tc, "t", momento.String("7")))
	assert.Equal(t, uint64(7), nextItem(t, sub).GetTopicSequenceNumber(), "live messages follow the replay")

	// Resuming before the kept history announces a discontinuity (items
	// resume after 3), then replays what is kept (4 messages: 4..7).
	old := subscribe(t, tc, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t", ResumeAtTopicSequenceNumber: 2, SequencePage: page})
	ev := nextEvent(t, old)
	d, ok := ev.(momento.TopicDiscontinuity)
	require.True(t, ok, "got %#v", ev)
	assert.Equal(t, uint64(1), d.GetLastKnownSequenceNumber())
	assert.Equal(t, uint64(3), d.GetNewSequenceNumber(), "items resume after 3")
	assert.Equal(t, page, d.GetNewSequencePage())
	assert.Equal(t, uint64(4), nextItem(t, old).GetTopicSequenceNumber())

	// A subscription without resume gets only new messages.
	fresh := subscribe(t, tc, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t"})
	require.NoError(t, publish(ctxT(t), tc, "t", momento.String("8")))
	assert.Equal(t, uint64(8), nextItem(t, fresh).GetTopicSequenceNumber())
}

func testSubscriptionHeartbeats(t *testing.T) {
	srv := startServer(t, momentolocal.Config{HeartbeatInterval: 20 * time.Millisecond})
	tc := topicClient(t, srv, srv.RootAPIKey())
	sub := subscribe(t, tc, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t"})
	ctx := ctxT(t)
	for range 3 {
		ev, err := sub.Event(ctx)
		require.NoError(t, err)
		assert.IsType(t, momento.TopicHeartbeat{}, ev)
	}
}

func TestCacheOperations(t *testing.T) {
	clock := &testenv.ShiftedClock{}
	srv := startServer(t, momentolocal.Config{Now: clock.Now})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	ctx := ctxT(t)

	get := func(key string) responses.GetResponse {
		t.Helper()
		r, err := cc.Get(ctx, &momento.GetRequest{CacheName: testCache, Key: momento.String(key)})
		require.NoError(t, err)
		return r
	}
	assert.IsType(t, &responses.GetMiss{}, get("k"))
	_, err := cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String("k"), Value: momento.String("v"), Ttl: 10 * time.Second})
	require.NoError(t, err)
	hit, ok := get("k").(*responses.GetHit)
	require.True(t, ok)
	assert.Equal(t, "v", hit.ValueString())

	clock.Advance(11 * time.Second)
	assert.IsType(t, &responses.GetMiss{}, get("k"), "expired after its TTL")

	_, err = cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String("k"), Value: momento.String("v2")})
	require.NoError(t, err)
	_, err = cc.Delete(ctx, &momento.DeleteRequest{CacheName: testCache, Key: momento.String("k")})
	require.NoError(t, err)
	assert.IsType(t, &responses.GetMiss{}, get("k"))

	incr := func(amount int64) (int64, error) {
		ttl := utils.CollectionTtl{Ttl: 5 * time.Second}
		r, err := cc.Increment(ctx, &momento.IncrementRequest{CacheName: testCache, Field: momento.String("n"), Amount: amount, Ttl: &ttl})
		if err != nil {
			return 0, err
		}
		return r.(*responses.IncrementSuccess).Value(), nil
	}
	for i, want := range []int64{1, 11, 6} {
		v, err := incr([]int64{1, 10, -5}[i])
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	hit, ok = get("n").(*responses.GetHit)
	require.True(t, ok)
	assert.Equal(t, "6", hit.ValueString())
	clock.Advance(6 * time.Second)
	v, err := incr(2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "the counter expired with its TTL and restarted from 0")

	_, err = cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String("n"), Value: momento.String("not a number")})
	require.NoError(t, err)
	_, err = incr(1)
	assert.Equal(t, momento.FailedPreconditionError, momentoErrorCode(err), "%v", err)
}

func TestCacheTokenEnforcement(t *testing.T) {
	srv := startServer(t, momentolocal.Config{Caches: []string{testCache, "other-cache"}})
	ctx := ctxT(t)
	tests := []struct {
		name            string
		scope           momento.DisposableTokenScope
		cache, key      string
		canRead, canWri bool
	}{
		{"read-write", momento.CacheReadWrite(momento.AllCaches{}), testCache, "k", true, true},
		{"read-only", momento.CacheReadOnly(momento.CacheName{Name: testCache}), testCache, "k", true, false},
		{"write-only", momento.CacheWriteOnly(momento.CacheName{Name: testCache}), testCache, "k", false, true},
		{"other cache", momento.CacheReadWrite(momento.CacheName{Name: testCache}), "other-cache", "k", false, false},
		{"one key", momento.CacheKeyReadWrite(momento.AllCaches{}, momento.String("k")), testCache, "k", true, true},
		{"one key, other key", momento.CacheKeyReadWrite(momento.AllCaches{}, momento.String("k")), testCache, "k2", false, false},
		{"key prefix reads its prefix", momento.CacheKeyPrefixReadOnly(momento.AllCaches{}, momento.String("alice/")), testCache, "alice/x", true, false},
		{"key prefix reads nothing else", momento.CacheKeyPrefixReadOnly(momento.AllCaches{}, momento.String("alice/")), testCache, "bob/x", false, false},
		{"key prefix is not a key", momento.CacheKeyPrefixReadOnly(momento.AllCaches{}, momento.String("alice/")), testCache, "alice", false, false},
		{"topic permission grants no cache", momento.TopicPublishSubscribe(momento.AllCaches{}, momento.AllTopics{}), testCache, "k", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cc := cacheClient(t, srv, token(t, srv, tc.scope, utils.ExpiresInMinutes(5), "id"))
			check := func(allowed bool, err error) {
				t.Helper()
				if allowed {
					assert.NoError(t, err)
				} else {
					assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)
				}
			}
			_, err := cc.Get(ctx, &momento.GetRequest{CacheName: tc.cache, Key: momento.String(tc.key)})
			check(tc.canRead, err)
			_, err = cc.Set(ctx, &momento.SetRequest{CacheName: tc.cache, Key: momento.String(tc.key), Value: momento.String("v")})
			check(tc.canWri, err)
			_, err = cc.Delete(ctx, &momento.DeleteRequest{CacheName: tc.cache, Key: momento.String(tc.key)})
			check(tc.canWri, err)
			_, err = cc.Increment(ctx, &momento.IncrementRequest{CacheName: tc.cache, Field: momento.String(tc.key), Amount: 1})
			check(tc.canWri, err)
		})
	}
}

func TestRestartOnSameAddress(t *testing.T) {
	srv, err := momentolocal.Start(momentolocal.Config{})
	require.NoError(t, err)
	key := token(t, srv, momento.CacheReadWrite(momento.AllCaches{}), utils.ExpiresInMinutes(5), "alice")
	cc := cacheClient(t, srv, key)
	set := func() error {
		_, err := cc.Set(ctxT(t), &momento.SetRequest{CacheName: testCache, Key: momento.String("k"), Value: momento.String("v")})
		return err
	}
	require.NoError(t, set())

	cfg := srv.Config()
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "Close is idempotent")
	assert.Equal(t, momento.ServerUnavailableError, momentoErrorCode(set()))

	srv2, err := momentolocal.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv2.Close()) })
	assert.Equal(t, cfg.Addr, srv2.Addr())
	assert.Equal(t, srv.RootAPIKey(), srv2.RootAPIKey(), "same signing key and address, same root key")
	// The same client reconnects, and its token is still valid.
	require.Eventually(t, func() bool { return set() == nil }, 10*time.Second, 50*time.Millisecond)
}
