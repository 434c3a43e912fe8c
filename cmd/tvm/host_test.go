package main

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBinaryDemoHostCheck: a web page that rebinds its own name to
// 127.0.0.1 (DNS rebinding) cannot collect tokens from the demo: only Host
// values naming the listen address, localhost or an IP address are
// answered, whatever the port (containers publish other ports).
func TestBinaryDemoHostCheck(t *testing.T) {
	p := startTVM(t, baseEnv(t))
	for host, want := range map[string]int{
		"rebind.evil.example":      http.StatusForbidden,
		"rebind.evil.example:8080": http.StatusForbidden,
		"localhost.evil.example":   http.StatusForbidden,
		"localhost:8080":           http.StatusOK,
		"LOCALHOST":                http.StatusOK,
		"127.0.0.1:1":              http.StatusOK,
		"[::1]:8080":               http.StatusOK,
	} {
		resp, body := get(t, p.url("/api/momento/token?name=h"), func(r *http.Request) { r.Host = host })
		p.secrets = append(p.secrets, body.AuthToken)
		if resp.StatusCode != want || (want != http.StatusOK && body.AuthToken != "") {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestBinaryDemoRefusesRealKey: with MOMENTO_API_KEY set and no
// configuration, the demo would hand real Momento tokens to anyone who can
// reach it: it refuses to start unless TVM_DEMO_REAL_TOKENS=1 says so.
func TestBinaryDemoRefusesRealKey(t *testing.T) {
	inner := "secret-api-key-that-must-not-leak-0123456789"
	key := base64.StdEncoding.EncodeToString([]byte(`{"api_key":"` + inner + `","endpoint":"localhost"}`))
	code, stdout, stderr := runTVM(t, baseEnv(t, "MOMENTO_API_KEY="+key))
	if code != exitConfig || stdout != "" || !strings.Contains(stderr, "TVM_DEMO_REAL_TOKENS=1") {
		t.Errorf("demo with a real key: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if strings.Contains(stderr, inner) || strings.Contains(stderr, key) {
		t.Error("the key is in the output")
	}
}

// TestHostCheck: which Host values the token path answers: under open
// auth, IP addresses, localhost, the listen address's name and
// allowedHosts; under other methods every Host unless allowedHosts is set.
func TestHostCheck(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	quiet := slog.New(slog.DiscardHandler)
	status := func(h http.Handler, host string) int {
		r := httptest.NewRequest(http.MethodGet, defaultPath, nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	open := &Config{Auth: AuthConfig{Method: "open"}}
	openAllowed := &Config{Auth: AuthConfig{Method: "open"}, AllowedHosts: []string{"TVM.example.com."}}
	jwt := &Config{Auth: AuthConfig{Method: "jwt"}}
	jwtAllowed := &Config{Auth: AuthConfig{Method: "jwt"}, AllowedHosts: []string{"tvm.example.com"}}
	for _, tt := range []struct {
		cfg    *Config
		listen string
		host   string
		want   int
	}{
		{open, "127.0.0.1:8080", "evil.example", 403},
		{open, "127.0.0.1:8080", "", 403},
		{open, "127.0.0.1:8080", "localhost", 200},
		{open, "127.0.0.1:8080", "localhost.:3000", 200},
		{open, "127.0.0.1:8080", "10.1.2.3:8080", 200},
		{open, "127.0.0.1:8080", "[fe80::1%25eth0]:8080", 200},
		{open, "devbox:8080", "DevBox:9999", 200},
		{open, "0.0.0.0:8080", "tvm.example.com", 403},
		{openAllowed, "0.0.0.0:8080", "tvm.example.com:443", 200},
		{openAllowed, "0.0.0.0:8080", "other.example.com", 403},
		{jwt, "0.0.0.0:8080", "anything.example", 200},
		{jwtAllowed, "0.0.0.0:8080", "tvm.example.com", 200},
		{jwtAllowed, "0.0.0.0:8080", "evil.example", 403},
	} {
		if got := status(hostCheck(tt.cfg, tt.listen, ok, quiet), tt.host); got != tt.want {
			t.Errorf("auth %s, allowedHosts %v, listen %s, Host %q: %d, want %d", tt.cfg.Auth.Method, tt.cfg.AllowedHosts, tt.listen, tt.host, got, tt.want)
		}
	}
}

// TestConfigEdgeKeys: allowedHosts and trustedProxies are checked without
// quoting the value, and trustedProxies reaches the library: behind a
// trusted proxy, open-mode callers named by X-Forwarded-For have their own
// rate limit buckets.
func TestConfigEdgeKeys(t *testing.T) {
	_, err := ParseConfig([]byte(base + "allowedHosts: [ok.example.com, 'https://x.example/Hunter2', '*.example.com']\ntrustedProxies: [10.0.0.0/8, 192.0.2.1, Hunter2proxy, 10.0.0.0/99]\n"))
	var ce configErrors
	if !errors.As(err, &ce) || len(ce) != 4 || ce[0].key != "allowedHosts[1]" || ce[1].key != "allowedHosts[2]" ||
		ce[2].key != "trustedProxies[2]" || ce[3].key != "trustedProxies[3]" || strings.Contains(err.Error(), "Hunter2") {
		t.Errorf("problems: %v", err)
	}
	h := perfService(t, base+"rateLimit: {requestsPerSecond: 0.001, burst: 1}\ntrustedProxies: [192.0.2.1]\n", &countingVendor{})
	for i, tt := range []struct {
		xff  string
		want int
	}{{"203.0.113.1", 200}, {"203.0.113.1", 429}, {"203.0.113.2", 200}} {
		if w := perfGet(h, "X-Forwarded-For", tt.xff); w.Code != tt.want {
			t.Errorf("request %d for %s: %d, want %d", i, tt.xff, w.Code, tt.want)
		}
	}
}
