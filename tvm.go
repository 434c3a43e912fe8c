// Package tvm is a token vending machine for Momento: an http.Handler that
// authenticates the caller, decides from the verified identity alone which
// Momento permissions the caller gets, and vends a short-lived disposable
// token limited to them through the official Momento Go SDK.
//
// One request flows through four pluggable steps:
//
//	Authenticator.Authenticate(r)      -> Identity   (401 on failure)
//	ScopeResolver.Resolve(ctx, id, r)  -> Grant      (403 when no scope)
//	(reuse a kept token, or share a concurrent identical vend)
//	Vendor.Vend(ctx, grant)            -> Token      (502/503/504 on upstream failure)
//	200 {"authToken": "...", "expiresAt": <unix seconds>}
//
// The response body has the same shape as Momento's reference token vending
// machine, so existing web clients work unchanged. Nothing the client sends
// (headers, query, body) can widen the scope: a resolver may only let the
// caller narrow what its identity already allows.
//
// Every component has one constructor, which validates its configuration
// and returns the problems as *ConfigError values: a misconfiguration fails
// at construction, never at the first request. The JWT and Cognito
// authenticators live in the package github.com/tvmgo/tvm/jwtauth.
package tvm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Momento's limits that tvm enforces before asking Momento.
const (
	// MaxTokenTTL is the longest lifetime tvm vends. Momento accepts
	// disposable tokens of up to 25 hours, but the Momento Go SDK this
	// module uses (client-sdk-go v1.38.0) refuses more than one hour
	// before sending the request.
	MaxTokenTTL = time.Hour
	// MaxTokenIDLength is the longest token id Momento accepts, in bytes.
	MaxTokenIDLength = 64
	// MaxPermissions is the most permission statements Momento accepts in
	// one token.
	MaxPermissions = 20
	// MaxNameLength is the longest cache name, topic name, topic prefix,
	// key or key prefix tvm accepts, in bytes. Momento does not publish a
	// limit for names; this bound keeps tokens, logs and error messages
	// small.
	MaxNameLength = 255
)

// Identity is a caller whose credentials an Authenticator has verified.
// Resolvers decide the caller's scope from it and from nothing the client
// can set.
type Identity struct {
	// Subject identifies the caller (the JWT "sub", the Basic username,
	// the session's user id). It is the default token id of vended tokens,
	// which Momento shows to other subscribers as the message sender.
	Subject string
	// Groups are the caller's groups or roles (for example the Cognito
	// "cognito:groups" claim), used by group rules.
	Groups []string
	// Claims are the verified claims of the caller's credential, used by
	// scope templates such as "user-{sub}". Nil when there are none.
	Claims map[string]any
	// ExpiresAt is when the caller's credential expires (a JWT's "exp"), or
	// the zero time when it does not. Vended tokens never outlive it.
	ExpiresAt time.Time
	// Method names the authenticator that verified the caller: "open"
	// (MethodOpen), "basic", "context", "jwt", "cognito", or your own. It
	// is part of the identity for token reuse and rate limits, and must
	// not contain ":".
	Method string
}

// Grant is what a ScopeResolver decided a caller may have.
type Grant struct {
	// Scope lists the permissions the vended token carries. An empty scope
	// is refused, never vended. Resolvers may hand out a Scope that they
	// share with every request (GroupScopes does): treat it as read-only,
	// and clone it (slices.Clone) before changing a permission in place.
	Scope Scope
	// TTL is how long the token lives. Zero means the handler's default.
	TTL time.Duration
	// TokenID is the id Momento attaches to the token (and to every message
	// published with it). Empty means the handler's token id policy applies.
	TokenID string
	// Rule names the rule that produced the grant, for logs and metrics:
	// "group:<name>" or "default" for GroupScopes.
	Rule string
}

// Token is a vended disposable token. Its String, GoString, LogValue and
// MarshalJSON methods redact the secret, so printing, logging or encoding a
// Token (on its own or inside another value) never leaks it; only the
// AuthToken field itself holds it.
type Token struct {
	// AuthToken is the secret a Momento client SDK needs: the string the
	// official SDK returns (base64 JSON of the api key and endpoint).
	AuthToken string
	// ExpiresAt is when the token stops working.
	ExpiresAt time.Time
	// Endpoint is the Momento endpoint the token is valid for, if known.
	Endpoint string
}

// String returns a description of the token without its secret.
func (t Token) String() string {
	return fmt.Sprintf("tvm.Token{AuthToken: [REDACTED], ExpiresAt: %s}", t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString implements fmt.GoStringer without revealing the secret.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without revealing the secret.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expiresAt", t.ExpiresAt), slog.String("authToken", "[REDACTED]"))
}

// MarshalJSON encodes the token without its secret:
// {"authToken":"[REDACTED]","expiresAt":"<RFC 3339>"}. (The handler writes
// the real token to the client itself.)
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AuthToken string    `json:"authToken"`
		ExpiresAt time.Time `json:"expiresAt"`
		Endpoint  string    `json:"endpoint,omitempty"`
	}{"[REDACTED]", t.ExpiresAt, t.Endpoint})
}

// Vendor vends a disposable token for a grant. The handler calls it with a
// context bounded by its vend timeout and by the request's context, with a
// validated scope, a TTL of whole seconds between one second and
// MaxTokenTTL, and a valid token id. MomentoVendor is the implementation
// backed by the official Momento Go SDK.
//
// Implementations return errors that wrap ErrUpstreamRejected,
// ErrUpstreamUnavailable or ErrUpstreamTimeout (see VendError) so that the
// handler can answer 502, 503 or 504, and ErrClosed once closed. An error
// with a method RetryAfter() time.Duration sets the Retry-After of a 503.
type Vendor interface {
	Vend(ctx context.Context, g Grant) (Token, error)
}
