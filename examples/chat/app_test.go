package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tvmgo/tvm/momentolocal"
)

// testWebDir is a web directory with a built page.
func testWebDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dist", "index.html"), []byte("<!doctype html><title>tvm chat</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testOptions(t *testing.T) options {
	return options{
		WebDir:       testWebDir(t),
		TokenTTL:     10 * time.Minute,
		IDTokenTTL:   time.Hour,
		Cache:        "default-cache",
		EmulatorAddr: "127.0.0.1:0",
	}
}

// startApp serves an app for opts on a loopback httptest server and starts
// its token route, as run does.
func startApp(t *testing.T, opts options) (*app, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(opts, "http://"+srv.Listener.Addr().String(), logger)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := a.StartTokenRoute(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, srv
}

func getJSON(t *testing.T, url string, header http.Header, v any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, body, err)
		}
	}
	return resp
}

func TestConfigEndpointLocalMode(t *testing.T) {
	a, srv := startApp(t, testOptions(t))
	for _, path := range []string{"/config.json", "/api/config"} {
		var c pageConfig
		resp := getJSON(t, srv.URL+path, nil, &c)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d, Cache-Control %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if c.Mode != modeLocal || c.TokenURL != tokenPath || c.CacheName != "default-cache" {
			t.Errorf("%s: %+v", path, c)
		}
		if c.MomentoEndpoint != "http://"+a.emulator.Addr() {
			t.Errorf("momentoEndpoint = %q, want the emulator http://%s", c.MomentoEndpoint, a.emulator.Addr())
		}
		if c.Auth.Type != "demo" || c.Auth.Password != demoPassword || len(c.Auth.Users) != len(demoUsers) {
			t.Errorf("auth = %+v", c.Auth)
		}
		if c.Groups.ReadWrite != readWriteGroup || c.Groups.ReadOnly != readOnlyGroup {
			t.Errorf("groups = %+v", c.Groups)
		}
	}
}

