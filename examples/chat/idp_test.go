package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
)

// startIdP serves a demo identity provider on a loopback httptest server
// whose URL is the issuer.
func startIdP(t *testing.T, ttl time.Duration) (*demoIdP, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	idp, err := newDemoIdP(issuer, demoAudience, demoUsers, demoPassword, ttl)
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	idp.Mount(r)
	srv.Config.Handler = r
	srv.Start()
	t.Cleanup(srv.Close)
	return idp, srv
}

// realAuthenticator is tvm's JWT authenticator configured as the chat
// server configures it, fetching the JWKS over HTTP.
func realAuthenticator(t *testing.T, idp *demoIdP) *jwtauth.Authenticator {
	t.Helper()
	a, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{
		Issuer:       idp.Issuer(),
		Audience:     []string{demoAudience},
		Algorithms:   []string{"ES256"},
		JWKSURL:      idp.JWKSURL(),
		GroupsClaims: []string{"cognito:groups"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func signInRaw(t *testing.T, url, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+idpTokenPath, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestDemoIdPTokensVerifyWithRealJWTAuthenticator(t *testing.T) {
	idp, srv := startIdP(t, time.Hour)
	authn := realAuthenticator(t, idp)

	for _, tc := range []struct {
		user   string
		groups []string
	}{
		{"alice", []string{readWriteGroup}},
		{"bob", []string{readOnlyGroup}},
		{"eve", nil},
	} {
		t.Run(tc.user, func(t *testing.T) {
			resp, body := signInRaw(t, srv.URL, "application/json", `{"username":"`+tc.user+`","password":"`+demoPassword+`"}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			var sr signInResponse
			if err := json.Unmarshal(body, &sr); err != nil {
				t.Fatal(err)
			}
			if sr.TokenType != "Bearer" || sr.ExpiresIn < 3590 || sr.ExpiresIn > 3600 {
				t.Errorf("tokenType %q expiresIn %d", sr.TokenType, sr.ExpiresIn)
			}
			id, err := authn.VerifyToken(context.Background(), sr.IDToken)
			if err != nil {
				t.Fatalf("real JWT authenticator refused the demo token: %v", err)
			}
			if id.Subject != tc.user || id.Method != "jwt" {
				t.Errorf("identity = %q via %q, want %q via jwt", id.Subject, id.Method, tc.user)
			}
			if strings.Join(id.Groups, ",") != strings.Join(tc.groups, ",") {
				t.Errorf("groups = %v, want %v", id.Groups, tc.groups)
			}
			if id.Claims["token_use"] != "id" || id.Claims["cognito:username"] != tc.user {
				t.Errorf("claims = %v", id.Claims)
			}
			if d := time.Until(id.ExpiresAt); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expires in %s", d)
			}
		})
	}
}

func TestDemoIdPSignInRefusals(t *testing.T) {
	_, srv := startIdP(t, time.Hour)
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"wrong password", "application/json", `{"username":"alice","password":"nope"}`, http.StatusUnauthorized},
		{"empty password", "application/json", `{"username":"alice","password":""}`, http.StatusUnauthorized},
		{"unknown user", "application/json", `{"username":"mallory","password":"` + demoPassword + `"}`, http.StatusUnauthorized},
		{"case differs", "application/json", `{"username":"Alice","password":"` + demoPassword + `"}`, http.StatusUnauthorized},
		{"unknown field", "application/json", `{"username":"alice","password":"` + demoPassword + `","groups":["ReadWriteUserGroup"]}`, http.StatusBadRequest},
		{"not json", "application/json", `username=alice`, http.StatusBadRequest},
		{"too large", "application/json", `{"username":"alice","password":"` + strings.Repeat("x", maxSignInBody) + `"}`, http.StatusBadRequest},
		{"text/plain", "text/plain", `{"username":"alice","password":"` + demoPassword + `"}`, http.StatusUnsupportedMediaType},
		{"form ok", "application/x-www-form-urlencoded", "username=bob&password=" + demoPassword, http.StatusOK},
		{"form wrong password", "application/x-www-form-urlencoded", "username=bob&password=x", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := signInRaw(t, srv.URL, tc.contentType, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.status != http.StatusOK && strings.Contains(string(body), "idToken") {
				t.Errorf("refusal carries a token: %s", body)
			}
			if strings.Contains(string(body), demoPassword) {
				t.Errorf("response echoes the password: %s", body)
			}
		})
	}
}

func TestDemoIdPJWKSAndDiscovery(t *testing.T) {
	idp, srv := startIdP(t, time.Hour)
	resp, err := http.Get(srv.URL + jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("keys = %v", set.Keys)
	}
	k := set.Keys[0]
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] != idp.kid {
		t.Errorf("jwk = %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("JWKS leaks the private key")
	}

	resp2, err := http.Get(srv.URL + discoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var disc map[string]any
	if err := json.NewDecoder(resp2.Body).Decode(&disc); err != nil {
		t.Fatal(err)
	}
	if disc["issuer"] != idp.Issuer() || disc["jwks_uri"] != idp.JWKSURL() {
		t.Errorf("discovery = %v", disc)
	}
}

// A token from another demo identity provider (another key, even under the
// same key id and issuer) or an expired one is refused by the authenticator.
func TestDemoIdPForeignAndExpiredTokensRefused(t *testing.T) {
	idp, _ := startIdP(t, time.Hour)
	authn := realAuthenticator(t, idp)

	other, err := newDemoIdP(idp.Issuer(), demoAudience, demoUsers, demoPassword, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other.kid = idp.kid
	forged, _, err := other.Issue("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.VerifyToken(context.Background(), forged); !errors.Is(err, tvm.ErrInvalidCredentials) {
		t.Errorf("forged token: err = %v, want ErrInvalidCredentials", err)
	}

	idp.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, err := idp.Issue("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.VerifyToken(context.Background(), expired); !errors.Is(err, tvm.ErrInvalidCredentials) {
		t.Errorf("expired token: err = %v, want ErrInvalidCredentials", err)
	}

	// Same key, another audience.
	idp.now = time.Now
	idp.audience = "someone-else"
	wrongAud, _, err := idp.Issue("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.VerifyToken(context.Background(), wrongAud); !errors.Is(err, tvm.ErrInvalidCredentials) {
		t.Errorf("wrong audience: err = %v, want ErrInvalidCredentials", err)
	}
}

func TestDemoIdPTokenHeaderAndClaims(t *testing.T) {
	idp, _ := startIdP(t, 30*time.Minute)
	raw, exp, err := idp.Issue("bob")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["alg"] != "ES256" || tok.Header["kid"] != idp.kid {
		t.Errorf("header = %v", tok.Header)
	}
	c := tok.Claims.(jwt.MapClaims)
	for _, k := range []string{"iss", "aud", "sub", "exp", "iat", "token_use", "cognito:username", "cognito:groups"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %q missing", k)
		}
	}
	if d := time.Until(exp); d < 29*time.Minute || d > 30*time.Minute {
		t.Errorf("exp in %s", d)
	}
	if _, _, err := idp.Issue("mallory"); err == nil {
		t.Error("Issue for an unknown user succeeded")
	}
}

func TestNewDemoIdPRequiresSettings(t *testing.T) {
	for _, tc := range []struct{ issuer, aud, pass string }{
		{"", demoAudience, demoPassword},
		{"http://127.0.0.1:1", "", demoPassword},
		{"http://127.0.0.1:1", demoAudience, ""},
	} {
		if _, err := newDemoIdP(tc.issuer, tc.aud, demoUsers, tc.pass, time.Hour); err == nil {
			t.Errorf("newDemoIdP(%q, %q, %q) succeeded", tc.issuer, tc.aud, tc.pass)
		}
	}
	if _, err := newDemoIdP("http://127.0.0.1:1", demoAudience, demoUsers, demoPassword, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}
