package tvm

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tvmgo/tvm/internal/testenv"
)

// limiterFunc adapts a function to the RateLimiter interface.
type limiterFunc func(ctx context.Context, key string) error

func (f limiterFunc) Allow(ctx context.Context, key string) error { return f(ctx, key) }

// htMemoryLimiter is NewMemoryRateLimiter for a valid configuration.
func htMemoryLimiter(t testing.TB, cfg MemoryRateLimitConfig) *MemoryRateLimiter {
	t.Helper()
	l, err := NewMemoryRateLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestMemoryRateLimiterTokenBucket(t *testing.T) {
	l := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 0.5, Burst: 2})
	clock := testenv.NewClock(htNow)
	l.now = clock.Now
	const alice, bob = "jwt:alice", "jwt:bob"
	for i := range 2 {
		if err := l.Allow(context.Background(), alice); err != nil {
			t.Fatalf("burst request %d: %v", i, err)
		}
	}
	err := l.Allow(context.Background(), alice)
	var rle *RateLimitError
	if !errors.As(err, &rle) || !errors.Is(err, ErrRateLimited) || rle.Wait != 2*time.Second || rle.RetryAfter() != rle.Wait {
		t.Fatalf("third request: %v (%+v)", err, rle)
	}
	// Another key, and the same subject under another method, have their
	// own buckets.
	for _, key := range []string{bob, "basic:alice"} {
		if err := l.Allow(context.Background(), key); err != nil {
			t.Errorf("%q: %v", key, err)
		}
	}
	// Refused requests do not push the next token further away.
	for range 5 {
		_ = l.Allow(context.Background(), alice)
	}
	clock.Advance(2 * time.Second)
	if err := l.Allow(context.Background(), alice); err != nil {
		t.Errorf("after 2s: %v", err)
	}
	if err := l.Allow(context.Background(), alice); err == nil {
		t.Error("second request after 2s allowed")
	}
}

func TestMemoryRateLimiterBounded(t *testing.T) {
	l := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 1, Burst: 1, MaxEntries: 100})
	for i := range 10000 {
		_ = l.Allow(context.Background(), fmt.Sprint("jwt:user-", i))
	}
	if n := l.len(); n != 100 {
		t.Errorf("%d keys tracked, want the bound 100", n)
	}
	// The most recent key is still tracked (and limited).
	if err := l.Allow(context.Background(), "jwt:user-9999"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("recent key forgotten: %v", err)
	}
}

func TestNewMemoryRateLimiterRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg    MemoryRateLimitConfig
		fields []string
	}{
		{MemoryRateLimitConfig{}, []string{"MemoryRateLimitConfig.PerSecond"}},
		{MemoryRateLimitConfig{Burst: 3}, []string{"MemoryRateLimitConfig.PerSecond"}},
		{MemoryRateLimitConfig{PerSecond: -1}, []string{"MemoryRateLimitConfig.PerSecond"}},
		{MemoryRateLimitConfig{PerSecond: math.NaN()}, []string{"MemoryRateLimitConfig.PerSecond"}},
		{MemoryRateLimitConfig{PerSecond: math.Inf(1)}, []string{"MemoryRateLimitConfig.PerSecond"}},
		{MemoryRateLimitConfig{PerSecond: 1, Burst: -1}, []string{"MemoryRateLimitConfig.Burst"}},
		{MemoryRateLimitConfig{PerSecond: 1, MaxEntries: -1}, []string{"MemoryRateLimitConfig.MaxEntries"}},
	} {
		l, err := NewMemoryRateLimiter(tt.cfg)
		if fields := configFields(t, err); l != nil || !slices.Equal(fields, tt.fields) {
			t.Errorf("%+v: %v, %v; fields %q, want %q", tt.cfg, l, err, fields, tt.fields)
		}
	}
	l := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 2.5})
	if l.burst != 3 || l.max != 10000 {
		t.Errorf("defaults: burst %d, max %d", l.burst, l.max)
	}
	if l := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 0.001}); l.burst != 1 {
		t.Errorf("default burst of a slow limit: %d, want 1", l.burst)
	}
}

