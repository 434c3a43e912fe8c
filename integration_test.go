package tvm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
	"github.com/tvmgo/tvm/momentolocal"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
)

// itQuietSDK is an SDK auth configuration that does not log.
var itQuietSDK = config.AuthDefaultWithLogger(logger.NewNoopMomentoLoggerFactory())

// itLocal starts a momentolocal emulator that requires its root key, and a
// real SDK vendor authenticated with that key (default retries).
func itLocal(t testing.TB) (*momentolocal.Server, *tvm.MomentoVendor) {
	t.Helper()
	srv, err := momentolocal.Start(momentolocal.Config{RequireAPIKey: true, Caches: []string{"default-cache", "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p, err := srv.CredentialProvider()
	if err != nil {
		t.Fatal(err)
	}
	return srv, itVendorFor(t, p, tvm.RetryOptions{})
}

// itVendor is a real SDK vendor on srv's address with the given API key
// and retry options, closed when the test ends.
func itVendor(t testing.TB, srv *momentolocal.Server, apiKey string, retry tvm.RetryOptions) *tvm.MomentoVendor {
	t.Helper()
	p, err := srv.CredentialProviderFor(apiKey)
	if err != nil {
		t.Fatal(err)
	}
	return itVendorFor(t, p, retry)
}

func itVendorFor(t testing.TB, p auth.CredentialProvider, retry tvm.RetryOptions) *tvm.MomentoVendor {
	t.Helper()
	v, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: p, AuthConfig: itQuietSDK, Retry: retry, Logger: itQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func itQuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func itHandler(t testing.TB, cfg tvm.Config) *tvm.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = itQuietLogger()
	}
	h, err := tvm.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// itScopes is tvm.NewGroupScopes for valid rules.
func itScopes(t testing.TB, rules ...tvm.GroupRule) *tvm.GroupScopes {
	t.Helper()
	s, err := tvm.NewGroupScopes(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// itEveryone gives every caller s: one default rule.
func itEveryone(t testing.TB, s tvm.Scope) *tvm.GroupScopes {
	t.Helper()
	return itScopes(t, tvm.GroupRule{Default: true, Scope: s})
}

// itBasic is a Basic authenticator for users with the given passwords and
// groups (bcrypt.MinCost hashes, through the test-only NewBasicMinCost:
// NewBasic requires cost 10, a second per comparison under -race).
func itBasic(t testing.TB, headers bool, users ...tvm.User) *tvm.BasicAuthenticator {
	t.Helper()
	for i := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(users[i].PasswordHash), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users[i].PasswordHash = string(h)
	}
	a, err := tvm.NewBasicMinCost(tvm.BasicConfig{AllowCredentialHeaders: headers, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type itTokenBody struct {
	AuthToken string `json:"authToken"`
	ExpiresAt int64  `json:"expiresAt"`
}

// itGet serves one GET and decodes a 200 body.
func itGet(t testing.TB, h http.Handler, target string, header http.Header) itTokenBody {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", target, w.Code, w.Body)
	}
	var body itTokenBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.AuthToken == "" {
		t.Fatal("empty authToken")
	}
	return body
}

// itCheckRequest checks the last token request the emulator received.
func itCheckRequest(t *testing.T, srv *momentolocal.Server, n int, tokenID string, validFor time.Duration, slack time.Duration, perms ...momentolocal.Permission) {
	t.Helper()
	reqs := srv.TokenRequests()
	if len(reqs) != n {
		t.Fatalf("emulator received %d token requests, want %d", len(reqs), n)
	}
	got := reqs[n-1]
	if got.TokenID != tokenID {
		t.Errorf("token id = %q, want %q", got.TokenID, tokenID)
	}
	if got.ValidFor > validFor || got.ValidFor < validFor-slack {
		t.Errorf("valid for %s, want %s (-%s)", got.ValidFor, validFor, slack)
	}
	if !reflect.DeepEqual(got.Permissions, perms) {
		t.Errorf("permissions =\n  %v\nwant\n  %v", got.Permissions, perms)
	}
}

// itCheckToken checks that the vended token is the SDK-wrapped key the
// emulator issued, expiring when the body says.
func itCheckToken(t *testing.T, srv *momentolocal.Server, body itTokenBody, validFor time.Duration) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(body.AuthToken)
	if err != nil {
		t.Fatalf("authToken is not the SDK's base64 form: %v", err)
	}
	var inner struct {
		APIKey   string `json:"api_key"`
		Endpoint string `json:"endpoint"`
	}
	if err := json.Unmarshal(raw, &inner); err != nil || inner.APIKey == "" || inner.Endpoint != srv.Addr() {
		t.Errorf("authToken decodes to %s (%v)", raw, err)
	}
	until := time.Until(time.Unix(body.ExpiresAt, 0))
	if until > validFor+time.Second || until < validFor-3*time.Second {
		t.Errorf("expiresAt is %s away, want about %s", until, validFor)
	}
}

// itDefaultTTL is the handler's default token lifetime (Config.TTL).
const itDefaultTTL = 15 * time.Minute

func TestIntegrationOpenStaticScope(t *testing.T) {
	// Registered first, so it runs after the emulator and vendor are closed.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore,
			// client-sdk-go v1.38.0's AuthClient.Close leaves its (idle,
			// never dialled) auth connection open.
			goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))
	})
	srv, v := itLocal(t)
	h := itHandler(t, tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: "lobby"}}),
		Vendor:        v,
		TTL:           10 * time.Minute,
		TokenID:       tvm.QueryTokenID("name"),
	})
	body := itGet(t, h, "/token?name=guest-7", nil)
	itCheckRequest(t, srv, 1, "guest-7", 10*time.Minute, 0,
		momentolocal.Permission{Role: "subscribeonly", Cache: "default-cache", Topic: "lobby"})
	itCheckToken(t, srv, body, 10*time.Minute)

	itGet(t, h, "/token", nil)
	itCheckRequest(t, srv, 2, "anonymous", 10*time.Minute, 0,
		momentolocal.Permission{Role: "subscribeonly", Cache: "default-cache", Topic: "lobby"})
}

