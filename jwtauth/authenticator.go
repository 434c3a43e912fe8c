package tvm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Identity.Method values set by the JWT authenticators.
const (
	// MethodJWT is the Method of identities verified by an authenticator
	// made with NewJWT or JWT.
	MethodJWT = "jwt"
	// MethodCognito is the Method of identities verified by an
	// authenticator made with NewCognito or Cognito.
	MethodCognito = "cognito"
)

// Defaults and bounds of JWTConfig.
const (
	// DefaultJWTLeeway is the clock-skew allowance used when
	// JWTConfig.Leeway is zero.
	DefaultJWTLeeway = 30 * time.Second
	// MaxJWTLeeway is the largest JWTConfig.Leeway accepted.
	MaxJWTLeeway = 5 * time.Minute
	// DefaultMaxTokenBytes is the longest bearer token accepted when
	// JWTConfig.MaxTokenBytes is zero. Longer tokens are refused before
	// any parsing.
	DefaultMaxTokenBytes = 8 << 10
	// MaxMaxTokenBytes is the largest JWTConfig.MaxTokenBytes accepted.
	MaxMaxTokenBytes = 64 << 10
	// DefaultJWKSHTTPTimeout bounds each JWKS fetch when
	// JWTConfig.HTTPTimeout is zero.
	DefaultJWKSHTTPTimeout = 10 * time.Second
	// MaxJWKSHTTPTimeout is the largest JWTConfig.HTTPTimeout accepted.
	MaxJWKSHTTPTimeout = time.Minute
	// DefaultJWKSRefreshInterval is how often a remote JWKS is refreshed in
	// the background when JWTConfig.RefreshInterval is zero.
	DefaultJWKSRefreshInterval = time.Hour
	// MinJWKSRefreshInterval is the smallest JWTConfig.RefreshInterval
	// accepted.
	MinJWKSRefreshInterval = time.Second
	// DefaultJWKSUnknownKIDInterval is the least time between two JWKS
	// refreshes triggered by tokens with an unknown key id when
	// JWTConfig.UnknownKIDRefreshInterval is zero.
	DefaultJWKSUnknownKIDInterval = 10 * time.Second
	// DefaultMaxJWKSBytes bounds a JWKS response body when
	// JWTConfig.MaxJWKSBytes is zero.
	DefaultMaxJWKSBytes = 1 << 20
	// minRSABits is the shortest RSA modulus accepted for verification.
	minRSABits = 2048
)

