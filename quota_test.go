package tvm_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"

	"github.com/tvmgo/tvm/internal/testenv"
)

// TestSharedAuthQuota: three token vending machines (each with its own
// vendor, as separate processes would have) share one Momento account,
// whose token service allows 3 operations per second (momentolocal's
// TokenQuota, answering as Momento does). Over the quota a vend is
// throttled: 503 upstream_throttled with Retry-After 1, one call, never
// retried. With a shared vend ceiling (a MomentoRateLimiter of 3 per second
// in Momento Cache), the excess is shed before it reaches the token
// service, which then refuses nothing.
func TestSharedAuthQuota(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	srv, err := momentolocal.Start(momentolocal.Config{TokenQuota: 3, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	root, err := srv.CredentialProvider()
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var mu sync.Mutex
	var results []tvm.Result
	handlers := func(ceiling func() tvm.RateLimiter) []*tvm.Handler {
		var hs []*tvm.Handler
		for range 3 {
			v, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: root, Logger: log,
				AuthConfig: config.AuthDefaultWithLogger(logger.NewNoopMomentoLoggerFactory()),
				Retry:      tvm.RetryOptions{Attempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { v.Close() })
			cfg := tvm.Config{Authenticator: rlSubjectAuth, Scopes: itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: momentolocal.DefaultCache, Topic: tvm.All}}),
				Vendor: v, Logger: log, VendLimitWait: -1,
				OnResult: func(_ *http.Request, r tvm.Result) { mu.Lock(); results = append(results, r); mu.Unlock() }}
			if ceiling != nil {
				cfg.VendLimit = ceiling()
			}
			hs = append(hs, itHandler(t, cfg))
		}
		return hs
	}
	serve := func(hs []*tvm.Handler, round string) (ok, throttled int) {
		for i := range 6 {
			r := httptest.NewRequest(http.MethodGet, "/token", nil)
			r.Header.Set("X-Subject", fmt.Sprintf("%s-%d", round, i))
			w := httptest.NewRecorder()
			hs[i%3].ServeHTTP(w, r)
			switch {
			case w.Code == http.StatusOK:
				ok++
			case w.Code == http.StatusServiceUnavailable && strings.Contains(w.Body.String(), `"upstream_throttled"`) && w.Header().Get("Retry-After") == "1":
				throttled++
			default:
				t.Errorf("%s request %d: %d %s (Retry-After %q)", round, i, w.Code, w.Body, w.Header().Get("Retry-After"))
			}
		}
		return ok, throttled
	}

	// Without a ceiling, Momento's quota decides.
	if ok, throttled := serve(handlers(nil), "a"); ok != 3 || throttled != 3 {
		t.Fatalf("without a ceiling: %d vended, %d throttled; want 3 and 3", ok, throttled)
	}
	if strings.Contains(logs.String(), "retrying the vend") {
		t.Errorf("a throttled vend was retried:\n%s", logs.String())
	}
	if n := len(srv.TokenRequests()); n != 3 {
		t.Errorf("the token service granted %d tokens, want 3", n)
	}

	// With a shared ceiling, the excess never reaches Momento.
	clock.Advance(time.Second)
	cache := rlCacheClient(t, srv)
	ceiling := func() tvm.RateLimiter {
		l, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{Client: cache, CacheName: momentolocal.DefaultCache, Secret: rlSecret,
			Limit: 3, Window: time.Second, KeyPrefix: "vend-ceiling:", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	mu.Lock()
	results = nil
	mu.Unlock()
	if ok, throttled := serve(handlers(ceiling), "b"); ok != 3 || throttled != 3 {
		t.Fatalf("with the ceiling: %d vended, %d throttled; want 3 and 3", ok, throttled)
	}
	if n := len(srv.TokenRequests()); n != 6 {
		t.Errorf("the token service granted %d tokens in all, want 6", n)
	}
	shed := 0
	mu.Lock()
	for _, r := range results {
		if r.Code == tvm.CodeUpstreamThrottled && strings.Contains(r.Err.Error(), "vend ceiling") {
			shed++
		}
	}
	mu.Unlock()
	if shed != 3 {
		t.Errorf("%d requests shed by the ceiling, want 3 (none throttled by Momento)", shed)
	}
}
