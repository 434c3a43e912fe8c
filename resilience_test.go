package tvm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
	"google.golang.org/grpc/codes"

	"github.com/tvmgo/tvm/internal/testenv"
)

// Tests of the handler against upstream faults injected into momentolocal,
// through the real SDK vendor. Each checks for goroutine leaks once the
// handler, vendor and emulator are closed.

// rsCountCalls installs a no-op rule that counts the GenerateDisposableToken
// calls reaching srv (before authentication: refused calls count too).
func rsCountCalls(t *testing.T, srv *momentolocal.Server) func() int {
	t.Helper()
	id, err := srv.Faults().Add(momentolocal.Fault{Method: "GenerateDisposableToken", Latency: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return func() int {
		for _, f := range srv.Faults().List() {
			if f.ID == id {
				return f.Hits
			}
		}
		t.Fatal("counting rule vanished")
		return 0
	}
}

func rsServe(h http.Handler) (*httptest.ResponseRecorder, time.Duration) {
	start := time.Now()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token", nil))
	return w, time.Since(start)
}

var rsScope = tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}

// TestUpstreamLatencyBeyondVendTimeout: a Momento slower than the vend
// timeout gives a 504 within the timeout plus a small margin, with reuse
// (the shared call) and without.
func TestUpstreamLatencyBeyondVendTimeout(t *testing.T) {
	rlGoleak(t)
	srv, v := itLocal(t)
	const timeout = 300 * time.Millisecond
	for _, reuse := range []tvm.ReuseOptions{{}, {Disabled: true}} {
		h := itHandler(t, tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, rsScope), Vendor: v, VendTimeout: timeout, Reuse: reuse})
		id, err := srv.Faults().SetLatency("GenerateDisposableToken", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		w, took := rsServe(h)
		if w.Code != http.StatusGatewayTimeout || !strings.Contains(w.Body.String(), tvm.CodeUpstreamTimeout) {
			t.Errorf("reuse %+v: status %d %s", reuse, w.Code, w.Body)
		}
		if took < timeout || took > timeout+300*time.Millisecond {
			t.Errorf("reuse %+v: 504 after %s, want %s plus a small margin", reuse, took, timeout)
		}
		t.Logf("reuse disabled %v: 504 after %s (vend timeout %s)", reuse.Disabled, took.Round(time.Millisecond), timeout)
		srv.Faults().Remove(id)
		if w, _ := rsServe(h); w.Code != http.StatusOK {
			t.Errorf("reuse %+v: after the fault: %d", reuse, w.Code)
		}
	}
}

// TestUpstreamUnavailableRetries: the Momento vendor retries UNAVAILABLE
// with backoff within the vend timeout; when it persists the answer is 503
// with Retry-After after exactly Retry.Attempts calls.
func TestUpstreamUnavailableRetries(t *testing.T) {
	rlGoleak(t)
	srv, _ := itLocal(t)
	calls := rsCountCalls(t, srv)
	const timeout = 2 * time.Second
	v := itVendor(t, srv, srv.RootAPIKey(), tvm.RetryOptions{Attempts: 4, BaseDelay: 20 * time.Millisecond})
	h := itHandler(t, tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, rsScope), Vendor: v, VendTimeout: timeout,
		Reuse: tvm.ReuseOptions{Disabled: true}})

	// Two failures, then Momento answers: the client sees a 200.
	if _, err := srv.Faults().FailNext("GenerateDisposableToken", codes.Unavailable, 2); err != nil {
		t.Fatal(err)
	}
	if w, _ := rsServe(h); w.Code != http.StatusOK {
		t.Errorf("transient UNAVAILABLE: status %d %s", w.Code, w.Body)
	}
	if c := calls(); c != 3 {
		t.Errorf("%d upstream calls, want 3", c)
	}

	// A persistent outage: 4 calls, then 503 with Retry-After, well inside
	// the vend timeout (the waits are at most 20+40+80 ms).
	id, err := srv.Faults().Add(momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.Unavailable})
	if err != nil {
		t.Fatal(err)
	}
	w, took := rsServe(h)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), tvm.CodeUpstreamUnavailable) {
		t.Errorf("persistent UNAVAILABLE: status %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if c := calls(); c != 3+4 {
		t.Errorf("%d upstream calls for the outage, want 4", c-3)
	}
	if took > timeout {
		t.Errorf("503 after %s, beyond the vend timeout", took)
	}
	t.Logf("persistent UNAVAILABLE: 503 after %d calls in %s", calls()-3, took.Round(time.Millisecond))
	srv.Faults().Remove(id)
}

