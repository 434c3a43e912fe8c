package tvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tvmgo/tvm/internal/testenv"
)

// htNow is the fixed clock of handler tests.
var htNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// htToken is the secret a stub vendor hands out; it must appear only in
// response bodies, never in logs or errors.
const htToken = "c2VjcmV0LXRva2VuLXZhbHVlLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ="

var htScope = Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}

// vendorFunc adapts a function to the Vendor interface (the package has no
// VendorFunc: tests define their own).
type vendorFunc func(ctx context.Context, g Grant) (Token, error)

func (f vendorFunc) Vend(ctx context.Context, g Grant) (Token, error) { return f(ctx, g) }

// htDefault is a resolver giving every caller s (one default rule).
func htDefault(t testing.TB, s Scope) *GroupScopes {
	t.Helper()
	return htGroupScopes(t, GroupRule{Default: true, Scope: s})
}

// htGroupScopes is NewGroupScopes for valid rules.
func htGroupScopes(t testing.TB, rules ...GroupRule) *GroupScopes {
	t.Helper()
	g, err := NewGroupScopes(rules...)
	if err != nil {
		t.Fatalf("NewGroupScopes: %v", err)
	}
	return g
}

// htNarrowing is NewNarrowing for valid options.
func htNarrowing(t testing.TB, inner ScopeResolver, opts NarrowOptions) *Narrowing {
	t.Helper()
	n, err := NewNarrowing(inner, opts)
	if err != nil {
		t.Fatalf("NewNarrowing: %v", err)
	}
	return n
}

// htBasic is NewBasic for a valid configuration whose hashes have the
// lowest bcrypt cost (bcrypt.MinCost, so that tests run fast; NewBasic
// itself requires at least 10).
func htBasic(t testing.TB, cfg BasicConfig) *BasicAuthenticator {
	t.Helper()
	a, err := newBasic(cfg, bcrypt.MinCost)
	if err != nil {
		t.Fatalf("newBasic: %v", err)
	}
	return a
}

// configErrors returns the *ConfigError values of a constructor's error: the
// error itself, or each of the errors it joins. It fails the test when the
// error does not wrap ErrInvalidConfig or when a joined error is not a
// *ConfigError.
func configErrors(t testing.TB, err error) []*ConfigError {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want *ConfigError values")
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("error %v does not wrap ErrInvalidConfig", err)
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*ConfigError
	for _, e := range errs {
		ce, ok := e.(*ConfigError)
		if !ok {
			t.Errorf("joined error %v (%T) is not a *ConfigError", e, e)
			continue
		}
		out = append(out, ce)
	}
	var first *ConfigError
	if !errors.As(err, &first) {
		t.Errorf("errors.As(%v, *ConfigError) fails", err)
	}
	return out
}

// configFields returns the fields named by the *ConfigError values of err.
func configFields(t testing.TB, err error) []string {
	t.Helper()
	var fields []string
	for _, ce := range configErrors(t, err) {
		fields = append(fields, ce.Field)
	}
	return fields
}

// htVendor is a stub Vendor that records the grants it receives.
type htVendor struct {
	mu     sync.Mutex
	grants []Grant
	vend   func(ctx context.Context, g Grant) (Token, error)
}

func (v *htVendor) Vend(ctx context.Context, g Grant) (Token, error) {
	v.mu.Lock()
	v.grants = append(v.grants, g)
	v.mu.Unlock()
	if v.vend != nil {
		return v.vend(ctx, g)
	}
	return Token{AuthToken: htToken, ExpiresAt: htNow.Add(g.TTL)}, nil
}

func (v *htVendor) calls() []Grant {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Grant(nil), v.grants...)
}

// htSetup builds a handler around cfg, filling the missing required parts
// with Open, a static subscribe-only scope and a stub vendor, a fixed clock
// and a log buffer.
func htSetup(t testing.TB, cfg Config) (*Handler, *htVendor, *testenv.SyncBuffer) {
	t.Helper()
	v := &htVendor{}
	if cfg.Authenticator == nil {
		cfg.Authenticator = Open()
	}
	if cfg.Scopes == nil {
		cfg.Scopes = ResolverFunc(func(context.Context, Identity, *http.Request) (Grant, error) {
			return Grant{Scope: htScope, Rule: "static"}, nil
		})
	}
	if cfg.Vendor == nil {
		cfg.Vendor = v
	}
	logs := &testenv.SyncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	h.now = func() time.Time { return htNow }
	return h, v, logs
}

func htDo(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type htErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// htCheckError checks an error response's status, body shape and standard
// headers.
func htCheckError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) htErrorBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	htCheckNoStore(t, w)
	var body htErrorBody
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if body.Error != code || body.Message == "" {
		t.Errorf("error body = %+v, want code %q and a message", body, code)
	}
	if strings.Contains(w.Body.String(), htToken) {
		t.Error("error body contains the token")
	}
	return body
}

func htCheckNoStore(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := w.Header().Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	if got := w.Header().Values("Vary"); len(got) == 0 || got[0] != "Origin" {
		t.Errorf("Vary = %q, want Origin first", got)
	}
}

