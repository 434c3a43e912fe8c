package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"

	"github.com/tvmgo/tvm"
)

// hostName matches an entry of allowedHosts: a DNS name, without scheme,
// port, path or wildcard (IP addresses are always allowed).
var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// edgeProblems checks the keys about the network in front of tvm:
// allowedHosts and trustedProxies. Problems never quote the value.
func edgeProblems(c *Config) []problem {
	var probs []problem
	for i, h := range c.AllowedHosts {
		if h == "" || len(h) > 253 || !hostName.MatchString(h) {
			probs = append(probs, problem{key: fmt.Sprintf("allowedHosts[%d]", i), msg: "must be a host name such as tvm.example.com (no scheme, port, path or wildcard)"})
		}
	}
	for i, p := range c.TrustedProxies {
		if _, ok := parseProxy(p); !ok {
			probs = append(probs, problem{key: fmt.Sprintf("trustedProxies[%d]", i), msg: "must be an IP address or a CIDR prefix such as 10.0.0.0/8"})
		}
	}
	return probs
}

// parseProxy reads an entry of trustedProxies: a prefix, or an address
// (a prefix of its full length).
func parseProxy(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// trustedProxies returns tvm.Config.TrustedProxies for cfg (validated).
func trustedProxies(cfg *Config) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range cfg.TrustedProxies {
		if p, ok := parseProxy(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// hostCheck protects the token path against DNS rebinding: a web page on
// a name its attacker controls can point that name at 127.0.0.1 (or
// another private address) and read the answers of a server there as its
// own, same-origin, with no CORS involved. The browser then sends the
// attacker's name as Host. So with open authentication (the demo
// included), where a token costs nothing but a request, and whenever
// allowedHosts is set, the token path answers only Host values that are an
// IP address (a page cannot rebind those: its origin is its own name),
// localhost, the host name of the listen address, or an entry of
// allowedHosts; ports are not compared (containers and proxies publish
// other ports). Other requests get 403. listenAddr is TVM_ADDR.
func hostCheck(cfg *Config, listenAddr string, next http.Handler, log *slog.Logger) http.Handler {
	if cfg.Auth.Method != "open" && len(cfg.AllowedHosts) == 0 {
		return next
	}
	allowed := map[string]bool{"localhost": true}
	if h, _, err := net.SplitHostPort(listenAddr); err == nil && h != "" {
		allowed[canonicalHost(h)] = true
	}
	for _, h := range cfg.AllowedHosts {
		allowed[canonicalHost(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := canonicalHost(r.Host)
		if _, err := netip.ParseAddr(host); err == nil || allowed[host] {
			next.ServeHTTP(w, r)
			return
		}
		log.LogAttrs(r.Context(), slog.LevelWarn, "tvm: refused a token request for an unknown Host (DNS rebinding?); list the names clients use in allowedHosts",
			slog.String("host", fmt.Sprintf("%.64q", r.Host)))
		writeJSON(w, http.StatusForbidden, map[string]string{"error": tvm.CodeForbidden,
			"message": "this server does not answer for this Host (see allowedHosts)"})
	})
}

// canonicalHost returns the host name of a Host header value or address:
// without port, brackets or a trailing dot, in lower case.
func canonicalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if i := strings.IndexByte(h, '%'); i >= 0 { // an IPv6 zone
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
