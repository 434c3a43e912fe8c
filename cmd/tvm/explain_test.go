package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// explainConfig is a JWT configuration (keys from a file: no network)
// with three rules, a template and narrowing.
func explainConfig(t *testing.T) string {
	t.Helper()
	jwks, err := filepath.Abs("../../testdata/jwt/jwks-public.json")
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, `
auth:
  method: jwt
  jwt:
    issuer: https://issuer.test/
    jwksFile: `+jwks+`
    audience: tvm-test
    algorithms: [RS256]
scopes:
  - group: admins
    ttl: 5m
    permissions:
      - {role: publishsubscribe, cache: "*", topic: "*"}
  - group: writers
    permissions:
      - {role: publishsubscribe, cache: default-cache, topicPrefix: "room-"}
  - default: true
    permissions:
      - {role: subscribeonly, cache: default-cache, topic: "user-{sub}"}
narrowing: {}
momento: {local: true}
`)
}

// testJWT signs a JWT of the explain configuration's issuer for sub.
func testJWT(t *testing.T, sub string, exp time.Duration, groups ...string) string {
	t.Helper()
	c := jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": sub, "exp": time.Now().Add(exp).Unix()}
	if groups != nil {
		c["groups"] = groups
	}
	return sign(t, "test-rsa-1", testKey(t, "test-rsa-1"), c)
}

func runExplain(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"explain"}, args...), func(string) string { return "" }, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestExplain: what tvm explain says for callers of a JWT configuration:
// the verified identity, every rule's verdict, the rule's scope with its
// template filled, the narrowed scope, TTL and token id, or the error the
// server would answer; never the JWT itself.
func TestExplain(t *testing.T) {
	t.Parallel()
	cfg := explainConfig(t)
	writer := testJWT(t, "erin", time.Hour, "writers")
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  []string
	}{
		{"writer narrowing to a room", []string{"--jwt", writer, "--query", "topic=room-1"}, "", 0, []string{
			"request:        GET /api/momento/token?topic=room-1; Authorization: Bearer <a JWT of ",
			"authentication: ok (method jwt)\n  subject:      erin\n  groups:       writers\n  expires:      ",
			"rules:\n  scopes[0] group admins: no: the caller is not in group admins\n" +
				"  scopes[1] group writers: matches (the caller is in group writers)\n" +
				"  scopes[2] default: not tried (scopes[1] matched first)\n",
			"rule scope:     1 permission(s)\n  topic:publishsubscribe(default-cache/room-*)\n",
			"narrowing:      topic=room-1 (intersected with the rule scope)\n",
			"scope:          1 permission(s)\n  topic:publishsubscribe(default-cache/room-1)\n",
			"ttl:            15m0s\n", "token id:       erin\n",
			"answer:         200 ok: a token would be vended (explain vended nothing: Momento was not called)\n",
		}},
		{"no group: the default rule, templated", []string{"--jwt", testJWT(t, "finn", time.Hour)}, "", 0, []string{
			"  groups:       (none)\n",
			"  scopes[1] group writers: no: the caller is not in group writers\n  scopes[2] default: matches (the default rule matches every caller)\n",
			"scope:          1 permission(s)\n  topic:subscribeonly(default-cache/user-finn)\n",
		}},
		{"admin: the rule's TTL", []string{"--jwt", testJWT(t, "ada", time.Hour, "writers", "admins")}, "", 0, []string{
			"  scopes[0] group admins: matches (the caller is in group admins)\n  scopes[1] group writers: not tried (scopes[0] matched first)\n",
			"ttl:            5m0s\n",
		}},
		{"a credential expiring first caps the TTL", []string{"--jwt", testJWT(t, "erin", 2*time.Minute, "writers")}, "", 0, []string{
			"(capped: the caller's credential expires then)",
		}},
		{"the JWT from stdin", []string{"--jwt", "-"}, writer + "\n", 0, []string{"  subject:      erin\n"}},
		{"narrowing outside the scope", []string{"--jwt", writer, "--query", "topic=lobby"}, "", 1, []string{
			"narrowing:      topic=lobby", "answer:         403 forbidden: no scope is granted for this request\n",
		}},
		{"malformed narrowing", []string{"--jwt", writer, "--query", "topic=a&topic=b"}, "", 1, []string{
			"answer:         400 bad_request: malformed request\n", `query parameter "topic" repeated`,
		}},
		{"expired JWT", []string{"--jwt", testJWT(t, "erin", -time.Hour, "writers")}, "", 1, []string{
			"authentication: failed (see the answer)\nanswer:         401 unauthorized: invalid credentials\n  WWW-Authenticate: Bearer error=\"invalid_token\"\n",
		}},
		{"no credentials", nil, "", 1, []string{"no credentials", "answer:         401 unauthorized: credentials required\n  WWW-Authenticate: Bearer\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runExplain(t, tt.stdin, append([]string{"--config", cfg}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tt.args {
				if strings.Count(a, ".") == 2 && len(a) > 100 && strings.Contains(out+errOut, a) {
					t.Error("the output contains the JWT")
				}
			}
			if strings.Contains(out+errOut, writer) {
				t.Error("the output contains the JWT")
			}
		})
	}
}

