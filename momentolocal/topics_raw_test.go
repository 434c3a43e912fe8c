package momentolocal_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tvmgo/tvm/momentolocal"
)

// rawKey vends a disposable token with the Go SDK and returns the inner api
// key, the value of the "authorization" metadata.
func rawKey(t testing.TB, srv *momentolocal.Server, scope momento.DisposableTokenScope, tokenID string) string {
	t.Helper()
	cp, err := srv.CredentialProviderFor(token(t, srv, scope, utils.ExpiresInMinutes(10), tokenID))
	require.NoError(t, err)
	return cp.GetAuthToken()
}

func TestTopicsFanOutRaw(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	pub := newRawClient(t, srv.Addr(), rawKey(t, srv, pubSubAll, "publisher-7"))
	subKey := rawKey(t, srv, momento.TopicSubscribeOnly(momento.AllCaches{}, momento.TopicName{Name: "fan"}), "reader")
	ctx := ctxT(t)

	const subscribers, messages = 20, 50
	subs := make([]*rawSub, subscribers)
	for i := range subs {
		c := newRawClient(t, srv.Addr(), subKey)
		s, err := c.subscribe(t, ctx, testCache, "fan", 0, 0)
		require.NoError(t, err)
		first, err := s.recv()
		require.NoError(t, err)
		require.Equal(t, "heartbeat", first.kind, "the first message of a subscription is a heartbeat")
		subs[i] = s
	}
	for i := 1; i <= messages; i++ {
		require.NoError(t, pub.publish(t, ctx, testCache, "fan", fmt.Sprint(i)))
	}
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var page uint64
			for n := 1; n <= messages; n++ {
				ev, err := s.recv()
				for err == nil && ev.kind == "heartbeat" {
					ev, err = s.recv()
				}
				if !assert.NoError(t, err, "subscriber %d", i) {
					return
				}
				assert.Equal(t, subEvent{kind: "item", seq: uint64(n), page: ev.page, text: fmt.Sprint(n), publisherID: "publisher-7"}, ev)
				if page == 0 {
					page = ev.page
				}
				assert.Equal(t, page, ev.page)
			}
		}()
	}
	wg.Wait()
}

func TestTopicsRequestValidationRaw(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	root := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	ctx := ctxT(t)

	assert.Equal(t, codes.InvalidArgument, status.Code(root.publish(t, ctx, testCache, "", "x")), "empty topic")
	assert.Equal(t, codes.InvalidArgument, status.Code(root.publish(t, ctx, "", "t", "x")), "empty cache")

	noValue := newMsg(t, "cache_client.pubsub._PublishRequest", map[string]any{"cache_name": testCache, "topic": "t"})
	err := root.conn.Invoke(root.ctx(ctx, testCache), "/cache_client.pubsub.Pubsub/Publish", noValue, newMsg(t, "common._Empty", nil))
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "no value")

	for name, key := range map[string]string{"no key": "", "garbage": "garbage", "Momento-looking": "eyJhbGciOiJIUzI1NiJ9.e30.x"} {
		c := newRawClient(t, srv.Addr(), key)
		assert.Equal(t, codes.Unauthenticated, status.Code(c.publish(t, ctx, testCache, "t", "x")), name)
		s, err := c.subscribe(t, ctx, testCache, "t", 0, 0)
		require.NoError(t, err)
		_, err = s.recv()
		assert.Equal(t, codes.Unauthenticated, status.Code(err), name)
	}
}

func TestSubscriptionEndsOnClose(t *testing.T) {
	srv, err := momentolocal.Start(momentolocal.Config{})
	require.NoError(t, err)
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	s, err := c.subscribe(t, ctxT(t), testCache, "t", 0, 0)
	require.NoError(t, err)
	ev, err := s.recv()
	require.NoError(t, err)
	require.Equal(t, "heartbeat", ev.kind)
	done := make(chan error, 1)
	go func() {
		_, err := s.recv()
		done <- err
	}()
	require.NoError(t, srv.Close())
	select {
	case err := <-done:
		assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("subscription still open after Close")
	}
	_, err = c.subscribe(t, context.Background(), testCache, "t", 0, 0)
	if err == nil {
		_, err = s.recv()
	}
	assert.Error(t, err)
}