// JWTConfig configures a JWT bearer-token authenticator (NewJWT, JWT). The
// zero value is not usable: Issuer, Audience, Algorithms and exactly one key
// source are required, and every problem is reported as a *ConfigError
// naming the field.
//
// The authenticator reads `Authorization: Bearer <jwt>` only (the scheme is
// matched case-insensitively, as RFC 7235 says, followed by exactly one
// space), verifies the signature with a key chosen by the token's `kid`,
// then checks `exp` (always required), `nbf` and `iat` (never in the future)
// with Leeway, `iss`, `aud`, the subject and the groups claim. The `jku`,
// `x5u`, `jwk` and `x5c` header parameters are ignored: keys come only from
// the configured source. Tokens without a `kid`, with a `crit` header, or
// signed with an algorithm outside Algorithms are refused.
type JWTConfig struct {
	// Issuer is the exact `iss` every token must carry, e.g.
	// "https://login.example.com/". Required unless SkipIssuerCheck.
	Issuer string
	// SkipIssuerCheck accepts tokens from any issuer that holds a
	// configured key. Only for key sources used by a single issuer.
	SkipIssuerCheck bool

	// Audience lists accepted `aud` values: the token's `aud` must contain
	// at least one of them. Required unless SkipAudienceCheck.
	Audience []string
	// SkipAudienceCheck accepts tokens whatever their `aud`. Only when the
	// issuer mints tokens for no one but you, or CheckClaims checks an
	// equivalent claim (as Cognito access tokens' `client_id`).
	SkipAudienceCheck bool

	// Algorithms is the explicit allow-list of signing algorithms, e.g.
	// []string{"RS256"}. Required. Supported: RS256, RS384, RS512, PS256,
	// PS384, PS512, ES256, ES384, ES512 and EdDSA. "none" and the HMAC
	// algorithms (HS256/384/512) are refused: a shared secret would let
	// this service mint tokens, and HMAC is the algorithm-confusion attack
	// vector.
	Algorithms []string

	// Key source: set exactly one of JWKSURL, JWKSFile, JWKSJSON and Keys.

	// JWKSURL is the address of the issuer's JSON Web Key Set, fetched with
	// MicahParks/keyfunc: once when the authenticator is made (bounded by
	// HTTPTimeout; a failure is logged, not fatal), then every
	// RefreshInterval in the background, and when a token names an unknown
	// `kid` (at most once per UnknownKIDRefreshInterval). It must be https,
	// except on a loopback host (127.0.0.1, ::1, localhost) or with
	// AllowInsecureJWKSURL.
	JWKSURL string
	// JWKSFile is the path of a JSON Web Key Set file, read once by NewJWT.
	JWKSFile string
	// JWKSJSON is a JSON Web Key Set document.
	JWKSJSON []byte
	// Keys maps key ids (`kid`) to public keys: *rsa.PublicKey (at least
	// 2048 bits), *ecdsa.PublicKey (P-256, P-384, P-521) or
	// ed25519.PublicKey. Private keys are refused.
	Keys map[string]crypto.PublicKey

	// HTTPClient fetches JWKSURL. Nil means a client of our own. It is
	// copied, never modified: the copy's Timeout is at most HTTPTimeout and
	// its transport refuses bodies longer than MaxJWKSBytes.
	HTTPClient *http.Client
	// HTTPTimeout bounds every JWKS fetch, including the first one made by
	// NewJWT. Zero means DefaultJWKSHTTPTimeout; at most MaxJWKSHTTPTimeout.
	HTTPTimeout time.Duration
	// RefreshInterval is the background refresh period of JWKSURL. Zero
	// means DefaultJWKSRefreshInterval; at least MinJWKSRefreshInterval.
	RefreshInterval time.Duration
	// UnknownKIDRefreshInterval is the least time between two refreshes
	// triggered by tokens whose `kid` is not in the cached set, so that a
	// flood of made-up key ids cannot make us flood the issuer. Concurrent
	// requests with the same unknown key id wait for the one refresh in
	// flight. Zero means DefaultJWKSUnknownKIDInterval; at least one second.
	UnknownKIDRefreshInterval time.Duration
	// MaxJWKSBytes bounds a JWKS response body. Zero means
	// DefaultMaxJWKSBytes.
	MaxJWKSBytes int64
	// AllowInsecureJWKSURL accepts an http:// JWKSURL on a non-loopback
	// host, e.g. a Keycloak container on a private network. Anyone who can
	// tamper with that traffic can mint tokens.
	AllowInsecureJWKSURL bool

	// Leeway is the clock-skew allowance for `exp`, `nbf` and `iat`. Zero
	// means DefaultJWTLeeway; at most MaxJWTLeeway. There is no way to ask
	// for no leeway at all: use a small value such as time.Second.
	Leeway time.Duration
	// SubjectClaim names the claim that becomes Identity.Subject. Default
	// "sub". A missing, empty or non-string subject makes the token invalid.
	SubjectClaim string
	// GroupsClaim names the claim that becomes Identity.Groups. Default
	// "groups". A dotted path such as "realm_access.roles" reaches into
	// nested objects when no top-level claim has that exact name (so
	// namespaced claims like "https://example.com/roles" work too). The
	// value may be a JSON array of strings or a single string; a missing or
	// null claim means no groups, any other type makes the token invalid.
	GroupsClaim string
	// MaxTokenBytes bounds the bearer token. Zero means
	// DefaultMaxTokenBytes; at most MaxMaxTokenBytes.
	MaxTokenBytes int

	// CheckClaims, if set, is called with the verified claims after every
	// other check passed; an error makes the token invalid (code
	// "bad_claims"). It must not modify the map.
	CheckClaims func(claims map[string]any) error

	// Context bounds the first JWKS fetch made by NewJWT (together with
	// HTTPTimeout) and the background refresh: cancelling it stops the
	// refresh like Close does. Nil means context.Background().
	Context context.Context
	// Logger receives JWKS refresh failures. Nil means slog.Default().
	// Tokens are never logged.
	Logger *slog.Logger
	// Now is the clock used to check `exp`, `nbf` and `iat`. Nil means
	// time.Now. For tests.
	Now func() time.Time
}

