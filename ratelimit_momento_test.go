package tvm_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/momentohq/client-sdk-go/momento"
	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/tvmgo/tvm/internal/testenv"
)

const rlCache = "tvm-ratelimit"

// rlSecret is the counter secret of the tests' MomentoRateLimiters.
var rlSecret = []byte("test-only counter secret, 32+ bytes long")

// rlEmulator starts an emulator that requires api keys and has the
// counter cache rlCache beside default-cache; the test closes it.
func rlEmulator(t testing.TB) *momentolocal.Server {
	t.Helper()
	srv, err := momentolocal.Start(momentolocal.Config{RequireAPIKey: true, Caches: []string{"default-cache", rlCache}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// rlCacheClient returns a Go SDK cache client on srv's root key.
func rlCacheClient(t testing.TB, srv *momentolocal.Server) momento.CacheClient {
	t.Helper()
	p, err := srv.CredentialProvider()
	if err != nil {
		t.Fatal(err)
	}
	c, err := momento.NewCacheClientWithEagerConnectTimeout(config.LaptopLatestWithLogger(logger.NewNoopMomentoLoggerFactory()), p, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rlSubjectAuth authenticates as the subject in the X-Subject header.
var rlSubjectAuth = tvm.AuthenticatorFunc(func(r *http.Request) (tvm.Identity, error) {
	if s := r.Header.Get("X-Subject"); s != "" {
		return tvm.Identity{Subject: s, Method: "test"}, nil
	}
	return tvm.Identity{}, tvm.ErrNoCredentials
})

func rlStatus(h http.Handler, subject string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.Header.Set("X-Subject", subject)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Header().Get("Retry-After")
}

func rlGoleak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore,
			// client-sdk-go v1.38.0's AuthClient.Close leaves its (idle,
			// never dialled) auth connection open.
			goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))
	})
}

