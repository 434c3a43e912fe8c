package jwtauth_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
)

// jwtExampleToken stands in for your identity provider: it signs claims
// with the TEST-ONLY key test-rsa-1 of testdata/jwt.
func jwtExampleToken(claims jwt.MapClaims) string {
	raw, err := os.ReadFile("../testdata/jwt/test-rsa-1.TEST-ONLY.key.pem")
	if err != nil {
		log.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "test-rsa-1"
	s, err := tok.SignedString(key)
	if err != nil {
		log.Fatal(err)
	}
	return s
}

// A JWT authenticator for an OpenID Connect provider such as Keycloak. In
// production set JWKSURL to the provider's key set address instead of
// JWKSFile; keys are then refreshed in the background and when a token
// names a new key.
func ExampleNew() {
	auth, err := jwtauth.New(jwtauth.Config{
		Issuer:      "https://login.example.com/realms/chat",
		Audience:    []string{"tvm"},
		Algorithms:  []string{"RS256"},
		JWKSFile:    "../testdata/jwt/jwks-public.json", // or JWKSURL: "https://login.example.com/realms/chat/protocol/openid-connect/certs"
		GroupsClaim: "realm_access.roles",               // Keycloak realm roles
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	token := jwtExampleToken(jwt.MapClaims{
		"iss":          "https://login.example.com/realms/chat",
		"aud":          "tvm",
		"sub":          "alice",
		"realm_access": map[string]any{"roles": []string{"ReadWriteUserGroup"}},
		"exp":          time.Now().Add(time.Hour).Unix(),
	})
	r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	id, err := auth.Authenticate(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Method, id.Subject, id.Groups)

	// The same claims for another audience are refused with a typed error.
	r.Header.Set("Authorization", "Bearer "+jwtExampleToken(jwt.MapClaims{
		"iss": "https://login.example.com/realms/chat", "aud": "another-app", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(),
	}))
	_, err = auth.Authenticate(r)
	var te *jwtauth.TokenError
	fmt.Println(errors.Is(err, tvm.ErrInvalidCredentials), errors.As(err, &te) && te.Code == jwtauth.TokenBadAudience)
	fmt.Println(err)

	// Output:
	// jwt alice [ReadWriteUserGroup]
	// true true
	// tvm: invalid credentials: jwt bad_audience
}

// Cognito ID tokens. The JWKS override points at a local server only
// because examples run without network; in production leave JWKSURL empty
// and the pool's https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json
// is used.
func ExampleNewCognito() {
	jwks, err := os.ReadFile("../testdata/jwt/jwks-public.json")
	if err != nil {
		log.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer idp.Close()

	auth, err := jwtauth.NewCognito(jwtauth.CognitoConfig{
		Region:     "us-west-2",
		UserPoolID: "us-west-2_aBcDeFgHi",
		ClientID:   "3n4b5urk1ft4fl3mg5e62d9ado",
		TokenUse:   jwtauth.CognitoIDToken,
		JWKSURL:    idp.URL, // for this example only
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	token := jwtExampleToken(jwt.MapClaims{
		"iss":            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_aBcDeFgHi",
		"aud":            "3n4b5urk1ft4fl3mg5e62d9ado",
		"token_use":      "id",
		"sub":            "8f6e2a3c-0000-4000-8000-00000000beef",
		"cognito:groups": []string{"ReadOnlyUserGroup"},
		"exp":            time.Now().Add(time.Hour).Unix(),
	})
	r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	id, err := auth.Authenticate(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Method, id.Subject, id.Groups)

	// A Cognito configuration missing the token use fails closed.
	_, err = jwtauth.NewCognito(jwtauth.CognitoConfig{Region: "us-west-2", UserPoolID: "us-west-2_aBcDeFgHi", ClientID: "3n4b5urk1ft4fl3mg5e62d9ado"})
	fmt.Println(err)

	// Output:
	// cognito 8f6e2a3c-0000-4000-8000-00000000beef [ReadOnlyUserGroup]
	// CognitoConfig.TokenUse: required: "id" or "access"
}
