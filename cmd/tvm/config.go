package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tvmgo/tvm"
)

// Defaults of the keys the binary owns. Everything else defaults in the
// library: an unset key is passed on as zero.
const (
	defaultPath            = "/api/momento/token"
	defaultShutdownTimeout = 10 * time.Second
	maxShutdownTimeout     = 10 * time.Minute
	maxConfigSize          = 1 << 20
)

// Config is the YAML configuration file of the tvm command. Every key is
// documented in the README and in testdata/config/example.yaml.
type Config struct {
	// Path is the URL path that serves tokens (GET).
	Path string `yaml:"path"`
	// TTL is the lifetime of vended tokens (tvm.Config.TTL).
	TTL time.Duration `yaml:"ttl"`
	// VendTimeout bounds each call to Momento (tvm.Config.VendTimeout).
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
	// VendLimit is a ceiling on vends, to stay under Momento's auth quota
	// (tvm.Config.VendLimit). Nil means none.
	VendLimit *VendLimitConfig `yaml:"vendLimit"`
	// Reuse configures token reuse and request coalescing (on by default).
	Reuse ReuseConfig `yaml:"reuse"`
	// Retry configures the retries of vends Momento could not serve.
	Retry RetryConfig `yaml:"retry"`
	// Momento selects where tokens come from.
	Momento MomentoConfig `yaml:"momento"`
	// Log configures the log output.
	Log LogConfig `yaml:"log"`
	// AllowedHosts are the host names clients use to reach tvm; with it
	// (and always under open auth) the token path refuses other Host
	// values (DNS rebinding). See host.go.
	AllowedHosts []string `yaml:"allowedHosts"`
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the per-address rate limit of open auth
	// (tvm.Config.TrustedProxies): addresses or CIDR prefixes.
	TrustedProxies []string `yaml:"trustedProxies"`

	// demo is set for the built-in no-config default.
	demo bool
}

