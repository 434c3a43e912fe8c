package jwtauth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
)

// TokenErrorCode classifies why a bearer token was refused.
type TokenErrorCode string

// Codes of TokenError. They are stable and safe to show to clients.
const (
	// TokenMalformed: not a compact JWS (segments, base64, JSON, size,
	// duplicate Authorization headers, a `crit` header).
	TokenMalformed TokenErrorCode = "malformed"
	// TokenBadAlgorithm: `alg` missing, "none", not in the allow-list, or
	// not matching the key.
	TokenBadAlgorithm TokenErrorCode = "bad_algorithm"
	// TokenUnknownKey: `kid` missing, not a string, or naming no known key.
	TokenUnknownKey TokenErrorCode = "unknown_key"
	// TokenBadSignature: the signature does not verify.
	TokenBadSignature TokenErrorCode = "bad_signature"
	// TokenExpired: `exp` has passed (beyond the leeway).
	TokenExpired TokenErrorCode = "expired"
	// TokenNotYetValid: `nbf` or `iat` is in the future (beyond the leeway).
	TokenNotYetValid TokenErrorCode = "not_yet_valid"
	// TokenBadIssuer: `iss` missing or not the configured issuer.
	TokenBadIssuer TokenErrorCode = "bad_issuer"
	// TokenBadAudience: `aud` (or Cognito's `client_id`) missing or not
	// accepted.
	TokenBadAudience TokenErrorCode = "bad_audience"
	// TokenBadTokenUse: Cognito `token_use` is not the configured one.
	TokenBadTokenUse TokenErrorCode = "bad_token_use"
	// TokenBadClaims: a required claim is missing or of the wrong type
	// (`exp`, the subject, the groups), a claim of Issuer.RequiredClaims
	// does not hold an accepted value, or CheckClaims refused the token.
	TokenBadClaims TokenErrorCode = "bad_claims"
	// TokenGroupsOverage: a groups claim is not in the token because the
	// issuer moved it out (`_claim_names` names it: Entra ID does this for
	// users in more than 200 groups). The token is refused rather than
	// treated as having no groups; configure the issuer to send app roles
	// or groups assigned to the application instead.
	TokenGroupsOverage TokenErrorCode = "groups_overage"
)

// TokenError is the error an Authenticator returns for a bearer token that
// does not verify. It wraps tvm.ErrInvalidCredentials (errors.Is) and the
// underlying cause. Its message never contains the token.
type TokenError struct {
	// Code says what is wrong.
	Code TokenErrorCode
	// Err is the cause, for logs; it does not contain the token either.
	Err error
}

// Error returns "tvm: invalid credentials: jwt <code>".
func (e *TokenError) Error() string {
	return tvm.ErrInvalidCredentials.Error() + ": jwt " + string(e.Code)
}

// Unwrap returns tvm.ErrInvalidCredentials and the cause.
func (e *TokenError) Unwrap() []error {
	if e.Err == nil {
		return []error{tvm.ErrInvalidCredentials}
	}
	return []error{tvm.ErrInvalidCredentials, e.Err}
}

func tokenErr(code TokenErrorCode, err error) *TokenError {
	return &TokenError{Code: code, Err: err}
}

// Causes of token errors that the libraries do not name. Their text never
// holds attacker-controlled input.
var (
	errTooLong         = errors.New("bearer token longer than the limit")
	errDuplicateHeader = errors.New("more than one Authorization header")
	errBadBearer       = errors.New("the Authorization header is not `Bearer <token>`")
	errBadCharacters   = errors.New("bearer token has characters outside base64url and '.'")
	errSegments        = errors.New("bearer token does not have exactly three segments")
	errCrit            = errors.New("token has a crit header")
	errAlgNotAllowed   = errors.New("token alg is not in the allow-list")
	errKeyAlgMismatch  = errors.New("key cannot verify the token's alg")
	errNoKID           = errors.New("token has no string kid")
	errUnknownKID      = errors.New("no key with the token's kid")
	errIssuer          = errors.New("token iss is not a configured issuer")
	errTenant          = errors.New("token tid is not the tenant of its iss")
	errOverage         = errors.New("token groups claim was moved out of the token (_claim_names)")
	errCognitoTokenUse = errors.New("token_use is not the configured one")
	errCognitoClientID = errors.New("client_id is not the configured app client")
	errSubject         = errors.New("token subject claim is missing, empty or not a string")
	errGroups          = errors.New("token groups claim is neither a string nor an array of strings")
	errExpMissing      = errors.New("token has no valid exp")
	errAudience        = errors.New("token aud is missing or not accepted")
	errKeysUnavailable = errors.New("key source unavailable")
)

// errClosed is returned by every verification after Close.
var errClosed = fmt.Errorf("%w: jwt authenticator used after Close", tvm.ErrClosed)

// unavailableError is the error of a token whose issuer has no key set yet:
// discovery or the first key set fetch has not succeeded. It wraps
// tvm.ErrUpstreamUnavailable (503) and the last failure, and tells when to
// retry.
type unavailableError struct {
	issuer     string // Issuer.Name
	cause      error
	retryAfter time.Duration
}

func (e *unavailableError) Error() string {
	msg := "jwtauth: identity provider unavailable: issuer " + e.issuer + " has no key set yet"
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns tvm.ErrUpstreamUnavailable and the last failure.
func (e *unavailableError) Unwrap() []error {
	if e.cause == nil {
		return []error{tvm.ErrUpstreamUnavailable}
	}
	return []error{tvm.ErrUpstreamUnavailable, e.cause}
}

// RetryAfter is when the next attempt is due (tvm's handler sets
// Retry-After from it).
func (e *unavailableError) RetryAfter() time.Duration { return e.retryAfter }

// classify maps a golang-jwt error to a TokenError; called says whether
// the key function ran.
func classify(err error, called bool, claims jwt.MapClaims) *TokenError {
	switch {
	case errors.Is(err, errCrit):
		return tokenErr(TokenMalformed, err)
	case errors.Is(err, errAlgNotAllowed), errors.Is(err, errKeyAlgMismatch):
		return tokenErr(TokenBadAlgorithm, err)
	case errors.Is(err, errNoKID), errors.Is(err, errUnknownKID), errors.Is(err, errKeysUnavailable):
		return tokenErr(TokenUnknownKey, err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return tokenErr(TokenMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or unknown to golang-jwt, or another key lookup failure.
		if called {
			return tokenErr(TokenUnknownKey, err)
		}
		return tokenErr(TokenBadAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if !called { // refused by WithValidMethods before any key lookup
			return tokenErr(TokenBadAlgorithm, err)
		}
		return tokenErr(TokenBadSignature, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return tokenErr(TokenExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return tokenErr(TokenNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return tokenErr(TokenBadAudience, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if exp, e := claims.GetExpirationTime(); e != nil || exp == nil {
			return tokenErr(TokenBadClaims, errors.Join(errExpMissing, err))
		}
		return tokenErr(TokenBadAudience, errors.Join(errAudience, err))
	default:
		return tokenErr(TokenBadClaims, err)
	}
}
