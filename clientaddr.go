package tvm

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// rateLimitKey is the key of a request for the rate limiter: the
// authentication method and the subject ("basic:alice"), so that two
// identities never share a limit; for anonymous callers (MethodOpen), who
// all share the subject "anonymous", the client address instead
// ("open:192.0.2.7", an IPv6 client by its /64 network: "open:2001:db8::/64"),
// so that one client cannot exhaust the limit of everyone.
func (h *Handler) rateLimitKey(id Identity, r *http.Request) string {
	if id.Method != MethodOpen {
		return id.Method + ":" + id.Subject
	}
	a := clientAddr(r, h.trustedProxies)
	var buf [64]byte // one allocation, the key itself
	b := append(buf[:0], "open:"...)
	switch {
	case !a.IsValid():
		return "open:unknown"
	case a.Is6():
		p, _ := a.Prefix(64)
		b = p.AppendTo(b)
	default:
		b = a.AppendTo(b)
	}
	return string(b)
}

// checkTrustedProxies records a problem for every invalid prefix and
// returns the prefixes masked.
func checkTrustedProxies(ps []netip.Prefix, probs *problems) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for i, p := range ps {
		if !p.IsValid() {
			probs.add("Config.TrustedProxies["+strconv.Itoa(i)+"]", "not a valid address prefix")
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96) // as clientAddr sees the addresses
		}
		out = append(out, p.Masked())
	}
	return out
}

// trusted reports whether a is one of the trusted proxies.
func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the address of the client of r: the peer's address,
// unless the peer is a trusted proxy; then, walking the forwarding chain
// from the right (the hops the trusted proxies appended), the first address
// that is not a trusted proxy. The chain is X-Forwarded-For when present,
// else the for= parameters of Forwarded (RFC 7239). An element that does
// not parse ends the walk at the last trusted hop, so a client can never
// choose its address by writing these headers: every address the walk
// reaches was written by a trusted proxy.
func clientAddr(r *http.Request, proxies []netip.Prefix) netip.Addr {
	client := parseHop(r.RemoteAddr)
	if !client.IsValid() || len(proxies) == 0 || !trusted(client, proxies) {
		return client
	}
	values, forwarded := r.Header.Values("X-Forwarded-For"), false
	if len(values) == 0 {
		values, forwarded = r.Header.Values("Forwarded"), true
	}
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var elem string
			if c := strings.LastIndexByte(rest, ','); c >= 0 {
				rest, elem = rest[:c], rest[c+1:]
			} else {
				rest, elem = "", rest
			}
			if forwarded {
				elem = forwardedFor(elem)
			}
			elem = strings.TrimSpace(elem)
			if elem == "" && !forwarded {
				continue // "a, , b": an empty element says nothing
			}
			a := parseHop(elem)
			if !a.IsValid() {
				return client
			}
			client = a
			if !trusted(a, proxies) {
				return client
			}
		}
	}
	return client
}

// forwardedFor returns the value of the for= parameter of one element of
// a Forwarded header, unquoted ("" when absent).
func forwardedFor(elem string) string {
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "for") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// parseHop parses an address as forwarding headers and RemoteAddr write
// it: "192.0.2.7", "192.0.2.7:4711", "2001:db8::1", "[2001:db8::1]:4711" or
// "[2001:db8::1]". IPv4-mapped IPv6 addresses become IPv4. Anything else
// ("unknown", an obfuscated identifier, a name) is the zero Addr.
func parseHop(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