func TestHandlerSuccess(t *testing.T) {
	h, v, _ := htSetup(t, Config{})
	w := htDo(h, http.MethodGet, "/api/momento/token", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	htCheckNoStore(t, w)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS header sent although CORS is off")
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 2 || body["authToken"] != htToken || body["expiresAt"] != float64(htNow.Add(defaultTTL).Unix()) {
		t.Errorf("body = %v", body)
	}
	grants := v.calls()
	if len(grants) != 1 {
		t.Fatalf("%d vends, want 1", len(grants))
	}
	g := grants[0]
	if g.TTL != defaultTTL || g.TokenID != "anonymous" || g.Rule != "static" || g.Scope.String() != htScope.String() {
		t.Errorf("grant = %+v", g)
	}
}

// htStatic is a resolver returning g.
func htStatic(g Grant, err error) ScopeResolver {
	return ResolverFunc(func(context.Context, Identity, *http.Request) (Grant, error) { return g, err })
}

// htAuth is an authenticator returning id or err.
func htAuth(id Identity, err error) Authenticator {
	return AuthenticatorFunc(func(*http.Request) (Identity, error) { return id, err })
}

// htChallenging adds a Challenge to an authenticator.
type htChallenging struct {
	Authenticator
	challenge string
}

func (c htChallenging) Challenge() string { return c.challenge }

// htRetryAfter is an error with its own Retry-After, wrapping kind.
type htRetryAfter struct {
	d    time.Duration
	kind error
}

func (e htRetryAfter) Error() string             { return "slow down" }
func (e htRetryAfter) RetryAfter() time.Duration { return e.d }
func (e htRetryAfter) Unwrap() error             { return e.kind }

func TestHandlerResponses(t *testing.T) {
	basicCfg := btConfig(t, true)
	user := Identity{Subject: "user-1", Method: "jwt"}
	tests := []struct {
		name    string
		cfg     Config
		vend    func(context.Context, Grant) (Token, error)
		method  string
		target  string
		header  http.Header
		status  int
		code    string // "" for 200/204
		headers map[string]string
		vends   int
		check   func(t *testing.T, w *httptest.ResponseRecorder, grants []Grant)
	}{
		// Methods.
		{name: "POST", method: http.MethodPost, status: 405, code: CodeMethodNotAllowed, headers: map[string]string{"Allow": "GET"}},
		{name: "HEAD", method: http.MethodHead, status: 405, code: CodeMethodNotAllowed, headers: map[string]string{"Allow": "GET"}},
		{name: "PUT", method: http.MethodPut, status: 405, code: CodeMethodNotAllowed, headers: map[string]string{"Allow": "GET"}},
		{name: "OPTIONS without CORS", method: http.MethodOptions, header: http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}},
			status: 405, code: CodeMethodNotAllowed, headers: map[string]string{"Allow": "GET", "Access-Control-Allow-Origin": ""}},
		{name: "DELETE with CORS", cfg: Config{CORS: CORSOptions{AllowedOrigins: []string{"https://app.example"}}}, method: http.MethodDelete,
			status: 405, code: CodeMethodNotAllowed, headers: map[string]string{"Allow": "GET, OPTIONS"}},

		// Authentication.
		{name: "basic, no credentials", cfg: Config{Authenticator: htBasic(t, basicCfg)}, status: 401, code: CodeUnauthorized,
			headers: map[string]string{"WWW-Authenticate": `Basic realm="chat", charset="UTF-8"`}},
		{name: "basic, wrong password", cfg: Config{Authenticator: htBasic(t, basicCfg)}, header: http.Header{"Authorization": {btBasic("alice", "wrong")}},
			status: 401, code: CodeUnauthorized, headers: map[string]string{"WWW-Authenticate": `Basic realm="chat", charset="UTF-8"`}},
		{name: "basic, duplicate Authorization", cfg: Config{Authenticator: htBasic(t, basicCfg)},
			header: http.Header{"Authorization": {btBasic("alice", btAlicePassword), btBasic("bob", btBobPassword)}}, status: 401, code: CodeUnauthorized},
		{name: "basic, good", cfg: Config{Authenticator: htBasic(t, basicCfg)}, header: http.Header{"Authorization": {btBasic("alice", btAlicePassword)}},
			status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
				if g[0].TokenID != "alice" {
					t.Errorf("token id = %q", g[0].TokenID)
				}
			}},
		{name: "basic, credential headers", cfg: Config{Authenticator: htBasic(t, basicCfg)}, header: http.Header{"Username": {"bob"}, "Password": {btBobPassword}},
			status: 200, vends: 1},
		{name: "bearer-ish, no credentials", cfg: Config{Authenticator: htAuth(Identity{}, ErrNoCredentials)}, status: 401, code: CodeUnauthorized,
			headers: map[string]string{"WWW-Authenticate": `Bearer realm="tvm"`}},
		{name: "bearer-ish, invalid", cfg: Config{Authenticator: htAuth(Identity{}, fmt.Errorf("%w: expired", ErrInvalidCredentials))}, status: 401, code: CodeUnauthorized,
			headers: map[string]string{"WWW-Authenticate": `Bearer realm="tvm", error="invalid_token"`}},
		{name: "Challenger Bearer, invalid", cfg: Config{Authenticator: htChallenging{htAuth(Identity{}, ErrInvalidCredentials), "Bearer"}}, status: 401, code: CodeUnauthorized,
			headers: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
		{name: "Challenger Bearer, missing", cfg: Config{Authenticator: htChallenging{htAuth(Identity{}, ErrNoCredentials), "Bearer"}}, status: 401, code: CodeUnauthorized,
			headers: map[string]string{"WWW-Authenticate": `Bearer`}},
		{name: "Challenger with its own error parameter", cfg: Config{Authenticator: htChallenging{htAuth(Identity{}, ErrInvalidCredentials), `Bearer realm="x", error="invalid_request"`}},
			status: 401, code: CodeUnauthorized, headers: map[string]string{"WWW-Authenticate": `Bearer realm="x", error="invalid_request"`}},
		{name: "Challenger of another scheme", cfg: Config{Authenticator: htChallenging{htAuth(Identity{}, ErrInvalidCredentials), `Session`}},
			status: 401, code: CodeUnauthorized, headers: map[string]string{"WWW-Authenticate": `Session`}},
		{name: "authenticator, unknown error fails closed", cfg: Config{Authenticator: htAuth(Identity{}, errors.New("boom"))}, status: 401, code: CodeUnauthorized},
		{name: "authenticator, rate limited", cfg: Config{Authenticator: htAuth(Identity{}, ErrRateLimited)}, status: 429, code: CodeRateLimited,
			headers: map[string]string{"Retry-After": "1"}},
		{name: "authenticator, rate limited with its own Retry-After", cfg: Config{Authenticator: htAuth(Identity{}, htRetryAfter{90 * time.Second, ErrRateLimited})},
			status: 429, code: CodeRateLimited, headers: map[string]string{"Retry-After": "90"}},
		{name: "configured Retry-After rounds up", cfg: Config{Authenticator: htAuth(Identity{}, ErrRateLimited), RetryAfter: 1500 * time.Millisecond},
			status: 429, code: CodeRateLimited, headers: map[string]string{"Retry-After": "2"}},
		{name: "authenticator, bad request", cfg: Config{Authenticator: htAuth(Identity{}, ErrBadRequest)}, status: 400, code: CodeBadRequest},
		{name: "authenticator, identity provider unavailable", cfg: Config{Authenticator: htAuth(Identity{}, fmt.Errorf("%w: JWKS unreachable", ErrUpstreamUnavailable))},
			status: 503, code: CodeUpstreamUnavailable, headers: map[string]string{"Retry-After": "1"},
			check: func(t *testing.T, w *httptest.ResponseRecorder, _ []Grant) {
				// Not Momento: the message says which upstream is down.
				if !strings.Contains(w.Body.String(), "identity provider is unavailable") {
					t.Errorf("body %s does not name the identity provider", w.Body)
				}
			}},
		{name: "authenticator, closed", cfg: Config{Authenticator: htAuth(Identity{}, fmt.Errorf("%w: the JWT authenticator", ErrClosed))}, status: 500, code: CodeInternal},
		// Identity.Method must not contain ":" (rate-limit keys are
		// method:subject): a programming error, refused.
		{name: "authenticator, method with a colon", cfg: Config{Authenticator: htAuth(Identity{Subject: "x", Method: "a:b"}, nil)}, status: 500, code: CodeInternal},
		{name: "authenticator, forbidden (e.g. a banned user)", cfg: Config{Authenticator: htAuth(Identity{}, fmt.Errorf("%w: account suspended", ErrForbidden))}, status: 403, code: CodeForbidden},
		{name: "authenticator, identity provider timed out", cfg: Config{Authenticator: htAuth(Identity{}, ErrUpstreamTimeout)}, status: 504, code: CodeUpstreamTimeout},
		{name: "authenticator, throttled (e.g. by its provider's quota)", cfg: Config{Authenticator: htAuth(Identity{}, fmt.Errorf("%w: provider quota", ErrUpstreamThrottled))},
			status: 503, code: CodeUpstreamThrottled, headers: map[string]string{"Retry-After": "1"}},
		{name: "identity expired", cfg: Config{Authenticator: htAuth(Identity{Subject: "u", ExpiresAt: htNow.Add(-time.Minute)}, nil)}, status: 401, code: CodeUnauthorized},
		{name: "identity expires within MinTTL", cfg: Config{Authenticator: htAuth(Identity{Subject: "u", ExpiresAt: htNow.Add(500 * time.Millisecond)}, nil)},
			status: 401, code: CodeUnauthorized},
		{name: "identity expires within configured MinTTL", cfg: Config{MinTTL: time.Minute, Authenticator: htAuth(Identity{Subject: "u", ExpiresAt: htNow.Add(30 * time.Second)}, nil)},
			status: 401, code: CodeUnauthorized},
		{name: "identity without subject", cfg: Config{Authenticator: htAuth(Identity{Method: "custom"}, nil)}, status: 401, code: CodeUnauthorized},

		// TTL.
		{name: "TTL capped by the identity's expiry", cfg: Config{Authenticator: htAuth(Identity{Subject: "u", ExpiresAt: htNow.Add(3*time.Minute + 700*time.Millisecond)}, nil)},
			status: 200, vends: 1, check: func(t *testing.T, w *httptest.ResponseRecorder, g []Grant) {
				if g[0].TTL != 3*time.Minute {
					t.Errorf("TTL = %s, want 3m (whole seconds, never past the identity)", g[0].TTL)
				}
			}},
		{name: "configured TTL", cfg: Config{TTL: 90 * time.Second}, status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
			if g[0].TTL != 90*time.Second {
				t.Errorf("TTL = %s", g[0].TTL)
			}
		}},
		{name: "grant TTL wins over config", cfg: Config{TTL: 30 * time.Minute, Scopes: htStatic(Grant{Scope: htScope, TTL: 5 * time.Minute}, nil)},
			status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
				if g[0].TTL != 5*time.Minute {
					t.Errorf("TTL = %s", g[0].TTL)
				}
			}},
		{name: "grant TTL above an hour", cfg: Config{Scopes: htStatic(Grant{Scope: htScope, TTL: 2 * time.Hour}, nil)}, status: 500, code: CodeInternal},
		{name: "grant TTL below a second", cfg: Config{Scopes: htStatic(Grant{Scope: htScope, TTL: time.Millisecond}, nil)}, status: 500, code: CodeInternal},

		// Resolution.
		{name: "resolver forbids", cfg: Config{Scopes: htStatic(Grant{}, fmt.Errorf("%w: no rule", ErrForbidden))}, status: 403, code: CodeForbidden},
		{name: "resolver bad request", cfg: Config{Scopes: htStatic(Grant{}, fmt.Errorf("%w: bad topic", ErrBadRequest))}, status: 400, code: CodeBadRequest},
		{name: "resolver unknown error", cfg: Config{Scopes: htStatic(Grant{}, errors.New("db down"))}, status: 500, code: CodeInternal},
		{name: "resolver upstream unavailable", cfg: Config{Scopes: htStatic(Grant{}, ErrUpstreamUnavailable)}, status: 503, code: CodeUpstreamUnavailable,
			headers: map[string]string{"Retry-After": "1"}},
		{name: "empty scope is never vended", cfg: Config{Scopes: htStatic(Grant{}, nil)}, status: 500, code: CodeInvalidScope},
		{name: "invalid scope is never vended", cfg: Config{Scopes: htStatic(Grant{Scope: Scope{{Role: ReadOnly, Cache: "bad name!"}}}, nil)}, status: 500, code: CodeInvalidScope},
		{name: "unexpanded template is never vended", cfg: Config{Scopes: htStatic(Grant{Scope: Scope{{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub}"}}}, nil)},
			status: 500, code: CodeInvalidScope},

		// Token ids.
		{name: "grant token id wins", cfg: Config{Authenticator: htAuth(user, nil), Scopes: htStatic(Grant{Scope: htScope, TokenID: "bot"}, nil)},
			status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
				if g[0].TokenID != "bot" {
					t.Errorf("token id = %q", g[0].TokenID)
				}
			}},
		{name: "invalid grant token id", cfg: Config{Scopes: htStatic(Grant{Scope: htScope, TokenID: "a\nb"}, nil)}, status: 500, code: CodeInternal},
		{name: "query token id in open mode", cfg: Config{TokenID: QueryTokenID("name")}, target: "/token?name=alice",
			status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
				if g[0].TokenID != "alice" {
					t.Errorf("token id = %q", g[0].TokenID)
				}
			}},
		{name: "query token id ignored when authenticated", cfg: Config{TokenID: QueryTokenID("name"), Authenticator: htAuth(user, nil)}, target: "/token?name=admin",
			status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
				if g[0].TokenID != "user-1" {
					t.Errorf("token id = %q, want the verified subject", g[0].TokenID)
				}
			}},
		{name: "query token id malformed", cfg: Config{TokenID: QueryTokenID("name")}, target: "/token?name=a%00b", status: 400, code: CodeBadRequest},
		{name: "token id policy returns garbage", cfg: Config{TokenID: func(Identity, *http.Request) (string, error) { return strings.Repeat("x", 65), nil }},
			status: 500, code: CodeInternal},
		{name: "long subject is hashed", cfg: Config{Authenticator: htAuth(Identity{Subject: strings.Repeat("s", 100), Method: "jwt"}, nil)},
			status: 200, vends: 1, check: func(t *testing.T, _ *httptest.ResponseRecorder, g []Grant) {
				if !strings.HasPrefix(g[0].TokenID, hashedTokenIDPrefix) {
					t.Errorf("token id = %q", g[0].TokenID)
				}
			}},

		// Vending.
		{name: "vendor rejected", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, &VendError{Kind: ErrUpstreamRejected, Code: "PermissionError", Err: errors.New("nope")}
		}, status: 502, code: CodeUpstreamRejected, vends: 1},
		// The handler never retries: retries belong to the vendor (see
		// retry_test.go for MomentoVendor's).
		{name: "vendor unavailable", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, &VendError{Kind: ErrUpstreamUnavailable, Err: errors.New("conn refused")}
		}, status: 503, code: CodeUpstreamUnavailable, headers: map[string]string{"Retry-After": "1"}, vends: 1},
		{name: "vendor unavailable with its own Retry-After", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, fmt.Errorf("vend: %w", htRetryAfter{7 * time.Second, ErrUpstreamUnavailable})
		}, status: 503, code: CodeUpstreamUnavailable, headers: map[string]string{"Retry-After": "7"}, vends: 1},
		{name: "vendor closed", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, fmt.Errorf("%w: the Momento vendor", ErrClosed)
		}, status: 500, code: CodeInternal, vends: 1},
		{name: "vendor timeout", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, &VendError{Kind: ErrUpstreamTimeout, Err: context.DeadlineExceeded}
		}, status: 504, code: CodeUpstreamTimeout, vends: 1},
		{name: "vendor hangs past VendTimeout", cfg: Config{VendTimeout: 20 * time.Millisecond}, vend: func(ctx context.Context, _ Grant) (Token, error) {
			<-ctx.Done()
			return Token{}, errors.New("gave up") // a vendor that does not classify its error
		}, status: 504, code: CodeUpstreamTimeout, vends: 1},
		{name: "vendor invalid scope", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, fmt.Errorf("%w: refused", ErrInvalidScope)
		}, status: 500, code: CodeInvalidScope, vends: 1},
		{name: "vendor misconfigured", vend: func(context.Context, Grant) (Token, error) {
			return Token{}, &ConfigError{Field: "apiKey", Problem: "required"}
		},
			status: 500, code: CodeInternal, vends: 1},
		{name: "vendor unknown error", vend: func(context.Context, Grant) (Token, error) { return Token{}, errors.New("weird") },
			status: 500, code: CodeInternal, vends: 1},
		{name: "vendor returns an empty token", vend: func(context.Context, Grant) (Token, error) { return Token{}, nil },
			status: 500, code: CodeInternal, vends: 1},
		{name: "vendor without expiry", vend: func(_ context.Context, g Grant) (Token, error) { return Token{AuthToken: "t"}, nil },
			status: 200, vends: 1, check: func(t *testing.T, w *httptest.ResponseRecorder, _ []Grant) {
				if !strings.Contains(w.Body.String(), fmt.Sprintf(`"expiresAt":%d`, htNow.Add(defaultTTL).Unix())) {
					t.Errorf("body = %s", w.Body)
				}
			}},
		{name: "vendor gets a bounded context", cfg: Config{VendTimeout: time.Minute}, vend: func(ctx context.Context, _ Grant) (Token, error) {
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Minute {
				return Token{}, errors.New("no deadline")
			}
			return Token{AuthToken: "t", ExpiresAt: htNow}, nil
		}, status: 200, vends: 1},

		// Size limits.
		{name: "oversize headers", header: http.Header{"X-Big": {strings.Repeat("b", defaultMaxHeaderBytes)}}, status: 400, code: CodeBadRequest},
		{name: "oversize query", target: "/token?q=" + strings.Repeat("q", defaultMaxHeaderBytes), status: 400, code: CodeBadRequest},
		{name: "configured header limit", cfg: Config{MaxHeaderBytes: 100}, header: http.Header{"X-Big": {strings.Repeat("b", 200)}}, status: 400, code: CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, v, _ := htSetup(t, tt.cfg)
			v.vend = tt.vend
			method, target := tt.method, tt.target
			if method == "" {
				method = http.MethodGet
			}
			if target == "" {
				target = "/token"
			}
			w := htDo(h, method, target, tt.header)
			switch {
			case tt.code != "":
				htCheckError(t, w, tt.status, tt.code)
			case w.Code != tt.status:
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			default:
				htCheckNoStore(t, w)
			}
			for k, want := range tt.headers {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.status != 401 && w.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("WWW-Authenticate on a %d", w.Code)
			}
			if tt.status != 429 && tt.status != 503 && w.Header().Get("Retry-After") != "" {
				t.Errorf("Retry-After on a %d", w.Code)
			}
			grants := v.calls()
			if len(grants) != tt.vends {
				t.Fatalf("%d vends, want %d", len(grants), tt.vends)
			}
			if tt.check != nil {
				tt.check(t, w, grants)
			}
		})
	}
}

