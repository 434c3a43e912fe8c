package main

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tvmgo/tvm"
)

// limiter is a token bucket per verified identity, in a table bounded to
// max identities: when full, the identity seen least recently is forgotten
// (it starts again with a full bucket). It is safe for concurrent use.
type limiter struct {
	rps   rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *limiterEntry, most recent first
	table map[string]*list.Element
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newLimiter(c RateLimitConfig) *limiter {
	return &limiter{
		rps:   rate.Limit(c.RequestsPerSecond),
		burst: c.Burst,
		max:   c.MaxIdentities,
		now:   time.Now,
		lru:   list.New(),
		table: make(map[string]*list.Element),
	}
}

// allow takes one token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	var lim *rate.Limiter
	if el, ok := l.table[key]; ok {
		l.lru.MoveToFront(el)
		lim = el.Value.(*limiterEntry).lim
	} else {
		if l.lru.Len() >= l.max {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.table, oldest.Value.(*limiterEntry).key)
		}
		lim = rate.NewLimiter(l.rps, l.burst)
		l.table[key] = l.lru.PushFront(&limiterEntry{key: key, lim: lim})
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// rateLimitedResolver applies the limiter before the inner resolver, keyed
// by the verified identity (method and subject): only callers that passed
// authentication reach it, so a caller cannot spend another's budget.
type rateLimitedResolver struct {
	inner tvm.ScopeResolver
	lim   *limiter
}

// RateLimitError is returned when a caller is over its rate. It wraps
// tvm.ErrRateLimited and says when to retry.
type RateLimitError struct {
	// Wait is how long until the caller's next request is allowed.
	Wait time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: retry after %s", tvm.ErrRateLimited, e.Wait.Round(time.Millisecond))
}

// Unwrap returns tvm.ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return tvm.ErrRateLimited }

// RetryAfter tells the handler what Retry-After to send (it implements
// tvm.RetryAfterError).
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

func (r *rateLimitedResolver) Resolve(ctx context.Context, id tvm.Identity, req *http.Request) (tvm.Grant, error) {
	if ok, wait := r.lim.allow(id.Method + "\x00" + id.Subject); !ok {
		return tvm.Grant{}, &RateLimitError{Wait: wait}
	}
	return r.inner.Resolve(ctx, id, req)
}

// Validate lets NewHandler validate the wrapped resolver.
func (r *rateLimitedResolver) Validate() error {
	if v, ok := r.inner.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}
