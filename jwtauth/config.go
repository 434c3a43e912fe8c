package jwtauth

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tvmgo/tvm"
)

// Defaults and bounds of Config, stated in the field comments.
const (
	defaultLeeway             = 30 * time.Second
	maxLeeway                 = 5 * time.Minute
	defaultMaxTokenBytes      = 8 << 10
	maxMaxTokenBytes          = 64 << 10
	defaultHTTPTimeout        = 10 * time.Second
	maxHTTPTimeout            = time.Minute
	defaultRefreshInterval    = time.Hour
	minRefreshInterval        = time.Second
	defaultUnknownKIDInterval = 10 * time.Second
	minUnknownKIDInterval     = time.Second
	defaultMaxJWKSBytes       = 1 << 20
)

// Config configures a JWT bearer-token authenticator (see New). The zero
// value is not usable: Issuer, Audience, Algorithms and exactly one key
// source are required, and every problem is reported as a *tvm.ConfigError
// whose Field starts with "Config.".
//
// The authenticator reads `Authorization: Bearer <jwt>` only (the scheme is
// matched case-insensitively, as RFC 7235 says, followed by exactly one
// space), verifies the signature with a key chosen by the token's `kid`,
// then checks `exp` (always required), `nbf` and `iat` (never in the future)
// with Leeway, `iss`, `aud`, the subject and the groups claim. The `jku`,
// `x5u`, `jwk` and `x5c` header parameters are ignored: keys come only from
// the configured source. Tokens without a `kid`, with a `crit` header, or
// signed with an algorithm outside Algorithms are refused.
type Config struct {
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
	// MicahParks/keyfunc: once by New (bounded by HTTPTimeout; a failure is
	// logged, not fatal), then every RefreshInterval in the background, and
	// when a token names an unknown `kid` (at most once per
	// UnknownKIDRefreshInterval). It must be https, except on a loopback
	// host (127.0.0.1, ::1, localhost) or with AllowInsecureJWKSURL, and
	// must not contain credentials. Keys whose `use` is not "sig" are
	// skipped.
	JWKSURL string
	// JWKSFile is the path of a JSON Web Key Set file of at most 1 MiB,
	// read once by New. Every key must have a `kid` and be usable.
	JWKSFile string
	// JWKSJSON is a JSON Web Key Set document. Every key must have a `kid`
	// and be usable.
	JWKSJSON []byte
	// Keys maps key ids (`kid`) to public keys: *rsa.PublicKey (at least
	// 2048 bits), *ecdsa.PublicKey (P-256, P-384, P-521) or
	// ed25519.PublicKey. Private and symmetric keys are refused, and so is
	// a key that can verify none of Algorithms.
	Keys map[string]crypto.PublicKey

	// HTTPClient fetches JWKSURL. Nil means a client of our own. It is
	// copied, never modified: the copy's Timeout is at most HTTPTimeout and
	// its transport refuses bodies longer than MaxJWKSBytes.
	HTTPClient *http.Client
	// HTTPTimeout bounds every JWKS fetch, including the first one made by
	// New. Zero means 10s; at most 1m.
	HTTPTimeout time.Duration
	// RefreshInterval is the background refresh period of JWKSURL. Zero
	// means 1h; at least 1s.
	RefreshInterval time.Duration
	// UnknownKIDRefreshInterval is the least time between two refreshes
	// triggered by tokens whose `kid` is not in the cached set, so that a
	// flood of made-up key ids cannot make us flood the issuer. Concurrent
	// requests with the same unknown key id wait for the one refresh in
	// flight. Zero means 10s; at least 1s.
	UnknownKIDRefreshInterval time.Duration
	// MaxJWKSBytes bounds a JWKS response body. Zero means 1 MiB.
	MaxJWKSBytes int64
	// AllowInsecureJWKSURL accepts an http:// JWKSURL on a non-loopback
	// host, e.g. a Keycloak container on a private network. Anyone who can
	// tamper with that traffic can mint tokens.
	AllowInsecureJWKSURL bool

	// Leeway is the clock-skew allowance for `exp`, `nbf` and `iat`. Zero
	// means 30s; at most 5m. There is no way to ask for no leeway at all:
	// use a small value such as time.Second.
	Leeway time.Duration
	// SubjectClaim names the claim that becomes Identity.Subject. Default
	// "sub". A missing, empty or non-string subject makes the token
	// invalid. Dotted paths work as for GroupsClaim.
	SubjectClaim string
	// GroupsClaim names the claim that becomes Identity.Groups. Default
	// "groups". A dotted path such as "realm_access.roles" reaches into
	// nested objects when no top-level claim has that exact name (so
	// namespaced claims like "https://example.com/roles" work too). The
	// value may be a JSON array of strings or a single string; a missing or
	// null claim means no groups, any other type makes the token invalid.
	GroupsClaim string
	// MaxTokenBytes bounds the bearer token; longer tokens are refused
	// before any parsing. Zero means 8 KiB (8192); at most 64 KiB.
	MaxTokenBytes int

	// CheckClaims, if set, is called with the verified claims after every
	// other check passed; an error makes the token invalid (code
	// "bad_claims", or the code of a *TokenError it returns). It must not
	// modify the map.
	CheckClaims func(claims map[string]any) error

	// Context bounds the first JWKS fetch made by New (together with
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

// settings are a checked Config with the defaults filled in.
type settings struct {
	issuers      []string // empty: no issuer check
	audience     []string // empty: no audience check
	algs         []string
	leeway       time.Duration
	subjectClaim string
	groupsClaim  string
	maxToken     int
	checks       []func(claims map[string]any) error
	now          func() time.Time
	remote       remoteOptions // used when JWKSURL is set
}

// check validates cfg, whose fields are named prefix+"."+name in errors;
// extraIssuers are accepted as `iss` besides cfg.Issuer. It returns one
// *tvm.ConfigError per problem. Key sources other than JWKSURL are checked
// when they are built (newKeySource).
func (cfg *Config) check(prefix string, extraIssuers []string) (settings, []error) {
	p := problems{prefix: prefix}
	var s settings

	switch {
	case cfg.SkipIssuerCheck && cfg.Issuer != "":
		p.add("Issuer", "set together with SkipIssuerCheck")
	case cfg.SkipIssuerCheck:
	case cfg.Issuer == "":
		p.add("Issuer", "required (or set SkipIssuerCheck)")
	default:
		s.issuers = append([]string{cfg.Issuer}, extraIssuers...)
	}

	switch {
	case cfg.SkipAudienceCheck && len(cfg.Audience) > 0:
		p.add("Audience", "set together with SkipAudienceCheck")
	case cfg.SkipAudienceCheck:
	case len(cfg.Audience) == 0:
		p.add("Audience", "required (or set SkipAudienceCheck)")
	case slices.Contains(cfg.Audience, ""):
		p.add("Audience", "contains an empty string")
	default:
		s.audience = slices.Clone(cfg.Audience)
	}

	if len(cfg.Algorithms) == 0 {
		p.add("Algorithms", "required: list the signing algorithms your issuer uses, e.g. RS256")
	}
	for _, alg := range cfg.Algorithms {
		if !supportedAlg(alg) {
			if alg == "none" || strings.HasPrefix(strings.ToUpper(alg), "HS") {
				p.add("Algorithms", fmt.Sprintf("%q is refused: only asymmetric signatures (RS*, PS*, ES*, EdDSA) are accepted", alg))
			} else {
				p.add("Algorithms", fmt.Sprintf("%q is not a supported algorithm", alg))
			}
			continue
		}
		if !slices.Contains(s.algs, alg) {
			s.algs = append(s.algs, alg)
		}
	}

	s.leeway = cfg.Leeway
	switch {
	case s.leeway == 0:
		s.leeway = defaultLeeway
	case s.leeway < 0:
		p.add("Leeway", "negative")
	case s.leeway > maxLeeway:
		p.add("Leeway", fmt.Sprintf("more than %s", maxLeeway))
	}

	s.subjectClaim = cfg.SubjectClaim
	if s.subjectClaim == "" {
		s.subjectClaim = "sub"
	} else if pr := claimPathProblem(s.subjectClaim); pr != "" {
		p.add("SubjectClaim", pr)
	}
	s.groupsClaim = cfg.GroupsClaim
	if s.groupsClaim == "" {
		s.groupsClaim = "groups"
	} else if pr := claimPathProblem(s.groupsClaim); pr != "" {
		p.add("GroupsClaim", pr)
	}

	s.maxToken = cfg.MaxTokenBytes
	switch {
	case s.maxToken == 0:
		s.maxToken = defaultMaxTokenBytes
	case s.maxToken < 0:
		p.add("MaxTokenBytes", "negative")
	case s.maxToken > maxMaxTokenBytes:
		p.add("MaxTokenBytes", fmt.Sprintf("more than %d", maxMaxTokenBytes))
	}

	if cfg.CheckClaims != nil {
		s.checks = append(s.checks, cfg.CheckClaims)
	}
	s.now = cfg.Now
	if s.now == nil {
		s.now = time.Now
	}

	sources := 0
	for _, set := range []bool{cfg.JWKSURL != "", cfg.JWKSFile != "", cfg.JWKSJSON != nil, cfg.Keys != nil} {
		if set {
			sources++
		}
	}
	switch sources {
	case 0:
		p.add("JWKSURL", "a key source is required: set one of JWKSURL, JWKSFile, JWKSJSON or Keys")
	case 1:
	default:
		p.add("JWKSURL", "set only one of JWKSURL, JWKSFile, JWKSJSON and Keys")
	}
	s.remote = remoteOptions{
		url:        cfg.JWKSURL,
		client:     cfg.HTTPClient,
		timeout:    cfg.HTTPTimeout,
		refresh:    cfg.RefreshInterval,
		unknownKID: cfg.UnknownKIDRefreshInterval,
		maxBytes:   cfg.MaxJWKSBytes,
		ctx:        cfg.Context,
		logger:     cfg.Logger,
		allowHTTP:  cfg.AllowInsecureJWKSURL,
	}
	if cfg.JWKSURL != "" {
		s.remote.check(&p)
	}
	return s, p.errs
}

// problems collects the *tvm.ConfigError values of one configuration
// struct, whose name is prefix ("Config", "CognitoConfig").
type problems struct {
	prefix string
	errs   []error
}

// add records that field (a name inside the struct) has problem.
func (p *problems) add(field, problem string) {
	p.errs = append(p.errs, &tvm.ConfigError{Field: p.prefix + "." + field, Problem: problem})
}
