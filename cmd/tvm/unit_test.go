package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tvmgo/tvm"
)

func TestParseTime(t *testing.T) {
	want := time.Unix(1568311959, 0)
	for _, in := range []any{1568311959.0, "1568311959", "Thu Sep 12 18:12:39 UTC 2019"} {
		got, err := parseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%#v) = %v, %v", in, got, err)
		}
	}
	for _, in := range []any{"soon", -1.0, 0.0, "1e300", true, nil} {
		if _, err := parseTime(in); err == nil {
			t.Errorf("parseTime(%#v) accepted", in)
		}
	}
}

func TestKeyForField(t *testing.T) {
	tests := []struct {
		field, prefix, key string
		renames            map[string]string
		want               string
	}{
		{"CognitoConfig.UserPoolID", "CognitoConfig", "auth.cognito", jwtFields, "auth.cognito.userPoolId"},
		{"CognitoConfig.ClientID", "CognitoConfig", "auth.cognito", jwtFields, "auth.cognito.clientId"},
		{"Config.JWKSFile", "Config", "auth.jwt", jwtFields, "auth.jwt.jwksFile"},
		{"Config.JWKSURL", "Config", "auth.jwt", jwtFields, "auth.jwt.jwksURL"},
		{"Config.Issuer", "Config", "auth.jwt", jwtFields, "auth.jwt.issuer"},
		{"Config.Algorithms[2]", "Config", "auth.jwt", jwtFields, "auth.jwt.algorithms[2]"},
		{"BasicConfig.Users[1].PasswordHash", "BasicConfig", "auth", nil, "auth.users[1].passwordHash"},
		{"BasicConfig.Users[0].Groups[2]", "BasicConfig", "auth", nil, "auth.users[0].groups[2]"},
		{"BasicConfig.Users", "BasicConfig", "auth", nil, "auth.users"},
		{"GroupScopes.Rules[3].TTL", "GroupScopes", "scopes", scopeFields, "scopes[3].ttl"},
		{"GroupScopes.Rules[1].Scope[0].topic", "GroupScopes", "scopes", scopeFields, "scopes[1].permissions[0].topic"},
		{"GroupScopes.Rules", "GroupScopes", "scopes", scopeFields, "scopes"},
		{"GroupScopes[0]", "GroupScopes", "scopes", scopeFields, "scopes[0]"},
		{"GroupScopes", "GroupScopes", "scopes", scopeFields, "scopes"},
		{"Config.CORS.AllowedOrigins[0]", "Config", "", handlerFields, "cors.allowedOrigins[0]"},
		{"Config.TTL", "Config", "", handlerFields, "ttl"},
		{"Config.VendTimeout", "Config", "", handlerFields, "vendTimeout"},
		{"Config.Reuse.MinRemaining", "Config", "", handlerFields, "reuse.minRemaining"},
		{"MomentoVendorConfig.Retry.MaxDelay", "MomentoVendorConfig", "", nil, "retry.maxDelay"},
		{"MemoryRateLimitConfig.PerSecond", "MemoryRateLimitConfig", "rateLimit", rateLimitFields, "rateLimit.requestsPerSecond"},
		{"MemoryRateLimitConfig.MaxEntries", "MemoryRateLimitConfig", "rateLimit", rateLimitFields, "rateLimit.maxIdentities"},
		{"MomentoRateLimitConfig.CacheName", "MomentoRateLimitConfig", "rateLimit.shared", rateLimitFields, "rateLimit.shared.cache"},
		{"NarrowOptions.KeyParam", "NarrowOptions", "narrowing", nil, "narrowing.keyParam"},
		// Another component's field, or a longer name with the same
		// start, is left as it is.
		{"SomethingElse.Field", "BasicConfig", "auth", nil, "SomethingElse.Field"},
		{"BasicConfigExtra.X", "BasicConfig", "auth", nil, "BasicConfigExtra.X"},
		{"BasicConfig.Users[0].Username.Deep", "BasicConfig", "auth", nil, "auth.users[0].username.deep"},
	}
	for _, tt := range tests {
		if got := keyForField(tt.field, tt.prefix, tt.key, tt.renames); got != tt.want {
			t.Errorf("keyForField(%q, %q, %q) = %q, want %q", tt.field, tt.prefix, tt.key, got, tt.want)
		}
	}
}

