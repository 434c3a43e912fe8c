package momentolocal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

func TestFaultFailNextThroughSDK(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)
	scope := momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{})

	id, err := srv.Faults().FailNext("GenerateDisposableToken", codes.ResourceExhausted, 2)
	require.NoError(t, err)
	for range 2 {
		_, err = vend(t, ac, scope, utils.ExpiresInMinutes(1), "x")
		assert.Equal(t, momento.LimitExceededError, momentoErrorCode(err), "%v", err)
	}
	_, err = vend(t, ac, scope, utils.ExpiresInMinutes(1), "x")
	require.NoError(t, err, "the fault is spent after 2 calls")
	assert.Len(t, srv.TokenRequests(), 1, "failed calls never reach the service")
	assert.Empty(t, srv.Faults().List())
	assert.False(t, srv.Faults().Remove(id))
}

func TestFaultLatency(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	cc := cacheClient(t, srv, srv.RootAPIKey())
	id, err := srv.Faults().SetLatency("/cache_client.Scs/Set", 300*time.Millisecond)
	require.NoError(t, err)

	set := func(ctx context.Context) error {
		_, err := cc.Set(ctx, &momento.SetRequest{CacheName: testCache, Key: momento.String("k"), Value: momento.String("v")})
		return err
	}
	start := time.Now()
	require.NoError(t, set(ctxT(t)))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = set(short)
	assert.Contains(t, []string{momento.TimeoutError, momento.CanceledError}, momentoErrorCode(err), "%v", err)

	// Other methods are not delayed.
	start = time.Now()
	_, err = cc.Get(ctxT(t), &momento.GetRequest{CacheName: testCache, Key: momento.String("k")})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 250*time.Millisecond)

	list := srv.Faults().List()
	require.Len(t, list, 1)
	assert.Equal(t, 2, list[0].Hits)
	require.True(t, srv.Faults().Remove(id))
	start = time.Now()
	require.NoError(t, set(ctxT(t)))
	assert.Less(t, time.Since(start), 250*time.Millisecond)
}

func TestFaultFraction(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	ctx := ctxT(t)
	_, err := srv.Faults().FailFraction("Get", codes.Unavailable, 0.5)
	require.NoError(t, err)
	const calls = 400
	failed := 0
	for range calls {
		switch err := c.get(t, ctx, testCache, "k"); status.Code(err) {
		case codes.OK:
		case codes.Unavailable:
			failed++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	// Binomial(400, 0.5): outside [120, 280] has probability < 1e-15.
	assert.InDelta(t, calls/2, failed, 80, "failed %d of %d", failed, calls)
	srv.Faults().Reset()
	require.NoError(t, c.get(t, ctx, testCache, "k"))
}

func TestFaultCloseConnection(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	ctx := ctxT(t)
	sub, err := c.subscribe(t, ctx, testCache, "t", 0, 0)
	require.NoError(t, err)
	_, err = sub.recv()
	require.NoError(t, err)

	_, err = srv.Faults().Add(momentolocal.Fault{Method: "Get", CloseConnection: true, Count: 1})
	require.NoError(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(c.get(t, ctx, testCache, "k")))
	_, err = sub.recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "the subscription on the closed connection ends: %v", err)
	require.Eventually(t, func() bool { return c.get(t, ctx, testCache, "k") == nil }, 10*time.Second, 20*time.Millisecond,
		"the client reconnects")

	// Closing every connection from Go.
	sub, err = c.subscribe(t, ctx, testCache, "t", 0, 0)
	require.NoError(t, err)
	_, err = sub.recv()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, srv.Faults().CloseConnections(), 1)
	_, err = sub.recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}

func TestFaultValidation(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	f := srv.Faults()
	for name, fault := range map[string]momentolocal.Fault{
		"unknown method":      {Method: "DictionaryFetch", Code: codes.Internal},
		"unknown full method": {Method: "/cache_client.Scs/DictionaryFetch", Code: codes.Internal},
		"no effect":           {Method: "Get"},
		"negative latency":    {Latency: -time.Second},
		"bad fraction":        {Code: codes.Internal, Fraction: 1.5},
		"negative count":      {Code: codes.Internal, Count: -1},
		"bad code":            {Code: codes.Code(99)},
	} {
		_, err := f.Add(fault)
		assert.Error(t, err, name)
	}
	_, err := f.FailNext("Get", codes.Internal, 0)
	assert.Error(t, err)
	_, err = f.FailFraction("Get", codes.Internal, 0)
	assert.Error(t, err)
	assert.Empty(t, f.List())

	// "" and "*" mean every method.
	_, err = f.Add(momentolocal.Fault{Method: "*", Code: codes.Internal, Count: 1})
	require.NoError(t, err)
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	assert.Equal(t, codes.Internal, status.Code(c.publish(t, ctxT(t), testCache, "t", "x")))
}

