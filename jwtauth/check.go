package jwtauth

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tvmgo/tvm"
)

// Defaults and bounds of Config and Issuer, stated in the field comments.
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
	defaultMaxResponseBytes   = 1 << 20
	defaultCacheSize          = 10000
	maxNameLength             = 32
)

// source is the kind of key source of an issuer.
type source int

const (
	srcDiscovery source = iota
	srcURL
	srcFile
	srcJSON
	srcKeys
	srcHMAC
)

// settings are a checked Config with the defaults filled in.
type settings struct {
	leeway    time.Duration
	maxToken  int
	now       func() time.Time
	fetch     fetchOptions
	cacheSize int // 0: no cache
	issuers   []plan
}

// plan is a checked Issuer: everything New needs to build it.
type plan struct {
	field      string // "Config.Issuers[i]"
	cfg        *Issuer
	name       string
	accepted   []string // iss values
	audience   []string
	allowNoAud bool
	algs       []string
	source     source
	jwksURL    string // srcURL
	subject    claimPath
	groups     []claimPath
	required   []requiredClaim
	checks     []func(claims map[string]any) error // CheckClaims
	preset     func(claims map[string]any) error   // a preset's own check, before the audience
	outlive    time.Duration
	tenants    map[string]string // Entra: iss → tenant id
}

// fetchOptions are the Config fields about requests to identity providers.
type fetchOptions struct {
	client     *http.Client
	timeout    time.Duration
	refresh    time.Duration
	unknownKID time.Duration
	maxBytes   int64
	ctx        context.Context
	logger     *slog.Logger
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	tenantIDRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	cognitoReg  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	cognitoPool = regexp.MustCompile(`^([a-z]{2}(-[a-z]+)+-[0-9]+)_[0-9A-Za-z]+$`)
	cognitoApp  = regexp.MustCompile(`^[0-9A-Za-z_+]{1,128}$`)
)

// problems collects the *tvm.ConfigError values of a configuration; prefix
// names the struct ("Config", "Config.Issuers[1]").
type problems struct {
	prefix string
	errs   *[]error
}

func newProblems(prefix string) problems { return problems{prefix: prefix, errs: new([]error)} }

// add records that field (a name inside the struct) has problem.
func (p problems) add(field, problem string) {
	*p.errs = append(*p.errs, &tvm.ConfigError{Field: p.prefix + "." + field, Problem: problem})
}

// sub returns the problems of a nested struct, recorded with p's.
func (p problems) sub(name string) problems {
	return problems{prefix: p.prefix + "." + name, errs: p.errs}
}

