package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// openAPIValidator parses doc with libopenapi, checks it against the
// OpenAPI 3.1 schema, and returns a validator of requests and responses.
func openAPIValidator(t *testing.T, doc []byte) validator.Validator {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("libopenapi: %v", err)
	}
	if v := d.GetVersion(); v != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("invalid OpenAPI document: %s: %s", e.Message, e.Reason)
			for _, s := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", s.KeywordLocation, s.Reason)
			}
		}
		t.FailNow()
	}
	return v
}

// TestOpenAPICommitted: cmd/tvm/openapi.json is the demo configuration's
// document, as `tvm openapi` prints it.
func TestOpenAPICommitted(t *testing.T) {
	t.Parallel()
	committed, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := openAPIJSON(DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, want) {
		t.Fatal("cmd/tvm/openapi.json is not the demo configuration's document: run go generate ./cmd/tvm")
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"openapi"}, func(string) string { return "" }, nil, &stdout, &stderr); code != 0 || !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("tvm openapi: exit %d, %s", code, stderr.String())
	}
	openAPIValidator(t, committed)
}

// TestOpenAPIDocuments: the document of each example configuration is a
// valid OpenAPI 3.1 document describing that configuration's endpoint.
func TestOpenAPIDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		has    []string // JSON fragments
		hasNot []string
	}{
		{"open.yaml", []string{`"429"`, `"Retry-After"`, `"security": []`, `"name": "name"`, `"Access-Control-Allow-Origin"`},
			[]string{`"401"`, `"securitySchemes"`, `"name": "topic"`}},
		{"basic.yaml", []string{`"401"`, `"scheme": "basic"`, `"name": "username"`, `"pattern": "^Basic "`, `"name": "topic"`},
			[]string{`"429"`}},
		{"jwt-file.yaml", []string{`"401"`, `"bearerFormat": "JWT"`, `"pattern": "^Bearer( |$)"`}, []string{`"in": "query"`}},
		{"apigateway.yaml", []string{`"401"`, `"scheme": "bearer"`}, nil},
		{"cognito.yaml", []string{`"401"`, `"bearerFormat": "JWT"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(fixtures, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := openAPIJSON(cfg)
			if err != nil {
				t.Fatal(err)
			}
			openAPIValidator(t, doc)
			for _, s := range tt.has {
				if !bytes.Contains(doc, []byte(s)) {
					t.Errorf("the document lacks %s", s)
				}
			}
			for _, s := range tt.hasNot {
				if bytes.Contains(doc, []byte(s)) {
					t.Errorf("the document has %s", s)
				}
			}
		})
	}
}

// conform sends req to the binary and checks the answer against the
// OpenAPI document: a documented status, its headers and body schema.
func conform(t *testing.T, v validator.Validator, req *http.Request, wantStatus int) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL.RequestURI(), resp.StatusCode, body, wantStatus)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := v.ValidateHttpResponse(req, resp); !ok {
		for _, e := range errs {
			t.Errorf("%s %s → %d does not conform: %s: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, e.Message, e.Reason)
			for _, s := range e.SchemaValidationErrors {
				t.Errorf("  %s", s.Reason)
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

func newReq(t *testing.T, method, url string, mod func(*http.Request)) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	return req
}

// TestBinaryOpenAPIConformance: the document the binary serves on its
// operations listener is its configuration's, and every answer we can
// provoke from the binary (200 and each error: 400, 403, 405 with Allow,
// CORS preflights, 429, 502, 503 with Retry-After, unavailable and
// throttled, 504; 401 with WWW-Authenticate from a JWT configuration)
// conforms to it: status, headers and body.
func TestBinaryOpenAPIConformance(t *testing.T) {
	t.Parallel()
	const cfgYAML = `
auth: {method: open}
tokenId: query:name
vendTimeout: 1s
scopes:
  - default: true
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
narrowing: {}
cors: {allowedOrigins: ["http://localhost:5173"]}
rateLimit: {requestsPerSecond: 0.001, burst: 13}
vendLimit: {perSecond: 0.001, burst: 8, wait: -1s}
retry: {attempts: 1}
reuse: {enabled: false}
momento: {local: true}
`
	path := writeConfig(t, cfgYAML)
	p := startTVM(t, baseEnv(t, "TVM_OPS_ADDR=127.0.0.1:0"), "--config", path)
	p.stdout.mu.Lock()
	ops := p.stdout.ops
	p.stdout.mu.Unlock()
	resp, err := http.Get(ops + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := openAPIJSON(cfg)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(served, want) {
		t.Fatalf("/openapi.json on the operations listener: %d %s, not the configuration's document", resp.StatusCode, resp.Header)
	}
	if r, err := http.Get(p.url("/openapi.json")); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("/openapi.json on the token listener with TVM_OPS_ADDR set: %v %v", r, err)
	}
	v := openAPIValidator(t, served)
	tok := p.url("/api/momento/token")
	origin := func(r *http.Request) { r.Header.Set("Origin", "http://localhost:5173") }

	// Each GET costs one rate limit slot (burst 13); vends cost a vend
	// ceiling slot (burst 8).
	r200 := newReq(t, "GET", tok+"?name=alice&topic=room-1", origin)
	if ok, errs := v.ValidateHttpRequest(r200); !ok {
		t.Errorf("the request does not conform: %v", errs[0].Message)
	}
	var body tokenBody
	_ = json.NewDecoder(conform(t, v, r200, 200).Body).Decode(&body)
	p.secrets = append(p.secrets, body.AuthToken)
	conform(t, v, newReq(t, "GET", tok+"?topic=*", nil), 400)
	conform(t, v, newReq(t, "GET", tok+"?name="+strings.Repeat("n", 65), nil), 400)
	conform(t, v, newReq(t, "GET", tok+"?cache=other", origin), 403)
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "HEAD"} {
		if got := conform(t, v, newReq(t, m, tok, nil), 405).Header.Get("Allow"); got != "GET, OPTIONS" {
			t.Errorf("%s: Allow %q", m, got)
		}
	}
	preflight := func(o string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Origin", o); r.Header.Set("Access-Control-Request-Method", "GET") }
	}
	conform(t, v, newReq(t, "OPTIONS", tok, preflight("http://localhost:5173")), 204)
	conform(t, v, newReq(t, "OPTIONS", tok, preflight("https://evil.example")), 403)
	for _, f := range []struct {
		fault  string
		status int
		code   string
	}{
		{`{"method":"GenerateDisposableToken","code":"PERMISSION_DENIED","count":1}`, 502, "upstream_rejected"},
		{`{"method":"GenerateDisposableToken","code":"UNAVAILABLE","count":1}`, 503, "upstream_unavailable"},
		{`{"method":"GenerateDisposableToken","code":"RESOURCE_EXHAUSTED","count":1}`, 503, "upstream_throttled"},
		{`{"method":"GenerateDisposableToken","latency":"3s","count":1}`, 504, "upstream_timeout"},
	} {
		if c := admin(t, p, "POST", "/faults", f.fault, func(r *http.Request) { r.URL.Host = strings.TrimPrefix(ops, "http://") }); c != 201 {
			t.Fatalf("adding fault %s: %d", f.fault, c)
		}
		var e tokenBody
		_ = json.NewDecoder(conform(t, v, newReq(t, "GET", tok+"?name=f", nil), f.status).Body).Decode(&e)
		if e.Error != f.code {
			t.Errorf("fault %s: code %q, want %s", f.fault, e.Error, f.code)
		}
	}
	// The vend ceiling (8, five used) sheds before Momento: 503 throttled.
	for i := 0; ; i++ {
		resp := conform(t, v, newReq(t, "GET", tok+fmt.Sprintf("?name=v%d", i), nil), map[bool]int{true: 503, false: 200}[i == 3])
		if resp.StatusCode == 503 {
			break
		}
	}
	// The rate limit (13, twelve used) refuses the next but one: 429.
	conform(t, v, newReq(t, "GET", tok+"?cache=other", nil), 403)
	conform(t, v, newReq(t, "GET", tok, nil), 429)

	// 401 with its challenge, from a JWT configuration.
	key := testKey(t, "test-rsa-1")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key))
	pj := startTVM(t, baseEnv(t), "--config", writeConfig(t, jwtConfig(jwks.URL, "")))
	resp, err = http.Get(pj.url("/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	served, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	vj := openAPIValidator(t, served)
	jtok := pj.url("/api/momento/token")
	bearer := func(s string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s) }
	}
	good := sign(t, "test-rsa-1", key, jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": "erin", "exp": time.Now().Add(time.Hour).Unix()})
	pj.secrets = append(pj.secrets, good)
	_ = json.NewDecoder(conform(t, vj, newReq(t, "GET", jtok, bearer(good)), 200).Body).Decode(&body)
	pj.secrets = append(pj.secrets, body.AuthToken)
	if got := conform(t, vj, newReq(t, "GET", jtok, bearer("not.a.jwt")), 401).Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate %q", got)
	}
	conform(t, vj, newReq(t, "GET", jtok, nil), 401)
	conform(t, vj, newReq(t, "OPTIONS", jtok, nil), 405)

	// A reload serves the new configuration's document.
	if err := os.WriteFile(path, []byte(strings.Replace(cfgYAML, "narrowing: {}\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reloaded document", func() bool {
		resp, err := http.Get(ops + "/openapi.json")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return !bytes.Contains(b, []byte(`"name": "topic"`)) && bytes.Contains(b, []byte(`"name": "name"`))
	})
}
