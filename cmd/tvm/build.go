package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/momentohq/client-sdk-go/momento"

	"github.com/tvmgo/tvm"
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

// buildTokenService assembles the tvm.Handler for cfg around vendor.
// ctx bounds the authenticator's background work (JWKS refresh). cache
// holds the counters of rateLimit.shared; it may be nil when that key is
// absent, and the caller closes it. m may be nil (no metrics).
func buildTokenService(ctx context.Context, cfg *Config, vendor tvm.Vendor, cache momento.CacheClient, m *metrics, log *slog.Logger) (*tokenService, error) {
	svc := &tokenService{}
	limiter, err := buildRateLimit(cfg, cache, log)
	if err != nil {
		return nil, err
	}
	authn, closer, err := buildAuthenticator(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if closer != nil {
		svc.closers = append(svc.closers, closer)
	}
	scopes := buildResolver(cfg)
	if n := cfg.Narrowing; n != nil {
		scopes = tvm.AllowNarrowing(scopes, tvm.NarrowOptions{
			CacheParam: n.CacheParam, TopicParam: n.TopicParam,
			KeyParam: n.KeyParam, KeyPrefixParam: n.KeyPrefixParam,
		})
	}
	hc := tvm.Config{
		Authenticator: authn,
		Scopes:        scopes,
		Vendor:        vendor,
		TTL:           cfg.TTL,
		VendTimeout:   cfg.VendTimeout,
		TokenID:       buildTokenID(cfg),
		CORS:          buildCORS(cfg),
		Logger:        log,
		Reuse: tvm.ReuseOptions{
			Disabled:     cfg.Reuse.Enabled != nil && !*cfg.Reuse.Enabled,
			MinRemaining: cfg.Reuse.MinRemaining,
			MaxEntries:   cfg.Reuse.MaxEntries,
		},
		Retry: tvm.RetryOptions{Attempts: cfg.Retry.Attempts, BaseDelay: cfg.Retry.BaseDelay, MaxDelay: cfg.Retry.MaxDelay},
	}
	hc.RateLimit = limiter
	if m != nil {
		hc.Vendor = m.vendor(vendor)
		hc.OnResult = m.onResult
	}
	h, err := tvm.NewHandler(hc)
	if err != nil {
		_ = svc.Close()
		return nil, libraryProblems(err)
	}
	svc.handler = h
	if m != nil {
		svc.handler = m.middleware(h)
	}
	return svc, nil
}

// buildRateLimit returns the rate limit options of cfg.RateLimit: a
// per-process token bucket, or with rateLimit.shared a limit counted in
// Momento through cache, falling back to the token bucket (when configured)
// while Momento cannot be asked.
func buildRateLimit(cfg *Config, cache momento.CacheClient, log *slog.Logger) (tvm.RateLimitOptions, error) {
	r := cfg.RateLimit
	if r == nil {
		return tvm.RateLimitOptions{}, nil
	}
	perProcess := tvm.RateLimitOptions{PerSecond: r.RequestsPerSecond, Burst: r.Burst, MaxEntries: r.MaxIdentities}
	s := r.Shared
	if s == nil {
		return perProcess, nil
	}
	if cache == nil {
		return tvm.RateLimitOptions{}, configErrors{{key: "rateLimit.shared", msg: "no Momento cache client to count in"}}
	}
	opts := tvm.MomentoRateLimitOptions{
		CacheName:  s.Cache,
		Limit:      s.Limit,
		Window:     s.Window,
		FailClosed: s.FailClosed,
		Logger:     log,
	}
	if r.RequestsPerSecond != 0 {
		fallback, err := tvm.NewMemoryRateLimiter(perProcess)
		if err != nil {
			return tvm.RateLimitOptions{}, libraryProblems(err)
		}
		opts.Fallback = fallback
	}
	l, err := tvm.NewMomentoRateLimiter(cache, opts)
	if err != nil {
		return tvm.RateLimitOptions{}, libraryProblems(err)
	}
	return tvm.RateLimitOptions{Limiter: l}, nil
}

// unusedCacheClient stands in for the Momento cache client when nothing is
// served (check mode): building the shared rate limiter needs a client but
// never calls it. Calling any method panics.
type unusedCacheClient struct{ momento.CacheClient }

// checkBuild builds every component of cfg without network access and
// without serving, to report the problems only the library detects.
func checkBuild(cfg *Config) error {
	// A cancelled context: a JWKS URL is not fetched (the first fetch fails
	// at once, quietly) and no background refresh starts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	quiet := slog.New(slog.DiscardHandler)
	vendor := tvm.VendorFunc(func(context.Context, tvm.Grant) (tvm.Token, error) {
		return tvm.Token{}, errors.New("not vending in check mode")
	})
	var cache momento.CacheClient
	if cfg.RateLimit != nil && cfg.RateLimit.Shared != nil {
		cache = unusedCacheClient{}
	}
	svc, err := buildTokenService(ctx, cfg, vendor, cache, nil, quiet)
	if err != nil {
		return err
	}
	return svc.Close()
}

// buildAuthenticator returns the authenticator of cfg.Auth and, for JWT
// authenticators, what to close to stop their JWKS refresh.
func buildAuthenticator(ctx context.Context, cfg *Config, log *slog.Logger) (tvm.Authenticator, io.Closer, error) {
	switch a := cfg.Auth; a.Method {
	case "open":
		return tvm.Open(), nil, nil
	case "basic":
		users := make([]tvm.User, len(a.Users))
		for i, u := range a.Users {
			users[i] = tvm.User{Username: u.Username, PasswordHash: u.PasswordHash, Groups: u.Groups}
		}
		b, err := tvm.NewBasic(tvm.BasicConfig{Users: users, AllowCredentialHeaders: a.AllowCredentialHeaders})
		if err != nil {
			return nil, nil, libraryProblems(err)
		}
		return b, nil, nil
	case "jwt":
		j := a.JWT
		jc := tvm.JWTConfig{
			Issuer:       j.Issuer,
			Audience:     j.Audience,
			Algorithms:   j.Algorithms,
			JWKSURL:      j.JWKSURL,
			JWKSFile:     j.JWKSFile,
			Leeway:       j.Leeway,
			SubjectClaim: j.SubjectClaim,
			GroupsClaim:  j.GroupsClaim,
			Context:      ctx,
			Logger:       log,
		}
		v, err := tvm.NewJWT(jc)
		if err != nil {
			return nil, nil, libraryProblems(err)
		}
		return v, v, nil
	case "cognito":
		c := a.Cognito
		v, err := tvm.NewCognito(tvm.CognitoConfig{
			Region:       c.Region,
			UserPoolID:   c.UserPoolID,
			ClientID:     c.ClientID,
			TokenUse:     c.TokenUse,
			SubjectClaim: c.SubjectClaim,
			GroupsClaim:  c.GroupsClaim,
			Leeway:       c.Leeway,
			JWKSURL:      c.JWKSURL,
			Context:      ctx,
			Logger:       log,
		})
		if err != nil {
			return nil, nil, libraryProblems(err)
		}
		return v, v, nil
	case "apigateway":
		return newAPIGatewayAuthenticator(a.APIGateway), nil, nil
	}
	return nil, nil, configErrors{{key: "auth.method", msg: "unknown method"}}
}

// buildResolver returns the group rules of cfg.Scopes.
func buildResolver(cfg *Config) tvm.ScopeResolver {
	rules := make([]tvm.GroupRule, len(cfg.Scopes))
	for i, r := range cfg.Scopes {
		s := tvm.NewScope(r.Permissions...)
		if r.Default {
			rules[i] = tvm.DefaultRule(s).WithTTL(r.TTL)
		} else {
			rules[i] = tvm.GroupRule{Group: r.Group, Scope: s, TTL: r.TTL}
		}
	}
	return tvm.GroupScopes(rules...)
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
		o.AllowedHeaders = append(o.AllowedHeaders, tvm.UsernameHeader, tvm.PasswordHeader)
	}
	return o
}

