package jwtauth

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The recipes of the README's identity provider table, each run with a
// token shaped exactly as the provider documents it (the page is cited on
// each). The Issuer values are the README's; only the key source is
// replaced by the TEST-ONLY keys (tests run without network). The cmd/tvm
// YAML of each recipe is tested in cmd/tvm (idp_test.go).

// jtRecipe is one provider's configuration and documented token.
type jtRecipe struct {
	name    string
	doc     string // the provider's documentation of the token's claims
	issuer  Issuer
	alg     jwt.SigningMethod
	key     any                  // signing key (nil: rsa1)
	claims  func() jwt.MapClaims // the documented token
	subject string
	groups  []string
	expires time.Duration                  // Identity.ExpiresAt - exp (OutliveCredential)
	refused map[string]func(jwt.MapClaims) // mutations and their TokenErrorCode
	codes   map[string]TokenErrorCode
}

// jtIat is the issue time of the recipes' tokens: a minute before jtNow.
var jtIat = jtNow.Add(-time.Minute).Unix()

const (
	jtEntraTenant  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	jtEntraOther   = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
	jtEntraAPI     = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	jtSupabaseIss  = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
	jtClerkOrigin  = "https://chat.example.com"
	jtGoogleClient = "1234987819200-h7ctpf1lo3nqq2o8b7h8fpgbomg74t2q.apps.googleusercontent.com"
)

