package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tvmgo/tvm"
)

// recipesDir holds the cmd/tvm configuration of each identity provider of
// the README's recipes table (the library side and the providers'
// documented token shapes are tested in jwtauth/recipes_test.go).
const recipesDir = "../../testdata/idp/recipes"

// checkFile runs `tvm check` on a configuration file, in-process.
func checkFile(t *testing.T, path string) (code int, out string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code = run(context.Background(), []string{"check", path}, func(string) string { return "" }, nil, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// recipeVendor vends a fixed token; it counts nothing, the status is what
// matters here.
type recipeVendor struct{}

func (recipeVendor) Vend(_ context.Context, g tvm.Grant) (tvm.Token, error) {
	return tvm.Token{AuthToken: "vended", ExpiresAt: time.Now().Add(g.TTL)}, nil
}

// TestRecipeConfigs: every recipe passes `tvm check` without network; then,
// with its key source replaced by the TEST-ONLY key on loopback (the only
// change), it admits a token of that provider's shape and refuses the
// same token for another audience.
func TestRecipeConfigs(t *testing.T) {
	key := testKey(t, "test-rsa-1")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key))
	now := time.Now()
	base := func(iss string, more jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"iss": iss, "sub": "user-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range more {
			c[k] = v
		}
		return c
	}
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	for _, tt := range []struct {
		file   string
		claims jwt.MapClaims
		hmac   bool
	}{
		{"auth0.yaml", base("https://tvm-example.us.auth0.com/", jwt.MapClaims{
			"aud": []string{"https://tvm.example.com/api", "https://tvm-example.us.auth0.com/userinfo"}, "https://tvm.example.com/roles": []string{"writers"}}), false},
		{"okta.yaml", base("https://dev-133337.okta.com/oauth2/default", jwt.MapClaims{"aud": "api://default", "cid": "0oa1", "groups": []string{"writers"}}), false},
		{"keycloak.yaml", base("https://sso.example.com/realms/chat", jwt.MapClaims{"aud": []string{"tvm.chat", "account"},
			"resource_access": map[string]any{"tvm.chat": map[string]any{"roles": []string{"writers"}}}}), false},
		{"entra.yaml", base("https://login.microsoftonline.com/"+tenant+"/v2.0", jwt.MapClaims{"aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
			"tid": tenant, "roles": []string{"writers"}, "ver": "2.0"}), false},
		{"google.yaml", base("accounts.google.com", jwt.MapClaims{"aud": "1234987819200-h7ctpf1lo3nqq2o8b7h8fpgbomg74t2q.apps.googleusercontent.com", "hd": "example.com"}), false},
		{"firebase.yaml", base("https://securetoken.google.com/tvm-demo", jwt.MapClaims{"aud": "tvm-demo", "roles": []string{"writers"}}), false},
		{"clerk.yaml", base("https://clerk.chat.example.com", jwt.MapClaims{"azp": "https://chat.example.com", "sid": "sess_1", "v": 2,
			"o": map[string]any{"id": "org_1", "rol": "writers"}}), false},
		{"supabase.yaml", base("https://abcdefghijklmnopqrst.supabase.co/auth/v1", jwt.MapClaims{"aud": "authenticated", "role": "authenticated",
			"app_metadata": map[string]any{"roles": []string{"writers"}}}), true},
		{"cognito.yaml", base("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example", jwt.MapClaims{"aud": "1example23456789",
			"token_use": "id", "cognito:groups": []string{"writers"}}), false},
		{"several-issuers.yaml", base("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example", jwt.MapClaims{"aud": "1example23456789",
			"token_use": "id", "cognito:groups": []string{"readers"}}), false},
	} {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(recipesDir, tt.file)
			if code, out := checkFile(t, path); code != exitOK {
				t.Fatalf("tvm check: exit %d\n%s", code, out)
			}
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case cfg.Auth.Cognito != nil:
				cfg.Auth.Cognito.JWKSURL = jwks.URL
			case len(cfg.Auth.JWT.Issuers) > 0:
				for i := range cfg.Auth.JWT.Issuers {
					cfg.Auth.JWT.Issuers[i].JWKSURL = jwks.URL
				}
			case !tt.hmac:
				cfg.Auth.JWT.JWKSURL = jwks.URL
			}
			svc, err := buildTokenService(context.Background(), cfg, recipeVendor{}, nil, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = svc.Close() })
			sign := func(c jwt.MapClaims) string {
				if tt.hmac {
					secret, err := os.ReadFile(filepath.Join(recipesDir, "supabase-jwt-secret.TEST-ONLY"))
					if err != nil {
						t.Fatal(err)
					}
					s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(strings.TrimSpace(string(secret))))
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
				return sign(t, "test-rsa-1", key, c)
			}
			status := func(tok string) int {
				r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				svc.handler.ServeHTTP(w, r)
				return w.Code
			}
			if got := status(sign(tt.claims)); got != http.StatusOK {
				t.Errorf("the provider's token: %d, want 200", got)
			}
			other := jwt.MapClaims{}
			for k, v := range tt.claims {
				other[k] = v
			}
			other["aud"] = "someone-else"
			if tt.file == "clerk.yaml" {
				other["azp"] = "https://evil.example.com"
			}
			if got := status(sign(other)); got != http.StatusUnauthorized {
				t.Errorf("the same token for someone else: %d, want 401", got)
			}
		})
	}
}

