package tvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"
)

// Defaults and limits of the handler.
const (
	// DefaultTTL is the lifetime of vended tokens when neither Config.TTL
	// nor the resolver's Grant sets one.
	DefaultTTL = 15 * time.Minute
	// MinTokenTTL is the shortest token the handler vends (Momento counts
	// in whole seconds).
	MinTokenTTL = time.Second
	// DefaultVendTimeout bounds the call to the Vendor.
	DefaultVendTimeout = 5 * time.Second
	// DefaultMaxHeaderBytes bounds the size of the request's header fields
	// and URL; larger requests get a 400 before authentication.
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultRetryAfter is the Retry-After of 429 and 503 responses.
	DefaultRetryAfter = time.Second
)

// Error codes: the "error" field of the JSON body of error responses. They
// are stable; clients may switch on them.
const (
	CodeBadRequest          = "bad_request"          // 400
	CodeUnauthorized        = "unauthorized"         // 401
	CodeForbidden           = "forbidden"            // 403
	CodeMethodNotAllowed    = "method_not_allowed"   // 405
	CodeRateLimited         = "rate_limited"         // 429
	CodeInternal            = "internal"             // 500
	CodeInvalidScope        = "invalid_scope"        // 500: the resolved scope is empty or malformed
	CodeUpstreamRejected    = "upstream_rejected"    // 502
	CodeUpstreamUnavailable = "upstream_unavailable" // 503
	CodeUpstreamTimeout     = "upstream_timeout"     // 504
)

// Config configures a Handler. Authenticator, Scopes and Vendor are
// required; everything else has a safe default.
type Config struct {
	// Authenticator verifies the caller (Open, Basic, JWT, Cognito,
	// ContextIdentity, or your own). Required: there is no implicit open
	// mode.
	Authenticator Authenticator
	// Scopes decides, from the verified identity only, what the token may
	// do (StaticScope, GroupScopes, AllowNarrowing, or your own). Required.
	Scopes ScopeResolver
	// Vendor vends the token (MomentoVendor, or your own). Required.
	Vendor Vendor
	// TTL is the lifetime of vended tokens when the Grant does not set one.
	// Default DefaultTTL (15 minutes); at least MinTokenTTL and at most
	// MaxTokenTTL (1 hour, Momento's limit); truncated to whole seconds.
	// A token never outlives the caller's credential (Identity.ExpiresAt).
	TTL time.Duration
	// MinTTL is the shortest token worth vending. When the caller's
	// credential expires sooner the handler answers 401, so the client
	// refreshes its credential first. Default MinTokenTTL (1 second).
	MinTTL time.Duration
	// VendTimeout bounds the Vendor call (together with the request's
	// context). Default DefaultVendTimeout (5 seconds).
	VendTimeout time.Duration
	// TokenID chooses the token id when the Grant does not set one.
	// Default SubjectTokenID: the verified subject. See QueryTokenID for
	// open mode.
	TokenID TokenIDPolicy
	// CORS configures CORS. Off (no Access-Control-* headers, OPTIONS is
	// 405) unless CORS.AllowedOrigins is set.
	CORS CORSOptions
	// Logger receives one line per request (and panics). Default
	// slog.Default(). Secrets are never logged.
	Logger *slog.Logger
	// ErrorHandler writes error responses. When nil, WriteErrorResponse
	// writes the standard JSON body. The handler has already set the
	// Cache-Control, Vary, CORS, WWW-Authenticate, Allow and Retry-After
	// headers when it is called.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, e *ErrorResponse)
	// OnResult, when set, is called once per request after the response is
	// written, for metrics or auditing. It must not retain r, and must not
	// panic.
	OnResult func(r *http.Request, res Result)
	// MaxHeaderBytes bounds the total size of header names, values and the
	// request URL. Default DefaultMaxHeaderBytes (32 KiB).
	MaxHeaderBytes int
	// RetryAfter is the Retry-After of 429 and 503 responses, unless the
	// error carries its own (see RetryAfterError). Default 1 second.
	RetryAfter time.Duration
	// Reuse configures token reuse and request coalescing, on by default:
	// the same identity asking for the same scope gets the same token while
	// more than half of its lifetime remains, and concurrent identical
	// requests share one upstream call. Reuse.Disabled turns both off.
	Reuse ReuseOptions
	// Retry configures the retries of vends that failed because Momento
	// was unavailable (default: 3 attempts with jittered exponential
	// backoff from 50 ms, all within VendTimeout).
	Retry RetryOptions
	// RateLimit limits token requests per verified identity (429 with
	// Retry-After). Off unless set.
	RateLimit RateLimitOptions
}

