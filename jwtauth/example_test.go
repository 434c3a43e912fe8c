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
// production leave JWKSFile out: the key set is then found by discovery
// from the issuer, refreshed in the background and when a token names a
// new key. JWKSFile is here only because examples run without network.
func ExampleNew() {
	auth, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{
		Issuer:       "https://login.example.com/realms/chat",
		Audience:     []string{"tvm"},
		Algorithms:   []string{"RS256"},
		JWKSFile:     "../testdata/jwt/jwks-public.json", // for this example only
		GroupsClaims: []string{"realm_access.roles"},     // Keycloak realm roles
	}}})
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

// Staff from an OpenID Connect provider and customers from a Cognito user
// pool behind one endpoint: each token's iss selects its issuer, whose own
// audience, keys and claims verify it. The JWKS overrides point at local
// files and servers only because examples run without network; in
// production the first issuer uses discovery and the second the pool's
// https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json.
func ExampleNew_severalIssuers() {
	jwks, err := os.ReadFile("../testdata/jwt/jwks-public.json")
	if err != nil {
		log.Fatal(err)
	}
	pool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer pool.Close()

	auth, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{
		{
			Name:         "staff",
			Issuer:       "https://login.example.com/realms/staff",
			Audience:     []string{"tvm"},
			Algorithms:   []string{"RS256"},
			JWKSFile:     "../testdata/jwt/jwks-public.json", // for this example only
			GroupsClaims: []string{"realm_access.roles"},
		},
		{
			Name: "customers",
			Cognito: &jwtauth.Cognito{
				Region:     "us-west-2",
				UserPoolID: "us-west-2_aBcDeFgHi",
				ClientID:   "3n4b5urk1ft4fl3mg5e62d9ado",
				TokenUse:   jwtauth.CognitoIDToken,
			},
			JWKSURL: pool.URL, // for this example only
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	for _, claims := range []jwt.MapClaims{{
		"iss":          "https://login.example.com/realms/staff",
		"aud":          "tvm",
		"sub":          "alice",
		"realm_access": map[string]any{"roles": []string{"ReadWriteUserGroup"}},
		"exp":          time.Now().Add(time.Hour).Unix(),
	}, {
		"iss":            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_aBcDeFgHi",
		"aud":            "3n4b5urk1ft4fl3mg5e62d9ado",
		"token_use":      "id",
		"sub":            "8f6e2a3c-0000-4000-8000-00000000beef",
		"cognito:groups": []string{"ReadOnlyUserGroup"},
		"exp":            time.Now().Add(time.Hour).Unix(),
	}} {
		r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
		r.Header.Set("Authorization", "Bearer "+jwtExampleToken(claims))
		id, err := auth.Authenticate(r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(id.Method, id.Subject, id.Groups)
	}

	// A Cognito issuer missing the token use fails closed.
	_, err = jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{Cognito: &jwtauth.Cognito{
		Region: "us-west-2", UserPoolID: "us-west-2_aBcDeFgHi", ClientID: "3n4b5urk1ft4fl3mg5e62d9ado",
	}}}})
	fmt.Println(err)

	// Output:
	// staff alice [ReadWriteUserGroup]
	// customers 8f6e2a3c-0000-4000-8000-00000000beef [ReadOnlyUserGroup]
	// Config.Issuers[0].Cognito.TokenUse: required: "id" or "access"
}
