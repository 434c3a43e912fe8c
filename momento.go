package tvm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/momento"
	auth_responses "github.com/momentohq/client-sdk-go/responses/auth"
	"github.com/momentohq/client-sdk-go/utils"
)

// MomentoOption configures the Momento vendor.
type MomentoOption func(*momentoOptions)

type momentoOptions struct {
	authConfig config.AuthConfiguration
	setConfig  bool
}

// WithAuthConfiguration replaces the SDK's auth client configuration
// (default config.AuthDefault()), for example to install a logger factory
// with config.AuthDefaultWithLogger.
func WithAuthConfiguration(c config.AuthConfiguration) MomentoOption {
	return func(o *momentoOptions) { o.authConfig, o.setConfig = c, true }
}

// MomentoSDKVendor vends disposable tokens with the official Momento Go SDK
// (client-sdk-go's auth client, GenerateDisposableToken). It is safe for
// concurrent use. Close it when done.
//
// Errors are *VendError values wrapping ErrUpstreamRejected (Momento refused:
// authentication, permission or argument errors; retrying does not help),
// ErrUpstreamUnavailable (connection errors, server unavailable, internal
// errors, limits exceeded; retry later) or ErrUpstreamTimeout (the context's
// deadline passed or Momento timed out). Their messages never contain the
// API key.
type MomentoSDKVendor struct {
	client  momento.AuthClient
	secrets []string // redacted from every error message
	closed  atomic.Bool
	once    sync.Once
}

// NewMomentoVendor returns a vendor authenticating to Momento with apiKey (a
// Momento API key as shown in the console, or a v1 base64 token). It does
// not contact Momento. It returns an error wrapping ErrInvalidConfig when
// the key is empty or cannot be parsed; the error never contains the key.
func NewMomentoVendor(apiKey string, opts ...MomentoOption) (*MomentoSDKVendor, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, &ConfigError{Field: "apiKey", Problem: "required"}
	}
	provider, err := auth.FromString(apiKey)
	if err != nil {
		// The SDK's parse errors may quote the key: never wrap them.
		return nil, &ConfigError{Field: "apiKey", Problem: "not a valid Momento API key"}
	}
	return newMomentoVendor(provider, []string{apiKey}, opts)
}

// NewMomentoVendorFromEnv is NewMomentoVendor with the API key read from
// the environment variable name (for example "MOMENTO_API_KEY").
func NewMomentoVendorFromEnv(name string, opts ...MomentoOption) (*MomentoSDKVendor, error) {
	if name == "" {
		return nil, &ConfigError{Field: "environment variable name", Problem: "required"}
	}
	key, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(key) == "" {
		return nil, &ConfigError{Field: "environment variable " + name, Problem: "not set"}
	}
	v, err := NewMomentoVendor(key, opts...)
	if err != nil {
		return nil, &ConfigError{Field: "environment variable " + name, Problem: "not a valid Momento API key"}
	}
	return v, nil
}

// NewMomentoVendorFromProvider returns a vendor using an SDK credential
// provider, for example one from auth.FromEnvironmentVariable, or one
// pointing at a local server (auth.NewMomentoLocalProvider, or
// provider.WithEndpoints).
func NewMomentoVendorFromProvider(provider auth.CredentialProvider, opts ...MomentoOption) (*MomentoSDKVendor, error) {
	if isNil(provider) {
		return nil, &ConfigError{Field: "CredentialProvider", Problem: "required"}
	}
	return newMomentoVendor(provider, nil, opts)
}

func newMomentoVendor(provider auth.CredentialProvider, secrets []string, opts []MomentoOption) (*MomentoSDKVendor, error) {
	var o momentoOptions
	for _, opt := range opts {
		if opt == nil {
			return nil, &ConfigError{Field: "MomentoOption", Problem: "nil option"}
		}
		opt(&o)
	}
	if o.setConfig && isNil(o.authConfig) {
		return nil, &ConfigError{Field: "WithAuthConfiguration", Problem: "nil configuration"}
	}
	if !o.setConfig {
		o.authConfig = config.AuthDefault()
	}
	if tok := provider.GetAuthToken(); tok != "" {
		secrets = append(secrets, tok)
	}
	client, err := momento.NewAuthClient(o.authConfig, provider)
	if err != nil {
		return nil, fmt.Errorf("%w: creating the Momento auth client: %s", ErrInvalidConfig, sanitize(errorMessage(err), secrets))
	}
	return newMomentoVendorWithClient(client, secrets), nil
}

