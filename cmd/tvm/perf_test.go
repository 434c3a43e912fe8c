package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tvmgo/tvm"
)

// countingVendor vends a distinct token per call.
type countingVendor struct{ n atomic.Int64 }

func (v *countingVendor) Vend(_ context.Context, g tvm.Grant) (tvm.Token, error) {
	n := v.n.Add(1)
	return tvm.Token{AuthToken: fmt.Sprintf("token-%d", n), ExpiresAt: time.Now().Add(g.TTL)}, nil
}

// perfService builds the token service of yaml around vendor.
func perfService(t *testing.T, yaml string, vendor tvm.Vendor) http.Handler {
	t.Helper()
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := buildTokenService(context.Background(), cfg, vendor, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc.handler
}

func perfGet(h http.Handler, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, defaultPath, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestConfigReuseRetryKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	// Unset, they stay zero: the library defaults them (TestConfigReuse,
	// TestLibraryDefaultsTakeEffect).
	if cfg.Reuse != (ReuseConfig{}) || cfg.Retry != (RetryConfig{}) {
		t.Errorf("reuse %+v, retry %+v: filled in by the binary", cfg.Reuse, cfg.Retry)
	}
	cfg, err = ParseConfig([]byte(base + "reuse: {enabled: false, minRemaining: 0.25, maxEntries: 50}\nretry: {attempts: 1, baseDelay: 10ms, maxDelay: 20ms}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Reuse; *r.Enabled || r.MinRemaining != 0.25 || r.MaxEntries != 50 {
		t.Errorf("reuse %+v", r)
	}
	if r := cfg.Retry; r.Attempts != 1 || r.BaseDelay != 10*time.Millisecond || r.MaxDelay != 20*time.Millisecond {
		t.Errorf("retry %+v", r)
	}

	for _, tt := range []struct{ yaml, want string }{
		{"reuse: {minRemaining: 1}", "reuse.minRemaining: must be between 0 and 1 (exclusive)"},
		{"reuse: {minRemaining: -0.5}", "reuse.minRemaining: must be between 0 and 1 (exclusive)"},
		{"reuse: {maxEntries: -1}", "reuse.maxEntries: must not be negative"},
		{"reuse: {enabled: maybe}", "reuse.enabled: expected true or false, got a string (not shown) (line 8)"},
		{"reuse: {size: 3}", "reuse.size: unknown key (line 8)"},
		{"retry: {attempts: 11}", "retry.attempts: must be between 1 and 10"},
		{"retry: {attempts: -1}", "retry.attempts: must be between 1 and 10"},
		{"retry: {baseDelay: -1s}", "retry: baseDelay must be positive and at most maxDelay"},
		{"retry: {baseDelay: 2s, maxDelay: 1s}", "retry: baseDelay must be positive and at most maxDelay"},
		// maxDelay's default (1s) is below this baseDelay.
		{"retry: {baseDelay: 2s}", "retry: baseDelay must be positive and at most maxDelay"},
	} {
		_, err := ParseConfig([]byte(base + tt.yaml + "\n"))
		if err == nil || err.Error() != tt.want || !errors.Is(err, tvm.ErrInvalidConfig) {
			t.Errorf("%s: got %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// TestConfigReuse: reuse on by default, off with reuse.enabled: false.
func TestConfigReuse(t *testing.T) {
	for _, tt := range []struct {
		extra string
		vends int64
	}{{"", 1}, {"reuse: {enabled: false}\n", 3}} {
		v := &countingVendor{}
		h := perfService(t, base+tt.extra, v)
		for range 3 {
			if w := perfGet(h); w.Code != http.StatusOK {
				t.Fatalf("%q: status %d", tt.extra, w.Code)
			}
		}
		if n := v.n.Load(); n != tt.vends {
			t.Errorf("%q: %d vends for 3 requests, want %d", tt.extra, n, tt.vends)
		}
	}
}

// TestMetricsTokenSource: tvm_tokens_served_total counts answers by source.
func TestMetricsTokenSource(t *testing.T) {
	cfg, err := ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	svc, err := buildTokenService(context.Background(), cfg, &countingVendor{}, nil, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for range 3 {
		perfGet(svc.handler)
	}
	w := httptest.NewRecorder()
	m.handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`tvm_tokens_served_total{source="vended"} 1`, `tvm_tokens_served_total{source="reused"} 2`, `tvm_tokens_served_total{source="coalesced"} 0`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestConfigRateLimit: rateLimit is the library's per-identity token
// bucket: 429 with Retry-After past the burst, per identity (method and
// subject), bounded, exact under concurrency.
func TestConfigRateLimit(t *testing.T) {
	// alice's account of testdata/config/basic.yaml (bcrypt cost 10, the
	// least the library accepts: each comparison costs about 1.5 s under
	// the race detector).
	h := perfService(t, `
auth:
  method: basic
  users:
    - {username: alice, passwordHash: "$2a$10$o3jy.peasT5BhJWPX8o21eeMH.5oqb3ZYIZ5FHPidqXk7EUBK7Uim"}
scopes:
  - default: true
    permissions: [{role: subscribeonly, cache: c, topic: t}]
rateLimit: {requestsPerSecond: 0.01, burst: 2}
`, &countingVendor{})
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-password"))
	for i := range 2 {
		if w := perfGet(h, "Authorization", auth); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := perfGet(h, "Authorization", auth)
	// The next token comes 100 s after the first request, minus the time
	// the bcrypt comparisons took.
	ra, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || ra < 80 || ra > 100 || !strings.Contains(w.Body.String(), tvm.CodeRateLimited) {
		t.Errorf("third request: %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	// A wrong password is a 401, not charged to alice.
	if w := perfGet(h, "Authorization", "Basic YWxpY2U6d3Jvbmc="); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", w.Code)
	}

	open := perfService(t, base+"tokenId: query:name\nrateLimit: {requestsPerSecond: 0.001, burst: 10}\n", &countingVendor{})
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if w := perfGet(open); w.Code == http.StatusOK {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Errorf("allowed %d of 50 concurrent requests, want exactly the burst (10)", allowed.Load())
	}
}

// FuzzParseConfig feeds arbitrary YAML to the configuration loader: it
// never panics, every refusal wraps tvm.ErrInvalidConfig with one problem
// per line, and every configuration it accepts serves: the token service
// builds around a vendor and answers a request (what the loader accepts
// and what the library runs agree).
//
//	go test -run '^$' -fuzz FuzzParseConfig -fuzztime 60s ./cmd/tvm
func FuzzParseConfig(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte(base + "reuse: {enabled: false, minRemaining: 0.9}\nretry: {attempts: 2}\nrateLimit: {requestsPerSecond: 3, burst: 1}\n"))
	f.Add([]byte("auth: {method: open}\nscopes: [{default: true, permissions: [{role: readwrite, cache: '{sub}', keyPrefix: '{sub}/'}]}]\n"))
	f.Add([]byte(base + "rateLimit: {requestsPerSecond: 1, burst: 2, shared: {cache: rl, limit: 5, window: 10s}}\n"))
	f.Add([]byte(base + "narrowing: {keyParam: k}\ncors: {allowedOrigins: ['https://App.example.com']}\nttl: 90s\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("auth: &x {method: *x}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config and error")
			}
			if !errors.Is(err, tvm.ErrInvalidConfig) {
				t.Fatalf("error does not wrap ErrInvalidConfig: %v", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.TrimSpace(line) == "" {
					t.Fatalf("empty problem line in %q", err.Error())
				}
			}
			return
		}
		// A cancelled context: a JWKS URL is not fetched.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if cfg.Auth.Method == "basic" {
			// ParseConfig built it; building it again costs a bcrypt
			// hash (1.5 s under the race detector) and proves little.
			return
		}
		shared := cfg.RateLimit != nil && cfg.RateLimit.Shared != nil
		var cache *counterStore
		if shared {
			cache = &counterStore{CacheClient: unusedCacheClient{}, secret: counterSecret("fuzz")}
		}
		svc, err := buildTokenService(ctx, cfg, &countingVendor{}, cache, newMetrics(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("accepted configuration does not build: %v\n%s", err, data)
		}
		defer svc.Close()
		if shared {
			return // the stand-in cache client cannot count
		}
		w := httptest.NewRecorder()
		svc.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, cfg.Path, nil))
		switch {
		case w.Code == http.StatusOK, w.Code == http.StatusUnauthorized, w.Code == http.StatusForbidden:
		case w.Code == http.StatusInternalServerError && strings.Contains(w.Body.String(), tvm.CodeInvalidScope):
			// a template filled with a value the scope refuses
		default:
			t.Fatalf("an accepted configuration answers %d %s\n%s", w.Code, w.Body, data)
		}
	})
}