// TokenErrorCode classifies why a bearer token was refused.
type TokenErrorCode string

// Codes of TokenError. They are stable and safe to show to clients.
const (
	// TokenMalformed: not a compact JWS (segments, base64, JSON, size,
	// duplicate Authorization headers, a `crit` header).
	TokenMalformed TokenErrorCode = "malformed"
	// TokenBadAlgorithm: `alg` missing, "none", not in the allow-list, or
	// not matching the key.
	TokenBadAlgorithm TokenErrorCode = "bad_algorithm"
	// TokenUnknownKey: `kid` missing, not a string, or naming no known key.
	TokenUnknownKey TokenErrorCode = "unknown_key"
	// TokenBadSignature: the signature does not verify.
	TokenBadSignature TokenErrorCode = "bad_signature"
	// TokenExpired: `exp` has passed (beyond the leeway).
	TokenExpired TokenErrorCode = "expired"
	// TokenNotYetValid: `nbf` or `iat` is in the future (beyond the leeway).
	TokenNotYetValid TokenErrorCode = "not_yet_valid"
	// TokenBadIssuer: `iss` missing or not the configured issuer.
	TokenBadIssuer TokenErrorCode = "bad_issuer"
	// TokenBadAudience: `aud` (or Cognito's `client_id`) missing or not
	// accepted.
	TokenBadAudience TokenErrorCode = "bad_audience"
	// TokenBadTokenUse: Cognito `token_use` is not the configured one.
	TokenBadTokenUse TokenErrorCode = "bad_token_use"
	// TokenBadClaims: a required claim is missing or of the wrong type
	// (`exp`, the subject, the groups), or CheckClaims refused the token.
	TokenBadClaims TokenErrorCode = "bad_claims"
)

// TokenError is the error a JWT authenticator returns for a bearer token
// that does not verify. It wraps ErrInvalidCredentials (errors.Is) and the
// underlying cause. Its message never contains the token.
type TokenError struct {
	// Code says what is wrong.
	Code TokenErrorCode
	// Err is the cause, for logs; it does not contain the token either.
	Err error
}

// Error returns "tvm: invalid credentials: jwt <code>".
func (e *TokenError) Error() string {
	return ErrInvalidCredentials.Error() + ": jwt " + string(e.Code)
}

// Unwrap returns ErrInvalidCredentials and the cause.
func (e *TokenError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidCredentials}
	}
	return []error{ErrInvalidCredentials, e.Err}
}

func tokenErr(code TokenErrorCode, err error) *TokenError {
	return &TokenError{Code: code, Err: err}
}

// Causes of token errors that the libraries do not name. Their text never
// holds attacker-controlled input.
var (
	errJWTTooLong          = errors.New("bearer token longer than the limit")
	errJWTDuplicateHeader  = errors.New("more than one Authorization header")
	errJWTBadBearer        = errors.New("the Authorization header is not `Bearer <token>`")
	errJWTBadCharacters    = errors.New("bearer token has characters outside base64url and '.'")
	errJWTSegments         = errors.New("bearer token does not have exactly three segments")
	errJWTCrit             = errors.New("token has a crit header")
	errJWTAlgNotAllowed    = errors.New("token alg is not in the allow-list")
	errJWTKeyAlgMismatch   = errors.New("key cannot verify the token's alg")
	errJWTNoKID            = errors.New("token has no string kid")
	errJWTUnknownKID       = errors.New("no key with the token's kid")
	errJWTIssuer           = errors.New("token iss is not the configured issuer")
	errJWTSubject          = errors.New("token subject claim is missing, empty or not a string")
	errJWTGroups           = errors.New("token groups claim is neither a string nor an array of strings")
	errJWTExpMissing       = errors.New("token has no valid exp")
	errJWTAudience         = errors.New("token aud is missing or not accepted")
	errJWTKeysUnavailable  = errors.New("key source unavailable")
	errJWTAuthenticatorEnd = errors.New("authenticator closed")
)

