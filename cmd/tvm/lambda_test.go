package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
)

const eventsDir = "../../testdata/apigateway"

// lambdaFixture is the Lambda entry point wired as serveLambda wires it,
// with the apigateway configuration, vending from an in-process emulator.
type lambdaFixture struct {
	emu  *momentolocal.Server
	h    *lambdaHandler
	logs *bytes.Buffer
}

func newLambdaFixture(t *testing.T) *lambdaFixture {
	return newLambdaFixtureConfig(t, "apigateway.yaml")
}

// newLambdaFixtureConfig is newLambdaFixture with another configuration
// fixture (apigateway-rest.yaml: REST API + Cognito, groups "a,b").
func newLambdaFixtureConfig(t *testing.T, name string) *lambdaFixture {
	t.Helper()
	cfg, err := LoadConfig(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	emu, err := momentolocal.Start(momentolocal.Config{RequireAPIKey: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	prov, err := emu.CredentialProvider()
	if err != nil {
		t.Fatal(err)
	}
	vendor, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: prov})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vendor.Close() })
	logs := &bytes.Buffer{}
	log := newLogger(cfg.Log, true, logs, nil)
	svc, err := buildTokenService(context.Background(), cfg, vendor, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &lambdaFixture{emu: emu, h: newLambdaHandler(lambdaMux(cfg, svc.handler)), logs: logs}
}

func readEvent(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// response is what both payload versions have in common.
type response struct {
	status  int
	headers map[string]string
	body    string
}

func invoke(t *testing.T, h *lambdaHandler, payload json.RawMessage) response {
	t.Helper()
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	// Round-trip through JSON as the Lambda runtime does.
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	switch out.(type) {
	case events.APIGatewayProxyResponse:
		var r events.APIGatewayProxyResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for k, v := range r.Headers {
			h[k] = v
		}
		for k, v := range r.MultiValueHeaders {
			h[k] = strings.Join(v, ", ")
		}
		return response{r.StatusCode, h, r.Body}
	case events.APIGatewayV2HTTPResponse:
		var r events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return response{r.StatusCode, r.Headers, r.Body}
	}
	t.Fatalf("unexpected response type %T", out)
	return response{}
}

func TestLambdaEvents(t *testing.T) {
	// The HTTP API fixture (groups "[a b]"), and the REST API one (groups
	// "a,b") for the REST Cognito events.
	fHTTP, fREST := newLambdaFixture(t), newLambdaFixtureConfig(t, "apigateway-rest.yaml")
	readWrite := []momentolocal.Permission{{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"}}
	readOnly := []momentolocal.Permission{{Role: "subscribeonly", Cache: "default-cache", Topic: "*"}}
	tests := []struct {
		file      string
		version   string // "v1" or "v2" response type
		status    int
		tokenID   string
		perms     []momentolocal.Permission
		errorCode string
	}{
		{"rest-v1-cognito-readwrite.json", "v1", 200, "7d8ca528-4931-4254-9273-ea5ee853f271", readWrite, ""},
		{"rest-v1-lambda-authorizer.json", "v1", 200, "user-42", readOnly, ""},
		{"http-v2-jwt-readonly.json", "v2", 200, "b2c5e7a1-0f3d-4e6b-8a9c-1d2e3f4a5b6c", readOnly, ""},
		{"http-v2-lambda-authorizer.json", "v2", 200, "carol", readWrite, ""},
		{"http-v1-payload-jwt.json", "v1", 200, "dave", readWrite, ""},
		{"http-v2-jwt-expired.json", "v2", 401, "", nil, tvm.CodeUnauthorized},
		{"http-v2-jwt-nogroup.json", "v2", 403, "", nil, tvm.CodeForbidden},
		{"http-v2-no-authorizer-forged.json", "v2", 401, "", nil, tvm.CodeUnauthorized},
		{"rest-v1-post.json", "v1", 405, "", nil, tvm.CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := fHTTP
			if strings.HasPrefix(tt.file, "rest-v1-") {
				f = fREST
			}
			before := len(f.emu.TokenRequests())
			payload := readEvent(t, tt.file)
			out, err := f.h.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			_, isV1 := out.(events.APIGatewayProxyResponse)
			if (tt.version == "v1") != isV1 {
				t.Errorf("response type %T for a %s event", out, tt.version)
			}
			r := invoke(t, f.h, payload)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			reqs := f.emu.TokenRequests()[before:]
			if tt.status != 200 {
				if len(reqs) != 0 {
					t.Errorf("vended %d tokens for a refused request", len(reqs))
				}
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error != tt.errorCode {
					t.Errorf("body %s, want error %q", r.body, tt.errorCode)
				}
				return
			}
			var tok struct {
				AuthToken string `json:"authToken"`
				ExpiresAt int64  `json:"expiresAt"`
			}
			if err := json.Unmarshal([]byte(r.body), &tok); err != nil || tok.AuthToken == "" {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if d := time.Until(time.Unix(tok.ExpiresAt, 0)); d < 14*time.Minute || d > 16*time.Minute {
				t.Errorf("expiresAt in %s, want about 15m", d)
			}
			if r.headers["Cache-Control"] != "no-store" || r.headers["Content-Type"] != "application/json" {
				t.Errorf("headers %v", r.headers)
			}
			if len(reqs) != 1 { // invoked twice above: the second answer reuses the token
				t.Fatalf("%d token requests reached the emulator, want 1", len(reqs))
			}
			for _, req := range reqs {
				if req.TokenID != tt.tokenID {
					t.Errorf("token id %q, want %q", req.TokenID, tt.tokenID)
				}
				if !samePerms(req.Permissions, tt.perms) {
					t.Errorf("permissions %v, want %v", req.Permissions, tt.perms)
				}
			}
		})
	}
	// The logs never hold the vended tokens or the callers' credentials.
	logs := fHTTP.logs.String() + fREST.logs.String()
	for _, s := range []string{"eyJraWQiOiJleGFtcGxlIiwiYWxnIjoiUlMyNTYifQ", "opaque-session-token", "allow-user-42", fHTTP.emu.RootAPIKey(), fREST.emu.RootAPIKey()} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret %q", s)
		}
	}
	if !strings.Contains(logs, `"msg":"tvm token request"`) && !strings.Contains(logs, "token request") {
		t.Errorf("no request log lines (JSON in Lambda): %s", logs)
	}
}

func samePerms(a, b []momentolocal.Permission) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLambdaRoutesOnlyTheTokenPath(t *testing.T) {
	f := newLambdaFixture(t)
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(readEvent(t, "http-v2-jwt-readonly.json"), &ev); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/metrics", "/healthz", "/admin/momentolocal/faults", "/api/momento/token/extra"} {
		ev.RawPath, ev.RequestContext.HTTP.Path = path, path
		b, _ := json.Marshal(ev)
		if r := invoke(t, f.h, b); r.status != 404 {
			t.Errorf("%s: status %d, want 404", path, r.status)
		}
	}
}

