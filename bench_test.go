package tvm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
	"golang.org/x/crypto/bcrypt"
)

// benchWriter is a minimal http.ResponseWriter, so the benchmark measures
// the handler rather than httptest.ResponseRecorder.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// benchStubVendor answers at once, like a vendor with zero upstream latency.
var benchStubVendor = vendorFunc(func(_ context.Context, g tvm.Grant) (tvm.Token, error) {
	return tvm.Token{AuthToken: "stub-token", ExpiresAt: time.Now().Add(g.TTL)}, nil
})

// BenchmarkHandler measures one token request through the handler:
// authentication, scope resolution and validation, token id, the JSON
// response and the slog line (JSON, to io.Discard). "stub" uses a vendor
// that answers at once, so its figure is the handler's own overhead;
// "momentolocal" adds the real SDK's gRPC round trip to the in-process
// emulator on 127.0.0.1. "reuse" (the default) hands the same token again
// after the first request; "no-reuse" vends on every request. The "jwt"
// cases verify RS256 or ES256 tokens with jwtauth from static keys
// (GroupsClaim "cognito:groups").
//
//	go test -run '^$' -bench Handler -benchmem ./
func BenchmarkHandler(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	scopes, err := tvm.NewGroupScopes(
		tvm.GroupRule{Group: "ReadWriteUserGroup", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All}}},
		tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}},
	)
	if err != nil {
		b.Fatal(err)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	jwtAuth, err := jwtauth.New(jwtauth.Config{
		Issuers: []jwtauth.Issuer{{
			Issuer:       "https://idp.bench/",
			Audience:     []string{"bench"},
			Algorithms:   []string{"RS256", "ES256"},
			Keys:         map[string]crypto.PublicKey{"rsa": &rsaKey.PublicKey, "ec": &ecKey.PublicKey},
			GroupsClaims: []string{"cognito:groups"},
		}},
		// Every request verifies its JWT: these cases measure the check
		// (the verified-JWT cache has its own benchmarks in jwtauth).
		DisableCache: true,
		Logger:       logger,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = jwtAuth.Close() })
	claims := jwt.MapClaims{
		"iss": "https://idp.bench/", "aud": "bench", "sub": "user-123456",
		"iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Hour).Unix(),
		"cognito:groups": []string{"ReadWriteUserGroup"},
	}
	sign := func(m jwt.SigningMethod, key crypto.Signer, kid string) string {
		t := jwt.NewWithClaims(m, claims)
		t.Header["kid"] = kid
		s, err := t.SignedString(key)
		if err != nil {
			b.Fatal(err)
		}
		return "Bearer " + s
	}
	basicAuth := func(cost int) tvm.Authenticator {
		h, err := bcrypt.GenerateFromPassword([]byte("bench-password"), cost)
		if err != nil {
			b.Fatal(err)
		}
		cfg := tvm.BasicConfig{Users: []tvm.User{
			{Username: "other", PasswordHash: string(h)},
			{Username: "bench", PasswordHash: string(h), Groups: []string{"ReadWriteUserGroup"}},
		}}
		newBasic := tvm.NewBasic
		if cost < bcrypt.DefaultCost {
			newBasic = tvm.NewBasicMinCost // test-only: NewBasic requires cost 10
		}
		a, err := newBasic(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	basicHeader := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-password"))

	_, localVendor := itLocal(b)

	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cases := []struct {
		name   string
		auth   tvm.Authenticator
		header string
		vendor tvm.Vendor
		logger *slog.Logger // default: JSON lines to io.Discard
	}{
		{"open/stub", tvm.Open(), "", benchStubVendor, nil},
		{"open/stub/no-log", tvm.Open(), "", benchStubVendor, quiet},
		{"basic-cost4/stub", basicAuth(bcrypt.MinCost), basicHeader, benchStubVendor, nil},
		{"basic-cost10/stub", basicAuth(bcrypt.DefaultCost), basicHeader, benchStubVendor, nil},
		{"jwt-rs256/stub", jwtAuth, sign(jwt.SigningMethodRS256, rsaKey, "rsa"), benchStubVendor, nil},
		{"jwt-es256/stub", jwtAuth, sign(jwt.SigningMethodES256, ecKey, "ec"), benchStubVendor, nil},
		{"open/momentolocal", tvm.Open(), "", localVendor, nil},
		{"jwt-rs256/momentolocal", jwtAuth, sign(jwt.SigningMethodRS256, rsaKey, "rsa"), localVendor, nil},
	}
	for _, c := range cases {
		for _, reuse := range []struct {
			name string
			opts tvm.ReuseOptions
		}{{"reuse", tvm.ReuseOptions{}}, {"no-reuse", tvm.ReuseOptions{Disabled: true}}} {
			b.Run(c.name+"/"+reuse.name, func(b *testing.B) {
				l := logger
				if c.logger != nil {
					l = c.logger
				}
				h, err := tvm.NewHandler(tvm.Config{Authenticator: c.auth, Scopes: scopes, Vendor: c.vendor, Logger: l, Reuse: reuse.opts})
				if err != nil {
					b.Fatal(err)
				}
				r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
				if c.header != "" {
					r.Header.Set("Authorization", c.header)
				}
				w := &benchWriter{h: make(http.Header)}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					w.code = 0
					h.ServeHTTP(w, r)
					if w.code != http.StatusOK {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		}
	}
}

// BenchmarkHandlerParallel measures the handler under concurrent requests
// (GOMAXPROCS goroutines), where the reuse cache's and the rate limiter's
// locks are contended: open authentication, stub vendor, no log line.
//
//	go test -run '^$' -bench HandlerParallel -benchmem ./
func BenchmarkHandlerParallel(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	scope, err := tvm.NewGroupScopes(tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}})
	if err != nil {
		b.Fatal(err)
	}
	limiter, err := tvm.NewMemoryRateLimiter(tvm.MemoryRateLimitConfig{PerSecond: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  tvm.Config
	}{
		{"reuse", tvm.Config{}},
		{"no-reuse", tvm.Config{Reuse: tvm.ReuseOptions{Disabled: true}}},
		{"reuse+ratelimit", tvm.Config{RateLimit: limiter}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := c.cfg
			cfg.Authenticator, cfg.Scopes, cfg.Vendor, cfg.Logger = tvm.Open(), scope, benchStubVendor, quiet
			h, err := tvm.NewHandler(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
				w := &benchWriter{h: make(http.Header)}
				for pb.Next() {
					clear(w.h)
					w.code = 0
					h.ServeHTTP(w, r)
					if w.code != http.StatusOK {
						b.Errorf("status %d", w.code)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMemoryRateLimiter measures one Allow over 10,000 keys.
func BenchmarkMemoryRateLimiter(b *testing.B) {
	l, err := tvm.NewMemoryRateLimiter(tvm.MemoryRateLimitConfig{PerSecond: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = "jwt:user-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := l.Allow(context.Background(), ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
