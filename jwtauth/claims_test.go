package jwtauth

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
)

func TestClaimPaths(t *testing.T) {
	ks := jtKeys(t)
	tests := []struct {
		name         string
		subjectClaim string
		groupsClaim  string
		claims       func(c jwt.MapClaims)
		wantSubject  string
		wantGroups   []string
		wantCode     TokenErrorCode
	}{
		{name: "keycloak realm roles", groupsClaim: "realm_access.roles",
			claims:     func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": []any{"admin", "user"}} },
			wantGroups: []string{"admin", "user"}},
		{name: "nested three levels", groupsClaim: "resource_access.tvm.roles",
			claims: func(c jwt.MapClaims) {
				c["resource_access"] = map[string]any{"tvm": map[string]any{"roles": []any{"publisher"}}}
			},
			wantGroups: []string{"publisher"}},
		{name: "namespaced claim (Auth0), bracketed", groupsClaim: `["https://tvm.example.com/roles"]`,
			claims:     func(c jwt.MapClaims) { c["https://tvm.example.com/roles"] = []any{"ns"} },
			wantGroups: []string{"ns"}},
		{name: "a bracketed name is never split at its dots", groupsClaim: `["https://tvm.example.com/roles"]`,
			claims: func(c jwt.MapClaims) {
				c["https://tvm"] = map[string]any{"example": map[string]any{"com/roles": []any{"decoy"}}}
			},
			wantGroups: nil},
		{name: "nested step into a name with dots (Keycloak client roles)", groupsClaim: `resource_access["my.client"].roles`,
			claims: func(c jwt.MapClaims) {
				c["resource_access"] = map[string]any{"my.client": map[string]any{"roles": []any{"publisher"}}, "my": map[string]any{"client": map[string]any{"roles": []any{"decoy"}}}}
			},
			wantGroups: []string{"publisher"}},
		{name: "dotted path never reads a top-level name holding the dots", groupsClaim: "realm_access.roles",
			claims:     func(c jwt.MapClaims) { c["realm_access.roles"] = []any{"decoy"} },
			wantGroups: nil},
		{name: "escaped quote in a bracketed name", groupsClaim: `["say \"hi\""]`,
			claims:     func(c jwt.MapClaims) { c[`say "hi"`] = "quoted" },
			wantGroups: []string{"quoted"}},
		{name: "nested path through a non-object yields no groups", groupsClaim: "realm_access.roles",
			claims: func(c jwt.MapClaims) { c["realm_access"] = "roles" }, wantGroups: nil},
		{name: "nested path missing yields no groups", groupsClaim: "realm_access.roles",
			claims: func(c jwt.MapClaims) {}, wantGroups: nil},
		{name: "nested value of the wrong type is refused", groupsClaim: "realm_access.roles",
			claims:   func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": map[string]any{}} },
			wantCode: TokenBadClaims},
		{name: "null groups means none", groupsClaim: "roles",
			claims: func(c jwt.MapClaims) { c["roles"] = nil }, wantGroups: nil},
		{name: "cognito groups claim name", groupsClaim: "cognito:groups",
			claims:     func(c jwt.MapClaims) { c["cognito:groups"] = []any{"ReadOnlyUserGroup"} },
			wantGroups: []string{"ReadOnlyUserGroup"}},
		{name: "custom subject claim", subjectClaim: "email",
			claims:      func(c jwt.MapClaims) { c["email"] = "bob@example.com" },
			wantSubject: "bob@example.com", wantGroups: []string{"ReadWrite", "Staff"}},
		{name: "nested subject claim", subjectClaim: "user.id",
			claims:      func(c jwt.MapClaims) { c["user"] = map[string]any{"id": "u-42"} },
			wantSubject: "u-42", wantGroups: []string{"ReadWrite", "Staff"}},
		{name: "custom subject claim missing", subjectClaim: "email",
			claims: func(c jwt.MapClaims) {}, wantCode: TokenBadClaims},
		{name: "custom subject claim is a number", subjectClaim: "uid",
			claims: func(c jwt.MapClaims) { c["uid"] = 42 }, wantCode: TokenBadClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := jtConfig()
			cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
			cfg.Issuers[0].SubjectClaim = tt.subjectClaim
			if tt.groupsClaim != "" {
				cfg.Issuers[0].GroupsClaims = []string{tt.groupsClaim}
			}
			a := jtMustNew(t, cfg)
			c := jtBaseClaims()
			tt.claims(c)
			id, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
			if tt.wantCode != "" {
				var te *TokenError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, tt.wantCode, te.Code)
				return
			}
			require.NoError(t, err)
			want := tt.wantSubject
			if want == "" {
				want = "user-1"
			}
			assert.Equal(t, want, id.Subject)
			assert.Equal(t, tt.wantGroups, id.Groups)
		})
	}
}

