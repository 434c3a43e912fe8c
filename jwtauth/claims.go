package jwtauth

import (
	"errors"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
)

// identity checks the claims of a token whose signature, time claims and
// audience verified (issuer, subject, groups, the extra checks, exp) and
// turns them into the caller's identity.
func (a *Authenticator) identity(claims jwt.MapClaims) (tvm.Identity, error) {
	if len(a.issuers) > 0 {
		iss, ok := claims["iss"].(string)
		if !ok || !slices.Contains(a.issuers, iss) {
			return tvm.Identity{}, tokenErr(TokenBadIssuer, errIssuer)
		}
	}
	sub, ok := lookupClaim(claims, a.subjectClaim).(string)
	if !ok || sub == "" {
		return tvm.Identity{}, tokenErr(TokenBadClaims, errSubject)
	}
	groups, err := groupsOf(lookupClaim(claims, a.groupsClaim))
	if err != nil {
		return tvm.Identity{}, tokenErr(TokenBadClaims, err)
	}
	for _, check := range a.checks {
		if err := check(claims); err != nil {
			var te *TokenError
			if errors.As(err, &te) {
				return tvm.Identity{}, te
			}
			return tvm.Identity{}, tokenErr(TokenBadClaims, err)
		}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil || exp.Year() > 9999 {
		// The parser requires exp; an absurd one (which converts to a
		// platform-dependent time) is refused here.
		return tvm.Identity{}, tokenErr(TokenBadClaims, errExpMissing)
	}
	return tvm.Identity{
		Subject:   sub,
		Groups:    groups,
		Claims:    claims,
		ExpiresAt: exp.Time,
		Method:    a.method,
	}, nil
}

// lookupClaim returns the claim named path: the top-level claim of that
// exact name if there is one, else the value reached by following the
// dot-separated path through nested objects. Nil when absent.
func lookupClaim(claims map[string]any, path string) any {
	if v, ok := claims[path]; ok {
		return v
	}
	if !strings.Contains(path, ".") {
		return nil
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// groupsOf converts a groups claim value: a non-empty string, an array of
// non-empty strings, or nil (no groups).
func groupsOf(v any) ([]string, error) {
	switch g := v.(type) {
	case nil:
		return nil, nil
	case string:
		if g == "" {
			return nil, errGroups
		}
		return []string{g}, nil
	case []any:
		out := make([]string, 0, len(g))
		for _, e := range g {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, errGroups
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, errGroups
	}
}

// claimPathProblem says what is wrong with a SubjectClaim or GroupsClaim,
// or returns "".
func claimPathProblem(p string) string {
	if strings.TrimSpace(p) != p {
		return "has leading or trailing spaces"
	}
	for part := range strings.SplitSeq(p, ".") {
		if part == "" {
			return "has an empty path segment"
		}
	}
	return ""
}
