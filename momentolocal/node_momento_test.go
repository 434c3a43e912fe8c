package momentolocal_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/momentolocal"
)

// restartable is an emulator that the Node tests can restart (an outage)
// through a control server on loopback.
type restartable struct {
	mu  sync.Mutex
	srv *momentolocal.Server
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
	cs := httptest.NewServer(mux)
	t.Cleanup(cs.Close)
	return cs
}

// TestNodeSDKMomentoBehaviour runs nodetest/momento.test.cjs: the
// behaviour the Node SDK expects of Momento (limits, quota, the cache and
// control planes, discontinuities), in one node process.
func TestNodeSDKMomentoBehaviour(t *testing.T) {
	node := requireNode(t)
	srv, err := momentolocal.Start(momentolocal.Config{})
	require.NoError(t, err)
	r := &restartable{srv: srv}
	t.Cleanup(func() { require.NoError(t, r.current().Close()) })
	cs := r.controlServer(t)

	runNodeEnv(t, node, "momento.test.cjs",
		"MOMENTOLOCAL_ADDR="+srv.Addr(),
		"MOMENTOLOCAL_ROOT_KEY="+srv.RootAPIKey(),
		"MOMENTOLOCAL_CONTROL="+cs.URL,
	)
}