func TestCheckClaims(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	cfg.Issuers[0].CheckClaims = func(c map[string]any) error {
		if c["email_verified"] != true {
			return errors.New("email not verified")
		}
		return nil
	}
	a := jtMustNew(t, cfg)
	c := jtBaseClaims()
	_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenBadClaims, te.Code)
	assert.ErrorIs(t, err, tvm.ErrInvalidCredentials)

	c["email_verified"] = true
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
	assert.NoError(t, err)
}

// TestClaimPathSyntax checks the path grammar: every accepted path has one
// meaning, and the ambiguous forms are refused at construction.
func TestClaimPathSyntax(t *testing.T) {
	for _, tt := range []struct {
		path string
		want claimPath // nil: refused
	}{
		{"groups", claimPath{"groups"}},
		{"cognito:groups", claimPath{"cognito:groups"}},
		{"realm_access.roles", claimPath{"realm_access", "roles"}},
		{`resource_access["my.client"].roles`, claimPath{"resource_access", "my.client", "roles"}},
		{`["https://example.com/roles"]`, claimPath{"https://example.com/roles"}},
		{`["a"]["b.c"]`, claimPath{"a", "b.c"}},
		{`["\u00e9"]`, claimPath{"é"}},
		{"https://example.com/roles", nil},
		{"a..b", nil},
		{"a.", nil},
		{".a", nil},
		{"", nil},
		{`a.["b"]`, nil},
		{`a["b"`, nil},
		{`a["b"]c`, nil},
		{`a[b]`, nil},
		{`a[""]`, nil},
		{"a b", nil},
		{" sub", nil},
	} {
		got, problem := parseClaimPath(tt.path)
		if tt.want == nil {
			assert.NotEmpty(t, problem, "%q must be refused", tt.path)
			continue
		}
		assert.Empty(t, problem, tt.path)
		assert.Equal(t, tt.want, got, tt.path)
		again, _ := parseClaimPath(got.String())
		assert.Equal(t, got, again, "String of %q reparses to the same path", tt.path)
	}
}

// TestOutliveCredentialThroughHandler: tvm's handler never lets a vended
// token outlive Identity.ExpiresAt; OutliveCredential moves that bound, by
// at most its value, for a 60-second Clerk-like token.
func TestOutliveCredentialThroughHandler(t *testing.T) {
	ks := jtKeys(t)
	scopes, err := tvm.NewGroupScopes(tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "c", Topic: tvm.All}}})
	require.NoError(t, err)
	for _, tt := range []struct {
		outlive time.Duration
		want    time.Duration // the vended TTL, about
	}{{0, time.Minute}, {5 * time.Minute, 6 * time.Minute}, {time.Hour, 15 * time.Minute}} {
		cfg := jtConfig()
		cfg.Now = nil
		cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
		cfg.Issuers[0].OutliveCredential = tt.outlive
		a := jtMustNew(t, cfg)
		var got time.Duration
		h, err := tvm.NewHandler(tvm.Config{Authenticator: a, Scopes: scopes, TTL: 15 * time.Minute,
			Vendor: jtVendor(func(g tvm.Grant) (tvm.Token, error) {
				got = g.TTL
				return tvm.Token{AuthToken: "x", ExpiresAt: time.Now().Add(g.TTL)}, nil
			})})
		require.NoError(t, err)
		c := jtBaseClaims()
		now := time.Now()
		c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(time.Minute).Unix()
		r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
		r.Header.Set("Authorization", "Bearer "+jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.InDelta(t, tt.want.Seconds(), got.Seconds(), 3, "outlive %s", tt.outlive)
	}
}
