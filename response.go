package tvm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error codes: the "error" field of the JSON body of error responses, and
// Result.Code. They are stable; clients may switch on them.
const (
	CodeBadRequest          = "bad_request"          // 400
	CodeUnauthorized        = "unauthorized"         // 401
	CodeForbidden           = "forbidden"            // 403
	CodeMethodNotAllowed    = "method_not_allowed"   // 405
	CodeRateLimited         = "rate_limited"         // 429
	CodeCanceled            = "canceled"             // 499: the client went away before the answer
	CodeInternal            = "internal"             // 500
	CodeInvalidScope        = "invalid_scope"        // 500: the resolved scope is empty or malformed
	CodeUpstreamRejected    = "upstream_rejected"    // 502
	CodeUpstreamUnavailable = "upstream_unavailable" // 503
	CodeUpstreamThrottled   = "upstream_throttled"   // 503: Momento's auth quota or the vend ceiling
	CodeUpstreamTimeout     = "upstream_timeout"     // 504
	CodeOverloaded          = "overloaded"           // 503: too many password checks at once (ErrOverloaded)
)

// statusClientClosedRequest is the status of a request whose client went
// away (nginx's 499): nobody reads it, but logs and metrics tell it apart
// from an outage.
const statusClientClosedRequest = 499

// Result describes the outcome of one request, for Config.OnResult.
type Result struct {
	// Status is the HTTP status written (499 when the client went away).
	Status int
	// Code is "ok" on success, or the error code of the response.
	Code string
	// Identity is the verified caller; the zero Identity when
	// authentication failed.
	Identity Identity
	// Grant is what was (or would have been) vended: the resolved scope,
	// rule, effective TTL and token id, as far as the request got.
	Grant Grant
	// Source says where the token came from: "vended" (an upstream call
	// for this request), "reused" (a kept token, see ReuseOptions) or
	// "coalesced" (the result of a concurrent identical request's upstream
	// call); empty when the request got no token that far.
	Source string
	// ExpiresAt is the expiry of the token, on success.
	ExpiresAt time.Time
	// Latency is the time spent in the handler.
	Latency time.Duration
	// Err is the cause of a failure, nil on success. Its text contains no
	// secrets from this module's components.
	Err error
}

// ErrorResponse is an error answer of the handler, passed to
// Config.ErrorHandler.
type ErrorResponse struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Code is one of the Code* constants.
	Code string `json:"error"`
	// Message is a fixed, safe description for the client.
	Message string `json:"message"`
	// Err is the cause, for logs; it is never sent to the client.
	Err error `json:"-"`
}

// httpError is a failure with the response it deserves, for the cases the
// sentinels alone do not describe.
type httpError struct {
	status        int
	code, message string
	err           error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// authError makes an authenticator's error a 401 unless it wraps one of
// the sentinels, which then decides (an authenticator that cannot decide,
// e.g. its identity provider is unreachable, returns
// ErrUpstreamUnavailable: 503; a closed one ErrClosed: 500).
func authError(err error) error {
	if errors.Is(err, ErrUpstreamUnavailable) {
		// The caller's identity provider, not Momento.
		return &httpError{http.StatusServiceUnavailable, CodeUpstreamUnavailable, "the identity provider is unavailable; retry later", err}
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return err
		}
	}
	return &httpError{http.StatusUnauthorized, CodeUnauthorized, "invalid credentials", err}
}

// classify maps an error to its response: the httpError it carries, or by
// the sentinel it wraps; errors wrapping none are internal errors. A
// request whose client went away is canceled, whatever failed.
func classify(r *http.Request, err error) *httpError {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return &httpError{statusClientClosedRequest, CodeCanceled, "the request was canceled", err}
	}
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	switch {
	case errors.Is(err, ErrNoCredentials):
		return &httpError{http.StatusUnauthorized, CodeUnauthorized, "credentials required", err}
	case errors.Is(err, ErrInvalidCredentials):
		return &httpError{http.StatusUnauthorized, CodeUnauthorized, "invalid credentials", err}
	case errors.Is(err, ErrRateLimited):
		return &httpError{http.StatusTooManyRequests, CodeRateLimited, "too many requests; retry later", err}
	case errors.Is(err, ErrBadRequest):
		return &httpError{http.StatusBadRequest, CodeBadRequest, "malformed request", err}
	case errors.Is(err, ErrForbidden):
		return &httpError{http.StatusForbidden, CodeForbidden, "no scope is granted for this request", err}
	case errors.Is(err, ErrInvalidScope):
		return &httpError{http.StatusInternalServerError, CodeInvalidScope, "the resolved scope is invalid", err}
	case errors.Is(err, ErrClosed), errors.Is(err, ErrInvalidConfig):
		return &httpError{http.StatusInternalServerError, CodeInternal, "internal error", err}
	case errors.Is(err, ErrOverloaded):
		return &httpError{http.StatusServiceUnavailable, CodeOverloaded, "too many logins at once; retry later", err}
	case errors.Is(err, ErrUpstreamThrottled):
		return &httpError{http.StatusServiceUnavailable, CodeUpstreamThrottled, "too many tokens are being vended; retry later", err}
	case errors.Is(err, ErrUpstreamTimeout), errors.Is(err, context.DeadlineExceeded):
		return &httpError{http.StatusGatewayTimeout, CodeUpstreamTimeout, "Momento did not answer in time; retry later", err}
	case errors.Is(err, ErrUpstreamUnavailable), errors.Is(err, context.Canceled):
		return &httpError{http.StatusServiceUnavailable, CodeUpstreamUnavailable, "Momento is unavailable; retry later", err}
	case errors.Is(err, ErrUpstreamRejected):
		return &httpError{http.StatusBadGateway, CodeUpstreamRejected, "Momento refused to vend a token", err}
	}
	return &httpError{http.StatusInternalServerError, CodeInternal, "internal error", err}
}

