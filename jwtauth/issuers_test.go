package jwtauth

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// jtTwoIssuers is an authenticator for staff (issuer A, RSA key rsa1,
// audience "staff-app", groups in realm_access.roles) and customers
// (issuer B, EC key ec1, audience "shop", groups in "roles"), and an HMAC
// issuer C for the backend. Each has its own key set; a JWKS server counts
// the fetches of A's.
func jtTwoIssuers(t *testing.T) (*Authenticator, *jtJWKSServer) {
	t.Helper()
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
	a := jtMustNew(t, Config{
		Issuers: []Issuer{
			{Name: "staff", Issuer: "https://staff.test/", Audience: []string{"staff-app"}, Algorithms: []string{"RS256"},
				JWKSURL: srv.URL(), GroupsClaims: []string{"realm_access.roles"}},
			{Name: "customers", Issuer: "https://customers.test/", Audience: []string{"shop"}, Algorithms: []string{"ES256"},
				Keys: map[string]crypto.PublicKey{jtECKID: &ks.ec1.PublicKey}, GroupsClaims: []string{"roles"}},
			{Name: "backend", Issuer: "backend", Audience: []string{"tvm"}, Algorithms: []string{"HS256"},
				HMAC: &HMACKey{Secret: jtSecret}},
		},
		Now: jtClock, Logger: jtDiscardLogger(),
	})
	return a, srv
}

func jtClaimsFor(iss, aud string) jwt.MapClaims {
	c := jtBaseClaims()
	c["iss"], c["aud"] = iss, aud
	delete(c, "groups")
	return c
}

// TestSeveralIssuers: the token's iss selects one issuer, whose own
// audience, algorithms, keys and claim mapping verify it.
func TestSeveralIssuers(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	a, _ := jtTwoIssuers(t)

	staff := jtClaimsFor("https://staff.test/", "staff-app")
	staff["realm_access"] = map[string]any{"roles": []any{"admin"}}
	id, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, staff, nil))
	require.NoError(t, err)
	assert.Equal(t, "staff", id.Method)
	assert.Equal(t, []string{"admin"}, id.Groups)

	customer := jtClaimsFor("https://customers.test/", "shop")
	customer["roles"] = "buyer"
	customer["realm_access"] = map[string]any{"roles": []any{"admin"}} // not this issuer's mapping
	id, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodES256, ks.ec1, jtECKID, customer, nil))
	require.NoError(t, err)
	assert.Equal(t, "customers", id.Method)
	assert.Equal(t, []string{"buyer"}, id.Groups, "each issuer has its own claim mapping")

	backend := jtClaimsFor("backend", "tvm")
	id, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodHS256, []byte(jtSecret), nil, backend, nil))
	require.NoError(t, err)
	assert.Equal(t, "backend", id.Method)
}

// TestIssuerMixUps: a token of one issuer dressed as another's, or signed
// with another issuer's key, is refused; keys of another issuer are never
// tried; an unknown iss costs no key lookup.
func TestIssuerMixUps(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	a, srv := jtTwoIssuers(t)
	hits := srv.hits.Load()
	for _, tt := range []struct {
		name string
		tok  func() string
		code TokenErrorCode
	}{
		{"customers' iss, signed with the staff key (other issuer's kid)", func() string {
			return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtClaimsFor("https://customers.test/", "shop"), nil)
		}, TokenBadAlgorithm},
		{"customers' iss and alg, the staff issuer's kid", func() string {
			return jtSign(t, jwt.SigningMethodES256, ks.ec1, jtRSAKID, jtClaimsFor("https://customers.test/", "shop"), nil)
		}, TokenUnknownKey},
		{"staff's iss, signed with the customers key under its kid", func() string {
			return jtSign(t, jwt.SigningMethodES256, ks.ec1, jtECKID, jtClaimsFor("https://staff.test/", "staff-app"), nil)
		}, TokenBadAlgorithm},
		{"staff token for the customers' audience", func() string {
			return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtClaimsFor("https://staff.test/", "shop"), nil)
		}, TokenBadAudience},
		{"unknown iss", func() string {
			return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, "random-kid-42", jtClaimsFor("https://evil.test/", "shop"), nil)
		}, TokenBadIssuer},
		{"iss differing in case", func() string {
			return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtClaimsFor("https://STAFF.test/", "staff-app"), nil)
		}, TokenBadIssuer},
		{"iss as an array of both", func() string {
			c := jtClaimsFor("", "shop")
			c["iss"] = []any{"https://staff.test/", "https://customers.test/"}
			return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil)
		}, TokenBadIssuer},
		{"HS256 under the staff iss, with the staff RSA public key as secret", func() string {
			return jtSign(t, jwt.SigningMethodHS256, ks.rsa1PublicPEM, jtRSAKID, jtClaimsFor("https://staff.test/", "staff-app"), nil)
		}, TokenBadAlgorithm},
		{"HS256 under the staff iss, with the backend secret", func() string {
			return jtSign(t, jwt.SigningMethodHS256, []byte(jtSecret), jtRSAKID, jtClaimsFor("https://staff.test/", "staff-app"), nil)
		}, TokenBadAlgorithm},
		{"backend iss, RS256 with the staff key", func() string {
			return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtClaimsFor("backend", "tvm"), nil)
		}, TokenBadAlgorithm},
		{"backend iss, HS256 with the staff public key", func() string {
			return jtSign(t, jwt.SigningMethodHS256, ks.rsa1PublicPEM, nil, jtClaimsFor("backend", "tvm"), nil)
		}, TokenBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, jtVerifyCode(t, a, tt.tok()))
		})
	}
	assert.Equal(t, hits, srv.hits.Load(), "the staff key set was not fetched for tokens of other issuers naming its kid")

	// Under the staff iss, the customers' kid is just unknown to the staff
	// key set: one refresh of that set, never a look at the customers' keys.
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtECKID, jtClaimsFor("https://staff.test/", "staff-app"), nil)
	assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, tok))
	assert.Equal(t, hits+1, srv.hits.Load())
}