// JWTAuthenticator verifies `Authorization: Bearer <jwt>` requests (see
// JWTConfig). It is safe for concurrent use. Call Close when you no longer
// need it to stop the background JWKS refresh.
type JWTAuthenticator struct {
	cfgErr error // non-nil: refuse everything (made by JWT or Cognito)

	method       string
	issuers      []string // empty: no issuer check
	parser       *jwt.Parser
	algs         []string
	keys         keySource
	subjectClaim string
	groupsClaim  string
	maxToken     int
	checks       []func(claims map[string]any) error

	closeOnce sync.Once
	closed    atomic.Bool
}

// JWT returns a JWT bearer-token Authenticator. It never returns nil: when
// cfg is invalid, the authenticator refuses every request with an error
// wrapping ErrInvalidConfig, and its Validate method returns the
// configuration errors (NewHandler calls it and fails closed). Prefer NewJWT
// where you can handle the error.
func JWT(cfg JWTConfig) Authenticator {
	a, err := NewJWT(cfg)
	if err != nil {
		return &JWTAuthenticator{cfgErr: err}
	}
	return a
}

// NewJWT returns a JWT bearer-token authenticator, or the configuration
// errors (each a *ConfigError naming the field, joined with errors.Join,
// all wrapping ErrInvalidConfig).
//
// With JWTConfig.JWKSURL it fetches the key set once before returning,
// bounded by cfg.HTTPTimeout and cfg.Context. A failed first fetch is logged
// and not an error: the keys are fetched again when the first token arrives
// (as for any unknown key id) and by the background refresh, so a service
// can start while its identity provider is briefly unreachable.
func NewJWT(cfg JWTConfig) (*JWTAuthenticator, error) {
	return newJWT(cfg, "JWTConfig", MethodJWT, nil)
}