func TestLambdaUnsupportedEvents(t *testing.T) {
	f := newLambdaFixture(t)
	for _, payload := range []string{
		`{}`,
		`[]`,
		`not json`,
		`{"version":"2.0","routeKey":"$connect"}`, // a WebSocket-like event without rawPath
		`{"Records":[{"eventSource":"aws:sqs"}]}`,
		`{"version":"3.0","rawPath":"/api/momento/token"}`,
	} {
		if _, err := f.h.Invoke(context.Background(), json.RawMessage(payload)); !errors.Is(err, errUnsupportedEvent) {
			t.Errorf("Invoke(%s) err = %v, want errUnsupportedEvent", payload, err)
		}
	}
}

// TestAPIGatewayAuthenticatorOutsideLambda: a plain HTTP request (no
// adapter context) is refused, whatever headers it carries.
func TestAPIGatewayAuthenticatorOutsideLambda(t *testing.T) {
	a := newAPIGatewayAuthenticator(&APIGatewayConfig{SubjectClaim: "sub", GroupsClaim: "cognito:groups"})
	r := newRequest("GET", "/api/momento/token")
	r.Header.Set("X-GoLambdaProxy-ApiGw-Context", `{"authorizer":{"claims":{"sub":"mallory"}}}`)
	if _, err := a.Authenticate(r); !errors.Is(err, tvm.ErrNoCredentials) {
		t.Errorf("err = %v, want ErrNoCredentials", err)
	}
}

func TestServeLambdaRefusesLocalAndDemo(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if err := serveLambda(context.Background(), DemoConfig(), environment{lambda: true}, log); err == nil || !strings.Contains(err.Error(), "TVM_CONFIG is required") {
		t.Errorf("demo: %v", err)
	}
	cfg, err := ParseConfig([]byte(base + "momento: {local: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := serveLambda(context.Background(), cfg, environment{lambda: true}, log); err == nil || !strings.Contains(err.Error(), "momento.local: not available in AWS Lambda") {
		t.Errorf("local: %v", err)
	}
	cfg, err = ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if err := serveLambda(context.Background(), cfg, environment{lambda: true}, log); err == nil || !strings.Contains(err.Error(), "no Momento API key") {
		t.Errorf("no key: %v", err)
	}
}