// newMomentoVendorWithClient wraps an SDK auth client (tests use fakes).
func newMomentoVendorWithClient(client momento.AuthClient, secrets []string) *MomentoSDKVendor {
	var kept []string
	for _, s := range secrets {
		if len(s) >= 4 { // redacting tiny strings would mangle messages and protect nothing
			kept = append(kept, s)
		}
	}
	return &MomentoSDKVendor{client: client, secrets: kept}
}

// MomentoVendor is NewMomentoVendor for use inline in a Config: it never
// returns nil. When the key is invalid the returned Vendor refuses every
// vend, and its Validate method returns the configuration error, so
// NewHandler fails.
func MomentoVendor(apiKey string, opts ...MomentoOption) Vendor {
	return vendorOrInvalid(NewMomentoVendor(apiKey, opts...))
}

// MomentoVendorFromEnv is NewMomentoVendorFromEnv for use inline in a
// Config, like MomentoVendor.
func MomentoVendorFromEnv(name string, opts ...MomentoOption) Vendor {
	return vendorOrInvalid(NewMomentoVendorFromEnv(name, opts...))
}

// MomentoVendorFromProvider is NewMomentoVendorFromProvider for use inline
// in a Config, like MomentoVendor.
func MomentoVendorFromProvider(provider auth.CredentialProvider, opts ...MomentoOption) Vendor {
	return vendorOrInvalid(NewMomentoVendorFromProvider(provider, opts...))
}

func vendorOrInvalid(v *MomentoSDKVendor, err error) Vendor {
	if err != nil {
		return invalidVendor{err: err}
	}
	return v
}

// invalidVendor is a misconfigured vendor: it refuses everything.
type invalidVendor struct{ err error }

func (v invalidVendor) Vend(context.Context, Grant) (Token, error) { return Token{}, v.err }
func (v invalidVendor) Validate() error                            { return v.err }

// Validate returns nil for a usable vendor and an error wrapping
// ErrInvalidConfig once it is closed, so a closed vendor cannot be given to
// NewHandler.
func (v *MomentoSDKVendor) Validate() error {
	if v.closed.Load() {
		return &ConfigError{Field: "MomentoSDKVendor", Problem: "closed"}
	}
	return nil
}

// Close closes the SDK client's connection. Vend fails after Close.
//
// client-sdk-go v1.38.0's AuthClient.Close closes the connection its token
// client uses, not the (never dialled) one of its internal auth client: each
// vendor therefore leaves a few idle goroutines behind. Make one vendor per
// process, not one per request.
func (v *MomentoSDKVendor) Close() error {
	v.once.Do(func() {
		v.closed.Store(true)
		v.client.Close()
	})
	return nil
}

