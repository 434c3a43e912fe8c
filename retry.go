package tvm

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RetryOptions configures how MomentoVendor retries a vend that failed
// because Momento was unavailable (unreachable, UNAVAILABLE, INTERNAL, ...).
// Nothing else is retried: a rejection (wrong API key, refused scope) fails
// at once with one upstream call, and a timeout has no time left.
//
// Retry n (n ≥ 1) waits a random delay between 0 and
// min(MaxDelay, BaseDelay·2^(n-1)) ("full jitter"), so that many instances
// recovering from the same outage do not call in step. All attempts and
// waits fit inside the context's deadline (the handler's
// Config.VendTimeout): a retry whose wait would end after the deadline is
// not made, and the last error is returned (503 with Retry-After).
type RetryOptions struct {
	// Attempts is the number of calls at most, the first one included,
	// from 1 (no retries) to 10. Default 3.
	Attempts int
	// BaseDelay is the upper bound of the first retry's random wait.
	// Default 50 ms.
	BaseDelay time.Duration
	// MaxDelay caps the upper bound of any wait; at least BaseDelay.
	// Default one second.
	MaxDelay time.Duration
}

// withDefaults fills the defaults, recording the problems of o.
func (o RetryOptions) withDefaults(field string, probs *problems) RetryOptions {
	o.Attempts = orDefault(o.Attempts, 3)
	if o.Attempts < 1 || o.Attempts > 10 {
		probs.add(field+".Attempts", "must be between 1 and 10")
	}
	o.BaseDelay = orDefault(o.BaseDelay, 50*time.Millisecond)
	o.MaxDelay = orDefault(o.MaxDelay, time.Second)
	if o.BaseDelay < 0 || o.MaxDelay < o.BaseDelay {
		probs.add(field, "BaseDelay must be positive and at most MaxDelay")
	}
	return o
}

// backoff returns the random wait before retry n (n ≥ 1).
func (o RetryOptions) backoff(n int) time.Duration {
	limit := o.BaseDelay << (n - 1)
	if limit > o.MaxDelay || limit <= 0 {
		limit = o.MaxDelay
	}
	return rand.N(limit + 1)
}

// retry calls vend until it succeeds, fails with an error retrying cannot
// help (see retryable), has made o.Attempts calls, or the next wait would
// end after ctx's deadline. It returns the last result.
func (o RetryOptions) retry(ctx context.Context, log *slog.Logger, vend func() (Token, error)) (Token, error) {
	for n := 1; ; n++ {
		tok, err := vend()
		if err == nil || n >= o.Attempts || !retryable(ctx, err) {
			return tok, err
		}
		wait := o.backoff(n)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return tok, err // no time left for another attempt
		}
		log.LogAttrs(ctx, slog.LevelDebug, "tvm: retrying the vend",
			slog.Int("attempt", n+1), slog.Duration("wait", wait), slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return tok, err
		}
	}
}

// retryable reports whether a vend that failed with err may succeed if
// retried now that ctx still has time.
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, ErrUpstreamUnavailable) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
