package jwtauth

import (
	"bufio"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
)

// ---------------------------------------------------------------------------
// The hostile-input table (../shared/DESIGN.md). Every row runs against
// every profile it applies to; every hostile row must be refused with
// tvm.ErrInvalidCredentials (and the listed code) or tvm.ErrNoCredentials, with a
// zero identity, an error that does not contain the token, and no request
// to the jku/x5u trap.

type jtRow struct {
	name  string
	kinds []string // nil: every profile
	// auth returns the Authorization header values (nil: no header).
	auth func(t *testing.T, p *jtProfile) []string
	want error          // nil: must be accepted
	code TokenErrorCode // for tvm.ErrInvalidCredentials rows
}

func jtBearer(tok string) []string { return []string{"Bearer " + tok} }

// jtRS signs p's valid claims, changed by mut, with the issuer's RSA key.
func jtRS(t *testing.T, p *jtProfile, mut func(c jwt.MapClaims), edit func(h map[string]any)) string {
	c := p.claims()
	if mut != nil {
		mut(c)
	}
	return jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, c, edit)
}

func jtClaimsRow(name string, want error, code TokenErrorCode, mut func(p *jtProfile, c jwt.MapClaims), kinds ...string) jtRow {
	return jtRow{name: name, kinds: kinds, want: want, code: code, auth: func(t *testing.T, p *jtProfile) []string {
		return jtBearer(jtRS(t, p, func(c jwt.MapClaims) { mut(p, c) }, nil))
	}}
}

func jtHeaderRow(name string, code TokenErrorCode, edit func(h map[string]any), kinds ...string) jtRow {
	return jtRow{name: name, kinds: kinds, want: tvm.ErrInvalidCredentials, code: code, auth: func(t *testing.T, p *jtProfile) []string {
		return jtBearer(jtRS(t, p, nil, edit))
	}}
}

