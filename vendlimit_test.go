package tvm

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
)

// TestThrottledVendThroughTheHandler: Momento's token service refusing a
// vend for the auth quota (LIMIT_EXCEEDED / RESOURCE_EXHAUSTED) is its own
// outcome, upstream_throttled: one call, never retried inside the request,
// 503 with the Retry-After of the quota's one-second window (not the
// handler's default).
func TestThrottledVendThroughTheHandler(t *testing.T) {
	fake := &mtFakeClient{err: momento.NewMomentoError(momento.ClientSdkError, "SDK Failed to process the request.",
		momento.NewMomentoError(momento.LimitExceededError, "Request rate limit exceeded", nil))}
	v := newMomentoVendorWithClient(fake, nil, mtRetry(t, RetryOptions{Attempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}), nil)
	h, _, logs := htSetup(t, Config{Vendor: v, RetryAfter: 10 * time.Second})
	var res Result
	h.onResult = func(_ *http.Request, r Result) { res = r }
	w := htDo(h, http.MethodGet, "/token", nil)
	htCheckError(t, w, http.StatusServiceUnavailable, CodeUpstreamThrottled)
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1 (Momento's quota window)", got)
	}
	if n := fake.calls(); n != 1 {
		t.Errorf("%d calls to Momento, want 1: throttling is never retried", n)
	}
	if res.Code != CodeUpstreamThrottled || res.Source != sourceVended {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(logs.String(), `"outcome":"upstream_throttled"`) {
		t.Errorf("log has no upstream_throttled outcome:\n%s", logs)
	}
}

// vlSetup is a handler whose callers are named by ?u=, under a vend
// ceiling of 2 vends per second with a burst of 1.
func vlSetup(t *testing.T, wait time.Duration) (*Handler, *htVendor) {
	lim, err := NewMemoryRateLimiter(MemoryRateLimitConfig{PerSecond: 2, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	h, v, _ := htSetup(t, Config{
		Authenticator: AuthenticatorFunc(func(r *http.Request) (Identity, error) {
			return Identity{Subject: r.URL.Query().Get("u"), Method: "test"}, nil
		}),
		VendLimit:     lim,
		VendLimitWait: wait,
	})
	return h, v
}

// TestVendLimit: the vend ceiling counts calls to the vendor only (a
// reused token costs no slot), waits up to VendLimitWait for a slot, and
// sheds what cannot get one in time with 503 upstream_throttled and a
// Retry-After, without calling the vendor.
func TestVendLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, v := vlSetup(t, 100*time.Millisecond)
		if w := htDo(h, http.MethodGet, "/token?u=a", nil); w.Code != http.StatusOK {
			t.Fatalf("first vend: %d %s", w.Code, w.Body)
		}
		// The same caller again: reused, no slot needed.
		for range 5 {
			if w := htDo(h, http.MethodGet, "/token?u=a", nil); w.Code != http.StatusOK {
				t.Fatalf("reuse: %d %s", w.Code, w.Body)
			}
		}
		// Another caller: the next slot is 500 ms away, beyond the 100 ms
		// it may wait: shed at once.
		start := time.Now()
		w := htDo(h, http.MethodGet, "/token?u=b", nil)
		htCheckError(t, w, http.StatusServiceUnavailable, CodeUpstreamThrottled)
		if got := w.Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("waited %s for a slot it could not get in time", waited)
		}
		if n := len(v.calls()); n != 1 {
			t.Errorf("%d vends, want 1 (the shed request must not reach the vendor)", n)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		h, v := vlSetup(t, time.Second)
		htDo(h, http.MethodGet, "/token?u=a", nil)
		// A slot frees in 500 ms, within the second it may wait.
		start := time.Now()
		if w := htDo(h, http.MethodGet, "/token?u=b", nil); w.Code != http.StatusOK {
			t.Fatalf("second vend: %d %s", w.Code, w.Body)
		}
		if waited := time.Since(start); waited < 500*time.Millisecond || waited > 600*time.Millisecond {
			t.Errorf("waited %s, want the 500 ms until the next slot", waited)
		}
		if n := len(v.calls()); n != 2 {
			t.Errorf("%d vends, want 2", n)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		// Concurrent identical requests share one vend, and one slot.
		h, v := vlSetup(t, 100*time.Millisecond)
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			wg.Go(func() { codes[i] = htDo(h, http.MethodGet, "/token?u=c", nil).Code })
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusOK {
				t.Errorf("request %d: %d", i, c)
			}
		}
		if n := len(v.calls()); n != 1 {
			t.Errorf("%d vends for identical requests, want 1", n)
		}
	})
}

// TestVendLimitClientGone: a request waiting for a vend slot whose client
// goes away ends at once, as canceled.
func TestVendLimitClientGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := vlSetup(t, time.Second)
		htDo(h, http.MethodGet, "/token?u=a", nil)
		ctx, cancel := context.WithCancel(context.Background())
		var res Result
		h.onResult = func(_ *http.Request, r Result) { res = r }
		done := make(chan struct{})
		go func() {
			defer close(done)
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/token?u=b", nil)
			h.ServeHTTP(&discardWriter{h: http.Header{}}, r)
		}()
		time.Sleep(100 * time.Millisecond)
		cancel()
		<-done
		if res.Status != statusClientClosedRequest || res.Code != CodeCanceled {
			t.Errorf("result %d %s, want 499 canceled", res.Status, res.Code)
		}
		// The shared vend goes on for any other waiter (coalescing), and
		// its token is kept for reuse.
		time.Sleep(time.Second)
		synctest.Wait()
	})
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
