package momentolocal_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/momentolocal"
)

// TestGoSDKTopics runs the emulator's topic tests through the Go SDK's
// TopicClient.
//
// client-sdk-go v1.38.0's TopicClient.Close closes a channel that its own
// pool goroutine may be sending on (static_stream_grpc_manager_pool.go), a
// data race the race detector reports on every Close. So under -race these
// subtests run in a child `go test` of this package built without -race;
// the emulator's own topic code is still checked under -race by the raw
// gRPC, gRPC-Web and Node tests.
func TestGoSDKTopics(t *testing.T) {
	if raceEnabled {
		runWithoutRace(t, "^TestGoSDKTopics$")
		return
	}
	t.Run("PublishSubscribe", testTopicsPublishSubscribe)
	t.Run("RootKeyPublisherHasEmptyID", testTopicsRootKeyPublisherHasEmptyID)
	t.Run("RoleEnforcement", testTopicsRoleEnforcement)
	t.Run("ExpiredTokenRefused", testTopicsExpiredTokenRefused)
	t.Run("ForeignTokenRefused", testTopicsForeignTokenRefused)
	t.Run("UnknownCacheNotFound", testTopicsUnknownCacheNotFound)
	t.Run("ResumeFromSequenceNumber", testSubscribeResumeFromSequenceNumber)
	t.Run("Heartbeats", testSubscriptionHeartbeats)
	t.Run("SubscriptionSurvivesRestart", testTopicsSubscriptionSurvivesRestart)
	t.Run("PayloadLimit", testTopicsPayloadLimit)
}

// testTopicsPayloadLimit: a topic message is at most 4 KB (public-dev-docs
// docs/topics/limits.mdx); over it, LIMIT_EXCEEDED with the metadata the
// SDK reads ("err: request_size_limit_exceeded").
func testTopicsPayloadLimit(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	tc := topicClient(t, srv, srv.RootAPIKey())
	require.NoError(t, publish(ctxT(t), tc, "t", momento.Bytes(make([]byte, 4096))))
	err := publish(ctxT(t), tc, "t", momento.String(strings.Repeat("x", 4097)))
	require.Error(t, err)
	assert.Equal(t, momento.LimitExceededError, momentoErrorCode(err), "%v", err)
	var me momento.MomentoError
	require.ErrorAs(t, err, &me)
	assert.True(t, strings.HasPrefix(me.Message(), "Request size limit exceeded for this account"), me.Message())
}

// runWithoutRace runs the tests matching pattern in a child `go test`
// without the race detector and fails t if they fail.
func runWithoutRace(t *testing.T, pattern string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to run %s without -race", pattern)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-v", "-run", pattern, ".")
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			var flags []string
			for _, f := range strings.Fields(strings.TrimPrefix(kv, "GOFLAGS=")) {
				if f != "-race" && f != "-race=true" {
					flags = append(flags, f)
				}
			}
			kv = "GOFLAGS=" + strings.Join(flags, " ")
		}
		env = append(env, kv)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -run %s without -race failed: %v\n%s", pattern, err, out)
	}
	passed := strings.Count(string(out), "--- PASS")
	require.Positive(t, passed, "the child ran no test:\n%s", out)
	t.Logf("go test -run %s (without -race): %d tests and subtests passed", pattern, passed)
}

func testTopicsSubscriptionSurvivesRestart(t *testing.T) {
	srv, err := momentolocal.Start(momentolocal.Config{})
	require.NoError(t, err)
	tc := topicClient(t, srv, token(t, srv, pubSubAll, utils.ExpiresInMinutes(5), "alice"))
	sub := subscribe(t, tc, &momento.TopicSubscribeRequest{CacheName: testCache, TopicName: "t"})
	require.NoError(t, publish(ctxT(t), tc, "t", momento.String("before")))
	assert.Equal(t, momento.String("before"), nextItem(t, sub).GetValue())

	cfg := srv.Config()
	require.NoError(t, srv.Close())
	srv2, err := momentolocal.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv2.Close()) })

	// Keep publishing until the resubscribed subscription sees a message:
	// the SDK reconnects on its own, resuming with its last sequence number
	// and page; the restarted topic has a new page, so it first gets a
	// discontinuity.
	pubCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = publish(pubCtx, tc, "t", momento.String("after"))
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stop(); <-done }()
	sawDiscontinuity := false
	for {
		ev := nextEvent(t, sub)
		if _, ok := ev.(momento.TopicDiscontinuity); ok {
			sawDiscontinuity = true
			continue
		}
		item, ok := ev.(momento.TopicItem)
		require.True(t, ok)
		assert.Equal(t, momento.String("after"), item.GetValue())
		break
	}
	assert.True(t, sawDiscontinuity, "a resumed subscription on a restarted topic announces the new page")
}