// check validates cfg and returns the settings, or one *tvm.ConfigError per
// problem. Key sources are only checked here; files and documents are read
// when they are built.
func (cfg *Config) check() (settings, []error) {
	p := newProblems("Config")
	s := settings{now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
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
	s.maxToken = cfg.MaxTokenBytes
	switch {
	case s.maxToken == 0:
		s.maxToken = defaultMaxTokenBytes
	case s.maxToken < 0:
		p.add("MaxTokenBytes", "negative")
	case s.maxToken > maxMaxTokenBytes:
		p.add("MaxTokenBytes", fmt.Sprintf("more than %d", maxMaxTokenBytes))
	}
	s.cacheSize = cfg.CacheSize
	switch {
	case cfg.CacheSize < 0:
		p.add("CacheSize", "negative (set DisableCache to turn the cache off)")
	case cfg.DisableCache:
		s.cacheSize = 0
	case cfg.CacheSize == 0:
		s.cacheSize = defaultCacheSize
	}

	f := &s.fetch
	f.timeout, f.refresh, f.unknownKID, f.maxBytes = cfg.HTTPTimeout, cfg.RefreshInterval, cfg.UnknownKIDRefreshInterval, cfg.MaxResponseBytes
	switch {
	case f.timeout == 0:
		f.timeout = defaultHTTPTimeout
	case f.timeout < 0 || f.timeout > maxHTTPTimeout:
		p.add("HTTPTimeout", fmt.Sprintf("must be between 0 and %s", maxHTTPTimeout))
	}
	switch {
	case f.refresh == 0:
		f.refresh = defaultRefreshInterval
	case f.refresh < minRefreshInterval:
		p.add("RefreshInterval", fmt.Sprintf("less than %s", minRefreshInterval))
	}
	switch {
	case f.unknownKID == 0:
		f.unknownKID = defaultUnknownKIDInterval
	case f.unknownKID < minUnknownKIDInterval:
		p.add("UnknownKIDRefreshInterval", fmt.Sprintf("less than %s", minUnknownKIDInterval))
	}
	switch {
	case f.maxBytes == 0:
		f.maxBytes = defaultMaxResponseBytes
	case f.maxBytes < 0:
		p.add("MaxResponseBytes", "negative")
	}
	f.client, f.ctx, f.logger = cfg.HTTPClient, cfg.Context, cfg.Logger
	if f.ctx == nil {
		f.ctx = context.Background()
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}

	if len(cfg.Issuers) == 0 {
		p.add("Issuers", "required: at least one issuer")
	}
	names := map[string]int{}
	accepted := map[string]int{}
	for i := range cfg.Issuers {
		ip := p.sub(fmt.Sprintf("Issuers[%d]", i))
		pl := checkIssuer(&cfg.Issuers[i], ip)
		if j, dup := names[pl.name]; dup && pl.name != "" {
			ip.add("Name", fmt.Sprintf("%q is also the name of Issuers[%d]: give each issuer its own name (it becomes Identity.Method, which keeps their subjects apart)", pl.name, j))
		}
		names[pl.name] = i
		for _, iss := range pl.accepted {
			if j, dup := accepted[iss]; dup {
				ip.add("Issuer", fmt.Sprintf("the iss value %q is also accepted by Issuers[%d]: a token's iss must select exactly one issuer", iss, j))
			}
			accepted[iss] = i
		}
		s.issuers = append(s.issuers, pl)
	}
	return s, *p.errs
}

// checkIssuer checks one issuer, reporting to p, and returns its plan.
func checkIssuer(is *Issuer, p problems) plan {
	pl := plan{field: p.prefix, cfg: is, name: is.Name, allowNoAud: is.AllowMissingAudience}
	sources := map[source]bool{
		srcURL: is.JWKSURL != "", srcFile: is.JWKSFile != "", srcJSON: is.JWKSJSON != nil,
		srcKeys: is.Keys != nil, srcHMAC: is.HMAC != nil,
	}
	n := 0
	for src, set := range sources {
		if set {
			n++
			pl.source = src
		}
	}
	if n > 1 {
		p.add("JWKSURL", "set at most one key source: JWKSURL, JWKSFile, JWKSJSON, Keys or HMAC")
	}

	groupsDefault := "groups"
	switch {
	case is.Cognito != nil && is.Entra != nil:
		p.add("Cognito", "set at most one preset: Cognito or Entra")
	case is.Cognito != nil:
		groupsDefault = "cognito:groups"
		checkCognito(is, &pl, p)
	case is.Entra != nil:
		checkEntra(is, &pl, p)
	default:
		if pl.name == "" {
			pl.name = "jwt"
		}
		switch pr := textProblem(is.Issuer); {
		case is.Issuer == "":
			p.add("Issuer", "required: the exact iss of your tokens")
		case pr != "":
			p.add("Issuer", pr)
		case n == 0:
			if pr := fetchURLProblem(is.Issuer, is.AllowInsecureHTTP, "Issuer"); pr != "" {
				p.add("Issuer", "with no key source the key set is found by discovery, so Issuer "+pr)
			}
		}
		pl.accepted = append([]string{is.Issuer}, is.IssuerAliases...)
		for k, a := range is.IssuerAliases {
			if pr := textProblem(a); a == "" || pr != "" || a == is.Issuer {
				p.add(fmt.Sprintf("IssuerAliases[%d]", k), cmp.Or(pr, "empty or the same as Issuer"))
			}
		}
		checkAudience(is, &pl, p)
		checkAlgorithms(is, &pl, p)
	}
	if !nameRE.MatchString(pl.name) {
		p.add("Name", fmt.Sprintf("must be 1 to %d lower-case letters, digits, '-' or '_'", maxNameLength))
	}

	if is.JWKSURL != "" {
		if pr := fetchURLProblem(is.JWKSURL, is.AllowInsecureHTTP, "JWKSURL"); pr != "" {
			p.add("JWKSURL", pr)
		}
		pl.jwksURL = is.JWKSURL
	}
	if is.HMAC != nil {
		checkHMAC(is, pl.algs, p)
	}

	var pr string
	pl.subject, pr = parseClaimPath(cmp.Or(is.SubjectClaim, "sub"))
	if pr != "" {
		p.add("SubjectClaim", pr)
	}
	groups := is.GroupsClaims
	if groups == nil {
		groups = []string{groupsDefault}
	}
	if len(groups) == 0 {
		p.add("GroupsClaims", "empty: leave it unset for the default")
	}
	for k, g := range groups {
		cp, pr := parseClaimPath(g)
		if pr != "" {
			p.add(fmt.Sprintf("GroupsClaims[%d]", k), pr)
			continue
		}
		pl.groups = append(pl.groups, cp)
	}
	for _, name := range slices.Sorted(maps.Keys(is.RequiredClaims)) {
		field := fmt.Sprintf("RequiredClaims[%q]", name)
		cp, pr := parseClaimPath(name)
		if pr != "" {
			p.add(field, pr)
			continue
		}
		vals := is.RequiredClaims[name]
		if len(vals) == 0 || slices.Contains(vals, "") {
			p.add(field, "list at least one accepted value, none empty")
			continue
		}
		pl.required = append(pl.required, requiredClaim{path: cp, name: name, values: slices.Clone(vals)})
	}
	if pl.allowNoAud && len(pl.required) == 0 && is.Cognito == nil {
		p.add("AllowMissingAudience", "requires RequiredClaims (such as azp or client_id) to tie tokens without an audience to your application")
	}
	if is.CheckClaims != nil {
		pl.checks = append(pl.checks, is.CheckClaims)
	}
	switch pl.outlive = is.OutliveCredential; {
	case pl.outlive < 0:
		p.add("OutliveCredential", "negative")
	case pl.outlive > tvm.MaxTokenTTL:
		p.add("OutliveCredential", fmt.Sprintf("more than %s (tvm.MaxTokenTTL)", tvm.MaxTokenTTL))
	}
	return pl
}

// checkAudience checks Audience and AllowMissingAudience.
func checkAudience(is *Issuer, pl *plan, p problems) {
	switch {
	case len(is.Audience) == 0 && !is.AllowMissingAudience:
		p.add("Audience", "required: the client id or API identifier your tokens are issued for (or set AllowMissingAudience)")
	case slices.Contains(is.Audience, ""):
		p.add("Audience", "contains an empty string")
	default:
		pl.audience = slices.Clone(is.Audience)
	}
}

// checkAlgorithms checks Algorithms against the key source: HMAC
// algorithms with the HMAC source only, public-key algorithms with the
// others only.
func checkAlgorithms(is *Issuer, pl *plan, p problems) {
	if len(is.Algorithms) == 0 {
		p.add("Algorithms", "required: list the signing algorithms your issuer uses, e.g. RS256")
	}
	hmac, public := false, false
	for _, alg := range is.Algorithms {
		switch {
		case isHMACAlg(alg):
			hmac = true
		case supportedAlg(alg):
			public = true
		case strings.EqualFold(alg, "none"):
			p.add("Algorithms", `"none" is refused: tokens must be signed`)
			continue
		default:
			p.add("Algorithms", fmt.Sprintf("%q is not a supported algorithm (%s, or HS256/384/512 with HMAC)", alg, strings.Join(algorithmNames, ", ")))
			continue
		}
		if !slices.Contains(pl.algs, alg) {
			pl.algs = append(pl.algs, alg)
		}
	}
	switch {
	case hmac && public:
		p.add("Algorithms", "mixes HMAC (HS*) and public-key algorithms: one issuer uses one kind, so that a public key can never serve as an HMAC secret")
	case hmac && is.HMAC == nil:
		p.add("Algorithms", "HS256/384/512 need the HMAC key source (a shared secret); public-key sources verify RS*, PS*, ES* and EdDSA only")
	case public && is.HMAC != nil:
		p.add("Algorithms", "the HMAC key source verifies HS256/384/512 only")
	}
}

// checkHMAC checks the HMAC key source. No problem text holds the secret.
func checkHMAC(is *Issuer, algs []string, p problems) {
	need := 32
	for _, alg := range algs {
		need = max(need, hmacMinBytes(alg))
	}
	if n := len(is.HMAC.Secret); n < need {
		p.add("HMAC.Secret", fmt.Sprintf("is %d bytes: at least %d are required (RFC 7518: no shorter than the hash output)", n, need))
	}
	if pr := textProblem(is.HMAC.KeyID); pr != "" {
		p.add("HMAC.KeyID", pr)
	}
}

// textProblem says what is wrong with a configured name or value (leading
// or trailing spaces, control characters), or returns "".
func textProblem(s string) string {
	if strings.TrimSpace(s) != s {
		return "has leading or trailing spaces"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "has control characters"
	}
	return ""
}