// newJWT builds an authenticator; prefix names the configuration struct in
// errors, extraIssuers are also accepted as `iss`.
func newJWT(cfg JWTConfig, prefix, method string, extraIssuers []string) (*JWTAuthenticator, error) {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &ConfigError{Field: prefix + "." + field, Problem: problem})
	}

	a := &JWTAuthenticator{method: method}

	switch {
	case cfg.SkipIssuerCheck && cfg.Issuer != "":
		bad("Issuer", "set together with SkipIssuerCheck")
	case cfg.SkipIssuerCheck:
	case cfg.Issuer == "":
		bad("Issuer", "required (or set SkipIssuerCheck)")
	default:
		a.issuers = append([]string{cfg.Issuer}, extraIssuers...)
	}

	switch {
	case cfg.SkipAudienceCheck && len(cfg.Audience) > 0:
		bad("Audience", "set together with SkipAudienceCheck")
	case cfg.SkipAudienceCheck:
	case len(cfg.Audience) == 0:
		bad("Audience", "required (or set SkipAudienceCheck)")
	case slices.Contains(cfg.Audience, ""):
		bad("Audience", "contains an empty string")
	}

	if len(cfg.Algorithms) == 0 {
		bad("Algorithms", "required: list the signing algorithms your issuer uses, e.g. RS256")
	}
	for _, alg := range cfg.Algorithms {
		if !jwtSupportedAlg(alg) {
			if alg == "none" || strings.HasPrefix(strings.ToUpper(alg), "HS") {
				bad("Algorithms", fmt.Sprintf("%q is refused: only asymmetric signatures (RS*, PS*, ES*, EdDSA) are accepted", alg))
			} else {
				bad("Algorithms", fmt.Sprintf("%q is not a supported algorithm", alg))
			}
			continue
		}
		if !slices.Contains(a.algs, alg) {
			a.algs = append(a.algs, alg)
		}
	}

	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultJWTLeeway
	case leeway < 0:
		bad("Leeway", "negative")
	case leeway > MaxJWTLeeway:
		bad("Leeway", fmt.Sprintf("more than %s", MaxJWTLeeway))
	}

	a.subjectClaim = cfg.SubjectClaim
	if a.subjectClaim == "" {
		a.subjectClaim = "sub"
	} else if p := jwtClaimPathProblem(a.subjectClaim); p != "" {
		bad("SubjectClaim", p)
	}
	a.groupsClaim = cfg.GroupsClaim
	if a.groupsClaim == "" {
		a.groupsClaim = "groups"
	} else if p := jwtClaimPathProblem(a.groupsClaim); p != "" {
		bad("GroupsClaim", p)
	}

	a.maxToken = cfg.MaxTokenBytes
	switch {
	case a.maxToken == 0:
		a.maxToken = DefaultMaxTokenBytes
	case a.maxToken < 0:
		bad("MaxTokenBytes", "negative")
	case a.maxToken > MaxMaxTokenBytes:
		bad("MaxTokenBytes", fmt.Sprintf("more than %d", MaxMaxTokenBytes))
	}

	if cfg.CheckClaims != nil {
		a.checks = append(a.checks, cfg.CheckClaims)
	}

	sources := 0
	for _, set := range []bool{cfg.JWKSURL != "", cfg.JWKSFile != "", cfg.JWKSJSON != nil, cfg.Keys != nil} {
		if set {
			sources++
		}
	}
	switch sources {
	case 0:
		bad("JWKSURL", "a key source is required: set one of JWKSURL, JWKSFile, JWKSJSON or Keys")
	case 1:
	default:
		bad("JWKSURL", "set only one of JWKSURL, JWKSFile, JWKSJSON and Keys")
	}
	remote := remoteJWKSOptions{
		url:         cfg.JWKSURL,
		client:      cfg.HTTPClient,
		timeout:     cfg.HTTPTimeout,
		refresh:     cfg.RefreshInterval,
		unknownKID:  cfg.UnknownKIDRefreshInterval,
		maxBytes:    cfg.MaxJWKSBytes,
		ctx:         cfg.Context,
		logger:      cfg.Logger,
		allowHTTP:   cfg.AllowInsecureJWKSURL,
		fieldPrefix: prefix,
	}
	if cfg.JWKSURL != "" {
		errs = append(errs, remote.check()...)
	}

	// Build the key source only when the rest is valid, so an invalid
	// configuration never starts a background refresh.
	if len(errs) == 0 && sources == 1 {
		var (
			ks  keySource
			err error
		)
		switch {
		case cfg.Keys != nil:
			ks, err = newStaticKeys(cfg.Keys, a.algs)
			if err != nil {
				bad("Keys", err.Error())
			}
		case cfg.JWKSJSON != nil:
			ks, err = newStaticJWKS(cfg.JWKSJSON)
			if err != nil {
				bad("JWKSJSON", err.Error())
			}
		case cfg.JWKSFile != "":
			ks, err = newJWKSFile(cfg.JWKSFile)
			if err != nil {
				bad("JWKSFile", err.Error())
			}
		default:
			ks, err = newRemoteJWKS(remote)
			if err != nil {
				bad("JWKSURL", err.Error())
			}
		}
		a.keys = ks
	}
	if len(errs) > 0 {
		if a.keys != nil {
			a.keys.close()
		}
		return nil, errors.Join(errs...)
	}

	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	}
	if !cfg.SkipAudienceCheck {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// Validate returns nil, or the configuration errors of an authenticator
// made by JWT or Cognito from an invalid configuration (wrapping
// ErrInvalidConfig).
func (a *JWTAuthenticator) Validate() error { return a.cfgErr }

// Challenge returns "Bearer", the WWW-Authenticate challenge of 401
// responses.
func (a *JWTAuthenticator) Challenge() string { return "Bearer" }

// Close stops the background JWKS refresh and releases idle connections.
// Every token is refused after Close (code "unknown_key"), so that keys that
// are no longer refreshed are never trusted. Close is idempotent and always
// returns nil.
func (a *JWTAuthenticator) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		if a.keys != nil {
			a.keys.close()
		}
	})
	return nil
}

