package jwtauth

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
)

// claimPath is a parsed claim path: the names to follow from the claims
// object through nested objects.
type claimPath []string

// identChar reports whether c may appear in an unbracketed path name.
func identChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-:$", c) >= 0
}

// parseClaimPath parses a claim path: a name, then `.name` or
// `["any name"]` steps, where an unbracketed name is letters, digits, '_',
// '-', ':' and '$', and a bracketed one is a JSON string. So
// `resource_access["my.client"].roles` is three names, and
// `["https://example.com/roles"]` one; every path has one meaning. It
// returns the problem instead when p is not a path.
func parseClaimPath(p string) (claimPath, string) {
	if p == "" {
		return nil, "empty"
	}
	var out claimPath
	for i := 0; i < len(p); {
		switch {
		case p[i] == '[':
			end, name, ok := quoted(p, i+1)
			if !ok || end >= len(p) || p[end] != ']' {
				return nil, `a bracketed name must be a JSON string closed by ']', e.g. ["my.client"]`
			}
			if name == "" {
				return nil, "has an empty name"
			}
			out = append(out, name)
			i = end + 1
		case len(out) > 0 && p[i] != '.':
			return nil, needBrackets
		default:
			if len(out) > 0 {
				i++ // the '.'
				if i < len(p) && p[i] == '[' {
					return nil, `write a["b"], not a.["b"]`
				}
			}
			j := i
			for j < len(p) && identChar(p[j]) {
				j++
			}
			if j == i {
				return nil, needBrackets
			}
			out = append(out, p[i:j])
			i = j
		}
	}
	return out, ""
}

// needBrackets is the problem of a path with an empty name or a character
// that must be bracketed.
const needBrackets = `has an empty name, or a name that must be bracketed: write ["https://example.com/roles"] for a claim whose name holds '.', '/' or spaces, and a["b.c"] to step into one`

// quoted reads the JSON string starting at p[i] (a '"'), returning the
// index after it and its value.
func quoted(p string, i int) (end int, value string, ok bool) {
	if i >= len(p) || p[i] != '"' {
		return 0, "", false
	}
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case '"':
			if err := json.Unmarshal([]byte(p[i:j+1]), &value); err != nil {
				return 0, "", false
			}
			return j + 1, value, true
		}
	}
	return 0, "", false
}

// String writes the path in its canonical form, for messages.
func (cp claimPath) String() string {
	var b strings.Builder
	for i, n := range cp {
		plain := n != "" && !strings.ContainsFunc(n, func(r rune) bool { return r > 0x7f || !identChar(byte(r)) })
		switch {
		case plain && i == 0:
			b.WriteString(n)
		case plain:
			b.WriteString("." + n)
		default:
			q, _ := json.Marshal(n)
			b.WriteString("[" + string(q) + "]")
		}
	}
	return b.String()
}

// lookup returns the value at the path, and whether it is there.
func (cp claimPath) lookup(claims map[string]any) (any, bool) {
	var cur any = claims
	for _, name := range cp {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[name]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// requiredClaim is one entry of Issuer.RequiredClaims.
type requiredClaim struct {
	path   claimPath
	name   string // as configured
	values []string
}

// satisfied reports whether the claims hold one of the accepted values at
// the path: a string, or an array holding one.
func (rc requiredClaim) satisfied(claims map[string]any) bool {
	v, _ := rc.path.lookup(claims)
	switch v := v.(type) {
	case string:
		return slices.Contains(rc.values, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && slices.Contains(rc.values, s) {
				return true
			}
		}
	}
	return false
}

// identity checks the claims of a token whose signature, time claims and
// audience verified (issuer, subject, groups, required claims, the extra
// checks, exp) and turns them into the caller's identity.
func (is *issuer) identity(claims jwt.MapClaims) (tvm.Identity, error) {
	iss, _ := claims["iss"].(string)
	if !slices.Contains(is.accepted, iss) {
		return tvm.Identity{}, tokenErr(TokenBadIssuer, errIssuer)
	}
	if tid, ok := is.tenants[iss]; ok && claims["tid"] != tid {
		return tvm.Identity{}, tokenErr(TokenBadIssuer, errTenant)
	}
	if is.preset != nil {
		if err := is.preset(claims); err != nil {
			return tvm.Identity{}, err
		}
	}
	if err := is.checkAudience(claims); err != nil {
		return tvm.Identity{}, err
	}
	subject, _ := is.subject.lookup(claims)
	sub, ok := subject.(string)
	if !ok || sub == "" {
		return tvm.Identity{}, tokenErr(TokenBadClaims, errSubject)
	}
	var groups []string
	for _, gp := range is.groups {
		v, present := gp.lookup(claims)
		if !present && len(gp) == 1 && distributed(claims, gp[0]) {
			return tvm.Identity{}, tokenErr(TokenGroupsOverage, errOverage)
		}
		g, err := groupsOf(v)
		if err != nil {
			return tvm.Identity{}, tokenErr(TokenBadClaims, err)
		}
		for _, name := range g {
			if !slices.Contains(groups, name) {
				groups = append(groups, name)
			}
		}
	}
	for _, rc := range is.required {
		if !rc.satisfied(claims) {
			return tvm.Identity{}, tokenErr(TokenBadClaims, &requiredClaimError{rc.name})
		}
	}
	for _, check := range is.checks {
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
		ExpiresAt: exp.Add(is.outlive),
		Method:    is.name,
	}, nil
}

// checkAudience checks `aud` for issuers with AllowMissingAudience (the
// parser checks it for the others): absent is accepted, present must name
// one of the issuer's audiences.
func (is *issuer) checkAudience(claims jwt.MapClaims) error {
	if !is.allowNoAud {
		return nil
	}
	if _, present := claims["aud"]; !present {
		return nil
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return tokenErr(TokenBadClaims, err)
	}
	for _, a := range aud {
		if slices.Contains(is.audience, a) {
			return nil
		}
	}
	return tokenErr(TokenBadAudience, errAudience)
}

// distributed reports whether claims name claim as an aggregated or
// distributed claim (OpenID Connect Core 5.6.2: `_claim_names`), as Entra
// ID does with `groups` for users in too many groups.
func distributed(claims map[string]any, claim string) bool {
	names, ok := claims["_claim_names"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = names[claim]
	return ok
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

// requiredClaimError names the required claim a token lacked; its text
// never holds the token's value.
type requiredClaimError struct{ claim string }

func (e *requiredClaimError) Error() string {
	return "required claim " + e.claim + " is missing or not an accepted value"
}
