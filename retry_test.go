package tvm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryOptionsValidation(t *testing.T) {
	for _, o := range []RetryOptions{
		{Attempts: -1}, {Attempts: 11}, {BaseDelay: -time.Millisecond}, {BaseDelay: 2 * time.Second, MaxDelay: time.Second},
	} {
		_, err := NewHandler(Config{Authenticator: Open(), Scopes: StaticScope(htScope), Vendor: &htVendor{}, Retry: o})
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err %v", o, err)
		}
	}
	o, err := RetryOptions{}.withDefaults()
	if err != nil || o.Attempts != DefaultRetryAttempts || o.BaseDelay != DefaultRetryBaseDelay || o.MaxDelay != DefaultRetryMaxDelay {
		t.Errorf("defaults %+v, %v", o, err)
	}
}

func TestRetryBackoffBounds(t *testing.T) {
	o := RetryOptions{Attempts: 10, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	for n := 1; n < 10; n++ {
		limit := min(o.MaxDelay, o.BaseDelay<<(n-1))
		var maxSeen time.Duration
		for range 200 {
			d := o.backoff(n)
			if d < 0 || d > limit {
				t.Fatalf("retry %d: wait %s outside [0, %s]", n, d, limit)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < limit/2 { // jitter spreads over the whole range
			t.Errorf("retry %d: largest of 200 waits %s, limit %s", n, maxSeen, limit)
		}
	}
	if d := (RetryOptions{BaseDelay: time.Hour, MaxDelay: time.Hour}).backoff(63); d < 0 || d > time.Hour {
		t.Errorf("overflowing shift: %s", d)
	}
}

// TestRetry runs the handler against vendors failing in each way and
// counts the upstream calls.
func TestRetry(t *testing.T) {
	unavailable := &VendError{Kind: ErrUpstreamUnavailable, Code: "UNAVAILABLE", Err: errors.New("down")}
	tests := []struct {
		name     string
		retry    RetryOptions
		failures int   // calls failing before success (-1: all)
		err      error // the failure
		status   int
		calls    int64
	}{
		{"unavailable twice then ok", RetryOptions{}, 2, unavailable, 200, 3},
		{"unavailable always", RetryOptions{}, -1, unavailable, 503, DefaultRetryAttempts},
		{"unavailable, retries off", RetryOptions{Attempts: 1}, -1, unavailable, 503, 1},
		{"unavailable, 5 attempts", RetryOptions{Attempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, 4, unavailable, 200, 5},
		{"rejected: no retry", RetryOptions{}, -1, &VendError{Kind: ErrUpstreamRejected, Code: "PERMISSION_ERROR", Err: errors.New("no")}, 502, 1},
		{"timeout: no retry", RetryOptions{}, -1, &VendError{Kind: ErrUpstreamTimeout, Err: context.DeadlineExceeded}, 504, 1},
		{"closed vendor: no retry", RetryOptions{}, -1, &VendError{Kind: ErrUpstreamUnavailable, Code: "CLOSED", Err: errors.New("closed")}, 503, 1},
		{"unclassified: no retry", RetryOptions{}, -1, errors.New("?"), 500, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			vendor := VendorFunc(func(context.Context, Grant) (Token, error) {
				if n := calls.Add(1); tt.failures < 0 || n <= int64(tt.failures) {
					return Token{}, tt.err
				}
				return Token{AuthToken: "t", ExpiresAt: htNow.Add(time.Minute)}, nil
			})
			h, _, _ := htSetup(t, Config{Vendor: vendor, Retry: tt.retry})
			w := htDo(h, http.MethodGet, "/token", nil)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 503 && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if c := calls.Load(); c != tt.calls {
				t.Errorf("%d upstream calls, want %d", c, tt.calls)
			}
		})
	}
}

// TestRetryWithinVendTimeout: retries never extend the vend past its
// timeout.
func TestRetryWithinVendTimeout(t *testing.T) {
	var calls atomic.Int64
	vendor := VendorFunc(func(context.Context, Grant) (Token, error) {
		calls.Add(1)
		return Token{}, &VendError{Kind: ErrUpstreamUnavailable, Err: errors.New("down")}
	})
	// Each wait is uniform in [0, 100 ms]: the first retry always fits in the
	// timeout, and all nine waits of ten attempts fit in it with a
	// probability of about 1e-4 (Irwin-Hall), so the deadline, not the
	// attempt count, ends the retries.
	const timeout = 150 * time.Millisecond
	h, _, _ := htSetup(t, Config{Vendor: vendor, VendTimeout: timeout,
		Retry: RetryOptions{Attempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 100 * time.Millisecond}})
	start := time.Now()
	w := htDo(h, http.MethodGet, "/token", nil)
	elapsed := time.Since(start)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d", w.Code)
	}
	if elapsed > timeout+100*time.Millisecond {
		t.Errorf("took %s with a vend timeout of %s", elapsed, timeout)
	}
	if c := calls.Load(); c < 2 || c >= 10 {
		t.Errorf("%d calls: want some retries, stopped by the deadline", c)
	}
}

// TestRetryStopsWhenRequestEnds: a request whose client went away is not
// retried (reuse off: the request's own context bounds the vend).
func TestRetryStopsWhenRequestEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	vendor := VendorFunc(func(context.Context, Grant) (Token, error) {
		calls.Add(1)
		cancel()
		return Token{}, &VendError{Kind: ErrUpstreamUnavailable, Err: errors.New("down")}
	})
	h, _, _ := htSetup(t, Config{Vendor: vendor, Reuse: ReuseOptions{Disabled: true}})
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/token", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if c := calls.Load(); c != 1 {
		t.Errorf("%d calls after the client left, want 1", c)
	}
}
