// Package jwtauth authenticates requests that carry a JSON Web Token from
// OpenID Connect providers (Keycloak, Auth0, Okta, Entra ID, Google, Clerk,
// ...), Amazon Cognito user pools, or your own services, for tvm's token
// vending handler.
//
// New makes one Authenticator from a Config listing one or more Issuers.
// The token's `iss` selects exactly one of them, whose own audience,
// algorithm allow-list, key source and claim mapping verify it; keys of
// another issuer are never tried. An issuer's keys come from OpenID Connect
// discovery (configure just the issuer), a JWKS URL refreshed in the
// background, a JWKS file or document, static public keys, or — only
// through its own key source, never beside public keys — an HMAC secret.
// The Cognito and Entra presets derive an issuer from a user pool or a
// list of tenants. Every problem fails New with *tvm.ConfigError values
// naming the field, so a misconfiguration can never open the door.
//
// An Authenticator reads `Authorization: Bearer <jwt>` only and returns a
// tvm.Identity: Subject from `sub`, Groups from the groups claims, Claims
// the verified claims, ExpiresAt the token's `exp` (plus the issuer's
// OutliveCredential), Method the issuer's Name. A missing credential is an
// error wrapping tvm.ErrNoCredentials; a token that does not verify is a
// *TokenError wrapping tvm.ErrInvalidCredentials, with a stable Code; a
// token whose issuer has no key set yet (discovery pending) is an error
// wrapping tvm.ErrUpstreamUnavailable. Verified tokens are cached (by a
// hash of the whole token, until `exp` or until their key leaves the key
// set), so a browser presenting the same token again costs a hash and a
// map lookup. No error or log line ever contains a token or a secret. Call
// Close to stop the background work; using an authenticator after Close is
// a programming error, reported as tvm.ErrClosed.
//
//	auth, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{
//		Issuer:     "https://login.example.com/realms/chat", // discovery
//		Audience:   []string{"tvm"},
//		Algorithms: []string{"RS256"},
//	}}})
//	if err != nil {
//		return err
//	}
//	defer auth.Close()
package jwtauth