// TestUpstreamRejectedNoRetryStorm: PERMISSION_DENIED, and UNAUTHENTICATED
// for a wrong API key, give a 502 after exactly one upstream call and one
// clear log line.
func TestUpstreamRejectedNoRetryStorm(t *testing.T) {
	rlGoleak(t)
	srv, v := itLocal(t)
	calls := rsCountCalls(t, srv)

	other, err := momentolocal.Start(momentolocal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	wrongKey := itVendor(t, srv, other.RootAPIKey(), tvm.RetryOptions{}) // a key srv never issued

	tests := []struct {
		name   string
		vendor tvm.Vendor
		fault  bool
		code   string // Momento's error code in the log line
	}{
		{"permission denied", v, true, "PermissionError"},
		{"wrong API key", wrongKey, false, "AuthenticationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h, err := tvm.NewHandler(tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, rsScope), Vendor: tt.vendor,
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			if tt.fault {
				id, err := srv.Faults().Add(momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.PermissionDenied})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Faults().Remove(id)
			}
			before := calls()
			w, _ := rsServe(h)
			if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), tvm.CodeUpstreamRejected) {
				t.Errorf("status %d %s, want 502", w.Code, w.Body)
			}
			if c := calls() - before; c != 1 {
				t.Errorf("%d upstream calls, want exactly 1", c)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], `"level":"ERROR"`) || !strings.Contains(lines[0], tt.code) ||
				!strings.Contains(lines[0], "momento rejected the request") {
				t.Errorf("want one clear error line naming %s, got:\n%s", tt.code, logs.String())
			}
			for _, secret := range []string{srv.RootAPIKey(), other.RootAPIKey()} {
				if strings.Contains(logs.String(), secret) || strings.Contains(w.Body.String(), secret) {
					t.Error("an API key leaked")
				}
			}
			// Five more requests: five calls, no retries.
			before = calls()
			for range 5 {
				rsServe(h)
			}
			if c := calls() - before; c != 5 {
				t.Errorf("%d upstream calls for 5 requests, want 5", c)
			}
		})
	}
}

// TestUpstreamRestartDuringLoad closes the emulator during a load run and
// restarts it on the same address: requests fail only while it is down and
// all succeed again after.
func TestUpstreamRestartDuringLoad(t *testing.T) {
	rlGoleak(t)
	srv, v := itLocal(t)
	h := itHandler(t, tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, rsScope), Vendor: v, VendTimeout: time.Second,
		Reuse: tvm.ReuseOptions{Disabled: true}})

	type outcome struct {
		at     time.Time
		status int
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				w, _ := rsServe(h)
				mu.Lock()
				outcomes = append(outcomes, outcome{time.Now(), w.Code})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // load before the outage
	downAt := time.Now()
	cfg := srv.Config()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the outage
	restarted, err := momentolocal.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Close() })
	upAt := time.Now()
	// Wait for recovery (gRPC reconnects with backoff), then keep the load
	// on for another second that must be error free.
	const recoveryBound = 5 * time.Second
	deadline := upAt.Add(recoveryBound)
	var recoveredAt time.Time
	for time.Now().Before(deadline) && recoveredAt.IsZero() {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		if n := len(outcomes); n > 0 && outcomes[n-1].status == http.StatusOK && outcomes[n-1].at.After(upAt) {
			recoveredAt = outcomes[n-1].at
		}
		mu.Unlock()
	}
	if recoveredAt.IsZero() {
		close(stop)
		wg.Wait()
		t.Fatalf("no successful request within %s of the restart", recoveryBound)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	var before, during, after, afterErrors int
	for _, o := range outcomes {
		switch {
		case o.at.Before(downAt):
			before++
			if o.status != http.StatusOK {
				t.Errorf("error %d before the outage", o.status)
			}
		case o.at.Before(recoveredAt):
			during++
			if o.status != http.StatusOK && o.status != http.StatusServiceUnavailable && o.status != http.StatusGatewayTimeout {
				t.Errorf("status %d during the outage, want 503 or 504", o.status)
			}
		default:
			after++
			// Requests already in flight when the restart completed may
			// still fail; none may fail after they finished (vend timeout).
			if o.status != http.StatusOK && o.at.After(recoveredAt.Add(time.Second)) {
				afterErrors++
			}
		}
	}
	t.Logf("before the outage: %d requests; outage and reconnect (%s): %d; after recovery (%s after the restart): %d",
		before, recoveredAt.Sub(downAt).Round(time.Millisecond), during, recoveredAt.Sub(upAt).Round(time.Millisecond), after)
	if before == 0 || after == 0 {
		t.Errorf("load did not run: %d before, %d after", before, after)
	}
	if afterErrors != 0 {
		t.Errorf("%d errors after recovery", afterErrors)
	}
}