func jtRows(trap *jtTrap) []jtRow {
	inv := tvm.ErrInvalidCredentials
	leeway := 30 * time.Second
	rows := []jtRow{
		// ---- accepted ----
		{name: "valid RS256", auth: func(t *testing.T, p *jtProfile) []string { return jtBearer(jtRS(t, p, nil, nil)) }},
		{name: "valid ES256", kinds: []string{"jwt"}, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ec1, jtECKID, p.claims(), nil))
		}},
		{name: "valid EdDSA", kinds: []string{"jwt"}, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodEdDSA, jtKeys(t).ed1, jtEdKID, p.claims(), nil))
		}},
		{name: "scheme is case-insensitive (RFC 7235)", auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"bEARER " + jtRS(t, p, nil, nil)}
		}},
		{name: "surrounding whitespace is not part of the value", auth: func(t *testing.T, p *jtProfile) []string {
			return []string{" \tBearer " + jtRS(t, p, nil, nil) + " "}
		}},
		{name: "jku, x5u, x5c and jwk headers are ignored", auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtRS(t, p, nil, func(h map[string]any) {
				h["jku"] = trap.srv.URL + "/jwks.json"
				h["x5u"] = trap.srv.URL + "/cert.pem"
				h["x5c"] = []any{"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"}
				h["jwk"] = map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB"}
			}))
		}},
		jtClaimsRow("exp just inside the leeway", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = jtNow.Add(-leeway + time.Second).Unix()
		}),
		jtClaimsRow("nbf just inside the leeway", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["nbf"] = jtNow.Add(leeway - time.Second).Unix()
		}),
		jtClaimsRow("iat just inside the leeway", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["iat"] = jtNow.Add(leeway - time.Second).Unix()
		}),
		jtClaimsRow("aud array holding an accepted audience", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["aud"] = []any{"someone-else", jtAudience}
		}, "jwt"),
		jtClaimsRow("groups as a single string", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = "Solo"
		}),
		jtClaimsRow("no groups claim", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			delete(c, p.groups)
		}),
		jtClaimsRow("no nbf, no iat", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			delete(c, "nbf")
			delete(c, "iat")
		}),
		jtClaimsRow("Cognito's newer global issuer form", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["iss"] = "https://issuer.cognito-idp." + jtRegion + ".amazonaws.com/" + jtPool
		}, "cognito-id", "cognito-access"),

		// ---- no credentials ----
		{name: "no Authorization header", want: tvm.ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return nil }},
		{name: "empty Authorization header", want: tvm.ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return []string{""} }},
		{name: "blank Authorization header", want: tvm.ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return []string{" \t "} }},
		{name: "Basic scheme", want: tvm.ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return []string{"Basic dXNlcjpwYXNz"} }},
		{name: "token without scheme", want: tvm.ErrNoCredentials, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{jtRS(t, p, nil, nil)}
		}},

		// ---- header syntax ----
		{name: "duplicate Authorization headers (both valid)", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return []string{"Bearer " + tok, "Bearer " + tok}
		}},
		{name: "duplicate Authorization headers (Basic first)", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Basic dXNlcjpwYXNz", "Bearer " + jtRS(t, p, nil, nil)}
		}},
		{name: "Bearer without token", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return []string{"Bearer"} }},
		{name: "Bearer and a space only", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return []string{"Bearer  "} }},
		{name: "two spaces after Bearer", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer  " + jtRS(t, p, nil, nil)}
		}},
		{name: "tab after Bearer", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer\t" + jtRS(t, p, nil, nil)}
		}},
		{name: "no space after Bearer", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer" + jtRS(t, p, nil, nil)}
		}},
		{name: "two tokens in one header", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return []string{"Bearer " + tok + ", Bearer " + tok}
		}},
		{name: "NUL byte in token", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer " + jtRS(t, p, nil, nil) + "\x00"}
		}},
		{name: "non-ASCII in token", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer é" + jtRS(t, p, nil, nil)}
		}},

		// ---- token shape ----
		{name: "one segment", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return jtBearer("abc") }},
		{name: "two segments", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(tok[:strings.LastIndex(tok, ".")])
		}},
		{name: "too many segments", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtRS(t, p, nil, nil) + ".e30")
		}},
		{name: "thousands of dots", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string {
			return jtBearer(strings.Repeat(".", 5000))
		}},
		{name: "three empty segments", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return jtBearer("..") }},
		{name: "a megabyte-long token", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(tok + strings.Repeat("A", 1<<20))
		}},
		{name: "one byte over the 8 KiB limit, otherwise well formed", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, func(c jwt.MapClaims) { c["pad"] = "" }, nil)
			const limit = 8 << 10 // the default documented on Config.MaxTokenBytes
			pad := limit - len(tok) + 1
			tok = jtRS(t, p, func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", pad*3/4+4) }, nil)
			require.Greater(t, len(tok), limit)
			return jtBearer(tok)
		}},
		{name: "malformed base64 in header (bad length)", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer("A" + tok[strings.Index(tok, "."):])
		}},
		{name: "base64 padding character", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtRS(t, p, nil, nil) + "=")
		}},
		{name: "non-canonical base64 (trailing bits) in signature", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			// A 256-byte RS256 signature is 342 base64url characters whose
			// last one carries 4 padding bits; set them.
			last := tok[len(tok)-1]
			idx := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
			alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			return jtBearer(tok[:len(tok)-1] + string(alphabet[idx|0x0f]))
		}},
		{name: "header is not JSON", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(jtB64([]byte("not json")) + tok[strings.Index(tok, "."):])
		}},
		{name: "header is a JSON array", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(jtB64([]byte(`["RS256"]`)) + tok[strings.Index(tok, "."):])
		}},
		{name: "payload is a JSON array", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			parts := strings.Split(jtRS(t, p, nil, nil), ".")
			return jtBearer(parts[0] + "." + jtB64([]byte(`[1,2]`)) + "." + parts[2])
		}},
		{name: "payload swapped (signature of another payload)", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			a := strings.Split(jtRS(t, p, nil, nil), ".")
			b := strings.Split(jtRS(t, p, func(c jwt.MapClaims) { c["sub"] = "admin" }, nil), ".")
			return jtBearer(a[0] + "." + b[1] + "." + a[2])
		}},
		{name: "signature removed", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(tok[:strings.LastIndex(tok, ".")+1])
		}},

		// ---- algorithm ----
		{name: "alg none", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": jtRSAKID}, p.claims()))
		}},
		{name: "alg NONE", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"alg": "NONE", "kid": jtRSAKID}, p.claims()))
		}},
		{name: "alg none signed with golang-jwt's unsafe none key", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jtRSAKID, p.claims(), nil))
		}},
		{name: "alg missing", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"kid": jtRSAKID}, p.claims()) + "c2ln")
		}},
		{name: "alg is a number", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"alg": 256, "kid": jtRSAKID}, p.claims()) + "c2ln")
		}},
		{name: "HS256 signed with the RSA public key PEM (algorithm confusion)", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodHS256, jtKeys(t).rsa1PublicPEM, jtRSAKID, p.claims(), nil))
		}},
		{name: "HS256 signed with the RSA public key DER", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodHS256, jtKeys(t).rsa1PublicDER, jtRSAKID, p.claims(), nil))
		}},
		{name: "RS512 (not in the allow-list)", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS512, jtKeys(t).rsa1, jtRSAKID, p.claims(), nil))
		}},
		{name: "PS256 with the issuer's RSA key (not in the allow-list)", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodPS256, jtKeys(t).rsa1, jtRSAKID, p.claims(), nil))
		}},
		{name: "ES256 token naming the RSA key", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ec1, jtRSAKID, p.claims(), nil))
		}},
		{name: "ES256 for Cognito (RS256 only)", kinds: []string{"cognito-id", "cognito-access"}, want: inv, code: TokenBadAlgorithm,
			auth: func(t *testing.T, p *jtProfile) []string {
				return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ec1, jtECKID, p.claims(), nil))
			}},
		jtHeaderRow("crit header", TokenMalformed, func(h map[string]any) { h["crit"] = []any{"exp"} }),
		jtHeaderRow("b64=false with crit (RFC 7797)", TokenMalformed, func(h map[string]any) {
			h["b64"] = false
			h["crit"] = []any{"b64"}
		}),

		// ---- key ----
		{name: "signed by an unknown key with a known kid", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, jtRSAKID, p.claims(), nil))
		}},
		{name: "ES256 signed by an unknown key with a known kid", kinds: []string{"jwt"}, want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ecAttacker, jtECKID, p.claims(), nil))
		}},
		{name: "unknown kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, "attacker", p.claims(), nil))
		}},
		{name: "missing kid (signed by the issuer's key)", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, nil, p.claims(), nil))
		}},
		jtHeaderRow("empty kid", TokenUnknownKey, func(h map[string]any) { h["kid"] = "" }),
		jtHeaderRow("kid is a number", TokenUnknownKey, func(h map[string]any) { h["kid"] = 1 }),
		jtHeaderRow("kid is null", TokenUnknownKey, func(h map[string]any) { h["kid"] = nil }),
		jtHeaderRow("kid is an object", TokenUnknownKey, func(h map[string]any) { h["kid"] = map[string]any{"kid": jtRSAKID} }),
		jtHeaderRow("kid is an array", TokenUnknownKey, func(h map[string]any) { h["kid"] = []any{jtRSAKID} }),
		{name: "attacker key in jwk header and a fresh kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			ks := jtKeys(t)
			n := jtB64(ks.rsaAttacker.N.Bytes())
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, ks.rsaAttacker, "attacker-jwk", p.claims(), func(h map[string]any) {
				h["jwk"] = map[string]any{"kty": "RSA", "kid": "attacker-jwk", "n": n, "e": "AQAB"}
			}))
		}},
		{name: "attacker key in jwk header with the issuer's kid", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			ks := jtKeys(t)
			n := jtB64(ks.rsaAttacker.N.Bytes())
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, ks.rsaAttacker, jtRSAKID, p.claims(), func(h map[string]any) {
				h["jwk"] = map[string]any{"kty": "RSA", "kid": jtRSAKID, "n": n, "e": "AQAB"}
			}))
		}},
		{name: "attacker jku and a fresh kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, "attacker-jku", p.claims(), func(h map[string]any) {
				h["jku"] = trap.srv.URL + "/jwks.json"
			}))
		}},
		{name: "attacker x5u and a fresh kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, "attacker-x5u", p.claims(), func(h map[string]any) {
				h["x5u"] = trap.srv.URL + "/cert.pem"
			}))
		}},
		{name: "a 5000-byte kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, strings.Repeat("k", 5000), p.claims(), nil))
		}},

		// ---- time ----
		jtClaimsRow("expired", inv, TokenExpired, func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = jtNow.Add(-time.Hour).Unix()
		}),
		jtClaimsRow("exp just outside the leeway", inv, TokenExpired, func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = jtNow.Add(-leeway - time.Second).Unix()
		}),
		jtClaimsRow("exp missing", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { delete(c, "exp") }),
		jtClaimsRow("exp zero", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["exp"] = 0 }),
		jtClaimsRow("exp negative", inv, TokenExpired, func(p *jtProfile, c jwt.MapClaims) { c["exp"] = -1 }),
		jtClaimsRow("exp is a string", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = fmt.Sprint(jtNow.Add(time.Hour).Unix())
		}),
		jtClaimsRow("exp is an object", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["exp"] = map[string]any{} }),
		// 1e300 converts to a platform-dependent time: expired on amd64,
		// refused as absurd elsewhere.
		jtClaimsRow("exp is 1e300", inv, "", func(p *jtProfile, c jwt.MapClaims) { c["exp"] = 1e300 }),
		jtClaimsRow("nbf in the future", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["nbf"] = jtNow.Add(time.Hour).Unix()
		}),
		jtClaimsRow("nbf just outside the leeway", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["nbf"] = jtNow.Add(leeway + time.Second).Unix()
		}),
		jtClaimsRow("nbf is a string", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["nbf"] = "yesterday" }),
		jtClaimsRow("iat in the future", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["iat"] = jtNow.Add(time.Hour).Unix()
		}),
		jtClaimsRow("iat just outside the leeway", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["iat"] = jtNow.Add(leeway + time.Second).Unix()
		}),
		jtClaimsRow("iat is a boolean", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["iat"] = true }),

		// ---- issuer, audience, token use ----
		jtClaimsRow("wrong iss", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) { c["iss"] = "https://evil.test/" }),
		jtClaimsRow("iss with a trailing slash difference", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) {
			c["iss"] = strings.TrimSuffix(c["iss"].(string), "/") + "/x"
		}),
		jtClaimsRow("iss missing", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) { delete(c, "iss") }),
		jtClaimsRow("iss is a number", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) { c["iss"] = 42 }),
		jtClaimsRow("iss of another Cognito pool", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) {
			c["iss"] = "https://cognito-idp." + jtRegion + ".amazonaws.com/us-west-2_OtherPool"
		}, "cognito-id", "cognito-access"),
		jtClaimsRow("wrong aud", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = "someone-else" }, "jwt", "cognito-id"),
		jtClaimsRow("aud missing", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { delete(c, "aud") }, "jwt", "cognito-id"),
		jtClaimsRow("aud empty string", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = "" }, "jwt", "cognito-id"),
		jtClaimsRow("aud empty array", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = []any{} }, "jwt", "cognito-id"),
		jtClaimsRow("aud is a number", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = 7 }, "jwt", "cognito-id"),
		jtClaimsRow("aud array with a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = []any{jtAudience, 7} }, "jwt", "cognito-id"),
		jtClaimsRow("id token: client id only in client_id", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) {
			delete(c, "aud")
			c["client_id"] = jtClientID
		}, "cognito-id"),
		jtClaimsRow("access token: client_id missing", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { delete(c, "client_id") }, "cognito-access"),
		jtClaimsRow("access token: wrong client_id", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["client_id"] = "someoneelse" }, "cognito-access"),
		jtClaimsRow("access token: client id only in aud", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) {
			delete(c, "client_id")
			c["aud"] = jtClientID
		}, "cognito-access"),
		jtClaimsRow("access token: client_id is an array", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) {
			c["client_id"] = []any{jtClientID}
		}, "cognito-access"),
		jtClaimsRow("wrong token_use", inv, TokenBadTokenUse, func(p *jtProfile, c jwt.MapClaims) {
			if c["token_use"] == CognitoIDToken {
				c["token_use"] = CognitoAccessToken
			} else {
				c["token_use"] = CognitoIDToken
			}
		}, "cognito-id", "cognito-access"),
		jtClaimsRow("token_use missing", inv, TokenBadTokenUse, func(p *jtProfile, c jwt.MapClaims) { delete(c, "token_use") }, "cognito-id", "cognito-access"),
		jtClaimsRow("token_use is an array", inv, TokenBadTokenUse, func(p *jtProfile, c jwt.MapClaims) {
			c["token_use"] = []any{c["token_use"]}
		}, "cognito-id", "cognito-access"),
		{name: "an id token sent to the access-token authenticator", kinds: []string{"cognito-access"}, want: inv, code: TokenBadTokenUse,
			auth: func(t *testing.T, p *jtProfile) []string {
				c := jtCognitoClaims(CognitoIDToken)
				c["client_id"] = jtClientID
				return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, c, nil))
			}},
		{name: "an access token sent to the id-token authenticator", kinds: []string{"cognito-id"}, want: inv, code: TokenBadAudience,
			auth: func(t *testing.T, p *jtProfile) []string {
				return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, jtCognitoClaims(CognitoAccessToken), nil))
			}},

		// ---- subject and groups ----
		jtClaimsRow("sub missing", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { delete(c, "sub") }),
		jtClaimsRow("sub empty", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = "" }),
		jtClaimsRow("sub is a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = 12345 }),
		jtClaimsRow("sub is null", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = nil }),
		jtClaimsRow("sub is an array", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = []any{"user-1"} }),
		jtClaimsRow("groups is an object", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = map[string]any{"ReadWrite": true}
		}),
		jtClaimsRow("groups is a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c[p.groups] = 1 }),
		jtClaimsRow("groups array holding a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = []any{"ReadWrite", 1}
		}),
		jtClaimsRow("groups array holding an object", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = []any{map[string]any{"name": "ReadWrite"}}
		}),
		jtClaimsRow("groups is an empty string", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c[p.groups] = "" }),
	}
	return rows
}

