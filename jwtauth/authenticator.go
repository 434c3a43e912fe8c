package jwtauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
)

// Authenticator verifies `Authorization: Bearer <jwt>` requests (see
// Config). Make one with New; the zero value refuses every token. It is
// safe for concurrent use. Call Close when you no longer need it, to stop
// the background discovery and key refresh.
//
// Identities returned for a token seen before (the cache of verified
// tokens, Config.CacheSize) share their Groups and Claims with the earlier
// ones: treat them as read-only, as tvm's handler and resolvers do.
type Authenticator struct {
	issuers  []*issuer
	byIss    map[string]*issuer
	maxToken int
	now      func() time.Time
	cache    *verifiedCache // nil: none

	closeOnce sync.Once
	closed    atomic.Bool
}

// issuer is one built Issuer.
type issuer struct {
	name       string // Identity.Method
	accepted   []string
	audience   []string
	allowNoAud bool
	parser     *jwt.Parser
	algs       []string
	keys       keySource
	hmac       bool
	hmacKID    string
	subject    claimPath
	groups     []claimPath
	required   []requiredClaim
	checks     []func(claims map[string]any) error
	preset     func(claims map[string]any) error
	outlive    time.Duration
	tenants    map[string]string
}

// New returns a JWT bearer-token authenticator, or the configuration
// errors: one *tvm.ConfigError per problem, naming the field
// ("Config.Issuers[0].Audience", ...), joined with errors.Join, all
// wrapping tvm.ErrInvalidConfig. A configuration error never starts any
// background work.
//
// For each issuer with a JWKSURL (or a preset's key set) New fetches the
// key set once before returning, and for each issuer without a key source
// it runs discovery once, all concurrently and bounded by
// Config.HTTPTimeout and Config.Context. A failure is logged and not an
// error: key sets are fetched again when a token names an unknown key id
// and by the background refresh, and discovery is retried in the
// background, so that a service can start while its identity provider is
// unreachable; meanwhile that issuer's tokens get an error wrapping
// tvm.ErrUpstreamUnavailable. With a Config.Context that is already done,
// no request is made.
func New(cfg Config) (*Authenticator, error) {
	s, errs := cfg.check()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Key sources are built only when the whole configuration is valid, so
	// that an invalid one never starts background work.
	a := &Authenticator{byIss: map[string]*issuer{}, maxToken: s.maxToken, now: s.now}
	keys := make([]keySource, len(s.issuers))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range s.issuers {
		pl := &s.issuers[i]
		fail := func(field string, err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, &tvm.ConfigError{Field: pl.field + "." + field, Problem: err.Error()})
		}
		switch pl.source {
		case srcURL:
			wg.Go(func() {
				ks, err := newRemoteJWKS(pl.name, pl.jwksURL, s.fetch)
				if err != nil {
					fail("JWKSURL", err)
				}
				keys[i] = ks
			})
		case srcDiscovery:
			keys[i] = newDiscovery(pl.name, pl.cfg.Issuer, pl.cfg.AllowInsecureHTTP, s.fetch, &wg)
		default:
			ks, field, err := newStaticSource(pl, s.fetch.maxBytes)
			if err != nil {
				fail(field, err)
			}
			keys[i] = ks
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, ks := range keys {
			if ks != nil {
				ks.close()
			}
		}
		return nil, errors.Join(errs...)
	}
	for i, pl := range s.issuers {
		is := &issuer{
			name: pl.name, accepted: pl.accepted, audience: pl.audience, allowNoAud: pl.allowNoAud,
			algs: pl.algs, keys: keys[i], hmac: pl.source == srcHMAC,
			subject: pl.subject, groups: pl.groups, required: pl.required, checks: pl.checks, preset: pl.preset,
			outlive: pl.outlive, tenants: pl.tenants,
		}
		if is.hmac {
			is.hmacKID = pl.cfg.HMAC.KeyID
		}
		opts := []jwt.ParserOption{
			jwt.WithValidMethods(pl.algs),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(s.leeway),
			jwt.WithTimeFunc(s.now),
			jwt.WithStrictDecoding(),
		}
		if len(pl.audience) > 0 && !pl.allowNoAud {
			opts = append(opts, jwt.WithAudience(pl.audience...))
		}
		is.parser = jwt.NewParser(opts...)
		a.issuers = append(a.issuers, is)
		for _, iss := range pl.accepted {
			a.byIss[iss] = is
		}
	}
	if s.cacheSize > 0 {
		a.cache = newVerifiedCache(s.cacheSize)
	}
	return a, nil
}

// Challenge returns "Bearer", the WWW-Authenticate challenge of 401
// responses.
func (a *Authenticator) Challenge() string { return "Bearer" }

