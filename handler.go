package tvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"runtime/debug"
	"strings"
	"time"
)

// Defaults and bounds of Config.
const (
	defaultTTL            = 15 * time.Minute
	minTokenTTL           = time.Second // Momento counts in whole seconds
	defaultVendTimeout    = 5 * time.Second
	defaultMaxHeaderBytes = 32 << 10
	defaultRetryAfter     = time.Second
)

// Config configures a Handler. Authenticator, Scopes and Vendor are
// required; everything else has a safe default.
type Config struct {
	// Authenticator verifies the caller (Open, NewBasic, ContextIdentity,
	// the jwtauth package, or your own). Required: there is no implicit
	// open mode.
	Authenticator Authenticator
	// Scopes decides, from the verified identity only, what the token may
	// do (NewGroupScopes, NewNarrowing, or your own). Required.
	Scopes ScopeResolver
	// Vendor vends the token (NewMomentoVendor, or your own). Required.
	Vendor Vendor
	// TTL is the lifetime of vended tokens when the Grant does not set one.
	// Default 15 minutes; between one second and MaxTokenTTL; truncated to
	// whole seconds. A token never outlives the caller's credential
	// (Identity.ExpiresAt).
	TTL time.Duration
	// MinTTL is the shortest token worth vending. When the caller's
	// credential expires sooner the handler answers 401, so the client
	// refreshes its credential first. Default one second; at most TTL.
	MinTTL time.Duration
	// VendTimeout bounds the Vendor call (together with the request's
	// context), retries included. Default 5 seconds.
	VendTimeout time.Duration
	// TokenID chooses the token id when the Grant does not set one.
	// Default SubjectTokenID: the verified subject. See QueryTokenID for
	// open mode.
	TokenID TokenIDPolicy
	// CORS configures CORS. Off (no Access-Control-* headers, OPTIONS is
	// 405) unless CORS.AllowedOrigins is set.
	CORS CORSOptions
	// Reuse configures token reuse and request coalescing, on by default:
	// the same identity asking for the same scope gets the same token while
	// more than half of its lifetime remains, and concurrent identical
	// requests share one upstream call. Reuse.Disabled turns both off.
	Reuse ReuseOptions
	// RateLimit, when set, limits token requests per verified identity
	// (429 with Retry-After), and anonymous callers (Open) per client
	// address (see TrustedProxies): NewMemoryRateLimiter for one process,
	// NewMomentoRateLimiter for every instance at once. Default none.
	RateLimit RateLimiter
	// TrustedProxies are the reverse proxies (load balancers, CDNs, API
	// gateways) in front of the handler, as addresses or networks
	// (netip.MustParsePrefix("10.0.0.0/8"), a single address as /32 or
	// /128). RateLimit counts anonymous callers per client address: the
	// peer's, or, when the peer is a trusted proxy, the rightmost address
	// of X-Forwarded-For (else of Forwarded's for=) that is not a trusted
	// proxy, an IPv6 client by its /64. Default none: the headers are
	// ignored, since any client can write them. List only proxies that
	// append the address they saw to X-Forwarded-For (most do) or, if
	// they set only Forwarded, that drop the client's X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// VendLimit, when set, is a ceiling on the calls to the Vendor (all
	// callers together), to stay under Momento's auth quota of 5
	// operations per second per account: e.g. NewMemoryRateLimiter with
	// PerSecond 4 for one process, or NewMomentoRateLimiter with Limit 4
	// and Window one second across every instance. Reused and coalesced
	// tokens never count. A vend over the ceiling waits up to VendLimitWait
	// for a slot, then is shed with 503 upstream_throttled and a
	// Retry-After. Default none.
	VendLimit RateLimiter
	// VendLimitWait is how long a vend may wait for a slot under
	// VendLimit (within VendTimeout). Default one second; negative: never
	// wait.
	VendLimitWait time.Duration
	// MaxHeaderBytes bounds the total size of header names, values and the
	// request URL; larger requests get a 400 before authentication.
	// Default 32 KiB.
	MaxHeaderBytes int
	// RetryAfter is the Retry-After of 429 and 503 responses, unless the
	// error carries its own (a RateLimitError, or any error in the chain
	// with a method RetryAfter() time.Duration). Default one second.
	RetryAfter time.Duration
	// Logger receives one line per request (and panics). Default
	// slog.Default(). Secrets are never logged.
	Logger *slog.Logger
	// ErrorHandler writes error responses. Default: the JSON body
	// {"error": code, "message": text}. The handler has already set the
	// Cache-Control, Vary, CORS, WWW-Authenticate, Allow and Retry-After
	// headers when it is called.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, e *ErrorResponse)
	// OnResult, when set, is called once per request after the response is
	// written, for metrics or auditing. It must not retain r, and must not
	// panic.
	OnResult func(r *http.Request, res Result)
}

