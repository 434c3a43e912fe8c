package momentolocal_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/responses"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/tvmgo/tvm/internal/testenv"
	"github.com/tvmgo/tvm/momentolocal"
)

// testHostDomain is the base endpoint the TLS tests give the emulator: the
// SDKs dial cache.<it>, control.<it> and token.<it>.
const testHostDomain = "momentolocal.test"

// tlsChildEnv marks the child process of TestTLSWithGoSDK; its value is the
// directory of the test CA.
const tlsChildEnv = "MOMENTOLOCAL_TLS_CHILD_DIR"

// TestTLSWithGoSDK serves TLS and points client-sdk-go v1.38.0 at it. The
// SDK's TLS uses the system roots (internal/grpcmanagers/
// grpc-channel-options.go: tls.Config{} with no RootCAs), which Go reads
// once per process, so the SDK part runs in a child process of this test
// binary with SSL_CERT_FILE naming the test CA.
func TestTLSWithGoSDK(t *testing.T) {
	if dir := os.Getenv(tlsChildEnv); dir != "" {
		tlsChild(t, dir)
		return
	}
	ca := testenv.NewCA(t, testHostNames...)

	// Without the CA the certificate is refused: TLS is really checked.
	srv := startServer(t, momentolocal.Config{TLS: testenv.ServerTLS(t, ca.Dir)})
	assert.True(t, strings.HasPrefix(srv.URL(), "https://"))
	assert.False(t, srv.Endpoints().CacheEndpoint.InsecureConnection)
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: x509.NewCertPool()})))
	require.NoError(t, err)
	defer conn.Close()
	err = conn.Invoke(ctxT(t), "/cache_client.Ping/Ping", newMsg(t, "cache_client._PingRequest", nil), newMsg(t, "cache_client._PingResponse", nil))
	assert.Equal(t, codes.Unavailable, status.Code(err), "an unknown CA fails the handshake: %v", err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestTLSWithGoSDK$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), tlsChildEnv+"="+ca.Dir, "SSL_CERT_FILE="+ca.CAFile, "SSL_CERT_DIR="+ca.Dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
	require.Contains(t, string(out), "--- PASS: TestTLSWithGoSDK", "the child ran the test:\n%s", out)
	t.Logf("child:\n%s", out)
}

// tlsChild is TestTLSWithGoSDK in the child, where the system roots are
// the test CA.
func tlsChild(t *testing.T, dir string) {
	srv := startServer(t, momentolocal.Config{TLS: testenv.ServerTLS(t, dir), RequireAPIKey: true})
	ctx := ctxT(t)

	// The root key (v1 and v2 shapes) over TLS: token service and control
	// plane.
	for _, key := range []string{srv.RootAPIKey(), srv.RootAPIKeyV2()} {
		cp, err := srv.CredentialProviderFor(key)
		require.NoError(t, err)
		assert.True(t, cp.IsCacheEndpointSecure())
		tok, err := vend(t, newAuthClient(t, cp), momento.CacheKeyPrefixReadWrite(momento.CacheName{Name: testCache}, momento.String("tls/")),
			utils.ExpiresInMinutes(5), "tls-user")
		require.NoError(t, err)

		// The disposable token over TLS: data plane.
		cc := cacheClient(t, srv, tok.ApiKey)
		_, err = cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String("tls/k"), Value: momento.String("v")})
		require.NoError(t, err)
		got, err := cc.Get(ctx, &momento.GetRequest{CacheName: testCache, Key: momento.String("tls/k")})
		require.NoError(t, err)
		assert.Equal(t, "v", got.(*responses.GetHit).ValueString())
		_, err = cc.Get(ctx, &momento.GetRequest{CacheName: testCache, Key: momento.String("other")})
		assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "scopes are enforced over TLS too: %v", err)

		root := cacheClient(t, srv, key)
		ping, err := root.Ping(ctx)
		require.NoError(t, err)
		assert.IsType(t, &responses.PingSuccess{}, ping)
		lc, err := root.ListCaches(ctx, &momento.ListCachesRequest{})
		require.NoError(t, err)
		assert.Len(t, lc.(*responses.ListCachesSuccess).Caches(), 1)
	}

	// gRPC-Web on the same port, over HTTP/1.1 in TLS (Go's client offers
	// h2 and http/1.1, as browsers do, and is given http/1.1).
	resp := webPost(t, ctx, srv, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, "t", "x"), srv.RootAPIKey(), "", true)
	assert.Equal(t, "HTTP/1.1", resp.Proto)
	require.NotNil(t, resp.TLS)
	wr := &webReader{r: bufio.NewReader(resp.Body), text: true}
	f, err := wr.next()
	require.NoError(t, err)
	assert.Equal(t, byte(0), f.flag, "the response message")
	f, err = wr.next()
	require.NoError(t, err)
	code, msg := trailerStatus(t, f)
	assert.Equal(t, "0", code, msg)

	// Plaintext is refused on a TLS port.
	plain := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	assert.Equal(t, codes.Unavailable, status.Code(plain.get(t, ctx, testCache, "k")))
}