func jtRecipes() []jtRecipe {
	exp := func(d time.Duration) int64 { return jtNow.Add(d).Unix() }
	return []jtRecipe{
		{
			name: "Auth0",
			// https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
			// https://auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims (namespaced claims)
			doc: "auth0.com/docs/secure/tokens/access-tokens/access-token-profiles",
			issuer: Issuer{
				Issuer: "https://tvm-example.us.auth0.com/", Audience: []string{"https://tvm.example.com/api"}, Algorithms: []string{"RS256"},
				GroupsClaims: []string{`["https://tvm.example.com/roles"]`},
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"iss": "https://tvm-example.us.auth0.com/", "sub": "auth0|64f1a2b3c4d5e6f7a8b9c0d1",
					"aud": []any{"https://tvm.example.com/api", "https://tvm-example.us.auth0.com/userinfo"},
					"iat": jtIat, "exp": exp(24 * time.Hour), "scope": "openid profile email",
					"azp": "Xc5dPxmfJ6hqrXnFmaLmEaZbh1VQvYFz", "https://tvm.example.com/roles": []any{"writers"},
				}
			},
			subject: "auth0|64f1a2b3c4d5e6f7a8b9c0d1", groups: []string{"writers"},
			refused: map[string]func(jwt.MapClaims){
				"token for another API": func(c jwt.MapClaims) { c["aud"] = "https://other.example.com/api" },
			},
			codes: map[string]TokenErrorCode{"token for another API": TokenBadAudience},
		},
		{
			name: "Okta",
			// https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/ (access token claims: ver, jti, cid, uid, scp)
			// https://developer.okta.com/docs/guides/customize-tokens-groups-claim/ (groups claim, custom authorization server)
			doc: "developer.okta.com/docs/guides/customize-tokens-groups-claim",
			issuer: Issuer{
				Issuer: "https://dev-133337.okta.com/oauth2/default", Audience: []string{"api://default"}, Algorithms: []string{"RS256"},
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE", "iss": "https://dev-133337.okta.com/oauth2/default",
					"aud": "api://default", "iat": jtIat, "exp": exp(time.Hour), "cid": "0oa1pcdc3nDo7h7Xw5d7",
					"uid": "00u1pcdbqsbbZC7Nx5d7", "scp": []any{"openid", "profile"}, "auth_time": jtIat,
					"sub": "alice@example.com", "groups": []any{"Everyone", "writers"},
				}
			},
			subject: "alice@example.com", groups: []string{"Everyone", "writers"},
			refused: map[string]func(jwt.MapClaims){
				"org authorization server's token": func(c jwt.MapClaims) { c["iss"] = "https://dev-133337.okta.com" },
			},
			codes: map[string]TokenErrorCode{"org authorization server's token": TokenBadIssuer},
		},
		{
			name: "Keycloak",
			// https://www.keycloak.org/docs/latest/server_admin/index.html#_audience (audience mapper)
			// https://www.keycloak.org/docs/latest/server_admin/index.html#_role_mappings (realm_access, resource_access)
			doc: "keycloak.org/docs/latest/server_admin/#_audience",
			issuer: Issuer{
				Issuer: "https://sso.example.com/realms/chat", Audience: []string{"tvm.chat"}, Algorithms: []string{"RS256"},
				GroupsClaims:      []string{`resource_access["tvm.chat"].roles`},
				OutliveCredential: 10 * time.Minute, // Keycloak's access tokens live 5 minutes
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"exp": exp(4 * time.Minute), "iat": jtIat, "auth_time": jtIat, "jti": "onrtac:5a3f0c6e-7b0e-4f5e-9d55-0e1c7a2b9f11",
					"iss": "https://sso.example.com/realms/chat", "aud": []any{"tvm.chat", "account"},
					"sub": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", "typ": "Bearer", "azp": "chat-web",
					"sid": "3b8c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "acr": "1", "allowed-origins": []any{"https://chat.example.com"},
					"realm_access": map[string]any{"roles": []any{"offline_access", "default-roles-chat", "uma_authorization"}},
					"resource_access": map[string]any{
						"tvm.chat": map[string]any{"roles": []any{"writers"}},
						"account":  map[string]any{"roles": []any{"manage-account", "view-profile"}},
					},
					"scope": "openid email profile", "email_verified": true, "preferred_username": "alice",
				}
			},
			subject: "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", groups: []string{"writers"}, expires: 10 * time.Minute,
			refused: map[string]func(jwt.MapClaims){
				"expired (the extension does not extend the credential)": func(c jwt.MapClaims) { c["exp"] = jtNow.Add(-5 * time.Minute).Unix() },
				"token of the account console only":                      func(c jwt.MapClaims) { c["aud"] = "account" },
			},
			codes: map[string]TokenErrorCode{"expired (the extension does not extend the credential)": TokenExpired, "token of the account console only": TokenBadAudience},
		},
		{
			name: "Microsoft Entra ID",
			// https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference (v2.0 claims, groups overage)
			doc: "learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference",
			issuer: Issuer{
				Entra: &Entra{TenantIDs: []string{jtEntraTenant}}, Audience: []string{jtEntraAPI},
				GroupsClaims: []string{"roles", "groups"},
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"aud": jtEntraAPI, "iss": "https://login.microsoftonline.com/" + jtEntraTenant + "/v2.0",
					"iat": jtIat, "nbf": jtIat, "exp": exp(time.Hour), "aio": "AXQAi/8UAAAAr1dGqdSe8w==",
					"azp": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "azpacr": "0", "name": "Alice Example",
					"oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "preferred_username": "alice@contoso.com",
					"rh": "0.AUYAme3G0w.", "roles": []any{"Chat.Write"}, "scp": "access_as_user",
					"sub": "MF4f-ggWMEji12KynJUNQZphaUTvLcQug5jdF2nl01Q", "tid": jtEntraTenant,
					"uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0", "groups": []any{"07dd8a60-bf6d-4e17-8844-230b77145381"},
				}
			},
			subject: "MF4f-ggWMEji12KynJUNQZphaUTvLcQug5jdF2nl01Q", groups: []string{"Chat.Write", "07dd8a60-bf6d-4e17-8844-230b77145381"},
			refused: map[string]func(jwt.MapClaims){
				"groups overage (more than 200 groups)": func(c jwt.MapClaims) {
					delete(c, "groups")
					c["_claim_names"] = map[string]any{"groups": "src1"}
					c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/690222be-ff1a-4d56-abd1-7e4f7d38e474/getMemberObjects"}}
				},
				"a tenant not listed": func(c jwt.MapClaims) {
					c["iss"], c["tid"] = "https://login.microsoftonline.com/"+jtEntraOther+"/v2.0", jtEntraOther
				},
				"tid of another tenant than iss": func(c jwt.MapClaims) { c["tid"] = jtEntraOther },
				"a v1.0 token":                   func(c jwt.MapClaims) { c["iss"], c["ver"] = "https://sts.windows.net/"+jtEntraTenant+"/", "1.0" },
			},
			codes: map[string]TokenErrorCode{
				"groups overage (more than 200 groups)": TokenGroupsOverage, "a tenant not listed": TokenBadIssuer,
				"tid of another tenant than iss": TokenBadIssuer, "a v1.0 token": TokenBadIssuer,
			},
		},
		{
			name: "Google",
			// https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
			// (iss is https://accounts.google.com or accounts.google.com)
			doc: "developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload",
			issuer: Issuer{
				Name: "google", Issuer: "https://accounts.google.com", IssuerAliases: []string{"accounts.google.com"},
				Audience: []string{jtGoogleClient}, Algorithms: []string{"RS256"},
				RequiredClaims: map[string][]string{"hd": {"example.com"}},
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"iss": "accounts.google.com", "azp": jtGoogleClient, "aud": jtGoogleClient,
					"sub": "110169484474386276334", "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q", "hd": "example.com",
					"email": "jsmith@example.com", "email_verified": true, "iat": jtIat, "exp": exp(time.Hour),
					"nonce": "0394852-3190485-2490358",
				}
			},
			subject: "110169484474386276334",
			refused: map[string]func(jwt.MapClaims){
				"a consumer account (no hd)": func(c jwt.MapClaims) { delete(c, "hd") },
				"another Workspace domain":   func(c jwt.MapClaims) { c["hd"] = "evil.example" },
			},
			codes: map[string]TokenErrorCode{"a consumer account (no hd)": TokenBadClaims, "another Workspace domain": TokenBadClaims},
		},
		{
			name: "Firebase",
			// https://firebase.google.com/docs/auth/admin/verify-id-tokens#verify_id_tokens_using_a_third-party_jwt_library
			// https://firebase.google.com/docs/auth/admin/custom-claims (custom claims at the top level)
			doc: "firebase.google.com/docs/auth/admin/verify-id-tokens",
			issuer: Issuer{
				Name: "firebase", Issuer: "https://securetoken.google.com/tvm-demo", Audience: []string{"tvm-demo"}, Algorithms: []string{"RS256"},
				JWKSURL:      "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
				GroupsClaims: []string{"roles"},
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"iss": "https://securetoken.google.com/tvm-demo", "aud": "tvm-demo", "auth_time": jtIat,
					"user_id": "kbGkKCsUbtZ3rPh0M5qDGhXaLu12", "sub": "kbGkKCsUbtZ3rPh0M5qDGhXaLu12", "iat": jtIat, "exp": exp(time.Hour),
					"email": "alice@example.com", "email_verified": true,
					"firebase": map[string]any{"identities": map[string]any{"email": []any{"alice@example.com"}}, "sign_in_provider": "password"},
					"roles":    []any{"writers"},
				}
			},
			subject: "kbGkKCsUbtZ3rPh0M5qDGhXaLu12", groups: []string{"writers"},
			refused: map[string]func(jwt.MapClaims){
				"another project": func(c jwt.MapClaims) { c["aud"] = "other-project" },
			},
			codes: map[string]TokenErrorCode{"another project": TokenBadAudience},
		},
		{
			name: "Clerk",
			// https://clerk.com/docs/guides/sessions/session-tokens (version 2 claims: azp, fva, sid, v, o)
			doc: "clerk.com/docs/guides/sessions/session-tokens",
			issuer: Issuer{
				Name: "clerk", Issuer: "https://clerk.chat.example.com", Algorithms: []string{"RS256"},
				AllowMissingAudience: true, RequiredClaims: map[string][]string{"azp": {jtClerkOrigin}},
				GroupsClaims:      []string{"o.rol"},
				OutliveCredential: 15 * time.Minute, // session tokens live 60 seconds
			},
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"azp": jtClerkOrigin, "exp": exp(time.Minute - 5*time.Second), "fva": []any{7, -1}, "iat": jtIat + 55,
					"iss": "https://clerk.chat.example.com", "nbf": jtIat + 45, "sid": "sess_2bmPKRfN0kIuV9KMbXcQ8RTCyp6",
					"sub": "user_2bmPKRfN0kIuV9KMbXcQ8RTCyp7", "v": 2,
					"o": map[string]any{"id": "org_2bmPKRfN0kIuV9KMbXcQ8RTCyp8", "rol": "writers", "slg": "acme"},
				}
			},
			subject: "user_2bmPKRfN0kIuV9KMbXcQ8RTCyp7", groups: []string{"writers"}, expires: 15 * time.Minute,
			refused: map[string]func(jwt.MapClaims){
				"minted for another origin": func(c jwt.MapClaims) { c["azp"] = "https://evil.example.com" },
				"no azp (empty Origin)":     func(c jwt.MapClaims) { delete(c, "azp") },
			},
			codes: map[string]TokenErrorCode{"minted for another origin": TokenBadClaims, "no azp (empty Origin)": TokenBadClaims},
		},
		{
			name: "Supabase (legacy JWT secret)",
			// https://supabase.com/docs/guides/auth/jwt-fields (claims); https://supabase.com/docs/guides/auth/signing-keys (legacy HS256 secret)
			doc: "supabase.com/docs/guides/auth/jwt-fields",
			issuer: Issuer{
				Name: "supabase", Issuer: jtSupabaseIss, Audience: []string{"authenticated"}, Algorithms: []string{"HS256"},
				HMAC: &HMACKey{Secret: jtSecret}, GroupsClaims: []string{"app_metadata.roles"},
			},
			alg: jwt.SigningMethodHS256, key: []byte(jtSecret),
			claims: func() jwt.MapClaims {
				return jwt.MapClaims{
					"iss": jtSupabaseIss, "sub": "123e4567-e89b-12d3-a456-426614174000", "aud": "authenticated",
					"exp": exp(time.Hour), "iat": jtIat, "email": "alice@example.com", "phone": "",
					"app_metadata":  map[string]any{"provider": "email", "providers": []any{"email"}, "roles": []any{"writers"}},
					"user_metadata": map[string]any{"roles": []any{"admins"}}, // user-editable: never read
					"role":          "authenticated", "aal": "aal1", "amr": []any{map[string]any{"method": "password", "timestamp": jtIat}},
					"session_id": "f3c2b1a0-9e8d-4c7b-a6f5-e4d3c2b1a0f9", "is_anonymous": false,
				}
			},
			subject: "123e4567-e89b-12d3-a456-426614174000", groups: []string{"writers"},
			refused: map[string]func(jwt.MapClaims){
				"the anon key (no sub)": func(c jwt.MapClaims) { delete(c, "sub"); c["role"], c["aud"] = "anon", "anon" },
			},
			codes: map[string]TokenErrorCode{"the anon key (no sub)": TokenBadAudience},
		},
	}
}

