// Package jwtauth authenticates requests that carry a JSON Web Token from an
// OpenID Connect provider (Keycloak, Auth0, Okta, Entra ID, ...) or from an
// Amazon Cognito user pool, for tvm's token vending handler.
//
// New makes an authenticator from a Config (issuer, audience, an explicit
// list of asymmetric algorithms and one key source: a JWKS URL refreshed in
// the background, a JWKS file or document, or static public keys).
// NewCognito makes one from a CognitoConfig (region, pool, app client and
// token use). Both fail at construction with *tvm.ConfigError values naming
// every field that is wrong, so a misconfiguration can never open the door.
//
// An Authenticator reads `Authorization: Bearer <jwt>` only and returns a
// tvm.Identity: Subject from `sub`, Groups from the groups claim, Claims the
// verified claims, ExpiresAt the token's `exp`. A missing credential is an
// error wrapping tvm.ErrNoCredentials; a token that does not verify is a
// *TokenError wrapping tvm.ErrInvalidCredentials, with a stable Code. No
// error or log line ever contains the token. Call Close to stop the
// background key refresh; using an authenticator after Close is a
// programming error, reported as tvm.ErrClosed.
//
//	auth, err := jwtauth.New(jwtauth.Config{
//		Issuer:     "https://login.example.com/realms/chat",
//		Audience:   []string{"tvm"},
//		Algorithms: []string{"RS256"},
//		JWKSURL:    "https://login.example.com/realms/chat/protocol/openid-connect/certs",
//	})
//	if err != nil {
//		return err
//	}
//	defer auth.Close()
package jwtauth
