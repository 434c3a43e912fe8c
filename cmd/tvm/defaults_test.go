package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
)

// grantVendor vends a distinct token per call and records each call's grant
// and the time it had left before its deadline.
type grantVendor struct {
	mu     sync.Mutex
	grants []tvm.Grant
	left   []time.Duration // 0: no deadline
}

func (v *grantVendor) Vend(ctx context.Context, g tvm.Grant) (tvm.Token, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var left time.Duration
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	v.grants = append(v.grants, g)
	v.left = append(v.left, left)
	return tvm.Token{AuthToken: "token-" + strconv.Itoa(len(v.grants)), ExpiresAt: time.Now().Add(g.TTL)}, nil
}

func (v *grantVendor) calls() ([]tvm.Grant, []time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.grants), slices.Clone(v.left)
}

func getPath(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

// TestLibraryDefaultsTakeEffect: the keys the binary leaves unset (see
// TestConfigDefaults) get the library's documented defaults in the service
// the binary builds: tokens of 15 minutes, each vend bounded by 5 seconds,
// narrowing by ?cache= and ?topic= only, a rate limit burst of
// requestsPerSecond rounded up, a shared rate limit window of one minute,
// three attempts at an unavailable Momento, and the emulator's
// default-cache.
func TestLibraryDefaultsTakeEffect(t *testing.T) {
	t.Run("ttl, vendTimeout, narrowing", func(t *testing.T) {
		v := &grantVendor{}
		h := perfService(t, base+"narrowing: {}\n", v)
		before := time.Now()
		w := getPath(h, defaultPath)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d %s", w.Code, w.Body)
		}
		var body struct {
			ExpiresAt int64 `json:"expiresAt"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if d := time.Unix(body.ExpiresAt, 0).Sub(before); d < 15*time.Minute-2*time.Second || d > 15*time.Minute+time.Second {
			t.Errorf("the token expires %s after the request, want 15m", d)
		}
		if w := getPath(h, defaultPath+"?topic=room-1"); w.Code != http.StatusOK {
			t.Fatalf("?topic=room-1: %d %s", w.Code, w.Body)
		}
		if w := getPath(h, defaultPath+"?cache=other"); w.Code != http.StatusForbidden {
			t.Errorf("?cache=other (outside the scope): %d %s", w.Code, w.Body)
		}
		// keyParam is off by default: ?key= is no narrowing, and the
		// first token (same scope) is handed again.
		if w := getPath(h, defaultPath+"?key=k"); w.Code != http.StatusOK {
			t.Errorf("?key=k: %d %s", w.Code, w.Body)
		}
		grants, left := v.calls()
		if len(grants) != 2 {
			t.Fatalf("%d vends, want 2: %+v", len(grants), grants)
		}
		if grants[0].TTL != 15*time.Minute {
			t.Errorf("TTL %s, want 15m", grants[0].TTL)
		}
		if left[0] <= 4*time.Second || left[0] > 5*time.Second {
			t.Errorf("the vend had %s before its deadline, want 5s", left[0])
		}
		want := tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: "room-1"}}
		if !slices.Equal(grants[1].Scope, want) {
			t.Errorf("?topic=room-1 vended %v, want %v", grants[1].Scope, want)
		}
	})

	t.Run("rateLimit.burst", func(t *testing.T) {
		h := perfService(t, base+"rateLimit: {requestsPerSecond: 0.5}\n", &countingVendor{})
		if w := getPath(h, defaultPath); w.Code != http.StatusOK {
			t.Fatalf("first request: %d %s", w.Code, w.Body)
		}
		// A burst of 1 (0.5 rounded up): the next token comes in 2 s.
		w := getPath(h, defaultPath)
		if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != http.StatusTooManyRequests || ra < 1 || ra > 2 {
			t.Errorf("second request: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	})

	t.Run("rateLimit.shared.window", func(t *testing.T) {
		h, _ := sharedService(t, base+"rateLimit: {shared: {cache: rl, limit: 1}}\n")
		if w := perfGet(h); w.Code != http.StatusOK {
			t.Fatalf("first request: %d %s", w.Code, w.Body)
		}
		// Refused until the one-minute window ends.
		w := perfGet(h)
		if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != http.StatusTooManyRequests || ra < 1 || ra > 60 {
			t.Errorf("second request: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	})

	t.Run("retry and momento.caches", func(t *testing.T) {
		cfg, err := ParseConfig([]byte(base + "momento: {local: true}\n"))
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		emu, err := momentolocal.Start(emulatorConfig(cfg, "127.0.0.1:0", log))
		if err != nil {
			t.Fatal(err)
		}
		defer emu.Close()
		if got := emu.Config().Caches; !slices.Equal(got, []string{"default-cache"}) {
			t.Errorf("emulator caches %q, want [default-cache]", got)
		}
		prov, err := emu.CredentialProvider()
		if err != nil {
			t.Fatal(err)
		}
		vendor, err := buildVendor(cfg, prov, "", "", log)
		if err != nil {
			t.Fatal(err)
		}
		defer vendor.Close()
		g := tvm.Grant{Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}, TTL: time.Minute, TokenID: "retry"}
		for _, tt := range []struct {
			failures int
			ok       bool
		}{{2, true}, {3, false}} {
			if _, err := emu.Faults().Add(momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.Unavailable, Count: tt.failures}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := vendor.Vend(ctx, g)
			cancel()
			if tt.ok && err != nil {
				t.Errorf("%d failures: %v, want the third attempt to succeed", tt.failures, err)
			}
			if !tt.ok && !errors.Is(err, tvm.ErrUpstreamUnavailable) {
				t.Errorf("%d failures: %v, want ErrUpstreamUnavailable after three attempts", tt.failures, err)
			}
			if n := len(emu.Faults().List()); n != 0 {
				t.Errorf("%d failures: %d fault rules left unspent", tt.failures, n)
			}
		}
	})
}

// TestEmulatorOrigins: the embedded emulator allows the loopback origins
// (momentolocal's default) plus the configured CORS origins, so that a page
// allowed to fetch tokens may also call the emulator; "*" adds nothing.
func TestEmulatorOrigins(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		cors string
		want []string
	}{
		{"", momentolocal.LoopbackOrigins()},
		{"cors: {allowedOrigins: ['*']}\n", momentolocal.LoopbackOrigins()},
		{"cors: {allowedOrigins: ['https://app.example.com']}\n", append(momentolocal.LoopbackOrigins(), "https://app.example.com")},
	} {
		cfg, err := ParseConfig([]byte(base + tt.cors + "momento: {local: true}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := emulatorConfig(cfg, "127.0.0.1:0", log).AllowedOrigins; !slices.Equal(got, tt.want) {
			t.Errorf("%q: emulator origins %q, want %q", tt.cors, got, tt.want)
		}
	}
}
