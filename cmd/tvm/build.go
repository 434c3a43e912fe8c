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
// is absent, and the caller closes it. m may be nil (no metrics).
func buildTokenService(ctx context.Context, cfg *Config, vendor tvm.Vendor, cache momento.CacheClient, m *metrics, log *slog.Logger) (*tokenService, error) {
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
		RateLimit: limiter,
		Logger:    log,
	}
	if m != nil {
		hc.Vendor = m.vendor(vendor)
		hc.OnResult = m.onResult
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
	probs = append(probs, libraryProblems(err, "Config", "", handlerFields)...)
	if incomplete || len(probs) > 0 {
		_ = svc.Close()
		if len(probs) == 0 {
			probs = configErrors{{key: "auth", msg: "incomplete configuration"}}
		}
		return nil, probs
	}
	svc.handler = h
	if m != nil {
		svc.handler = m.middleware(h)
	}
	return svc, nil
}

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
		b, err := tvm.NewBasic(tvm.BasicConfig{Users: users, AllowCredentialHeaders: a.AllowCredentialHeaders})
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
		return newAPIGatewayAuthenticator(a.APIGateway), nil
	}
	return nil, nil // an unknown method is reported by validate
}

// buildResolver returns the group rules of cfg.Scopes, narrowed as
// cfg.Narrowing says.
func buildResolver(cfg *Config) (tvm.ScopeResolver, error) {
	rules := make([]tvm.GroupRule, len(cfg.Scopes))
	for i, r := range cfg.Scopes {
		rules[i] = tvm.GroupRule{Group: r.Group, Default: r.Default, Scope: r.Permissions, TTL: r.TTL}
	}
	groups, err := tvm.NewGroupScopes(rules...)
	if err != nil {
		return nil, libraryProblems(err, "GroupScopes", "scopes", scopeFields)
	}
	n := cfg.Narrowing
	if n == nil {
		return groups, nil
	}
	narrowed, err := tvm.NewNarrowing(groups, tvm.NarrowOptions{
		CacheParam: n.CacheParam, TopicParam: n.TopicParam,
		KeyParam: n.KeyParam, KeyPrefixParam: n.KeyPrefixParam,
	})
	if err != nil {
		return nil, libraryProblems(err, "NarrowOptions", "narrowing", nil)
	}
	return narrowed, nil
}

// buildRateLimit returns the rate limiter of cfg.RateLimit, nil for none: a
// per-process token bucket, or with rateLimit.shared a limit counted in
// Momento through cache, falling back to the token bucket (when configured)
// while Momento cannot be asked.
func buildRateLimit(cfg *Config, cache momento.CacheClient, log *slog.Logger) (tvm.RateLimiter, error) {
	r := cfg.RateLimit
	if r == nil {
		return nil, nil
	}
	var perProcess *tvm.MemoryRateLimiter
	if r.Shared == nil || r.RequestsPerSecond != 0 || r.Burst != 0 || r.MaxIdentities != 0 {
		l, err := tvm.NewMemoryRateLimiter(tvm.MemoryRateLimitConfig{PerSecond: r.RequestsPerSecond, Burst: r.Burst, MaxEntries: r.MaxIdentities})
		if err != nil {
			return nil, libraryProblems(err, "MemoryRateLimitConfig", "rateLimit", rateLimitFields)
		}
		perProcess = l
	}
	s := r.Shared
	if s == nil {
		return perProcess, nil
	}
	lc := tvm.MomentoRateLimitConfig{
		Client:     cache,
		CacheName:  s.Cache,
		Limit:      s.Limit,
		Window:     s.Window,
		FailClosed: s.FailClosed,
		Logger:     log,
	}
	if perProcess != nil {
		lc.Fallback = perProcess
	}
	l, err := tvm.NewMomentoRateLimiter(lc)
	if err != nil {
		return nil, libraryProblems(err, "MomentoRateLimitConfig", "rateLimit.shared", rateLimitFields)
	}
	return l, nil
}

// buildVendor returns the Momento vendor of cfg with the credentials of
// provider.
func buildVendor(cfg *Config, provider auth.CredentialProvider, log *slog.Logger) (*tvm.MomentoVendor, error) {
	v, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{
		CredentialProvider: provider,
		Retry:              tvm.RetryOptions{Attempts: cfg.Retry.Attempts, BaseDelay: cfg.Retry.BaseDelay, MaxDelay: cfg.Retry.MaxDelay},
		Logger:             log,
	})
	if err != nil {
		return nil, libraryProblems(err, "MomentoVendorConfig", "", nil)
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
		ExposedHeaders: []string{"Retry-After"},
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
	if v, err := buildVendor(cfg, local, quiet); err != nil {
		probs = append(probs, asProblems(err)...)
	} else {
		_ = v.Close()
	}
	if cfg.Momento.Local {
		probs = append(probs, checkEmulator(cfg)...)
	}
	var cache momento.CacheClient
	if cfg.RateLimit != nil && cfg.RateLimit.Shared != nil {
		cache = unusedCacheClient{}
	}
	svc, err := buildTokenService(ctx, cfg, checkVendor{}, cache, nil, quiet)
	if err != nil {
		probs = append(probs, asProblems(err)...)
	} else {
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
