package tvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/momentohq/client-sdk-go/momento"
	auth_responses "github.com/momentohq/client-sdk-go/responses/auth"
)

// TestClientGoneIsCanceled: a client that goes away (its request context
// is canceled) while a step of its request is in flight gets the outcome
// Result{Status: 499, Code: "canceled"}, logged at info level, whatever the
// step returns: never a 503 upstream_unavailable (which metrics count as a
// Momento outage), never an error-level log line, and never retried.
//
// Each case runs in a synctest bubble: synctest.Wait returns once the
// request is blocked in the step, then the client goes away.
func TestClientGoneIsCanceled(t *testing.T) {
	// blockUntilDone waits for the request's end, then fails as the
	// component would.
	blockUntilDone := func(ctx context.Context, fail func(error) error) error {
		<-ctx.Done()
		return fail(ctx.Err())
	}
	tests := []struct {
		name string
		// setup returns the handler's configuration, given a channel the
		// test closes after the check (to end work that outlives the
		// request), and the number of upstream calls made.
		setup func(t *testing.T, release <-chan struct{}) (Config, func() int)
	}{
		{"vendor in flight, reuse off", func(t *testing.T, _ <-chan struct{}) (Config, func() int) {
			var calls atomic.Int64
			return Config{Reuse: ReuseOptions{Disabled: true}, Vendor: vendorFunc(func(ctx context.Context, _ Grant) (Token, error) {
				calls.Add(1)
				return Token{}, blockUntilDone(ctx, func(err error) error { return &VendError{Kind: ErrUpstreamUnavailable, Err: err} })
			})}, func() int { return int(calls.Load()) }
		}},
		{"vendor in flight, error unclassified", func(t *testing.T, _ <-chan struct{}) (Config, func() int) {
			return Config{Reuse: ReuseOptions{Disabled: true}, Vendor: vendorFunc(func(ctx context.Context, _ Grant) (Token, error) {
				return Token{}, blockUntilDone(ctx, func(err error) error { return fmt.Errorf("gave up: %w", err) })
			})}, func() int { return 1 }
		}},
		{"MomentoVendor in flight, retries on", func(t *testing.T, _ <-chan struct{}) (Config, func() int) {
			fake := &mtFakeClient{gen: func(ctx context.Context, _ int) (auth_responses.GenerateDisposableTokenResponse, error) {
				return nil, blockUntilDone(ctx, func(error) error {
					return momento.NewMomentoError(momento.CanceledError, "context canceled", nil)
				})
			}}
			v := newMomentoVendorWithClient(fake, nil, mtRetry(t, RetryOptions{Attempts: 5}), nil)
			return Config{Reuse: ReuseOptions{Disabled: true}, Vendor: v}, fake.calls
		}},
		{"coalesced vend in flight", func(t *testing.T, release <-chan struct{}) (Config, func() int) {
			// The shared call does not end with the request: it goes on
			// for whoever else waits, until released.
			var calls atomic.Int64
			return Config{Vendor: vendorFunc(func(ctx context.Context, g Grant) (Token, error) {
				calls.Add(1)
				select {
				case <-release:
				case <-ctx.Done():
					t.Error("the shared vend's context ended with the request")
				}
				return Token{AuthToken: "t", ExpiresAt: htNow.Add(g.TTL)}, nil
			})}, func() int { return int(calls.Load()) }
		}},
		{"MomentoVendor behind a coalesced vend", func(t *testing.T, release <-chan struct{}) (Config, func() int) {
			fake := &mtFakeClient{gen: func(ctx context.Context, _ int) (auth_responses.GenerateDisposableTokenResponse, error) {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended"}, nil
			}}
			return Config{Vendor: mtVendor(t, fake)}, fake.calls
		}},
		{"shared rate limiter in flight", func(t *testing.T, _ <-chan struct{}) (Config, func() int) {
			// What MomentoRateLimiter returns when its caller went away.
			return Config{RateLimit: limiterFunc(func(ctx context.Context, _ string) error {
				return blockUntilDone(ctx, func(err error) error { return fmt.Errorf("%w: %w", ErrUpstreamUnavailable, err) })
			})}, func() int { return 0 }
		}},
		{"resolver in flight", func(t *testing.T, _ <-chan struct{}) (Config, func() int) {
			return Config{Scopes: ResolverFunc(func(ctx context.Context, _ Identity, _ *http.Request) (Grant, error) {
				return Grant{}, blockUntilDone(ctx, func(err error) error { return err })
			})}, func() int { return 0 }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				cfg, calls := tt.setup(t, release)
				var res Result
				var results atomic.Int64
				cfg.OnResult = func(_ *http.Request, r Result) { res = r; results.Add(1) }
				h, _, logs := htSetup(t, cfg)
				ctx, cancel := context.WithCancel(context.Background())
				w := httptest.NewRecorder()
				var done sync.WaitGroup
				done.Go(func() { h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/token", nil)) })
				synctest.Wait()
				if results.Load() != 0 {
					t.Fatalf("answered before the client left: %+v", res)
				}
				cancel()
				synctest.Wait() // the request answers at once, the shared vend still waits
				if results.Load() != 1 {
					t.Fatal("no answer after the client left")
				}
				close(release)
				done.Wait()

				if w.Code != statusClientClosedRequest {
					t.Errorf("status %d, want 499", w.Code)
				}
				var body htErrorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != CodeCanceled {
					t.Errorf("body %s (%v), want error %q", w.Body, err, CodeCanceled)
				}
				if ra := w.Header().Get("Retry-After"); ra != "" {
					t.Errorf("Retry-After %q on a canceled request", ra)
				}
				if res.Status != statusClientClosedRequest || res.Code != CodeCanceled || !errors.Is(res.Err, context.Canceled) {
					t.Errorf("result %+v, want 499 canceled wrapping context.Canceled", res)
				}
				out := logs.String()
				if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"level":"INFO"`) || !strings.Contains(out, `"outcome":"canceled"`) ||
					!strings.Contains(out, `"status":499`) || strings.Contains(out, CodeUpstreamUnavailable) {
					t.Errorf("want one info line with outcome canceled, got:\n%s", out)
				}
				if n := calls(); n > 1 {
					t.Errorf("%d upstream calls, want at most 1 (no retry once the client left)", n)
				}
			})
		})
	}
}