// Authenticate verifies the request's bearer token. It returns an error
// wrapping ErrNoCredentials when the request has no Authorization header,
// an empty one, or one with another scheme (such as Basic); a *TokenError
// (wrapping ErrInvalidCredentials) for a bearer token that does not verify;
// and an error wrapping ErrInvalidConfig when the authenticator was made
// from an invalid configuration.
func (a *JWTAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	if a.cfgErr != nil {
		return Identity{}, fmt.Errorf("tvm: jwt authenticator refuses every request: %w", a.cfgErr)
	}
	raw, err := jwtBearer(r.Header, a.maxToken)
	if err != nil {
		return Identity{}, err
	}
	return a.verify(r.Context(), raw)
}

// VerifyToken verifies a raw JWT (without the "Bearer " prefix), for
// transports other than the Authorization header. It returns the same
// identities and errors as Authenticate.
func (a *JWTAuthenticator) VerifyToken(ctx context.Context, token string) (Identity, error) {
	if a.cfgErr != nil {
		return Identity{}, fmt.Errorf("tvm: jwt authenticator refuses every request: %w", a.cfgErr)
	}
	if token == "" {
		return Identity{}, fmt.Errorf("%w: empty token", ErrNoCredentials)
	}
	if err := jwtCheckShape(token, a.maxToken); err != nil {
		return Identity{}, err
	}
	return a.verify(ctx, token)
}

// jwtBearer extracts the bearer token from the Authorization header.
func jwtBearer(h http.Header, maxToken int) (string, error) {
	vals := h.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("%w: no Authorization header", ErrNoCredentials)
	case 1:
	default:
		return "", tokenErr(TokenMalformed, errJWTDuplicateHeader)
	}
	// Optional whitespace around a field value is not part of it (RFC 9110
	// section 5.5); net/http already strips it from requests it parses.
	v := strings.Trim(vals[0], " \t")
	if v == "" {
		return "", fmt.Errorf("%w: empty Authorization header", ErrNoCredentials)
	}
	const scheme = "Bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", fmt.Errorf("%w: Authorization header is not a Bearer credential", ErrNoCredentials)
	}
	rest := v[len(scheme):]
	if len(rest) < 2 || rest[0] != ' ' {
		// "Bearer", "Bearer ", "Bearer\t...", "Bearerx...".
		return "", tokenErr(TokenMalformed, errJWTBadBearer)
	}
	token := rest[1:]
	if err := jwtCheckShape(token, maxToken); err != nil {
		return "", err
	}
	return token, nil
}

// jwtCheckShape refuses, before any decoding, a token that is too long,
// holds characters outside base64url and '.', or does not have exactly
// three segments.
func jwtCheckShape(token string, maxToken int) error {
	if len(token) > maxToken {
		return tokenErr(TokenMalformed, errJWTTooLong)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
			if dots > 2 {
				return tokenErr(TokenMalformed, errJWTSegments)
			}
		default:
			return tokenErr(TokenMalformed, errJWTBadCharacters)
		}
	}
	if dots != 2 {
		return tokenErr(TokenMalformed, errJWTSegments)
	}
	return nil
}

// jwtKeyState records what the key function saw, to classify parse errors.
type jwtKeyState struct {
	called bool
}

func (a *JWTAuthenticator) verify(ctx context.Context, raw string) (Identity, error) {
	if a.keys == nil || a.parser == nil {
		return Identity{}, tokenErr(TokenUnknownKey, errJWTKeysUnavailable)
	}
	if a.closed.Load() {
		return Identity{}, tokenErr(TokenUnknownKey, errJWTAuthenticatorEnd)
	}
	var st jwtKeyState
	claims := jwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		st.called = true
		return a.keyFor(ctx, t)
	})
	if err != nil {
		return Identity{}, jwtClassify(err, &st, claims)
	}

	if len(a.issuers) > 0 {
		iss, ok := claims["iss"].(string)
		if !ok || !slices.Contains(a.issuers, iss) {
			return Identity{}, tokenErr(TokenBadIssuer, errJWTIssuer)
		}
	}
	sub, ok := jwtLookupClaim(claims, a.subjectClaim).(string)
	if !ok || sub == "" {
		return Identity{}, tokenErr(TokenBadClaims, errJWTSubject)
	}
	groups, err := jwtGroups(jwtLookupClaim(claims, a.groupsClaim))
	if err != nil {
		return Identity{}, tokenErr(TokenBadClaims, err)
	}
	for _, check := range a.checks {
		if err := check(claims); err != nil {
			var te *TokenError
			if errors.As(err, &te) {
				return Identity{}, te
			}
			return Identity{}, tokenErr(TokenBadClaims, err)
		}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil || exp.Year() > 9999 {
		// The parser requires exp; an absurd one (which converts to a
		// platform-dependent time) is refused here.
		return Identity{}, tokenErr(TokenBadClaims, errJWTExpMissing)
	}
	return Identity{
		Subject:   sub,
		Groups:    groups,
		Claims:    claims,
		ExpiresAt: exp.Time,
		Method:    a.method,
	}, nil
}

