package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tvmgo/tvm"
)

const fixtures = "../../testdata/config"

func TestConfigFixturesValid(t *testing.T) {
	for _, name := range []string{"example.yaml", "open.yaml", "basic.yaml", "jwt-file.yaml", "cognito.yaml", "apigateway.yaml", "apigateway-rest.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(fixtures, name))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.Path != defaultPath {
				t.Errorf("path = %q", cfg.Path)
			}
			if len(cfg.Scopes) == 0 {
				t.Error("no scopes")
			}
		})
	}
}

func TestConfigExampleValues(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(fixtures, "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Auth.JWT
	if j == nil || j.Issuer != "https://login.example.com/" || len(j.Audience) != 1 || j.Audience[0] != "my-web-app" ||
		j.Leeway != 30*time.Second || len(j.GroupsClaim) != 1 || j.GroupsClaim[0] != "groups" {
		t.Errorf("auth.jwt = %+v", j)
	}
	if len(cfg.Scopes) != 3 || cfg.Scopes[1].TTL != 5*time.Minute || !cfg.Scopes[2].Default {
		t.Errorf("scopes = %+v", cfg.Scopes)
	}
	want := tvm.Permission{Role: tvm.ReadWrite, Cache: "default-cache", KeyPrefix: "{sub}/"}
	if got := cfg.Scopes[0].Permissions[1]; got != want {
		t.Errorf("scopes[0].permissions[1] = %+v, want %+v", got, want)
	}
	if cfg.RateLimit == nil || cfg.RateLimit.Burst != 5 || cfg.RateLimit.RequestsPerSecond != 1 {
		t.Errorf("rateLimit = %+v", cfg.RateLimit)
	}
}

func TestConfigRelativeJWKSFile(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(fixtures, "jwt-file.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Auth.JWT.JWKSFile); err != nil {
		t.Errorf("jwksFile %q not resolved relative to the config file: %v", cfg.Auth.JWT.JWKSFile, err)
	}
}

func TestConfigBadManyGolden(t *testing.T) {
	_, err := LoadConfig(filepath.Join(fixtures, "bad-many.yaml"))
	if !errors.Is(err, tvm.ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	// The binary's own problems (decoding, then the keys it owns) come
	// first, then the library's, component by component, each under its
	// configuration key.
	want := []string{
		"auth.jwt.audiance: unknown key (line 8)",
		"auth.jwt.leeway: not a duration (use a unit, e.g. 30s or 15m) (line 10)",
		"colour: unknown key (line 23)",
		"path: must start with /",
		"auth.cognito: only valid with auth.method: cognito (auth.method is jwt)",
		"tokenId: query:<name> lets callers choose their token id; it is allowed only with auth.method: open",
		"auth.jwt.issuer: required: the exact iss of your tokens",
		"auth.jwt.audience: required: the client id or API identifier your tokens are issued for (or set allowMissingAudience)",
		"auth.jwt.algorithms: HS256/384/512 need the hmac key source (a shared secret); public-key sources verify RS*, PS*, ES* and EdDSA only",
		`scopes[0].permissions[0].topic: missing (set topic to a name or "*", or set topicPrefix)`,
		"scopes[1].group: required (or default for a rule that matches every caller)",
		"scopes[1].permissions[0].topic: not allowed on a cache permission",
		"rateLimit.requestsPerSecond: must be a positive number",
		"rateLimit.burst: must not be negative",
		"ttl: must be between 1s and 1h0m0s",
		"cors.allowedOrigins[0]: (value not shown) is not an origin of the form scheme://host[:port]",
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// base is a valid configuration that the table rows below modify.
const base = `
auth:
  method: open
scopes:
  - default: true
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
`

// jwtAuth is an auth section with groups that builds without network or
// bcrypt (a JWKS file), for rows about group rules.
const jwtAuth = "auth: {method: jwt, jwt: {issuer: i, jwksFile: ../../testdata/jwt/jwks-public.json, audience: a, algorithms: [RS256]}}\n"

// reservedPathProblem is the problem of a path reserved for the operations
// endpoints.
const reservedPathProblem = "path: reserved for the operations endpoints (/healthz, /readyz, /metrics, /openapi.json, /admin/...)"

// TestConfigProblems: what ParseConfig (and so `tvm check`) reports for
// invalid configurations, exactly: the binary's words for the keys it owns,
// the library's for the rest, each under its configuration key.
func TestConfigProblems(t *testing.T) {
	const hash = "$2a$10$o3jy.peasT5BhJWPX8o21eeMH.5oqb3ZYIZ5FHPidqXk7EUBK7Uim"
	scopes := "scopes:\n  - default: true\n    permissions: [{role: subscribeonly, cache: c, topic: t}]\n"
	tests := []struct {
		name string
		yaml string
		want []string // exact problem lines, in order
	}{
		// Decoding (the binary's).
		{"empty", "", []string{"configuration is empty"}},
		{"comment only", "# nothing\n", []string{"configuration is empty"}},
		{"not a mapping", "- a\n- b\n", []string{"expected a mapping, got a list (line 1)", "auth.method: required (open, basic, jwt, cognito, apigateway)", "scopes: no rules (every caller would be refused)"}},
		{"two documents", base + "---\n" + base, []string{"configuration must be a single YAML document"}},
		{"invalid yaml", "auth: [\n", []string{"invalid YAML: line 1: did not find expected node content"}},
		{"unknown top key", base + "colour: blue\n", []string{"colour: unknown key (line 8)"}},
		{"case typo suggests", base + "tokenID: subject\n", []string{`tokenID: unknown key (did you mean "tokenId"?) (line 8)`}},
		{"duplicate key", base + "ttl: 1m\nttl: 2m\n", []string{"ttl: duplicate key (line 9)"}},
		{"alias refused", "x: &a 1m\n" + base, []string{"x: unknown key (line 1)"}},
		{"wrong kind", base + "cors: [a]\n", []string{"cors: expected a mapping, got a list (line 8)"}},
		{"bool", base + "momento: {local: maybe}\n", []string{"momento.local: expected true or false, got a string (not shown) (line 8)"}},
		{"duration number", base + "ttl: 900\n", []string{"ttl: not a duration (use a unit, e.g. 30s or 15m) (line 8)"}},
		{"permission unknown field", "auth: {method: open}\nscopes: [{default: true, permissions: [{role: readonly, cache: c, colour: red}]}]\n",
			[]string{"scopes[0].permissions[0].colour: unknown field (want role, cache, topic, topicPrefix, key or keyPrefix) (line 2)"}},
		{"permission bad role", "auth: {method: open}\nscopes:\n  - default: true\n    permissions:\n      - {role: readonly, cache: c}\n      - {role: admin, cache: c}\n",
			[]string{"scopes[0].permissions[1].role: unknown role admin (want publishsubscribe, subscribeonly, publishonly, readwrite, readonly or writeonly) (line 6)"}},
		{"rate limit types", base + "rateLimit: {requestsPerSecond: fast, burst: 1.5}\n",
			[]string{"rateLimit.requestsPerSecond: expected a number, got a string (not shown) (line 8)", "rateLimit.burst: expected an integer, got a number (line 8)"}},
		{"shared rate limit types", base + "rateLimit: {shared: {cache: [rl], limit: many, window: 5, failClosed: maybe}}\n",
			[]string{"rateLimit.shared.cache: expected a string, got a list (line 8)", "rateLimit.shared.limit: expected an integer, got a string (not shown) (line 8)",
				"rateLimit.shared.window: not a duration (use a unit, e.g. 30s or 15m) (line 8)", "rateLimit.shared.failClosed: expected true or false, got a string (not shown) (line 8)"}},
		{"shared rate limit unknown key", base + "rateLimit: {shared: {cache: rl, limit: 5, keyPrefix: x}}\n",
			[]string{"rateLimit.shared.keyPrefix: unknown key (line 8)"}},
		{"narrowing unknown", base + "narrowing: {room: r}\n", []string{"narrowing.room: unknown key (line 8)"}},

		// The keys the binary owns (validate).
		{"no method", scopes, []string{"auth.method: required (open, basic, jwt, cognito, apigateway)"}},
		{"unknown method", "auth: {method: ldap}\n" + scopes, []string{"auth.method: unknown method (want open, basic, jwt, cognito, apigateway)"}},
		{"path reserved", base + "path: /metrics\n", []string{reservedPathProblem}},
		{"path openapi", base + "path: /openapi.json\n", []string{reservedPathProblem}},
		{"path admin", base + "path: /admin/token\n", []string{reservedPathProblem}},
		{"path query", base + "path: /token?x=1\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"path root", base + "path: /\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"path subtree", base + "path: /token/\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"path dots", base + "path: /a/../token\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"shutdownTimeout", base + "shutdownTimeout: 11m\n", []string{"shutdownTimeout: must be between 1ms and 10m0s, got 11m0s"}},
		{"tokenId bad", base + "tokenId: random\n", []string{"tokenId: must be subject or query:<name>"}},
		{"tokenId bad param", base + "tokenId: 'query:a b'\n", []string{"tokenId: the query parameter name must be 1-64 letters, digits, - or _"}},
		{"tokenId query needs open", jwtAuth + "tokenId: query:name\n" + scopes,
			[]string{"tokenId: query:<name> lets callers choose their token id; it is allowed only with auth.method: open"}},
		{"open with groups", "auth: {method: open}\nscopes: [{group: g, permissions: [{role: readonly, cache: c}]}]\n",
			[]string{"scopes[0].group: auth.method: open has no groups; use default: true"}},
		{"users with open", "auth: {method: open, users: [{username: a}]}\n" + scopes, []string{"auth.users: only valid with auth.method: basic (auth.method is open)"}},
		{"jwt section missing", "auth: {method: jwt}\n" + scopes, []string{"auth.jwt: required with auth.method: jwt"}},
		{"cognito section missing", "auth: {method: cognito}\n" + scopes, []string{"auth.cognito: required with auth.method: cognito"}},
		{"apigateway with local", "auth: {method: apigateway}\nmomento: {local: true}\n" + scopes,
			[]string{"momento.local: cannot be used with auth.method: apigateway (AWS Lambda)"}},
		{"caches without local", base + "momento: {caches: [a]}\n", []string{"momento.caches: only valid with momento.local: true"}},
		{"log", base + "log: {level: loud, format: xml}\n", []string{"log.level: must be debug, info, warn or error", "log.format: must be text or json"}},

		// The library's verdict (checkBuild), under the configuration keys.
		{"no scopes", "auth: {method: open}\n", []string{"scopes: no rules (every caller would be refused)"}},
		{"ttl too long", base + "ttl: 61m\n", []string{"ttl: must be between 1s and 1h0m0s"}},
		{"ttl too short", base + "ttl: 10ms\n", []string{"ttl: must be between 1s and 1h0m0s"}},
		{"ttl negative", base + "ttl: -1m\n", []string{"ttl: must be between 1s and 1h0m0s"}},
		{"vendTimeout negative", base + "vendTimeout: -1s\n", []string{"vendTimeout: must not be negative"}},
		{"basic no users", "auth: {method: basic}\n" + scopes, []string{"auth.users: at least one user is required"}},
		{"basic users problems", "auth:\n  method: basic\n  users:\n    - {username: a, passwordHash: plaintext}\n    - {username: a, passwordHash: '" + hash + "', groups: ['']}\n    - {passwordHash: '$2a$04$abcdefghijklmnopqrstuu5I2PUvOIz6lH4XyR1DL1l3cN9UYyFTi'}\n" + scopes,
			[]string{
				"auth.users[0].passwordHash: not a valid bcrypt hash",
				"auth.users[1].username: duplicate username",
				"auth.users[1].groups[0]: empty, not UTF-8, or holds a control character",
				"auth.users[2].username: required",
				"auth.users[2].passwordHash: bcrypt cost 4 is outside 10..14",
			}},
		{"jwt both key sources", "auth: {method: jwt, jwt: {issuer: i, jwksURL: 'https://x/j', jwksFile: f, audience: a, algorithms: [RS256]}}\n" + scopes,
			[]string{"auth.jwt.jwksURL: set at most one key source: jwksURL, jwksFile, jwksJSON, keys or hmac"}},
		{"jwt http url", "auth: {method: jwt, jwt: {issuer: i, jwksURL: 'http://example.com/j', audience: [a, ''], algorithms: [none], leeway: 1h}}\n" + scopes,
			[]string{
				"auth.jwt.leeway: more than 5m0s",
				"auth.jwt.audience: contains an empty string",
				`auth.jwt.algorithms: "none" is refused: tokens must be signed`,
				"auth.jwt.jwksURL: must be https (http only on a loopback host, or with allowInsecureHTTP)",
			}},
		{"cognito missing all", "auth: {method: cognito, cognito: {}}\n" + scopes,
			[]string{"auth.cognito.region: required", "auth.cognito.userPoolId: required", "auth.cognito.clientId: required", `auth.cognito.tokenUse: required: "id" or "access"`}},
		{"cognito wrong values", "auth: {method: cognito, cognito: {region: us-west-2, userPoolId: eu-west-1_abc, clientId: c, tokenUse: refresh}}\n" + scopes,
			[]string{`auth.cognito.userPoolId: does not start with the region "us-west-2" and an underscore`, `auth.cognito.tokenUse: must be "id" or "access"`}},
		{"cognito bad region", "auth: {method: cognito, cognito: {region: mars, userPoolId: x, clientId: c, tokenUse: id}}\n" + scopes,
			[]string{"auth.cognito.region: not an AWS region name such as us-west-2", "auth.cognito.userPoolId: not a user pool id such as us-west-2_aBcDeFgHi"}},
		{"default not last", jwtAuth + "scopes:\n  - {default: true, permissions: [{role: readonly, cache: c}]}\n  - {group: g, permissions: [{role: readonly, cache: c}]}\n",
			[]string{"scopes[0].default: only the last rule may be the default rule (the rules after it could never match)"}},
		{"group and default", jwtAuth + "scopes:\n  - {group: g, default: true, permissions: [{role: readonly, cache: c}]}\n",
			[]string{"scopes[0].group: set together with default"}},
		{"duplicate group", jwtAuth + "scopes:\n  - {group: g, permissions: [{role: readonly, cache: c}]}\n  - {group: g, ttl: 2h, permissions: []}\n",
			[]string{"scopes[1].group: duplicate group g (only the first rule could match)", "scopes[1].ttl: must be 0 (the handler's default) or between 1s and 1h0m0s", "scopes[1].permissions: no permissions (an empty scope is never vended)"}},
		{"permission bad template", "auth: {method: open}\nscopes: [{default: true, permissions: [{role: readonly, cache: c, key: 'user-{sub'}]}]\n",
			[]string{`scopes[0].permissions[0].key: unterminated "{" in template`}},
		{"cors", base + "cors: {allowedOrigins: ['*', 'http://a.test', 'ftp://b.test', 'http://a.test']}\n",
			[]string{
				`cors.allowedOrigins[0]: "*" cannot be combined with other origins`,
				"cors.allowedOrigins[2]: (value not shown) is not an origin of the form scheme://host[:port]",
				"cors.allowedOrigins[3]: duplicate origin",
			}},
		{"rate limit", base + "rateLimit: {requestsPerSecond: -1, burst: 1, maxIdentities: -5}\n",
			[]string{"rateLimit.requestsPerSecond: must be a positive number", "rateLimit.maxIdentities: must not be negative"}},
		{"rate limit burst only", base + "rateLimit: {burst: 3}\n", []string{"rateLimit.requestsPerSecond: must be a positive number"}},
		{"shared rate limit empty", base + "rateLimit: {shared: {}}\n",
			[]string{"rateLimit.shared.cache: required", "rateLimit.shared.limit: must be at least 1"}},
		{"shared rate limit values", base + "rateLimit: {shared: {cache: 'a b', limit: -1, window: 500ms}}\n",
			[]string{"rateLimit.shared.cache: contains whitespace", "rateLimit.shared.limit: must be at least 1",
				"rateLimit.shared.window: must be whole milliseconds, between 1s and 24h (Momento's longest item ttl)"}},
		{"shared rate limit window", base + "rateLimit: {shared: {cache: rl, limit: 5, window: 1s500us}}\n",
			[]string{"rateLimit.shared.window: must be whole milliseconds, between 1s and 24h (Momento's longest item ttl)"}},
		{"shared rate limit long window", base + "rateLimit: {shared: {cache: rl, limit: 5, window: 25h}}\n",
			[]string{"rateLimit.shared.window: must be whole milliseconds, between 1s and 24h (Momento's longest item ttl)"}},
		{"shared rate limit half a fallback", base + "rateLimit: {burst: 2, shared: {cache: rl, limit: 5}}\n",
			[]string{"rateLimit.requestsPerSecond: must be a positive number"}},
		{"shared rate limit fail closed with fallback", base + "rateLimit: {requestsPerSecond: 1, burst: 2, shared: {cache: rl, limit: 5, failClosed: true}}\n",
			[]string{"rateLimit.shared.failClosed: cannot be combined with fallback (the fallback decides when Momento cannot be asked)"}},
		{"bad cache name", base + "momento: {local: true, caches: [default-cache, '*']}\n", []string{`momento.caches: invalid config: invalid cache name "*"`}},
		{"narrowing bad parameter", base + "narrowing: {keyParam: 'a b'}\n", []string{`narrowing.keyParam: must be 1 to 64 letters, digits, "_", "-" or "."`}},
		// Every component is judged, even when another one fails: the
		// narrowing with bad rules, the shared limit with a bad fallback.
		{"narrowing and scopes", "auth: {method: open}\nscopes: [{default: true, permissions: []}]\nnarrowing: {keyParam: 'a b'}\n",
			[]string{"scopes[0].permissions: no permissions (an empty scope is never vended)", `narrowing.keyParam: must be 1 to 64 letters, digits, "_", "-" or "."`}},
		{"shared rate limit and its fallback", base + "rateLimit: {requestsPerSecond: -1, shared: {cache: rl, failClosed: true}}\n",
			[]string{"rateLimit.requestsPerSecond: must be a positive number", "rateLimit.shared.limit: must be at least 1",
				"rateLimit.shared.failClosed: cannot be combined with fallback (the fallback decides when Momento cannot be asked)"}},
		{"narrowing same parameter", base + "narrowing: {cacheParam: x, topicParam: x}\n", []string{"narrowing.topicParam: same parameter name as cacheParam"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if !errors.Is(err, tvm.ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestConfigDefaults: the binary fills in the defaults of the keys it owns
// only; every other key left unset stays zero in Config, for the library to
// default (TestLibraryDefaultsTakeEffect shows that it does).
func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != "/api/momento/token" || cfg.ShutdownTimeout != 10*time.Second || cfg.TokenID != "subject" ||
		cfg.Log.Level != "info" || cfg.Log.Format != "" {
		t.Errorf("the binary's defaults: %+v", cfg)
	}
	want := Config{Path: cfg.Path, ShutdownTimeout: cfg.ShutdownTimeout, TokenID: cfg.TokenID, Log: cfg.Log, Auth: cfg.Auth, Scopes: cfg.Scopes}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("keys the library defaults were filled in:\n got %+v\nwant %+v", *cfg, want)
	}

	// Sections present with their keys unset: still nothing filled in.
	cfg, err = ParseConfig([]byte(base + "narrowing: {}\nrateLimit: {requestsPerSecond: 2, shared: {cache: rl, limit: 5}}\nmomento: {local: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Narrowing; n == nil || *n != (NarrowingConfig{}) {
		t.Errorf("narrowing: %+v", n)
	}
	if r := cfg.RateLimit; r.Burst != 0 || r.MaxIdentities != 0 || r.Shared == nil || *r.Shared != (SharedRateLimitConfig{Cache: "rl", Limit: 5}) {
		t.Errorf("rateLimit: %+v %+v", r, r.Shared)
	}
	if cfg.Momento.Caches != nil {
		t.Errorf("momento.caches: %q", cfg.Momento.Caches)
	}

	// The apigateway authenticator is the binary's: it defaults its claims.
	cfg, err = ParseConfig([]byte("auth: {method: apigateway}\nscopes:" + strings.SplitN(base, "scopes:", 2)[1]))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Auth.APIGateway; g == nil || g.SubjectClaim != "sub" || g.GroupsClaim != "cognito:groups" {
		t.Errorf("apigateway defaults: %+v", g)
	}
}

func TestConfigAudienceScalarOrList(t *testing.T) {
	for _, aud := range []string{"a", "[a]"} {
		cfg, err := ParseConfig([]byte("auth: {method: jwt, jwt: {issuer: i, jwksURL: 'https://x.test/j', audience: " + aud + ", algorithms: RS256}}\n" + strings.SplitN(base, "\n", 4)[3]))
		if err != nil {
			t.Fatalf("audience %s: %v", aud, err)
		}
		if got := cfg.Auth.JWT.Audience; len(got) != 1 || got[0] != "a" {
			t.Errorf("audience %s = %q", aud, got)
		}
	}
}

func TestConfigProblemsNeverEchoPasswordHashes(t *testing.T) {
	const plain = "hunter2-secret-password"
	_, err := ParseConfig([]byte("auth: {method: basic, users: [{username: a, passwordHash: " + plain + "}]}\n" + strings.SplitN(base, "\n", 4)[3]))
	if err == nil || strings.Contains(err.Error(), plain) {
		t.Errorf("err = %v", err)
	}
}

func TestDemoConfigValid(t *testing.T) {
	c := DemoConfig()
	if probs := c.validate(); len(probs) != 0 {
		t.Fatalf("demo config invalid: %v", configErrors(probs))
	}
	if probs := checkBuild(c); len(probs) != 0 {
		t.Fatalf("demo config does not build: %v", configErrors(probs))
	}
	// The token lifetime is the library's default (15 minutes, as
	// TestBinaryDefaultDemo sees in the emulator).
	if c.Auth.Method != "open" || !c.Momento.Local || c.TTL != 0 || c.TokenID != "query:name" || c.Path != defaultPath {
		t.Errorf("demo config: %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "cannot read configuration") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", maxConfigSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(big); err == nil || err.Error() != "configuration file larger than 1 MiB" {
		t.Errorf("big file: %v", err)
	}
}

func TestConfigNarrowing(t *testing.T) {
	cfg, err := ParseConfig([]byte(base + "narrowing: {keyParam: k, topicParam: '-'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Passed on as written: the library defaults cacheParam and reads "-".
	if n := cfg.Narrowing; n == nil || *n != (NarrowingConfig{TopicParam: "-", KeyParam: "k"}) {
		t.Errorf("narrowing %+v", cfg.Narrowing)
	}
}

// TestDeployConfigValid keeps the configuration of the AWS recipe valid
// (LoadConfig builds every component, as tvm check does).
func TestDeployConfigValid(t *testing.T) {
	cfg, err := LoadConfig("../../deploy/aws/tvm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.Method != "apigateway" || cfg.Momento.Local {
		t.Errorf("deploy config: %+v", cfg)
	}
}

// ParseConfig is parseConfig with file names relative to the working
// directory, as the tests and the fuzz target give them.
func ParseConfig(data []byte) (*Config, error) { return parseConfig(data, ".") }
