package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/tvmgo/tvm/internal/testenv"
)

// End-to-end tests of the jwt method against OpenID Provider software that
// no one on this project wrote, started by the tests on 127.0.0.1:
// github.com/oauth2-proxy/mockoidc (Go, in-process) and panva's
// oidc-provider (npm, OpenID Certified; testdata/idp/node). cmd/tvm is
// configured with the issuer only (discovery), and real tokens from a code
// exchange go through the binary.

// idpScopes grants writers publish+subscribe and readers subscribe-only on
// every topic of default-cache; there is no default rule, so a caller
// without a group gets 403.
const idpScopes = `scopes:
  - group: writers
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
  - group: readers
    permissions:
      - {role: subscribeonly, cache: default-cache, topic: "*"}
momento:
  local: true
`

// idpConfig is a cmd/tvm configuration accepting the issuers of yaml
// (the value of auth.jwt).
func idpConfig(jwt string) string {
	return "auth:\n  method: jwt\n  jwt:\n" + indent(jwt, "    ") + idpScopes
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// ---------------------------------------------------------------------------
// mockoidc

// mockIdP is a mockoidc server whose key and client id a test may change
// between requests (under the lock its middleware holds for each request).
type mockIdP struct {
	m  *mockoidc.MockOIDC
	mu sync.RWMutex
}

// startMockIdP starts mockoidc on ln (nil: a free loopback port).
func startMockIdP(t *testing.T, ln net.Listener) *mockIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mockoidc.NewServer(key)
	if err != nil {
		t.Fatal(err)
	}
	idp := &mockIdP{m: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			idp.mu.RLock()
			defer idp.mu.RUnlock()
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return idp
}

func (p *mockIdP) issuer() string { return p.m.Issuer() }

func (p *mockIdP) clientID() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m.ClientID
}

// change runs f with no request in flight.
func (p *mockIdP) change(f func(m *mockoidc.MockOIDC)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p.m)
}

// rotate replaces the signing key: the key set then publishes only the new
// key.
func (p *mockIdP) rotate(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := mockoidc.NewKeypair(key)
	if err != nil {
		t.Fatal(err)
	}
	p.change(func(m *mockoidc.MockOIDC) { m.Keypair = kp })
}

