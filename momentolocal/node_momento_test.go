package momentolocal_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/internal/testenv"
	"github.com/tvmgo/tvm/momentolocal"
)

// restartable is an emulator that the Node tests can restart (an outage)
// through a control server on loopback.
type restartable struct {
	mu    sync.Mutex
	srv   *momentolocal.Server
	clock *testenv.Clock // the quota emulator's clock
}

func (r *restartable) current() *momentolocal.Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv
}

// controlServer serves, for the Node tests:
//
//	POST /restart          Close the emulator and Start it again with its Config
//	POST /stall-subscribe  delay the next Subscribe call by 1.5 s, then close
//	                       every connection
//	POST /quota-advance    move the quota emulator's clock by one second
func (r *restartable) controlServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		cfg := r.srv.Config()
		if err := r.srv.Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		srv, err := momentolocal.Start(cfg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.srv = srv
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /stall-subscribe", func(w http.ResponseWriter, _ *http.Request) {
		srv := r.current()
		if _, err := srv.Faults().Add(momentolocal.Fault{Method: "Subscribe", Latency: 1500 * time.Millisecond, Count: 1}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		srv.Faults().CloseConnections()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /quota-advance", func(w http.ResponseWriter, _ *http.Request) {
		r.clock.Advance(time.Second)
		w.WriteHeader(http.StatusNoContent)
	})
	cs := httptest.NewServer(mux)
	t.Cleanup(cs.Close)
	return cs
}

// TestNodeSDKMomentoBehaviour runs nodetest/momento.test.cjs and
// momento-web.test.cjs: the behaviour the Node and web SDKs expect of
// Momento (token limits, the quota, the cache and control planes, topic
// limits and discontinuities, v2 keys over TLS), in one `node --test`.
func TestNodeSDKMomentoBehaviour(t *testing.T) {
	node := requireNode(t)
	srv, err := momentolocal.Start(momentolocal.Config{})
	require.NoError(t, err)
	r := &restartable{srv: srv}
	t.Cleanup(func() { require.NoError(t, r.current().Close()) })

	// The quota emulator's clock moves only on POST /quota-advance, so
	// that "3 per second" does not depend on how fast node runs.
	clock := testenv.NewClock(time.Now())
	quota := startServer(t, momentolocal.Config{TokenQuota: 3, RequireAPIKey: true, Now: clock.Now})
	r.clock = clock
	cs := r.controlServer(t)
	web := startServer(t, momentolocal.Config{})

	env := []string{
		"MOMENTOLOCAL_WEB_URL=" + web.URL(),
		"MOMENTOLOCAL_WEB_ROOT_KEY=" + web.RootAPIKey(),
		"MOMENTOLOCAL_ADDR=" + srv.Addr(),
		"MOMENTOLOCAL_ROOT_KEY=" + srv.RootAPIKey(),
		"MOMENTOLOCAL_CONTROL=" + cs.URL,
		"MOMENTOLOCAL_QUOTA_ADDR=" + quota.Addr(),
		"MOMENTOLOCAL_QUOTA_ROOT_KEY=" + quota.RootAPIKey(),
	}
	var hosts string
	if h, ok := testenv.Hosts(t, testHostNames...); ok {
		hosts = h
		ca := testenv.NewCA(t, testHostNames...)
		tlsSrv := startWithEndpoint(t, momentolocal.Config{TLS: testenv.ServerTLS(t, ca.Dir), RequireAPIKey: true})
		env = append(env,
			"MOMENTOLOCAL_TLS_ENDPOINT="+tlsSrv.Endpoint(),
			"MOMENTOLOCAL_TLS_ROOT_KEY_V2="+tlsSrv.RootAPIKeyV2(),
			"MOMENTOLOCAL_TLS_ROOT_KEY="+tlsSrv.RootAPIKey(),
			"NODE_EXTRA_CA_CERTS="+ca.CAFile,
			"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH="+ca.CAFile,
		)
		t.Cleanup(func() {
			if !t.Failed() {
				assert.Contains(t, tokenRequestsByID(tlsSrv), "node-v2", "the v2 key vended over TLS")
				assert.Contains(t, tokenRequestsByID(tlsSrv), "web-v2", "the v2 key vended over https")
			}
		})
	}
	runNodeEnvHosts(t, node, hosts, []string{"momento.test.cjs", "momento-web.test.cjs"}, env...)

	reqs := tokenRequestsByID(r.current())
	assert.Equal(t, 25*time.Hour, reqs["node-25h"].ValidFor)
	assert.NotContains(t, reqs, "node-25h1s")
	assert.Contains(t, reqs, strings.Repeat("é", 64))
	assert.Len(t, quota.TokenRequests(), 6, "3 per quota second, two seconds")
}

// startWithEndpoint starts an emulator whose Config.Endpoint is
// testHostDomain with the emulator's port, as a Momento region's endpoint
// would be (the SDKs then dial cache.<endpoint> and so on). The port is
// found by a first start.
func startWithEndpoint(t *testing.T, cfg momentolocal.Config) *momentolocal.Server {
	t.Helper()
	first, err := momentolocal.Start(cfg)
	require.NoError(t, err)
	cfg = first.Config()
	require.NoError(t, first.Close())
	_, p, err := net.SplitHostPort(cfg.Addr)
	require.NoError(t, err)
	cfg.Endpoint = testHostDomain + ":" + p
	return startServer(t, cfg)
}

// testHostNames are the names the SDKs derive from the test endpoint: the
// native SDKs dial cache., control. and token.<endpoint>; the web SDK
// web.cache., web.control. and web.token.<endpoint>.
var testHostNames = []string{
	testHostDomain,
	"cache." + testHostDomain, "control." + testHostDomain, "token." + testHostDomain,
	"web.cache." + testHostDomain, "web.control." + testHostDomain, "web.token." + testHostDomain,
}
