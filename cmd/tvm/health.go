package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Readiness check timing.
const (
	readyInterval    = 5 * time.Second // a result is reused this long
	readyDialTimeout = 2 * time.Second
)

// readiness answers /readyz: ready when the configuration is loaded (it is,
// once the server runs), the process is not shutting down, and Momento's
// token endpoint accepts a TCP connection. The dial runs at most once per
// readyInterval whatever the probe rate; concurrent probes share it.
type readiness struct {
	target string // host:port of the token endpoint
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	now    func() time.Time
	log    *slog.Logger

	draining atomic.Bool // set on SIGTERM: load balancers stop sending

	mu        sync.Mutex
	checkedAt time.Time
	err       error
}

func newReadiness(target string, log *slog.Logger) *readiness {
	d := &net.Dialer{}
	return &readiness{target: target, dial: d.DialContext, now: time.Now, log: log}
}

var errDraining = errors.New("shutting down")

// check returns nil when ready.
func (r *readiness) check(ctx context.Context) error {
	if r.draining.Load() {
		return errDraining
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checkedAt.IsZero() && r.now().Sub(r.checkedAt) < readyInterval {
		return r.err
	}
	err := r.probe(ctx)
	if (err == nil) != (r.err == nil) || r.checkedAt.IsZero() {
		if err != nil {
			r.log.Warn("momento token endpoint unreachable", "endpoint", r.target, "error", err)
		} else if !r.checkedAt.IsZero() {
			r.log.Info("momento token endpoint reachable again", "endpoint", r.target)
		}
	}
	r.checkedAt, r.err = r.now(), err
	return err
}

func (r *readiness) probe(ctx context.Context) error {
	host, _, err := net.SplitHostPort(r.target)
	if err != nil || host == "" {
		return errors.New("token endpoint unknown (the API key names no endpoint)")
	}
	ctx, cancel := context.WithTimeout(ctx, readyDialTimeout)
	defer cancel()
	c, err := r.dial(ctx, "tcp", r.target)
	if err != nil {
		return err
	}
	return c.Close()
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !getOrHead(w, req) {
		return
	}
	// The probe must not outlive a disconnected caller, nor be cancelled
	// by one in a way that poisons the cache for the next probes.
	ctx := context.WithoutCancel(req.Context())
	if err := r.check(ctx); err != nil {
		reason := "momento token endpoint unreachable"
		if errors.Is(err, errDraining) {
			reason = "shutting down"
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// healthz answers /healthz: the process is up and serving.
func healthz(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// getOrHead answers 405 to anything but GET and HEAD.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "use GET"})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
