package tvm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryRateLimiterTokenBucket(t *testing.T) {
	l, err := NewMemoryRateLimiter(RateLimitOptions{PerSecond: 0.5, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	clock := &rtClock{t: htNow}
	l.now = clock.now
	alice, bob := Identity{Method: "jwt", Subject: "alice"}, Identity{Method: "jwt", Subject: "bob"}
	for i := range 2 {
		if err := l.Allow(context.Background(), alice); err != nil {
			t.Fatalf("burst request %d: %v", i, err)
		}
	}
	err = l.Allow(context.Background(), alice)
	var rle *RateLimitError
	if !errors.As(err, &rle) || !errors.Is(err, ErrRateLimited) || rle.Wait != 2*time.Second || rle.RetryAfter() != rle.Wait {
		t.Fatalf("third request: %v (%+v)", err, rle)
	}
	// Another identity, and the same subject under another method, have
	// their own buckets.
	for _, id := range []Identity{bob, {Method: "basic", Subject: "alice"}} {
		if err := l.Allow(context.Background(), id); err != nil {
			t.Errorf("%+v: %v", id, err)
		}
	}
	// Refused requests do not push the next token further away.
	for range 5 {
		_ = l.Allow(context.Background(), alice)
	}
	clock.add(2 * time.Second)
	if err := l.Allow(context.Background(), alice); err != nil {
		t.Errorf("after 2s: %v", err)
	}
	if err := l.Allow(context.Background(), alice); err == nil {
		t.Error("second request after 2s allowed")
	}
}

func TestMemoryRateLimiterBounded(t *testing.T) {
	l, err := NewMemoryRateLimiter(RateLimitOptions{PerSecond: 1, Burst: 1, MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		_ = l.Allow(context.Background(), Identity{Method: "jwt", Subject: fmt.Sprint("user-", i)})
	}
	if n := l.Len(); n != 100 {
		t.Errorf("%d identities tracked, want the bound 100", n)
	}
	// The most recent identity is still tracked (and limited).
	if err := l.Allow(context.Background(), Identity{Method: "jwt", Subject: "user-9999"}); !errors.Is(err, ErrRateLimited) {
		t.Errorf("recent identity forgotten: %v", err)
	}
}

func TestRateLimitOptionsValidation(t *testing.T) {
	lim := RateLimiterFunc(func(context.Context, Identity) error { return nil })
	for _, o := range []RateLimitOptions{
		{PerSecond: -1}, {PerSecond: math.NaN()}, {PerSecond: math.Inf(1)}, {PerSecond: 1, Burst: -1},
		{PerSecond: 1, MaxEntries: -1}, {Burst: 3}, {Limiter: lim, PerSecond: 1},
		{Limiter: RateLimiterFunc(nil)},
		{Limiter: &MomentoRateLimiter{err: &ConfigError{Field: "x", Problem: "y"}}},
	} {
		_, err := NewHandler(Config{Authenticator: Open(), Scopes: StaticScope(htScope), Vendor: &htVendor{}, RateLimit: o})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err %v", o, err)
		}
	}
	l, err := NewMemoryRateLimiter(RateLimitOptions{PerSecond: 2.5})
	if err != nil || l.burst != 3 || l.max != DefaultRateLimitMaxEntries {
		t.Errorf("defaults: burst %d, max %d, %v", l.burst, l.max, err)
	}
}

// TestHandlerRateLimit: the limit applies per identity after authentication,
// to reused tokens too, answers 429 with Retry-After, and vends nothing.
func TestHandlerRateLimit(t *testing.T) {
	var results []Result
	var mu sync.Mutex
	h, v, clock := rtSetup(t, Config{RateLimit: RateLimitOptions{PerSecond: 1.0 / 3, Burst: 2},
		OnResult: func(_ *http.Request, r Result) { mu.Lock(); results = append(results, r); mu.Unlock() }})
	h.limiter.(*MemoryRateLimiter).now = clock.now
	alice := http.Header{"X-Test-Subject": {"alice"}}
	for i := range 2 {
		if w := htDo(h, http.MethodGet, "/token", alice); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := htDo(h, http.MethodGet, "/token", alice)
	htCheckError(t, w, http.StatusTooManyRequests, CodeRateLimited)
	if ra := w.Header().Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After %q, want 3", ra)
	}
	if w := htDo(h, http.MethodGet, "/token", http.Header{"X-Test-Subject": {"bob"}}); w.Code != 200 {
		t.Errorf("bob: %d", w.Code)
	}
	if n := v.n.Load(); n != 2 { // alice's second request reused her token
		t.Errorf("%d vends, want 2", n)
	}
	if last := results[2]; last.Identity.Subject != "alice" || last.Grant.Scope.Permissions != nil || !errors.Is(last.Err, ErrRateLimited) {
		t.Errorf("rate limited result %+v", last)
	}
	clock.add(3 * time.Second)
	if w := htDo(h, http.MethodGet, "/token", alice); w.Code != 200 {
		t.Errorf("after Retry-After: %d", w.Code)
	}
}

// TestHandlerRateLimitFailures: failed authentications do not reach the
// limiter; limiter errors map by sentinel.
func TestHandlerRateLimitFailures(t *testing.T) {
	var calls atomic.Int64
	errLim := errors.New("limiter broke")
	var ret atomic.Pointer[error]
	set := func(err error) { ret.Store(&err) }
	set(errLim)
	lim := RateLimiterFunc(func(context.Context, Identity) error {
		calls.Add(1)
		return *ret.Load()
	})
	h, v, _ := htSetup(t, Config{Authenticator: Basic(btConfig(t, false)), RateLimit: RateLimitOptions{Limiter: lim}})
	if w := htDo(h, http.MethodGet, "/token", http.Header{"Authorization": {btBasic("alice", "wrong")}}); w.Code != 401 || calls.Load() != 0 {
		t.Errorf("bad password: %d, limiter called %d times", w.Code, calls.Load())
	}
	good := http.Header{"Authorization": {btBasic("alice", btAlicePassword)}}
	htCheckError(t, htDo(h, http.MethodGet, "/token", good), 500, CodeInternal)
	set(fmt.Errorf("%w: shared limiter down", ErrUpstreamUnavailable))
	htCheckError(t, htDo(h, http.MethodGet, "/token", good), 503, CodeUpstreamUnavailable)
	set(nil)
	if w := htDo(h, http.MethodGet, "/token", good); w.Code != 200 {
		t.Errorf("limiter allows: %d", w.Code)
	}
	if n := len(v.calls()); n != 1 {
		t.Errorf("%d vends, want 1", n)
	}
}
