package tvm

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter decides whether the caller named by key may make one more
// token request now. The handler calls it after authentication, before the
// scope is resolved and before any token is vended or reused, so every
// successful authentication counts, reused tokens included. The key is the
// identity's authentication method and subject ("basic:alice"), so two
// identities never share a limit; anonymous callers (Open) are keyed by
// client address ("open:192.0.2.7", "open:2001:db8:1:2::/64"; see
// Config.TrustedProxies).
//
// Allow returns nil to let the request through; an error wrapping
// ErrRateLimited to refuse it with 429 (a *RateLimitError says when to
// retry); or another error when it cannot decide (an error wrapping
// ErrUpstreamUnavailable gives 503, an unclassified one 500).
//
// Failed authentications are not rate limited by the handler (the
// BasicAuthenticator bounds its concurrent password checks instead): limit
// unauthenticated traffic per address where the real address is known too,
// with API Gateway throttling, a WAF rate rule or the reverse proxy.
type RateLimiter interface {
	Allow(ctx context.Context, key string) error
}

// RateLimitError is the error of a refused request: it wraps ErrRateLimited
// and says when to retry (the handler's Retry-After, rounded up to whole
// seconds).
type RateLimitError struct {
	// Wait is how long until the caller may make a request again.
	Wait time.Duration
}

// Error describes the refusal.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: retry after %s", ErrRateLimited, e.Wait.Round(time.Millisecond))
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// RetryAfter returns Wait.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

// MemoryRateLimitConfig configures a MemoryRateLimiter.
type MemoryRateLimitConfig struct {
	// PerSecond is the sustained number of token requests per second each
	// caller may make. Required: a positive, finite number.
	PerSecond float64
	// Burst is how many requests a caller may make at once after being
	// idle. Default: PerSecond rounded up, at least 1.
	Burst int
	// MaxEntries bounds the number of callers tracked; the least recently
	// seen is forgotten first (and starts again with a full bucket).
	// Default 10,000.
	MaxEntries int
}

// MemoryRateLimiter is a per-caller token bucket rate limiter
// (golang.org/x/time/rate) in the memory of one process: with several
// instances, each has its own (see MomentoRateLimiter for one limit across
// all). Safe for concurrent use.
type MemoryRateLimiter struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu    sync.Mutex
	ll    list.List // front: most recently seen; values are *limiterEntry
	items map[string]*list.Element
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

// NewMemoryRateLimiter returns an in-memory rate limiter for cfg. It fails
// closed with a *ConfigError when PerSecond is not a positive, finite
// number or Burst or MaxEntries is negative.
func NewMemoryRateLimiter(cfg MemoryRateLimitConfig) (*MemoryRateLimiter, error) {
	var probs problems
	if !(cfg.PerSecond > 0) || math.IsInf(cfg.PerSecond, 0) {
		probs.add("MemoryRateLimitConfig.PerSecond", "must be a positive number")
	}
	if cfg.Burst < 0 {
		probs.add("MemoryRateLimitConfig.Burst", "must not be negative")
	}
	if cfg.MaxEntries < 0 {
		probs.add("MemoryRateLimitConfig.MaxEntries", "must not be negative")
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(math.Min(math.Ceil(cfg.PerSecond), math.MaxInt32)))
	}
	return &MemoryRateLimiter{
		limit: rate.Limit(cfg.PerSecond),
		burst: cfg.Burst,
		max:   orDefault(cfg.MaxEntries, 10000),
		now:   time.Now,
		items: make(map[string]*list.Element),
	}, nil
}

// Allow takes one token from the caller's bucket, or returns a
// *RateLimitError saying when one will be available.
func (l *MemoryRateLimiter) Allow(_ context.Context, key string) error {
	now := l.now()
	l.mu.Lock()
	var lim *rate.Limiter
	if el, ok := l.items[key]; ok {
		l.ll.MoveToFront(el)
		lim = el.Value.(*limiterEntry).lim
	} else {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.items[key] = l.ll.PushFront(&limiterEntry{key: key, lim: lim})
		for l.ll.Len() > l.max {
			last := l.ll.Back()
			l.ll.Remove(last)
			delete(l.items, last.Value.(*limiterEntry).key)
		}
	}
	l.mu.Unlock()

	r := lim.ReserveN(now, 1)
	if !r.OK() { // cannot happen with burst ≥ 1
		return &RateLimitError{Wait: time.Second}
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request does not consume the future token
		return &RateLimitError{Wait: d}
	}
	return nil
}

// vendLimitKey is the key of every vend under Config.VendLimit.
const vendLimitKey = "tvm:vend"

// vendSlot takes a slot under the vend ceiling, waiting up to the
// handler's VendLimitWait (and ctx) for one. A vend that cannot get one in
// that time is throttled at once: 503 with the limiter's Retry-After.
func (h *Handler) vendSlot(ctx context.Context) error {
	deadline := time.Now().Add(h.vendLimitWait)
	for {
		err := h.vendLimit.Allow(ctx, vendLimitKey)
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			return err // allowed, or the limiter cannot decide
		}
		if time.Now().Add(rl.Wait).After(deadline) {
			return &VendError{Kind: ErrUpstreamThrottled, Code: "VEND_LIMIT", Wait: rl.Wait,
				Err: errors.New("the vend ceiling (Config.VendLimit) is reached")}
		}
		wait := time.NewTimer(rl.Wait)
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return ctx.Err()
		}
	}
}