// Handler is the token vending http.Handler. It answers GET only:
// authenticate, resolve the scope from the verified identity, vend (or
// reuse), and reply 200 {"authToken": "...", "expiresAt": <unix seconds>}.
// It is safe for concurrent use.
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
	allow          string // the Allow header of 405 answers
	reuse          *reuser
	limiter        RateLimiter
	trustedProxies []netip.Prefix
	vendLimit      RateLimiter
	vendLimitWait  time.Duration
	counterCaches  []counterCache // of the MomentoRateLimiters: no scope may write them
	maxHeaderBytes int
	retryAfter     time.Duration
	log            *slog.Logger
	errorHandler   func(http.ResponseWriter, *http.Request, *ErrorResponse)
	onResult       func(*http.Request, Result)
	now            func() time.Time
}

// NewHandler validates cfg and returns a Handler. It fails closed, with
// every problem as a *ConfigError naming the field (joined with
// errors.Join): a missing (or typed nil) Authenticator, Scopes or Vendor; a
// duration, size, CORS or reuse option out of range; or a scope of a
// GroupScopes (or of a Narrowing around one) that could write the cache
// holding the counters of a MomentoRateLimiter in RateLimit or VendLimit (a
// ReadWrite or WriteOnly role on that cache, on "*", or on a cache template
// that can name it, whatever the keys). A resolver whose scopes it cannot
// know is checked per request: such a grant is a 500 invalid_scope, never
// vended.
func NewHandler(cfg Config) (*Handler, error) {
	var probs problems
	for _, c := range []struct {
		field string
		v     any
	}{
		{"Config.Authenticator", cfg.Authenticator},
		{"Config.Scopes", cfg.Scopes},
		{"Config.Vendor", cfg.Vendor},
	} {
		if isNil(c.v) {
			probs.add(c.field, "required")
		}
	}
	if cfg.RateLimit != nil && isNil(cfg.RateLimit) {
		probs.add("Config.RateLimit", "nil")
	}
	if cfg.VendLimit != nil && isNil(cfg.VendLimit) {
		probs.add("Config.VendLimit", "nil")
	}
	h := &Handler{
		auth:           cfg.Authenticator,
		scopes:         cfg.Scopes,
		vendor:         cfg.Vendor,
		ttl:            orDefault(cfg.TTL, defaultTTL),
		minTTL:         orDefault(cfg.MinTTL, minTokenTTL),
		vendTimeout:    orDefault(cfg.VendTimeout, defaultVendTimeout),
		tokenID:        cfg.TokenID,
		limiter:        cfg.RateLimit,
		vendLimit:      cfg.VendLimit,
		vendLimitWait:  max(orDefault(cfg.VendLimitWait, time.Second), 0),
		maxHeaderBytes: orDefault(cfg.MaxHeaderBytes, defaultMaxHeaderBytes),
		retryAfter:     orDefault(cfg.RetryAfter, defaultRetryAfter),
		log:            cfg.Logger,
		errorHandler:   cfg.ErrorHandler,
		onResult:       cfg.OnResult,
		now:            time.Now,
	}
	if h.ttl < minTokenTTL || h.ttl > MaxTokenTTL {
		probs.add("Config.TTL", fmt.Sprintf("must be between %s and %s", minTokenTTL, MaxTokenTTL))
	}
	h.ttl = h.ttl.Truncate(time.Second)
	if h.minTTL < minTokenTTL || h.minTTL > h.ttl {
		probs.add("Config.MinTTL", fmt.Sprintf("must be between %s and Config.TTL", minTokenTTL))
	}
	if h.vendTimeout < 0 {
		probs.add("Config.VendTimeout", "must not be negative")
	}
	if h.maxHeaderBytes < 0 {
		probs.add("Config.MaxHeaderBytes", "must not be negative")
	}
	if h.retryAfter < 0 {
		probs.add("Config.RetryAfter", "must not be negative")
	}
	if h.tokenID == nil {
		h.tokenID = SubjectTokenID
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.errorHandler == nil {
		h.errorHandler = writeErrorJSON
	}
	if !cfg.Reuse.Disabled {
		h.reuse = newReuser(cfg.Reuse, &probs)
	}
	h.cors = newCORS(cfg.CORS, &probs)
	h.trustedProxies = checkTrustedProxies(cfg.TrustedProxies, &probs)
	h.counterCaches = counterCaches(cfg)
	if !isNil(cfg.Scopes) {
		checkCounterScopes(cfg.Scopes, h.counterCaches, &probs)
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	h.allow = http.MethodGet
	if h.cors.enabled {
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

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
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

// ServeHTTP implements http.Handler: it answers the request, then logs one
// line and reports the Result.
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
			err := fmt.Errorf("tvm: panic (%T)", rec)
			if written {
				res.Status, res.Code, res.Err = http.StatusInternalServerError, CodeInternal, err
			} else {
				res = h.fail(w, r, res, err)
			}
		}
		res.Latency = h.now().Sub(start)
		h.logResult(r, &res)
		if h.onResult != nil {
			h.onResult(r, res)
		}
	}()

	setFixedHeaders(w.Header())
	if n := headerBytes(r, h.maxHeaderBytes); n > h.maxHeaderBytes {
		written = true
		res = h.fail(w, r, res, &httpError{http.StatusBadRequest, CodeBadRequest, "request headers too large",
			fmt.Errorf("%w: request headers larger than %d bytes", ErrBadRequest, h.maxHeaderBytes)})
		return
	}
	switch {
	case r.Method == http.MethodGet:
		h.cors.setActual(w, r) // allowed origins can read every answer, errors included
	case r.Method == http.MethodOptions && h.cors.enabled:
		written = true
		res = h.preflight(w, r)
		return
	default:
		h.cors.setActual(w, r)
		w.Header().Set("Allow", h.allow)
		written = true
		res = h.fail(w, r, res, &httpError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed; use GET",
			fmt.Errorf("%w: method %.16q not allowed", ErrBadRequest, r.Method)})
		return
	}

	res, tok, err := h.token(r)
	written = true
	if err != nil {
		res = h.fail(w, r, res, err)
		return
	}
	writeToken(w, tok)
	res.Status, res.Code, res.ExpiresAt = http.StatusOK, "ok", tok.ExpiresAt
}