func jtApplies(r jtRow, kind string) bool {
	if len(r.kinds) == 0 {
		return true
	}
	for _, k := range r.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Authenticator is what tvm's handler needs of an authenticator: it
// authenticates, chooses the 401 challenge, and is closed on shutdown.
var _ interface {
	Authenticate(r *http.Request) (tvm.Identity, error)
	Challenge() string
	io.Closer
} = (*Authenticator)(nil)

func TestAuthenticateHostileTable(t *testing.T) {
	jtNoLeak(t)
	trap := jtNewTrap(t)
	profiles := jtProfiles(t)
	rows := jtRows(trap)
	accepted, refused := 0, 0
	for _, p := range profiles {
		for _, row := range rows {
			if !jtApplies(row, p.kind) {
				continue
			}
			t.Run(p.name+"/"+row.name, func(t *testing.T) {
				auth := row.auth(t, p)
				r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
				for _, v := range auth {
					r.Header.Add("Authorization", v)
				}
				id, err := p.auth.Authenticate(r)
				if row.want == nil {
					accepted++
					require.NoError(t, err)
					assert.Equal(t, p.method, id.Method)
					assert.Equal(t, p.claims()["sub"], id.Subject)
					assert.Equal(t, p.claims()["sub"], id.Claims["sub"])
					assert.False(t, id.ExpiresAt.IsZero())
					return
				}
				refused++
				require.Error(t, err)
				assert.Equal(t, tvm.Identity{}, id, "a refused request yields no identity")
				assert.ErrorIs(t, err, row.want)
				if row.want == tvm.ErrInvalidCredentials {
					assert.NotErrorIs(t, err, tvm.ErrNoCredentials)
					var te *TokenError
					require.ErrorAs(t, err, &te)
					if row.code != "" {
						assert.Equal(t, row.code, te.Code, "code (cause: %v)", te.Err)
					}
				} else {
					assert.NotErrorIs(t, err, tvm.ErrInvalidCredentials)
				}
				jtAssertNoTokenInError(t, err, auth)
			})
		}
	}
	assert.Zero(t, trap.hits.Load(), "the jku/x5u trap was contacted")
	assert.Positive(t, accepted)
	assert.Positive(t, refused)
}

func TestIdentity(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustNew(t, cfg)
	claims := jtBaseClaims()
	claims["email"] = "alice@example.com"
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil)

	id, err := a.VerifyToken(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "user-1", id.Subject)
	assert.Equal(t, []string{"ReadWrite", "Staff"}, id.Groups)
	assert.Equal(t, "jwt", id.Method)
	assert.Equal(t, time.Unix(jtNow.Add(10*time.Minute).Unix(), 0).UTC(), id.ExpiresAt.UTC())
	assert.Equal(t, "alice@example.com", id.Claims["email"])
	assert.Equal(t, jtIssuer, id.Claims["iss"])

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	id2, err := a.Authenticate(r)
	require.NoError(t, err)
	assert.Equal(t, id, id2)

	_, err = a.VerifyToken(context.Background(), "")
	assert.ErrorIs(t, err, tvm.ErrNoCredentials)
	_, err = a.VerifyToken(context.Background(), "a.b")
	assert.ErrorIs(t, err, tvm.ErrInvalidCredentials)
	assert.Equal(t, "Bearer", a.Challenge())
}

