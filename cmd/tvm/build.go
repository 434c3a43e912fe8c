package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/momento"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
)

// tokenService is the token handler built from a configuration, with what
// must be released when the process stops.
type tokenService struct {
	handler http.Handler
	closers []io.Closer
}

func (s *tokenService) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i].Close())
	}
	return errors.Join(errs...)
}

// buildTokenService assembles the tvm.Handler for cfg around vendor: every
// component is built by the library from the configuration's values, and
// the library's problems come back named by configuration keys, all at
// once. ctx bounds the authenticator's background work (JWKS refresh).
// cache holds the counters of rateLimit.shared; it may be nil when that key
// is absent, and the caller closes it. m may be nil (no metrics). opts
// adjust the handler's configuration last (tvm explain captures results).
func buildTokenService(ctx context.Context, cfg *Config, vendor tvm.Vendor, cache *counterStore, m *metrics, log *slog.Logger, opts ...func(*tvm.Config)) (*tokenService, error) {
	svc := &tokenService{}
	var probs configErrors
	authn, err := buildAuthenticator(ctx, cfg, log)
	probs = append(probs, asProblems(err)...)
	if c, ok := authn.(io.Closer); ok {
		svc.closers = append(svc.closers, c)
	}
	scopes, err := buildResolver(cfg)
	probs = append(probs, asProblems(err)...)
	limiter, err := buildRateLimit(cfg, cache, log)
	probs = append(probs, asProblems(err)...)
	vendLimit, err := buildVendLimit(cfg, cache, log)
	probs = append(probs, asProblems(err)...)

	hc := tvm.Config{
		Authenticator: authn,
		Scopes:        scopes,
		Vendor:        vendor,
		TTL:           cfg.TTL,
		VendTimeout:   cfg.VendTimeout,
		TokenID:       buildTokenID(cfg),
		CORS:          buildCORS(cfg),
		Reuse: tvm.ReuseOptions{
			Disabled:     cfg.Reuse.Enabled != nil && !*cfg.Reuse.Enabled,
			MinRemaining: cfg.Reuse.MinRemaining,
			MaxEntries:   cfg.Reuse.MaxEntries,
		},
		RateLimit:      limiter,
		TrustedProxies: trustedProxies(cfg),
		Logger:         log,
	}
	if vendLimit != nil {
		hc.VendLimit = vendLimit
		if cfg.VendLimit.Wait != 0 {
			hc.VendLimitWait = cfg.VendLimit.Wait
		}
	}
	if m != nil {
		hc.Vendor = m.vendor(vendor)
		hc.OnResult = m.onResult
	}
	for _, o := range opts {
		o(&hc)
	}
	// With a component missing (its problems are reported, here or by
	// validate), stand-ins let the handler report its own problems too.
	incomplete := authn == nil || scopes == nil || len(probs) > 0
	if authn == nil {
		hc.Authenticator = tvm.Open()
	}
	if scopes == nil {
		hc.Scopes = unusedResolver{}
	}
	h, err := tvm.NewHandler(hc)
	for _, p := range libraryProblems(err, "Config", "", handlerFields) {
		// The binary leaves Config.MinTTL to its default (1s), which the
		// library refuses only when ttl is below it, as reported under ttl:
		// there is no minTTL key to name.
		if p.key != "minTTL" {
			probs = append(probs, p)
		}
	}
	if incomplete || len(probs) > 0 {
		_ = svc.Close()
		if len(probs) == 0 {
			return nil, errNoAuthenticator
		}
		return nil, probs
	}
	svc.handler = h
	if m != nil {
		svc.handler = m.middleware(h)
	}
	return svc, nil
}

// errNoAuthenticator is buildTokenService's error when auth.method names no
// authenticator it can build (missing, unknown, or without its section):
// a problem validate reports under its key, so checkBuild drops it.
var errNoAuthenticator = errors.New("incomplete configuration: no authenticator (see auth.method)")

// unusedResolver stands in for a resolver that failed to build.
type unusedResolver struct{ tvm.ScopeResolver }

// asProblems returns the configErrors in err (nil for nil).
func asProblems(err error) configErrors {
	if err == nil {
		return nil
	}
	var ce configErrors
	if errors.As(err, &ce) {
		return ce
	}
	return configErrors{{msg: strings.TrimPrefix(err.Error(), "tvm: ")}}
}

