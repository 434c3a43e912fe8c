package momentolocal_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tvmgo/tvm/momentolocal"
)

// webFrame is one decoded gRPC-Web frame.
type webFrame struct {
	flag    byte
	payload []byte
}

// webReader decodes a gRPC-Web response body as it arrives. In the text
// format it decodes base64 four characters at a time, as the grpc-web
// client does, so that separately padded chunks decode correctly.
type webReader struct {
	r    *bufio.Reader
	text bool
	buf  []byte // decoded, not yet framed
}

func (w *webReader) fill() error {
	if !w.text {
		b := make([]byte, 4096)
		n, err := w.r.Read(b)
		w.buf = append(w.buf, b[:n]...)
		if n > 0 {
			return nil
		}
		return err
	}
	quad := make([]byte, 4)
	if _, err := io.ReadFull(w.r, quad); err != nil {
		return err
	}
	dec := make([]byte, 3)
	n, err := base64.StdEncoding.Decode(dec, quad)
	if err != nil {
		return err
	}
	w.buf = append(w.buf, dec[:n]...)
	return nil
}

func (w *webReader) next() (webFrame, error) {
	for len(w.buf) < 5 {
		if err := w.fill(); err != nil {
			return webFrame{}, err
		}
	}
	n := int(binary.BigEndian.Uint32(w.buf[1:5]))
	for len(w.buf) < 5+n {
		if err := w.fill(); err != nil {
			return webFrame{}, err
		}
	}
	f := webFrame{flag: w.buf[0], payload: append([]byte(nil), w.buf[5:5+n]...)}
	w.buf = w.buf[5+n:]
	return f, nil
}

// webRequestBody frames msg for a gRPC-Web request.
func webRequestBody(t testing.TB, msg proto.Message, text bool) []byte {
	t.Helper()
	b, err := proto.Marshal(msg)
	require.NoError(t, err)
	frame := make([]byte, 5+len(b))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(b)))
	copy(frame[5:], b)
	if text {
		return []byte(base64.StdEncoding.EncodeToString(frame))
	}
	return frame
}

// webPost sends a gRPC-Web call the way the web SDK does.
func webPost(t testing.TB, ctx context.Context, srv *momentolocal.Server, method string, msg proto.Message, key, origin string, text bool) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+method, bytes.NewReader(webRequestBody(t, msg, text)))
	require.NoError(t, err)
	if text {
		req.Header.Set("Content-Type", "application/grpc-web-text")
		req.Header.Set("Accept", "application/grpc-web-text")
	} else {
		req.Header.Set("Content-Type", "application/grpc-web+proto")
	}
	req.Header.Set("X-Grpc-Web", "1")
	req.Header.Set("authorization", key)
	req.Header.Set("cache", testCache)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// trailerStatus parses a trailer frame into its grpc-status and message.
func trailerStatus(t testing.TB, f webFrame) (string, string) {
	t.Helper()
	require.Equal(t, byte(0x80), f.flag, "trailer frame")
	var code, msg string
	for _, line := range strings.Split(string(f.payload), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(strings.ToLower(k)) {
		case "grpc-status":
			code = strings.TrimSpace(v)
		case "grpc-message":
			msg = strings.TrimSpace(v)
		}
	}
	return code, msg
}

func publishRequest(t testing.TB, topic, text string) *dynamicpb.Message {
	req := newMsg(t, "cache_client.pubsub._PublishRequest", map[string]any{"cache_name": testCache, "topic": topic})
	req.Set(req.Descriptor().Fields().ByName("value"), dynamicpbValue(textValue(t, text)))
	return req
}

