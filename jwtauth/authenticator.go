package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
)

// Identity.Method values.
const (
	methodJWT     = "jwt"
	methodCognito = "cognito"
)

// Authenticator verifies `Authorization: Bearer <jwt>` requests (see Config
// and CognitoConfig). Make one with New or NewCognito; the zero value
// refuses every token. It is safe for concurrent use. Call Close when you
// no longer need it, to stop the background JWKS refresh.
type Authenticator struct {
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

// New returns a JWT bearer-token authenticator whose identities have
// Method "jwt", or the configuration errors: one *tvm.ConfigError per
// problem, naming the field ("Config.Issuer", ...), joined with errors.Join,
// all wrapping tvm.ErrInvalidConfig. A configuration error never starts any
// background work.
//
// With Config.JWKSURL it fetches the key set once before returning, bounded
// by cfg.HTTPTimeout and cfg.Context. A failed first fetch is logged and
// not an error: the keys are fetched again when the first token arrives (as
// for any unknown key id) and by the background refresh, so a service can
// start while its identity provider is briefly unreachable.
func New(cfg Config) (*Authenticator, error) {
	return newAuthenticator(cfg, "Config", methodJWT, nil)
}

// newAuthenticator builds an authenticator; prefix names the configuration
// struct in errors, extraIssuers are also accepted as `iss`.
func newAuthenticator(cfg Config, prefix, method string, extraIssuers []string) (*Authenticator, error) {
	s, errs := cfg.check(prefix, extraIssuers)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// The key source is built only when the rest is valid, so an invalid
	// configuration never starts a background refresh.
	keys, field, err := newKeySource(&cfg, s.algs, s.remote)
	if err != nil {
		return nil, errors.Join(&tvm.ConfigError{Field: prefix + "." + field, Problem: err.Error()})
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(s.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	}
	if len(s.audience) > 0 {
		opts = append(opts, jwt.WithAudience(s.audience...))
	}
	return &Authenticator{
		method:       method,
		issuers:      s.issuers,
		parser:       jwt.NewParser(opts...),
		algs:         s.algs,
		keys:         keys,
		subjectClaim: s.subjectClaim,
		groupsClaim:  s.groupsClaim,
		maxToken:     s.maxToken,
		checks:       s.checks,
	}, nil
}

// Challenge returns "Bearer", the WWW-Authenticate challenge of 401
// responses.
func (a *Authenticator) Challenge() string { return "Bearer" }

// Close stops the background JWKS refresh and releases idle connections.
// After Close, Authenticate and VerifyToken return an error wrapping
// tvm.ErrClosed (a programming error, answered with 500, not 401), so keys
// that are no longer refreshed are never trusted. Close is idempotent and
// always returns nil.
func (a *Authenticator) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		if a.keys != nil {
			a.keys.close()
		}
	})
	return nil
}

// Authenticate verifies the request's bearer token. It returns an error
// wrapping tvm.ErrNoCredentials when the request has no Authorization
// header, an empty one, or one with another scheme (such as Basic); a
// *TokenError (wrapping tvm.ErrInvalidCredentials) for a bearer token that
// does not verify; and an error wrapping tvm.ErrClosed after Close.
func (a *Authenticator) Authenticate(r *http.Request) (tvm.Identity, error) {
	if a.closed.Load() {
		return tvm.Identity{}, errClosed
	}
	raw, err := bearer(r.Header, a.maxToken)
	if err != nil {
		return tvm.Identity{}, err
	}
	return a.verify(r.Context(), raw)
}

// VerifyToken verifies a raw JWT (without the "Bearer " prefix), for
// transports other than the Authorization header. It returns the same
// identities and errors as Authenticate; an empty token is an error
// wrapping tvm.ErrNoCredentials.
func (a *Authenticator) VerifyToken(ctx context.Context, token string) (tvm.Identity, error) {
	if a.closed.Load() {
		return tvm.Identity{}, errClosed
	}
	if token == "" {
		return tvm.Identity{}, fmt.Errorf("%w: empty token", tvm.ErrNoCredentials)
	}
	if err := checkShape(token, a.maxToken); err != nil {
		return tvm.Identity{}, err
	}
	return a.verify(ctx, token)
}

// verify checks a token of the right shape: signature, time claims and
// audience (golang-jwt), then the other claims (identity).
func (a *Authenticator) verify(ctx context.Context, raw string) (tvm.Identity, error) {
	if a.keys == nil || a.parser == nil {
		return tvm.Identity{}, tokenErr(TokenUnknownKey, errKeysUnavailable)
	}
	var st keyState
	claims := jwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		st.called = true
		return a.keyFor(ctx, t)
	})
	if err != nil {
		return tvm.Identity{}, classify(err, &st, claims)
	}
	return a.identity(claims)
}

// keyFor is the jwt.Keyfunc: it checks the header and returns the key named
// by `kid`, refusing a key that cannot verify the token's `alg`.
func (a *Authenticator) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	if !slices.Contains(a.algs, alg) { // the parser checked already; belt and braces
		return nil, errAlgNotAllowed
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errNoKID
	}
	key, err := a.keys.lookup(ctx, t, kid)
	if err != nil {
		return nil, err
	}
	if !keyFitsAlg(key, alg) {
		return nil, errKeyAlgMismatch
	}
	return key, nil
}
