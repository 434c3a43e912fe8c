package tvm

import (
	"net/http"
	"strings"
)

// Authenticator verifies the caller of a request. It returns an error
// wrapping ErrNoCredentials when the request carries none, and
// ErrInvalidCredentials when they do not verify. It knows nothing of scopes.
//
// An Authenticator may also implement Challenger, to choose the
// WWW-Authenticate challenge of 401 responses, and interface{ Validate() error },
// which NewHandler calls so that a misconfigured authenticator fails closed.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// Challenger is implemented by authenticators that know which
// WWW-Authenticate challenge a 401 response should carry, for example
// `Basic realm="tvm", charset="UTF-8"` or `Bearer`. The handler uses
// `Bearer` for authenticators that do not implement it.
type Challenger interface {
	Challenge() string
}

// Identity.Method values set by the authenticators of this file and of
// basic.go and context.go.
const (
	// MethodOpen is the Method of identities made by Open.
	MethodOpen = "open"
	// MethodBasic is the Method of identities verified by a BasicAuthenticator.
	MethodBasic = "basic"
	// MethodContext is the Method of identities taken from the request
	// context by ContextIdentity.
	MethodContext = "context"
)

// AnonymousSubject is the Subject of every identity made by Open.
const AnonymousSubject = "anonymous"

// Open returns an Authenticator that lets everyone in as
// Identity{Subject: "anonymous", Method: "open"} without looking at the
// request. Use it only with a scope you are willing to give to anyone on the
// internet (for example subscribe-only on a public topic), and only together
// with rate limiting in front of the handler.
//
// Open is the only authenticator under which the QueryTokenID policy honours
// a caller-chosen token id.
func Open() Authenticator { return openAuthenticator{} }

type openAuthenticator struct{}

func (openAuthenticator) Authenticate(*http.Request) (Identity, error) {
	return Identity{Subject: AnonymousSubject, Method: MethodOpen}, nil
}

// hasControl reports whether s contains an ASCII control character or DEL.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}