func TestGRPCWebPublishSubscribe(t *testing.T) {
	for _, text := range []bool{true, false} {
		t.Run(fmt.Sprintf("text=%v", text), func(t *testing.T) {
			srv := startServer(t, momentolocal.Config{HeartbeatInterval: time.Hour})
			key := rawKey(t, srv, pubSubAll, "web-user")
			ctx := ctxT(t)
			const origin = "http://localhost:5173"

			subReq := newMsg(t, "cache_client.pubsub._SubscriptionRequest", map[string]any{"cache_name": testCache, "topic": "chat"})
			resp := webPost(t, ctx, srv, "/cache_client.pubsub.Pubsub/Subscribe", subReq, key, origin, text)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "grpc-status")
			wantCT := "application/grpc-web+proto"
			if text {
				wantCT = "application/grpc-web-text+proto"
			}
			assert.Equal(t, wantCT, resp.Header.Get("Content-Type"))
			sub := &webReader{r: bufio.NewReader(resp.Body), text: text}

			item := dynamicpb.NewMessage(msgDesc(t, "cache_client.pubsub._SubscriptionItem"))
			f, err := sub.next()
			require.NoError(t, err)
			require.NoError(t, proto.Unmarshal(f.payload, item))
			assert.Equal(t, "heartbeat", decodeSubscriptionItem(item).kind)

			for i := 1; i <= 3; i++ {
				pub := webPost(t, ctx, srv, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, "chat", fmt.Sprint("hi ", i)), key, origin, text)
				pr := &webReader{r: bufio.NewReader(pub.Body), text: text}
				f, err := pr.next()
				require.NoError(t, err)
				assert.Equal(t, byte(0), f.flag, "the empty response message")
				f, err = pr.next()
				require.NoError(t, err)
				code, _ := trailerStatus(t, f)
				assert.Equal(t, "0", code)
			}
			for i := 1; i <= 3; i++ {
				f, err := sub.next()
				require.NoError(t, err)
				item := dynamicpb.NewMessage(msgDesc(t, "cache_client.pubsub._SubscriptionItem"))
				require.NoError(t, proto.Unmarshal(f.payload, item))
				ev := decodeSubscriptionItem(item)
				assert.Equal(t, subEvent{kind: "item", seq: uint64(i), page: ev.page, text: fmt.Sprint("hi ", i), publisherID: "web-user"}, ev)
			}
		})
	}
}

func TestGRPCWebErrors(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ctx := ctxT(t)
	readOnly := rawKey(t, srv, momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{}), "ro")

	tests := []struct {
		name, key, topic string
		wantCode         string
		wantMsg          string
	}{
		{"no key", "", "t", "16", "no api key"},
		{"forged key", "abc.def.ghi", "t", "16", "invalid api key"},
		{"subscribe-only publishes", readOnly, "t", "7", "Insufficient permissions"},
		{"empty topic", srv.RootAPIKey(), "", "3", "topic name is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := webPost(t, ctx, srv, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, tc.topic, "x"), tc.key, "", true)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			f, err := (&webReader{r: bufio.NewReader(resp.Body), text: true}).next()
			require.NoError(t, err)
			code, msg := trailerStatus(t, f)
			assert.Equal(t, tc.wantCode, code)
			assert.Contains(t, msg, tc.wantMsg)
			if tc.key != "" {
				assert.NotContains(t, msg, tc.key, "errors never echo the key")
			}
		})
	}

	// Status messages are percent-encoded outside printable ASCII.
	nonASCII := newMsg(t, "cache_client.pubsub._PublishRequest", map[string]any{"cache_name": "café", "topic": "t"})
	nonASCII.Set(nonASCII.Descriptor().Fields().ByName("value"), dynamicpbValue(textValue(t, "x")))
	resp0 := webPost(t, ctx, srv, "/cache_client.pubsub.Pubsub/Publish", nonASCII, srv.RootAPIKey(), "", true)
	f, err := (&webReader{r: bufio.NewReader(resp0.Body), text: true}).next()
	require.NoError(t, err)
	code, msg := trailerStatus(t, f)
	assert.Equal(t, "5", code)
	assert.Contains(t, msg, `"caf%C3%A9" not found`)

	// Unknown method: a trailers-only UNIMPLEMENTED answer naming it.
	resp := webPost(t, ctx, srv, "/cache_client.Scs/DictionaryFetch", publishRequest(t, "t", "x"), srv.RootAPIKey(), "", true)
	assert.Equal(t, "12", resp.Header.Get("grpc-status"))
	assert.Contains(t, resp.Header.Get("grpc-message"), "/cache_client.Scs/DictionaryFetch")

	// Not gRPC-Web.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/cache_client.pubsub.Pubsub/Publish", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = r2.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, r2.StatusCode)

	// GET is not a call.
	r3, err := http.Get(srv.URL() + "/cache_client.pubsub.Pubsub/Publish")
	require.NoError(t, err)
	_ = r3.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, r3.StatusCode)

	// Malformed base64 body.
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/cache_client.pubsub.Pubsub/Publish", strings.NewReader("!!!!"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/grpc-web-text")
	r4, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = r4.Body.Close()
	assert.Equal(t, "3", r4.Header.Get("grpc-status"))
}

