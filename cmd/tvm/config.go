package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/tvmgo/tvm"
)

// Defaults applied to a configuration file's unset keys.
const (
	defaultPath            = "/api/momento/token"
	defaultTTL             = 15 * time.Minute
	defaultVendTimeout     = 5 * time.Second
	defaultShutdownTimeout = 10 * time.Second
	defaultMaxIdentities   = 10000
	defaultCache           = "default-cache"
	maxConfigSize          = 1 << 20
)

// Config is the YAML configuration file of the tvm command. Every key is
// documented in the README and in testdata/config/example.yaml.
type Config struct {
	// Path is the URL path that serves tokens (GET).
	Path string `yaml:"path"`
	// TTL is the lifetime of vended tokens (at most 1h).
	TTL time.Duration `yaml:"ttl"`
	// VendTimeout bounds each call to Momento.
	VendTimeout time.Duration `yaml:"vendTimeout"`
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM/SIGINT.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// TokenID is "subject" or "query:<name>" (open auth only).
	TokenID string `yaml:"tokenId"`
	// Auth selects and configures the authenticator.
	Auth AuthConfig `yaml:"auth"`
	// Scopes is the ordered list of scope rules.
	Scopes []ScopeRule `yaml:"scopes"`
	// Narrowing, when present, lets callers ask for less than their rule
	// grants (one cache, topic, key or key prefix) with query parameters.
	Narrowing *NarrowingConfig `yaml:"narrowing"`
	// CORS configures cross-origin access for browsers.
	CORS CORSConfig `yaml:"cors"`
	// RateLimit limits requests per verified identity. Nil means no limit.
	RateLimit *RateLimitConfig `yaml:"rateLimit"`
	// Reuse configures token reuse and request coalescing (on by default).
	Reuse ReuseConfig `yaml:"reuse"`
	// Retry configures the retries of vends Momento could not serve.
	Retry RetryConfig `yaml:"retry"`
	// Momento selects where tokens come from.
	Momento MomentoConfig `yaml:"momento"`
	// Log configures the log output.
	Log LogConfig `yaml:"log"`

	// demo is set for the built-in no-config default.
	demo bool
}

// AuthConfig selects the authenticator.
type AuthConfig struct {
	// Method is open, basic, jwt, cognito or apigateway.
	Method string `yaml:"method"`
	// Users are the accounts of the basic method.
	Users []UserConfig `yaml:"users"`
	// AllowCredentialHeaders (basic) also accepts the "username" and
	// "password" headers of Momento's reference clients.
	AllowCredentialHeaders bool `yaml:"allowCredentialHeaders"`
	// JWT configures the jwt method.
	JWT *JWTConfig `yaml:"jwt"`
	// Cognito configures the cognito method.
	Cognito *CognitoConfig `yaml:"cognito"`
	// APIGateway configures the apigateway method.
	APIGateway *APIGatewayConfig `yaml:"apigateway"`
}

// UserConfig is one account of the basic method.
type UserConfig struct {
	Username     string   `yaml:"username"`
	PasswordHash string   `yaml:"passwordHash"`
	Groups       []string `yaml:"groups"`
}

// JWTConfig configures the jwt method.
type JWTConfig struct {
	Issuer       string        `yaml:"issuer"`
	JWKSURL      string        `yaml:"jwksURL"`
	JWKSFile     string        `yaml:"jwksFile"`
	Audience     []string      `yaml:"audience"`
	Algorithms   []string      `yaml:"algorithms"`
	SubjectClaim string        `yaml:"subjectClaim"`
	GroupsClaim  string        `yaml:"groupsClaim"`
	Leeway       time.Duration `yaml:"leeway"`
}

// CognitoConfig configures the cognito method.
type CognitoConfig struct {
	Region     string `yaml:"region"`
	UserPoolID string `yaml:"userPoolId"`
	ClientID   string `yaml:"clientId"`
	TokenUse   string `yaml:"tokenUse"`
	// SubjectClaim names the claim used as subject (default sub).
	SubjectClaim string `yaml:"subjectClaim"`
	// GroupsClaim names the claim holding groups (default cognito:groups).
	GroupsClaim string `yaml:"groupsClaim"`
	// Leeway is the clock skew allowed on exp/nbf/iat (default 30s).
	Leeway time.Duration `yaml:"leeway"`
	// JWKSURL overrides the pool's JWKS address (tests, proxies, VPC
	// endpoints); the issuer check is unchanged.
	JWKSURL string `yaml:"jwksURL"`
}

