package tvm

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// counterCache is a cache holding the counters of a MomentoRateLimiter of
// the handler, and the Config field of that limiter.
type counterCache struct {
	name  string
	field string // "RateLimit" or "VendLimit", the Config field
}

// counterCaches returns the caches of the MomentoRateLimiters among the
// handler's limiters (and their fallbacks), each once.
func counterCaches(cfg Config) []counterCache {
	var out []counterCache
	var visit func(l RateLimiter, field string)
	visit = func(l RateLimiter, field string) {
		m, ok := l.(*MomentoRateLimiter)
		if !ok || m == nil {
			return
		}
		seen := false
		for _, c := range out {
			seen = seen || c.name == m.cache
		}
		if !seen {
			out = append(out, counterCache{name: m.cache, field: field})
		}
		if m.fallback != nil {
			visit(m.fallback, field)
		}
	}
	visit(cfg.RateLimit, "RateLimit")
	visit(cfg.VendLimit, "VendLimit")
	return out
}

// checkCounterScopes records a problem for every permission of the
// resolver's rules that could write a counter cache, when the resolver's
// scopes are known (GroupScopes, and Narrowing around a resolver whose
// scopes are known: it only narrows). Other resolvers are checked per
// request (counterWrite).
func checkCounterScopes(res ScopeResolver, caches []counterCache, probs *problems) {
	if len(caches) == 0 {
		return
	}
	for {
		n, ok := res.(*Narrowing)
		if !ok || n == nil {
			break
		}
		res = n.inner
	}
	g, ok := res.(*GroupScopes)
	if !ok || g == nil {
		return
	}
	for i, rule := range g.rules {
		for j, p := range rule.Scope {
			if problem := counterWrite(p, caches); problem != "" {
				probs.add("Config.Scopes.Rules["+strconv.Itoa(i)+"].Scope["+strconv.Itoa(j)+"].cache", problem)
			}
		}
	}
}

// counterWrite returns why p could write one of the counter caches, or "".
// A writing role (ReadWrite, WriteOnly) on all caches, on a counter cache,
// or on a cache template that can expand to a counter cache's name could
// write, whatever its key or key prefix: a token holding it could reset its
// own counters or exhaust another caller's.
func counterWrite(p Permission, caches []counterCache) string {
	if p.Role != ReadWrite && p.Role != WriteOnly {
		return ""
	}
	for _, c := range caches {
		var what string
		switch {
		case p.Cache == All:
			what = "every cache (\"*\"), including"
		case p.Cache == c.name:
			what = "the cache"
		case strings.ContainsRune(p.Cache, '{') && templateCanBe(p.Cache, c.name):
			what = "a cache template that can name"
		default:
			continue
		}
		return fmt.Sprintf("%s may write %s %s, which holds the shared counters of %s: a token could reset or inflate them "+
			"(keep the counters in a cache no scope may write)", p.Role, what, summaryValue(c.name), c.field)
	}
	return ""
}

// refuseCounterWrite returns the error of a resolved scope that could
// write a counter cache (never vended), or nil.
func (h *Handler) refuseCounterWrite(s Scope) error {
	if len(h.counterCaches) == 0 {
		return nil
	}
	for i, p := range s {
		if problem := counterWrite(p, h.counterCaches); problem != "" {
			return &httpError{http.StatusInternalServerError, CodeInvalidScope, "the resolved scope is invalid",
				&ScopeError{Index: i, Field: "cache", Problem: problem}}
		}
	}
	return nil
}

// templateCanBe reports whether the template tmpl, filled with any values
// (see the template rules), can expand to name. A template that does not
// parse can be anything.
func templateCanBe(tmpl, name string) bool {
	parts, problem := parseTemplate(tmpl)
	return problem != "" || matchTemplate(parts, name)
}

// matchTemplate reports whether parts can expand to s: literals match
// exactly, each placeholder takes one or more value characters.
func matchTemplate(parts []templatePart, s string) bool {
	if len(parts) == 0 {
		return s == ""
	}
	if parts[0].placeholder == "" {
		rest, ok := strings.CutPrefix(s, parts[0].literal)
		return ok && matchTemplate(parts[1:], rest)
	}
	for i, r := range s {
		if !isValueRune(r) || r == utf8.RuneError {
			return false
		}
		if matchTemplate(parts[1:], s[i+utf8.RuneLen(r):]) {
			return true
		}
	}
	return false
}
