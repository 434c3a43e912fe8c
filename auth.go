package tvm

import (
	"net/http"
	"strings"
	"unicode"
)

// Authenticator verifies the caller of a request. It returns an error
// wrapping ErrNoCredentials when the request carries none, and
// ErrInvalidCredentials when they do not verify. It knows nothing of scopes.
//
// Ready implementations: Open, NewBasic, ContextIdentity, and the JWT and
// Cognito authenticators of the package github.com/tvmgo/tvm/jwtauth. An
// Authenticator may also implement Challenger.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// Challenger is implemented by authenticators that know which
// WWW-Authenticate challenge a 401 response should carry, for example
// `Basic realm="tvm", charset="UTF-8"`. The handler uses `Bearer
// realm="tvm"` for authenticators that do not implement it.
type Challenger interface {
	Challenge() string
}

// MethodOpen is the Identity.Method of the callers Open lets in: anonymous
// callers, the only ones whose token id QueryTokenID lets them choose.
const MethodOpen = "open"

// Open returns an Authenticator that lets everyone in as
// Identity{Subject: "anonymous", Method: MethodOpen} without looking at the
// request. Use it only with a scope you are willing to give to anyone on the
// internet (for example subscribe-only on a public topic), and only together
// with a rate limit.
func Open() Authenticator { return openAuthenticator{} }

type openAuthenticator struct{}

func (openAuthenticator) Authenticate(*http.Request) (Identity, error) {
	return Identity{Subject: "anonymous", Method: MethodOpen}, nil
}

// hasControl reports whether s contains a control character (C0, DEL or
// C1): the one rule for usernames, realms and group names.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