func TestLibraryProblems(t *testing.T) {
	if err := libraryProblems(nil, "CognitoConfig", "auth.cognito", jwtFields); err != nil {
		t.Errorf("nil error: %v", err)
	}
	err := libraryProblems(errors.Join(
		&tvm.ConfigError{Field: "CognitoConfig.Region", Problem: "required"},
		&tvm.ConfigError{Field: "CognitoConfig.TokenUse", Problem: "bad"},
	), "CognitoConfig", "auth.cognito", jwtFields)
	if got := err.Error(); got != "auth.cognito.region: required\nauth.cognito.tokenUse: bad" || !errors.Is(err, tvm.ErrInvalidConfig) {
		t.Errorf("joined: %q", got)
	}
	err = libraryProblems(fmt.Errorf("wrapped: %w", &tvm.ConfigError{Field: "Config.Issuer", Problem: "required"}), "Config", "auth.jwt", jwtFields)
	if got := err.Error(); got != "auth.jwt.issuer: required" {
		t.Errorf("wrapped: %q", got)
	}
	// An error that is no *ConfigError is reported under the component's
	// key, without the library's prefix.
	err = libraryProblems(fmt.Errorf("%w: something odd", tvm.ErrInvalidConfig), "NarrowOptions", "narrowing", nil)
	if got := err.Error(); got != "narrowing: invalid configuration: something odd" || !errors.Is(err, tvm.ErrInvalidConfig) {
		t.Errorf("other: %q", got)
	}
}

func TestQueryOrRandomTokenID(t *testing.T) {
	p := queryOrRandomTokenID("name")
	open := tvm.Identity{Subject: "anonymous", Method: tvm.MethodOpen}
	req := func(q string) *http.Request { return httptest.NewRequest("GET", "/t"+q, nil) }

	if id, err := p(open, req("?name=alice")); err != nil || id != "alice" {
		t.Errorf("open ?name=alice: %q %v", id, err)
	}
	a, err1 := p(open, req(""))
	b, err2 := p(open, req(""))
	if err1 != nil || err2 != nil || !strings.HasPrefix(a, "anonymous-") || len(a) != len("anonymous-")+16 || a == b {
		t.Errorf("open without name: %q %q (%v %v), want distinct random ids", a, b, err1, err2)
	}
	if _, err := p(open, req("?name=a&name=b")); !errors.Is(err, tvm.ErrBadRequest) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := p(open, req("?name=")); !errors.Is(err, tvm.ErrBadRequest) {
		t.Errorf("empty name: %v", err)
	}
	// An authenticated caller cannot choose: its subject is used.
	bob := tvm.Identity{Subject: "bob", Method: "basic"}
	if id, err := p(bob, req("?name=alice")); err != nil || id != "bob" {
		t.Errorf("basic bob ?name=alice: %q %v", id, err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := secret("super-secret-key")
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "key", s)
	out := fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s) + buf.String()
	if strings.Contains(out, "super-secret-key") {
		t.Errorf("secret printed: %s", out)
	}
}

