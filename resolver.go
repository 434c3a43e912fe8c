package tvm

import (
	"context"
	"net/http"
)

// ScopeResolver decides what a verified caller may have. It reads the
// Identity, and the request only for optional narrowing (the caller asking
// for less than its identity allows); nothing in the request may widen the
// scope. It returns an error wrapping ErrForbidden when the caller gets no
// scope, and ErrBadRequest when a narrowing parameter is malformed.
type ScopeResolver interface {
	Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error)
}

// ResolverFunc adapts a function to the ScopeResolver interface.
type ResolverFunc func(ctx context.Context, id Identity, r *http.Request) (Grant, error)

// Resolve calls f(ctx, id, r).
func (f ResolverFunc) Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error) {
	return f(ctx, id, r)
}