// buildAuthenticator returns the authenticator of cfg.Auth. JWT
// authenticators implement io.Closer (their JWKS refresh).
func buildAuthenticator(ctx context.Context, cfg *Config, log *slog.Logger) (tvm.Authenticator, error) {
	switch a := cfg.Auth; a.Method {
	case "open":
		return tvm.Open(), nil
	case "basic":
		users := make([]tvm.User, len(a.Users))
		for i, u := range a.Users {
			users[i] = tvm.User{Username: u.Username, PasswordHash: u.PasswordHash, Groups: u.Groups}
		}
		b, err := tvm.NewBasic(tvm.BasicConfig{Users: users, AllowCredentialHeaders: a.AllowCredentialHeaders, MaxConcurrentChecks: a.MaxConcurrentChecks})
		if err != nil {
			return nil, libraryProblems(err, "BasicConfig", "auth", nil)
		}
		return b, nil
	case "jwt":
		if a.JWT == nil {
			return nil, nil // reported by validate
		}
		v, err := buildJWT(ctx, a.JWT, log)
		if err != nil {
			return nil, err
		}
		return v, nil
	case "cognito":
		if a.Cognito == nil {
			return nil, nil // reported by validate
		}
		v, err := buildCognito(ctx, a.Cognito, log)
		if err != nil {
			return nil, err
		}
		return v, nil
	case "apigateway":
		if probs := apiGatewayProblems(cfg); len(probs) > 0 {
			return nil, probs
		}
		return newAPIGatewayAuthenticator(a.APIGateway), nil
	}
	return nil, nil // an unknown method is reported by validate
}