func TestIntegrationBasicGroupScopes(t *testing.T) {
	srv, v := itLocal(t)
	h := itHandler(t, tvm.Config{
		Authenticator: itBasic(t, true,
			tvm.User{Username: "reader", PasswordHash: "r-pass", Groups: []string{"ReadOnlyUserGroup"}},
			tvm.User{Username: "writer", PasswordHash: "w-pass", Groups: []string{"ReadWriteUserGroup"}},
		),
		Scopes: itScopes(t,
			tvm.GroupRule{Group: "ReadWriteUserGroup", Scope: tvm.Scope{
				{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All},
				{Role: tvm.ReadWrite, Cache: "chat", KeyPrefix: "{sub}/"},
			}},
			tvm.GroupRule{Group: "ReadOnlyUserGroup", Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}, TTL: 5 * time.Minute},
		),
		Vendor: v,
	})

	// The reader asks, through the headers Momento's reference TVM trusts,
	// for read-write on another cache; it gets its read-only scope.
	body := itGet(t, h, "/token?cachename=other", http.Header{
		"Username": {"reader"}, "Password": {"r-pass"},
		"Usergroup": {"ReadWriteUserGroup"}, "Cachename": {"other"},
	})
	itCheckRequest(t, srv, 1, "reader", 5*time.Minute, 0,
		momentolocal.Permission{Role: "subscribeonly", Cache: "default-cache", Topic: "*"})
	itCheckToken(t, srv, body, 5*time.Minute)

	itGet(t, h, "/token", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("writer:w-pass"))}})
	itCheckRequest(t, srv, 2, "writer", itDefaultTTL, 0,
		momentolocal.Permission{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"},
		momentolocal.Permission{Role: "readwrite", Cache: "chat", KeyPrefix: "writer/"})

	// A wrong password reaches nothing.
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.SetBasicAuth("writer", "r-pass")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || len(srv.TokenRequests()) != 2 {
		t.Errorf("wrong password: status %d, %d token requests", w.Code, len(srv.TokenRequests()))
	}
}