func TestConfigEndpointStandaloneAndCognito(t *testing.T) {
	opts := testOptions(t)
	opts.TVMURL = "http://127.0.0.1:9999/api/momento/token"
	opts.MomentoEndpoint = "http://127.0.0.1:9090"
	a, srv := startApp(t, opts)
	if a.emulator != nil {
		t.Error("standalone shape started an emulator")
	}
	var c pageConfig
	getJSON(t, srv.URL+"/config.json", nil, &c)
	if c.Mode != modeStandalone || c.TokenURL != opts.TVMURL || c.MomentoEndpoint != opts.MomentoEndpoint || c.Auth.Type != "demo" {
		t.Errorf("standalone config = %+v", c)
	}
	// No token route of its own.
	if resp := getJSON(t, srv.URL+tokenPath, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("standalone %s: %d, want 404", tokenPath, resp.StatusCode)
	}

	// A Cognito pool replaces the demo identity provider. The authenticator
	// cannot reach AWS here, so only the page configuration is checked.
	opts = testOptions(t)
	opts.Cognito = cognitoOptions{Region: "us-west-2", UserPoolID: "us-west-2_abc", ClientID: "client123"}
	srv2 := httptest.NewServer(nil)
	defer srv2.Close()
	a2, err := newApp(opts, srv2.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	srv2.Config.Handler = a2
	var c2 pageConfig
	getJSON(t, srv2.URL+"/config.json", nil, &c2)
	if c2.Auth.Type != "cognito" || c2.Auth.Region != "us-west-2" || c2.Auth.ClientID != "client123" || c2.Auth.Password != "" || len(c2.Auth.Users) != 0 {
		t.Errorf("cognito auth config = %+v", c2.Auth)
	}
	if resp := getJSON(t, srv2.URL+jwksPath, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("demo JWKS served in Cognito mode: %d", resp.StatusCode)
	}
}

func signIn(t *testing.T, baseURL, user string) string {
	t.Helper()
	resp, body := signInRaw(t, baseURL, "application/json", `{"username":"`+user+`","password":"`+demoPassword+`"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in %s: %d %s", user, resp.StatusCode, body)
	}
	var sr signInResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		t.Fatal(err)
	}
	return sr.IDToken
}

type tokenBody struct {
	AuthToken string `json:"authToken"`
	ExpiresAt int64  `json:"expiresAt"`
	Error     string `json:"error"`
}

// The token route authenticates demo ID tokens with the real JWT
// authenticator and vends, through the emulator, exactly the group's scope
// narrowed to the requested room, with the user name as token id.
//
// Every successful case asks for a different (user, room), so that the
// handler vends a new token rather than reusing a kept one.
func TestTokenRouteScopesByGroupAndRoom(t *testing.T) {
	a, srv := startApp(t, testOptions(t))
	for _, tc := range []struct {
		user, query string
		status      int
		role, topic string
	}{
		{"alice", "?topic=general", http.StatusOK, "publishsubscribe", "general"},
		{"bob", "?topic=general", http.StatusOK, "subscribeonly", "general"},
		{"carol", "?topic=random", http.StatusOK, "publishsubscribe", "random"},
		{"eve", "?topic=general", http.StatusForbidden, "", ""},
		{"alice", "?topic=" + strings.Repeat("x", 300), http.StatusBadRequest, "", ""},
		{"alice", "?topic=*", http.StatusBadRequest, "", ""},
		{"alice", "?topic=a&topic=b", http.StatusBadRequest, "", ""},
		{"bob", "?topic=lobby&cache=other", http.StatusOK, "subscribeonly", "lobby"},
	} {
		t.Run(tc.user+tc.query[:min(len(tc.query), 20)], func(t *testing.T) {
			before := len(a.emulator.TokenRequests())
			idToken := signIn(t, srv.URL, tc.user)
			var tb tokenBody
			resp := getJSON(t, srv.URL+tokenPath+tc.query, http.Header{"Authorization": {"Bearer " + idToken}}, &tb)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, tb.Error, tc.status)
			}
			reqs := a.emulator.TokenRequests()
			if tc.status != http.StatusOK {
				if len(reqs) != before {
					t.Fatalf("refused request still vended: %+v", reqs[before:])
				}
				return
			}
			if tb.AuthToken == "" || time.Until(time.Unix(tb.ExpiresAt, 0)) > 10*time.Minute+time.Second {
				t.Errorf("token %+v", tb)
			}
			if len(reqs) != before+1 {
				t.Fatalf("%d token requests, want 1", len(reqs)-before)
			}
			got := reqs[len(reqs)-1]
			want := []momentolocal.Permission{{Role: tc.role, Cache: "default-cache", Topic: tc.topic}}
			if got.TokenID != tc.user || len(got.Permissions) != 1 || got.Permissions[0] != want[0] {
				t.Errorf("vended %+v, want token id %q and %+v", got, tc.user, want)
			}
			if got.ValidFor > 10*time.Minute {
				t.Errorf("ValidFor %s above the configured TTL", got.ValidFor)
			}
		})
	}
}

// Nothing the page sends besides the ID token widens the scope: headers and
// parameters naming another group or cache are ignored or refused.
func TestTokenRouteIgnoresClientClaims(t *testing.T) {
	a, srv := startApp(t, testOptions(t))
	idToken := signIn(t, srv.URL, "bob")
	hdr := http.Header{
		"Authorization": {"Bearer " + idToken},
		"Usergroup":     {readWriteGroup},
		"Cachename":     {"other"},
	}
	var tb tokenBody
	resp := getJSON(t, srv.URL+tokenPath+"?topic=general&usergroup=ReadWriteUserGroup", hdr, &tb)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, tb.Error)
	}
	reqs := a.emulator.TokenRequests()
	got := reqs[len(reqs)-1].Permissions
	if len(got) != 1 || got[0].Role != "subscribeonly" || got[0].Cache != "default-cache" {
		t.Errorf("bob got %+v", got)
	}

	// No or a tampered ID token: 401, nothing vended.
	before := len(a.emulator.TokenRequests())
	tampered := idToken[:len(idToken)-4] + "AAAA"
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer " + tampered}}} {
		if resp := getJSON(t, srv.URL+tokenPath+"?topic=general", h, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	}
	if n := len(a.emulator.TokenRequests()); n != before {
		t.Errorf("%d tokens vended to unauthenticated callers", n-before)
	}
}

func TestStaticUIAndSecurityHeaders(t *testing.T) {
	_, srv := startApp(t, testOptions(t))
	resp := getJSON(t, srv.URL+"/", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET /: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := getJSON(t, srv.URL+"/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %d", resp.StatusCode)
	}
}

func TestParseOptions(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	o, err := parseOptions(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "127.0.0.1:8080" || o.TokenTTL != 15*time.Minute || o.Cache != "default-cache" || o.mode() != modeLocal || !o.Build {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseOptions([]string{"-token-ttl", "20s", "-addr", "127.0.0.1:0"}, env(map[string]string{"CHAT_TOKEN_TTL": "1m", "MOMENTO_API_KEY": "k"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.TokenTTL != 20*time.Second || o.Addr != "127.0.0.1:0" || o.mode() != modeMomento {
		t.Errorf("flags = %+v", o)
	}
	o, err = parseOptions([]string{"-tvm-url", "http://127.0.0.1:9/t"}, env(nil), io.Discard)
	if err != nil || o.mode() != modeStandalone {
		t.Errorf("standalone: %v %+v", err, o)
	}

	var stderr bytes.Buffer
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"ttl too long":       {[]string{"-token-ttl", "2h"}, nil},
		"ttl zero":           {[]string{"-token-ttl", "0s"}, nil},
		"bad env ttl":        {nil, map[string]string{"CHAT_TOKEN_TTL": "soon"}},
		"partial cognito":    {nil, map[string]string{"COGNITO_REGION": "us-west-2"}},
		"tvm url not http":   {[]string{"-tvm-url", "ftp://x"}, nil},
		"standalone and key": {[]string{"-tvm-url", "http://127.0.0.1:9/t"}, map[string]string{"MOMENTO_API_KEY": "k"}},
		"extra args":         {[]string{"serve"}, nil},
		"bad log level":      {[]string{"-log-level", "loud"}, nil},
	} {
		if _, err := parseOptions(tc.args, env(tc.env), &stderr); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEnsureUI(t *testing.T) {
	if err := ensureUI(context.Background(), testWebDir(t), io.Discard); err != nil {
		t.Errorf("built UI: %v", err)
	}
	if err := ensureUI(context.Background(), t.TempDir(), io.Discard); err == nil {
		t.Error("a directory without package.json was accepted")
	}
}
