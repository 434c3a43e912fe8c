package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// v2TestKey is shaped like the v2 API keys of today's Momento console: a
// JWT with "t": "g" and no endpoint (never verified by tvm).
var v2TestKey = func() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(`{"t":"g","id":"v2-test-key-id"}`)) + "." + enc([]byte("v2-test-signature-SECRET"))
}()

// TestBinaryMomentoKeyKinds: with a v2 key and MOMENTO_ENDPOINT, tvm says
// at start-up (and in `tvm check`) which kind of key and which endpoint it
// uses, never the key; a v1 key names its own endpoint.
func TestBinaryMomentoKeyKinds(t *testing.T) {
	v1 := base64.StdEncoding.EncodeToString([]byte(`{"endpoint":"cell-1.example.com","api_key":"inner-api-key-SECRET"}`))
	cfg := writeConfig(t, base)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"v2 key with MOMENTO_ENDPOINT", []string{"MOMENTO_API_KEY=" + v2TestKey, "MOMENTO_ENDPOINT=cell-4-us-west-2-1.prod.a.momentohq.com"},
			"v2 API key, token endpoint token.cell-4-us-west-2-1.prod.a.momentohq.com:443"},
		{"v1 key", []string{"MOMENTO_API_KEY=" + v1}, "v1 API key, token endpoint token.cell-1.example.com:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runTVM(t, baseEnv(t, tt.env...), "check", cfg)
			if code != exitOK || !strings.Contains(stdout, "momento: "+tt.want+" (from MOMENTO_API_KEY)") {
				t.Fatalf("check: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, tt.want)
			}
			p := startTVM(t, baseEnv(t, tt.env...), "--config", cfg)
			p.secrets = append(p.secrets, v2TestKey, v1, "SECRET")
			if !strings.Contains(p.stdout.String(), "tvm: vending real Momento tokens ("+tt.want+")") {
				t.Errorf("banner:\n%s", p.stdout.String())
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			if code := p.wait(15 * time.Second); code != 0 {
				t.Errorf("exit %d", code)
			}
			if !strings.Contains(p.stderr.String(), tt.want) {
				t.Errorf("the start-up log line does not say which key: %s", p.stderr.String())
			}
		})
	}
	code, stdout, _ := runTVM(t, baseEnv(t), "check", cfg)
	if code != exitOK || !strings.Contains(stdout, "momento: no API key in the environment") {
		t.Errorf("check without a key: exit %d, %s", code, stdout)
	}
	code, _, stderr := runTVM(t, baseEnv(t, "MOMENTO_API_KEY="+v2TestKey), "check", cfg)
	if code != exitConfig || !strings.Contains(stderr, "MOMENTO_ENDPOINT: required with a v2 API key") || strings.Contains(stderr, "SECRET") {
		t.Errorf("check with a v2 key and no endpoint: exit %d, %s", code, stderr)
	}
}

// TestBinaryVendLimit: a vend ceiling of one per second sheds the second
// distinct vend with 503 upstream_throttled and Retry-After; a reused
// token needs no slot; the outcome is counted as such.
func TestBinaryVendLimit(t *testing.T) {
	cfg := writeConfig(t, base+"tokenId: query:name\nmomento: {local: true}\nvendLimit: {perSecond: 1, wait: 10ms}\n")
	p := startTVM(t, baseEnv(t), "--config", cfg)
	resp, body := get(t, p.url("/api/momento/token?name=a"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	p.secrets = append(p.secrets, body.AuthToken)
	if resp, _ := get(t, p.url("/api/momento/token?name=a"), nil); resp.StatusCode != 200 {
		t.Fatalf("reused: %d", resp.StatusCode)
	}
	resp, err := http.Get(p.url("/api/momento/token?name=b"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("second vend within the second: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	m := scrape(t, p)
	if !strings.Contains(m, `tvm_token_requests_total{outcome="upstream_throttled"} 1`) {
		t.Errorf("metrics do not count the shed vend as upstream_throttled:\n%s", m)
	}
	// Shed before Momento: no vend, so no upstream error either.
	if !strings.Contains(m, `tvm_upstream_errors_total{kind="throttled"} 0`) {
		t.Errorf("metrics count the vend the ceiling shed as an upstream error:\n%s", m)
	}
	if got := len(tokenRequests(t, p)); got != 1 {
		t.Errorf("%d vends reached Momento, want 1", got)
	}
}

// TestBinaryVendLimitShared: in local mode the embedded emulator serves the
// cache of vendLimit.shared, so the shared ceiling counts (a missing cache
// would make it fail open and let the second vend through).
func TestBinaryVendLimitShared(t *testing.T) {
	cfg := writeConfig(t, base+"tokenId: query:name\nmomento: {local: true}\nvendLimit: {wait: 10ms, shared: {cache: tvm-counters, limit: 1, window: 1m}}\n")
	p := startTVM(t, baseEnv(t), "--config", cfg)
	resp, body := get(t, p.url("/api/momento/token?name=a"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	p.secrets = append(p.secrets, body.AuthToken)
	resp, err := http.Get(p.url("/api/momento/token?name=b"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("second vend in the window: %d, want 503 (the shared ceiling)", resp.StatusCode)
	}
	if strings.Contains(p.stderr.String(), "cannot reach Momento") {
		t.Errorf("the shared ceiling could not count:\n%s", p.stderr.String())
	}
}
