package jwtauth

import (
	"fmt"
	"slices"
	"strings"
)

// The presets (Issuer.Cognito, Issuer.Entra): the issuer, algorithms and
// key set they derive, and their own checks.

// checkCognito checks the Cognito preset and derives the issuer from it.
func checkCognito(is *Issuer, pl *plan, p problems) {
	c := is.Cognito
	cp := p.sub("Cognito")
	if pl.name == "" {
		pl.name = "cognito"
	}
	switch {
	case c.Region == "":
		cp.add("Region", "required")
	case !cognitoReg.MatchString(c.Region):
		cp.add("Region", "not an AWS region name such as us-west-2")
	}
	switch m := cognitoPool.FindStringSubmatch(c.UserPoolID); {
	case c.UserPoolID == "":
		cp.add("UserPoolID", "required")
	case m == nil:
		cp.add("UserPoolID", "not a user pool id such as us-west-2_aBcDeFgHi")
	case c.Region != "" && m[1] != c.Region:
		cp.add("UserPoolID", fmt.Sprintf("does not start with the region %q and an underscore", c.Region))
	}
	switch {
	case c.ClientID == "":
		cp.add("ClientID", "required")
	case !cognitoApp.MatchString(c.ClientID):
		cp.add("ClientID", "not an app client id")
	}
	switch c.TokenUse {
	case CognitoIDToken, CognitoAccessToken:
	case "":
		cp.add("TokenUse", `required: "id" or "access"`)
	default:
		cp.add("TokenUse", `must be "id" or "access"`)
	}
	presetOwns(is, p, "Cognito", true)

	issuer := "https://cognito-idp." + c.Region + ".amazonaws.com/" + c.UserPoolID
	pl.accepted = []string{issuer, "https://issuer.cognito-idp." + c.Region + ".amazonaws.com/" + c.UserPoolID}
	pl.algs = []string{"RS256"}
	if pl.source != srcURL {
		pl.source, pl.jwksURL = srcURL, issuer+"/.well-known/jwks.json"
	}
	// ID tokens name the client in aud; access tokens have no aud (one
	// that has one is refused by the audience check) and name it in
	// client_id.
	use, client := c.TokenUse, c.ClientID
	if use == CognitoIDToken {
		pl.audience = []string{client}
	} else {
		pl.allowNoAud = true
	}
	pl.preset = func(claims map[string]any) error {
		if claims["token_use"] != use {
			return tokenErr(TokenBadTokenUse, errCognitoTokenUse)
		}
		if use == CognitoAccessToken && claims["client_id"] != client {
			return tokenErr(TokenBadAudience, errCognitoClientID)
		}
		return nil
	}
}

// checkEntra checks the Entra preset and derives the issuers from it.
func checkEntra(is *Issuer, pl *plan, p problems) {
	if pl.name == "" {
		pl.name = "entra"
	}
	ep := p.sub("Entra")
	if len(is.Entra.TenantIDs) == 0 {
		ep.add("TenantIDs", "required: list the tenants whose users may sign in")
	}
	pl.tenants = map[string]string{}
	for k, tid := range is.Entra.TenantIDs {
		field := fmt.Sprintf("TenantIDs[%d]", k)
		switch {
		case slices.Contains([]string{"common", "organizations", "consumers"}, strings.ToLower(tid)):
			ep.add(field, fmt.Sprintf("%q is not a tenant: tokens carry their own tenant's issuer; list the tenant ids you accept", tid))
		case !tenantIDRE.MatchString(tid):
			ep.add(field, "not a tenant id (a lower-case GUID)")
		default:
			iss := "https://login.microsoftonline.com/" + tid + "/v2.0"
			if _, dup := pl.tenants[iss]; dup {
				ep.add(field, "listed twice")
			}
			pl.tenants[iss] = tid
			pl.accepted = append(pl.accepted, iss)
		}
	}
	presetOwns(is, p, "Entra", false)
	checkAudience(is, pl, p)
	pl.algs = []string{"RS256"}
	if pl.source != srcURL {
		pl.source, pl.jwksURL = srcURL, "https://login.microsoftonline.com/common/discovery/v2.0/keys"
	}
}

// presetOwns reports the Issuer fields a preset derives that are set
// anyway, and key sources other than JWKSURL.
func presetOwns(is *Issuer, p problems, preset string, audience bool) {
	own := func(field string, set bool) {
		if set {
			p.add(field, "derived from "+preset+": leave it empty")
		}
	}
	own("Issuer", is.Issuer != "")
	own("IssuerAliases", is.IssuerAliases != nil)
	own("Algorithms", is.Algorithms != nil)
	if audience {
		own("Audience", is.Audience != nil)
		own("AllowMissingAudience", is.AllowMissingAudience)
	}
	for field, set := range map[string]bool{"JWKSFile": is.JWKSFile != "", "JWKSJSON": is.JWKSJSON != nil, "Keys": is.Keys != nil, "HMAC": is.HMAC != nil} {
		if set {
			p.add(field, "not with "+preset+": only JWKSURL may replace its key set")
		}
	}
}
