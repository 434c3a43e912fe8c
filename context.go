package tvm

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// identityKey is the private type of the context key under which NewContext
// stores an Identity, so no other package can read or forge it.
type identityKey struct{}

// NewContext returns a copy of ctx carrying id, for ContextIdentity. Call it
// in your own session middleware, after your application has authenticated
// the user:
//
//	next.ServeHTTP(w, r.WithContext(tvm.NewContext(r.Context(), tvm.Identity{Subject: user.ID, Groups: user.Roles})))
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the Identity stored in ctx by NewContext, if
// any.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// ContextIdentity returns an Authenticator that trusts the Identity your own
// middleware stored in the request context with NewContext: the embedded
// shape, where the token route lives inside an application that already
// authenticates its users (a session cookie, an OIDC login, ...). It reads
// nothing else from the request.
//
// A request without such an identity is refused with ErrNoCredentials; an
// identity without a subject, or whose ExpiresAt has passed, with
// ErrInvalidCredentials. The returned identity's Method is always "context"
// whatever the stored one says, so a stored identity cannot pass itself off
// as, say, an open-mode caller.
func ContextIdentity() Authenticator { return contextAuthenticator{now: time.Now} }

type contextAuthenticator struct{ now func() time.Time }

func (c contextAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	id, ok := IdentityFromContext(r.Context())
	if !ok {
		return Identity{}, fmt.Errorf("%w: no identity in the request context", ErrNoCredentials)
	}
	if id.Subject == "" {
		return Identity{}, fmt.Errorf("%w: context identity has no subject", ErrInvalidCredentials)
	}
	if !id.ExpiresAt.IsZero() && !c.now().Before(id.ExpiresAt) {
		return Identity{}, fmt.Errorf("%w: context identity has expired", ErrInvalidCredentials)
	}
	id.Groups = slices.Clone(id.Groups)
	id.Claims = maps.Clone(id.Claims)
	id.Method = "context"
	return id, nil
}

// Challenge returns "Session": a caller without a context identity has to
// sign in to the application, not send HTTP credentials.
func (contextAuthenticator) Challenge() string { return `Session` }
