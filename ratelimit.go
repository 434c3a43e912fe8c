package tvm

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultRateLimitMaxEntries is the default number of identities whose
// request rate an in-memory rate limiter tracks.
const DefaultRateLimitMaxEntries = 10000

// RateLimiter decides whether a verified identity may make one more token
// request now. The handler calls it after authentication, before the scope
// is resolved and before any token is vended or reused, so every successful
// authentication counts, reused tokens included.
//
// Allow returns nil to let the request through; an error wrapping
// ErrRateLimited to refuse it with 429 (a *RateLimitError, or any error
// implementing RetryAfterError, chooses the Retry-After); or another error
// when it cannot decide (an error wrapping ErrUpstreamUnavailable gives 503,
// an unclassified one 500).
//
// Failed authentications are not rate limited by the handler: before
// authentication the only key is the client address, which behind a load
// balancer or CDN is the proxy's (limiting it would let one client lock
// everybody out) and whose forwarded headers the client controls. Limit
// unauthenticated traffic per address where the real address is known: API
// Gateway throttling, a WAF rate rule or the reverse proxy. JWT failures
// cost microseconds and the JWKS refresh on unknown key ids is itself rate
// limited; Basic authentication costs a bcrypt comparison per request.
type RateLimiter interface {
	Allow(ctx context.Context, id Identity) error
}

// RateLimiterFunc adapts a function to the RateLimiter interface.
type RateLimiterFunc func(ctx context.Context, id Identity) error

// Allow calls f(ctx, id).
func (f RateLimiterFunc) Allow(ctx context.Context, id Identity) error { return f(ctx, id) }

// RateLimitError is the error of a refused request: it wraps ErrRateLimited
// and says when to retry (the handler's Retry-After, rounded up to whole
// seconds).
type RateLimitError struct {
	// Wait is how long until the identity may make a request again.
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

// RateLimitOptions configures the per-identity rate limit of a Handler. The
// zero value means no limit.
//
// With PerSecond set, each identity (authentication method and subject) has
// a token bucket in the handler's memory (NewMemoryRateLimiter): this limit
// is per instance. Set Limiter to a MomentoRateLimiter to enforce one limit
// across every instance and Lambda function, with the counters in Momento
// Cache.
type RateLimitOptions struct {
	// PerSecond is the sustained number of token requests per second each
	// identity may make. Zero with a nil Limiter: no rate limit.
	PerSecond float64
	// Burst is how many requests an identity may make at once after being
	// idle. Default: PerSecond rounded up, at least 1.
	Burst int
	// MaxEntries bounds the number of identities tracked; the least recently
	// seen is forgotten first (and starts again with a full bucket).
	// Default DefaultRateLimitMaxEntries (10,000).
	MaxEntries int
	// Limiter, when set, is used instead of an in-memory limiter built from
	// the fields above; they must then be zero.
	Limiter RateLimiter
}

// limiter returns the RateLimiter the options describe, nil for none.
func (o RateLimitOptions) limiter() (RateLimiter, error) {
	if o.Limiter != nil {
		if o.PerSecond != 0 || o.Burst != 0 || o.MaxEntries != 0 {
			return nil, &ConfigError{Field: "Config.RateLimit", Problem: "set either Limiter or PerSecond/Burst/MaxEntries, not both"}
		}
		if isNil(o.Limiter) {
			return nil, &ConfigError{Field: "Config.RateLimit.Limiter", Problem: "nil"}
		}
		if v, ok := o.Limiter.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("%w: Config.RateLimit.Limiter: %w", ErrInvalidConfig, err)
			}
		}
		return o.Limiter, nil
	}
	if o.PerSecond == 0 && o.Burst == 0 && o.MaxEntries == 0 {
		return nil, nil
	}
	return NewMemoryRateLimiter(o)
}

// MemoryRateLimiter is a per-identity token bucket rate limiter
// (golang.org/x/time/rate) in memory, bounded to MaxEntries identities.
// Safe for concurrent use.
type MemoryRateLimiter struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu    sync.Mutex
	ll    list.List // front: most recently seen; values are *limiterEntry
	items map[limiterKey]*list.Element
}

// limiterKey is the rate limiting key of an identity: two different
// identities never share it.
type limiterKey struct{ method, subject string }

type limiterEntry struct {
	key limiterKey
	lim *rate.Limiter
}

// NewMemoryRateLimiter returns an in-memory per-identity rate limiter with
// opts.PerSecond, opts.Burst and opts.MaxEntries (opts.Limiter is ignored).
// It returns an error wrapping ErrInvalidConfig when PerSecond is not
// positive and finite or Burst or MaxEntries is negative.
func NewMemoryRateLimiter(opts RateLimitOptions) (*MemoryRateLimiter, error) {
	if !(opts.PerSecond > 0) || math.IsInf(opts.PerSecond, 0) {
		return nil, &ConfigError{Field: "Config.RateLimit.PerSecond", Problem: "must be a positive number"}
	}
	if opts.Burst < 0 {
		return nil, &ConfigError{Field: "Config.RateLimit.Burst", Problem: "must not be negative"}
	}
	if opts.Burst == 0 {
		opts.Burst = max(1, int(math.Min(math.Ceil(opts.PerSecond), math.MaxInt32)))
	}
	if opts.MaxEntries < 0 {
		return nil, &ConfigError{Field: "Config.RateLimit.MaxEntries", Problem: "must not be negative"}
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultRateLimitMaxEntries
	}
	return &MemoryRateLimiter{
		limit: rate.Limit(opts.PerSecond),
		burst: opts.Burst,
		max:   opts.MaxEntries,
		now:   time.Now,
		items: make(map[limiterKey]*list.Element),
	}, nil
}

// Allow takes one token from the identity's bucket, or returns a
// *RateLimitError saying when one will be available.
func (l *MemoryRateLimiter) Allow(_ context.Context, id Identity) error {
	key := limiterKey{id.Method, id.Subject}
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

// Len returns the number of identities tracked.
func (l *MemoryRateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}
