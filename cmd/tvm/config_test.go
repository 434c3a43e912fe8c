package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tvmgo/tvm"
)

const fixtures = "../../testdata/config"

func TestConfigFixturesValid(t *testing.T) {
	for _, name := range []string{"example.yaml", "open.yaml", "basic.yaml", "jwt-file.yaml", "cognito.yaml", "apigateway.yaml"} {
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
		j.Leeway != 30*time.Second || j.GroupsClaim != "groups" {
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
	want := []string{
		"auth.jwt.audiance: unknown key (line 8)",
		`auth.jwt.leeway: invalid duration "soon" (use a unit, e.g. 30s or 15m) (line 10)`,
		"colour: unknown key (line 23)",
		"path: must start with /",
		"ttl: must be between 1s and 1h (Momento's limit), got 2h0m0s",
		"auth.cognito: only valid with auth.method: cognito (auth.method is jwt)",
		"auth.jwt.issuer: required",
		"auth.jwt.jwksURL: required (or jwksFile)",
		"auth.jwt.audience: required (the client id or API identifier your tokens are issued for)",
		`auth.jwt.algorithms[0]: unsupported algorithm "HS256" (want one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; HS* and none are refused)`,
		"tokenId: query:<name> lets callers choose their token id; it is allowed only with auth.method: open",
		`scopes[0].permissions[0].topic: missing (set topic to a name or "*", or set topicPrefix)`,
		"scopes[1].group: required (or default: true for a rule that matches everyone)",
		"scopes[1].permissions[0].topic: not allowed on a cache permission",
		`cors.allowedOrigins[0]: "https://App.example.com/" is not an origin (want scheme://host[:port], no path)`,
		"rateLimit.requestsPerSecond: required, a number greater than 0",
		"rateLimit.burst: required, an integer of at least 1",
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

func TestConfigProblems(t *testing.T) {
	const hash = "$2a$10$o3jy.peasT5BhJWPX8o21eeMH.5oqb3ZYIZ5FHPidqXk7EUBK7Uim"
	scopes := "scopes:\n  - default: true\n    permissions: [{role: subscribeonly, cache: c, topic: t}]\n"
	tests := []struct {
		name string
		yaml string
		want []string // exact problem lines, in order
	}{
		{"empty", "", []string{"configuration is empty"}},
		{"comment only", "# nothing\n", []string{"configuration is empty"}},
		{"not a mapping", "- a\n- b\n", []string{"expected a mapping, got a list (line 1)", "auth.method: required (open, basic, jwt, cognito or apigateway)", "scopes: required (at least one rule: {group, permissions} or {default: true, permissions})"}},
		{"two documents", base + "---\n" + base, []string{"configuration must be a single YAML document"}},
		{"invalid yaml", "auth: [\n", []string{"invalid YAML: line 1: did not find expected node content"}},
		{"no method", scopes, []string{"auth.method: required (open, basic, jwt, cognito or apigateway)"}},
		{"unknown method", "auth: {method: ldap}\n" + scopes, []string{`auth.method: unknown method "ldap" (want open, basic, jwt, cognito or apigateway)`}},
		{"no scopes", "auth: {method: open}\n", []string{"scopes: required (at least one rule: {group, permissions} or {default: true, permissions})"}},
		{"unknown top key", base + "colour: blue\n", []string{"colour: unknown key (line 8)"}},
		{"case typo suggests", base + "tokenID: subject\n", []string{`tokenID: unknown key (did you mean "tokenId"?) (line 8)`}},
		{"duplicate key", base + "ttl: 1m\nttl: 2m\n", []string{"ttl: duplicate key (line 9)"}},
		{"alias refused", "x: &a 1m\n" + base, []string{"x: unknown key (line 1)"}},
		{"wrong kind", base + "cors: [a]\n", []string{"cors: expected a mapping, got a list (line 8)"}},
		{"bool", base + "momento: {local: maybe}\n", []string{`momento.local: expected true or false, got "maybe" (line 8)`}},
		{"duration number", base + "ttl: 900\n", []string{`ttl: invalid duration "900" (use a unit, e.g. 30s or 15m) (line 8)`}},
		{"ttl too long", base + "ttl: 61m\n", []string{"ttl: must be between 1s and 1h (Momento's limit), got 1h1m0s"}},
		{"ttl too short", base + "ttl: 10ms\n", []string{"ttl: must be at least 1s, got 10ms"}},
		{"path reserved", base + "path: /metrics\n", []string{"path: /metrics is reserved for operations endpoints"}},
		{"path admin", base + "path: /admin/token\n", []string{"path: /admin/token is reserved for operations endpoints"}},
		{"path query", base + "path: /token?x=1\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"path root", base + "path: /\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"path subtree", base + "path: /token/\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"path dots", base + "path: /a/../token\n", []string{"path: must be a plain URL path such as /api/momento/token"}},
		{"tokenId bad", base + "tokenId: random\n", []string{`tokenId: must be subject or query:<name>, got "random"`}},
		{"tokenId bad param", base + "tokenId: 'query:a b'\n", []string{`tokenId: query parameter name "a b" must be 1-64 letters, digits, - or _`}},
		{"tokenId query needs open", "auth: {method: basic, users: [{username: a, passwordHash: '" + hash + "'}]}\ntokenId: query:name\n" + scopes,
			[]string{"tokenId: query:<name> lets callers choose their token id; it is allowed only with auth.method: open"}},
		{"open with groups", "auth: {method: open}\nscopes: [{group: g, permissions: [{role: readonly, cache: c}]}]\n",
			[]string{"scopes[0].group: auth.method: open has no groups; use default: true"}},
		{"basic no users", "auth: {method: basic}\n" + scopes, []string{"auth.users: required with auth.method: basic (at least one user)"}},
		{"basic users problems", "auth:\n  method: basic\n  users:\n    - {username: a, passwordHash: plaintext}\n    - {username: a, passwordHash: '" + hash + "', groups: ['']}\n    - {passwordHash: '$2a$04$abcdefghijklmnopqrstuu5I2PUvOIz6lH4XyR1DL1l3cN9UYyFTi'}\n" + scopes,
			[]string{
				"auth.users[0].passwordHash: not a bcrypt hash (create one with: tvm hash-password)",
				"auth.users[1].username: duplicate of auth.users[0]",
				"auth.users[1].groups[0]: empty group name",
				"auth.users[2].username: required",
				"auth.users[2].passwordHash: bcrypt cost 4 is outside 10..14",
			}},
		{"users with open", "auth: {method: open, users: [{username: a}]}\n" + scopes, []string{"auth.users: only valid with auth.method: basic (auth.method is open)"}},
		{"jwt section missing", "auth: {method: jwt}\n" + scopes, []string{"auth.jwt: required with auth.method: jwt"}},
		{"jwt both key sources", "auth: {method: jwt, jwt: {issuer: i, jwksURL: 'https://x/j', jwksFile: f, audience: a, algorithms: [RS256]}}\n" + scopes,
			[]string{"auth.jwt.jwksFile: set either jwksURL or jwksFile, not both"}},
		{"jwt http url", "auth: {method: jwt, jwt: {issuer: i, jwksURL: 'http://example.com/j', audience: [a, ''], algorithms: [none], leeway: 1h}}\n" + scopes,
			[]string{
				"auth.jwt.jwksURL: must be an https:// URL (http:// only for localhost)",
				"auth.jwt.audience[1]: empty",
				`auth.jwt.algorithms[0]: unsupported algorithm "none" (want one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; HS* and none are refused)`,
				"auth.jwt.leeway: must be between 0 and 5m, got 1h0m0s",
			}},
		{"cognito missing all", "auth: {method: cognito, cognito: {}}\n" + scopes,
			[]string{"auth.cognito.region: required", "auth.cognito.userPoolId: required", "auth.cognito.clientId: required", "auth.cognito.tokenUse: required (id or access)"}},
		{"cognito wrong values", "auth: {method: cognito, cognito: {region: us-west-2, userPoolId: eu-west-1_abc, clientId: c, tokenUse: refresh}}\n" + scopes,
			[]string{"auth.cognito.userPoolId: pool eu-west-1_abc is not in region us-west-2", `auth.cognito.tokenUse: must be id or access, got "refresh"`}},
		{"cognito bad region", "auth: {method: cognito, cognito: {region: mars, userPoolId: x, clientId: c, tokenUse: id}}\n" + scopes,
			[]string{`auth.cognito.region: "mars" is not an AWS region such as us-west-2`, `auth.cognito.userPoolId: "x" is not a user pool id such as us-west-2_AbC123`}},
		{"apigateway with local", "auth: {method: apigateway}\nmomento: {local: true}\n" + scopes,
			[]string{"momento.local: cannot be used with auth.method: apigateway (AWS Lambda)"}},
		{"default not last", "auth: {method: basic, users: [{username: a, passwordHash: '" + hash + "'}]}\nscopes:\n  - {default: true, permissions: [{role: readonly, cache: c}]}\n  - {group: g, permissions: [{role: readonly, cache: c}]}\n",
			[]string{"scopes[0]: the default rule must be the last rule (rules after it never match)"}},
		{"group and default", "auth: {method: basic, users: [{username: a, passwordHash: '" + hash + "'}]}\nscopes:\n  - {group: g, default: true, permissions: [{role: readonly, cache: c}]}\n",
			[]string{"scopes[0]: set either group or default: true, not both"}},
		{"duplicate group", "auth: {method: basic, users: [{username: a, passwordHash: '" + hash + "'}]}\nscopes:\n  - {group: g, permissions: [{role: readonly, cache: c}]}\n  - {group: g, ttl: 2h, permissions: []}\n",
			[]string{"scopes[1].group: duplicate of scopes[0] (it never matches)", "scopes[1].ttl: must be between 1s and 1h, got 2h0m0s", "scopes[1].permissions: required (an empty scope is never vended)"}},
		{"permission unknown field", "auth: {method: open}\nscopes: [{default: true, permissions: [{role: readonly, cache: c, colour: red}]}]\n",
			[]string{"scopes[0].permissions[0].colour: unknown field (want role, cache, topic, topicPrefix, key or keyPrefix) (line 2)"}},
		{"permission bad role", "auth: {method: open}\nscopes: [{default: true, permissions: [{role: admin, cache: c}]}]\n",
			[]string{"scopes[0].permissions[0].role: unknown role admin (want publishsubscribe, subscribeonly, publishonly, readwrite, readonly or writeonly) (line 2)"}},
		{"permission bad template", "auth: {method: open}\nscopes: [{default: true, permissions: [{role: readonly, cache: c, key: 'user-{sub'}]}]\n",
			[]string{`scopes[0].permissions[0].key: unterminated "{" in template`}},
		{"cors", base + "cors: {allowedOrigins: ['*', 'http://a.test', 'ftp://b.test', 'http://a.test']}\n",
			[]string{
				`cors.allowedOrigins[0]: "*" must be the only origin`,
				`cors.allowedOrigins[2]: "ftp://b.test" is not an origin (want scheme://host[:port], no path)`,
				`cors.allowedOrigins: duplicate origin "http://a.test"`,
			}},
		{"cors upper case", base + "cors: {allowedOrigins: ['https://App.test']}\n",
			[]string{`cors.allowedOrigins[0]: "https://App.test" must be lower case (browsers send origins in lower case)`}},
		{"rate limit", base + "rateLimit: {requestsPerSecond: -1, burst: 1, maxIdentities: -5}\n",
			[]string{"rateLimit.requestsPerSecond: required, a number greater than 0", "rateLimit.maxIdentities: must be between 1 and 10000000"}},
		{"rate limit types", base + "rateLimit: {requestsPerSecond: fast, burst: 1.5}\n",
			[]string{`rateLimit.requestsPerSecond: expected a number, got "fast" (line 8)`, `rateLimit.burst: expected an integer, got "1.5" (line 8)`}},
		{"shared rate limit empty", base + "rateLimit: {shared: {}}\n",
			[]string{"rateLimit.shared.cache: required (the Momento cache holding the counters)", "rateLimit.shared.limit: required, an integer of at least 1 (requests per identity per window)"}},
		{"shared rate limit values", base + "rateLimit: {shared: {cache: 'a b', limit: -1, window: 500ms}}\n",
			[]string{`rateLimit.shared.cache: invalid cache name "a b"`, "rateLimit.shared.limit: required, an integer of at least 1 (requests per identity per window)", "rateLimit.shared.window: must be between 1s and 24h, in whole milliseconds, got 500ms"}},
		{"shared rate limit window", base + "rateLimit: {shared: {cache: rl, limit: 5, window: 1s500us}}\n",
			[]string{"rateLimit.shared.window: must be between 1s and 24h, in whole milliseconds, got 1.0005s"}},
		{"shared rate limit long window", base + "rateLimit: {shared: {cache: rl, limit: 5, window: 25h}}\n",
			[]string{"rateLimit.shared.window: must be between 1s and 24h, in whole milliseconds, got 25h0m0s"}},
		{"shared rate limit half a fallback", base + "rateLimit: {burst: 2, shared: {cache: rl, limit: 5}}\n",
			[]string{"rateLimit.requestsPerSecond: required, a number greater than 0"}},
		{"shared rate limit fail closed with fallback", base + "rateLimit: {requestsPerSecond: 1, burst: 2, shared: {cache: rl, limit: 5, failClosed: true}}\n",
			[]string{"rateLimit.shared.failClosed: cannot be combined with rateLimit.requestsPerSecond (the per-process fallback decides when Momento cannot be asked)"}},
		{"shared rate limit types", base + "rateLimit: {shared: {cache: [rl], limit: many, window: 5, failClosed: maybe}}\n",
			[]string{"rateLimit.shared.cache: expected a string, got a list (line 8)", `rateLimit.shared.limit: expected an integer, got "many" (line 8)`,
				`rateLimit.shared.window: invalid duration "5" (use a unit, e.g. 30s or 15m) (line 8)`, `rateLimit.shared.failClosed: expected true or false, got "maybe" (line 8)`}},
		{"shared rate limit unknown key", base + "rateLimit: {shared: {cache: rl, limit: 5, keyPrefix: x}}\n",
			[]string{"rateLimit.shared.keyPrefix: unknown key (line 8)"}},
		{"caches without local", base + "momento: {caches: [a]}\n", []string{"momento.caches: only valid with momento.local: true"}},
		{"bad cache name", base + "momento: {local: true, caches: ['a b']}\n", []string{`momento.caches[0]: invalid cache name "a b"`}},
		{"narrowing clash", base + "tokenId: query:topic\nnarrowing: {}\n", []string{`narrowing.topicParam: "topic" is also the tokenId query parameter`}},
		{"narrowing unknown", base + "narrowing: {room: r}\n", []string{"narrowing.room: unknown key (line 8)"}},
		{"log", base + "log: {level: loud, format: xml}\n", []string{`log.level: must be debug, info, warn or error, got "loud"`, `log.format: must be text or json, got "xml"`}},
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

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != defaultPath || cfg.TTL != 15*time.Minute || cfg.VendTimeout != 5*time.Second ||
		cfg.ShutdownTimeout != 10*time.Second || cfg.TokenID != "subject" || cfg.Log.Level != "info" ||
		cfg.Log.Format != "" || cfg.RateLimit != nil || cfg.Momento.Local {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = ParseConfig([]byte(base + "rateLimit: {requestsPerSecond: 2, burst: 3}\nmomento: {local: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimit.MaxIdentities != defaultMaxIdentities || len(cfg.Momento.Caches) != 1 || cfg.Momento.Caches[0] != defaultCache {
		t.Errorf("defaults: %+v %+v", cfg.RateLimit, cfg.Momento)
	}
	cfg, err = ParseConfig([]byte(base + "rateLimit: {shared: {cache: rl, limit: 5}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.RateLimit.Shared; s == nil || s.Window != time.Minute || s.FailClosed || cfg.RateLimit.RequestsPerSecond != 0 {
		t.Errorf("shared rate limit defaults: %+v %+v", cfg.RateLimit, s)
	}
	if err := checkBuild(cfg); err != nil {
		t.Errorf("shared rate limit does not build: %v", err)
	}
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
	if c.Auth.Method != "open" || !c.Momento.Local || c.TTL != 15*time.Minute || c.TokenID != "query:name" {
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
	cfg, err := ParseConfig([]byte(base + "narrowing: {keyParam: k}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Narrowing; n == nil || n.CacheParam != "cache" || n.TopicParam != "topic" || n.KeyParam != "k" || n.KeyPrefixParam != "" {
		t.Errorf("narrowing %+v", cfg.Narrowing)
	}
	// Parameter names are checked by the library; the problem names the key.
	cfg, err = ParseConfig([]byte(base + "narrowing: {keyParam: 'a b'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBuild(cfg); err == nil || !strings.HasPrefix(err.Error(), "narrowing.keyParam: ") {
		t.Errorf("bad parameter name: %v", err)
	}
}

// TestDeployConfigValid keeps the configuration of the AWS recipe valid.
func TestDeployConfigValid(t *testing.T) {
	cfg, err := LoadConfig("../../deploy/aws/tvm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.Method != "apigateway" || cfg.Momento.Local {
		t.Errorf("deploy config: %+v", cfg)
	}
	if err := checkBuild(cfg); err != nil {
		t.Error(err)
	}
}