// Close stops the background discovery and key refresh, releases idle
// connections and empties the cache of verified tokens. After Close,
// Authenticate and VerifyToken return an error wrapping tvm.ErrClosed (a
// programming error, answered with 500, not 401), so keys that are no
// longer refreshed are never trusted. Close is idempotent and always
// returns nil.
func (a *Authenticator) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		for _, is := range a.issuers {
			is.keys.close()
		}
		if a.cache != nil {
			a.cache.clear()
		}
	})
	return nil
}

// Authenticate verifies the request's bearer token. It returns an error
// wrapping tvm.ErrNoCredentials when the request has no Authorization
// header, an empty one, or one with another scheme (such as Basic); a
// *TokenError (wrapping tvm.ErrInvalidCredentials) for a bearer token that
// does not verify; an error wrapping tvm.ErrUpstreamUnavailable when the
// token's issuer has no key set yet (discovery or the first key fetch has
// not succeeded); and an error wrapping tvm.ErrClosed after Close.
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

// verify checks a token of the right shape: a cached verification if it
// still holds, else the issuer its `iss` selects verifies it (signature,
// time claims and audience with golang-jwt, then the other claims).
func (a *Authenticator) verify(ctx context.Context, raw string) (tvm.Identity, error) {
	if len(a.issuers) == 0 {
		return tvm.Identity{}, tokenErr(TokenUnknownKey, errKeysUnavailable)
	}
	var sum tokenHash
	if a.cache != nil {
		sum = hashToken(raw)
		if id, ok := a.cache.get(sum, a.now()); ok {
			return id, nil
		}
	}
	iss, err := peekIssuer(raw)
	if err != nil {
		return tvm.Identity{}, err
	}
	is := a.byIss[iss]
	if is == nil {
		return tvm.Identity{}, tokenErr(TokenBadIssuer, errIssuer)
	}
	var used usedKey
	claims := jwt.MapClaims{}
	_, err = is.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		return is.keyFor(ctx, t, &used)
	})
	if err != nil {
		var ue *unavailableError
		if errors.As(err, &ue) {
			return tvm.Identity{}, ue
		}
		return tvm.Identity{}, classify(err, used.called, claims)
	}
	id, err := is.identity(claims)
	if err != nil {
		return tvm.Identity{}, err
	}
	if a.cache != nil {
		a.cache.put(sum, cacheEntry{id: id, exp: id.ExpiresAt.Add(-is.outlive), keys: is.keys, kid: used.kid, key: used.key})
	}
	return id, nil
}

// peekIssuer reads the `iss` of a token before verification, only to
// choose the issuer that verifies it. It decodes the payload as the parser
// does (strict base64url, encoding/json, the last of duplicate names), so
// the `iss` seen here is the one verified later.
func peekIssuer(raw string) (string, error) {
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	payload, err := base64.RawURLEncoding.Strict().DecodeString(raw[first+1 : last])
	if err != nil {
		return "", tokenErr(TokenMalformed, fmt.Errorf("%w: payload is not base64url", jwt.ErrTokenMalformed))
	}
	var c struct {
		Iss any `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", tokenErr(TokenMalformed, fmt.Errorf("%w: payload is not a JSON object", jwt.ErrTokenMalformed))
	}
	iss, ok := c.Iss.(string)
	if !ok {
		return "", tokenErr(TokenBadIssuer, errIssuer)
	}
	return iss, nil
}

// usedKey records what the key function saw and chose, to classify parse
// errors and to remember the key in the cache.
type usedKey struct {
	called bool
	kid    string
	key    any
}

// keyFor is the jwt.Keyfunc of an issuer: it checks the header and returns
// the key named by `kid`, refusing a key that cannot verify the token's
// `alg`.
func (is *issuer) keyFor(ctx context.Context, t *jwt.Token, used *usedKey) (any, error) {
	used.called = true
	alg, _ := t.Header["alg"].(string)
	if !slices.Contains(is.algs, alg) { // the parser checked already; belt and braces
		return nil, errAlgNotAllowed
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, ok := t.Header["kid"].(string)
	switch {
	case is.hmac && is.hmacKID == "":
		kid = "" // one secret: the kid is not looked at
	case is.hmac && kid != is.hmacKID:
		return nil, errUnknownKID
	case !ok || kid == "":
		return nil, errNoKID
	}
	key, err := is.keys.lookup(ctx, t, kid)
	if err != nil {
		return nil, err
	}
	if !keyFitsAlg(key, alg) {
		return nil, errKeyAlgMismatch
	}
	used.kid, used.key = kid, key
	return key, nil
}