// APIGatewayConfig configures the apigateway method (AWS Lambda only).
type APIGatewayConfig struct {
	// SubjectClaim names the authorizer claim used as subject (default sub).
	SubjectClaim string `yaml:"subjectClaim"`
	// GroupsClaim names the authorizer claim holding groups (default
	// cognito:groups).
	GroupsClaim string `yaml:"groupsClaim"`
}

// ScopeRule is one scope rule: the first rule whose group the caller is in
// wins; a rule with default: true matches everyone and must be last.
type ScopeRule struct {
	Group       string           `yaml:"group"`
	Default     bool             `yaml:"default"`
	TTL         time.Duration    `yaml:"ttl"`
	Permissions []tvm.Permission `yaml:"permissions"`
}

// NarrowingConfig names the query parameters of client narrowing (see
// tvm.AllowNarrowing). "-" turns a parameter off.
type NarrowingConfig struct {
	CacheParam     string `yaml:"cacheParam"`     // default cache
	TopicParam     string `yaml:"topicParam"`     // default topic
	KeyParam       string `yaml:"keyParam"`       // default off
	KeyPrefixParam string `yaml:"keyPrefixParam"` // default off
}

// CORSConfig configures cross-origin access.
type CORSConfig struct {
	AllowedOrigins []string `yaml:"allowedOrigins"`
}

// RateLimitConfig limits requests per verified identity. Without Shared,
// RequestsPerSecond and Burst make a per-process token bucket; with Shared
// they are optional and, when set, make the per-process fallback used when
// Momento cannot be asked.
type RateLimitConfig struct {
	RequestsPerSecond float64 `yaml:"requestsPerSecond"`
	Burst             int     `yaml:"burst"`
	MaxIdentities     int     `yaml:"maxIdentities"`
	// Shared enforces one limit across every process and Lambda instance,
	// with the counters in a Momento cache (tvm.MomentoRateLimiter).
	Shared *SharedRateLimitConfig `yaml:"shared"`
}

// SharedRateLimitConfig configures the rate limit shared by every instance
// (see tvm.MomentoRateLimitOptions).
type SharedRateLimitConfig struct {
	// Cache is the Momento cache holding the counters (the API key needs
	// read-write access to it). In local mode the emulator serves it.
	Cache string `yaml:"cache"`
	// Limit is how many token requests each identity may make per Window.
	Limit int64 `yaml:"limit"`
	// Window is the fixed counting window (default 1m, 1s..24h).
	Window time.Duration `yaml:"window"`
	// FailClosed refuses requests (503) when Momento cannot be asked,
	// instead of letting them through. Not with a fallback.
	FailClosed bool `yaml:"failClosed"`
}

// Bounds of rateLimit.shared.window.
const (
	minSharedWindow = time.Second
	maxSharedWindow = 24 * time.Hour
)

// ReuseConfig configures token reuse and request coalescing (see
// tvm.ReuseOptions). Both are on unless enabled is false.
type ReuseConfig struct {
	// Enabled turns reuse and coalescing on (default) or off.
	Enabled *bool `yaml:"enabled"`
	// MinRemaining is the fraction of a fresh token's lifetime a kept token
	// must still have to be handed again (0 < x < 1, default 0.5).
	MinRemaining float64 `yaml:"minRemaining"`
	// MaxEntries bounds the number of kept tokens (default 10000).
	MaxEntries int `yaml:"maxEntries"`
}

// RetryConfig configures the retries of vends that failed because Momento
// was unavailable (see tvm.RetryOptions).
type RetryConfig struct {
	// Attempts is the number of calls at most, the first included (default
	// 3; 1 disables retries).
	Attempts int `yaml:"attempts"`
	// BaseDelay bounds the first retry's random wait (default 50ms).
	BaseDelay time.Duration `yaml:"baseDelay"`
	// MaxDelay caps any wait (default 1s).
	MaxDelay time.Duration `yaml:"maxDelay"`
}