// fail answers err: it classifies it, sets the status-specific headers,
// writes the error response, and returns res with the outcome.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, res Result, err error) Result {
	e := classify(r, err)
	hdr := w.Header()
	switch e.status {
	case http.StatusUnauthorized:
		challenge := h.challenge
		if h.bearer && errors.Is(e.err, ErrInvalidCredentials) {
			// RFC 6750 §3.1: a presented token that failed gets an error.
			if strings.EqualFold(challenge, "Bearer") {
				challenge += ` error="invalid_token"`
			} else {
				challenge += `, error="invalid_token"`
			}
		}
		hdr.Set("WWW-Authenticate", challenge)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		ra := h.retryAfter
		var rae interface{ RetryAfter() time.Duration }
		if errors.As(e.err, &rae) && rae.RetryAfter() > 0 {
			ra = rae.RetryAfter()
		}
		hdr.Set("Retry-After", strconv.FormatInt(int64((ra+time.Second-1)/time.Second), 10))
	}
	res.Status, res.Code, res.Err = e.status, e.code, e.err
	h.errorHandler(w, r, &ErrorResponse{Status: e.status, Code: e.code, Message: e.message, Err: e.err})
	return res
}

// writeErrorJSON writes e as the standard JSON error body
// {"error": code, "message": text} with status e.Status.
func writeErrorJSON(w http.ResponseWriter, _ *http.Request, e *ErrorResponse) {
	body, _ := json.Marshal(e) // two strings: cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// fixedHeaderValues are the values of the headers every answer carries
// (and the success's Content-Type); setFixedHeaders and writeToken share
// their backing array between requests, read-only.
var fixedHeaderValues = [...]string{"no-store", "no-cache", "nosniff", "Origin", "application/json"}

// setFixedHeaders sets the headers of every answer: no caching, no
// sniffing, Vary: Origin. The canonical keys are assigned directly and the
// value slices are capped, so that appending to one copies it instead of
// writing into the shared array.
func setFixedHeaders(hdr http.Header) {
	v := &fixedHeaderValues
	hdr["Cache-Control"] = v[0:1:1]
	hdr["Pragma"] = v[1:2:2]
	hdr["X-Content-Type-Options"] = v[2:3:3]
	if vary := hdr["Vary"]; len(vary) > 0 {
		hdr["Vary"] = append(vary, "Origin")
	} else {
		hdr["Vary"] = v[3:4:4]
	}
}

// writeToken writes the success answer, the shape of Momento's reference
// token vending machine: {"authToken":"...","expiresAt":N}.
func writeToken(w http.ResponseWriter, tok Token) {
	body := appendTokenResponse(make([]byte, 0, len(tok.AuthToken)+64), tok)
	hdr := w.Header()
	hdr["Content-Type"] = fixedHeaderValues[4:5:5]
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// appendTokenResponse appends the success body and a newline: what
// encoding/json produces, without reflection.
func appendTokenResponse(b []byte, tok Token) []byte {
	b = append(b, `{"authToken":`...)
	b = appendJSONString(b, tok.AuthToken)
	b = append(b, `,"expiresAt":`...)
	b = strconv.AppendInt(b, tok.ExpiresAt.Unix(), 10)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string, escaping like encoding/json
// (control characters, quotes, backslashes, <, >, &, U+2028, U+2029 and
// invalid UTF-8, which becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// logResult writes the one log line of a request. It never logs a token,
// an API key, a password or a JWT: only the verified subject, the
// authentication method, the rule, a scope summary, the token id, the
// outcome and the latency. Server errors log at error level, a request
// whose client went away at info.
func (h *Handler) logResult(r *http.Request, res *Result) {
	level := slog.LevelInfo
	if res.Status >= 500 {
		level = slog.LevelError
	}
	ctx := r.Context()
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.Int("status", res.Status),
		slog.String("outcome", res.Code),
		slog.Duration("latency", res.Latency),
	)
	if r.Method != http.MethodGet {
		attrs = append(attrs, slog.String("httpMethod", r.Method))
	}
	if res.Identity.Method != "" {
		attrs = append(attrs, slog.String("auth", res.Identity.Method), slog.String("subject", res.Identity.Subject))
	}
	if res.Grant.Rule != "" {
		attrs = append(attrs, slog.String("rule", res.Grant.Rule))
	}
	if len(res.Grant.Scope) > 0 {
		attrs = append(attrs, slog.String("scope", res.Grant.Scope.String()))
	}
	if res.Grant.TokenID != "" {
		attrs = append(attrs, slog.String("tokenId", res.Grant.TokenID))
	}
	if res.Status == http.StatusOK {
		attrs = append(attrs, slog.Duration("ttl", res.Grant.TTL))
	}
	if res.Source != "" {
		attrs = append(attrs, slog.String("source", res.Source))
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("error", res.Err.Error()))
	}
	h.log.LogAttrs(ctx, level, "tvm token request", attrs...)
}