// TestMomentoRateLimiterCounterKey: the counter of a key in a window is
// prefix + base64url(HMAC-SHA256(secret, key)) + ":" + window number, so
// counters hold no user names, cannot be found without the secret, and
// every window has its own.
func TestMomentoRateLimiterCounterKey(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	l := &MomentoRateLimiter{prefix: "tvm-rl:", window: time.Minute, secret: secret}
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	key, end := l.counterKey("basic:alice", now)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("basic:alice"))
	want := "tvm-rl:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) + ":" + fmt.Sprint(now.UnixMilli()/time.Minute.Milliseconds())
	if key != want || strings.Contains(key, "alice") {
		t.Errorf("counter key %q, want %q", key, want)
	}
	sum := sha256.Sum256([]byte("basic:alice"))
	if strings.Contains(key, base64.RawURLEncoding.EncodeToString(sum[:])) {
		t.Errorf("counter key %q is computable from the key alone", key)
	}
	otherSecret := &MomentoRateLimiter{prefix: "tvm-rl:", window: time.Minute, secret: []byte("another secret of 32 bytes......")}
	if k, _ := otherSecret.counterKey("basic:alice", now); k == key {
		t.Errorf("two secrets give the same counter %q", k)
	}
	if wantEnd := time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC); !end.Equal(wantEnd) {
		t.Errorf("window ends %s, want %s", end, wantEnd)
	}
	next, _ := l.counterKey("basic:alice", now.Add(time.Minute))
	other, _ := l.counterKey("basic:bob", now)
	if next == key || other == key {
		t.Errorf("counters shared: %q, %q, %q", key, next, other)
	}
}

// TestHandlerRateLimit: the limit applies per identity after authentication,
// to reused tokens too, answers 429 with Retry-After, and vends nothing.
func TestHandlerRateLimit(t *testing.T) {
	var results []Result
	var mu sync.Mutex
	lim := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 1.0 / 3, Burst: 2})
	h, v, clock := rtSetup(t, Config{RateLimit: lim,
		OnResult: func(_ *http.Request, r Result) { mu.Lock(); results = append(results, r); mu.Unlock() }})
	lim.now = clock.Now
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
	if last := results[2]; last.Identity.Subject != "alice" || last.Grant.Scope != nil || !errors.Is(last.Err, ErrRateLimited) {
		t.Errorf("rate limited result %+v", last)
	}
	clock.Advance(3 * time.Second)
	if w := htDo(h, http.MethodGet, "/token", alice); w.Code != 200 {
		t.Errorf("after Retry-After: %d", w.Code)
	}
}

// TestHandlerRateLimitFailures: failed authentications do not reach the
// limiter; the limiter gets the key "<method>:<subject>"; limiter errors
// map by sentinel.
func TestHandlerRateLimitFailures(t *testing.T) {
	var calls atomic.Int64
	var keys sync.Map
	errLim := errors.New("limiter broke")
	var ret atomic.Pointer[error]
	set := func(err error) { ret.Store(&err) }
	set(errLim)
	lim := limiterFunc(func(_ context.Context, key string) error {
		calls.Add(1)
		keys.Store(key, true)
		return *ret.Load()
	})
	h, v, _ := htSetup(t, Config{Authenticator: htBasic(t, btConfig(t, false)), RateLimit: lim})
	if w := htDo(h, http.MethodGet, "/token", http.Header{"Authorization": {btBasic("alice", "wrong")}}); w.Code != 401 || calls.Load() != 0 {
		t.Errorf("bad password: %d, limiter called %d times", w.Code, calls.Load())
	}
	good := http.Header{"Authorization": {btBasic("alice", btAlicePassword)}}
	htCheckError(t, htDo(h, http.MethodGet, "/token", good), 500, CodeInternal)
	set(fmt.Errorf("%w: shared limiter down", ErrUpstreamUnavailable))
	htCheckError(t, htDo(h, http.MethodGet, "/token", good), 503, CodeUpstreamUnavailable)
	set(&RateLimitError{Wait: 42 * time.Second})
	if w := htDo(h, http.MethodGet, "/token", good); w.Header().Get("Retry-After") != "42" {
		htCheckError(t, w, 429, CodeRateLimited)
		t.Errorf("Retry-After %q, want 42", w.Header().Get("Retry-After"))
	}
	set(nil)
	if w := htDo(h, http.MethodGet, "/token", good); w.Code != 200 {
		t.Errorf("limiter allows: %d", w.Code)
	}
	if n := len(v.calls()); n != 1 {
		t.Errorf("%d vends, want 1", n)
	}
	var seen []string
	keys.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	if !slices.Equal(seen, []string{"basic:alice"}) {
		t.Errorf("limiter keys %q, want [basic:alice]", seen)
	}
}

// len returns the number of callers tracked.
func (l *MemoryRateLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}