// Result describes the outcome of one request, for Config.OnResult.
type Result struct {
	// Status is the HTTP status written.
	Status int
	// Code is "ok" on success, or the error code of the response.
	Code string
	// Identity is the verified caller; the zero Identity when
	// authentication failed.
	Identity Identity
	// Grant is what was (or would have been) vended: the resolved scope,
	// rule, effective TTL and token id, as far as the request got.
	Grant Grant
	// ExpiresAt is the expiry of the vended token, on success.
	ExpiresAt time.Time
	// Reused is true when the token was a kept one (see ReuseOptions): no
	// upstream call was made for this request.
	Reused bool
	// Coalesced is true when the request received the result of a
	// concurrent identical request's upstream call.
	Coalesced bool
	// Latency is the time spent in the handler.
	Latency time.Duration
	// Err is the cause of a failure, nil on success. Its text contains no
	// secrets from this package's components.
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

// Error returns the code and message (not the cause).
func (e *ErrorResponse) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *ErrorResponse) Unwrap() error { return e.Err }

// RetryAfterError may be implemented by errors returned by an
// Authenticator, ScopeResolver or Vendor (anywhere in the chain) to choose
// the Retry-After of the resulting 429 or 503.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// WriteErrorResponse writes e as the standard JSON error body
// {"error": code, "message": text} with status e.Status. It is the default
// Config.ErrorHandler.
func WriteErrorResponse(w http.ResponseWriter, _ *http.Request, e *ErrorResponse) {
	body, _ := json.Marshal(e) // two strings: cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// Handler is the token vending http.Handler. It answers GET only:
// authenticate, resolve the scope from the verified identity, vend, and
// reply 200 {"authToken": "...", "expiresAt": <unix seconds>}. It is safe
// for concurrent use.
//
// HEAD is refused with 405 like every method but GET (and OPTIONS when CORS
// is configured): vending a token to discard its body would cost an upstream
// call for nothing. Note that a net/http ServeMux pattern "GET /path" also
// routes HEAD requests here, and they get this 405.
type Handler struct {
	auth           Authenticator
	challenge      string // WWW-Authenticate for 401
	bearer         bool   // challenge is a Bearer one without an error parameter
	scopes         ScopeResolver
	vendor         Vendor
	ttl            time.Duration
	minTTL         time.Duration
	vendTimeout    time.Duration
	tokenID        TokenIDPolicy
	cors           *cors
	allow          string
	log            *slog.Logger
	errorHandler   func(http.ResponseWriter, *http.Request, *ErrorResponse)
	onResult       func(*http.Request, Result)
	maxHeaderBytes int
	retryAfter     time.Duration
	now            func() time.Time
	cache          *tokenCache // nil when reuse is disabled
	flight         singleflight.Group
	retry          RetryOptions
	limiter        RateLimiter // nil: no rate limit

	testFlightJoined func() // tests: called once a request waits for a (shared) vend
}

// NewHandler validates cfg and returns a Handler. It fails closed with an
// error wrapping ErrInvalidConfig when a required component is missing,
// when a component's Validate method (authenticators, resolvers and vendors
// may implement interface{ Validate() error }) reports a problem, or when a
// duration or CORS option is out of range.
func NewHandler(cfg Config) (*Handler, error) {
	components := []struct {
		field string
		v     any
	}{
		{"Config.Authenticator", cfg.Authenticator},
		{"Config.Scopes", cfg.Scopes},
		{"Config.Vendor", cfg.Vendor},
	}
	for _, c := range components {
		if isNil(c.v) {
			return nil, &ConfigError{Field: c.field, Problem: "required"}
		}
		if v, ok := c.v.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				if errors.Is(err, ErrInvalidConfig) {
					return nil, fmt.Errorf("tvm: %s: %w", c.field, err)
				}
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, c.field, err)
			}
		}
	}
	h := &Handler{
		auth:           cfg.Authenticator,
		scopes:         cfg.Scopes,
		vendor:         cfg.Vendor,
		ttl:            cfg.TTL,
		minTTL:         cfg.MinTTL,
		vendTimeout:    cfg.VendTimeout,
		tokenID:        cfg.TokenID,
		log:            cfg.Logger,
		errorHandler:   cfg.ErrorHandler,
		onResult:       cfg.OnResult,
		maxHeaderBytes: cfg.MaxHeaderBytes,
		retryAfter:     cfg.RetryAfter,
		now:            time.Now,
	}
	if h.ttl == 0 {
		h.ttl = DefaultTTL
	}
	if h.ttl < MinTokenTTL || h.ttl > MaxTokenTTL {
		return nil, &ConfigError{Field: "Config.TTL", Problem: fmt.Sprintf("must be between %s and %s", MinTokenTTL, MaxTokenTTL)}
	}
	h.ttl = h.ttl.Truncate(time.Second)
	if h.minTTL == 0 {
		h.minTTL = MinTokenTTL
	}
	if h.minTTL < MinTokenTTL || h.minTTL > h.ttl {
		return nil, &ConfigError{Field: "Config.MinTTL", Problem: fmt.Sprintf("must be between %s and Config.TTL", MinTokenTTL)}
	}
	if h.vendTimeout == 0 {
		h.vendTimeout = DefaultVendTimeout
	}
	if h.vendTimeout < 0 {
		return nil, &ConfigError{Field: "Config.VendTimeout", Problem: "must not be negative"}
	}
	if h.tokenID == nil {
		h.tokenID = SubjectTokenID
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.errorHandler == nil {
		h.errorHandler = WriteErrorResponse
	}
	if h.maxHeaderBytes == 0 {
		h.maxHeaderBytes = DefaultMaxHeaderBytes
	}
	if h.maxHeaderBytes < 0 {
		return nil, &ConfigError{Field: "Config.MaxHeaderBytes", Problem: "must not be negative"}
	}
	if h.retryAfter == 0 {
		h.retryAfter = DefaultRetryAfter
	}
	if h.retryAfter < 0 {
		return nil, &ConfigError{Field: "Config.RetryAfter", Problem: "must not be negative"}
	}
	if !cfg.Reuse.Disabled {
		ro, err := cfg.Reuse.withDefaults()
		if err != nil {
			return nil, err
		}
		h.cache = newTokenCache(ro)
	}
	retry, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	h.retry = retry
	if h.limiter, err = cfg.RateLimit.limiter(); err != nil {
		return nil, err
	}
	c, err := newCORS(cfg.CORS)
	if err != nil {
		return nil, err
	}
	h.cors = c
	h.allow = http.MethodGet
	if c.enabled {
		h.allow = "GET, OPTIONS"
	}
	h.challenge = `Bearer realm="tvm"`
	if ch, ok := cfg.Authenticator.(Challenger); ok && ch.Challenge() != "" {
		h.challenge = ch.Challenge()
	}
	// Bearer challenges without an error parameter get error="invalid_token"
	// when a presented token failed.
	scheme, _, _ := strings.Cut(h.challenge, " ")
	h.bearer = strings.EqualFold(scheme, "Bearer") && !strings.Contains(h.challenge, "error=")
	return h, nil
}

