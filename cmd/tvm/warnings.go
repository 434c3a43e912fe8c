package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"

	"github.com/tvmgo/tvm"
)

// configWarnings returns what is valid but dangerous in cfg, served on
// addr (TVM_ADDR), one problem per setting, naming its key. They never
// quote a value of the configuration. `tvm check` prints them (and with
// --strict refuses the configuration); serve logs them (for the demo, only
// a non-loopback address).
func configWarnings(cfg *Config, addr string) []problem {
	var w []problem
	add := func(key, format string, args ...any) {
		w = append(w, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}
	if cfg.Auth.Method == "open" {
		for i, r := range cfg.Scopes {
			if cfg.demo {
				break // the demo's publish+subscribe scope is its point; on loopback it is the developer's
			}
			for j, p := range r.Permissions {
				switch p.Role {
				case tvm.PublishSubscribe, tvm.PublishOnly, tvm.ReadWrite, tvm.WriteOnly:
					add(fmt.Sprintf("scopes[%d].permissions[%d].role", i, j),
						"%s under open auth: anyone who can reach tvm may write (publish or store) without an identity; use subscribeonly or readonly, or authenticate callers", p.Role)
				}
			}
		}
		if len(cfg.CORS.AllowedOrigins) == 1 && cfg.CORS.AllowedOrigins[0] == "*" {
			add("cors.allowedOrigins", `"*" under open auth: every web page on the internet can get tokens through its visitors' browsers; list your origins`)
		}
		if !loopbackListen(addr) {
			what := "open auth"
			if cfg.demo {
				what = "the demo (open auth, no configuration)"
			}
			add("TVM_ADDR", "%s on a non-loopback address: anyone on the network gets tokens; listen on 127.0.0.1, or authenticate callers", what)
		}
	}
	if j := cfg.Auth.JWT; j != nil {
		issuers, key := []JWTConfig{*j}, func(int) string { return "auth.jwt" }
		if len(j.Issuers) > 0 {
			issuers, key = j.Issuers, func(i int) string { return fmt.Sprintf("auth.jwt.issuers[%d]", i) }
		}
		for i, is := range issuers {
			if is.AllowMissingAudience {
				add(key(i)+".allowMissingAudience", "true: tokens without an audience are accepted on requiredClaims alone; "+
					"make sure those claims name this application, or drop it so that every token must name its audience")
			}
		}
	}
	w = append(w, templateWarnings(cfg)...)
	for _, s := range []struct {
		key      string
		shared   *SharedRateLimitConfig
		fallback bool
	}{
		{"rateLimit.shared", cfg.RateLimit.shared(), cfg.RateLimit != nil && cfg.RateLimit.RequestsPerSecond != 0},
		{"vendLimit.shared", cfg.VendLimit.shared(), cfg.VendLimit != nil && cfg.VendLimit.PerSecond != 0},
	} {
		if s.shared != nil && !s.shared.FailClosed && !s.fallback {
			add(s.key+".failClosed", "false and no per-process fallback: while Momento Cache cannot be asked nothing is limited; set failClosed: true, or a per-process rate as the fallback")
		}
	}
	return w
}

// loopbackListen reports whether addr listens on loopback only (a
// loopback IP or localhost; an empty host is every interface).
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// onePlaceholder matches a template with exactly one placeholder.
var onePlaceholder = regexp.MustCompile(`^([^{}]*)\{([^{}]+)\}([^{}]*)$`)

// scopeField is one name of a permission of the configuration.
type scopeField struct {
	key   string // its YAML key, e.g. scopes[0].permissions[1].topic
	at    [2]int // rule and permission index
	name  string // cache, topic, topicPrefix, key or keyPrefix
	value string
	perm  tvm.Permission
}

// templateWarnings warns about a template that a caller's subject or claim
// can turn into a fixed name that another permission grants (a caller
// named "announcements" would get the topic "{sub}" = "announcements"), or,
// for a prefix, into a prefix covering it. Templates with one placeholder
// are checked; the library decides (Scope.Expand) which values can fill
// them.
func templateWarnings(cfg *Config) []problem {
	var fixed, templated []scopeField
	for i, r := range cfg.Scopes {
		for j, p := range r.Permissions {
			for _, f := range []struct{ name, v string }{
				{"cache", p.Cache}, {"topic", p.Topic}, {"topicPrefix", p.TopicPrefix}, {"key", p.Key}, {"keyPrefix", p.KeyPrefix},
			} {
				if f.v == "" || f.v == tvm.All {
					continue
				}
				sf := scopeField{key: fmt.Sprintf("scopes[%d].permissions[%d].%s", i, j, f.name), at: [2]int{i, j}, name: f.name, value: f.v, perm: p}
				if strings.ContainsRune(f.v, '{') {
					templated = append(templated, sf)
				} else {
					fixed = append(fixed, sf)
				}
			}
		}
	}
	var w []problem
	for _, t := range templated {
		m := onePlaceholder.FindStringSubmatch(t.value)
		if m == nil {
			continue
		}
		target := strings.TrimSuffix(t.name, "Prefix") // the kind of name it can reach
		for _, f := range fixed {
			if f.name != target || f.at == t.at || (target != "cache" && !sameCache(t.perm, f.perm)) {
				continue
			}
			if canReach(t, m[1], m[2], m[3], f.value) {
				w = append(w, problem{key: t.key, msg: fmt.Sprintf("a caller whose {%s} is chosen right gets the %s of %s (a fixed name granted there): "+
					"keep templated names apart from fixed ones, e.g. with a prefix and a delimiter (\"user-{sub}\" against \"room-1\")", m[2], target, f.key)})
				break
			}
		}
	}
	return w
}

// sameCache reports whether two permissions may name the same cache.
func sameCache(a, b tvm.Permission) bool {
	return a.Cache == b.Cache || a.Cache == tvm.All || b.Cache == tvm.All ||
		strings.ContainsRune(a.Cache, '{') || strings.ContainsRune(b.Cache, '{')
}

// canReach reports whether the template pre{claim}post of t, filled with
// a value the library accepts, equals name (or, for a prefix, starts it).
func canReach(t scopeField, pre, claim, post, name string) bool {
	rest, ok := strings.CutPrefix(name, pre)
	if !ok {
		return false
	}
	prefix := strings.HasSuffix(t.name, "Prefix")
	for i := 1; i <= len(rest); i++ {
		if !strings.HasPrefix(rest[i:], post) || (!prefix && len(rest)-i != len(post)) {
			continue
		}
		p := tvm.Permission{Role: tvm.ReadOnly, Cache: "c"}
		switch t.name {
		case "cache":
			p.Cache = t.value
		case "topic":
			p = tvm.Permission{Role: tvm.SubscribeOnly, Cache: "c", Topic: t.value}
		case "topicPrefix":
			p = tvm.Permission{Role: tvm.SubscribeOnly, Cache: "c", TopicPrefix: t.value}
		case "key":
			p.Key = t.value
		case "keyPrefix":
			p.KeyPrefix = t.value
		}
		value := rest[:i]
		if _, err := (tvm.Scope{p}).Expand(tvm.Identity{Subject: value, Claims: map[string]any{claim: value}}); err == nil {
			return true
		}
	}
	return false
}

// reportWarnings prints the warnings of cfg on w, one line each
// ("warning: key: message"). With strict they are refused: it also prints a
// summary line and returns exitConfig; otherwise exitOK.
func reportWarnings(w io.Writer, path string, warnings []problem, strict bool) int {
	for _, p := range warnings {
		fmt.Fprintln(w, "warning: "+p.String())
	}
	if !strict || len(warnings) == 0 {
		return exitOK
	}
	n := "1 warning"
	if len(warnings) != 1 {
		n = fmt.Sprintf("%d warnings", len(warnings))
	}
	fmt.Fprintf(w, "tvm: %s in %s, refused by --strict\n", n, path)
	return exitConfig
}