// token runs the steps of a token request in order: authenticate, rate
// limit, resolve, complete the grant, then reuse, share or vend. The Result
// holds what the request got as far as it got.
func (h *Handler) token(r *http.Request) (Result, Token, error) {
	var res Result
	ctx := r.Context()

	id, err := h.auth.Authenticate(r)
	if err != nil {
		return res, Token{}, authError(err)
	}
	res.Identity = id
	if strings.IndexByte(id.Method, ':') >= 0 { // it would blur rate-limit keys
		return res, Token{}, fmt.Errorf("%w: the authenticator returned a Method holding \":\"", ErrInvalidConfig)
	}
	now := h.now()
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Sub(now) < h.minTTL {
		return res, Token{}, h.expiresTooSoon()
	}

	if h.limiter != nil {
		if err := h.limiter.Allow(ctx, h.rateLimitKey(id, r)); err != nil {
			return res, Token{}, err
		}
	}

	grant, err := h.scopes.Resolve(ctx, id, r)
	if err != nil {
		return res, Token{}, err
	}
	res.Grant = grant
	grant, ruleTTL, err := h.complete(grant, id, r, now)
	res.Grant = grant
	if err != nil {
		return res, Token{}, err
	}

	tok, source, err := h.obtain(ctx, id, grant, ruleTTL, now)
	res.Source = source
	return res, tok, err
}