// AuthConfig selects the authenticator.
type AuthConfig struct {
	// Method is open, basic, jwt, cognito or apigateway.
	Method string `yaml:"method"`
	// Users are the accounts of the basic method (tvm.BasicConfig.Users).
	Users []UserConfig `yaml:"users"`
	// AllowCredentialHeaders (basic) also accepts the "username" and
	// "password" headers of Momento's reference clients.
	AllowCredentialHeaders bool `yaml:"allowCredentialHeaders"`
	// MaxConcurrentChecks (basic) bounds the password checks running at
	// once (tvm.BasicConfig.MaxConcurrentChecks).
	MaxConcurrentChecks int `yaml:"maxConcurrentChecks"`
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

// JWTConfig configures the jwt method (see jwtauth.Config): the keys of one
// issuer, or a list of issuers under issuers (each with the keys of one
// issuer), and the keys they share. A token's iss selects its issuer.
type JWTConfig struct {
	// Name names the issuer (Identity.Method); required to tell several
	// apart.
	Name string `yaml:"name"`
	// Issuer is the exact iss; without jwksURL, jwksFile or hmac the key
	// set is found by OpenID Connect discovery from it.
	Issuer string `yaml:"issuer"`
	// IssuerAliases are other spellings of iss (Google).
	IssuerAliases []string `yaml:"issuerAliases"`
	JWKSURL       string   `yaml:"jwksURL"`
	JWKSFile      string   `yaml:"jwksFile"`
	// HMAC is the shared secret of HS256/384/512 tokens, from a file or an
	// environment variable (never inline).
	HMAC              *HMACConfig `yaml:"hmac"`
	AllowInsecureHTTP bool        `yaml:"allowInsecureHTTP"`
	Audience          []string    `yaml:"audience"`
	// AllowMissingAudience accepts tokens without aud (with requiredClaims).
	AllowMissingAudience bool     `yaml:"allowMissingAudience"`
	Algorithms           []string `yaml:"algorithms"`
	SubjectClaim         string   `yaml:"subjectClaim"`
	// GroupsClaim is one claim path or a list of them.
	GroupsClaim       []string            `yaml:"groupsClaim"`
	RequiredClaims    map[string][]string `yaml:"requiredClaims"`
	OutliveCredential time.Duration       `yaml:"outliveCredential"`
	// Cognito and Entra are the presets (jwtauth.Cognito, jwtauth.Entra).
	Cognito *CognitoPoolConfig `yaml:"cognito"`
	Entra   *EntraConfig       `yaml:"entra"`

	// Issuers lists several issuers, each with the keys above; then those
	// keys are not set here.
	Issuers []JWTConfig `yaml:"issuers"`

	// Shared by every issuer: only at auth.jwt itself.
	Leeway          time.Duration `yaml:"leeway"`
	MaxTokenBytes   int           `yaml:"maxTokenBytes"`
	HTTPTimeout     time.Duration `yaml:"httpTimeout"`
	RefreshInterval time.Duration `yaml:"refreshInterval"`
	CacheSize       int           `yaml:"cacheSize"`
	DisableCache    bool          `yaml:"disableCache"`
}

// HMACConfig is where the HMAC secret of an issuer comes from: exactly one
// of secretFile and secretEnv.
type HMACConfig struct {
	// SecretFile is a file holding the secret (one trailing newline is
	// dropped).
	SecretFile string `yaml:"secretFile"`
	// SecretEnv names an environment variable holding the secret.
	SecretEnv string `yaml:"secretEnv"`
	// KeyID, if set, must be the tokens' kid.
	KeyID string `yaml:"keyId"`
	// Secret is refused: secrets do not belong in configuration files.
	Secret string `yaml:"secret"`
}

// CognitoPoolConfig is the Cognito preset of an issuer under auth.jwt.
type CognitoPoolConfig struct {
	Region     string `yaml:"region"`
	UserPoolID string `yaml:"userPoolId"`
	ClientID   string `yaml:"clientId"`
	TokenUse   string `yaml:"tokenUse"`
}

// EntraConfig is the Entra ID preset of an issuer under auth.jwt.
type EntraConfig struct {
	TenantIDs []string `yaml:"tenantIds"`
}

// CognitoConfig configures the cognito method: one Cognito issuer.
type CognitoConfig struct {
	Region     string `yaml:"region"`
	UserPoolID string `yaml:"userPoolId"`
	ClientID   string `yaml:"clientId"`
	TokenUse   string `yaml:"tokenUse"`
	// SubjectClaim names the claim used as subject (default sub).
	SubjectClaim string `yaml:"subjectClaim"`
	// GroupsClaim names the claims holding groups (default cognito:groups).
	GroupsClaim []string `yaml:"groupsClaim"`
	// Leeway is the clock skew allowed on exp/nbf/iat (default 30s).
	Leeway time.Duration `yaml:"leeway"`
	// JWKSURL overrides the pool's JWKS address (tests, proxies, VPC
	// endpoints); the issuer check is unchanged.
	JWKSURL string `yaml:"jwksURL"`
	// OutliveCredential lets vended tokens outlive the Cognito token.
	OutliveCredential time.Duration `yaml:"outliveCredential"`
}

// APIGatewayConfig configures the apigateway method (AWS Lambda only).
type APIGatewayConfig struct {
	// SubjectClaim names the authorizer claim used as subject (default sub).
	SubjectClaim string `yaml:"subjectClaim"`
	// GroupsClaim names the authorizer claim holding groups (default
	// cognito:groups).
	GroupsClaim string `yaml:"groupsClaim"`
	// GroupsFormat says how the authorizer delivers a list of groups: json
	// (default), space ("[a b]") or comma ("a,b"); see apigateway.go.
	GroupsFormat string `yaml:"groupsFormat"`
}

// ScopeRule is one scope rule: the first rule whose group the caller is in
// wins; a rule with default: true matches everyone and must be last.
type ScopeRule struct {
	Group       string        `yaml:"group"`
	Default     bool          `yaml:"default"`
	TTL         time.Duration `yaml:"ttl"`
	Permissions tvm.Scope     `yaml:"permissions"`
}

// NarrowingConfig names the query parameters of client narrowing (see
// tvm.NarrowOptions). "-" turns a parameter off.
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
// (see tvm.MomentoRateLimitConfig).
type SharedRateLimitConfig struct {
	// Cache is the Momento cache holding the counters (the API key needs
	// read-write access to it). In local mode the emulator serves it.
	Cache string `yaml:"cache"`
	// Limit is how many token requests each identity may make per Window.
	Limit int64 `yaml:"limit"`
	// Window is the fixed counting window.
	Window time.Duration `yaml:"window"`
	// FailClosed refuses requests (503) when Momento cannot be asked,
	// instead of letting them through. Not with a fallback.
	FailClosed bool `yaml:"failClosed"`
}

// shared returns r.Shared, nil when r (rateLimit) is absent.
func (r *RateLimitConfig) shared() *SharedRateLimitConfig {
	if r == nil {
		return nil
	}
	return r.Shared
}

// VendLimitConfig is a ceiling on the calls to Momento's token service of
// this process (PerSecond) or of every instance (Shared), so that vending
// stays under Momento's auth quota of 5 operations per second per account
// (see tvm.Config.VendLimit). Reused and coalesced tokens never count.
type VendLimitConfig struct {
	// PerSecond is the ceiling of this process (with Shared: the fallback
	// while Momento Cache cannot be asked).
	PerSecond float64 `yaml:"perSecond"`
	// Burst is how many vends may happen at once after a quiet period.
	Burst int `yaml:"burst"`
	// Wait is how long a vend may wait for a slot before it is shed with
	// 503 (tvm.Config.VendLimitWait).
	Wait time.Duration `yaml:"wait"`
	// Shared counts the vends of every instance in a Momento cache: limit
	// vends per window.
	Shared *SharedRateLimitConfig `yaml:"shared"`
}

// shared returns v.Shared, nil when v (vendLimit) is absent.
func (v *VendLimitConfig) shared() *SharedRateLimitConfig {
	if v == nil {
		return nil
	}
	return v.Shared
}

// ReuseConfig configures token reuse and request coalescing (see
// tvm.ReuseOptions). Both are on unless enabled is false.
type ReuseConfig struct {
	// Enabled turns reuse and coalescing on (default) or off.
	Enabled *bool `yaml:"enabled"`
	// MinRemaining is the fraction of a fresh token's lifetime a kept token
	// must still have to be handed again.
	MinRemaining float64 `yaml:"minRemaining"`
	// MaxEntries bounds the number of kept tokens.
	MaxEntries int `yaml:"maxEntries"`
}

// RetryConfig configures the retries of vends that failed because Momento
// was unavailable (see tvm.RetryOptions).
type RetryConfig struct {
	// Attempts is the number of calls at most, the first included.
	Attempts int `yaml:"attempts"`
	// BaseDelay bounds the first retry's random wait.
	BaseDelay time.Duration `yaml:"baseDelay"`
	// MaxDelay caps any wait.
	MaxDelay time.Duration `yaml:"maxDelay"`
}

// MomentoConfig selects where tokens come from.
type MomentoConfig struct {
	// Local runs the embedded Momento emulator instead of using
	// MOMENTO_API_KEY (development only).
	Local bool `yaml:"local"`
	// Endpoint is the regional Momento endpoint a v2 API key is used with
	// (tvm.MomentoVendorConfig.Endpoint); MOMENTO_ENDPOINT sets it too.
	Endpoint string `yaml:"endpoint"`
	// Caches are the caches the embedded emulator serves (default: the
	// emulator's, default-cache).
	Caches []string `yaml:"caches"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json; default json in Lambda, text elsewhere
}

// LoadConfig reads the configuration file at path and checks it
// completely (see parseConfig). Relative file names in it are relative to
// the file.
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
	return parseConfig(data, filepath.Dir(path))
}

// parseConfig decodes a YAML configuration and checks it completely,
// without network: the keys the binary owns here (validate), and every
// other value by building the library's components from it (checkBuild),
// so that the library alone judges what it owns. It returns every problem
// at once, as configErrors naming the configuration keys. Relative file
// names are relative to dir.
func parseConfig(data []byte, dir string) (*Config, error) {
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
	decodeProbs := decodeStrict(&doc, &c)
	c.applyDefaults()
	c.Auth.JWT.resolveFiles(dir)
	// The library's verdict on what decoded, except under keys that already
	// have a problem (a value that did not decode is zero, and the library
	// would only repeat it).
	probs := dropRedundant(decodeProbs, c.validate())
	probs = append(probs, dropUnder(probs, checkBuild(&c))...)
	if len(probs) > 0 {
		return nil, configErrors(redactValues(&doc, probs))
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
// authentication, publish+subscribe on every topic of default-cache, the
// library's default token lifetime (15 minutes), token ids from ?name=
// (else random), CORS for local development servers, the embedded
// emulator.
func DemoConfig() *Config {
	c := &Config{
		CORS:    CORSConfig{AllowedOrigins: demoOrigins},
		Auth:    AuthConfig{Method: "open"},
		TokenID: "query:name",
		Scopes: []ScopeRule{{
			Default:     true,
			Permissions: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All}},
		}},
		Momento: MomentoConfig{Local: true},
		demo:    true,
	}
	c.applyDefaults()
	return c
}

// applyDefaults fills the defaults of the keys the binary owns.
func (c *Config) applyDefaults() {
	if c.Path == "" {
		c.Path = defaultPath
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	if c.TokenID == "" {
		c.TokenID = "subject"
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