// buildResolver returns the group rules of cfg.Scopes, narrowed as
// cfg.Narrowing says. The narrowing is judged even when the rules fail.
func buildResolver(cfg *Config) (tvm.ScopeResolver, error) {
	rules := make([]tvm.GroupRule, len(cfg.Scopes))
	for i, r := range cfg.Scopes {
		rules[i] = tvm.GroupRule{Group: r.Group, Default: r.Default, Scope: r.Permissions, TTL: r.TTL}
	}
	var resolver tvm.ScopeResolver = unusedResolver{}
	groups, err := tvm.NewGroupScopes(rules...)
	probs := libraryProblems(err, "GroupScopes", "scopes", scopeFields)
	if err == nil {
		resolver = groups
	}
	if n := cfg.Narrowing; n != nil {
		narrowed, err := tvm.NewNarrowing(resolver, tvm.NarrowOptions{
			CacheParam: n.CacheParam, TopicParam: n.TopicParam,
			KeyParam: n.KeyParam, KeyPrefixParam: n.KeyPrefixParam,
		})
		probs = append(probs, libraryProblems(err, "NarrowOptions", "narrowing", nil)...)
		if err == nil {
			resolver = narrowed
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return resolver, nil
}

// buildRateLimit returns the rate limiter of cfg.RateLimit, nil for none.
func buildRateLimit(cfg *Config, cache *counterStore, log *slog.Logger) (tvm.RateLimiter, error) {
	r := cfg.RateLimit
	if r == nil {
		return nil, nil
	}
	return buildLimiter(tvm.MemoryRateLimitConfig{PerSecond: r.RequestsPerSecond, Burst: r.Burst, MaxEntries: r.MaxIdentities},
		r.Shared, "rateLimit", cache, log)
}

// unusedRateLimiter stands in for a rate limiter that failed to build.
type unusedRateLimiter struct{ tvm.RateLimiter }

// buildVendLimit returns the vend ceiling of cfg.VendLimit, nil for none.
func buildVendLimit(cfg *Config, cache *counterStore, log *slog.Logger) (tvm.RateLimiter, error) {
	v := cfg.VendLimit
	if v == nil {
		return nil, nil
	}
	return buildLimiter(tvm.MemoryRateLimitConfig{PerSecond: v.PerSecond, Burst: v.Burst}, v.Shared, "vendLimit", cache, log)
}

// buildLimiter returns a per-process token bucket, or with shared a limit
// counted in Momento through cache, falling back to the token bucket (when
// configured) while Momento cannot be asked. key is the configuration key
// of the whole. (The rate limit's keys and the vend ceiling's one key hash
// to different counters, so both may share a cache.)
func buildLimiter(perProcess tvm.MemoryRateLimitConfig, shared *SharedRateLimitConfig, key string, cache *counterStore, log *slog.Logger) (tvm.RateLimiter, error) {
	var probs configErrors
	var bucket tvm.RateLimiter // nil: none configured
	if shared == nil || perProcess != (tvm.MemoryRateLimitConfig{}) {
		l, err := tvm.NewMemoryRateLimiter(perProcess)
		if err != nil {
			probs = libraryProblems(err, "MemoryRateLimitConfig", key, rateLimitFields)
			// A stand-in lets the shared limiter report its own problems too.
			bucket = unusedRateLimiter{}
		} else {
			bucket = l
		}
	}
	if shared == nil {
		if len(probs) > 0 {
			return nil, probs
		}
		return bucket, nil
	}
	lc := tvm.MomentoRateLimitConfig{
		CacheName:  shared.Cache,
		Limit:      shared.Limit,
		Window:     shared.Window,
		FailClosed: shared.FailClosed,
		Fallback:   bucket,
		Logger:     log,
	}
	if cache != nil {
		lc.Client, lc.Secret = cache.CacheClient, cache.secret
	}
	l, err := tvm.NewMomentoRateLimiter(lc)
	if err != nil {
		probs = append(probs, libraryProblems(err, "MomentoRateLimitConfig", key+".shared", rateLimitFields)...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return l, nil
}

// buildVendor returns the Momento vendor of cfg: with the credentials of
// provider (the embedded emulator), or with an API key and, for a v2 key,
// its regional endpoint. Problems name the configuration key or the
// environment variable, never the key.
func buildVendor(cfg *Config, provider auth.CredentialProvider, key secret, endpoint string, log *slog.Logger) (*tvm.MomentoVendor, error) {
	v, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{
		CredentialProvider: provider,
		APIKey:             string(key),
		Endpoint:           endpoint,
		Retry:              tvm.RetryOptions{Attempts: cfg.Retry.Attempts, BaseDelay: cfg.Retry.BaseDelay, MaxDelay: cfg.Retry.MaxDelay},
		Logger:             log,
	})
	if err != nil {
		return nil, libraryProblems(err, "MomentoVendorConfig", "", vendorFields)
	}
	return v, nil
}

// buildTokenID returns the token id policy of cfg.TokenID.
func buildTokenID(cfg *Config) tvm.TokenIDPolicy {
	param, ok := strings.CutPrefix(cfg.TokenID, "query:")
	if !ok {
		return tvm.SubjectTokenID
	}
	return queryOrRandomTokenID(param)
}

// queryOrRandomTokenID lets open-mode callers choose their token id with
// ?param= (see tvm.QueryTokenID); an open-mode caller without the
// parameter gets a random "anonymous-<16 hex>" id, so that anonymous
// callers are told apart rather than all sharing the id "anonymous".
// Authenticated callers always get their verified subject.
func queryOrRandomTokenID(param string) tvm.TokenIDPolicy {
	query := tvm.QueryTokenID(param)
	return func(id tvm.Identity, r *http.Request) (string, error) {
		if id.Method == tvm.MethodOpen {
			if _, present := r.URL.Query()[param]; !present {
				return randomTokenID(), nil
			}
		}
		return query(id, r)
	}
}

func randomTokenID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "anonymous-" + hex.EncodeToString(b)
}

// buildCORS returns the CORS options of cfg.CORS.
func buildCORS(cfg *Config) tvm.CORSOptions {
	if len(cfg.CORS.AllowedOrigins) == 0 {
		return tvm.CORSOptions{}
	}
	o := tvm.CORSOptions{
		AllowedOrigins: cfg.CORS.AllowedOrigins,
		AllowedHeaders: []string{"Authorization"},
		// Retry-After for backoff, Date for clients correcting their clock
		// against expiresAt, WWW-Authenticate for the 401 challenge.
		ExposedHeaders: []string{"Retry-After", "Date", "WWW-Authenticate"},
	}
	if cfg.Auth.AllowCredentialHeaders {
		// The headers BasicConfig.AllowCredentialHeaders reads.
		o.AllowedHeaders = append(o.AllowedHeaders, "username", "password")
	}
	return o
}

// checkBuild builds every component of cfg without network access and
// without serving, and returns the problems the library finds.
func checkBuild(cfg *Config) []problem {
	// A cancelled context: a JWKS URL is not fetched (the first fetch fails
	// at once, quietly) and no background refresh starts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	quiet := slog.New(slog.DiscardHandler)
	var probs configErrors
	// The vendor's own options, with credentials that are never used.
	local, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: 9})
	if err != nil {
		return configErrors{{msg: err.Error()}}
	}
	if v, err := buildVendor(cfg, local, "", "", quiet); err != nil {
		probs = append(probs, asProblems(err)...)
	} else {
		_ = v.Close()
	}
	if cfg.Momento.Local {
		probs = append(probs, checkEmulator(cfg)...)
	}
	var cache *counterStore
	if sharedCounters(cfg) {
		cache = &counterStore{CacheClient: unusedCacheClient{}, secret: counterSecret("check mode")}
	}
	svc, err := buildTokenService(ctx, cfg, checkVendor{}, cache, nil, quiet)
	switch {
	case errors.Is(err, errNoAuthenticator): // reported by validate
	case err != nil:
		probs = append(probs, asProblems(err)...)
	default:
		_ = svc.Close()
	}
	return probs
}

// checkEmulator starts the embedded emulator on a free loopback port and
// stops it, so that momentolocal judges momento.caches.
func checkEmulator(cfg *Config) []problem {
	emu, err := momentolocal.Start(emulatorConfig(cfg, "127.0.0.1:0", slog.New(slog.DiscardHandler)))
	if err != nil {
		return []problem{{key: "momento.caches", msg: strings.TrimPrefix(err.Error(), "momentolocal: ")}}
	}
	_ = emu.Close()
	return nil
}

// checkVendor stands in for the vendor in check mode; it is never called.
type checkVendor struct{}

func (checkVendor) Vend(context.Context, tvm.Grant) (tvm.Token, error) {
	return tvm.Token{}, errors.New("not vending in check mode")
}

// unusedCacheClient stands in for the Momento cache client in check mode:
// building the shared rate limiter needs a client but never calls it.
// Calling any method panics.
type unusedCacheClient struct{ momento.CacheClient }