// libraryFields maps the field paths of the library's ConfigErrors to the
// configuration keys they come from.
var libraryFields = []struct {
	prefix, key string
}{
	{"BasicConfig.Users", "auth.users"},
	{"BasicConfig", "auth"},
	{"JWTConfig", "auth.jwt"},
	{"CognitoConfig", "auth.cognito"},
	{"GroupScopes.rules", "scopes"},
	{"GroupScopes", "scopes"},
	{"CORSOptions", "cors"},
	{"NarrowOptions", "narrowing"},
	{"MomentoRateLimitOptions", "rateLimit.shared"},
	{"Config.RateLimit", "rateLimit"},
	{"Config.Scopes", "scopes"},
	{"Config.CORS", "cors"},
	{"Config", ""},
}

var fieldSpecial = map[string]string{
	"UserPoolID": "userPoolId", "ClientID": "clientId", "JWKSURL": "jwksURL", "JWKSFile": "jwksFile",
	"TTL": "ttl", "Users": "users", "CacheName": "cache", "PasswordHash": "passwordHash", "VendTimeout": "vendTimeout",
}

var fieldPart = regexp.MustCompile(`^([A-Za-z]+)((?:\[\d+\])*)$`)

// keyForField turns a library field path such as
// "CognitoConfig.UserPoolID" or "BasicConfig.Users[1].PasswordHash" into the
// configuration key "auth.cognito.userPoolId" or "auth.users[1].passwordHash".
func keyForField(field string) string {
	for _, m := range libraryFields {
		rest, ok := strings.CutPrefix(field, m.prefix)
		if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
			continue
		}
		key := m.key
		idx := ""
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			idx, rest = rest[:end+1], rest[end+1:]
			key += idx
		}
		for p := range strings.SplitSeq(strings.TrimPrefix(rest, "."), ".") {
			if p == "" {
				continue
			}
			sub := fieldPart.FindStringSubmatch(p)
			if sub == nil {
				key = joinKey(key, p)
				continue
			}
			name := sub[1]
			if s, ok := fieldSpecial[name]; ok {
				name = s
			} else {
				name = strings.ToLower(name[:1]) + name[1:]
			}
			key = joinKey(key, name) + sub[2]
		}
		return key
	}
	return field
}

// libraryProblems turns the library's configuration errors (a
// *tvm.ConfigError, or several joined) into configErrors naming
// configuration keys.
func libraryProblems(err error) error {
	var probs []problem
	add := func(err error) {
		var ce *tvm.ConfigError
		if errors.As(err, &ce) {
			probs = append(probs, problem{key: keyForField(ce.Field), msg: ce.Problem})
			return
		}
		probs = append(probs, problem{msg: strings.TrimPrefix(err.Error(), "tvm: ")})
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && allConfigErrors(j.Unwrap()) {
		for _, e := range j.Unwrap() {
			add(e)
		}
	} else {
		add(err)
	}
	return configErrors(probs)
}

func allConfigErrors(errs []error) bool {
	for _, e := range errs {
		var ce *tvm.ConfigError
		if !errors.As(e, &ce) {
			return false
		}
	}
	return len(errs) > 0
}