// TestAllowMissingAudience checks the named escape hatch: tokens without
// aud pass only with it, and then only with their required claim; a token
// that has an aud must still name an accepted one.
func TestAllowMissingAudience(t *testing.T) {
	ks := jtKeys(t)
	sign := func(mut func(c jwt.MapClaims)) string {
		c := jtBaseClaims()
		delete(c, "aud")
		c["azp"] = "https://app.example.com"
		mut(c)
		return jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil)
	}
	strict := jtConfig()
	strict.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	assert.Equal(t, TokenBadAudience, jtVerifyCode(t, jtMustNew(t, strict), sign(func(jwt.MapClaims) {})), "no aud without the option")

	for _, audience := range [][]string{nil, {jtAudience}} {
		cfg := jtConfig()
		cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
		cfg.Issuers[0].Audience = audience
		cfg.Issuers[0].AllowMissingAudience = true
		cfg.Issuers[0].RequiredClaims = map[string][]string{"azp": {"https://app.example.com", "https://admin.example.com"}}
		a := jtMustNew(t, cfg)
		name := fmt.Sprintf("audience %v", audience)
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, sign(func(jwt.MapClaims) {})), name)
		assert.Equal(t, TokenBadClaims, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { c["azp"] = "https://evil.example.com" })), name)
		assert.Equal(t, TokenBadClaims, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { delete(c, "azp") })), name)
		assert.Equal(t, TokenBadClaims, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { c["azp"] = 7 })), name)
		assert.Equal(t, TokenBadAudience, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), name)
		assert.Equal(t, TokenBadAudience, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { c["aud"] = []any{} })), name)
		want := TokenBadAudience
		if audience != nil {
			want = ""
		}
		assert.Equal(t, want, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { c["aud"] = jtAudience })), name)
		// Skipping the audience skips nothing else.
		assert.Equal(t, TokenBadClaims, jtVerifyCode(t, a, sign(func(c jwt.MapClaims) { delete(c, "exp") })), name)
	}
}