// TestUpstreamClientGoneDuringVend: a client that goes away while the real
// SDK call is in flight (Momento slow) gets the "canceled" outcome (499),
// logged at info, not an upstream_unavailable 503 nor a retry storm: with
// reuse off the call ends with the request; with reuse on the shared call
// goes on (bounded by the vend timeout) for whoever else waits. The
// request's own answer comes at once either way.
func TestUpstreamClientGoneDuringVend(t *testing.T) {
	rlGoleak(t)
	srv, _ := itLocal(t)
	calls := rsCountCalls(t, srv)
	v := itVendor(t, srv, srv.RootAPIKey(), tvm.RetryOptions{Attempts: 5, BaseDelay: time.Millisecond})
	for _, reuse := range []tvm.ReuseOptions{{Disabled: true}, {}} {
		t.Run(fmt.Sprintf("reuse disabled %v", reuse.Disabled), func(t *testing.T) {
			id, err := srv.Faults().SetLatency("GenerateDisposableToken", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Faults().Remove(id)
			var logs testenv.SyncBuffer
			var res tvm.Result
			h := itHandler(t, tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, rsScope), Vendor: v,
				VendTimeout: time.Second, Reuse: reuse,
				Logger:   slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnResult: func(_ *http.Request, r tvm.Result) { res = r }})
			before := calls()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan *httptest.ResponseRecorder)
			go func() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/token", nil))
				done <- w
			}()
			for deadline := time.Now().Add(5 * time.Second); calls() == before; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the vend never reached the emulator")
				}
			}
			start := time.Now()
			cancel()
			w := <-done
			took := time.Since(start)
			if w.Code != 499 || !strings.Contains(w.Body.String(), tvm.CodeCanceled) {
				t.Errorf("status %d %s, want 499 canceled", w.Code, w.Body)
			}
			if took > 500*time.Millisecond { // not at the vend timeout, nor after Momento's 5 s
				t.Errorf("answered %s after the client left", took)
			}
			if res.Status != 499 || res.Code != tvm.CodeCanceled || !errors.Is(res.Err, context.Canceled) {
				t.Errorf("result %+v", res)
			}
			out := logs.String()
			if !strings.Contains(out, `"level":"INFO"`) || strings.Contains(out, `"level":"ERROR"`) || strings.Contains(out, tvm.CodeUpstreamUnavailable) {
				t.Errorf("log:\n%s", out)
			}
			if reuse.Disabled {
				if c := calls() - before; c != 1 {
					t.Errorf("%d upstream calls, want 1 (no retry after the client left)", c)
				}
			}
			t.Logf("499 %s after the client left", took.Round(time.Millisecond))
			if !reuse.Disabled {
				time.Sleep(time.Second + 100*time.Millisecond) // the shared call ends with the vend timeout
			}
		})
	}
}

// TestUpstreamClosedVendor: a request through a closed vendor is a 500
// internal error, never a 503 (Momento is fine; the program is not), and
// reaches neither the emulator nor a retry.
func TestUpstreamClosedVendor(t *testing.T) {
	rlGoleak(t)
	srv, _ := itLocal(t)
	calls := rsCountCalls(t, srv)
	v := itVendor(t, srv, srv.RootAPIKey(), tvm.RetryOptions{Attempts: 5, BaseDelay: time.Millisecond})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	h := itHandler(t, tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, rsScope), Vendor: v})
	w, _ := rsServe(h)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error":"internal"`) || w.Header().Get("Retry-After") != "" {
		t.Errorf("status %d %s (Retry-After %q), want 500 internal", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if c := calls(); c != 0 {
		t.Errorf("%d upstream calls through a closed vendor", c)
	}
}
