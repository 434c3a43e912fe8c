package tvm

import "net/http"

// Authenticator verifies the caller of a request. It returns an error
// wrapping ErrNoCredentials when the request carries none, and
// ErrInvalidCredentials when they do not verify. It knows nothing of scopes.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }
