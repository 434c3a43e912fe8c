package jwtauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
)

func TestCognitoIdentity(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	for _, use := range []string{CognitoIDToken, CognitoAccessToken} {
		t.Run(use, func(t *testing.T) {
			a, err := New(jtCognito(srv.URL(), use))
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Close() })
			claims := jtCognitoClaims(use)
			r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
			r.Header.Set("Authorization", "Bearer "+jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil))
			id, err := a.Authenticate(r)
			require.NoError(t, err)
			assert.Equal(t, "cognito", id.Method)
			assert.Equal(t, claims["sub"], id.Subject)
			assert.Equal(t, []string{"ReadWriteUserGroup"}, id.Groups)
			assert.Equal(t, use, id.Claims["token_use"])
			assert.Equal(t, time.Unix(claims["exp"].(int64), 0).UTC(), id.ExpiresAt.UTC())
			assert.Equal(t, "Bearer", a.Challenge())
			require.NoError(t, a.Close())
			jtAssertClosed(t, a, jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil))
		})
	}
}

func TestCognitoOptions(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	cfg := jtCognito(srv.URL(), CognitoAccessToken)
	cfg.Issuers[0].SubjectClaim = "username"
	cfg.Issuers[0].GroupsClaims = []string{"custom:roles"}
	cfg.Issuers[0].CheckClaims = func(c map[string]any) error {
		if c["scope"] != "aws.cognito.signin.user.admin" {
			return errors.New("missing scope")
		}
		return nil
	}
	a, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })

	claims := jtCognitoClaims(CognitoAccessToken)
	claims["custom:roles"] = "Publisher"
	id, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil))
	require.NoError(t, err)
	assert.Equal(t, "alice", id.Subject)
	assert.Equal(t, []string{"Publisher"}, id.Groups)

	claims["scope"] = "openid"
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil))
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenBadClaims, te.Code)

	// The built-in checks run before CheckClaims.
	claims["scope"] = "aws.cognito.signin.user.admin"
	claims["token_use"] = "id"
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil))
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenBadTokenUse, te.Code)
}

// TestCognitoDefaultJWKSURL checks the derived JWKS address without
// network: the HTTP client answers in-process.
func TestCognitoDefaultJWKSURL(t *testing.T) {
	jtNoLeak(t)
	body := jtDefaultJWKS(t)
	var mu sync.Mutex
	var urls []string
	client := &http.Client{Transport: jtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		urls = append(urls, r.URL.String())
		mu.Unlock()
		return &http.Response{
			StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r,
		}, nil
	})}
	a, err := New(Config{
		Issuers:    []Issuer{{Cognito: &Cognito{Region: "eu-central-1", UserPoolID: "eu-central-1_AbC123", ClientID: jtClientID, TokenUse: CognitoIDToken}}},
		HTTPClient: client, Now: jtClock, Logger: jtDiscardLogger(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	mu.Lock()
	assert.Equal(t, []string{"https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbC123/.well-known/jwks.json"}, urls)
	mu.Unlock()

	claims := jtCognitoClaims(CognitoIDToken)
	claims["iss"] = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbC123"
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, claims, nil))
	assert.NoError(t, err)
	claims["iss"] = jtCognitoIssuer() // right format, wrong pool and region
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, claims, nil))
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenBadIssuer, te.Code)
}

func TestCognitoConfigErrors(t *testing.T) {
	valid := func(f func(c *Cognito, is *Issuer, cfg *Config)) Config {
		cfg := jtCognito("http://127.0.0.1:1/jwks.json", CognitoIDToken)
		f(cfg.Issuers[0].Cognito, &cfg.Issuers[0], &cfg)
		return cfg
	}
	const pre = "Config.Issuers[0].Cognito."
	tests := []struct {
		name   string
		cfg    Config
		fields []string
	}{
		{"zero preset", Config{Issuers: []Issuer{{Cognito: &Cognito{}}}}, []string{pre + "Region", pre + "UserPoolID", pre + "ClientID", pre + "TokenUse"}},
		{"region upper case", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.Region = "US-WEST-2" }), []string{pre + "Region"}},
		{"region without number", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.Region = "us-west" }), []string{pre + "Region"}},
		{"region with a path", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.Region = "us-west-2/../evil" }), []string{pre + "Region"}},
		{"pool missing", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.UserPoolID = "" }), []string{pre + "UserPoolID"}},
		{"pool of another region", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.UserPoolID = "us-east-1_TestPool1" }), []string{pre + "UserPoolID"}},
		{"pool without region", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.UserPoolID = "TestPool1" }), []string{pre + "UserPoolID"}},
		{"pool with empty suffix", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.UserPoolID = "us-west-2_" }), []string{pre + "UserPoolID"}},
		{"pool with a slash", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.UserPoolID = "us-west-2_abc/def" }), []string{pre + "UserPoolID"}},
		{"client id with spaces", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.ClientID = "abc def" }), []string{pre + "ClientID"}},
		{"token use upper case", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.TokenUse = "ID" }), []string{pre + "TokenUse"}},
		{"token use refresh", valid(func(c *Cognito, _ *Issuer, _ *Config) { c.TokenUse = "refresh" }), []string{pre + "TokenUse"}},
		{"JWKS URL plain http", valid(func(_ *Cognito, is *Issuer, _ *Config) { is.JWKSURL = "http://proxy.example.com/jwks.json" }), []string{"Config.Issuers[0].JWKSURL"}},
		{"audience set", valid(func(_ *Cognito, is *Issuer, _ *Config) { is.Audience = []string{"x"} }), []string{"Config.Issuers[0].Audience"}},
		{"leeway too large", valid(func(_ *Cognito, _ *Issuer, cfg *Config) { cfg.Leeway = time.Hour }), []string{"Config.Leeway"}},
		{"groups claim", valid(func(_ *Cognito, is *Issuer, _ *Config) { is.GroupsClaims = []string{"a..b"} }), []string{"Config.Issuers[0].GroupsClaims[0]"}},
		{"http timeout", valid(func(_ *Cognito, _ *Issuer, cfg *Config) { cfg.HTTPTimeout = -1 }), []string{"Config.HTTPTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.ErrorIs(t, err, tvm.ErrInvalidConfig)
			fields := jtConfigFields(t, err)
			for _, f := range tt.fields {
				assert.Contains(t, fields, f)
			}
		})
	}
}