func TestFaultGRPCWeb(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	_, err := srv.Faults().FailNext("Publish", codes.Unavailable, 1)
	require.NoError(t, err)
	resp := webPost(t, ctxT(t), srv, "/cache_client.pubsub.Pubsub/Publish", publishRequest(t, "t", "x"), srv.RootAPIKey(), "", true)
	f, err := (&webReader{r: bufio.NewReader(resp.Body), text: true}).next()
	require.NoError(t, err)
	code, msg := trailerStatus(t, f)
	assert.Equal(t, "14", code)
	assert.Equal(t, "injected fault", msg)
}

// adminDo sends one request to srv's admin handler as a loopback client
// with the admin secret.
func adminDo(t *testing.T, srv *momentolocal.Server, h http.Handler, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	req.Host = "127.0.0.1:9000"
	req.Header.Set("Authorization", "Bearer "+srv.AdminSecret())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var obj map[string]any
	if strings.HasPrefix(strings.TrimSpace(rec.Body.String()), "{") {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &obj))
	}
	return rec, obj
}

func TestAdminHandler(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	h := srv.AdminHandler()
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	ctx := ctxT(t)

	rec, obj := adminDo(t, srv, h, http.MethodPost, "/faults", `{"method":"Get","code":"PERMISSION_DENIED","count":1,"message":"nope"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	id := int(obj["id"].(float64))
	rec, _ = adminDo(t, srv, h, http.MethodPost, "/faults", `{"method":"Publish","latency":"10ms","code":"14"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	rec, _ = adminDo(t, srv, h, http.MethodGet, "/faults", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list, 2)
	assert.Equal(t, "/cache_client.Scs/Get", list[0]["method"])
	assert.Equal(t, "PERMISSION_DENIED", list[0]["code"])
	assert.Equal(t, "UNAVAILABLE", list[1]["code"])
	assert.Equal(t, "10ms", list[1]["latency"])

	err := c.get(t, ctx, testCache, "k")
	assert.Equal(t, codes.PermissionDenied, status.Code(err))
	assert.Equal(t, "nope", status.Convert(err).Message())
	require.NoError(t, c.get(t, ctx, testCache, "k"))
	rec, _ = adminDo(t, srv, h, http.MethodDelete, "/faults/"+strconv.Itoa(id), "")
	assert.Equal(t, http.StatusNotFound, rec.Code, "a spent rule is gone")

	assert.Equal(t, codes.Unavailable, status.Code(c.publish(t, ctx, testCache, "t", "x")))
	rec, _ = adminDo(t, srv, h, http.MethodDelete, "/faults", "")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	require.NoError(t, c.publish(t, ctx, testCache, "t", "x"))

	rec, obj = adminDo(t, srv, h, http.MethodPost, "/connections/close", "")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.GreaterOrEqual(t, obj["closed"], float64(1))

	_ = token(t, srv, pubSubAll, utils.ExpiresInMinutes(5), "alice")
	rec, _ = adminDo(t, srv, h, http.MethodGet, "/token-requests", "")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `[{"tokenId":"alice","validForSeconds":300,"permissions":[{"role":"publishsubscribe","cache":"default-cache","topic":"*"}]}]`, rec.Body.String())

	for name, tc := range map[string]struct {
		method, path, body string
		want               int
	}{
		"bad json":       {http.MethodPost, "/faults", `{`, 400},
		"unknown field":  {http.MethodPost, "/faults", `{"code":"INTERNAL","extra":1}`, 400},
		"trailing data":  {http.MethodPost, "/faults", `{"code":"INTERNAL"} {}`, 400},
		"bad code":       {http.MethodPost, "/faults", `{"code":"TEAPOT"}`, 400},
		"bad latency":    {http.MethodPost, "/faults", `{"latency":"soon"}`, 400},
		"invalid fault":  {http.MethodPost, "/faults", `{"method":"Get"}`, 400},
		"bad id":         {http.MethodDelete, "/faults/x", ``, 400},
		"unknown path":   {http.MethodGet, "/secrets", ``, 404},
		"wrong method":   {http.MethodPut, "/faults", `{}`, 405},
		"too large body": {http.MethodPost, "/faults", `{"message":"` + strings.Repeat("a", 70<<10) + `"}`, 400},
	} {
		rec, _ := adminDo(t, srv, h, tc.method, tc.path, tc.body)
		assert.Equal(t, tc.want, rec.Code, name)
	}
	assert.Empty(t, srv.Faults().List(), "refused requests add nothing")

	// Only loopback clients.
	req := httptest.NewRequest(http.MethodPost, "/connections/close", nil) // RemoteAddr 192.0.2.1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusForbidden, rec.Code)
}
