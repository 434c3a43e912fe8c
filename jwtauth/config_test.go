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
		c.Keys = keys
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		cfg    Config
		fields []string // every field that must be named
	}{
		{"zero config", Config{}, []string{"Config.Issuer", "Config.Audience", "Config.Algorithms", "Config.JWKSURL"}},
		{"issuer missing", with(func(c *Config) { c.Issuer = "" }), []string{"Config.Issuer"}},
		{"issuer and skip", with(func(c *Config) { c.SkipIssuerCheck = true }), []string{"Config.Issuer"}},
		{"audience missing", with(func(c *Config) { c.Audience = nil }), []string{"Config.Audience"}},
		{"audience and skip", with(func(c *Config) { c.SkipAudienceCheck = true }), []string{"Config.Audience"}},
		{"empty audience", with(func(c *Config) { c.Audience = []string{""} }), []string{"Config.Audience"}},
		{"algorithms missing", with(func(c *Config) { c.Algorithms = nil }), []string{"Config.Algorithms"}},
		{"alg none", with(func(c *Config) { c.Algorithms = []string{"RS256", "none"} }), []string{"Config.Algorithms"}},
		{"alg HS256", with(func(c *Config) { c.Algorithms = []string{"HS256"} }), []string{"Config.Algorithms"}},
		{"alg hs512 lowercase", with(func(c *Config) { c.Algorithms = []string{"hs512"} }), []string{"Config.Algorithms"}},
		{"alg rs256 lowercase", with(func(c *Config) { c.Algorithms = []string{"rs256"} }), []string{"Config.Algorithms"}},
		{"alg unknown", with(func(c *Config) { c.Algorithms = []string{"ES256K"} }), []string{"Config.Algorithms"}},
		{"no key source", with(func(c *Config) { c.Keys = nil }), []string{"Config.JWKSURL"}},
		{"two key sources", with(func(c *Config) { c.JWKSJSON = []byte(`{"keys":[]}`) }), []string{"Config.JWKSURL"}},
		{"empty Keys", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{} }), []string{"Config.Keys"}},
		{"private key", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{"k": ks.rsa1} }), []string{"Config.Keys"}},
		{"symmetric key", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{"k": []byte("secret")} }), []string{"Config.Keys"}},
		{"weak RSA key", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{"k": &ks.rsaWeak.PublicKey} }), []string{"Config.Keys"}},
		{"nil key", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{"k": nil} }), []string{"Config.Keys"}},
		{"empty kid", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{"": &ks.rsa1.PublicKey} }), []string{"Config.Keys"}},
		{"key fits no algorithm", with(func(c *Config) {
			c.Algorithms = []string{"RS256"}
			c.Keys = map[string]crypto.PublicKey{"k": &ks.ec1.PublicKey}
		}), []string{"Config.Keys"}},
		{"unsupported key type", with(func(c *Config) { c.Keys = map[string]crypto.PublicKey{"k": "not a key"} }), []string{"Config.Keys"}},
		{"JWKS JSON garbage", with(func(c *Config) { c.Keys, c.JWKSJSON = nil, []byte("<html>") }), []string{"Config.JWKSJSON"}},
		{"JWKS JSON empty set", with(func(c *Config) { c.Keys, c.JWKSJSON = nil, []byte(`{"keys":[]}`) }), []string{"Config.JWKSJSON"}},
		{"JWKS JSON key without kid", with(func(c *Config) {
			c.Keys, c.JWKSJSON = nil, jtJWKS(t, jtJWK{alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey})
		}), []string{"Config.JWKSJSON"}},
		{"JWKS JSON encryption key", with(func(c *Config) {
			c.Keys, c.JWKSJSON = nil, jtJWKS(t, jtJWK{kid: "e", key: &ks.rsa1.PublicKey, use: jwkset.UseEnc})
		}), []string{"Config.JWKSJSON"}},
		{"JWKS JSON weak key", with(func(c *Config) {
			c.Keys, c.JWKSJSON = nil, jtJWKS(t, jtJWK{kid: "w", key: &ks.rsaWeak.PublicKey})
		}), []string{"Config.JWKSJSON"}},
		{"JWKS JSON symmetric key", with(func(c *Config) {
			c.Keys, c.JWKSJSON = nil, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`)
		}), []string{"Config.JWKSJSON"}},
		{"JWKS file missing", with(func(c *Config) { c.Keys, c.JWKSFile = nil, "../testdata/jwt/does-not-exist.json" }), []string{"Config.JWKSFile"}},
		{"JWKS URL not a URL", with(func(c *Config) { c.Keys, c.JWKSURL = nil, "jwks.json" }), []string{"Config.JWKSURL"}},
		{"JWKS URL ftp", with(func(c *Config) { c.Keys, c.JWKSURL = nil, "ftp://example.com/jwks.json" }), []string{"Config.JWKSURL"}},
		{"JWKS URL plain http", with(func(c *Config) { c.Keys, c.JWKSURL = nil, "http://idp.example.com/jwks.json" }), []string{"Config.JWKSURL"}},
		{"JWKS URL with credentials", with(func(c *Config) { c.Keys, c.JWKSURL = nil, "https://u:p@idp.example.com/jwks.json" }), []string{"Config.JWKSURL"}},
		{"JWKS timeouts out of bounds", with(func(c *Config) {
			c.Keys, c.JWKSURL = nil, "https://idp.example.com/jwks.json"
			c.HTTPTimeout = 2 * time.Minute
			c.RefreshInterval = time.Millisecond
			c.UnknownKIDRefreshInterval = time.Millisecond
			c.MaxJWKSBytes = -1
		}), []string{"Config.HTTPTimeout", "Config.RefreshInterval", "Config.UnknownKIDRefreshInterval", "Config.MaxJWKSBytes"}},
		{"leeway negative", with(func(c *Config) { c.Leeway = -time.Second }), []string{"Config.Leeway"}},
		{"leeway too large", with(func(c *Config) { c.Leeway = 6 * time.Minute }), []string{"Config.Leeway"}},
		{"claim paths", with(func(c *Config) { c.SubjectClaim, c.GroupsClaim = " sub", "realm_access..roles" }),
			[]string{"Config.SubjectClaim", "Config.GroupsClaim"}},
		{"max token bytes", with(func(c *Config) { c.MaxTokenBytes = 1 << 20 }), []string{"Config.MaxTokenBytes"}},
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

func TestValidConfigs(t *testing.T) {
	ks := jtKeys(t)
	for name, cfg := range map[string]Config{
		"static keys of three types": func() Config {
			c := jtConfig()
			c.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey, jtECKID: &ks.ec1.PublicKey, jtEdKID: ks.ed1.Public()}
			return c
		}(),
		"JWKS file": func() Config {
			c := jtConfig()
			c.JWKSFile = "../testdata/jwt/jwks-public.json"
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
	} {
		o := remoteOptions{url: tt.url, allowHTTP: tt.allowHTTP}
		p := problems{prefix: "Config"}
		o.check(&p)
		assert.Equal(t, tt.ok, len(p.errs) == 0, "%s allowHTTP=%v: %v", tt.url, tt.allowHTTP, p.errs)
	}
}