func TestRecipes(t *testing.T) {
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
	for _, r := range jtRecipes() {
		t.Run(r.name, func(t *testing.T) {
			is := r.issuer
			switch {
			case is.HMAC != nil:
			case is.Entra != nil || is.Cognito != nil:
				is.JWKSURL = srv.URL()
			default:
				is.JWKSURL = "" // the recipe's discovery or key set address: replaced
				is.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
			}
			a := jtMustNew(t, Config{Issuers: []Issuer{is}, Now: jtClock, Logger: jtDiscardLogger()})
			alg, key := r.alg, r.key
			if alg == nil {
				alg, key = jwt.SigningMethodRS256, ks.rsa1
			}
			id, err := a.VerifyToken(context.Background(), jtSign(t, alg, key, jtRSAKID, r.claims(), nil))
			require.NoError(t, err, "the token documented at %s", r.doc)
			assert.Equal(t, r.subject, id.Subject)
			assert.Equal(t, r.groups, id.Groups)
			exp := time.Unix(r.claims()["exp"].(int64), 0)
			assert.Equal(t, exp.Add(r.expires).Unix(), id.ExpiresAt.Unix(), "ExpiresAt = exp + OutliveCredential")
			assert.Equal(t, exp.Unix(), int64(id.Claims["exp"].(float64)), "the claim itself is the token's")
			for name, mut := range r.refused {
				c := r.claims()
				mut(c)
				assert.Equal(t, r.codes[name], jtVerifyCode(t, a, jtSign(t, alg, key, jtRSAKID, c, nil)), name)
			}
		})
	}
}

