package momentolocal_test

import (
	"bufio"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tvmgo/tvm/momentolocal"
)

// These tests look at the wire: the "err" metadata that both SDKs read on
// RESOURCE_EXHAUSTED (client-sdk-go internal/momentoerrors/scs_errors.go
// reads the trailer; the JS SDKs' cache-service-error-mapper.ts read
// metadata "err"), over native gRPC and gRPC-Web.

// invokeErr calls method on the raw client and returns the status and the
// "err" trailer.
func (c *rawClient) invokeErr(t testing.TB, method string, req *dynamicpb.Message, resp *dynamicpb.Message, cache string) (*status.Status, string) {
	t.Helper()
	var trailer metadata.MD
	err := c.conn.Invoke(c.ctx(ctxT(t), cache), method, req, resp, grpc.Trailer(&trailer), grpc.MaxCallSendMsgSize(64<<20))
	cause := ""
	if v := trailer.Get("err"); len(v) == 1 {
		cause = v[0]
	}
	return status.Convert(err), cause
}

func TestTopicPayloadLimitRaw(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	empty := func() *dynamicpb.Message { return newMsg(t, "common._Empty", nil) }
	for _, tt := range []struct {
		name, text string
		want       codes.Code
	}{
		{"4096 bytes", strings.Repeat("x", 4096), codes.OK},
		{"4097 bytes", strings.Repeat("x", 4097), codes.ResourceExhausted},
		{"2048 two-byte characters", strings.Repeat("é", 2048), codes.OK},
		{"2049 two-byte characters", strings.Repeat("é", 2049), codes.ResourceExhausted},
	} {
		st, cause := c.invokeErr(t, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, "t", tt.text), empty(), testCache)
		assert.Equal(t, tt.want, st.Code(), "%s: %v", tt.name, st.Err())
		if tt.want != codes.OK {
			assert.Equal(t, "request_size_limit_exceeded", cause, tt.name)
			assert.Contains(t, st.Message(), "request limit", "the JS SDKs describe the error from these words")
		}
	}
	binary := newMsg(t, "cache_client.pubsub._PublishRequest", map[string]any{"cache_name": testCache, "topic": "t"})
	binary.Set(binary.Descriptor().Fields().ByName("value"),
		dynamicpbValue(newMsg(t, "cache_client.pubsub._TopicValue", map[string]any{"binary": make([]byte, 4097)})))
	st, cause := c.invokeErr(t, "/cache_client.pubsub.Pubsub/Publish", binary, empty(), testCache)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Equal(t, "request_size_limit_exceeded", cause)

	// gRPC-Web: the trailer frame carries err, and CORS exposes it.
	resp := webPost(t, ctxT(t), srv, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, "t", strings.Repeat("x", 5000)), srv.RootAPIKey(), "http://localhost:5173", true)
	assert.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "err")
	r := &webReader{r: bufio.NewReader(resp.Body), text: true}
	f, err := r.next()
	require.NoError(t, err)
	code, _ := trailerStatus(t, f)
	assert.Equal(t, "8", code)
	assert.Contains(t, string(f.payload), "err: request_size_limit_exceeded\r\n")
}

func TestCacheSizeLimitsRaw(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	set := func(size int) (*status.Status, string) {
		req := newMsg(t, "cache_client._SetRequest", map[string]any{"cache_key": []byte("k"), "cache_body": make([]byte, size), "ttl_milliseconds": uint64(60000)})
		return c.invokeErr(t, "/cache_client.Scs/Set", req, newMsg(t, "cache_client._SetResponse", nil), testCache)
	}
	st, _ := set(5_000_000 - 1)
	assert.Equal(t, codes.OK, st.Code(), "%v", st.Err())
	st, cause := set(5_000_000)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Equal(t, "item_size_limit_exceeded", cause)
	assert.Contains(t, st.Message(), "item size")
	// Larger than a request may be: the request limit answers first (the
	// Node SDK's large-messages test sends 5.3 MB and expects "Request
	// size limit exceeded").
	st, cause = set(5_300_000)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Equal(t, "request_size_limit_exceeded", cause)
	assert.Contains(t, st.Message(), "request limit")
}

func TestPingNeedsNoKeyRaw(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// The JS SDKs' ping clients send no authorization
	// (client-sdk-nodejs src/internal/ping-client.ts).
	err = conn.Invoke(ctxT(t), "/cache_client.Ping/Ping", newMsg(t, "cache_client._PingRequest", nil), newMsg(t, "cache_client._PingResponse", nil))
	require.NoError(t, err)

	// A method that is not served: UNIMPLEMENTED naming it, in a known
	// service and in an unknown one.
	for _, m := range []string{"/cache_client.Scs/ListFetch", "/store.Store/Get"} {
		err = conn.Invoke(ctxT(t), m, newMsg(t, "cache_client._PingRequest", nil), newMsg(t, "cache_client._PingResponse", nil))
		assert.Equal(t, codes.Unimplemented, status.Code(err))
		assert.Contains(t, status.Convert(err).Message(), m)
	}
}