// TestDuplicateIssClaim: a payload with two iss members is read the same
// way when choosing the issuer and when verifying (the last one wins in
// both), so it cannot be chosen by one and verified as the other.
func TestDuplicateIssClaim(t *testing.T) {
	ks := jtKeys(t)
	a, _ := jtTwoIssuers(t)
	claims := jtClaimsFor("https://staff.test/", "staff-app")
	delete(claims, "iss")
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = jtECKID
	header, err := tok.SigningString()
	require.NoError(t, err)
	parts := strings.Split(header, ".")
	payload := `{"iss":"https://staff.test/","iss":"https://customers.test/","aud":"shop","sub":"user-1","exp":` + fmt.Sprint(jtNow.Add(time.Hour).Unix()) + `}`
	unsigned := parts[0] + "." + jtB64([]byte(payload))
	sig, err := jwt.SigningMethodES256.Sign(unsigned, ks.ec1)
	require.NoError(t, err)
	id, err := a.VerifyToken(context.Background(), unsigned+"."+jtB64(sig))
	require.NoError(t, err)
	assert.Equal(t, "customers", id.Method, "the last iss, as encoding/json reads it, both times")
	assert.Equal(t, "https://customers.test/", id.Claims["iss"])
}

// TestIssuerAliases: Google spells its issuer two ways; both select the
// same issuer.
func TestIssuerAliases(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Issuer = "https://accounts.google.com"
	cfg.Issuers[0].IssuerAliases = []string{"accounts.google.com"}
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustNew(t, cfg)
	for _, iss := range []string{"https://accounts.google.com", "accounts.google.com"} {
		c := jtBaseClaims()
		c["iss"] = iss
		_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
		assert.NoError(t, err, iss)
	}
	c := jtBaseClaims()
	c["iss"] = "http://accounts.google.com"
	assert.Equal(t, TokenBadIssuer, jtVerifyCode(t, a, jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil)))
}