// MomentoConfig selects where tokens come from.
type MomentoConfig struct {
	// Local runs the embedded Momento emulator instead of using
	// MOMENTO_API_KEY (development only).
	Local bool `yaml:"local"`
	// Caches are the caches the embedded emulator serves.
	Caches []string `yaml:"caches"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json; default json in Lambda, text elsewhere
}

// LoadConfig reads, decodes, defaults and validates the configuration file
// at path. On failure it returns configErrors (one problem per line).
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, configErrors{{msg: fmt.Sprintf("cannot read configuration: %v", err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, configErrors{{msg: fmt.Sprintf("cannot read configuration: %v", err)}}
	}
	if len(data) > maxConfigSize {
		return nil, configErrors{{msg: "configuration file larger than 1 MiB"}}
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	// Relative file names in the configuration are relative to the file.
	if j := cfg.Auth.JWT; j != nil && j.JWKSFile != "" && !filepath.IsAbs(j.JWKSFile) {
		j.JWKSFile = filepath.Join(filepath.Dir(path), j.JWKSFile)
	}
	return cfg, nil
}

// ParseConfig decodes, defaults and validates a YAML configuration.
func ParseConfig(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, configErrors{{msg: "configuration is empty"}}
		}
		return nil, configErrors{{msg: "invalid YAML: " + cleanYAMLError(err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, configErrors{{msg: "configuration must be a single YAML document"}}
	}
	var c Config
	probs := decodeStrict(&doc, &c)
	c.applyDefaults()
	probs = dropRedundant(probs, c.validate())
	if len(probs) > 0 {
		return nil, configErrors(probs)
	}
	return &c, nil
}

// demoOrigins are the browser origins the demo configuration allows: the
// usual local development servers (Vite dev and preview, and port 3000).
var demoOrigins = []string{
	"http://localhost:5173", "http://127.0.0.1:5173",
	"http://localhost:4173", "http://127.0.0.1:4173",
	"http://localhost:3000", "http://127.0.0.1:3000",
}

// DemoConfig is the configuration used when no file is given: open
// authentication, publish+subscribe on every topic of default-cache, 15
// minute tokens, token ids from ?name= (else random), CORS for local
// development servers, the embedded emulator.
func DemoConfig() *Config {
	c := &Config{
		CORS:    CORSConfig{AllowedOrigins: demoOrigins},
		Auth:    AuthConfig{Method: "open"},
		TokenID: "query:name",
		Scopes: []ScopeRule{{
			Default:     true,
			Permissions: []tvm.Permission{tvm.TopicPublishSubscribe(defaultCache, tvm.AllTopics)},
		}},
		Momento: MomentoConfig{Local: true},
		demo:    true,
	}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Path == "" {
		c.Path = defaultPath
	}
	if c.TTL == 0 {
		c.TTL = defaultTTL
	}
	if c.VendTimeout == 0 {
		c.VendTimeout = defaultVendTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	if c.TokenID == "" {
		c.TokenID = "subject"
	}
	if n := c.Narrowing; n != nil {
		if n.CacheParam == "" {
			n.CacheParam = tvm.DefaultCacheParam
		}
		if n.TopicParam == "" {
			n.TopicParam = tvm.DefaultTopicParam
		}
	}
	if c.RateLimit != nil && c.RateLimit.MaxIdentities == 0 {
		c.RateLimit.MaxIdentities = defaultMaxIdentities
	}
	if c.RateLimit != nil && c.RateLimit.Shared != nil && c.RateLimit.Shared.Window == 0 {
		c.RateLimit.Shared.Window = tvm.DefaultMomentoRateLimitWindow
	}
	if c.Reuse.Enabled == nil {
		enabled := true
		c.Reuse.Enabled = &enabled
	}
	if c.Reuse.MinRemaining == 0 {
		c.Reuse.MinRemaining = tvm.DefaultReuseMinRemaining
	}
	if c.Reuse.MaxEntries == 0 {
		c.Reuse.MaxEntries = tvm.DefaultReuseMaxEntries
	}
	if c.Retry.Attempts == 0 {
		c.Retry.Attempts = tvm.DefaultRetryAttempts
	}
	if c.Retry.BaseDelay == 0 {
		c.Retry.BaseDelay = tvm.DefaultRetryBaseDelay
	}
	if c.Retry.MaxDelay == 0 {
		c.Retry.MaxDelay = tvm.DefaultRetryMaxDelay
	}
	if c.Momento.Local && len(c.Momento.Caches) == 0 {
		c.Momento.Caches = []string{defaultCache}
	}
	if c.Auth.Method == "apigateway" && c.Auth.APIGateway == nil {
		c.Auth.APIGateway = &APIGatewayConfig{}
	}
	if g := c.Auth.APIGateway; g != nil {
		if g.SubjectClaim == "" {
			g.SubjectClaim = "sub"
		}
		if g.GroupsClaim == "" {
			g.GroupsClaim = "cognito:groups"
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// momentoName matches the names Momento accepts for caches.
var momentoName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)

// queryParamName matches a sensible query parameter name for tokenId.
var queryParamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validate checks every key that needs no network and returns all problems.
func (c *Config) validate() []problem {
	var probs []problem
	add := func(key, format string, args ...any) {
		probs = append(probs, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}

	if !strings.HasPrefix(c.Path, "/") {
		add("path", "must start with /")
	} else if u, err := url.Parse(c.Path); err != nil || u.Path != c.Path || u.RawQuery != "" || strings.ContainsAny(c.Path, " {}") ||
		c.Path == "/" || strings.HasSuffix(c.Path, "/") || path.Clean(c.Path) != c.Path {
		add("path", "must be a plain URL path such as %s", defaultPath)
	} else if reservedPath(c.Path) {
		add("path", "%s is reserved for operations endpoints", c.Path)
	}
	if c.TTL < 0 || c.TTL > tvm.MaxTokenTTL {
		add("ttl", "must be between 1s and 1h (Momento's limit), got %s", c.TTL)
	} else if c.TTL < time.Second {
		add("ttl", "must be at least 1s, got %s", c.TTL)
	}
	if c.VendTimeout < 0 || c.VendTimeout > time.Minute {
		add("vendTimeout", "must be between 1ms and 1m, got %s", c.VendTimeout)
	}
	if c.ShutdownTimeout < 0 || c.ShutdownTimeout > 10*time.Minute {
		add("shutdownTimeout", "must be between 1ms and 10m, got %s", c.ShutdownTimeout)
	}

	method := c.Auth.Method
	switch method {
	case "":
		add("auth.method", "required (open, basic, jwt, cognito or apigateway)")
	case "open", "basic", "jwt", "cognito", "apigateway":
	default:
		add("auth.method", "unknown method %q (want open, basic, jwt, cognito or apigateway)", method)
	}
	onlyFor := func(key, m string, present bool) {
		if present && method != m && method != "" {
			add(key, "only valid with auth.method: %s (auth.method is %s)", m, method)
		}
	}
	onlyFor("auth.users", "basic", c.Auth.Users != nil)
	onlyFor("auth.allowCredentialHeaders", "basic", c.Auth.AllowCredentialHeaders)
	onlyFor("auth.jwt", "jwt", c.Auth.JWT != nil)
	onlyFor("auth.cognito", "cognito", c.Auth.Cognito != nil)
	onlyFor("auth.apigateway", "apigateway", c.Auth.APIGateway != nil)
	switch method {
	case "basic":
		probs = append(probs, validateUsers(c.Auth.Users)...)
	case "jwt":
		if c.Auth.JWT == nil {
			add("auth.jwt", "required with auth.method: jwt")
		} else {
			probs = append(probs, c.Auth.JWT.validate()...)
		}
	case "cognito":
		if c.Auth.Cognito == nil {
			add("auth.cognito", "required with auth.method: cognito")
		} else {
			probs = append(probs, c.Auth.Cognito.validate()...)
		}
	case "apigateway":
		if c.Momento.Local {
			add("momento.local", "cannot be used with auth.method: apigateway (AWS Lambda)")
		}
	}

	switch {
	case c.TokenID == "subject":
	case strings.HasPrefix(c.TokenID, "query:"):
		name := strings.TrimPrefix(c.TokenID, "query:")
		if !queryParamName.MatchString(name) {
			add("tokenId", "query parameter name %q must be 1-64 letters, digits, - or _", name)
		}
		if method != "open" && method != "" {
			add("tokenId", "query:<name> lets callers choose their token id; it is allowed only with auth.method: open")
		}
	default:
		add("tokenId", "must be subject or query:<name>, got %q", c.TokenID)
	}

	probs = append(probs, c.validateScopes()...)

	if n := c.Narrowing; n != nil {
		if param, ok := strings.CutPrefix(c.TokenID, "query:"); ok {
			for _, f := range []struct{ key, v string }{
				{"cacheParam", n.CacheParam}, {"topicParam", n.TopicParam}, {"keyParam", n.KeyParam}, {"keyPrefixParam", n.KeyPrefixParam},
			} {
				if f.v == param {
					add("narrowing."+f.key, "%q is also the tokenId query parameter", f.v)
				}
			}
		}
	}

	for i, o := range c.CORS.AllowedOrigins {
		if o == "*" {
			if len(c.CORS.AllowedOrigins) > 1 {
				add(fmt.Sprintf("cors.allowedOrigins[%d]", i), `"*" must be the only origin`)
			}
			continue
		}
		if msg := checkOrigin(o); msg != "" {
			add(fmt.Sprintf("cors.allowedOrigins[%d]", i), "%s", msg)
		}
	}
	if dup := firstDuplicate(c.CORS.AllowedOrigins); dup != "" {
		add("cors.allowedOrigins", "duplicate origin %q", dup)
	}

	if r := c.RateLimit; r != nil {
		// With shared, the per-process bucket is an optional fallback.
		if r.Shared == nil || r.RequestsPerSecond != 0 || r.Burst != 0 {
			if r.RequestsPerSecond <= 0 || math.IsInf(r.RequestsPerSecond, 0) || math.IsNaN(r.RequestsPerSecond) {
				add("rateLimit.requestsPerSecond", "required, a number greater than 0")
			}
			if r.Burst < 1 {
				add("rateLimit.burst", "required, an integer of at least 1")
			}
		}
		if r.MaxIdentities < 1 || r.MaxIdentities > 10_000_000 {
			add("rateLimit.maxIdentities", "must be between 1 and 10000000")
		}
		if s := r.Shared; s != nil {
			if s.Cache == "" {
				add("rateLimit.shared.cache", "required (the Momento cache holding the counters)")
			} else if !momentoName.MatchString(s.Cache) {
				add("rateLimit.shared.cache", "invalid cache name %q", s.Cache)
			}
			if s.Limit < 1 {
				add("rateLimit.shared.limit", "required, an integer of at least 1 (requests per identity per window)")
			}
			if s.Window < minSharedWindow || s.Window > maxSharedWindow || s.Window%time.Millisecond != 0 {
				add("rateLimit.shared.window", "must be between 1s and 24h, in whole milliseconds, got %s", s.Window)
			}
			if s.FailClosed && r.RequestsPerSecond != 0 {
				add("rateLimit.shared.failClosed", "cannot be combined with rateLimit.requestsPerSecond (the per-process fallback decides when Momento cannot be asked)")
			}
		}
	}

	if r := c.Reuse; !(r.MinRemaining > 0 && r.MinRemaining < 1) {
		add("reuse.minRemaining", "must be a number between 0 and 1 (exclusive), got %v", r.MinRemaining)
	}
	if r := c.Reuse; r.MaxEntries < 1 || r.MaxEntries > 10_000_000 {
		add("reuse.maxEntries", "must be between 1 and 10000000")
	}
	if r := c.Retry; r.Attempts < 1 || r.Attempts > 10 {
		add("retry.attempts", "must be between 1 and 10 (1: no retries)")
	}
	if r := c.Retry; r.BaseDelay < 0 || r.BaseDelay > time.Minute {
		add("retry.baseDelay", "must be between 1ms and 1m, got %s", r.BaseDelay)
	} else if r.MaxDelay < r.BaseDelay || r.MaxDelay > time.Minute {
		add("retry.maxDelay", "must be between retry.baseDelay and 1m, got %s", r.MaxDelay)
	}

	if !c.Momento.Local && c.Momento.Caches != nil {
		add("momento.caches", "only valid with momento.local: true")
	}
	for i, name := range c.Momento.Caches {
		if !momentoName.MatchString(name) {
			add(fmt.Sprintf("momento.caches[%d]", i), "invalid cache name %q", name)
		}
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	return probs
}

func reservedPath(p string) bool {
	for _, r := range []string{"/healthz", "/readyz", "/metrics", "/admin/"} {
		if p == r || strings.HasPrefix(p, r+"/") || (strings.HasSuffix(r, "/") && strings.HasPrefix(p, r)) {
			return true
		}
	}
	return false
}

func firstDuplicate(list []string) string {
	seen := map[string]bool{}
	for _, s := range list {
		if seen[s] {
			return s
		}
		seen[s] = true
	}
	return ""
}

// checkOrigin returns what is wrong with a CORS origin, or "".
func checkOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") {
		return fmt.Sprintf("%q is not an origin (want scheme://host[:port], no path)", o)
	}
	if strings.ToLower(o) != o {
		return fmt.Sprintf("%q must be lower case (browsers send origins in lower case)", o)
	}
	return ""
}

func validateUsers(users []UserConfig) []problem {
	var probs []problem
	if len(users) == 0 {
		return []problem{{key: "auth.users", msg: "required with auth.method: basic (at least one user)"}}
	}
	seen := map[string]int{}
	for i, u := range users {
		key := fmt.Sprintf("auth.users[%d]", i)
		switch {
		case u.Username == "":
			probs = append(probs, problem{key: key + ".username", msg: "required"})
		case strings.ContainsAny(u.Username, ":\r\n\x00"):
			probs = append(probs, problem{key: key + ".username", msg: `must not contain ":" or control characters`})
		default:
			if j, dup := seen[u.Username]; dup {
				probs = append(probs, problem{key: key + ".username", msg: fmt.Sprintf("duplicate of auth.users[%d]", j)})
			}
			seen[u.Username] = i
		}
		if u.PasswordHash == "" {
			probs = append(probs, problem{key: key + ".passwordHash", msg: "required (a bcrypt hash; create one with: tvm hash-password)"})
		} else if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			// Never echo the value: it may be a plain-text password.
			probs = append(probs, problem{key: key + ".passwordHash", msg: "not a bcrypt hash (create one with: tvm hash-password)"})
		} else if cost < 10 || cost > tvm.MaxBasicBcryptCost {
			probs = append(probs, problem{key: key + ".passwordHash", msg: fmt.Sprintf("bcrypt cost %d is outside 10..%d", cost, tvm.MaxBasicBcryptCost)})
		}
		for j, g := range u.Groups {
			if g == "" {
				probs = append(probs, problem{key: fmt.Sprintf("%s.groups[%d]", key, j), msg: "empty group name"})
			}
		}
	}
	return probs
}

var knownAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (j *JWTConfig) validate() []problem {
	var probs []problem
	add := func(key, format string, args ...any) {
		probs = append(probs, problem{key: "auth.jwt." + key, msg: fmt.Sprintf(format, args...)})
	}
	if j.Issuer == "" {
		add("issuer", "required")
	}
	switch {
	case j.JWKSURL == "" && j.JWKSFile == "":
		add("jwksURL", "required (or jwksFile)")
	case j.JWKSURL != "" && j.JWKSFile != "":
		add("jwksFile", "set either jwksURL or jwksFile, not both")
	case j.JWKSURL != "":
		if u, err := url.Parse(j.JWKSURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
			add("jwksURL", "must be an https:// URL (http:// only for localhost)")
		}
	}
	if len(j.Audience) == 0 {
		add("audience", "required (the client id or API identifier your tokens are issued for)")
	}
	for i, a := range j.Audience {
		if a == "" {
			add(fmt.Sprintf("audience[%d]", i), "empty")
		}
	}
	if len(j.Algorithms) == 0 {
		add("algorithms", "required, e.g. [RS256]")
	}
	for i, a := range j.Algorithms {
		if !slices.Contains(knownAlgorithms, a) {
			add(fmt.Sprintf("algorithms[%d]", i), "unsupported algorithm %q (want one of %s; HS* and none are refused)", a, strings.Join(knownAlgorithms, ", "))
		}
	}
	if j.Leeway < 0 || j.Leeway > 5*time.Minute {
		add("leeway", "must be between 0 and 5m, got %s", j.Leeway)
	}
	return probs
}

var (
	awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	poolID    = regexp.MustCompile(`^([a-z]{2}(-[a-z]+)+-\d)_[A-Za-z0-9]+$`)
)

func (c *CognitoConfig) validate() []problem {
	var probs []problem
	add := func(key, format string, args ...any) {
		probs = append(probs, problem{key: "auth.cognito." + key, msg: fmt.Sprintf(format, args...)})
	}
	if c.Region == "" {
		add("region", "required")
	} else if !awsRegion.MatchString(c.Region) {
		add("region", "%q is not an AWS region such as us-west-2", c.Region)
	}
	if c.UserPoolID == "" {
		add("userPoolId", "required")
	} else if m := poolID.FindStringSubmatch(c.UserPoolID); m == nil {
		add("userPoolId", "%q is not a user pool id such as us-west-2_AbC123", c.UserPoolID)
	} else if c.Region != "" && m[1] != c.Region {
		add("userPoolId", "pool %s is not in region %s", c.UserPoolID, c.Region)
	}
	if c.ClientID == "" {
		add("clientId", "required")
	}
	switch c.TokenUse {
	case "":
		add("tokenUse", "required (id or access)")
	case "id", "access":
	default:
		add("tokenUse", "must be id or access, got %q", c.TokenUse)
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
			add("jwksURL", "must be an https:// URL (http:// only for localhost)")
		}
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		add("leeway", "must be between 0 and 5m, got %s", c.Leeway)
	}
	return probs
}

func (c *Config) validateScopes() []problem {
	var probs []problem
	if len(c.Scopes) == 0 {
		return []problem{{key: "scopes", msg: "required (at least one rule: {group, permissions} or {default: true, permissions})"}}
	}
	groups := map[string]int{}
	for i, r := range c.Scopes {
		key := fmt.Sprintf("scopes[%d]", i)
		switch {
		case r.Default && r.Group != "":
			probs = append(probs, problem{key: key, msg: "set either group or default: true, not both"})
		case r.Default && i != len(c.Scopes)-1:
			probs = append(probs, problem{key: key, msg: "the default rule must be the last rule (rules after it never match)"})
		case !r.Default && r.Group == "":
			probs = append(probs, problem{key: key + ".group", msg: "required (or default: true for a rule that matches everyone)"})
		case r.Group != "":
			if j, dup := groups[r.Group]; dup {
				probs = append(probs, problem{key: key + ".group", msg: fmt.Sprintf("duplicate of scopes[%d] (it never matches)", j)})
			}
			groups[r.Group] = i
			if c.Auth.Method == "open" {
				probs = append(probs, problem{key: key + ".group", msg: "auth.method: open has no groups; use default: true"})
			}
		}
		if r.TTL < 0 || r.TTL > tvm.MaxTokenTTL || (r.TTL != 0 && r.TTL < time.Second) {
			probs = append(probs, problem{key: key + ".ttl", msg: fmt.Sprintf("must be between 1s and 1h, got %s", r.TTL)})
		}
		if len(r.Permissions) == 0 {
			probs = append(probs, problem{key: key + ".permissions", msg: "required (an empty scope is never vended)"})
			continue
		}
		probs = append(probs, validatePermissions(key+".permissions", r.Permissions)...)
	}
	return probs
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// validatePermissions reports every invalid permission of a rule, naming
// the offending field, e.g. "scopes[0].permissions[1].topic: missing".
func validatePermissions(key string, perms []tvm.Permission) []problem {
	var probs []problem
	for i, p := range perms {
		pkey := fmt.Sprintf("%s[%d]", key, i)
		err := tvm.NewScope(p).ValidateTemplate()
		if err == nil {
			continue
		}
		var se *tvm.ScopeError
		if errors.As(err, &se) {
			k := pkey
			if se.Field != "" {
				k += "." + se.Field
			}
			probs = append(probs, problem{key: k, msg: se.Problem})
			continue
		}
		probs = append(probs, problem{key: pkey, msg: strings.TrimPrefix(err.Error(), "tvm: ")})
	}
	return probs
}