func TestLeewayDefault(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Leeway = 0 // the default documented on Config.Leeway: 30s
	const leeway = 30 * time.Second
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustNew(t, cfg)
	for _, tt := range []struct {
		exp  time.Duration
		want error
	}{
		{-leeway + time.Second, nil},
		{-leeway - time.Second, tvm.ErrInvalidCredentials},
	} {
		c := jtBaseClaims()
		c["exp"] = jtNow.Add(tt.exp).Unix()
		_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
		if tt.want == nil {
			assert.NoError(t, err, "exp %s", tt.exp)
		} else {
			assert.ErrorIs(t, err, tt.want, "exp %s", tt.exp)
		}
	}
}

func TestMaxTokenBytes(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	c := jtBaseClaims()
	c["pad"] = strings.Repeat("x", 9000)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil)

	_, err := jtMustNew(t, cfg).VerifyToken(context.Background(), tok)
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenMalformed, te.Code)
	assert.ErrorIs(t, err, errTooLong)

	cfg.MaxTokenBytes = 16 << 10
	_, err = jtMustNew(t, cfg).VerifyToken(context.Background(), tok)
	assert.NoError(t, err)
}

func TestTokenErrorMessage(t *testing.T) {
	e := &TokenError{Code: TokenExpired, Err: jwt.ErrTokenExpired}
	assert.Equal(t, "tvm: invalid credentials: jwt expired", e.Error())
	assert.ErrorIs(t, e, tvm.ErrInvalidCredentials)
	assert.ErrorIs(t, e, jwt.ErrTokenExpired)
	assert.ErrorIs(t, &TokenError{Code: TokenMalformed}, tvm.ErrInvalidCredentials)
}