// TestExplainOtherCallers: a Basic user (password on stdin, never
// printed), API Gateway authorizer claims, the demo; and usage errors.
func TestExplainOtherCallers(t *testing.T) {
	t.Parallel()
	code, out, errOut := runExplain(t, "alice-password\n", "--config", filepath.Join(fixtures, "basic.yaml"), "--user", "alice", "--query", "topic=room-42")
	if code != 0 || !strings.Contains(out, "  scopes[0] group ReadWriteUserGroup: matches") || !strings.Contains(out, "topic:publishsubscribe(default-cache/room-42)") {
		t.Errorf("basic: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "alice-password") {
		t.Error("the output contains the password")
	}
	code, out, _ = runExplain(t, "", "--config", filepath.Join(fixtures, "apigateway.yaml"), "--claims", `{"sub": "ann", "cognito:groups": "ReadOnlyUserGroup"}`)
	if code != 0 || !strings.Contains(out, "authentication: ok (method apigateway)\n  subject:      ann\n  groups:       ReadOnlyUserGroup") ||
		!strings.Contains(out, "scope:          1 permission(s)\n  topic:subscribeonly(default-cache/*)") {
		t.Errorf("apigateway: exit %d\n%s", code, out)
	}
	code, out, _ = runExplain(t, "", "--config", filepath.Join(fixtures, "apigateway.yaml"))
	if code != 1 || !strings.Contains(out, "answer:         401 unauthorized: credentials required") {
		t.Errorf("apigateway without claims: exit %d\n%s", code, out)
	}
	code, out, _ = runExplain(t, "", "--query", "name=alice")
	if code != 0 || !strings.Contains(out, "configuration:  the demo configuration (auth open, 1 scope rule(s))") || !strings.Contains(out, "token id:       alice\n") {
		t.Errorf("demo: exit %d\n%s", code, out)
	}
	code, out, _ = runExplain(t, "", "--config", filepath.Join(fixtures, "open.yaml"))
	if code != 0 || !strings.Contains(out, "(random for each request: no ?name=)") || !strings.Contains(out, "note:           rateLimit and vendLimit are not applied") {
		t.Errorf("open: exit %d\n%s", code, out)
	}
	// The query is read as the server reads it: percent-decoded.
	code, out, _ = runExplain(t, "", "--config", filepath.Join(fixtures, "open.yaml"), "--query", "n%61me=bob")
	if code != 0 || !strings.Contains(out, "token id:       bob\n") {
		t.Errorf("open with a percent-encoded parameter name: exit %d\n%s", code, out)
	}

	jwtCfg := explainConfig(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", jwtCfg, "--jwt", "x", "--user", "y"}, "give one caller"},
		{[]string{"--config", jwtCfg, "--user", "y"}, "--user needs auth.method basic (auth.method is jwt)"},
		{[]string{"--config", jwtCfg, "--claims", "{}"}, "--claims needs auth.method apigateway"},
		{[]string{"--config", filepath.Join(fixtures, "apigateway.yaml"), "--claims", "[1]"}, "--claims must be a JSON object"},
		{[]string{"--config", jwtCfg, "--jwt", "-"}, "--jwt -: write the JWT on standard input"},
		{[]string{"--config", jwtCfg, "--query", "topic=a b"}, "--query must be a URL query string"},
		{[]string{"--config", filepath.Join(fixtures, "bad-many.yaml")}, "problems in"},
	} {
		code, _, errOut := runExplain(t, "", tt.args...)
		if code != exitConfig || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

// TestBinaryExplainAnswersAsTheServer: for the same caller, tvm explain
// gives the status, code, message and challenge the running server
// answers; with a JWKS URL it fetches the keys as the server does, and
// --offline refuses to (without contacting the JWKS server).
func TestBinaryExplainAnswersAsTheServer(t *testing.T) {
	t.Parallel()
	cfg := explainConfig(t)
	p := startTVM(t, baseEnv(t), "--config", cfg)
	writer := testJWT(t, "erin", time.Hour, "writers")
	p.secrets = append(p.secrets, writer)
	for _, c := range []struct{ jwt, query string }{
		{writer, "topic=lobby"},
		{writer, "topic=a&topic=b"},
		{testJWT(t, "erin", -time.Hour, "writers"), ""},
		{"not.a.jwt", ""},
		{sign(t, "test-rsa-1", testKey(t, "test-rsa-attacker"), jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": "x", "exp": time.Now().Add(time.Hour).Unix()}), ""},
	} {
		p.secrets = append(p.secrets, c.jwt)
		url := p.url("/api/momento/token")
		if c.query != "" {
			url += "?" + c.query
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+c.jwt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error, Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		cmd := exec.Command(tvmBin, "explain", "--config", cfg, "--jwt", "-", "--query", c.query)
		cmd.Stdin = strings.NewReader(c.jwt)
		out, _ := cmd.CombinedOutput()
		want := fmt.Sprintf("answer:         %d %s: %s\n", resp.StatusCode, body.Error, body.Message)
		if !strings.Contains(string(out), want) {
			t.Errorf("explain says\n%s\nthe server answered %s", out, want)
		}
		if ch := resp.Header.Get("WWW-Authenticate"); ch != "" && !strings.Contains(string(out), "  WWW-Authenticate: "+ch+"\n") {
			t.Errorf("explain lacks the challenge %q:\n%s", ch, out)
		}
		if strings.Contains(string(out), c.jwt) {
			t.Error("explain printed the JWT")
		}
	}

	// Keys from a JWKS URL: fetched as the server would, unless --offline.
	key := testKey(t, "test-rsa-1")
	var hits atomic.Int64
	inner := newJWKSServer(t, jwkOf("test-rsa-1", key))
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	defer counting.Close()
	remote := writeConfig(t, jwtConfig(counting.URL, ""))
	cmd := exec.Command(tvmBin, "explain", "--config", remote, "--jwt", "-")
	cmd.Stdin = strings.NewReader(writer)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "answer:         200 ok") || hits.Load() == 0 {
		t.Errorf("explain with a JWKS URL: %v (%d fetches)\n%s", err, hits.Load(), out)
	}
	before := hits.Load()
	cmd = exec.Command(tvmBin, "explain", "--offline", "--config", remote, "--jwt", "-")
	cmd.Stdin = strings.NewReader(writer)
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig || !strings.Contains(string(out), "--offline, but this configuration needs the network to verify tokens (it tried to reach "+strings.TrimPrefix(counting.URL, "http://")+")") {
		t.Errorf("explain --offline with a JWKS URL: %v\n%s", err, out)
	}
	if hits.Load() != before {
		t.Errorf("explain --offline fetched the JWKS (%d times)", hits.Load()-before)
	}
	// A key file needs no network: --offline is fine.
	cmd = exec.Command(tvmBin, "explain", "--offline", "--config", cfg, "--jwt", "-")
	cmd.Stdin = strings.NewReader(writer)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "answer:         200 ok") {
		t.Errorf("explain --offline with a JWKS file: %v\n%s", err, out)
	}
}