// TestCheckJWT: tvm check judges auth.jwt without network (discovery is not
// attempted, and not an error), names every problem by its key, and never
// prints an HMAC secret.
func TestCheckJWT(t *testing.T) {
	dir := t.TempDir()
	secret := "TEST-ONLY-check-secret-" + strings.Repeat("s", 40)
	short := "TEST-ONLY-short-secret"
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("secret", secret+"\n")
	write("short", short)
	t.Setenv("TVM_TEST_JWT_SECRET", secret)
	jwtYAML := func(jwt string) string {
		return "auth:\n  method: jwt\n  jwt:\n" + indent(jwt, "    ") + "scopes:\n  - default: true\n    permissions: [{role: subscribeonly, cache: c, topic: \"*\"}]\n"
	}
	for _, tt := range []struct {
		name string
		jwt  string
		want []string // lines of the output; none: accepted
	}{
		{"discovery (issuer only)", "issuer: https://login.example.com/\naudience: tvm\nalgorithms: [RS256]\n", nil},
		{"hmac from a file", "issuer: backend\naudience: tvm\nalgorithms: [HS256]\nhmac: {secretFile: secret}\n", nil},
		{"hmac from the environment", "issuer: backend\naudience: tvm\nalgorithms: [HS256, HS384]\nhmac: {secretEnv: TVM_TEST_JWT_SECRET, keyId: v1}\n", nil},
		{"inline secret", "issuer: backend\naudience: tvm\nalgorithms: [HS256]\nhmac: {secret: " + secret + "}\n",
			[]string{"auth.jwt.hmac.secret: inline secrets are refused"}},
		{"short secret", "issuer: backend\naudience: tvm\nalgorithms: [HS256]\nhmac: {secretFile: short}\n",
			[]string{"auth.jwt.hmac: is 22 bytes: at least 32 are required"}},
		{"secret too short for HS512", "issuer: backend\naudience: tvm\nalgorithms: [HS512]\nhmac: {secretEnv: TVM_TEST_JWT_SECRET}\n",
			[]string{"auth.jwt.hmac: is 63 bytes: at least 64 are required"}},
		{"secret file missing", "issuer: backend\naudience: tvm\nalgorithms: [HS256]\nhmac: {secretFile: nope}\n",
			[]string{"auth.jwt.hmac.secretFile: cannot read the secret file"}},
		{"secret env unset", "issuer: backend\naudience: tvm\nalgorithms: [HS256]\nhmac: {secretEnv: TVM_TEST_UNSET}\n",
			[]string{"auth.jwt.hmac.secretEnv: the environment variable TVM_TEST_UNSET is not set"}},
		{"hmac with a public-key algorithm", "issuer: backend\naudience: tvm\nalgorithms: [RS256]\nhmac: {secretFile: secret}\n",
			[]string{"auth.jwt.algorithms: the hmac key source verifies HS256/384/512 only"}},
		{"HS256 with a JWKS", "issuer: https://login.example.com/\naudience: tvm\nalgorithms: [HS256]\njwksURL: https://login.example.com/jwks\n",
			[]string{"auth.jwt.algorithms: HS256/384/512 need the hmac key source"}},
		{"discovery over http", "issuer: http://login.example.com/\naudience: tvm\nalgorithms: [RS256]\n",
			[]string{"auth.jwt.issuer: with no key source the key set is found by discovery, so issuer must be https"}},
		{"claim path needing brackets", "issuer: https://login.example.com/\naudience: tvm\nalgorithms: [RS256]\ngroupsClaim: https://example.com/roles\n",
			[]string{"auth.jwt.groupsClaim[0]: has an empty name, or a name that must be bracketed"}},
		{"no audience without its required claim", "issuer: https://clerk.example.com\nalgorithms: [RS256]\nallowMissingAudience: true\n",
			[]string{"auth.jwt.allowMissingAudience: requires requiredClaims"}},
		{"required claim without values", "issuer: https://login.example.com/\naudience: tvm\nalgorithms: [RS256]\nrequiredClaims: {azp: []}\n",
			[]string{`auth.jwt.requiredClaims["azp"]: list at least one accepted value`}},
		{"outlive over an hour", "issuer: https://login.example.com/\naudience: tvm\nalgorithms: [RS256]\noutliveCredential: 2h\n",
			[]string{"auth.jwt.outliveCredential: more than 1h0m0s"}},
		{"entra tenant common", "entra: {tenantIds: [common]}\naudience: api://tvm\n",
			[]string{`auth.jwt.entra.tenantIds[0]: "common" is not a tenant`}},
		{"issuers and inline keys", "issuer: https://a.example.com/\nissuers:\n  - {name: b, issuer: https://b.example.com/, audience: tvm, algorithms: [RS256]}\n",
			[]string{"auth.jwt.issuer: with issuers, set the keys of each issuer in its entry"}},
		{"a shared key in an issuer", "issuers:\n  - {name: b, issuer: https://b.example.com/, audience: tvm, algorithms: [RS256], leeway: 1m}\n",
			[]string{"auth.jwt.issuers[0].leeway: shared by every issuer: set it at auth.jwt"}},
		{"two issuers with one name", "issuers:\n  - {issuer: https://a.example.com/, audience: tvm, algorithms: [RS256]}\n  - {issuer: https://b.example.com/, audience: tvm, algorithms: [RS256]}\n",
			[]string{`auth.jwt.issuers[1].name: "jwt" is also the name of issuers[0]`}},
		{"cognito preset in issuers", "issuers:\n  - {cognito: {region: US-EAST-1, userPoolId: us-east-1_x, clientId: c, tokenUse: id}}\n",
			[]string{"auth.jwt.issuers[0].cognito.region: not an AWS region name"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out := checkFile(t, write(strings.ReplaceAll(tt.name, " ", "-")+".yaml", jwtYAML(tt.jwt)))
			for _, s := range []string{secret, secret[8:40], short} {
				if strings.Contains(out, s) {
					t.Fatalf("tvm check printed the secret:\n%s", out)
				}
			}
			if tt.want == nil {
				if code != exitOK {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				return
			}
			if code != exitConfig {
				t.Fatalf("exit %d, want %d:\n%s", code, exitConfig, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestHMACSecretNeverLogged: a server with an HMAC issuer, serving good
// and bad tokens, never writes the secret to its output.
func TestHMACSecretNeverLogged(t *testing.T) {
	secret := "TEST-ONLY-served-secret-" + strings.Repeat("q", 40)
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, idpConfig(
		"issuer: backend\naudience: tvm\nalgorithms: [HS256]\nhmac: {secretFile: "+path+"}\n")))
	p.secrets = append(p.secrets, secret, secret[:30])
	now := time.Now()
	tok := func(key string, groups []string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "backend", "aud": "tvm", "sub": "svc",
			"groups": groups, "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey := testKey(t, "test-rsa-1")
	pemPub := publicPEM(t, &rsaKey.PublicKey)
	for _, c := range []idpCase{
		{"the secret", tok(secret, []string{"writers"}), 200, "publishsubscribe"},
		{"another secret", tok(strings.Repeat("x", 64), []string{"writers"}), 401, ""},
		{"an RSA public key as HMAC secret", tok(pemPub, []string{"writers"}), 401, ""},
		{"RS256", sign(t, "test-rsa-1", rsaKey, jwt.MapClaims{"iss": "backend", "aud": "tvm", "sub": "svc", "exp": now.Add(time.Hour).Unix()}), 401, ""},
	} {
		checkIdPCases(t, p, []idpCase{c})
	}
}

func publicPEM(t *testing.T, k *rsa.PublicKey) string {
	t.Helper()
	return fmt.Sprintf("-----BEGIN RSA PUBLIC KEY-----\n%x\n-----END RSA PUBLIC KEY-----\n", k.N.Bytes())
}