// keyFor is the jwt.Keyfunc: it checks the header and returns the key named
// by `kid`, refusing a key that cannot verify the token's `alg`.
func (a *JWTAuthenticator) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	if !slices.Contains(a.algs, alg) { // the parser checked already; belt and braces
		return nil, errJWTAlgNotAllowed
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errJWTCrit
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errJWTNoKID
	}
	key, err := a.keys.lookup(ctx, t, kid)
	if err != nil {
		return nil, err
	}
	if !jwtKeyFitsAlg(key, alg) {
		return nil, errJWTKeyAlgMismatch
	}
	return key, nil
}

// jwtClassify maps a golang-jwt error to a TokenError.
func jwtClassify(err error, st *jwtKeyState, claims jwt.MapClaims) *TokenError {
	switch {
	case errors.Is(err, errJWTCrit):
		return tokenErr(TokenMalformed, err)
	case errors.Is(err, errJWTAlgNotAllowed), errors.Is(err, errJWTKeyAlgMismatch):
		return tokenErr(TokenBadAlgorithm, err)
	case errors.Is(err, errJWTNoKID), errors.Is(err, errJWTUnknownKID), errors.Is(err, errJWTKeysUnavailable),
		errors.Is(err, errJWTAuthenticatorEnd):
		return tokenErr(TokenUnknownKey, err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return tokenErr(TokenMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or unknown to golang-jwt, or another key lookup failure.
		if st.called {
			return tokenErr(TokenUnknownKey, err)
		}
		return tokenErr(TokenBadAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if !st.called { // refused by WithValidMethods before any key lookup
			return tokenErr(TokenBadAlgorithm, err)
		}
		return tokenErr(TokenBadSignature, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return tokenErr(TokenExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return tokenErr(TokenNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return tokenErr(TokenBadAudience, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if exp, e := claims.GetExpirationTime(); e != nil || exp == nil {
			return tokenErr(TokenBadClaims, errors.Join(errJWTExpMissing, err))
		}
		return tokenErr(TokenBadAudience, errors.Join(errJWTAudience, err))
	default:
		return tokenErr(TokenBadClaims, err)
	}
}

// jwtLookupClaim returns the claim named path: the top-level claim of that
// exact name if there is one, else the value reached by following the
// dot-separated path through nested objects. Nil when absent.
func jwtLookupClaim(claims map[string]any, path string) any {
	if v, ok := claims[path]; ok {
		return v
	}
	if !strings.Contains(path, ".") {
		return nil
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// jwtGroups converts a groups claim value.
func jwtGroups(v any) ([]string, error) {
	switch g := v.(type) {
	case nil:
		return nil, nil
	case string:
		if g == "" {
			return nil, errJWTGroups
		}
		return []string{g}, nil
	case []any:
		out := make([]string, 0, len(g))
		for _, e := range g {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, errJWTGroups
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, errJWTGroups
	}
}

// jwtClaimPathProblem says what is wrong with a SubjectClaim or GroupsClaim.
func jwtClaimPathProblem(p string) string {
	if strings.TrimSpace(p) != p {
		return "has leading or trailing spaces"
	}
	for part := range strings.SplitSeq(p, ".") {
		if part == "" {
			return "has an empty path segment"
		}
	}
	return ""
}

// jwtSupportedAlg reports whether alg may appear in JWTConfig.Algorithms.
func jwtSupportedAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}
