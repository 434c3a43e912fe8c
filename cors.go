package tvm

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSOptions configures the handler's built-in CORS support. CORS is off
// when AllowedOrigins is empty: no Access-Control-* header is sent and
// OPTIONS is answered 405 like any other method.
type CORSOptions struct {
	// AllowedOrigins lists the origins allowed to call the handler from a
	// browser, matched exactly (after lowercasing the configuration, as
	// browsers send origins in lower case), e.g.
	// "https://app.example.com" or "http://localhost:3000". Each must be a
	// bare scheme://host[:port] origin without path, query or trailing
	// slash. The single entry "*" allows every origin; it cannot be combined
	// with other origins or with AllowCredentials.
	AllowedOrigins []string
	// AllowedHeaders lists the request headers a browser may send
	// (case-insensitive). Default: "Authorization". Add "username" and
	// "password" for Momento's reference clients in shared-credentials mode.
	AllowedHeaders []string
	// ExposedHeaders lists response headers scripts may read, e.g.
	// "Retry-After". Default none.
	ExposedHeaders []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true, needed
	// when the browser authenticates with cookies (ContextIdentity behind
	// a session cookie). Not needed for an Authorization header set by
	// script.
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight answer. Default 10
	// minutes; negative disables caching; at most 24 hours.
	MaxAge time.Duration
}

// cors is a validated CORSOptions.
type cors struct {
	enabled     bool
	any         bool
	origins     map[string]bool
	headers     []string // lowercase, for matching
	allowHdrs   string   // canonical, comma separated
	exposeHdrs  string
	credentials bool
	maxAge      string
}

// newCORS checks o, recording its problems, and returns the validated
// options.
func newCORS(o CORSOptions, probs *problems) *cors {
	c := &cors{}
	if len(o.AllowedOrigins) == 0 {
		if len(o.AllowedHeaders) > 0 || len(o.ExposedHeaders) > 0 || o.AllowCredentials || o.MaxAge != 0 {
			probs.add("Config.CORS.AllowedOrigins", "required when other CORS options are set")
		}
		return c
	}
	c.enabled = true
	c.origins = make(map[string]bool, len(o.AllowedOrigins))
	for i, origin := range o.AllowedOrigins {
		field := fmt.Sprintf("Config.CORS.AllowedOrigins[%d]", i)
		if origin == "*" {
			if len(o.AllowedOrigins) != 1 {
				probs.add(field, `"*" cannot be combined with other origins`)
			}
			if o.AllowCredentials {
				probs.add(field, `"*" cannot be used with AllowCredentials`)
			}
			c.any = true
			continue
		}
		norm, err := normalizeOrigin(origin)
		switch {
		case err != nil:
			probs.add(field, err.Error())
		case c.origins[norm]:
			probs.add(field, "duplicate origin")
		}
		c.origins[norm] = true
	}
	headers := o.AllowedHeaders
	if len(headers) == 0 {
		headers = []string{"Authorization"}
	}
	canon := make([]string, 0, len(headers))
	for i, h := range headers {
		if !validHeaderName(h) {
			probs.add(fmt.Sprintf("Config.CORS.AllowedHeaders[%d]", i), "not a valid header name")
		}
		c.headers = append(c.headers, strings.ToLower(h))
		canon = append(canon, http.CanonicalHeaderKey(h))
	}
	c.allowHdrs = strings.Join(canon, ", ")
	exposed := make([]string, 0, len(o.ExposedHeaders))
	for i, h := range o.ExposedHeaders {
		if !validHeaderName(h) {
			probs.add(fmt.Sprintf("Config.CORS.ExposedHeaders[%d]", i), "not a valid header name")
		}
		exposed = append(exposed, http.CanonicalHeaderKey(h))
	}
	c.exposeHdrs = strings.Join(exposed, ", ")
	c.credentials = o.AllowCredentials
	switch {
	case o.MaxAge == 0:
		c.maxAge = "600"
	case o.MaxAge < 0:
		c.maxAge = "0"
	case o.MaxAge > 24*time.Hour:
		probs.add("Config.CORS.MaxAge", "at most 24h")
	default:
		c.maxAge = strconv.FormatInt(int64(o.MaxAge/time.Second), 10)
	}
	return c
}

// normalizeOrigin checks that s is a bare origin and lowercases it.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.HasSuffix(s, "/") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("%s is not an origin of the form scheme://host[:port]", summaryValue(s))
	}
	return strings.ToLower(s), nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// allowed reports whether the request's Origin (exactly one) is allowed,
// returning it.
func (c *cors) allowed(r *http.Request) (string, bool) {
	origins := r.Header.Values("Origin")
	if len(origins) != 1 {
		return "", false
	}
	if c.any {
		return origins[0], true
	}
	return origins[0], c.origins[origins[0]]
}

// setActual sets the CORS headers of a non-preflight response. Vary: Origin
// is set by the caller on every response.
func (c *cors) setActual(w http.ResponseWriter, r *http.Request) {
	if !c.enabled {
		return
	}
	origin, ok := c.allowed(r)
	if !ok {
		return
	}
	h := w.Header()
	c.setAllowOrigin(h, origin)
	if c.exposeHdrs != "" {
		h.Set("Access-Control-Expose-Headers", c.exposeHdrs)
	}
}

// setAllowOrigin sets the headers that let an allowed origin read the
// answer, on preflights and actual requests alike.
func (c *cors) setAllowOrigin(h http.Header, origin string) {
	if c.any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight checks a preflight request. It returns "" when the preflight is
// allowed (and sets the headers), or the reason it is refused.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request) string {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	origin, ok := c.allowed(r)
	if !ok {
		return "origin not allowed"
	}
	if m := r.Header.Get("Access-Control-Request-Method"); m != http.MethodGet {
		return "method not allowed"
	}
	for _, line := range r.Header.Values("Access-Control-Request-Headers") {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !slices.Contains(c.headers, name) {
				return "header not allowed"
			}
		}
	}
	c.setAllowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", http.MethodGet)
	h.Set("Access-Control-Allow-Headers", c.allowHdrs)
	h.Set("Access-Control-Max-Age", c.maxAge)
	return ""
}
