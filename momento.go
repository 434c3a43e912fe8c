package tvm

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/momento"
	auth_responses "github.com/momentohq/client-sdk-go/responses/auth"
	"github.com/momentohq/client-sdk-go/utils"
)

// MomentoVendorConfig configures a MomentoVendor. Set exactly one of APIKey
// and CredentialProvider.
type MomentoVendorConfig struct {
	// APIKey is the Momento API key the vendor authenticates with: a v2 key
	// as today's Momento console issues it (then Endpoint is required), or
	// a v1 key (base64 JSON naming its endpoint, or a JWT with "c"/"cp"
	// claims). It is never logged or echoed in an error. Typically
	// os.Getenv("MOMENTO_API_KEY").
	APIKey string
	// Endpoint is the regional Momento endpoint a v2 API key is used with,
	// a bare host name such as "cell-4-us-west-2-1.prod.a.momentohq.com"
	// (no scheme, port or path): the vendor connects to
	// token.<Endpoint>:443 over TLS. Required with a v2 key, refused with a
	// v1 key (which names its own). Typically os.Getenv("MOMENTO_ENDPOINT").
	Endpoint string
	// CredentialProvider is an SDK credential provider to use instead of
	// APIKey, for example one pointing at a local server
	// (auth.NewMomentoLocalProvider, or provider.WithEndpoints).
	CredentialProvider auth.CredentialProvider
	// AuthConfig is the SDK's auth client configuration. Default
	// config.AuthDefault().
	AuthConfig config.AuthConfiguration
	// Retry configures the retries of vends that failed because Momento
	// was unavailable. Default: 3 attempts with jittered exponential
	// backoff from 50 ms.
	Retry RetryOptions
	// Logger receives a debug line per retry. Default slog.Default(). It
	// never receives a key or a token.
	Logger *slog.Logger
}

// MomentoVendor vends disposable tokens with the official Momento Go SDK
// (client-sdk-go's auth client, GenerateDisposableToken). It is safe for
// concurrent use. Close it when done; make one per process, not one per
// request.
//
// Errors are *VendError values wrapping ErrUpstreamRejected (Momento refused:
// authentication, permission or argument errors; retrying does not help),
// ErrUpstreamUnavailable (connection errors, server unavailable, internal
// errors, limits exceeded; retried as RetryOptions says) or
// ErrUpstreamTimeout (the context's deadline passed or Momento timed out).
// Their messages never contain the API key. After Close, Vend returns an
// error wrapping ErrClosed.
type MomentoVendor struct {
	client   momento.AuthClient
	provider auth.CredentialProvider
	desc     string   // for String
	secrets  []string // redacted from every error message
	retry    RetryOptions
	log      *slog.Logger
	closed   atomic.Bool
	once     sync.Once
}

