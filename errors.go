package tvm

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors. Every error the package returns wraps one of them, so
// callers can test with errors.Is; the handler maps them to HTTP statuses.
var (
	// ErrNoCredentials means the request carried no credentials at all (401).
	ErrNoCredentials = errors.New("tvm: no credentials")
	// ErrInvalidCredentials means the request carried credentials that did
	// not verify: a bad password, an invalid or expired JWT (401).
	ErrInvalidCredentials = errors.New("tvm: invalid credentials")
	// ErrForbidden means the caller is authenticated but no rule grants it a
	// scope, or it asked to narrow to something outside its scope (403).
	ErrForbidden = errors.New("tvm: forbidden")
	// ErrBadRequest means the request was malformed, for example a narrowing
	// parameter that is not a valid Momento name (400).
	ErrBadRequest = errors.New("tvm: bad request")
	// ErrRateLimited means the caller exceeded its rate limit (429).
	ErrRateLimited = errors.New("tvm: rate limited")
	// ErrUpstreamRejected means Momento refused to vend (for example a wrong
	// API key or a refused scope); retrying does not help (502).
	ErrUpstreamRejected = errors.New("tvm: momento rejected the request")
	// ErrUpstreamUnavailable means Momento could not be reached or was
	// overloaded; retrying later may help (503).
	ErrUpstreamUnavailable = errors.New("tvm: momento unavailable")
	// ErrUpstreamThrottled means Momento's token service refused the vend
	// because the account's auth quota (5 operations per second) is used
	// up, or this process's own vend ceiling (Config.VendLimit) was
	// reached. It is never retried within the request (retrying makes it
	// worse): 503 with a Retry-After.
	ErrUpstreamThrottled = errors.New("tvm: momento throttled the request")
	// ErrUpstreamTimeout means Momento did not answer within the vend
	// timeout; retrying later may help (504).
	ErrUpstreamTimeout = errors.New("tvm: momento timed out")
	// ErrInvalidConfig means a constructor was given a configuration that
	// would be unsafe or cannot work. Constructors fail closed with it.
	ErrInvalidConfig = errors.New("tvm: invalid configuration")
	// ErrInvalidScope means a scope, permission or template is malformed or
	// empty. An invalid scope is never vended.
	ErrInvalidScope = errors.New("tvm: invalid scope")
	// ErrOverloaded means the server is too busy to check the credentials
	// now: a BasicAuthenticator had more logins waiting for a password
	// check than BasicConfig.MaxConcurrentChecks allows (503 with
	// Retry-After; the client may retry).
	ErrOverloaded = errors.New("tvm: overloaded")
	// ErrClosed means a component (a vendor, an authenticator) was used
	// after its Close method was called: a programming error (500).
	ErrClosed = errors.New("tvm: closed")
)

// sentinels are the sentinel errors above, every one (TestSentinelsComplete
// checks): an authenticator's error wrapping one of them gets the answer
// the sentinel decides, any other error 401 (authError).
var sentinels = []error{
	ErrNoCredentials, ErrInvalidCredentials, ErrForbidden, ErrBadRequest, ErrRateLimited,
	ErrUpstreamRejected, ErrUpstreamUnavailable, ErrUpstreamThrottled, ErrUpstreamTimeout,
	ErrInvalidConfig, ErrInvalidScope, ErrOverloaded, ErrClosed,
}

// VendError is the typed error a Vendor returns when Momento fails. It wraps
// one of ErrUpstreamRejected, ErrUpstreamUnavailable, ErrUpstreamThrottled
// or ErrUpstreamTimeout (Kind) and the underlying cause. Its message never
// contains a secret.
type VendError struct {
	// Kind is ErrUpstreamRejected, ErrUpstreamUnavailable,
	// ErrUpstreamThrottled or ErrUpstreamTimeout.
	Kind error
	// Code is the upstream error code, e.g. Momento's "PermissionError" or
	// a gRPC status name, when known.
	Code string
	// Wait is how long to wait before trying again, when known (a
	// throttled vend: the rest of the quota's window); zero means the
	// handler's Config.RetryAfter.
	Wait time.Duration
	// Err is the underlying cause.
	Err error
}

// RetryAfter returns Wait, which sets the Retry-After of the handler's 503.
func (e *VendError) RetryAfter() time.Duration { return e.Wait }

// Error describes the failure without secrets.
func (e *VendError) Error() string {
	msg := e.Kind.Error()
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns both the kind and the cause, so errors.Is works with the
// sentinels and with the cause.
func (e *VendError) Unwrap() []error { return []error{e.Kind, e.Err} }

// ConfigError reports one problem in a configuration, naming the field.
// Constructors that find several problems return them joined with
// errors.Join, each a *ConfigError.
type ConfigError struct {
	// Field is the path of the offending field, e.g.
	// "BasicConfig.Users[1].PasswordHash".
	Field string
	// Problem says what is wrong, e.g. "required". It never repeats a
	// secret value.
	Problem string
}

// Error returns "field: problem".
func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Problem) }

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// problems collects the ConfigErrors of one constructor.
type problems []error

// add records a problem with field.
func (p *problems) add(field, problem string) {
	*p = append(*p, &ConfigError{Field: field, Problem: problem})
}

// addScope records the problem of a scope validation error under field,
// naming the permission and its field: "<field>[1].topic".
func (p *problems) addScope(field string, err error) {
	var se *ScopeError
	if !errors.As(err, &se) {
		p.add(field, err.Error())
		return
	}
	if se.Index >= 0 {
		field += "[" + strconv.Itoa(se.Index) + "]"
	}
	if se.Field != "" {
		field += "." + se.Field
	}
	p.add(field, se.Problem)
}

// err returns the problems joined, or nil.
func (p problems) err() error { return errors.Join(p...) }
