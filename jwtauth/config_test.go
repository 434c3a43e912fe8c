package jwtauth

import (
	"context"
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
)

// TestConfigErrors checks that every unsafe or unusable configuration
// is refused by New with a nil authenticator and *tvm.ConfigError values
// naming every offending field (and only Config fields).
func TestConfigErrors(t *testing.T) {
	ks := jtKeys(t)
	keys := map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	with := func(f func(c *Config)) Config {
		c := jtConfig()
		c.Issuers[0].Keys = keys
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		cfg    Config
		fields []string // every field that must be named
	}{
		{"zero config", Config{}, []string{"Config.Issuers"}},
		{"zero issuer", Config{Issuers: []Issuer{{}}}, []string{"Config.Issuers[0].Issuer", "Config.Issuers[0].Audience", "Config.Issuers[0].Algorithms"}},
		{"issuer missing", with(func(c *Config) { c.Issuers[0].Issuer = "" }), []string{"Config.Issuers[0].Issuer"}},
		{"issuer with spaces", with(func(c *Config) { c.Issuers[0].Issuer = " https://issuer.test/" }), []string{"Config.Issuers[0].Issuer"}},
		{"audience missing", with(func(c *Config) { c.Issuers[0].Audience = nil }), []string{"Config.Issuers[0].Audience"}},
		{"missing audience allowed without a required claim", with(func(c *Config) {
			c.Issuers[0].Audience, c.Issuers[0].AllowMissingAudience = nil, true
		}), []string{"Config.Issuers[0].AllowMissingAudience"}},
		{"empty audience", with(func(c *Config) { c.Issuers[0].Audience = []string{""} }), []string{"Config.Issuers[0].Audience"}},
		{"algorithms missing", with(func(c *Config) { c.Issuers[0].Algorithms = nil }), []string{"Config.Issuers[0].Algorithms"}},
		{"alg none", with(func(c *Config) { c.Issuers[0].Algorithms = []string{"RS256", "none"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"alg HS256", with(func(c *Config) { c.Issuers[0].Algorithms = []string{"HS256"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"alg hs512 lowercase", with(func(c *Config) { c.Issuers[0].Algorithms = []string{"hs512"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"alg rs256 lowercase", with(func(c *Config) { c.Issuers[0].Algorithms = []string{"rs256"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"alg unknown", with(func(c *Config) { c.Issuers[0].Algorithms = []string{"ES256K"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"no key source and an issuer that is no URL (discovery)", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].Issuer = nil, "my-backend" }), []string{"Config.Issuers[0].Issuer"}},
		{"discovery over http on a public host", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].Issuer = nil, "http://idp.example.com/" }), []string{"Config.Issuers[0].Issuer"}},
		{"discovery issuer with a query", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].Issuer = nil, "https://idp.example.com/?tenant=1" }), []string{"Config.Issuers[0].Issuer"}},
		{"two key sources", with(func(c *Config) { c.Issuers[0].JWKSJSON = []byte(`{"keys":[]}`) }), []string{"Config.Issuers[0].JWKSURL"}},
		{"empty Keys", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{} }), []string{"Config.Issuers[0].Keys"}},
		{"private key", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{"k": ks.rsa1} }), []string{"Config.Issuers[0].Keys"}},
		{"symmetric key", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{"k": []byte("secret")} }), []string{"Config.Issuers[0].Keys"}},
		{"weak RSA key", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{"k": &ks.rsaWeak.PublicKey} }), []string{"Config.Issuers[0].Keys"}},
		{"nil key", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{"k": nil} }), []string{"Config.Issuers[0].Keys"}},
		{"empty kid", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{"": &ks.rsa1.PublicKey} }), []string{"Config.Issuers[0].Keys"}},
		{"key fits no algorithm", with(func(c *Config) {
			c.Issuers[0].Algorithms = []string{"RS256"}
			c.Issuers[0].Keys = map[string]crypto.PublicKey{"k": &ks.ec1.PublicKey}
		}), []string{"Config.Issuers[0].Keys"}},
		{"unsupported key type", with(func(c *Config) { c.Issuers[0].Keys = map[string]crypto.PublicKey{"k": "not a key"} }), []string{"Config.Issuers[0].Keys"}},
		{"JWKS JSON garbage", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].JWKSJSON = nil, []byte("<html>") }), []string{"Config.Issuers[0].JWKSJSON"}},
		{"JWKS JSON empty set", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].JWKSJSON = nil, []byte(`{"keys":[]}`) }), []string{"Config.Issuers[0].JWKSJSON"}},
		{"JWKS JSON key without kid", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSJSON = nil, jtJWKS(t, jtJWK{alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey})
		}), []string{"Config.Issuers[0].JWKSJSON"}},
		{"JWKS JSON encryption key", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSJSON = nil, jtJWKS(t, jtJWK{kid: "e", key: &ks.rsa1.PublicKey, use: jwkset.UseEnc})
		}), []string{"Config.Issuers[0].JWKSJSON"}},
		{"JWKS JSON weak key", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSJSON = nil, jtJWKS(t, jtJWK{kid: "w", key: &ks.rsaWeak.PublicKey})
		}), []string{"Config.Issuers[0].JWKSJSON"}},
		{"JWKS JSON symmetric key", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSJSON = nil, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`)
		}), []string{"Config.Issuers[0].JWKSJSON"}},
		{"JWKS file missing", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].JWKSFile = nil, "../testdata/jwt/does-not-exist.json" }), []string{"Config.Issuers[0].JWKSFile"}},
		{"JWKS URL not a URL", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].JWKSURL = nil, "jwks.json" }), []string{"Config.Issuers[0].JWKSURL"}},
		{"JWKS URL ftp", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].JWKSURL = nil, "ftp://example.com/jwks.json" }), []string{"Config.Issuers[0].JWKSURL"}},
		{"JWKS URL plain http", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].JWKSURL = nil, "http://idp.example.com/jwks.json" }), []string{"Config.Issuers[0].JWKSURL"}},
		{"JWKS URL with credentials", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSURL = nil, "https://u:p@idp.example.com/jwks.json"
		}), []string{"Config.Issuers[0].JWKSURL"}},
		{"JWKS timeouts out of bounds", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSURL = nil, "https://idp.example.com/jwks.json"
			c.HTTPTimeout = 2 * time.Minute
			c.RefreshInterval = time.Millisecond
			c.UnknownKIDRefreshInterval = time.Millisecond
			c.MaxResponseBytes = -1
		}), []string{"Config.HTTPTimeout", "Config.RefreshInterval", "Config.UnknownKIDRefreshInterval", "Config.MaxResponseBytes"}},
		{"leeway negative", with(func(c *Config) { c.Leeway = -time.Second }), []string{"Config.Leeway"}},
		{"leeway too large", with(func(c *Config) { c.Leeway = 6 * time.Minute }), []string{"Config.Leeway"}},
		{"claim paths", with(func(c *Config) {
			c.Issuers[0].SubjectClaim, c.Issuers[0].GroupsClaims = " sub", []string{"realm_access..roles", "https://example.com/roles"}
		}), []string{"Config.Issuers[0].SubjectClaim", "Config.Issuers[0].GroupsClaims[0]", "Config.Issuers[0].GroupsClaims[1]"}},
		{"max token bytes", with(func(c *Config) { c.MaxTokenBytes = 1 << 20 }), []string{"Config.MaxTokenBytes"}},
		{"cache size negative", with(func(c *Config) { c.CacheSize = -1 }), []string{"Config.CacheSize"}},
		{"outlive negative", with(func(c *Config) { c.Issuers[0].OutliveCredential = -time.Second }), []string{"Config.Issuers[0].OutliveCredential"}},
		{"outlive over an hour", with(func(c *Config) { c.Issuers[0].OutliveCredential = time.Hour + time.Second }), []string{"Config.Issuers[0].OutliveCredential"}},
		{"required claim with no value", with(func(c *Config) { c.Issuers[0].RequiredClaims = map[string][]string{"azp": nil} }), []string{`Config.Issuers[0].RequiredClaims["azp"]`}},
		{"required claim with an empty value", with(func(c *Config) { c.Issuers[0].RequiredClaims = map[string][]string{"azp": {""}} }), []string{`Config.Issuers[0].RequiredClaims["azp"]`}},
		{"required claim path", with(func(c *Config) { c.Issuers[0].RequiredClaims = map[string][]string{"a..b": {"x"}} }), []string{`Config.Issuers[0].RequiredClaims["a..b"]`}},
		{"empty groups claims", with(func(c *Config) { c.Issuers[0].GroupsClaims = []string{} }), []string{"Config.Issuers[0].GroupsClaims"}},
		{"bad name", with(func(c *Config) { c.Issuers[0].Name = "Okta:Staff" }), []string{"Config.Issuers[0].Name"}},
		{"alias equal to the issuer", with(func(c *Config) { c.Issuers[0].IssuerAliases = []string{jtIssuer} }), []string{"Config.Issuers[0].IssuerAliases[0]"}},

		// Several issuers.
		{"two issuers with the default name", with(func(c *Config) {
			c.Issuers = append(c.Issuers, Issuer{Issuer: "https://other.test/", Audience: []string{"a"}, Algorithms: []string{"RS256"}, Keys: keys})
		}), []string{"Config.Issuers[1].Name"}},
		{"two issuers accepting the same iss", with(func(c *Config) {
			c.Issuers = append(c.Issuers, Issuer{Name: "other", Issuer: jtIssuer, Audience: []string{"a"}, Algorithms: []string{"RS256"}, Keys: keys})
		}), []string{"Config.Issuers[1].Issuer"}},
		{"an alias accepted by another issuer", with(func(c *Config) {
			c.Issuers = append(c.Issuers, Issuer{Name: "other", Issuer: "https://other.test/", IssuerAliases: []string{jtIssuer}, Audience: []string{"a"}, Algorithms: []string{"RS256"}, Keys: keys})
		}), []string{"Config.Issuers[1].Issuer"}},

		// HMAC: only through its own key source, never with public keys.
		{"HS256 with public keys", with(func(c *Config) { c.Issuers[0].Algorithms = []string{"HS256"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"HS256 with a JWKS URL", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSURL, c.Issuers[0].Algorithms = nil, "https://idp.example.com/jwks", []string{"HS256"}
		}), []string{"Config.Issuers[0].Algorithms"}},
		{"HS256 with discovery", with(func(c *Config) { c.Issuers[0].Keys, c.Issuers[0].Algorithms = nil, []string{"HS256"} }), []string{"Config.Issuers[0].Algorithms"}},
		{"HMAC with RS256", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].HMAC, c.Issuers[0].Algorithms = nil, &HMACKey{Secret: jtSecret}, []string{"RS256"}
		}), []string{"Config.Issuers[0].Algorithms"}},
		{"HMAC with HS256 and RS256", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].HMAC, c.Issuers[0].Algorithms = nil, &HMACKey{Secret: jtSecret}, []string{"HS256", "RS256"}
		}), []string{"Config.Issuers[0].Algorithms"}},
		{"HMAC and public keys in one issuer", with(func(c *Config) {
			c.Issuers[0].HMAC, c.Issuers[0].Algorithms = &HMACKey{Secret: jtSecret}, []string{"HS256"}
		}), []string{"Config.Issuers[0].JWKSURL"}},
		{"HMAC secret of 31 bytes", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].HMAC, c.Issuers[0].Algorithms = nil, &HMACKey{Secret: jtSecret[:31]}, []string{"HS256"}
		}), []string{"Config.Issuers[0].HMAC.Secret"}},
		{"HMAC secret of 32 bytes for HS512", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].HMAC, c.Issuers[0].Algorithms = nil, &HMACKey{Secret: jtSecret[:32]}, []string{"HS512"}
		}), []string{"Config.Issuers[0].HMAC.Secret"}},
		{"symmetric JWK in a key set", with(func(c *Config) {
			c.Issuers[0].Keys, c.Issuers[0].JWKSJSON, c.Issuers[0].Algorithms = nil, []byte(`{"keys":[{"kty":"oct","kid":"s","alg":"HS256","k":"`+jtB64(jtSecret)+`"}]}`), []string{"RS256"}
		}), []string{"Config.Issuers[0].JWKSJSON"}},

		// Presets.
		{"Cognito with an issuer and algorithms", Config{Issuers: []Issuer{{
			Cognito: &Cognito{Region: jtRegion, UserPoolID: jtPool, ClientID: jtClientID, TokenUse: CognitoIDToken},
			Issuer:  jtIssuer, Algorithms: []string{"HS256"}, Keys: keys,
		}}}, []string{"Config.Issuers[0].Issuer", "Config.Issuers[0].Algorithms", "Config.Issuers[0].Keys"}},
		{"Cognito and Entra", Config{Issuers: []Issuer{{
			Cognito: &Cognito{Region: jtRegion, UserPoolID: jtPool, ClientID: jtClientID, TokenUse: CognitoIDToken},
			Entra:   &Entra{TenantIDs: []string{jtTenant}},
		}}}, []string{"Config.Issuers[0].Cognito"}},
		{"Entra without tenants or audience", Config{Issuers: []Issuer{{Entra: &Entra{}}}},
			[]string{"Config.Issuers[0].Entra.TenantIDs", "Config.Issuers[0].Audience"}},
		{"Entra with common, organizations, a bad and a repeated tenant", Config{Issuers: []Issuer{{
			Entra: &Entra{TenantIDs: []string{"common", "organizations", "not-a-guid", jtTenant, jtTenant}}, Audience: []string{"api://tvm"},
		}}}, []string{"Config.Issuers[0].Entra.TenantIDs[0]", "Config.Issuers[0].Entra.TenantIDs[1]", "Config.Issuers[0].Entra.TenantIDs[2]", "Config.Issuers[0].Entra.TenantIDs[4]"}},
		{"Entra with an upper-case tenant id", Config{Issuers: []Issuer{{
			Entra: &Entra{TenantIDs: []string{strings.ToUpper(jtTenant)}}, Audience: []string{"api://tvm"},
		}}}, []string{"Config.Issuers[0].Entra.TenantIDs[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.ErrorIs(t, err, tvm.ErrInvalidConfig)
			for _, f := range tt.fields {
				assert.Contains(t, err.Error(), f+": ")
			}
			var ce *tvm.ConfigError
			require.ErrorAs(t, err, &ce)
			fields := jtConfigFields(t, err)
			for _, f := range tt.fields {
				assert.Contains(t, fields, f)
			}
			for _, f := range fields {
				assert.True(t, strings.HasPrefix(f, "Config."), "field %q is named after Config", f)
			}
		})
	}
}

// jtSecret is a TEST-ONLY HMAC secret of 64 bytes.
var jtSecret = Secret("TEST-ONLY-hmac-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCD")

// jtTenant is a made-up Entra tenant id.
const jtTenant = "6f1d2c3b-4a59-4e7f-8a9b-0c1d2e3f4a5b"

func TestValidConfigs(t *testing.T) {
	ks := jtKeys(t)
	for name, cfg := range map[string]Config{
		"static keys of three types": func() Config {
			c := jtConfig()
			c.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey, jtECKID: &ks.ec1.PublicKey, jtEdKID: ks.ed1.Public()}
			return c
		}(),
		"JWKS file": func() Config {
			c := jtConfig()
			c.Issuers[0].JWKSFile = "../testdata/jwt/jwks-public.json"
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := New(cfg)
			require.NoError(t, err)
			tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
			_, err = a.VerifyToken(context.Background(), tok)
			require.NoError(t, err, "accepted before Close")
			assert.NoError(t, a.Close())
			assert.NoError(t, a.Close(), "Close is idempotent")
			jtAssertClosed(t, a, tok)
		})
	}
}

// TestJWKSURLScheme checks the http:// escape hatch without
// contacting any host.
func TestJWKSURLScheme(t *testing.T) {
	for _, tt := range []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://idp.example.com/jwks", false, true},
		{"http://idp.example.com/jwks", false, false},
		{"http://idp.example.com/jwks", true, true},
		{"http://127.0.0.1:8080/jwks", false, true},
		{"http://[::1]:8080/jwks", false, true},
		{"http://localhost:8080/jwks", false, true},
		{"http://127.0.0.1.nip.io/jwks", false, false},
		{"//idp.example.com/jwks", false, false},
		{"http://idp.example.com/jwks?tenant=1", false, false},
		{"https://idp.example.com/jwks?tenant=1", false, true},
	} {
		pr := fetchURLProblem(tt.url, tt.allowHTTP, "JWKSURL")
		assert.Equal(t, tt.ok, pr == "", "%s allowHTTP=%v: %v", tt.url, tt.allowHTTP, pr)
	}
}