// complete checks the resolver's grant and fills in what the handler
// decides: the TTL (the rule's or the default, never beyond the caller's
// credential) and the token id. It also returns the TTL before capping to
// the credential, which keys token reuse.
func (h *Handler) complete(g Grant, id Identity, r *http.Request, now time.Time) (Grant, time.Duration, error) {
	// Never vend an empty or malformed scope, whatever the resolver says.
	if err := g.Scope.Validate(); err != nil {
		return g, 0, &httpError{http.StatusInternalServerError, CodeInvalidScope, "the resolved scope is invalid", err}
	}
	if err := h.refuseCounterWrite(g.Scope); err != nil {
		return g, 0, err
	}
	ruleTTL := h.ttl
	if g.TTL != 0 {
		if g.TTL < minTokenTTL || g.TTL > MaxTokenTTL {
			return g, 0, fmt.Errorf("%w: resolver granted a TTL of %s, outside [%s, %s]", ErrInvalidConfig, g.TTL, minTokenTTL, MaxTokenTTL)
		}
		ruleTTL = g.TTL
	}
	ttl := ruleTTL
	if rem := id.ExpiresAt.Sub(now); !id.ExpiresAt.IsZero() && rem < ttl {
		ttl = rem // at least MinTTL: token refused the credentials expiring sooner
	}
	g.TTL = ttl.Truncate(time.Second)

	if g.TokenID != "" {
		if !validTokenID(g.TokenID) {
			return g, 0, fmt.Errorf("%w: resolver granted an invalid token id", ErrInvalidConfig)
		}
		return g, ruleTTL, nil
	}
	tid, err := h.tokenID(id, r)
	if err != nil {
		return g, 0, err
	}
	if !validTokenID(tid) {
		return g, 0, fmt.Errorf("%w: token id policy returned an invalid token id", ErrInvalidConfig)
	}
	g.TokenID = tid
	return g, ruleTTL, nil
}

func (h *Handler) expiresTooSoon() error {
	return &httpError{http.StatusUnauthorized, CodeUnauthorized, "credentials expire too soon; refresh them",
		fmt.Errorf("%w: credentials expire in less than %s", ErrInvalidCredentials, h.minTTL)}
}

// callVendor calls the vendor under ctx bounded by the vend timeout, and
// checks its answer.
func (h *Handler) callVendor(ctx context.Context, g Grant) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, h.vendTimeout)
	defer cancel()
	if h.vendLimit != nil {
		if err := h.vendSlot(ctx); err != nil {
			return Token{}, err
		}
	}
	tok, err := h.vendor.Vend(ctx, g)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) &&
			!errors.Is(err, ErrUpstreamRejected) && !errors.Is(err, ErrUpstreamUnavailable) &&
			!errors.Is(err, ErrUpstreamThrottled) && !errors.Is(err, ErrUpstreamTimeout) {
			// The vendor did not classify its failure; the deadline did.
			err = &VendError{Kind: ErrUpstreamTimeout, Err: err}
		}
		return Token{}, err
	}
	if tok.AuthToken == "" {
		return Token{}, errors.New("tvm: vendor returned an empty token")
	}
	if tok.ExpiresAt.IsZero() {
		tok.ExpiresAt = h.now().Add(g.TTL)
	}
	return tok, nil
}

// preflight answers an OPTIONS request when CORS is configured.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) Result {
	if r.Header.Get("Access-Control-Request-Method") == "" {
		// A plain OPTIONS request, not a CORS preflight.
		w.Header().Set("Allow", h.allow)
		w.WriteHeader(http.StatusNoContent)
		return Result{Status: http.StatusNoContent, Code: "ok"}
	}
	if reason := h.cors.preflight(w, r); reason != "" {
		return h.fail(w, r, Result{}, &httpError{http.StatusForbidden, CodeForbidden, "CORS preflight refused",
			fmt.Errorf("%w: CORS preflight refused: %s", ErrForbidden, reason)})
	}
	w.WriteHeader(http.StatusNoContent)
	return Result{Status: http.StatusNoContent, Code: "ok"}
}

// headerBytes approximates the size of the request's header and URL,
// counting no further than limit.
func headerBytes(r *http.Request, limit int) int {
	n := len(r.URL.RawQuery) + len(r.URL.Path)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
		if n > limit {
			break
		}
	}
	return n
}
