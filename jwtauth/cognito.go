package tvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"
)

// Cognito token uses (CognitoConfig.TokenUse).
const (
	// CognitoIDToken selects Cognito ID tokens: the client id must be in
	// `aud`.
	CognitoIDToken = "id"
	// CognitoAccessToken selects Cognito access tokens: the client id must
	// be the `client_id` claim (access tokens have no `aud`).
	CognitoAccessToken = "access"
)

// CognitoConfig configures an authenticator for tokens issued by an Amazon
// Cognito user pool (NewCognito, Cognito). It fails closed: Region,
// UserPoolID, ClientID and TokenUse are all required.
//
// The issuer is https://cognito-idp.{Region}.amazonaws.com/{UserPoolID}
// (tokens carrying the newer https://issuer.cognito-idp.{Region}.amazonaws.com/{UserPoolID}
// form are accepted too), the keys come from {issuer}/.well-known/jwks.json,
// the algorithm is RS256, and `token_use` must equal TokenUse. For ID
// tokens ClientID must be in `aud`; for access tokens it must be the
// `client_id` claim. Groups come from `cognito:groups`.
type CognitoConfig struct {
	// Region is the AWS region of the user pool, e.g. "us-west-2".
	Region string
	// UserPoolID is the pool id, e.g. "us-west-2_aBcDeFgHi"; it must start
	// with Region and an underscore.
	UserPoolID string
	// ClientID is the app client id tokens must be issued to.
	ClientID string
	// TokenUse is "id" (CognitoIDToken) or "access" (CognitoAccessToken):
	// the kind of token your clients send.
	TokenUse string

	// GroupsClaim names the claim that becomes Identity.Groups. Default
	// "cognito:groups".
	GroupsClaim string
	// SubjectClaim names the claim that becomes Identity.Subject. Default
	// "sub" (the user's immutable id; "username" is also present in access
	// tokens and "cognito:username" in ID tokens).
	SubjectClaim string
	// Leeway is the clock-skew allowance (see JWTConfig.Leeway).
	Leeway time.Duration
	// CheckClaims, if set, is an extra check of the verified claims (see
	// JWTConfig.CheckClaims).
	CheckClaims func(claims map[string]any) error

	// JWKSURL replaces the pool's JWKS address. For tests and for proxies
	// or VPC endpoints that serve the pool's keys; the issuer check is not
	// affected.
	JWKSURL string
	// HTTPClient, HTTPTimeout, RefreshInterval, UnknownKIDRefreshInterval,
	// Context and Logger are as in JWTConfig.
	HTTPClient                *http.Client
	HTTPTimeout               time.Duration
	RefreshInterval           time.Duration
	UnknownKIDRefreshInterval time.Duration
	Context                   context.Context
	Logger                    *slog.Logger
	// Now is the clock, for tests (see JWTConfig.Now).
	Now func() time.Time
}

var (
	cognitoRegionRE   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	cognitoPoolIDRE   = regexp.MustCompile(`^([a-z]{2}(-[a-z]+)+-[0-9]+)_[0-9A-Za-z]+$`)
	cognitoClientIDRE = regexp.MustCompile(`^[0-9A-Za-z_+]{1,128}$`)

	errCognitoTokenUse = errors.New("token_use is not the configured one")
	errCognitoClientID = errors.New("client_id is not the configured app client")
)

// Cognito returns an Authenticator for Cognito user pool tokens. It never
// returns nil: when cfg is invalid it refuses every request and its
// Validate method returns the configuration errors (see JWT).
func Cognito(cfg CognitoConfig) Authenticator {
	a, err := NewCognito(cfg)
	if err != nil {
		return &JWTAuthenticator{cfgErr: err}
	}
	return a
}

// NewCognito returns an authenticator for Cognito user pool tokens, or the
// configuration errors (each a *ConfigError naming the CognitoConfig field).
// Like NewJWT, it fetches the pool's keys once before returning, bounded by
// HTTPTimeout; a failure is logged and retried when the first token
// arrives. Identities have Method "cognito".
func NewCognito(cfg CognitoConfig) (*JWTAuthenticator, error) {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &ConfigError{Field: "CognitoConfig." + field, Problem: problem})
	}
	switch {
	case cfg.Region == "":
		bad("Region", "required")
	case !cognitoRegionRE.MatchString(cfg.Region):
		bad("Region", "not an AWS region name such as us-west-2")
	}
	switch m := cognitoPoolIDRE.FindStringSubmatch(cfg.UserPoolID); {
	case cfg.UserPoolID == "":
		bad("UserPoolID", "required")
	case m == nil:
		bad("UserPoolID", "not a user pool id such as us-west-2_aBcDeFgHi")
	case cfg.Region != "" && m[1] != cfg.Region:
		bad("UserPoolID", fmt.Sprintf("does not start with the region %q and an underscore", cfg.Region))
	}
	switch {
	case cfg.ClientID == "":
		bad("ClientID", "required")
	case !cognitoClientIDRE.MatchString(cfg.ClientID):
		bad("ClientID", "not an app client id")
	}
	switch cfg.TokenUse {
	case CognitoIDToken, CognitoAccessToken:
	case "":
		bad("TokenUse", `required: "id" or "access"`)
	default:
		bad("TokenUse", `must be "id" or "access"`)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	issuer := "https://cognito-idp." + cfg.Region + ".amazonaws.com/" + cfg.UserPoolID
	globalIssuer := "https://issuer.cognito-idp." + cfg.Region + ".amazonaws.com/" + cfg.UserPoolID
	jwksURL := issuer + "/.well-known/jwks.json"
	if cfg.JWKSURL != "" {
		jwksURL = cfg.JWKSURL
	}
	groups := cfg.GroupsClaim
	if groups == "" {
		groups = "cognito:groups"
	}
	jc := JWTConfig{
		Issuer:                    issuer,
		Algorithms:                []string{"RS256"},
		JWKSURL:                   jwksURL,
		HTTPClient:                cfg.HTTPClient,
		HTTPTimeout:               cfg.HTTPTimeout,
		RefreshInterval:           cfg.RefreshInterval,
		UnknownKIDRefreshInterval: cfg.UnknownKIDRefreshInterval,
		Leeway:                    cfg.Leeway,
		SubjectClaim:              cfg.SubjectClaim,
		GroupsClaim:               groups,
		Context:                   cfg.Context,
		Logger:                    cfg.Logger,
		Now:                       cfg.Now,
	}
	tokenUse, clientID := cfg.TokenUse, cfg.ClientID
	var check func(map[string]any) error
	if tokenUse == CognitoIDToken {
		jc.Audience = []string{clientID}
		check = func(c map[string]any) error {
			if c["token_use"] != CognitoIDToken {
				return tokenErr(TokenBadTokenUse, errCognitoTokenUse)
			}
			return nil
		}
	} else {
		jc.SkipAudienceCheck = true
		check = func(c map[string]any) error {
			if c["token_use"] != CognitoAccessToken {
				return tokenErr(TokenBadTokenUse, errCognitoTokenUse)
			}
			if c["client_id"] != clientID {
				return tokenErr(TokenBadAudience, errCognitoClientID)
			}
			return nil
		}
	}
	jc.CheckClaims = check
	a, err := newJWT(jc, "CognitoConfig", MethodCognito, []string{globalIssuer})
	if err != nil {
		return nil, err
	}
	if cfg.CheckClaims != nil {
		a.checks = append(a.checks, cfg.CheckClaims)
	}
	return a, nil
}
