package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckNeverEchoesRefusedValues feeds a secret (a password, an API
// key pasted in the wrong place) in every shape a configuration value can
// take, under every kind of key: tvm check reports each problem by key
// and expected shape, and never prints the secret.
func TestCheckNeverEchoesRefusedValues(t *testing.T) {
	const S = "Hunter2xS3cret"                      // a password where it does not belong
	key := "eyJhcGlfa2V5IjoiSHVudGVyMnhTM2NyZXQifQ" // an API key-shaped value
	scopes := "scopes: [{default: true, permissions: [{role: readonly, cache: c}]}]\n"
	abs, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	jwt := strings.Replace(jwtAuth, "../../testdata", abs, 1)
	docs := map[string]string{
		"users as htpasswd lines":     "auth: {method: basic, users: [\"alice:" + S + "\"]}\n" + scopes,
		"password as a hash":          "auth: {method: basic, users: [{username: alice, passwordHash: " + S + "}]}\n" + scopes,
		"password under an odd key":   "auth: {method: basic, users: [{username: alice, password: " + S + "}]}\n" + scopes,
		"password as a username":      "auth: {method: basic, users: [{username: '" + S + ":x', passwordHash: x}]}\n" + scopes,
		"auth method":                 "auth: {method: " + S + "}\n" + scopes,
		"duration":                    "ttl: " + S + "\n" + base,
		"duration as a list":          "vendTimeout: [" + S + "]\n" + base,
		"shutdown duration":           "shutdownTimeout: " + S + "\n" + base,
		"number":                      "rateLimit: {requestsPerSecond: " + S + "}\n" + base,
		"integer":                     "rateLimit: {burst: " + S + "}\n" + base,
		"shared limit":                "rateLimit: {shared: {cache: rl, limit: " + S + ", window: " + S + "}}\n" + base,
		"shared cache name":           "rateLimit: {shared: {cache: '" + S + " x', limit: 1}}\n" + base,
		"boolean":                     "reuse: {enabled: " + S + "}\n" + base,
		"local":                       "momento: {local: " + S + "}\n" + base,
		"CORS origin":                 "cors: {allowedOrigins: [" + S + "]}\n" + base,
		"CORS origin with a path":     "cors: {allowedOrigins: ['https://" + S + ".example/x']}\n" + base,
		"role":                        "auth: {method: open}\nscopes: [{default: true, permissions: [{role: " + S + ", cache: c}]}]\n",
		"cache name":                  "auth: {method: open}\nscopes: [{default: true, permissions: [{role: readonly, cache: '" + S + " x'}]}]\n",
		"permissions as a string":     "auth: {method: open}\nscopes: [{default: true, permissions: " + S + "}]\n",
		"scopes as a string":          "auth: {method: open}\nscopes: " + S + "\n",
		"duplicate group":             jwt + "scopes: [{group: " + S + ", permissions: [{role: readonly, cache: c}]}, {group: " + S + ", permissions: [{role: readonly, cache: c}]}]\n",
		"JWT algorithm":               "auth: {method: jwt, jwt: {issuer: i, jwksFile: " + abs + "/jwt/jwks-public.json, audience: a, algorithms: [" + S + "]}}\n" + scopes,
		"JWKS URL":                    "auth: {method: jwt, jwt: {issuer: i, jwksURL: 'http://" + S + ".example/', audience: a, algorithms: [RS256]}}\n" + scopes,
		"Cognito fields":              "auth: {method: cognito, cognito: {region: " + S + ", userPoolId: " + S + ", clientId: c, tokenUse: " + S + "}}\n" + scopes,
		"log level":                   "log: {level: " + S + "}\n" + base,
		"narrowing parameter":         "narrowing: {cacheParam: '" + S + "!'}\n" + base,
		"path":                        "path: '/" + S + " x'\n" + base,
		"token id":                    "tokenId: 'query:" + S + "!'\n" + base,
		"groups format":               "auth: {method: apigateway, apigateway: {groupsFormat: " + S + "}}\n" + base,
		"allowed host":                "allowedHosts: ['https://" + S + "/']\n" + base,
		"trusted proxy":               "trustedProxies: [" + S + "]\n" + base,
		"endpoint":                    "momento: {endpoint: 'https://" + key + "'}\n" + base,
		"API key as the whole file":   key + "\n",
		"API key as a list":           "- " + key + "\n",
		"API key under a known key":   "auth: " + key + "\n" + scopes,
		"API key in an alias":         base + "x: &a " + key + "\ny: *a\n",
		"bad YAML around a secret":    "ttl: [" + S + "\n",
		"duplicate key with a secret": "ttl: 1h\nttl: " + S + "\n" + base,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tvm.yaml")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			if name == "endpoint" { // judged with a v2 key only
				env["MOMENTO_API_KEY"] = v2TestKey
			}
			code, stdout, stderr := runCheckInProcess(t, path, env)
			if code != exitConfig {
				t.Errorf("exit %d, want %d (the secret is misplaced)\n%s%s", code, exitConfig, stdout, stderr)
			}
			for _, s := range []string{S, key, "Hunter2"} {
				if strings.Contains(stdout+stderr, s) {
					t.Errorf("tvm check prints the secret:\n%s%s", stdout, stderr)
				}
			}
			// Every problem names a key or a line.
			for line := range strings.Lines(strings.TrimSpace(stderr)) {
				if !strings.Contains(line, ": ") && !strings.Contains(line, "(line ") {
					t.Errorf("problem without a key: %q", line)
				}
			}
		})
	}
}

// runCheckInProcess runs `tvm check path` in process, with the
// environment env.
func runCheckInProcess(t *testing.T, path string, env map[string]string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(t.Context(), []string{"check", path}, func(k string) string { return env[k] }, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}