// TestHMAC: the HMAC key source verifies HS256 with its secret only; the
// secret appears in no error, log or printed configuration.
func TestHMAC(t *testing.T) {
	ks := jtKeys(t)
	logs := &jtLogBuffer{}
	cfg := Config{Issuers: []Issuer{{Issuer: "backend", Audience: []string{"tvm"}, Algorithms: []string{"HS256", "HS512"},
		HMAC: &HMACKey{Secret: jtSecret, KeyID: "v1"}}}, Now: jtClock, Logger: logs.logger()}
	a := jtMustNew(t, cfg)
	claims := jtClaimsFor("backend", "tvm")
	kid := func(k string) func(h map[string]any) { return func(h map[string]any) { h["kid"] = k } }
	for _, tt := range []struct {
		name string
		tok  string
		code TokenErrorCode
	}{
		{"HS256 with the secret", jtSign(t, jwt.SigningMethodHS256, []byte(jtSecret), "v1", claims, nil), ""},
		{"HS512 with the secret", jtSign(t, jwt.SigningMethodHS512, []byte(jtSecret), "v1", claims, nil), ""},
		{"HS384 (not listed)", jtSign(t, jwt.SigningMethodHS384, []byte(jtSecret), "v1", claims, nil), TokenBadAlgorithm},
		{"another secret", jtSign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 64)), "v1", claims, nil), TokenBadSignature},
		{"a prefix of the secret", jtSign(t, jwt.SigningMethodHS256, []byte(jtSecret[:32]), "v1", claims, nil), TokenBadSignature},
		{"another kid", jtSign(t, jwt.SigningMethodHS256, []byte(jtSecret), "v2", claims, nil), TokenUnknownKey},
		{"no kid", jtSign(t, jwt.SigningMethodHS256, []byte(jtSecret), nil, claims, nil), TokenUnknownKey},
		{"RS256 signed by a real key", jtSign(t, jwt.SigningMethodRS256, ks.rsa1, "v1", claims, nil), TokenBadAlgorithm},
		{"alg none", jtUnsigned(t, map[string]any{"alg": "none", "kid": "v1"}, claims), TokenBadAlgorithm},
		{"jwk header with an attacker secret", jtSign(t, jwt.SigningMethodHS256, []byte("attacker-secret-attacker-secret-!!"), nil, claims, func(h map[string]any) {
			kid("v1")(h)
			h["jwk"] = map[string]any{"kty": "oct", "k": jtB64([]byte("attacker-secret-attacker-secret-!!"))}
		}), TokenBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := jtVerifyCode(t, a, tt.tok)
			assert.Equal(t, tt.code, code)
			_, err := a.VerifyToken(context.Background(), tt.tok)
			if err != nil {
				jtAssertNoSecret(t, err.Error(), fmt.Sprintf("%+v", err))
			}
		})
	}

	// The secret never prints: not in errors about it, not in the
	// configuration printed or logged.
	_, err := New(Config{Issuers: []Issuer{{Issuer: "backend", Audience: []string{"tvm"}, Algorithms: []string{"HS512"},
		HMAC: &HMACKey{Secret: jtSecret[:40]}}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.Issuers[0].HMAC.Secret: is 40 bytes")
	slog.New(slog.NewTextHandler(logs, nil)).Info("config", "cfg", cfg, "secret", cfg.Issuers[0].HMAC.Secret)
	slog.New(slog.NewJSONHandler(logs, nil)).Info("config", "cfg", cfg, "secret", cfg.Issuers[0].HMAC.Secret)
	jtAssertNoSecret(t, err.Error(), logs.String(),
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg.Issuers[0]), fmt.Sprintf("%v %s %x %q", jtSecret, jtSecret, jtSecret, jtSecret))
	assert.Contains(t, fmt.Sprintf("%v", *cfg.Issuers[0].HMAC), redacted)
}

// TestSecretNeverEncodes: a Secret inside a struct that log/slog's JSON
// handler, encoding/json or a YAML encoder writes (which call neither
// Format nor LogValue on nested fields) shows "[redacted]", not its bytes
// in base64.
func TestSecretNeverEncodes(t *testing.T) {
	key := HMACKey{Secret: jtSecret, KeyID: "v1"}
	logs := &bytes.Buffer{}
	slog.New(slog.NewJSONHandler(logs, nil)).Info("hmac", "key", key, "ptr", &key)
	j, err := json.Marshal(key)
	require.NoError(t, err)
	y, err := yaml.Marshal(key)
	require.NoError(t, err)
	jtAssertNoSecret(t, logs.String(), string(j), string(y))
	assert.Contains(t, string(j), `"Secret":"[redacted]"`)
	assert.Contains(t, logs.String(), `"Secret":"[redacted]"`)
	assert.Contains(t, string(y), "secret: '[redacted]'") // not the bytes as a list of numbers
}

// jtAssertNoSecret fails if any text holds the test secret or a telling
// part of it, in clear, hex or base64.
func jtAssertNoSecret(t *testing.T, texts ...string) {
	t.Helper()
	forms := []string{string(jtSecret[8:24]), fmt.Sprintf("%x", []byte(jtSecret[8:24])), jtB64([]byte(jtSecret))[8:24]}
	for _, text := range texts {
		for _, f := range forms {
			assert.NotContains(t, text, f, "the HMAC secret leaked")
		}
	}
}