// TestRecipeCognito: the Cognito preset with an ID token and an access
// token shaped exactly as Cognito issues them.
// https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html
// https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
func TestRecipeCognito(t *testing.T) {
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	const pool, client = "us-east-1_example", "1example23456789"
	iss := "https://cognito-idp.us-east-1.amazonaws.com/" + pool
	id := jwt.MapClaims{
		"sub": "aaaaaaaa-bbbb-cccc-dddd-example", "cognito:groups": []any{"writers"}, "email_verified": true,
		"iss": iss, "cognito:username": "alice", "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"aud": client, "event_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "token_use": "id",
		"auth_time": jtIat, "exp": jtNow.Add(time.Hour).Unix(), "iat": jtIat, "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"email": "alice@example.com",
	}
	access := jwt.MapClaims{
		"sub": "aaaaaaaa-bbbb-cccc-dddd-example", "cognito:groups": []any{"writers"}, "iss": iss,
		"version": 2, "client_id": client, "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"event_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "token_use": "access",
		"scope": "phone openid profile email", "auth_time": jtIat, "exp": jtNow.Add(time.Hour).Unix(),
		"iat": jtIat, "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "username": "alice",
	}
	cfg := func(use string) Config {
		return Config{Issuers: []Issuer{{
			Cognito: &Cognito{Region: "us-east-1", UserPoolID: pool, ClientID: client, TokenUse: use},
			JWKSURL: srv.URL(),
		}}, Now: jtClock, Logger: jtDiscardLogger()}
	}
	ida, acc := jtMustNew(t, cfg(CognitoIDToken)), jtMustNew(t, cfg(CognitoAccessToken))
	idTok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, id, nil)
	accTok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, access, nil)
	for _, tt := range []struct {
		a    *Authenticator
		tok  string
		code TokenErrorCode
	}{{ida, idTok, ""}, {acc, accTok, ""}, {ida, accTok, TokenBadAudience}, {acc, idTok, TokenBadTokenUse}} {
		assert.Equal(t, tt.code, jtVerifyCode(t, tt.a, tt.tok))
	}
	got, err := acc.VerifyToken(context.Background(), accTok)
	require.NoError(t, err)
	assert.Equal(t, "cognito", got.Method)
	assert.Equal(t, []string{"writers"}, got.Groups)
}

// TestKeycloakKeySetWithEncryptionKey: Keycloak publishes an RSA-OAEP
// encryption key beside its signing key; a JWKS file or document holding
// one loads, skipping it.
func TestKeycloakKeySetWithEncryptionKey(t *testing.T) {
	ks := jtKeys(t)
	raw := jtJWKS(t,
		jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey, use: jwkset.UseSig},
		jtJWK{kid: "enc-1", alg: jwkset.AlgRSAOAEP, key: &ks.rsa2.PublicKey, use: jwkset.UseEnc})
	cfg := jtConfig()
	cfg.Issuers[0].JWKSJSON = raw
	a := jtMustNew(t, cfg)
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
	assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtSign(t, jwt.SigningMethodRS256, ks.rsa2, "enc-1", jtBaseClaims(), nil)),
		"the encryption key was skipped, never used to verify")
}