// itSign signs claims with key under kid.
func itSign(t testing.TB, method jwt.SigningMethod, key crypto.Signer, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestIntegrationJWT: jwtauth verifies RS256 and ES256 tokens from static
// keys; the verified groups ("cognito:groups"), subject and expiry decide
// the scope, the templates and the token's lifetime; hostile tokens vend
// nothing and get the Bearer challenge.
func TestIntegrationJWT(t *testing.T) {
	srv, v := itLocal(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const iss, aud = "https://idp.example.test/", "chat-app"
	auth, err := jwtauth.New(jwtauth.Config{
		Issuers: []jwtauth.Issuer{{
			Issuer:       iss,
			Audience:     []string{aud},
			Algorithms:   []string{"RS256", "ES256"},
			Keys:         map[string]crypto.PublicKey{"rsa-1": &rsaKey.PublicKey, "ec-1": &ecKey.PublicKey},
			GroupsClaims: []string{"cognito:groups"},
		}},
		Logger: itQuietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = auth.Close() })
	h := itHandler(t, tvm.Config{
		Authenticator: auth,
		Scopes: itScopes(t,
			tvm.GroupRule{Group: "ReadWriteUserGroup", Scope: tvm.Scope{
				{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All},
				{Role: tvm.PublishSubscribe, Cache: "chat", Topic: "user-{sub}"},
			}},
			tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", TopicPrefix: "public-"}}},
		),
		Vendor: v,
	})
	now := time.Now()
	claims := func(sub string, exp time.Duration, groups ...string) jwt.MapClaims {
		return jwt.MapClaims{"iss": iss, "aud": aud, "sub": sub, "iat": now.Unix(), "exp": now.Add(exp).Unix(), "cognito:groups": groups}
	}

	// RS256, read-write group, token expiring in 5 minutes: the token lives
	// at most as long as the JWT.
	readWrite := itSign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims("u-123", 5*time.Minute, "ReadWriteUserGroup"))
	body := itGet(t, h, "/token", http.Header{"Authorization": {"Bearer " + readWrite}, "Usergroup": {"admins"}})
	itCheckRequest(t, srv, 1, "u-123", 5*time.Minute, 2*time.Second,
		momentolocal.Permission{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"},
		momentolocal.Permission{Role: "publishsubscribe", Cache: "chat", Topic: "user-u-123"})
	itCheckToken(t, srv, body, srv.TokenRequests()[0].ValidFor)

	// ES256, no group: the default rule, and the JWT outlives the default TTL.
	tok := itSign(t, jwt.SigningMethodES256, ecKey, "ec-1", claims("u-456", 2*time.Hour))
	itGet(t, h, "/token", http.Header{"Authorization": {"Bearer " + tok}})
	itCheckRequest(t, srv, 2, "u-456", itDefaultTTL, 0,
		momentolocal.Permission{Role: "subscribeonly", Cache: "default-cache", TopicPrefix: "public-"})

	// Hostile tokens vend nothing, and get the Bearer challenge with
	// error="invalid_token".
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"unknown key, known kid": itSign(t, jwt.SigningMethodRS256, attacker, "rsa-1", claims("u-123", time.Hour, "ReadWriteUserGroup")),
		"expired":                itSign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims("u-123", -time.Hour, "ReadWriteUserGroup")),
		"alg none":               "eyJhbGciOiJub25lIiwia2lkIjoicnNhLTEifQ." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u-123","iss":"`+iss+`","aud":"`+aud+`","exp":9999999999}`)) + ".",
		"alg none, no kid":       "eyJhbGciOiJub25lIn0.e30.",
		"altered signature":      readWrite + "x",
		"empty":                  "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/token", nil)
		r.Header.Set("Authorization", "Bearer "+bad)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Errorf("%s: status %d, WWW-Authenticate %q", name, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	if n := len(srv.TokenRequests()); n != 2 {
		t.Errorf("%d token requests after hostile tokens, want 2", n)
	}
}

func TestIntegrationNarrowing(t *testing.T) {
	srv, v := itLocal(t)
	narrowing, err := tvm.NewNarrowing(itEveryone(t, tvm.Scope{
		{Role: tvm.PublishSubscribe, Cache: "chat", TopicPrefix: "room-"},
		{Role: tvm.ReadOnly, Cache: "chat"},
	}), tvm.NarrowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := itHandler(t, tvm.Config{Authenticator: tvm.Open(), Scopes: narrowing, Vendor: v})
	itGet(t, h, "/token?topic=room-42", nil)
	itCheckRequest(t, srv, 1, "anonymous", itDefaultTTL, 0,
		momentolocal.Permission{Role: "publishsubscribe", Cache: "chat", Topic: "room-42"})

	// Outside the allowed set: 403, nothing vended.
	for _, q := range []string{"topic=lobby", "cache=default-cache"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token?"+q, nil))
		if w.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", q, w.Code)
		}
	}
	if n := len(srv.TokenRequests()); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestIntegrationContextIdentity(t *testing.T) {
	srv, v := itLocal(t)
	h := itHandler(t, tvm.Config{
		Authenticator: tvm.ContextIdentity(),
		Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "chat", Topic: "user-{sub}"}}),
		Vendor:        v,
	})
	// The application's own session middleware authenticates the user.
	session := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err == nil && c.Value == "valid-session" {
				r = r.WithContext(tvm.NewContext(r.Context(), tvm.Identity{Subject: "member-9"}))
			}
			next.ServeHTTP(w, r)
		})
	}
	app := session(h)
	itGet(t, app, "/token", http.Header{"Cookie": {"session=valid-session"}})
	itCheckRequest(t, srv, 1, "member-9", itDefaultTTL, 0,
		momentolocal.Permission{Role: "publishsubscribe", Cache: "chat", Topic: "user-member-9"})

	w := httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("no session: status %d", w.Code)
	}
}