// BenchmarkAuthenticate is the cost of verifying a token (the cache of
// verified tokens is off; BenchmarkAuthenticateCached measures a hit).
func BenchmarkAuthenticate(b *testing.B) {
	ks := jtKeys(b)
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, ks.rsa1, jtRSAKID},
		{"ES256", jwt.SigningMethodES256, ks.ec1, jtECKID},
		{"EdDSA", jwt.SigningMethodEdDSA, ks.ed1, jtEdKID},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := jtConfig()
			cfg.DisableCache = true
			cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey, jtECKID: &ks.ec1.PublicKey, jtEdKID: ks.ed1.Public()}
			a, err := New(cfg)
			require.NoError(b, err)
			defer a.Close()
			r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
			r.Header.Set("Authorization", "Bearer "+jtSign(b, bc.method, bc.key, bc.kid, jtBaseClaims(), nil))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("RS256/JWKS", func(b *testing.B) {
		cfg := jtConfig()
		cfg.DisableCache = true
		cfg.Issuers[0].JWKSJSON = jtDefaultJWKS(b)
		a, err := New(cfg)
		require.NoError(b, err)
		defer a.Close()
		r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
		r.Header.Set("Authorization", "Bearer "+jtSign(b, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := a.Authenticate(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestOverTheWire sends raw HTTP/1.1 requests, so that header parsing is
// net/http's: duplicate and lower-case Authorization headers, whitespace.
func TestOverTheWire(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustNew(t, cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Authenticate(r)
		var te *TokenError
		switch {
		case err == nil:
			fmt.Fprintf(w, "ok %s", id.Subject)
		case errors.As(err, &te):
			fmt.Fprintf(w, "invalid %s", te.Code)
		case errors.Is(err, tvm.ErrNoCredentials):
			fmt.Fprint(w, "none")
		default:
			fmt.Fprint(w, "other")
		}
	}))
	t.Cleanup(srv.Close)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
	for _, tt := range []struct {
		name    string
		headers string
		want    string
	}{
		{"canonical", "Authorization: Bearer " + tok + "\r\n", "ok user-1"},
		{"lower-case name, extra whitespace", "authorization:   Bearer " + tok + "  \r\n", "ok user-1"},
		{"duplicate headers", "Authorization: Bearer " + tok + "\r\nauthorization: Bearer " + tok + "\r\n", "invalid malformed"},
		{"no header", "", "none"},
		{"empty header", "Authorization:\r\n", "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			_, err = fmt.Fprintf(conn, "GET /api/momento/token HTTP/1.1\r\nHost: tvm.test\r\nConnection: close\r\n%s\r\n", tt.headers)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(body))
		})
	}
}

// TestZeroValueRefuses checks the documented zero value: an Authenticator
// not made by New or NewCognito refuses every token, even a valid one.
func TestZeroValueRefuses(t *testing.T) {
	ks := jtKeys(t)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
	var a Authenticator
	id, err := a.VerifyToken(context.Background(), tok)
	assert.ErrorIs(t, err, tvm.ErrInvalidCredentials)
	assert.Equal(t, tvm.Identity{}, id)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	id, err = a.Authenticate(r)
	assert.ErrorIs(t, err, tvm.ErrInvalidCredentials)
	assert.Equal(t, tvm.Identity{}, id)
	assert.NoError(t, a.Close())
}
