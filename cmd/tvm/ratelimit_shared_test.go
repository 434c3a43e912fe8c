package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"google.golang.org/grpc/codes"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
)

// sharedService builds the token service of yaml with its rateLimit.shared
// counters in a fresh emulator serving the cache "rl".
func sharedService(t *testing.T, yaml string) (http.Handler, *momentolocal.Server) {
	t.Helper()
	emu, err := momentolocal.Start(momentolocal.Config{Caches: []string{"rl"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	prov, err := emu.CredentialProvider()
	if err != nil {
		t.Fatal(err)
	}
	cache, err := rateLimitCacheClient(cfg, prov, config.LaptopLatestWithLogger(logger.NewNoopMomentoLoggerFactory()))
	if err != nil || cache == nil {
		t.Fatalf("cache client %v: %v", cache, err)
	}
	t.Cleanup(cache.Close)
	svc, err := buildTokenService(context.Background(), cfg, &countingVendor{}, cache, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc.handler, emu
}

// TestConfigSharedRateLimit: rateLimit.shared counts in Momento (429 with
// Retry-After past the limit); when Momento fails, requestsPerSecond/burst
// decide as the fallback, and without one failClosed refuses with 503.
func TestConfigSharedRateLimit(t *testing.T) {
	h, emu := sharedService(t, base+"rateLimit: {requestsPerSecond: 0.001, burst: 1, shared: {cache: rl, limit: 2, window: 1h}}\n")
	for i := range 2 {
		if w := perfGet(h); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := perfGet(h)
	ra, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || ra < 1 || ra > 3600 || !strings.Contains(w.Body.String(), tvm.CodeRateLimited) {
		t.Errorf("third request: %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}

	// Momento fails: the per-process fallback (burst 1) decides.
	if _, err := emu.Faults().Add(momentolocal.Fault{Method: "Increment", Code: codes.Unavailable}); err != nil {
		t.Fatal(err)
	}
	if w := perfGet(h); w.Code != http.StatusOK {
		t.Errorf("first request on the fallback: %d %s", w.Code, w.Body)
	}
	if w := perfGet(h); w.Code != http.StatusTooManyRequests {
		t.Errorf("second request on the fallback (burst 1): %d %s", w.Code, w.Body)
	}

	closed, emu2 := sharedService(t, base+"rateLimit: {shared: {cache: rl, limit: 100, failClosed: true}}\n")
	if w := perfGet(closed); w.Code != http.StatusOK {
		t.Fatalf("fail closed, Momento up: %d %s", w.Code, w.Body)
	}
	if _, err := emu2.Faults().Add(momentolocal.Fault{Method: "Increment", Code: codes.Unavailable}); err != nil {
		t.Fatal(err)
	}
	if w := perfGet(closed); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("fail closed, Momento down: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// TestBinarySharedRateLimit: in local mode the embedded emulator also
// serves the shared rate limit's cache, and the 4th request within the
// window of a limit of 3 gets 429 with Retry-After.
func TestBinarySharedRateLimit(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tvm.yaml")
	const window = time.Hour
	yaml := base + "momento: {local: true}\nrateLimit: {shared: {cache: tvm-ratelimit, limit: 3, window: 1h}}\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startTVM(t, baseEnv(t), "--config", cfgFile)
	if out := p.stdout.String(); !strings.Contains(out, "caches default-cache, tvm-ratelimit") {
		t.Errorf("the emulator does not serve the shared cache:\n%s", out)
	}
	// A fixed window may end between two requests (once an hour): then
	// the counts start again, and the sequence is repeated.
	limited := 0
	for attempt := 0; ; attempt++ {
		start := time.Now().UnixMilli() / window.Milliseconds()
		var codes []int
		var resp *http.Response
		for range 4 {
			var body tokenBody
			resp, body = get(t, p.url(defaultPath), nil)
			p.secrets = append(p.secrets, body.AuthToken)
			codes = append(codes, resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests {
				limited++
			}
		}
		if time.Now().UnixMilli()/window.Milliseconds() != start && attempt == 0 {
			continue
		}
		if attempt == 0 && (codes[0] != 200 || codes[1] != 200 || codes[2] != 200) {
			t.Errorf("first three requests: %v", codes)
		}
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if codes[3] != http.StatusTooManyRequests || ra < 1 || ra > 3600 {
			t.Errorf("4th request: %d, Retry-After %q (codes %v)", codes[3], resp.Header.Get("Retry-After"), codes)
		}
		break
	}
	if !strings.Contains(scrape(t, p), fmt.Sprintf(`tvm_token_requests_total{outcome="rate_limited"} %d`, limited)) {
		t.Error("rate-limited request not counted")
	}
}