// TestMomentoRateLimiterSharedAcrossHandlers: three handlers, each with its
// own SDK client and limiter as three instances would have, share one
// emulator: the limit holds across them.
func TestMomentoRateLimiterSharedAcrossHandlers(t *testing.T) {
	rlGoleak(t)
	srv := rlEmulator(t)
	clock := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC))
	const limit = 5
	handlers := make([]*tvm.Handler, 3)
	for i := range handlers {
		lim, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{
			Client: rlCacheClient(t, srv), CacheName: rlCache, Secret: rlSecret, Limit: limit, Window: time.Minute, Now: clock.Now, FailClosed: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		handlers[i] = itHandler(t, tvm.Config{
			Authenticator: rlSubjectAuth,
			Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
			Vendor:        benchStubVendor,
			RateLimit:     lim,
		})
	}
	count := func(subject string, n int) (ok, limited int) {
		for i := range n {
			switch code, ra := rlStatus(handlers[i%len(handlers)], subject); code {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
				if ra != "50" { // the window ends at 12:01:00
					t.Errorf("Retry-After %q, want 50", ra)
				}
			default:
				t.Errorf("status %d", code)
			}
		}
		return ok, limited
	}
	if ok, limited := count("alice", 12); ok != limit || limited != 12-limit {
		t.Errorf("alice over 3 instances: %d allowed, %d limited; want %d, %d", ok, limited, limit, 12-limit)
	}
	// Bob has his own counter.
	if ok, _ := count("bob", 3); ok != 3 {
		t.Errorf("bob: %d allowed, want 3", ok)
	}
	// Concurrent requests across the instances: the counter is atomic.
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := rlStatus(handlers[i%3], "carol"); code == http.StatusOK {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != limit {
		t.Errorf("carol, 20 concurrent requests: %d allowed, want %d", allowed, limit)
	}
	// The next window starts afresh.
	clock.Advance(time.Minute)
	if ok, limited := count("alice", 6); ok != limit || limited != 1 {
		t.Errorf("next window: %d allowed, %d limited", ok, limited)
	}
}

// TestMomentoRateLimiterMomentoDown: fail open (default), fail closed, and
// fallback when the counters cannot be reached.
func TestMomentoRateLimiterMomentoDown(t *testing.T) {
	rlGoleak(t)
	srv := rlEmulator(t)
	if _, err := srv.Faults().Add(momentolocal.Fault{Method: "Increment", Code: codes.Unavailable, Message: "injected " + srv.RootAPIKey()}); err != nil {
		t.Fatal(err)
	}
	fallback, err := tvm.NewMemoryRateLimiter(tvm.MemoryRateLimitConfig{PerSecond: 0.001, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opts   tvm.MomentoRateLimitConfig
		status []int
	}{
		{"fail open", tvm.MomentoRateLimitConfig{}, []int{200, 200, 200}},
		{"fail closed", tvm.MomentoRateLimitConfig{FailClosed: true}, []int{503, 503, 503}},
		{"fallback", tvm.MomentoRateLimitConfig{Fallback: fallback}, []int{200, 200, 429}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			tt.opts.Client, tt.opts.CacheName, tt.opts.Secret, tt.opts.Limit, tt.opts.Timeout = rlCacheClient(t, srv), rlCache, rlSecret, 1, 2*time.Second
			tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			lim, err := tvm.NewMomentoRateLimiter(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			h := itHandler(t, tvm.Config{
				Authenticator: rlSubjectAuth,
				Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
				Vendor:        benchStubVendor,
				RateLimit:     lim,
			})
			for i, want := range tt.status {
				code, ra := rlStatus(h, "alice")
				if code != want {
					t.Errorf("request %d: status %d, want %d", i, code, want)
				}
				if code == 503 && ra == "" {
					t.Error("503 without Retry-After")
				}
			}
			out := logs.String()
			if strings.Count(out, "rate limiter cannot reach Momento") != 1 {
				t.Errorf("want one warning (at most one per second), got:\n%s", out)
			}
			if strings.Contains(out, srv.RootAPIKey()) {
				t.Error("the API key reached the log")
			}
		})
	}
}

func TestMomentoRateLimiterConfig(t *testing.T) {
	var nilClient momento.CacheClient
	var nilFallback *tvm.MemoryRateLimiter
	srv, err := momentolocal.Start(momentolocal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := rlCacheClient(t, srv)
	fallback, err := tvm.NewMemoryRateLimiter(tvm.MemoryRateLimitConfig{PerSecond: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		cfg    tvm.MomentoRateLimitConfig
		fields []string
	}{
		"nil client":         {tvm.MomentoRateLimitConfig{Client: nilClient, Secret: rlSecret, CacheName: "c", Limit: 1}, []string{"MomentoRateLimitConfig.Client"}},
		"no cache":           {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, Limit: 1}, []string{"MomentoRateLimitConfig.CacheName"}},
		"invalid cache name": {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "a b", Limit: 1}, []string{"MomentoRateLimitConfig.CacheName"}},
		"short secret":       {tvm.MomentoRateLimitConfig{Client: c, CacheName: "c", Secret: rlSecret[:31], Limit: 1}, []string{"MomentoRateLimitConfig.Secret"}},
		"no limit":           {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c"}, []string{"MomentoRateLimitConfig.Limit"}},
		"short window":       {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Window: 500 * time.Millisecond}, []string{"MomentoRateLimitConfig.Window"}},
		"sub-ms window":      {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Window: time.Second + time.Microsecond}, []string{"MomentoRateLimitConfig.Window"}},
		"window over a day":  {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Window: 24*time.Hour + time.Second}, []string{"MomentoRateLimitConfig.Window"}},
		"negative timeout":   {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Timeout: -1}, []string{"MomentoRateLimitConfig.Timeout"}},
		"typed nil fallback": {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Fallback: nilFallback}, []string{"MomentoRateLimitConfig.Fallback"}},
		"fallback and fail closed": {tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Fallback: fallback, FailClosed: true},
			[]string{"MomentoRateLimitConfig.FailClosed"}},
	} {
		lim, err := tvm.NewMomentoRateLimiter(tt.cfg)
		if fields := rlConfigFields(t, err); lim != nil || !slices.Equal(fields, tt.fields) {
			t.Errorf("%s: NewMomentoRateLimiter = %v, %v: fields %q, want %q", name, lim, err, fields, tt.fields)
		}
		// What a failed constructor returns cannot reach a handler.
		_, err = tvm.NewHandler(tvm.Config{Authenticator: tvm.Open(), Scopes: itEveryone(t, tvm.Scope{{Role: tvm.ReadOnly, Cache: "c"}}),
			Vendor: benchStubVendor, RateLimit: lim})
		if fields := rlConfigFields(t, err); !slices.Equal(fields, []string{"Config.RateLimit"}) {
			t.Errorf("%s: NewHandler err %v", name, err)
		}
	}
	if _, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{Client: c, Secret: rlSecret, CacheName: "c", Limit: 1, Window: 24 * time.Hour}); err != nil {
		t.Errorf("a one-day window refused: %v", err)
	}
}

// rlConfigFields returns the fields of the *ConfigError values err joins.
func rlConfigFields(t *testing.T, err error) []string {
	t.Helper()
	if !errors.Is(err, tvm.ErrInvalidConfig) {
		t.Errorf("error %v does not wrap ErrInvalidConfig", err)
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var fields []string
	for _, e := range errs {
		ce, ok := e.(*tvm.ConfigError)
		if !ok {
			t.Errorf("%v (%T) is not a *ConfigError", e, e)
			continue
		}
		fields = append(fields, ce.Field)
	}
	return fields
}

// TestMomentoRateLimiterWarnsOncePerSecond: many requests failing at once
// against an unreachable Momento log one warning, not one each.
func TestMomentoRateLimiterWarnsOncePerSecond(t *testing.T) {
	rlGoleak(t)
	srv := rlEmulator(t)
	if _, err := srv.Faults().Add(momentolocal.Fault{Method: "Increment", Code: codes.Unavailable, Latency: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	lim, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{Client: rlCacheClient(t, srv), CacheName: rlCache, Secret: rlSecret,
		Limit: 1, Timeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() { _ = lim.Allow(context.Background(), "key-"+strconv.Itoa(i)) })
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "rate limiter cannot reach Momento"); n != 1 {
		t.Errorf("%d warnings for 32 failures at once, want 1:\n%s", n, logs.String())
	}
}