func TestHandlerCORS(t *testing.T) {
	const origin = "https://app.example"
	authCalls := 0
	countingAuth := AuthenticatorFunc(func(*http.Request) (Identity, error) {
		authCalls++
		return Identity{Subject: "u", Method: "test"}, nil
	})
	preflight := func(o, method, headers string) http.Header {
		h := http.Header{"Origin": {o}, "Access-Control-Request-Method": {method}}
		if headers != "" {
			h.Set("Access-Control-Request-Headers", headers)
		}
		return h
	}
	tests := []struct {
		name    string
		cors    CORSOptions
		method  string
		header  http.Header
		status  int
		code    string
		headers map[string]string
		auth    int
	}{
		{"GET from an allowed origin", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodGet, http.Header{"Origin": {origin}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": ""}, 1},
		{"GET from an allowed origin, configured in upper case", CORSOptions{AllowedOrigins: []string{"https://APP.example"}}, http.MethodGet, http.Header{"Origin": {origin}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": origin}, 1},
		{"GET from another origin", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodGet, http.Header{"Origin": {"https://evil.example"}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": ""}, 1},
		{"GET from a suffix origin", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodGet, http.Header{"Origin": {origin + ".evil.example"}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": ""}, 1},
		{"GET from origin null", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodGet, http.Header{"Origin": {"null"}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": ""}, 1},
		{"two Origin headers", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodGet, http.Header{"Origin": {origin, origin}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": ""}, 1},
		{"GET with credentials and exposed headers", CORSOptions{AllowedOrigins: []string{origin}, AllowCredentials: true, ExposedHeaders: []string{"retry-after"}},
			http.MethodGet, http.Header{"Origin": {origin}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "Retry-After"}, 1},
		{"GET with wildcard", CORSOptions{AllowedOrigins: []string{"*"}}, http.MethodGet, http.Header{"Origin": {"https://any.example"}}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": "*"}, 1},
		{"preflight allowed", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodOptions, preflight(origin, "GET", "authorization"), 204, "",
			map[string]string{"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "Authorization", "Access-Control-Max-Age": "600"}, 0},
		{"preflight with custom headers and max age", CORSOptions{AllowedOrigins: []string{origin}, AllowedHeaders: []string{"authorization", "username", "password"}, MaxAge: time.Hour},
			http.MethodOptions, preflight(origin, "GET", "Username, Password"), 204, "",
			map[string]string{"Access-Control-Allow-Headers": "Authorization, Username, Password", "Access-Control-Max-Age": "3600"}, 0},
		{"preflight with caching disabled", CORSOptions{AllowedOrigins: []string{origin}, MaxAge: -1}, http.MethodOptions, preflight(origin, "GET", ""), 204, "",
			map[string]string{"Access-Control-Max-Age": "0"}, 0},
		{"preflight wildcard", CORSOptions{AllowedOrigins: []string{"*"}}, http.MethodOptions, preflight("https://x.example", "GET", ""), 204, "",
			map[string]string{"Access-Control-Allow-Origin": "*"}, 0},
		{"preflight from another origin", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodOptions, preflight("https://evil.example", "GET", ""), 403, CodeForbidden,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}, 0},
		{"preflight for POST", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodOptions, preflight(origin, "POST", ""), 403, CodeForbidden,
			map[string]string{"Access-Control-Allow-Origin": ""}, 0},
		{"preflight with an unlisted header", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodOptions, preflight(origin, "GET", "authorization, x-usergroup"), 403, CodeForbidden,
			map[string]string{"Access-Control-Allow-Origin": ""}, 0},
		{"POST from an allowed origin can read the 405", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodPost, http.Header{"Origin": {origin}}, 405, CodeMethodNotAllowed,
			map[string]string{"Access-Control-Allow-Origin": origin, "Allow": "GET, OPTIONS"}, 0},
		{"plain OPTIONS", CORSOptions{AllowedOrigins: []string{origin}}, http.MethodOptions, http.Header{}, 204, "",
			map[string]string{"Allow": "GET, OPTIONS", "Access-Control-Allow-Origin": ""}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authCalls = 0
			h, _, _ := htSetup(t, Config{Authenticator: countingAuth, CORS: tt.cors})
			w := htDo(h, tt.method, "/token", tt.header)
			if tt.code != "" {
				htCheckError(t, w, tt.status, tt.code)
			} else if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			htCheckNoStore(t, w)
			for k, want := range tt.headers {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if authCalls != tt.auth {
				t.Errorf("authenticator called %d times, want %d", authCalls, tt.auth)
			}
		})
	}
}

func TestNewHandlerRejectsBadConfig(t *testing.T) {
	ok := Config{Authenticator: Open(), Scopes: htStatic(Grant{Scope: htScope}, nil), Vendor: &htVendor{}}
	var nilVendor *htVendor
	var nilFunc AuthenticatorFunc
	var nilResolver *GroupScopes
	var nilLimiter *MemoryRateLimiter
	tests := []struct {
		name  string
		edit  func(c *Config)
		field string // the *ConfigError's fields, space separated
	}{
		{"no authenticator", func(c *Config) { c.Authenticator = nil }, "Config.Authenticator"},
		{"nil func authenticator", func(c *Config) { c.Authenticator = nilFunc }, "Config.Authenticator"},
		{"no resolver", func(c *Config) { c.Scopes = nil }, "Config.Scopes"},
		// A resolver whose constructor failed is nil: it cannot reach the
		// handler and fail open there.
		{"typed nil resolver", func(c *Config) { c.Scopes = nilResolver }, "Config.Scopes"},
		{"no vendor", func(c *Config) { c.Vendor = nil }, "Config.Vendor"},
		{"typed nil vendor", func(c *Config) { c.Vendor = nilVendor }, "Config.Vendor"},
		{"typed nil rate limiter", func(c *Config) { c.RateLimit = nilLimiter }, "Config.RateLimit"},
		{"TTL above an hour", func(c *Config) { c.TTL = time.Hour + time.Second }, "Config.TTL"},
		// An invalid TTL also makes the default MinTTL (one second) exceed
		// it: both are reported.
		{"TTL below a second", func(c *Config) { c.TTL = 500 * time.Millisecond }, "Config.TTL Config.MinTTL"},
		{"negative TTL", func(c *Config) { c.TTL = -time.Minute }, "Config.TTL Config.MinTTL"},
		{"MinTTL above TTL", func(c *Config) { c.TTL = time.Minute; c.MinTTL = 2 * time.Minute }, "Config.MinTTL"},
		{"negative VendTimeout", func(c *Config) { c.VendTimeout = -1 }, "Config.VendTimeout"},
		{"negative MaxHeaderBytes", func(c *Config) { c.MaxHeaderBytes = -1 }, "Config.MaxHeaderBytes"},
		{"negative RetryAfter", func(c *Config) { c.RetryAfter = -1 }, "Config.RetryAfter"},
		{"CORS wildcard with credentials", func(c *Config) { c.CORS = CORSOptions{AllowedOrigins: []string{"*"}, AllowCredentials: true} }, "Config.CORS.AllowedOrigins[0]"},
		{"CORS wildcard among origins", func(c *Config) { c.CORS = CORSOptions{AllowedOrigins: []string{"*", "https://a.example"}} }, "Config.CORS.AllowedOrigins[0]"},
		{"CORS origin with path", func(c *Config) { c.CORS = CORSOptions{AllowedOrigins: []string{"https://a.example/"}} }, "Config.CORS.AllowedOrigins[0]"},
		{"CORS origin without scheme", func(c *Config) { c.CORS = CORSOptions{AllowedOrigins: []string{"a.example"}} }, "Config.CORS.AllowedOrigins[0]"},
		{"CORS origin null", func(c *Config) { c.CORS = CORSOptions{AllowedOrigins: []string{"null"}} }, "Config.CORS.AllowedOrigins[0]"},
		{"CORS origin with credentials in URL", func(c *Config) { c.CORS = CORSOptions{AllowedOrigins: []string{"https://u:p@a.example"}} }, "Config.CORS.AllowedOrigins[0]"},
		{"CORS duplicate origin", func(c *Config) {
			c.CORS = CORSOptions{AllowedOrigins: []string{"https://a.example", "https://A.example"}}
		}, "Config.CORS.AllowedOrigins[1]"},
		{"CORS bad header name", func(c *Config) {
			c.CORS = CORSOptions{AllowedOrigins: []string{"https://a.example"}, AllowedHeaders: []string{"bad header"}}
		}, "Config.CORS.AllowedHeaders[0]"},
		{"CORS bad exposed header name", func(c *Config) {
			c.CORS = CORSOptions{AllowedOrigins: []string{"https://a.example"}, ExposedHeaders: []string{"x:y"}}
		}, "Config.CORS.ExposedHeaders[0]"},
		{"CORS options without origins", func(c *Config) { c.CORS = CORSOptions{AllowCredentials: true} }, "Config.CORS.AllowedOrigins"},
		{"CORS max age above a day", func(c *Config) {
			c.CORS = CORSOptions{AllowedOrigins: []string{"https://a.example"}, MaxAge: 25 * time.Hour}
		}, "Config.CORS.MaxAge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			h, err := NewHandler(cfg)
			if err == nil || h != nil {
				t.Fatalf("NewHandler = %v, %v; want an error", h, err)
			}
			if fields := configFields(t, err); strings.Join(fields, " ") != tt.field {
				t.Errorf("error %q: fields %q, want exactly %q", err, fields, tt.field)
			}
		})
	}
	if _, err := NewHandler(ok); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

// TestNewHandlerCORSErrorsQuoteOriginsSafely: an origin that is not one is
// named escaped, never raw (it may hold control characters).
func TestNewHandlerCORSErrorsQuoteOriginsSafely(t *testing.T) {
	_, err := NewHandler(Config{Authenticator: Open(), Scopes: htStatic(Grant{Scope: htScope}, nil), Vendor: &htVendor{},
		CORS: CORSOptions{AllowedOrigins: []string{"https://a.example/\r\nSet-Cookie: x=\x1b[31m"}}})
	ces := configErrors(t, err)
	if len(ces) != 1 || ces[0].Field != "Config.CORS.AllowedOrigins[0]" {
		t.Fatalf("errors %v", err)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n\x1b") {
		t.Errorf("error quotes the origin unescaped: %q", msg)
	}
}

// TestNewHandlerDoesNotCallValidate: components validate themselves in
// their constructors; NewHandler does not look for a Validate method.
func TestNewHandlerDoesNotCallValidate(t *testing.T) {
	h, err := NewHandler(Config{Authenticator: Open(), Scopes: htValidating{err: errors.New("bad rules")}, Vendor: &htVendor{}})
	if err != nil || h == nil {
		t.Fatalf("NewHandler = %v, %v; want a handler", h, err)
	}
}

type htValidating struct{ err error }

func (v htValidating) Resolve(context.Context, Identity, *http.Request) (Grant, error) {
	return Grant{Scope: htScope}, nil
}
func (v htValidating) Validate() error { return v.err }
func TestHandlerErrorHandlerAndOnResult(t *testing.T) {
	var got *ErrorResponse
	var results []Result
	h, _, _ := htSetup(t, Config{
		Authenticator: htAuth(Identity{}, fmt.Errorf("%w: nope", ErrInvalidCredentials)),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *ErrorResponse) {
			got = e
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(e.Status)
			_, _ = io.WriteString(w, "custom "+e.Code)
		},
		OnResult: func(_ *http.Request, res Result) { results = append(results, res) },
	})
	w := htDo(h, http.MethodGet, "/token", nil)
	if w.Code != 401 || w.Body.String() != "custom unauthorized" {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	if w.Header().Get("WWW-Authenticate") == "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("standard headers not set before the ErrorHandler: %v", w.Header())
	}
	if got == nil || got.Status != 401 || got.Code != CodeUnauthorized || !errors.Is(got.Err, ErrInvalidCredentials) || got.Message == "" {
		t.Errorf("ErrorResponse = %+v", got)
	}
	if len(results) != 1 || results[0].Status != 401 || results[0].Code != CodeUnauthorized || !errors.Is(results[0].Err, ErrInvalidCredentials) {
		t.Errorf("results = %+v", results)
	}

	results = nil
	h2, _, _ := htSetup(t, Config{
		Authenticator: htAuth(Identity{Subject: "u", Method: "jwt"}, nil),
		OnResult:      func(_ *http.Request, res Result) { results = append(results, res) },
	})
	if w := htDo(h2, http.MethodGet, "/token", nil); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if len(results) != 1 {
		t.Fatalf("results = %+v", results)
	}
	r := results[0]
	if r.Status != 200 || r.Code != "ok" || r.Identity.Subject != "u" || r.Grant.TokenID != "u" || r.Grant.TTL != defaultTTL ||
		r.Grant.Rule != "static" || !r.ExpiresAt.Equal(htNow.Add(defaultTTL)) || r.Source != "vended" || r.Err != nil {
		t.Errorf("result = %+v", r)
	}
}

func TestHandlerRecoversPanics(t *testing.T) {
	const secret = "panic-secret-d41d8cd98f00b204"
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"authenticator", Config{Authenticator: AuthenticatorFunc(func(*http.Request) (Identity, error) { panic(secret) })}},
		{"resolver", Config{Scopes: ResolverFunc(func(context.Context, Identity, *http.Request) (Grant, error) { panic(errors.New(secret)) })}},
		{"vendor", Config{Vendor: vendorFunc(func(context.Context, Grant) (Token, error) { panic(secret) })}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var results []Result
			tt.cfg.OnResult = func(_ *http.Request, r Result) { results = append(results, r) }
			h, _, logs := htSetup(t, tt.cfg)
			w := htDo(h, http.MethodGet, "/token", nil)
			htCheckError(t, w, 500, CodeInternal)
			if strings.Contains(logs.String(), secret) || strings.Contains(w.Body.String(), secret) {
				t.Errorf("panic value leaked: %s", logs)
			}
			if !strings.Contains(logs.String(), "panic") {
				t.Errorf("panic not logged: %s", logs)
			}
			if len(results) != 1 || results[0].Status != 500 {
				t.Errorf("results = %+v", results)
			}
		})
	}
	t.Run("ErrAbortHandler propagates", func(t *testing.T) {
		h, _, _ := htSetup(t, Config{Authenticator: AuthenticatorFunc(func(*http.Request) (Identity, error) { panic(http.ErrAbortHandler) })})
		defer func() {
			if rec := recover(); rec != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", rec)
			}
		}()
		htDo(h, http.MethodGet, "/token", nil)
	})
}

// TestHandlerLogsNoSecrets runs requests through every path with secrets in
// play (passwords, JWT-looking bearer tokens, API-key-looking upstream
// errors, the vended token) and checks that the log lines name the subject,
// rule and outcome but none of the secrets.
func TestHandlerLogsNoSecrets(t *testing.T) {
	const (
		jwtish  = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLXNlY3JldA"
		upKey   = "momento-api-key-secret-0123456789"
		badPass = "wrong-password-secret"
	)
	basic := htBasic(t, btConfig(t, true))
	var buf testenv.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cases := []struct {
		cfg    Config
		header http.Header
		status int
	}{
		{Config{Authenticator: basic}, http.Header{"Authorization": {btBasic("alice", btAlicePassword)}}, 200},
		{Config{Authenticator: basic}, http.Header{"Username": {"bob"}, "Password": {btBobPassword}}, 200},
		{Config{Authenticator: basic}, http.Header{"Authorization": {btBasic("alice", badPass)}}, 401},
		{Config{Authenticator: basic}, http.Header{"Authorization": {"Bearer " + jwtish}}, 401},
		{Config{Authenticator: htAuth(Identity{}, fmt.Errorf("%w: bad signature", ErrInvalidCredentials))}, http.Header{"Authorization": {"Bearer " + jwtish}}, 401},
		// The Momento vendor fails with a message echoing the key and a
		// JWT, and retries once (a debug line of its own).
		{Config{Authenticator: basic, Vendor: newMomentoVendorWithClient(
			&mtFakeClient{err: fmt.Errorf("AuthenticationError: invalid key %s and %s", upKey, jwtish)},
			[]string{upKey}, mtRetry(t, RetryOptions{Attempts: 2, BaseDelay: time.Millisecond}), logger)},
			http.Header{"Authorization": {btBasic("alice", btAlicePassword)}}, 503},
	}
	for i, c := range cases {
		c.cfg.Logger = logger
		h, _, _ := htSetup(t, c.cfg)
		if w := htDo(h, http.MethodGet, "/token", c.header); w.Code != c.status {
			t.Fatalf("case %d: status %d, want %d: %s", i, w.Code, c.status, w.Body)
		}
	}
	out := buf.String()
	for _, secret := range []string{btAlicePassword, btBobPassword, badPass, jwtish, "c2lnbmF0dXJlLXNlY3JldA", upKey, htToken,
		strings.TrimPrefix(btBasic("alice", btAlicePassword), "Basic ")} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains secret %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(cases)+1 {
		t.Fatalf("%d log lines for %d requests and one retry:\n%s", len(lines), len(cases), out)
	}
	if !strings.Contains(lines[len(lines)-2], "retrying the vend") || !strings.Contains(lines[len(lines)-2], `"level":"DEBUG"`) {
		t.Errorf("no debug line for the retry: %s", lines[len(lines)-2])
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"subject": "alice", "auth": "basic", "rule": "static", "outcome": "ok", "status": float64(200), "tokenId": "alice",
		"scope": htScope.String(), "level": "INFO"} {
		if first[k] != want {
			t.Errorf("log %s = %v, want %v (line %s)", k, first[k], want, lines[0])
		}
	}
	if _, ok := first["latency"]; !ok {
		t.Error("no latency in the log line")
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last["level"] != "ERROR" || last["outcome"] != CodeUpstreamUnavailable || last["error"] == nil {
		t.Errorf("upstream failure log line = %v", last)
	}
}

func TestHandlerConcurrent(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reuse ReuseOptions
		vends int
	}{
		{"reuse", ReuseOptions{}, 2}, // one token for alice, one for bob
		{"no reuse", ReuseOptions{Disabled: true}, 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, v, _ := htSetup(t, Config{Authenticator: htBasic(t, btConfig(t, false)), Reuse: tt.reuse})
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					user, pass := "alice", btAlicePassword
					if i%2 == 1 {
						user, pass = "bob", btBobPassword
					}
					w := htDo(h, http.MethodGet, "/token", http.Header{"Authorization": {btBasic(user, pass)}})
					if w.Code != 200 {
						t.Errorf("status %d", w.Code)
					}
				}()
			}
			wg.Wait()
			if n := len(v.calls()); n != tt.vends {
				t.Errorf("%d vends, want %d", n, tt.vends)
			}
		})
	}
}

// TestHandlerClientCannotWidenScope is the reference TVM's weakness turned
// into a test: a read-only user sending the headers the reference TVM trusts
// ("usergroup", "cachename") and query parameters still gets its read-only
// scope on its own cache.
func TestHandlerClientCannotWidenScope(t *testing.T) {
	scopes := htGroupScopes(t,
		GroupRule{Group: "ReadWriteUserGroup", Scope: Scope{{Role: PublishSubscribe, Cache: "default-cache", Topic: All}}},
		GroupRule{Group: "ReadOnlyUserGroup", Scope: Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}},
	)
	h, v, _ := htSetup(t, Config{Authenticator: htBasic(t, btConfig(t, true)), Scopes: scopes})
	hostile := http.Header{
		"Authorization": {btBasic("alice", btAlicePassword)},
		"Usergroup":     {"ReadWriteUserGroup"},
		"Cachename":     {"other"},
		"X-Groups":      {"ReadWriteUserGroup"},
		"Tokenid":       {"bob"},
	}
	w := htDo(h, http.MethodGet, "/token?usergroup=ReadWriteUserGroup&cachename=other&cache=other&tokenId=bob&name=bob", hostile)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	g := v.calls()[0]
	want := Scope{{Role: SubscribeOnly, Cache: "default-cache", Topic: All}}
	if g.Scope.String() != want.String() || g.Rule != "group:ReadOnlyUserGroup" || g.TokenID != "alice" {
		t.Errorf("grant = scope %s rule %q token id %q; want %s for rule group:ReadOnlyUserGroup and token id alice", g.Scope, g.Rule, g.TokenID, want)
	}

	// The same request as bob (read-write) gets read-write: the difference
	// comes from the verified identity only.
	hostile.Set("Authorization", btBasic("bob", btBobPassword))
	if w := htDo(h, http.MethodGet, "/token", hostile); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if g := v.calls()[1]; g.Scope[0].Role != PublishSubscribe || g.TokenID != "bob" {
		t.Errorf("bob's grant = %+v", g)
	}

	// A user in no group is refused, whatever it claims in headers.
	h2, v2, _ := htSetup(t, Config{Authenticator: htBasic(t, btConfig(t, true)), Scopes: scopes})
	w = htDo(h2, http.MethodGet, "/token", http.Header{"Authorization": {btBasic("zoë", "ünïcode pässwörd")}, "Usergroup": {"ReadWriteUserGroup"}})
	htCheckError(t, w, http.StatusForbidden, CodeForbidden)
	if len(v2.calls()) != 0 {
		t.Error("vended for a user in no group")
	}
}

func TestAppendTokenResponseMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", htToken, `a"b\c`, "<script>&amp;", "\x00\x01\x1f\x7f\n\r\t\b\f", "é🙂", "\u2028\u2029", "bad\xffutf8", "\xed\xa0\x80", "\xf0\x9f"} {
		htCompareTokenJSON(t, s, 1767225600)
	}
	htCompareTokenJSON(t, "x", -1)
}

func htCompareTokenJSON(t testing.TB, s string, exp int64) {
	t.Helper()
	want, err := json.Marshal(struct {
		AuthToken string `json:"authToken"`
		ExpiresAt int64  `json:"expiresAt"`
	}{s, exp})
	if err != nil {
		t.Fatal(err)
	}
	got := appendTokenResponse(nil, Token{AuthToken: s, ExpiresAt: time.Unix(exp, 0)})
	if string(got) != string(want)+"\n" {
		t.Errorf("appendTokenResponse(%q) = %s, want %s", s, got, want)
	}
}

func FuzzAppendTokenResponse(f *testing.F) {
	for _, s := range []string{"", htToken, "<\u2028\xff\x00>"} {
		f.Add(s, int64(1767225600))
	}
	f.Fuzz(func(t *testing.T, s string, exp int64) { htCompareTokenJSON(t, s, exp) })
}