func TestGRPCWebCORS(t *testing.T) {
	tests := []struct {
		name      string
		allowed   []string
		origin    string
		reqHeader string
		wantCode  int
		wantACAO  bool
	}{
		{"default allows localhost any port", nil, "http://localhost:5173", "authorization,cache,content-type,x-grpc-web,x-user-agent,agent,runtime-version,grpc-timeout", 204, true},
		{"default allows 127.0.0.1", nil, "http://127.0.0.1:8080", "authorization", 204, true},
		{"default allows [::1]", nil, "http://[::1]:3000", "authorization", 204, true},
		{"default refuses other hosts", nil, "http://evil.example:5173", "authorization", 403, false},
		{"default refuses https localhost", nil, "https://localhost:5173", "authorization", 403, false},
		{"default refuses look-alike", nil, "http://localhost.evil.example:80", "authorization", 403, false},
		{"default refuses null", nil, "null", "authorization", 403, false},
		{"exact origin", []string{"https://app.example.com"}, "https://app.example.com", "authorization", 204, true},
		{"exact origin, other port", []string{"https://app.example.com"}, "https://app.example.com:8443", "authorization", 403, false},
		{"exact origin excludes loopback", []string{"https://app.example.com"}, "http://localhost:5173", "authorization", 403, false},
		{"empty list allows no origin", []string{}, "http://localhost:5173", "authorization", 403, false},
		{"unknown request header", nil, "http://localhost:5173", "authorization,x-secret", 403, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, momentolocal.Config{AllowedOrigins: tc.allowed})
			req, err := http.NewRequestWithContext(ctxT(t), http.MethodOptions, srv.URL()+"/cache_client.pubsub.Pubsub/Subscribe", nil)
			require.NoError(t, err)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", tc.reqHeader)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tc.wantCode, resp.StatusCode)
			if tc.wantACAO {
				assert.Equal(t, tc.origin, resp.Header.Get("Access-Control-Allow-Origin"))
				assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "authorization")
				assert.Contains(t, resp.Header.Values("Vary"), "Origin")
			} else if resp.StatusCode == http.StatusForbidden && !strings.Contains(tc.name, "request header") {
				assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}

	// A call from a refused origin is not run.
	srv := startServer(t, momentolocal.Config{})
	resp := webPost(t, ctxT(t), srv, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, "t", "x"), srv.RootAPIKey(), "http://evil.example", true)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestStartRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]momentolocal.Config{
		"origin with path":      {AllowedOrigins: []string{"http://localhost:3000/app"}},
		"origin without scheme": {AllowedOrigins: []string{"localhost:3000"}},
		"origin other scheme":   {AllowedOrigins: []string{"ftp://localhost"}},
		"empty cache name":      {Caches: []string{""}},
		"wildcard cache name":   {Caches: []string{"*"}},
		"short signing key":     {SigningKey: []byte("short")},
		"endpoint with scheme":  {Endpoint: "https://momento.test"},
		"endpoint with path":    {Endpoint: "momento.test/x"},
		"negative quota":        {TokenQuota: -1},
		"TLS without a cert":    {TLS: &tls.Config{}},
		"short admin secret":    {AdminSecret: "0123456789"},
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := momentolocal.Start(cfg)
			if err == nil {
				_ = srv.Close()
			}
			assert.ErrorIs(t, err, momentolocal.ErrInvalidConfig)
		})
	}
	_, err := momentolocal.Start(momentolocal.Config{Addr: "not an address"})
	assert.Error(t, err)
	assert.NotErrorIs(t, err, momentolocal.ErrInvalidConfig, "a listen error is not a config error")
}

func dynamicpbValue(m *dynamicpb.Message) protoreflect.Value { return protoreflect.ValueOfMessage(m) }
