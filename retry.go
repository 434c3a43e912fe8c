package tvm

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults of vend retries.
const (
	// DefaultRetryAttempts is the default RetryOptions.Attempts: the first
	// call and up to two retries.
	DefaultRetryAttempts = 3
	// DefaultRetryBaseDelay is the default RetryOptions.BaseDelay.
	DefaultRetryBaseDelay = 50 * time.Millisecond
	// DefaultRetryMaxDelay is the default RetryOptions.MaxDelay.
	DefaultRetryMaxDelay = time.Second
)

// RetryOptions configures how the handler retries a vend that failed with
// an error wrapping ErrUpstreamUnavailable (Momento unreachable, UNAVAILABLE,
// RESOURCE_EXHAUSTED, INTERNAL, ...). Nothing else is retried: a rejection
// (ErrUpstreamRejected: wrong API key, refused scope) fails at once with one
// upstream call, and a timeout has no time left.
//
// Retry n (n ≥ 1) waits a random delay between 0 and
// min(MaxDelay, BaseDelay·2^(n-1)) ("full jitter"), so that many instances
// recovering from the same outage do not call in step. All attempts and
// waits fit inside Config.VendTimeout: a retry whose wait would end after
// the deadline is not made, and the last error is returned (503 with
// Retry-After).
type RetryOptions struct {
	// Attempts is the number of calls to the vendor at most, the first one
	// included. Default DefaultRetryAttempts (3); 1 disables retries.
	Attempts int
	// BaseDelay is the upper bound of the first retry's random wait.
	// Default DefaultRetryBaseDelay (50 ms).
	BaseDelay time.Duration
	// MaxDelay caps the upper bound of any wait. Default
	// DefaultRetryMaxDelay (1 s).
	MaxDelay time.Duration
}

func (o RetryOptions) withDefaults() (RetryOptions, error) {
	if o.Attempts == 0 {
		o.Attempts = DefaultRetryAttempts
	}
	if o.Attempts < 1 || o.Attempts > 10 {
		return o, &ConfigError{Field: "Config.Retry.Attempts", Problem: "must be between 1 and 10"}
	}
	if o.BaseDelay == 0 {
		o.BaseDelay = DefaultRetryBaseDelay
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = DefaultRetryMaxDelay
	}
	if o.BaseDelay < 0 || o.MaxDelay < o.BaseDelay {
		return o, &ConfigError{Field: "Config.Retry", Problem: "BaseDelay must be positive and at most MaxDelay"}
	}
	return o, nil
}

// backoff returns the random wait before retry n (n ≥ 1).
func (o RetryOptions) backoff(n int) time.Duration {
	limit := o.BaseDelay << (n - 1)
	if limit > o.MaxDelay || limit <= 0 {
		limit = o.MaxDelay
	}
	return rand.N(limit + 1)
}

// retryable reports whether a vend that failed with err may succeed if
// retried now that ctx still has time.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || !errors.Is(err, ErrUpstreamUnavailable) {
		return false
	}
	var ve *VendError
	if errors.As(err, &ve) && ve.Code == "CLOSED" { // a closed vendor stays closed
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// vendWithRetry calls the vendor, retrying errors wrapping
// ErrUpstreamUnavailable within ctx's deadline.
func (h *Handler) vendWithRetry(ctx context.Context, g Grant) (Token, error) {
	for n := 1; ; n++ {
		tok, err := h.vendor.Vend(ctx, g)
		if err == nil || n >= h.retry.Attempts || !retryable(ctx, err) {
			return tok, err
		}
		wait := h.retry.backoff(n)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return tok, err // no time left for another attempt
		}
		h.log.LogAttrs(ctx, slog.LevelDebug, "tvm: retrying the vend",
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