// isNil reports whether v is nil or a nil pointer, func, map, slice,
// channel or interface inside an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// appendTokenResponse appends the success body, the shape of Momento's
// reference token vending machine, {"authToken":"...","expiresAt":N}, and a
// newline. It is what encoding/json produces, without reflection.
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

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	var res Result
	written := false
	defer func() {
		if rec := recover(); rec != nil {
			if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel value comparison, as net/http does
				panic(rec)
			}
			// Log the panic's type and stack, never its value: it may hold
			// a secret. Stack traces print arguments as machine words only.
			h.log.LogAttrs(r.Context(), slog.LevelError, "tvm: panic serving token request",
				slog.String("panic", fmt.Sprintf("%T", rec)),
				slog.String("stack", string(debug.Stack())))
			res.Err = fmt.Errorf("tvm: panic (%T)", rec)
			if !written {
				h.fail(w, r, &res, http.StatusInternalServerError, CodeInternal, "internal error", res.Err)
			} else {
				res.Status, res.Code = http.StatusInternalServerError, CodeInternal
			}
		}
		res.Latency = h.now().Sub(start)
		h.logResult(r, &res)
		if h.onResult != nil {
			h.onResult(r, res)
		}
	}()

	// Canonical keys assigned directly: these run on every request. The
	// values share one backing array (each slice capped to its element,
	// so that appending to one never overwrites another): one allocation
	// instead of six. The last two slots are for a success's Content-Type
	// and Content-Length.
	hdr := w.Header()
	vals := &[6]string{"no-store", "no-cache", "nosniff", "Origin", "application/json"}
	hdr["Cache-Control"] = vals[0:1:1]
	hdr["Pragma"] = vals[1:2:2]
	hdr["X-Content-Type-Options"] = vals[2:3:3]
	if vary := hdr["Vary"]; len(vary) > 0 {
		hdr["Vary"] = append(vary, "Origin")
	} else {
		hdr["Vary"] = vals[3:4:4]
	}

	if h.headerBytes(r) > h.maxHeaderBytes {
		written = true
		h.fail(w, r, &res, http.StatusBadRequest, CodeBadRequest, "request headers too large", fmt.Errorf("%w: request headers larger than %d bytes", ErrBadRequest, h.maxHeaderBytes))
		return
	}

	if r.Method != http.MethodOptions {
		// Allowed origins can read every answer, errors included.
		h.cors.setActual(w, r)
	}
	switch {
	case r.Method == http.MethodGet:
	case r.Method == http.MethodOptions && h.cors.enabled:
		written = true
		h.preflight(w, r, &res)
		return
	default:
		hdr.Set("Allow", h.allow)
		written = true
		h.fail(w, r, &res, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed; use GET", fmt.Errorf("%w: method %.16q not allowed", ErrBadRequest, r.Method))
		return
	}
	tok, err := h.vend(r, &res)
	written = true
	if err != nil {
		h.failErr(w, r, &res, err)
		return
	}
	body := appendTokenResponse(make([]byte, 0, len(tok.AuthToken)+64), tok)
	hdr["Content-Type"] = vals[4:5:5]
	vals[5] = strconv.Itoa(len(body))
	hdr["Content-Length"] = vals[5:6:6]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	res.Status, res.Code, res.ExpiresAt = http.StatusOK, "ok", tok.ExpiresAt
}