// Vend asks Momento for a disposable token carrying exactly g.Scope, living
// g.TTL (whole seconds, 1 s to 1 h) and with token id g.TokenID (none when
// empty).
func (v *MomentoSDKVendor) Vend(ctx context.Context, g Grant) (Token, error) {
	if v.closed.Load() {
		return Token{}, &VendError{Kind: ErrUpstreamUnavailable, Code: "CLOSED", Err: errors.New("vendor is closed")}
	}
	secs := int64(g.TTL / time.Second)
	if secs < 1 || g.TTL > MaxTokenTTL {
		return Token{}, fmt.Errorf("%w: grant TTL %s is outside [1s, %s]", ErrInvalidConfig, g.TTL, MaxTokenTTL)
	}
	if len(g.TokenID) > MaxTokenIDLength {
		return Token{}, fmt.Errorf("%w: token id longer than %d bytes", ErrInvalidConfig, MaxTokenIDLength)
	}
	scope, err := g.Scope.MomentoScope()
	if err != nil {
		return Token{}, err
	}
	req := &momento.GenerateDisposableTokenRequest{
		ExpiresIn: utils.ExpiresInSeconds(secs),
		Scope:     scope,
	}
	if g.TokenID != "" {
		id := g.TokenID
		req.Props.TokenId = &id
	}
	resp, err := v.client.GenerateDisposableToken(ctx, req)
	if err != nil {
		return Token{}, v.mapError(ctx, err)
	}
	ok, isOK := resp.(*auth_responses.GenerateDisposableTokenSuccess)
	if !isOK || ok == nil || ok.ApiKey == "" {
		return Token{}, &VendError{Kind: ErrUpstreamRejected, Code: "UNEXPECTED_RESPONSE", Err: fmt.Errorf("unexpected response %T", resp)}
	}
	tok := Token{AuthToken: ok.ApiKey, Endpoint: ok.Endpoint}
	if ok.ValidUntil > 0 && ok.ValidUntil < math.MaxInt64 {
		tok.ExpiresAt = time.Unix(int64(ok.ValidUntil), 0)
	}
	return tok, nil
}

// sdkError is the shape of the SDK's error values (momento.MomentoError and
// its internal service error).
type sdkError interface {
	error
	Code() string
	Message() string
	OriginalErr() error
}

// innermostSDKError unwraps err to the SDK error that carries the real code.
// client-sdk-go v1.38.0's AuthClient.GenerateDisposableToken converts the
// token client's error a second time, so every server error arrives as a
// ClientSdkError whose OriginalErr is the error with the real code
// (PermissionError, ServerUnavailableError, ...).
func innermostSDKError(err error) (sdkError, bool) {
	var se sdkError
	if !errors.As(err, &se) {
		return nil, false
	}
	for range 8 { // the SDK nests twice; bound the walk anyway
		if se.Code() != momento.ClientSdkError {
			break
		}
		var inner sdkError
		if orig := se.OriginalErr(); orig == nil || !errors.As(orig, &inner) {
			break
		}
		se = inner
	}
	return se, true
}

// Momento SDK error codes (momento.*Error constants) by retry semantics.
var (
	rejectedCodes = map[string]bool{
		momento.AuthenticationError:     true,
		momento.PermissionError:         true,
		momento.InvalidArgumentError:    true,
		momento.BadRequestError:         true,
		momento.CacheNotFoundError:      true,
		momento.StoreNotFoundError:      true,
		momento.ItemNotFoundError:       true,
		momento.AlreadyExistsError:      true,
		momento.FailedPreconditionError: true,
	}
	timeoutCodes = map[string]bool{momento.TimeoutError: true}
)

// mapError turns an SDK error into a *VendError whose message carries no
// secret.
func (v *MomentoSDKVendor) mapError(ctx context.Context, err error) error {
	code, msg := "", errorMessage(err)
	if se, ok := innermostSDKError(err); ok {
		code, msg = se.Code(), se.Message()
	}
	msg = sanitize(msg, v.secrets)
	var cause error = errors.New(msg)

	kind := ErrUpstreamUnavailable
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind, cause = ErrUpstreamTimeout, fmt.Errorf("%w: %s", context.DeadlineExceeded, msg)
	case ctx.Err() != nil:
		cause = fmt.Errorf("%w: %s", ctx.Err(), msg)
	case errors.Is(err, context.DeadlineExceeded), timeoutCodes[code]:
		kind = ErrUpstreamTimeout
	case rejectedCodes[code]:
		kind = ErrUpstreamRejected
	}
	return &VendError{Kind: kind, Code: code, Err: cause}
}

// errorMessage returns err's message, or "" for a nil error.
func errorMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// jwtLike matches strings shaped like a JWT (Momento API keys are JWTs).
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// maxErrorMessage bounds upstream error text kept in errors and logs.
const maxErrorMessage = 300

// sanitize removes the given secrets and anything shaped like a JWT from
// msg, flattens it to one line and bounds its length.
func sanitize(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
		}
	}
	msg = jwtLike.ReplaceAllString(msg, "[REDACTED]")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
