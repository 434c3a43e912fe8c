package tvm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	auth_responses "github.com/momentohq/client-sdk-go/responses/auth"
)

// Retries live in MomentoVendor, which knows Momento's error codes; the
// handler never retries (see TestHandlerResponses).

func TestRetryOptionsValidation(t *testing.T) {
	for _, tt := range []struct {
		o      RetryOptions
		fields []string
	}{
		{RetryOptions{Attempts: -1}, []string{"MomentoVendorConfig.Retry.Attempts"}},
		{RetryOptions{Attempts: 11}, []string{"MomentoVendorConfig.Retry.Attempts"}},
		{RetryOptions{BaseDelay: -time.Millisecond}, []string{"MomentoVendorConfig.Retry"}},
		{RetryOptions{BaseDelay: 2 * time.Second, MaxDelay: time.Second}, []string{"MomentoVendorConfig.Retry"}},
		{RetryOptions{MaxDelay: -time.Second}, []string{"MomentoVendorConfig.Retry"}},
		{RetryOptions{Attempts: 20, BaseDelay: -1}, []string{"MomentoVendorConfig.Retry.Attempts", "MomentoVendorConfig.Retry"}},
	} {
		v, err := NewMomentoVendor(MomentoVendorConfig{APIKey: mtKey, Retry: tt.o})
		if fields := configFields(t, err); v != nil || !slices.Equal(fields, tt.fields) {
			t.Errorf("%+v: %v, %v: fields %q, want %q", tt.o, v, err, fields, tt.fields)
		}
	}
	var probs problems
	o := RetryOptions{}.withDefaults("x", &probs)
	if probs.err() != nil || o.Attempts != 3 || o.BaseDelay != 50*time.Millisecond || o.MaxDelay != time.Second {
		t.Errorf("defaults %+v, %v", o, probs.err())
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

// rtySuccess is the SDK's answer to a successful vend.
var rtySuccess = &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended"}

// TestRetry runs the handler in front of a MomentoVendor whose SDK client
// fails in each way, and counts the SDK calls.
func TestRetry(t *testing.T) {
	unavailable := momento.NewMomentoError(momento.ServerUnavailableError, "down", nil)
	tests := []struct {
		name     string
		retry    RetryOptions
		failures int   // calls failing before success (-1: all)
		err      error // the failure (nil: an unexpected response)
		status   int
		calls    int
	}{
		{"unavailable twice then ok", RetryOptions{}, 2, unavailable, 200, 3},
		{"unavailable always", RetryOptions{}, -1, unavailable, 503, 3},
		{"unavailable, retries off", RetryOptions{Attempts: 1}, -1, unavailable, 503, 1},
		{"unavailable, 5 attempts", RetryOptions{Attempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, 4, unavailable, 200, 5},
		{"internal error is retried", RetryOptions{}, 1, momento.NewMomentoError(momento.InternalServerError, "oops", nil), 200, 2},
		{"rejected: no retry", RetryOptions{}, -1, momento.NewMomentoError(momento.PermissionError, "no", nil), 502, 1},
		{"wrong API key: no retry", RetryOptions{}, -1, momento.NewMomentoError(momento.AuthenticationError, "bad key", nil), 502, 1},
		{"timeout: no retry", RetryOptions{}, -1, momento.NewMomentoError(momento.TimeoutError, "slow", nil), 504, 1},
		{"unexpected response: no retry", RetryOptions{}, -1, nil, 502, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &mtFakeClient{gen: func(_ context.Context, n int) (auth_responses.GenerateDisposableTokenResponse, error) {
				if tt.failures < 0 || n <= tt.failures {
					return nil, tt.err
				}
				return rtySuccess, nil
			}}
			v := newMomentoVendorWithClient(fake, nil, mtRetry(t, tt.retry), nil)
			h, _, _ := htSetup(t, Config{Vendor: v})
			w := htDo(h, http.MethodGet, "/token", nil)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 503 && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if c := fake.calls(); c != tt.calls {
				t.Errorf("%d upstream calls, want %d", c, tt.calls)
			}
		})
	}
}

// TestRetryWithinVendTimeout: retries never extend the vend past its
// timeout.
func TestRetryWithinVendTimeout(t *testing.T) {
	fake := &mtFakeClient{err: momento.NewMomentoError(momento.ServerUnavailableError, "down", nil)}
	// Each wait is uniform in [0, 100 ms]: the first retry always fits in the
	// timeout, and all nine waits of ten attempts fit in it with a
	// probability of about 1e-4 (Irwin-Hall), so the deadline, not the
	// attempt count, ends the retries.
	const timeout = 150 * time.Millisecond
	v := newMomentoVendorWithClient(fake, nil, mtRetry(t, RetryOptions{Attempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 100 * time.Millisecond}), nil)
	h, _, _ := htSetup(t, Config{Vendor: v, VendTimeout: timeout})
	start := time.Now()
	w := htDo(h, http.MethodGet, "/token", nil)
	elapsed := time.Since(start)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d", w.Code)
	}
	if elapsed > timeout+100*time.Millisecond {
		t.Errorf("took %s with a vend timeout of %s", elapsed, timeout)
	}
	if c := fake.calls(); c < 2 || c >= 10 {
		t.Errorf("%d calls: want some retries, stopped by the deadline", c)
	}
}

// TestRetryStopsWhenRequestEnds: a request whose client went away is not
// retried (reuse off: the request's own context bounds the vend), and its
// outcome is "canceled", not a Momento outage.
func TestRetryStopsWhenRequestEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fake := &mtFakeClient{gen: func(context.Context, int) (auth_responses.GenerateDisposableTokenResponse, error) {
		cancel()
		return nil, momento.NewMomentoError(momento.ServerUnavailableError, "down", nil)
	}}
	v := newMomentoVendorWithClient(fake, nil, mtRetry(t, RetryOptions{Attempts: 5, BaseDelay: time.Millisecond}), nil)
	var res Result
	h, _, _ := htSetup(t, Config{Vendor: v, Reuse: ReuseOptions{Disabled: true}, OnResult: func(_ *http.Request, r Result) { res = r }})
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/token", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if c := fake.calls(); c != 1 {
		t.Errorf("%d calls after the client left, want 1", c)
	}
	if w.Code != statusClientClosedRequest || res.Code != CodeCanceled || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("status %d, result %+v; want 499 canceled", w.Code, res)
	}
}
