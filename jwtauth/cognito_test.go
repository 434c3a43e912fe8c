package jwtauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
)

// jtCognitoConfig is a valid CognitoConfig reading keys from srv.
func jtCognitoConfig(srv *jtJWKSServer, use string) CognitoConfig {
	return CognitoConfig{
		Region: jtRegion, UserPoolID: jtPool, ClientID: jtClientID, TokenUse: use,
		JWKSURL: srv.URL(), Now: jtClock, Logger: jtDiscardLogger(),
	}
}

func TestCognitoIdentity(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	for _, use := range []string{CognitoIDToken, CognitoAccessToken} {
		t.Run(use, func(t *testing.T) {
			a, err := NewCognito(jtCognitoConfig(srv, use))
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
	cfg := jtCognitoConfig(srv, CognitoAccessToken)
	cfg.SubjectClaim = "username"
	cfg.GroupsClaim = "custom:roles"
	cfg.CheckClaims = func(c map[string]any) error {
		if c["scope"] != "aws.cognito.signin.user.admin" {
			return errors.New("missing scope")
		}
		return nil
	}
	a, err := NewCognito(cfg)
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
	a, err := NewCognito(CognitoConfig{
		Region: "eu-central-1", UserPoolID: "eu-central-1_AbC123", ClientID: jtClientID, TokenUse: CognitoIDToken,
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
	valid := func(f func(c *CognitoConfig)) CognitoConfig {
		c := CognitoConfig{Region: jtRegion, UserPoolID: jtPool, ClientID: jtClientID, TokenUse: CognitoIDToken,
			JWKSURL: "http://127.0.0.1:1/jwks.json"}
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		cfg    CognitoConfig
		fields []string
	}{
		{"zero config", CognitoConfig{}, []string{"CognitoConfig.Region", "CognitoConfig.UserPoolID", "CognitoConfig.ClientID", "CognitoConfig.TokenUse"}},
		{"region missing", valid(func(c *CognitoConfig) { c.Region = "" }), []string{"CognitoConfig.Region"}},
		{"region upper case", valid(func(c *CognitoConfig) { c.Region = "US-WEST-2" }), []string{"CognitoConfig.Region"}},
		{"region without number", valid(func(c *CognitoConfig) { c.Region = "us-west" }), []string{"CognitoConfig.Region"}},
		{"region with a path", valid(func(c *CognitoConfig) { c.Region = "us-west-2/../evil" }), []string{"CognitoConfig.Region"}},
		{"pool missing", valid(func(c *CognitoConfig) { c.UserPoolID = "" }), []string{"CognitoConfig.UserPoolID"}},
		{"pool of another region", valid(func(c *CognitoConfig) { c.UserPoolID = "us-east-1_TestPool1" }), []string{"CognitoConfig.UserPoolID"}},
		{"pool without region", valid(func(c *CognitoConfig) { c.UserPoolID = "TestPool1" }), []string{"CognitoConfig.UserPoolID"}},
		{"pool with empty suffix", valid(func(c *CognitoConfig) { c.UserPoolID = "us-west-2_" }), []string{"CognitoConfig.UserPoolID"}},
		{"pool with a slash", valid(func(c *CognitoConfig) { c.UserPoolID = "us-west-2_abc/def" }), []string{"CognitoConfig.UserPoolID"}},
		{"client id missing", valid(func(c *CognitoConfig) { c.ClientID = "" }), []string{"CognitoConfig.ClientID"}},
		{"client id with spaces", valid(func(c *CognitoConfig) { c.ClientID = "abc def" }), []string{"CognitoConfig.ClientID"}},
		{"token use missing", valid(func(c *CognitoConfig) { c.TokenUse = "" }), []string{"CognitoConfig.TokenUse"}},
		{"token use upper case", valid(func(c *CognitoConfig) { c.TokenUse = "ID" }), []string{"CognitoConfig.TokenUse"}},
		{"token use refresh", valid(func(c *CognitoConfig) { c.TokenUse = "refresh" }), []string{"CognitoConfig.TokenUse"}},
		{"JWKS URL plain http", valid(func(c *CognitoConfig) { c.JWKSURL = "http://proxy.example.com/jwks.json" }), []string{"CognitoConfig.JWKSURL"}},
		{"leeway too large", valid(func(c *CognitoConfig) { c.Leeway = time.Hour }), []string{"CognitoConfig.Leeway"}},
		{"groups claim", valid(func(c *CognitoConfig) { c.GroupsClaim = "a..b" }), []string{"CognitoConfig.GroupsClaim"}},
		{"http timeout", valid(func(c *CognitoConfig) { c.HTTPTimeout = -1 }), []string{"CognitoConfig.HTTPTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewCognito(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.ErrorIs(t, err, tvm.ErrInvalidConfig)
			for _, f := range tt.fields {
				assert.Contains(t, err.Error(), f+": ")
			}
			fields := jtConfigFields(t, err)
			for _, f := range tt.fields {
				assert.Contains(t, fields, f)
			}
			for _, f := range fields {
				assert.True(t, strings.HasPrefix(f, "CognitoConfig."), "errors name the CognitoConfig fields, not %q", f)
			}
		})
	}
}