func TestAPIKeySources(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("  file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var gotToken, gotPath string
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotToken, gotPath = r.Header.Get("X-Aws-Parameters-Secrets-Token"), r.URL.String()
		switch r.URL.Path {
		case "/secretsmanager/get":
			if r.URL.Query().Get("secretId") == "missing" {
				http.Error(w, "ResourceNotFoundException", http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `{"ARN":"arn:x","Name":"momento","SecretString":"sm-key\n"}`)
		case "/systemsmanager/parameters/get":
			fmt.Fprint(w, `{"Parameter":{"Name":"/tvm/key","Type":"SecureString","Value":"ssm-key"}}`)
		}
	}))
	defer ext.Close()
	u, _ := url.Parse(ext.URL)
	_, port, _ := net.SplitHostPort(u.Host)

	env := func(kv ...string) environment {
		m := map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port, "AWS_SESSION_TOKEN": "session-tok"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return readEnv(func(k string) string { return m[k] })
	}
	tests := []struct {
		name    string
		env     environment
		want    string
		wantErr string
	}{
		{"none", env(), "", ""},
		{"env", env("MOMENTO_API_KEY", " env-key "), "env-key", ""},
		{"file", env("MOMENTO_API_KEY_FILE", keyFile), "file-key", ""},
		{"empty file", env("MOMENTO_API_KEY_FILE", empty), "", "MOMENTO_API_KEY_FILE: file is empty"},
		{"missing file", env("MOMENTO_API_KEY_FILE", filepath.Join(dir, "nope")), "", "MOMENTO_API_KEY_FILE: open"},
		{"two sources", env("MOMENTO_API_KEY", "a", "MOMENTO_API_KEY_FILE", keyFile), "", "set only one of"},
		{"secrets manager", env("MOMENTO_API_KEY_SECRET_ID", "momento"), "sm-key", ""},
		{"secrets manager error", env("MOMENTO_API_KEY_SECRET_ID", "missing"), "", "MOMENTO_API_KEY_SECRET_ID: extension answered 400 Bad Request"},
		{"ssm", env("MOMENTO_API_KEY_PARAMETER", "/tvm/key"), "ssm-key", ""},
		{"no session token", func() environment {
			e := env("MOMENTO_API_KEY_PARAMETER", "/tvm/key")
			e.sessionToken = ""
			return e
		}(), "", "AWS_SESSION_TOKEN is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.env.momentoAPIKey(context.Background(), ext.Client())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", string(got), err, tt.want)
			}
		})
	}
	if gotToken != "session-tok" || !strings.Contains(gotPath, "withDecryption=true") {
		t.Errorf("extension call: token %q path %q", gotToken, gotPath)
	}
}

func TestReadiness(t *testing.T) {
	now := time.Unix(0, 0)
	var dials atomic.Int32
	fail := atomic.Bool{}
	r := newReadiness("token.example.test:443", slog.New(slog.DiscardHandler))
	r.now = func() time.Time { return now }
	r.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		if fail.Load() {
			return nil, errors.New("connection refused")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	}
	get := func() int {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	if c := get(); c != 200 {
		t.Fatalf("ready: %d", c)
	}
	// Cached: a burst of probes dials once.
	fail.Store(true)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { get() })
	}
	wg.Wait()
	if c := get(); c != 200 || dials.Load() != 1 {
		t.Fatalf("cached: code %d, %d dials", c, dials.Load())
	}
	now = now.Add(readyInterval)
	if c := get(); c != 503 || dials.Load() != 2 {
		t.Fatalf("after interval with endpoint down: code %d, %d dials", c, dials.Load())
	}
	fail.Store(false)
	now = now.Add(readyInterval)
	if c := get(); c != 200 {
		t.Fatalf("endpoint back: %d", c)
	}
	r.draining.Store(true)
	if c := get(); c != 503 {
		t.Fatalf("draining: %d", c)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("POST", "/readyz", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestReadinessUnknownEndpoint(t *testing.T) {
	r := newReadiness(":443", slog.New(slog.DiscardHandler))
	if err := r.check(context.Background()); err == nil {
		t.Error("an empty host is ready")
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "0.0.0.0:8080": false, "10.0.0.1:80": false,
		"localhost:80": false, // names are not resolved: only literal loopback IPs count
		"bad":          false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v", addr, got)
		}
	}
}

func newRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}
