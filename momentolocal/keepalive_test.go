package momentolocal_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/tvmgo/tvm/momentolocal"
)

// TestKeepalivePingsAreAllowed checks the keepalive enforcement policy: the
// SDKs ping every few seconds even without active calls (grpc-go clamps the
// Go SDK's 5 s to 10 s). A server with grpc-go's default policy answers the
// third such ping with GOAWAY too_many_pings, about 30 s in; the emulator
// must keep the connection.
func TestKeepalivePingsAreAllowed(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 35 s; run without -short")
	}
	t.Parallel()
	srv := startServer(t, momentolocal.Config{})
	conn, err := grpc.NewClient(srv.Addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	)
	require.NoError(t, err)
	defer conn.Close()
	c := &rawClient{conn: conn, key: srv.RootAPIKey()}
	require.NoError(t, c.get(t, context.Background(), testCache, "k"))
	// grpc-go serves calls on a new connection before GetState says READY
	// (the picker is updated first): wait for the state to catch up.
	ready, cancelReady := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelReady()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		require.True(t, conn.WaitForStateChange(ready, s), "the connection did not become READY after a call succeeded (state %s)", s)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	changed := conn.WaitForStateChange(ctx, connectivity.Ready)
	require.False(t, changed, "the connection left READY (state %s): the server sent GOAWAY on keepalive pings", conn.GetState())
}