// stageError is a failure of one step of the flow, with the response it
// deserves.
type stageError struct {
	status        int
	code, message string
	err           error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// vend runs authenticate → resolve → validate → vend.
func (h *Handler) vend(r *http.Request, res *Result) (Token, error) {
	ctx := r.Context()

	id, err := h.auth.Authenticate(r)
	if err != nil {
		return Token{}, h.classify(err, http.StatusUnauthorized, CodeUnauthorized, "invalid credentials")
	}
	res.Identity = id

	now := h.now()
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Sub(now) < h.minTTL {
		return Token{}, &stageError{http.StatusUnauthorized, CodeUnauthorized, "credentials expire too soon; refresh them",
			fmt.Errorf("%w: credentials expire in less than %s", ErrInvalidCredentials, h.minTTL)}
	}

	if h.limiter != nil {
		if err := h.limiter.Allow(ctx, id); err != nil {
			return Token{}, h.classify(err, http.StatusInternalServerError, CodeInternal, "internal error")
		}
	}

	grant, err := h.scopes.Resolve(ctx, id, r)
	if err != nil {
		return Token{}, h.classify(err, http.StatusInternalServerError, CodeInternal, "internal error")
	}
	res.Grant = grant

	// Never vend an empty or malformed scope, whatever the resolver says.
	if err := grant.Scope.Validate(); err != nil {
		if !errors.Is(err, ErrInvalidScope) {
			err = fmt.Errorf("%w: %w", ErrInvalidScope, err)
		}
		return Token{}, &stageError{http.StatusInternalServerError, CodeInvalidScope, "the resolved scope is invalid", err}
	}

	ttl := h.ttl
	if grant.TTL != 0 {
		if grant.TTL < MinTokenTTL || grant.TTL > MaxTokenTTL {
			return Token{}, &stageError{http.StatusInternalServerError, CodeInternal, "internal error",
				fmt.Errorf("%w: resolver granted a TTL of %s, outside [%s, %s]", ErrInvalidConfig, grant.TTL, MinTokenTTL, MaxTokenTTL)}
		}
		ttl = grant.TTL
	}
	baseTTL := ttl
	// Never outlive the caller's credential.
	if rem := id.ExpiresAt.Sub(now); !id.ExpiresAt.IsZero() && rem < ttl {
		if rem < h.minTTL {
			return Token{}, &stageError{http.StatusUnauthorized, CodeUnauthorized, "credentials expire too soon; refresh them",
				fmt.Errorf("%w: credentials expire in less than %s", ErrInvalidCredentials, h.minTTL)}
		}
		ttl = rem
	}
	ttl = ttl.Truncate(time.Second)
	grant.TTL = ttl
	res.Grant.TTL = ttl

	if grant.TokenID != "" {
		if !validTokenID(grant.TokenID) {
			return Token{}, &stageError{http.StatusInternalServerError, CodeInternal, "internal error",
				fmt.Errorf("%w: resolver granted an invalid token id", ErrInvalidConfig)}
		}
	} else {
		tid, err := h.tokenID(id, r)
		if err != nil {
			return Token{}, h.classify(err, http.StatusInternalServerError, CodeInternal, "internal error")
		}
		if !validTokenID(tid) {
			return Token{}, &stageError{http.StatusInternalServerError, CodeInternal, "internal error",
				fmt.Errorf("%w: token id policy returned an invalid token id", ErrInvalidConfig)}
		}
		grant.TokenID = tid
	}
	res.Grant.TokenID = grant.TokenID

	tok, err := h.obtain(ctx, id, grant, baseTTL, now, res)
	if err != nil {
		var se *stageError
		if errors.As(err, &se) {
			return Token{}, se
		}
		return Token{}, h.classify(err, http.StatusInternalServerError, CodeInternal, "internal error")
	}
	return tok, nil
}

// classify maps an error to a response by the sentinel it wraps; errors
// wrapping none get the given default.
func (h *Handler) classify(err error, status int, code, message string) *stageError {
	switch {
	case errors.Is(err, ErrNoCredentials):
		return &stageError{http.StatusUnauthorized, CodeUnauthorized, "credentials required", err}
	case errors.Is(err, ErrInvalidCredentials):
		return &stageError{http.StatusUnauthorized, CodeUnauthorized, "invalid credentials", err}
	case errors.Is(err, ErrRateLimited):
		return &stageError{http.StatusTooManyRequests, CodeRateLimited, "too many requests; retry later", err}
	case errors.Is(err, ErrBadRequest):
		return &stageError{http.StatusBadRequest, CodeBadRequest, "malformed request", err}
	case errors.Is(err, ErrForbidden):
		return &stageError{http.StatusForbidden, CodeForbidden, "no scope is granted for this request", err}
	case errors.Is(err, ErrInvalidScope):
		return &stageError{http.StatusInternalServerError, CodeInvalidScope, "the resolved scope is invalid", err}
	case errors.Is(err, ErrUpstreamTimeout), errors.Is(err, context.DeadlineExceeded):
		return &stageError{http.StatusGatewayTimeout, CodeUpstreamTimeout, "Momento did not answer in time; retry later", err}
	case errors.Is(err, ErrUpstreamUnavailable), errors.Is(err, context.Canceled):
		return &stageError{http.StatusServiceUnavailable, CodeUpstreamUnavailable, "Momento is unavailable; retry later", err}
	case errors.Is(err, ErrUpstreamRejected):
		return &stageError{http.StatusBadGateway, CodeUpstreamRejected, "Momento refused to vend a token", err}
	}
	return &stageError{status, code, message, err}
}

func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, res *Result, err error) {
	var se *stageError
	if !errors.As(err, &se) {
		se = h.classify(err, http.StatusInternalServerError, CodeInternal, "internal error")
	}
	h.fail(w, r, res, se.status, se.code, se.message, se.err)
}

