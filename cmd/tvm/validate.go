package main

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// queryParamName matches a sensible query parameter name for tokenId.
var queryParamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// authMethods are the values of auth.method.
var authMethods = []string{"open", "basic", "jwt", "cognito", "apigateway"}

// validate checks the keys the binary owns: the path it serves, its
// shutdown, which authenticator a file selects and which keys go with it,
// the token id policy, how the YAML maps onto the library (a group rule
// under open auth, the emulator's keys) and the log. Every other value is
// checked by the library (checkBuild). It returns every problem.
func (c *Config) validate() []problem {
	var probs []problem
	add := func(key, format string, args ...any) {
		probs = append(probs, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}

	if !strings.HasPrefix(c.Path, "/") {
		add("path", "must start with /")
	} else if u, err := url.Parse(c.Path); err != nil || u.Path != c.Path || u.RawQuery != "" || strings.ContainsAny(c.Path, " {}") ||
		c.Path == "/" || strings.HasSuffix(c.Path, "/") || path.Clean(c.Path) != c.Path {
		add("path", "must be a plain URL path such as %s", defaultPath)
	} else if reservedPath(c.Path) {
		add("path", "reserved for the operations endpoints (/healthz, /readyz, /metrics, /openapi.json, /admin/...)")
	}
	if c.ShutdownTimeout < 0 || c.ShutdownTimeout > maxShutdownTimeout {
		add("shutdownTimeout", "must be between 1ms and %s, got %s", maxShutdownTimeout, c.ShutdownTimeout)
	}

	method := c.Auth.Method
	switch {
	case method == "":
		add("auth.method", "required (%s)", strings.Join(authMethods, ", "))
	case !slices.Contains(authMethods, method):
		add("auth.method", "unknown method (want %s)", strings.Join(authMethods, ", "))
	}
	onlyFor := func(key, m string, present bool) {
		if present && method != m && method != "" {
			add(key, "only valid with auth.method: %s (auth.method is %s)", m, method)
		}
	}
	onlyFor("auth.users", "basic", c.Auth.Users != nil)
	onlyFor("auth.allowCredentialHeaders", "basic", c.Auth.AllowCredentialHeaders)
	onlyFor("auth.maxConcurrentChecks", "basic", c.Auth.MaxConcurrentChecks != 0)
	onlyFor("auth.jwt", "jwt", c.Auth.JWT != nil)
	onlyFor("auth.cognito", "cognito", c.Auth.Cognito != nil)
	onlyFor("auth.apigateway", "apigateway", c.Auth.APIGateway != nil)
	switch {
	case method == "jwt" && c.Auth.JWT == nil:
		add("auth.jwt", "required with auth.method: jwt")
	case method == "cognito" && c.Auth.Cognito == nil:
		add("auth.cognito", "required with auth.method: cognito")
	case method == "apigateway" && c.Momento.Local:
		add("momento.local", "cannot be used with auth.method: apigateway (AWS Lambda)")
	}

	switch {
	case c.TokenID == "subject":
	case strings.HasPrefix(c.TokenID, "query:"):
		name := strings.TrimPrefix(c.TokenID, "query:")
		if !queryParamName.MatchString(name) {
			add("tokenId", "the query parameter name must be 1-64 letters, digits, - or _")
		}
		if method != "open" && method != "" {
			add("tokenId", "query:<name> lets callers choose their token id; it is allowed only with auth.method: open")
		}
	default:
		add("tokenId", "must be subject or query:<name>")
	}

	if method == "open" {
		for i, r := range c.Scopes {
			if r.Group != "" {
				add(fmt.Sprintf("scopes[%d].group", i), "auth.method: open has no groups; use default: true")
			}
		}
	}
	probs = append(probs, edgeProblems(c)...)
	if !c.Momento.Local && c.Momento.Caches != nil {
		add("momento.caches", "only valid with momento.local: true")
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		add("log.format", "must be text or json")
	}
	return probs
}

func reservedPath(p string) bool {
	for _, r := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/admin/"} {
		if p == r || strings.HasPrefix(p, r+"/") || (strings.HasSuffix(r, "/") && strings.HasPrefix(p, r)) {
			return true
		}
	}
	return false
}