// idToken runs mockoidc's authorization code flow for a user with groups
// (nil: none) and returns the ID token.
func (p *mockIdP) idToken(t *testing.T, sub string, groups []string) string {
	t.Helper()
	p.m.QueueUser(&mockoidc.MockUser{Subject: sub, Email: sub + "@example.com", Groups: groups})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {p.clientID()}, "scope": {"openid groups"}, "response_type": {"code"},
		"redirect_uri": {"http://127.0.0.1/cb"}, "state": {"s"}, "nonce": {"n"}}
	resp, err := client.Get(p.m.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	p.mu.RLock()
	secret := p.m.ClientSecret
	p.mu.RUnlock()
	return exchangeCode(t, p.m.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1/cb"}, "client_id": {p.clientID()}, "client_secret": {secret}})
}

// exchangeCode posts a code to a token endpoint and returns the ID token.
func exchangeCode(t *testing.T, endpoint string, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		IDToken string `json:"id_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != 200 || body.IDToken == "" {
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, raw)
	}
	return body.IDToken
}

// ---------------------------------------------------------------------------
// oidc-provider (npm)

// nodeIdPDir holds the npm package of the oidc-provider harness.
const nodeIdPDir = "../../testdata/idp/node"

// nodeIdP is a running testdata/idp/node/provider.mjs.
type nodeIdP struct {
	iss   string
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startNodeIdP starts oidc-provider. Without node or its npm packages it
// skips, saying why, except under CI=true, where it fails.
func startNodeIdP(t *testing.T) *nodeIdP {
	t.Helper()
	needs := testenv.Require(t)
	node := needs.Command("node", "Node.js >= 20.19, to run the oidc-provider tests")
	needs.NodeModules(nodeIdPDir, "oidc-provider")
	needs.Check()
	cmd := exec.Command(node, "provider.mjs")
	cmd.Dir = nodeIdPDir
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = stdin.Close() // provider.mjs exits when stdin closes
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("oidc-provider stderr:\n%s", stderr.String())
		}
	})
	p := &nodeIdP{stdin: stdin, out: bufio.NewScanner(stdout)}
	var hello struct{ Issuer string }
	p.read(t, &hello)
	p.iss = hello.Issuer
	return p
}

// read reads the next JSON line of the provider into v.
func (p *nodeIdP) read(t *testing.T, v any) {
	t.Helper()
	line := make(chan []byte, 1)
	go func() {
		if p.out.Scan() {
			line <- append([]byte(nil), p.out.Bytes()...)
		}
		close(line)
	}()
	select {
	case b, ok := <-line:
		if !ok || json.Unmarshal(b, v) != nil {
			t.Fatalf("oidc-provider said %q", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not answer")
	}
}

// rotate makes the provider sign with a new key and publish only it.
func (p *nodeIdP) rotate(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "rotate\n"); err != nil {
		t.Fatal(err)
	}
	var ack struct{ Rotated bool }
	p.read(t, &ack)
	if !ack.Rotated {
		t.Fatal("rotation refused")
	}
}

// idToken runs the authorization code flow for user (alice, bob or carol)
// and client, following the provider's redirects through its interaction
// (finished by provider.mjs), and returns the ID token.
func (p *nodeIdP) idToken(t *testing.T, user, client string) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var code string
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Host == "127.0.0.1" && r.URL.Path == "/cb" {
			code = r.URL.Query().Get("code")
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return fmt.Errorf("too many redirects")
		}
		return nil
	}}
	q := url.Values{"client_id": {client}, "scope": {"openid groups"}, "response_type": {"code"},
		"redirect_uri": {"http://127.0.0.1/cb"}, "state": {"s"}, "nonce": {"n"}, "login_hint": {user}}
	resp, err := hc.Get(p.iss + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if code == "" {
		t.Fatalf("no code: %d %s", resp.StatusCode, body)
	}
	return exchangeCode(t, p.iss+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {"http://127.0.0.1/cb"}, "client_id": {client}, "client_secret": {client + "-secret"}})
}

// ---------------------------------------------------------------------------
// The end-to-end checks, common to both providers.

// idpCase is a token and what cmd/tvm must answer.
type idpCase struct {
	name   string
	token  string
	status int
	role   string // the vended permission's role, for 200
}

// checkIdPCases sends each case's token to p and checks the status and,
// for a 200, the role of the vended token's permission (the emulator's
// record of the vend).
func checkIdPCases(t *testing.T, p *tvmProc, cases []idpCase) {
	t.Helper()
	for _, c := range cases {
		vendsBefore := len(tokenRequests(t, p))
		resp, body := get(t, p.url("/api/momento/token"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+c.token) })
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d (%s), want %d", c.name, resp.StatusCode, body.Error, c.status)
			continue
		}
		if c.status != http.StatusOK {
			continue
		}
		reqs := tokenRequests(t, p)
		if len(reqs) == vendsBefore {
			continue // reused: the same identity got the same grant before
		}
		last := reqs[len(reqs)-1]
		if len(last.Permissions) != 1 || last.Permissions[0].Role != c.role {
			t.Errorf("%s: vended %+v, want one %s permission", c.name, last.Permissions, c.role)
		}
	}
}

func TestBinaryIdPMockOIDC(t *testing.T) {
	idp := startMockIdP(t, nil)
	other := startMockIdP(t, nil)
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, idpConfig(fmt.Sprintf(
		"name: mock\nissuer: %s\naudience: %s\nalgorithms: [RS256]\n", idp.issuer(), idp.clientID()))))

	alice := idp.idToken(t, "alice", []string{"writers"})
	p.secrets = append(p.secrets, alice)
	client := idp.clientID()
	idp.change(func(m *mockoidc.MockOIDC) { m.ClientID = "another-client" })
	otherAudience := idp.idToken(t, "alice", []string{"writers"})
	idp.change(func(m *mockoidc.MockOIDC) { m.ClientID = client })
	checkIdPCases(t, p, []idpCase{
		{"writer", alice, 200, "publishsubscribe"},
		{"writer again (cached verification)", alice, 200, "publishsubscribe"},
		{"reader", idp.idToken(t, "bob", []string{"readers"}), 200, "subscribeonly"},
		{"no group", idp.idToken(t, "carol", nil), 403, ""},
		{"an unknown group", idp.idToken(t, "dave", []string{"engineering"}), 403, ""},
		{"wrong audience", otherAudience, 401, ""},
		{"a token of another provider", other.idToken(t, "alice", []string{"writers"}), 401, ""},
		{"a tampered token", alice[:len(alice)-4] + "AAAA", 401, ""},
	})

	// The provider rotates its key: a new token names a kid tvm has not
	// seen (one refresh picks it up); the old token's key is gone from
	// the refreshed set, so its cached verification ends too.
	idp.rotate(t)
	checkIdPCases(t, p, []idpCase{
		{"after rotation: a token of the new key", idp.idToken(t, "erin", []string{"writers"}), 200, "publishsubscribe"},
		{"after rotation: a token of the removed key", alice, 401, ""},
	})
}

// TestBinaryIdPDownAtStart: the provider is not there when cmd/tvm starts;
// requests get 503 with Retry-After (never a crash, never a pass) until
// discovery, retried in the background, finds it.
func TestBinaryIdPDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr + mockoidc.IssuerBase
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, idpConfig(fmt.Sprintf(
		"issuer: %s\naudience: tvm-web\nalgorithms: [RS256]\n", issuer))))
	// A well-formed token of the issuer (its signature cannot be checked
	// yet: that is the point).
	early := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0." + encodeBase64URL([]byte(`{"iss":"`+issuer+`","aud":"tvm-web","sub":"alice","exp":`+
		fmt.Sprint(time.Now().Add(time.Hour).Unix())+`}`)) + "." + encodeBase64URL(make([]byte, 256))
	resp, body := get(t, p.url("/api/momento/token"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+early) })
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("provider down: %d %q Retry-After %q, want 503 with Retry-After", resp.StatusCode, body.Error, resp.Header.Get("Retry-After"))
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	idp := startMockIdP(t, ln)
	idp.change(func(m *mockoidc.MockOIDC) { m.ClientID = "tvm-web" })
	tok := idp.idToken(t, "alice", []string{"writers"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, body := get(t, p.url("/api/momento/token"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the provider came up: %d %q", resp.StatusCode, body.Error)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "discovery failed") {
		t.Errorf("the failed discovery was not logged:\n%s", p.stderr.String())
	}
}

func TestBinaryIdPOIDCProvider(t *testing.T) {
	idp := startNodeIdP(t)
	mock := startMockIdP(t, nil)
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, idpConfig(fmt.Sprintf(
		"name: panva\nissuer: %s\naudience: tvm-web\nalgorithms: [RS256]\n", idp.iss))))

	alice := idp.idToken(t, "alice", "tvm-web")
	p.secrets = append(p.secrets, alice)
	checkIdPCases(t, p, []idpCase{
		{"writer", alice, 200, "publishsubscribe"},
		{"reader", idp.idToken(t, "bob", "tvm-web"), 200, "subscribeonly"},
		{"no group", idp.idToken(t, "carol", "tvm-web"), 403, ""},
		{"wrong audience (another client)", idp.idToken(t, "alice", "other-app"), 401, ""},
		{"a token of another provider (mockoidc)", mock.idToken(t, "alice", []string{"writers"}), 401, ""},
	})

	idp.rotate(t)
	checkIdPCases(t, p, []idpCase{
		{"after rotation: a token of the new key", idp.idToken(t, "bob", "tvm-web"), 200, "subscribeonly"},
		{"after rotation: a token of the removed key", alice, 401, ""},
	})
}

// TestBinaryIdPBothProviders: one cmd/tvm, two issuers (mockoidc and
// oidc-provider), each with its own audience and groups; a token's iss
// selects its issuer, and a token claiming one issuer but signed by the
// other is refused.
func TestBinaryIdPBothProviders(t *testing.T) {
	node := startNodeIdP(t)
	mock := startMockIdP(t, nil)
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, idpConfig(fmt.Sprintf(
		"issuers:\n  - {name: mock, issuer: %q, audience: %q, algorithms: [RS256]}\n  - {name: panva, issuer: %q, audience: tvm-web, algorithms: [RS256]}\n",
		mock.issuer(), mock.clientID(), node.iss))))
	fromMock := mock.idToken(t, "alice", []string{"readers"})
	fromNode := node.idToken(t, "alice", "tvm-web")
	// mockoidc's token with its iss replaced by oidc-provider's: selects
	// the oidc-provider issuer, whose keys never verify mockoidc's
	// signature (and mockoidc's keys are never tried).
	parts := strings.Split(fromMock, ".")
	var claims map[string]any
	raw, _ := base64URL(parts[1])
	_ = json.Unmarshal(raw, &claims)
	claims["iss"] = node.iss
	swapped, _ := json.Marshal(claims)
	mixed := parts[0] + "." + encodeBase64URL(swapped) + "." + parts[2]
	checkIdPCases(t, p, []idpCase{
		{"mockoidc reader", fromMock, 200, "subscribeonly"},
		{"oidc-provider writer", fromNode, 200, "publishsubscribe"},
		{"mockoidc token claiming oidc-provider's issuer", mixed, 401, ""},
	})
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func encodeBase64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