// fail sets the status-specific headers and writes an error response.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, res *Result, status int, code, message string, err error) {
	hdr := w.Header()
	switch status {
	case http.StatusUnauthorized:
		challenge := h.challenge
		if h.bearer && errors.Is(err, ErrInvalidCredentials) {
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
		var rae RetryAfterError
		if errors.As(err, &rae) && rae.RetryAfter() > 0 {
			ra = rae.RetryAfter()
		}
		hdr.Set("Retry-After", strconv.FormatInt(int64((ra+time.Second-1)/time.Second), 10))
	}
	res.Status, res.Code, res.Err = status, code, err
	h.errorHandler(w, r, &ErrorResponse{Status: status, Code: code, Message: message, Err: err})
}

// preflight answers an OPTIONS request when CORS is configured.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, res *Result) {
	if r.Header.Get("Access-Control-Request-Method") == "" {
		// A plain OPTIONS request, not a CORS preflight.
		w.Header().Set("Allow", h.allow)
		w.WriteHeader(http.StatusNoContent)
		res.Status, res.Code = http.StatusNoContent, "ok"
		return
	}
	if reason := h.cors.preflight(w, r); reason != "" {
		h.fail(w, r, res, http.StatusForbidden, CodeForbidden, "CORS preflight refused", fmt.Errorf("%w: CORS preflight refused: %s", ErrForbidden, reason))
		return
	}
	w.WriteHeader(http.StatusNoContent)
	res.Status, res.Code = http.StatusNoContent, "ok"
}

// headerBytes approximates the size of the request's header and URL.
func (h *Handler) headerBytes(r *http.Request) int {
	n := len(r.URL.RawQuery) + len(r.URL.Path)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
		if n > h.maxHeaderBytes {
			break
		}
	}
	return n
}

// logResult writes the one log line of a request. It never logs a token,
// an API key, a password or a JWT: only the verified subject, the
// authentication method, the rule, a scope summary, the token id, the
// outcome and the latency.
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
	if len(res.Grant.Scope.Permissions) > 0 {
		attrs = append(attrs, slog.String("scope", res.Grant.Scope.String()))
	}
	if res.Grant.TokenID != "" {
		attrs = append(attrs, slog.String("tokenId", res.Grant.TokenID))
	}
	if res.Status == http.StatusOK {
		attrs = append(attrs, slog.Duration("ttl", res.Grant.TTL))
		if res.Reused {
			attrs = append(attrs, slog.Bool("reused", true))
		} else if res.Coalesced {
			attrs = append(attrs, slog.Bool("coalesced", true))
		}
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("error", res.Err.Error()))
	}
	h.log.LogAttrs(ctx, level, "tvm token request", attrs...)
}
