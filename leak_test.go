package tvm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/momentohq/client-sdk-go/momento"
	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
	"github.com/tvmgo/tvm/momentolocal"
	"google.golang.org/grpc/codes"

	"github.com/tvmgo/tvm/internal/testenv"
)

// lkSDKLogs routes the Momento SDK's own logs (at trace level) into slog.
type lkSDKLogs struct{ log *slog.Logger }

func (f lkSDKLogs) GetLogger(name string) logger.MomentoLogger {
	return lkSDKLogger{f.log.With("sdk", name)}
}

type lkSDKLogger struct{ log *slog.Logger }

func (l lkSDKLogger) Trace(m string, a ...any) { l.log.Debug(fmt.Sprintf(m, a...)) }
func (l lkSDKLogger) Debug(m string, a ...any) { l.log.Debug(fmt.Sprintf(m, a...)) }
func (l lkSDKLogger) Info(m string, a ...any)  { l.log.Info(fmt.Sprintf(m, a...)) }
func (l lkSDKLogger) Warn(m string, a ...any)  { l.log.Warn(fmt.Sprintf(m, a...)) }
func (l lkSDKLogger) Error(m string, a ...any) { l.log.Error(fmt.Sprintf(m, a...)) }

// TestSecretsNeverLeak runs every path of the token service — success and
// reuse, bad password, a good JWT, a bad signature, altered and expired
// JWTs, alg "none", unknown key ids (a JWKS refresh from a loopback JWKS
// server, and the rate-limited one after it), a JWKS that is down when the
// JWT authenticator starts, rate limits, upstream 502/503/504 (with fault
// messages that echo the API key, and the vendor's retry lines), a wrong
// API key, a shared rate limiter that cannot reach Momento, a closed
// vendor, a client that goes away, and recovered panics whose values hold
// secrets — with every logger (the handler's, the vendor's, the JWT
// authenticator's, the emulator's and the Momento SDK's) writing JSON at
// debug level into one buffer. No API key, vended token (the SDK string and
// its inner api_key), password, Basic credential or JWT may appear in the
// logs, in an error body or in a response header.
func TestSecretsNeverLeak(t *testing.T) {
	rlGoleak(t)
	var sink testenv.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sdkLogs := lkSDKLogs{log}

	srv, err := momentolocal.Start(momentolocal.Config{RequireAPIKey: true, Caches: []string{"default-cache", rlCache}, Logger: log.With("component", "emulator")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	other, err := momentolocal.Start(momentolocal.Config{Logger: log.With("component", "other-emulator")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	rootKey, otherKey := srv.RootAPIKey(), other.RootAPIKey()

	newVendor := func(apiKey string, attempts int) *tvm.MomentoVendor {
		p, err := srv.CredentialProviderFor(apiKey)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: p, AuthConfig: config.AuthDefaultWithLogger(sdkLogs),
			Retry: tvm.RetryOptions{Attempts: attempts, BaseDelay: time.Millisecond}, Logger: log.With("component", "vendor")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = v.Close() })
		return v
	}
	vendor, wrongKeyVendor := newVendor(rootKey, 1), newVendor(otherKey, 1)
	retryingVendor := newVendor(rootKey, 2) // logs its retry at debug
	closedVendor := newVendor(rootKey, 3)
	if err := closedVendor.Close(); err != nil {
		t.Fatal(err)
	}

	// Shared rate limiter on the emulator's cache, through the SDK.
	p, err := srv.CredentialProvider()
	if err != nil {
		t.Fatal(err)
	}
	cacheClient := rlCacheClientWithLogger(t, p, sdkLogs)
	sharedLimiter, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{Client: cacheClient, CacheName: rlCache, Secret: rlSecret, Limit: 1000, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	// Basic users.
	const alicePassword, bobPassword = "alice-Pa55word-very-secret", "bob-Pa55word-also-secret"
	basic := itBasic(t, true,
		tvm.User{Username: "alice", PasswordHash: alicePassword, Groups: []string{"writers"}},
		tvm.User{Username: "bob", PasswordHash: bobPassword},
	)

	// JWT issuer with a JWKS on loopback, down (503) when the authenticator
	// starts: its first fetch fails and is logged.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":%q,"e":%q}]}`,
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	var jwksDown atomic.Bool
	var jwksHits atomic.Int64
	jwksDown.Store(true)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jwksHits.Add(1)
		if jwksDown.Load() {
			http.Error(w, "identity provider down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwks))
	}))
	t.Cleanup(jwksSrv.Close)
	const iss, aud = "https://idp.leak.test/", "leak-app"
	jwtCtx, jwtCancel := context.WithCancel(context.Background())
	t.Cleanup(jwtCancel)
	jwtAuth, err := jwtauth.New(jwtauth.Config{
		Issuers: []jwtauth.Issuer{{Issuer: iss, Audience: []string{aud}, Algorithms: []string{"RS256"}, JWKSURL: jwksSrv.URL}},
		Context: jwtCtx, Logger: log.With("component", "jwt"),
		// One refresh for unknown kids in the whole run, however slow it is.
		UnknownKIDRefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jwtAuth.Close() })
	if n := jwksHits.Load(); n != 1 {
		t.Fatalf("jwtauth.New fetched the JWKS %d times, want 1", n)
	}
	jwksDown.Store(false)
	sign := func(k *rsa.PrivateKey, kid, sub string, exp time.Duration) string {
		return itSign(t, jwt.SigningMethodRS256, k, kid, jwt.MapClaims{"iss": iss, "aud": aud, "sub": sub,
			"iat": time.Now().Unix(), "exp": time.Now().Add(exp).Unix()})
	}
	goodJWT := sign(key, "k1", "carol", time.Hour)
	unknownKID := sign(attacker, "kid-random-1", "mallory", time.Hour) // unknown kid: JWKS refresh
	badJWTs := []string{
		sign(attacker, "k1", "carol", time.Hour), // bad signature
		sign(key, "k1", "carol", -time.Hour),     // expired
		unknownKID,
		sign(attacker, "kid-random-2", "mallory", time.Hour), // unknown kid, refresh rate-limited
		goodJWT + "x",                                        // altered
		"eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"carol","iss":"`+iss+`","aud":"`+aud+`"}`)) + ".",
	}

	scopes := itScopes(t,
		tvm.GroupRule{Group: "writers", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: "user-{sub}"}}},
		tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}},
	)
	// Panicking components, with secrets in their panic values.
	panicVendor := vendorFunc(func(context.Context, tvm.Grant) (tvm.Token, error) {
		panic(fmt.Errorf("vendor bug holding %s", rootKey))
	})
	panicAuth := tvm.AuthenticatorFunc(func(r *http.Request) (tvm.Identity, error) {
		panic("authenticator bug holding " + r.Header.Get("Authorization"))
	})

	handler := func(a tvm.Authenticator, v tvm.Vendor, mod func(*tvm.Config)) *tvm.Handler {
		cfg := tvm.Config{Authenticator: a, Scopes: scopes, Vendor: v, Logger: log, VendTimeout: 300 * time.Millisecond}
		if mod != nil {
			mod(&cfg)
		}
		h, err := tvm.NewHandler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	memLimiter, err := tvm.NewMemoryRateLimiter(tvm.MemoryRateLimitConfig{PerSecond: 0.001, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	basicH := handler(basic, vendor, func(c *tvm.Config) { c.RateLimit = memLimiter })
	jwtH := handler(jwtAuth, vendor, func(c *tvm.Config) { c.RateLimit = sharedLimiter })
	noReuseH := handler(basic, retryingVendor, func(c *tvm.Config) { c.Reuse.Disabled = true })
	closedH := handler(basic, closedVendor, nil)
	wrongKeyH := handler(basic, wrongKeyVendor, nil)
	panicVendorH := handler(basic, panicVendor, nil)
	panicVendorNoReuseH := handler(basic, panicVendor, func(c *tvm.Config) { c.Reuse.Disabled = true })
	panicAuthH := handler(panicAuth, vendor, nil)

	basicAuth := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	secrets := map[string]string{
		"root API key": rootKey, "other API key": otherKey,
		"alice password": alicePassword, "bob password": bobPassword,
		"alice Basic": basicAuth("alice", alicePassword), "bob Basic": basicAuth("bob", bobPassword),
		"JWT": goodJWT, "JWT signature": goodJWT[strings.LastIndex(goodJWT, ".")+1:],
	}
	for i, b := range badJWTs {
		secrets[fmt.Sprintf("bad JWT %d", i)] = b
	}
	var checked []*httptest.ResponseRecorder
	var reqCtx context.Context // when set, the context of the next request
	do := func(h http.Handler, header map[string]string, want int) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/token", nil)
		if reqCtx != nil {
			r = r.WithContext(reqCtx)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%v: status %d, want %d: %s", header, w.Code, want, w.Body)
		}
		if w.Code == http.StatusOK {
			var body struct{ AuthToken string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			n := len(secrets)
			secrets[fmt.Sprint("vended token ", n)] = body.AuthToken
			raw, err := base64.StdEncoding.DecodeString(body.AuthToken)
			if err != nil {
				t.Fatal(err)
			}
			var inner struct {
				APIKey string `json:"api_key"`
			}
			if err := json.Unmarshal(raw, &inner); err != nil || inner.APIKey == "" {
				t.Fatalf("token %s: %v", raw, err)
			}
			secrets[fmt.Sprint("inner api_key ", n)] = inner.APIKey
		} else {
			checked = append(checked, w)
		}
		return w
	}
	alice := map[string]string{"Authorization": basicAuth("alice", alicePassword)}
	bobHeaders := map[string]string{"Username": "bob", "Password": bobPassword}

	// Successes, reuse, rate limits.
	do(basicH, alice, 200)
	do(basicH, alice, 200) // reused
	do(basicH, bobHeaders, 200)
	do(basicH, alice, 200)
	do(basicH, alice, 429)
	// The first JWT names a kid the authenticator does not know (it has no
	// keys yet: its first fetch failed): it fetches the JWKS again, now
	// served, and refuses the token; the good JWT then verifies.
	do(jwtH, map[string]string{"Authorization": "Bearer " + unknownKID}, 401)
	if n := jwksHits.Load(); n != 2 {
		t.Errorf("an unknown kid made %d JWKS fetches in all, want 2", n)
	}
	do(jwtH, map[string]string{"Authorization": "Bearer " + goodJWT}, 200)
	do(noReuseH, bobHeaders, 200)
	// Authentication failures.
	do(basicH, map[string]string{"Authorization": basicAuth("alice", bobPassword)}, 401)
	do(basicH, map[string]string{"Username": "bob", "Password": alicePassword}, 401)
	do(basicH, map[string]string{"Authorization": basicAuth("alice", alicePassword), "Username": "bob", "Password": bobPassword}, 401)
	do(basicH, map[string]string{"Authorization": "Bearer " + goodJWT}, 401)
	for _, b := range badJWTs {
		do(jwtH, map[string]string{"Authorization": "Bearer " + b}, 401)
	}
	// Upstream failures whose messages echo the API key.
	for _, f := range []struct {
		fault  momentolocal.Fault
		status int
	}{
		{momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.PermissionDenied, Message: "denied for " + rootKey}, 502},
		{momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.Unavailable, Message: "down, key " + rootKey}, 503},
		{momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.Unauthenticated, Message: "bad key " + rootKey}, 502},
		{momentolocal.Fault{Method: "GenerateDisposableToken", Latency: 2 * time.Second}, 504},
	} {
		id, err := srv.Faults().Add(f.fault)
		if err != nil {
			t.Fatal(err)
		}
		do(noReuseH, bobHeaders, f.status)
		srv.Faults().Remove(id)
	}
	do(wrongKeyH, alice, 502)
	do(closedH, alice, 500)
	// A client that goes away while Momento is slow.
	id, err := srv.Faults().Add(momentolocal.Fault{Method: "GenerateDisposableToken", Latency: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	reqCtx = ctx
	do(noReuseH, bobHeaders, 499)
	reqCtx = nil
	cancel()
	srv.Faults().Remove(id)
	// The shared limiter cannot reach Momento (fails open, logs a warning).
	id, err = srv.Faults().Add(momentolocal.Fault{Method: "Increment", Code: codes.Unavailable, Message: "echo " + rootKey})
	if err != nil {
		t.Fatal(err)
	}
	do(jwtH, map[string]string{"Authorization": "Bearer " + goodJWT}, 200)
	srv.Faults().Remove(id)
	if n := jwksHits.Load(); n != 2 {
		t.Errorf("%d JWKS fetches in all, want 2 (unknown kids within the rate limit fetch nothing)", n)
	}
	// Recovered panics.
	do(panicVendorH, alice, 500)
	do(panicVendorNoReuseH, alice, 500)
	do(panicAuthH, alice, 500)

	logs := sink.String()
	for _, want := range []string{`"status":429`, `"status":499`, `"status":500`, `"status":502`, `"status":503`, `"status":504`, "panic serving token request",
		"panic in the vendor", "rate limiter cannot reach Momento", "retrying the vend", `"component":"emulator"`,
		`"component":"jwt"`, "JWKS fetch failed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the run did not log %s: the test misses a path", want)
		}
	}
	for name, secret := range secrets {
		if strings.Contains(logs, secret) {
			i := strings.Index(logs, secret)
			t.Errorf("%s in the logs: …%s…", name, logs[max(0, i-200):i])
		}
		for _, w := range checked {
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("%s in an error body: %s", name, w.Body)
			}
			for k, vs := range w.Header() {
				for _, v := range vs {
					if strings.Contains(v, secret) {
						t.Errorf("%s in response header %s", name, k)
					}
				}
			}
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d log bytes, %d secrets checked, %d error answers", len(logs), len(secrets), len(checked))
}

// rlCacheClientWithLogger is a Go SDK cache client on p logging through f.
func rlCacheClientWithLogger(t *testing.T, p auth.CredentialProvider, f logger.MomentoLoggerFactory) momento.CacheClient {
	t.Helper()
	c, err := momento.NewCacheClientWithEagerConnectTimeout(config.LaptopLatestWithLogger(f), p, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