// NewMomentoVendor returns a vendor for cfg. It does not contact Momento.
// It fails closed with *ConfigError values (never holding the key) when
// neither or both of APIKey and CredentialProvider are set; when the key is
// neither a v1 nor a v2 Momento API key; when a v2 key has no Endpoint, a
// v1 key has one, or the Endpoint has a scheme, a port or a path; or when
// Retry is out of range.
func NewMomentoVendor(cfg MomentoVendorConfig) (*MomentoVendor, error) {
	var probs problems
	var secrets []string
	provider := cfg.CredentialProvider
	desc := "credential provider"
	switch key := strings.TrimSpace(cfg.APIKey); {
	case cfg.APIKey != "" && !isNil(provider):
		probs.add("MomentoVendorConfig.APIKey", "set either APIKey or CredentialProvider, not both")
	case !isNil(provider):
		if cfg.Endpoint != "" {
			probs.add("MomentoVendorConfig.Endpoint", "set together with CredentialProvider (the provider names its endpoints)")
		}
	case key == "":
		probs.add("MomentoVendorConfig.APIKey", "required (or CredentialProvider)")
	default:
		var k momentoKey
		provider, k = momentoProvider(key, cfg.Endpoint, &probs)
		secrets = []string{key, cfg.APIKey}
		desc = k.kind + " API key"
	}
	authConfig := cfg.AuthConfig
	if isNil(authConfig) {
		authConfig = config.AuthDefault()
	}
	retry := cfg.Retry.withDefaults("MomentoVendorConfig.Retry", &probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	if tok := provider.GetAuthToken(); tok != "" {
		secrets = append(secrets, tok)
	}
	client, err := momento.NewAuthClient(authConfig, provider)
	if err != nil {
		return nil, fmt.Errorf("%w: creating the Momento auth client: %s", ErrInvalidConfig, sanitize(errorMessage(err), secrets))
	}
	v := newMomentoVendorWithClient(client, secrets, retry, cfg.Logger)
	v.provider = provider
	v.desc = desc + ", token endpoint " + provider.GetTokenEndpoint()
	return v, nil
}

// CredentialProvider returns the SDK credential provider the vendor
// authenticates with (for example to make a momento.CacheClient for a
// MomentoRateLimiter with the same key and endpoints).
func (v *MomentoVendor) CredentialProvider() auth.CredentialProvider { return v.provider }

// String describes the vendor without its key: the kind of key ("v1 API
// key", "v2 API key" or "credential provider") and the token endpoint,
// e.g. "tvm.MomentoVendor{v2 API key, token endpoint
// token.cell-4-us-west-2-1.prod.a.momentohq.com:443}".
func (v *MomentoVendor) String() string { return "tvm.MomentoVendor{" + v.desc + "}" }

// newMomentoVendorWithClient wraps an SDK auth client (tests use fakes).
func newMomentoVendorWithClient(client momento.AuthClient, secrets []string, retry RetryOptions, log *slog.Logger) *MomentoVendor {
	var kept []string
	for _, s := range secrets {
		if len(s) >= 4 { // redacting tiny strings would mangle messages and protect nothing
			kept = append(kept, s)
		}
	}
	if log == nil {
		log = slog.Default()
	}
	return &MomentoVendor{client: client, secrets: kept, retry: retry, log: log}
}

// Close closes the SDK client's connection. Vend fails with ErrClosed
// after Close. Close is idempotent and returns nil.
//
// client-sdk-go v1.38.0's AuthClient.Close closes the connection its token
// client uses, not the (never dialled) one of its internal auth client: each
// vendor therefore leaves a few idle goroutines behind.
func (v *MomentoVendor) Close() error {
	v.once.Do(func() {
		v.closed.Store(true)
		v.client.Close()
	})
	return nil
}

// Vend asks Momento for a disposable token carrying exactly g.Scope, living
// g.TTL (whole seconds, 1 s to MaxTokenTTL) and with token id g.TokenID
// (none when empty), retrying as the RetryOptions say within ctx.
func (v *MomentoVendor) Vend(ctx context.Context, g Grant) (Token, error) {
	if v.closed.Load() {
		return Token{}, fmt.Errorf("%w: the Momento vendor", ErrClosed)
	}
	secs := int64(g.TTL / time.Second)
	if secs < 1 || g.TTL > MaxTokenTTL {
		return Token{}, fmt.Errorf("%w: grant TTL %s is outside [1s, %s]", ErrInvalidConfig, g.TTL, MaxTokenTTL)
	}
	if len(g.TokenID) > MaxTokenIDLength {
		return Token{}, fmt.Errorf("%w: token id longer than %d bytes", ErrInvalidConfig, MaxTokenIDLength)
	}
	if err := g.Scope.Validate(); err != nil {
		return Token{}, err
	}
	req := &momento.GenerateDisposableTokenRequest{
		ExpiresIn: utils.ExpiresInSeconds(secs),
		Scope:     momentoScope(g.Scope),
	}
	if g.TokenID != "" {
		id := g.TokenID
		req.Props.TokenId = &id
	}
	return v.retry.retry(ctx, v.log, func() (Token, error) { return v.vendOnce(ctx, req) })
}

// vendOnce makes one GenerateDisposableToken call.
func (v *MomentoVendor) vendOnce(ctx context.Context, req *momento.GenerateDisposableTokenRequest) (Token, error) {
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
