package tvm

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// caStatus sends a token request from the peer remote with the headers
// (name, value pairs) and returns the status.
func caStatus(h http.Handler, remote string, headers ...string) int {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// TestOpenRateLimitPerClientAddress: anonymous callers (open mode) do not
// share one bucket: each client address has its own, so one client cannot
// exhaust the limit for everyone.
func TestOpenRateLimitPerClientAddress(t *testing.T) {
	lim := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 0.001, Burst: 1})
	h, err := NewHandler(Config{
		Authenticator: Open(),
		Scopes:        htDefault(t, htScope),
		Vendor:        vendorFunc(func(context.Context, Grant) (Token, error) { return Token{AuthToken: "t"}, nil }),
		RateLimit:     lim,
		Reuse:         ReuseOptions{Disabled: true},
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := caStatus(h, "192.0.2.1:1111"); c != 200 {
		t.Fatalf("first client: %d", c)
	}
	if c := caStatus(h, "192.0.2.1:2222"); c != 429 {
		t.Errorf("first client again (another port): %d, want 429", c)
	}
	if c := caStatus(h, "192.0.2.2:1111"); c != 200 {
		t.Errorf("second client: %d, want 200 (its own bucket)", c)
	}
	// Without trusted proxies, forwarding headers are the client's word.
	if c := caStatus(h, "192.0.2.1:3333", "X-Forwarded-For", "203.0.113.9"); c != 429 {
		t.Errorf("first client claiming another address: %d, want 429", c)
	}

	// Behind a trusted proxy, the clients it names have their own buckets.
	behind, err := NewHandler(Config{
		Authenticator:  Open(),
		Scopes:         htDefault(t, htScope),
		Vendor:         &htVendor{},
		RateLimit:      htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 0.001, Burst: 1}),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		xff  string
		want int
	}{{"203.0.113.1", 200}, {"203.0.113.1", 429}, {"203.0.113.2", 200}, {"203.0.113.1, 203.0.113.3", 200}, {"203.0.113.2", 429}} {
		if c := caStatus(behind, "10.0.0.1:443", "X-Forwarded-For", tt.xff); c != tt.want {
			t.Errorf("request %d via the proxy for %s: %d, want %d", i, tt.xff, c, tt.want)
		}
	}
}

// TestClientAddrTrustedProxies: forwarding headers count only when the
// peer is a trusted proxy, and then only the hops trusted proxies wrote:
// the rightmost address that is not a trusted proxy.
func TestClientAddrTrustedProxies(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::1/128"), netip.MustParsePrefix("::ffff:172.16.0.0/108")}
	var probs problems
	proxies = checkTrustedProxies(proxies, &probs)
	if probs.err() != nil {
		t.Fatal(probs.err())
	}
	tests := []struct {
		name    string
		remote  string
		headers []string
		want    string
	}{
		{"no proxy", "198.51.100.1:5000", nil, "198.51.100.1"},
		{"untrusted peer's header ignored", "198.51.100.1:5000", []string{"X-Forwarded-For", "203.0.113.9"}, "198.51.100.1"},
		{"trusted peer, one hop", "10.0.0.2:5000", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"client-written hops on the left are ignored", "10.0.0.2:5000", []string{"X-Forwarded-For", "1.1.1.1, 2.2.2.2, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies", "10.0.0.2:5000", []string{"X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.1.1.1"}, "203.0.113.9"},
		{"several header lines", "10.0.0.2:5000", []string{"X-Forwarded-For", "1.1.1.1", "X-Forwarded-For", "203.0.113.9, 10.1.1.1"}, "203.0.113.9"},
		{"hop with a port", "10.0.0.2:5000", []string{"X-Forwarded-For", "203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 hop", "10.0.0.2:5000", []string{"X-Forwarded-For", "[2001:db8:1:2::7]:4711"}, "2001:db8:1:2::7"},
		{"IPv6 trusted peer", "[2001:db8:ffff::1]:443", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"IPv4-mapped trusted peer", "[::ffff:172.16.0.5]:443", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"garbage hop stops at the proxy", "10.0.0.2:5000", []string{"X-Forwarded-For", "203.0.113.9, unknown"}, "10.0.0.2"},
		{"only trusted hops", "10.0.0.2:5000", []string{"X-Forwarded-For", "10.3.3.3"}, "10.3.3.3"},
		{"Forwarded", "10.0.0.2:5000", []string{"Forwarded", `for=1.1.1.1, for="[2001:db8:1:2::7]:4711";proto=https`}, "2001:db8:1:2::7"},
		{"Forwarded, obfuscated", "10.0.0.2:5000", []string{"Forwarded", `for=_hidden`}, "10.0.0.2"},
		{"X-Forwarded-For wins over Forwarded", "10.0.0.2:5000", []string{"Forwarded", "for=1.1.1.1", "X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"unparseable peer", "@", nil, "invalid IP"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		for i := 0; i+1 < len(tt.headers); i += 2 {
			r.Header.Add(tt.headers[i], tt.headers[i+1])
		}
		if got := clientAddr(r, proxies).String(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	// Keys: IPv6 clients by their /64 (a host has a whole /64 to rotate
	// through), never the subject "anonymous".
	h := &Handler{trustedProxies: proxies}
	for remote, want := range map[string]string{"192.0.2.7:1": "open:192.0.2.7", "[2001:db8:1:2::7]:1": "open:2001:db8:1:2::/64", "[2001:db8:1:2:ffff::9]:1": "open:2001:db8:1:2::/64", "@": "open:unknown"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if got := h.rateLimitKey(Identity{Subject: "anonymous", Method: MethodOpen}, r); got != want {
			t.Errorf("key of %s: %q, want %q", remote, got, want)
		}
	}
	if got := h.rateLimitKey(Identity{Subject: "alice", Method: "basic"}, httptest.NewRequest(http.MethodGet, "/", nil)); got != "basic:alice" {
		t.Errorf("key of an authenticated caller: %q", got)
	}
	_, err := NewHandler(Config{Authenticator: Open(), Scopes: htDefault(t, htScope), Vendor: &htVendor{}, TrustedProxies: []netip.Prefix{{}}})
	if fields := configFields(t, err); len(fields) != 1 || fields[0] != "Config.TrustedProxies[0]" {
		t.Errorf("invalid prefix: %v", err)
	}
}