func TestIntegrationUpstreamFailures(t *testing.T) {
	srv, _ := itLocal(t)
	cfg := tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
		// Every request reaches the emulator once: see resilience_test.go
		// for retries and reuse under faults.
		Vendor:      itVendor(t, srv, srv.RootAPIKey(), tvm.RetryOptions{Attempts: 1}),
		VendTimeout: 300 * time.Millisecond,
		Reuse:       tvm.ReuseOptions{Disabled: true},
	}
	h := itHandler(t, cfg)
	serve := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token", nil))
		return w
	}
	tests := []struct {
		name   string
		fault  momentolocal.Fault
		status int
		code   string
	}{
		{"unavailable", momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.Unavailable, Count: 1}, 503, tvm.CodeUpstreamUnavailable},
		// Momento's auth quota: its own outcome, not "unavailable".
		{"resource exhausted", momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.ResourceExhausted, Count: 1}, 503, tvm.CodeUpstreamThrottled},
		{"permission denied", momentolocal.Fault{Method: "GenerateDisposableToken", Code: codes.PermissionDenied, Count: 1}, 502, tvm.CodeUpstreamRejected},
		{"slow", momentolocal.Fault{Method: "GenerateDisposableToken", Latency: 5 * time.Second, Count: 1}, 504, tvm.CodeUpstreamTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := srv.Faults().Add(tt.fault); err != nil {
				t.Fatal(err)
			}
			w := serve()
			if w.Code != tt.status || !strings.Contains(w.Body.String(), `"error":"`+tt.code+`"`) {
				t.Errorf("status %d body %s, want %d %s", w.Code, w.Body, tt.status, tt.code)
			}
			srv.Faults().Reset()
		})
	}
	if w := serve(); w.Code != http.StatusOK {
		t.Errorf("after the faults: status %d", w.Code)
	}

	// A vendor with a key the emulator does not know (another emulator's
	// root key) is rejected: 502.
	other, err := momentolocal.Start(momentolocal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cfg.Vendor = itVendor(t, srv, other.RootAPIKey(), tvm.RetryOptions{})
	w := httptest.NewRecorder()
	itHandler(t, cfg).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token", nil))
	if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), tvm.CodeUpstreamRejected) {
		t.Errorf("unknown key: status %d body %s", w.Code, w.Body)
	}
}

func TestIntegrationConcurrentVends(t *testing.T) {
	srv, v := itLocal(t)
	h := itHandler(t, tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
		Vendor:        v,
		TokenID:       tvm.QueryTokenID("name"),
	})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodGet, "/token?name=n"+strings.Repeat("x", i), nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	wg.Wait()
	if n := len(srv.TokenRequests()); n != 20 {
		t.Errorf("%d token requests, want 20", n)
	}
	var ve *tvm.VendError
	_, err := v.Vend(context.Background(), tvm.Grant{Scope: tvm.Scope{{Role: tvm.ReadOnly, Cache: "default-cache"}}, TTL: 2 * time.Hour})
	if !errors.Is(err, tvm.ErrInvalidConfig) || errors.As(err, &ve) {
		t.Errorf("a 2h grant reached the SDK: %v", err)
	}
}
