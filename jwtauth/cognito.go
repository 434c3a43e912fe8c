package jwtauth

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
// Cognito user pool (see NewCognito). It fails closed: Region, UserPoolID,
// ClientID and TokenUse are all required, and every problem is reported as
// a *tvm.ConfigError whose Field starts with "CognitoConfig.".
//
// The issuer is https://cognito-idp.{Region}.amazonaws.com/{UserPoolID}
// (tokens carrying the newer https://issuer.cognito-idp.{Region}.amazonaws.com/{UserPoolID}
// form are accepted too), the keys come from {issuer}/.well-known/jwks.json,
// the algorithm is RS256, and `token_use` must equal TokenUse. For ID
// tokens ClientID must be in `aud`; for access tokens it must be the
// `client_id` claim. Groups come from `cognito:groups`. Everything else is
// as for Config.
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
	// "cognito:groups". Dotted paths work as for Config.GroupsClaim.
	GroupsClaim string
	// SubjectClaim names the claim that becomes Identity.Subject. Default
	// "sub" (the user's immutable id; "username" is also present in access
	// tokens and "cognito:username" in ID tokens).
	SubjectClaim string
	// Leeway is the clock-skew allowance for `exp`, `nbf` and `iat`. Zero
	// means 30s; at most 5m (as Config.Leeway).
	Leeway time.Duration
	// CheckClaims, if set, is an extra check of the verified claims, run
	// after the built-in `token_use` and client id checks (as
	// Config.CheckClaims).
	CheckClaims func(claims map[string]any) error

	// JWKSURL replaces the pool's JWKS address. For tests and for proxies
	// or VPC endpoints that serve the pool's keys; the issuer check is not
	// affected. It must be https, except on a loopback host.
	JWKSURL string
	// HTTPClient fetches the keys; nil means a client of our own (as
	// Config.HTTPClient).
	HTTPClient *http.Client
	// HTTPTimeout bounds every JWKS fetch. Zero means 10s; at most 1m.
	HTTPTimeout time.Duration
	// RefreshInterval is the background refresh period of the keys. Zero
	// means 1h; at least 1s.
	RefreshInterval time.Duration
	// UnknownKIDRefreshInterval is the least time between two refreshes
	// triggered by unknown key ids. Zero means 10s; at least 1s.
	UnknownKIDRefreshInterval time.Duration
	// Context bounds the first fetch and the background refresh (as
	// Config.Context). Nil means context.Background().
	Context context.Context
	// Logger receives JWKS refresh failures. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now. For tests.
	Now func() time.Time
}

var (
	cognitoRegionRE   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	cognitoPoolIDRE   = regexp.MustCompile(`^([a-z]{2}(-[a-z]+)+-[0-9]+)_[0-9A-Za-z]+$`)
	cognitoClientIDRE = regexp.MustCompile(`^[0-9A-Za-z_+]{1,128}$`)

	errCognitoTokenUse = errors.New("token_use is not the configured one")
	errCognitoClientID = errors.New("client_id is not the configured app client")
)

// NewCognito returns an authenticator for Cognito user pool tokens whose
// identities have Method "cognito", or the configuration errors (one
// *tvm.ConfigError per problem, naming the CognitoConfig field, joined with
// errors.Join, all wrapping tvm.ErrInvalidConfig). Like New, it fetches the
// pool's keys once before returning, bounded by HTTPTimeout; a failure is
// logged and retried when the first token arrives.
func NewCognito(cfg CognitoConfig) (*Authenticator, error) {
	p := problems{prefix: "CognitoConfig"}
	switch {
	case cfg.Region == "":
		p.add("Region", "required")
	case !cognitoRegionRE.MatchString(cfg.Region):
		p.add("Region", "not an AWS region name such as us-west-2")
	}
	switch m := cognitoPoolIDRE.FindStringSubmatch(cfg.UserPoolID); {
	case cfg.UserPoolID == "":
		p.add("UserPoolID", "required")
	case m == nil:
		p.add("UserPoolID", "not a user pool id such as us-west-2_aBcDeFgHi")
	case cfg.Region != "" && m[1] != cfg.Region:
		p.add("UserPoolID", fmt.Sprintf("does not start with the region %q and an underscore", cfg.Region))
	}
	switch {
	case cfg.ClientID == "":
		p.add("ClientID", "required")
	case !cognitoClientIDRE.MatchString(cfg.ClientID):
		p.add("ClientID", "not an app client id")
	}
	switch cfg.TokenUse {
	case CognitoIDToken, CognitoAccessToken:
	case "":
		p.add("TokenUse", `required: "id" or "access"`)
	default:
		p.add("TokenUse", `must be "id" or "access"`)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
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
	jc := Config{
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
	if tokenUse == CognitoIDToken {
		jc.Audience = []string{clientID}
		jc.CheckClaims = func(c map[string]any) error {
			if c["token_use"] != CognitoIDToken {
				return tokenErr(TokenBadTokenUse, errCognitoTokenUse)
			}
			return nil
		}
	} else {
		jc.SkipAudienceCheck = true
		jc.CheckClaims = func(c map[string]any) error {
			if c["token_use"] != CognitoAccessToken {
				return tokenErr(TokenBadTokenUse, errCognitoTokenUse)
			}
			if c["client_id"] != clientID {
				return tokenErr(TokenBadAudience, errCognitoClientID)
			}
			return nil
		}
	}
	a, err := newAuthenticator(jc, "CognitoConfig", methodCognito, []string{globalIssuer})
	if err != nil {
		return nil, err
	}
	if cfg.CheckClaims != nil {
		a.checks = append(a.checks, cfg.CheckClaims)
	}
	return a, nil
}
