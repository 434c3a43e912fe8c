package momentolocal

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// DefaultCache is the cache an emulator has when Config.Caches is empty.
const DefaultCache = "default-cache"

// LoopbackOrigins returns the browser origins an emulator allows when
// Config.AllowedOrigins is nil: "http://127.0.0.1:*", "http://localhost:*"
// and "http://[::1]:*". Each call returns a new slice.
func LoopbackOrigins() []string {
	return []string{"http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"}
}

// Defaults of the optional Config fields.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultSubscriberBuffer  = 256
	DefaultTopicHistory      = 256
	DefaultMaxTokenRequests  = 10000
)

// minAdminSecret is the shortest Config.AdminSecret Start accepts.
const minAdminSecret = 16

// ErrInvalidConfig is wrapped by the errors Start returns for an invalid
// Config.
var ErrInvalidConfig = errors.New("momentolocal: invalid config")

// Config configures an emulator. The zero value is a working emulator on a
// free loopback port with the cache "default-cache", in plaintext, without
// a token-service quota.
type Config struct {
	// Addr is the TCP address to listen on. Default "127.0.0.1:0" (a free
	// port). To restart an emulator on the same port, pass the Addr() of
	// the closed one.
	Addr string
	// Caches are the caches that exist at start. Default
	// ["default-cache"]. Calls on any other cache answer NOT_FOUND, as
	// Momento does; the control plane (CreateCache, DeleteCache) changes
	// the set at run time.
	Caches []string
	// RequireAPIKey makes GenerateDisposableToken require a root api key
	// (RootAPIKey or RootAPIKeyV2) and answer UNAUTHENTICATED without it.
	// When false, the token service accepts any caller, like a local
	// development endpoint, except a disposable token (PERMISSION_DENIED
	// either way). Data-plane calls always require a key issued by this
	// emulator.
	RequireAPIKey bool
	// TokenQuota, when positive, limits the token service to this many
	// operations per second for the whole emulator, which is one Momento
	// account shared by all of its clients, like Momento's auth quota
	// (5 per second). Calls over it answer RESOURCE_EXHAUSTED with
	// metadata "err: operations_rate_limit_exceeded", as Momento does.
	// Default 0: no quota.
	TokenQuota int
	// AllowedOrigins are the browser origins allowed to call the gRPC-Web
	// endpoint (CORS). An entry may end in ":*" to allow any port, e.g.
	// "http://localhost:*". Default (nil): LoopbackOrigins.
	// An empty non-nil slice allows no browser origin. Requests without an
	// Origin header (non-browser clients) are not subject to CORS.
	AllowedOrigins []string
	// TLS, when set, makes the emulator speak TLS only: native gRPC over
	// HTTP/2 and gRPC-Web over HTTP/1.1, still on one port. It needs a
	// certificate (Certificates or GetCertificate) for the names clients
	// dial; the emulator chooses the ALPN protocol itself ("h2" for gRPC
	// clients, "http/1.1" for clients that offer it, such as browsers).
	// Default nil: plaintext.
	TLS *tls.Config
	// Endpoint is the base endpoint the emulator announces, as a Momento
	// region does: GenerateDisposableToken replies carry it, and SDKs
	// derive cache.<Endpoint>, control.<Endpoint> and token.<Endpoint>
	// from it (for a disposable token without endpoint overrides, or with
	// a v2 api key). It may include a port ("momento.test:9443"). Those
	// names must resolve to this emulator (e.g. /etc/hosts) and, since
	// the SDKs then assume TLS, Config.TLS must cover them. Default: the
	// listen address, Addr().
	Endpoint string
	// AdminSecret is the bearer token AdminHandler requires, at least 16
	// bytes. Default: 32 random bytes in hex, new for every Start unless
	// passed again (Config returns it).
	AdminSecret string
	// Logger receives one debug line per call (method, status, latency)
	// and never a key or secret. Default: discard.
	Logger *slog.Logger

	// SigningKey is the HMAC secret the emulator signs api keys with, at
	// least 32 bytes. Default: 32 random bytes. Set it (with Addr) to
	// restart an emulator whose root key and issued tokens stay valid.
	SigningKey []byte
	// HeartbeatInterval is how often a subscription receives a heartbeat
	// (the first message is always one). Default 5s.
	HeartbeatInterval time.Duration
	// SubscriberBuffer is how many messages may wait for one slow
	// subscriber; past it messages are dropped for that subscriber, which
	// then receives a discontinuity. Default 256.
	SubscriberBuffer int
	// TopicHistory is how many recent messages per topic are kept for
	// subscriptions that resume from a sequence number. Default 256.
	TopicHistory int
	// MaxTokenRequests is how many GenerateDisposableToken requests
	// TokenRequests keeps: the newest ones, older ones are dropped, so a
	// long-running emulator does not grow without bound. Zero or negative
	// means the default, 10000 (DefaultMaxTokenRequests).
	MaxTokenRequests int
	// Now is the emulator's clock, for token expiry, cache TTLs and the
	// token quota. Default time.Now. Tests can move it forward to expire
	// tokens.
	Now func() time.Time
}

// withDefaults validates cfg and returns it with defaults filled in, plus
// the signing key to use.
func (cfg Config) withDefaults() (Config, []byte, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if len(cfg.Caches) == 0 {
		cfg.Caches = []string{DefaultCache}
	}
	cfg.Caches = slices.Clone(cfg.Caches)
	for _, c := range cfg.Caches {
		if err := validCacheName(c); err != nil {
			return cfg, nil, fmt.Errorf("%w: invalid cache name %q", ErrInvalidConfig, c)
		}
	}
	if cfg.AllowedOrigins == nil {
		cfg.AllowedOrigins = LoopbackOrigins()
	}
	cfg.AllowedOrigins = slices.Clone(cfg.AllowedOrigins)
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.SubscriberBuffer <= 0 {
		cfg.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if cfg.TopicHistory <= 0 {
		cfg.TopicHistory = DefaultTopicHistory
	}
	if cfg.MaxTokenRequests <= 0 {
		cfg.MaxTokenRequests = DefaultMaxTokenRequests
	}
	if cfg.TokenQuota < 0 {
		return cfg, nil, fmt.Errorf("%w: TokenQuota must not be negative", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if strings.Contains(cfg.Endpoint, "/") || strings.ContainsAny(cfg.Endpoint, " \t\r\n") {
		return cfg, nil, fmt.Errorf("%w: Endpoint must be a host name with an optional port, without a scheme or path", ErrInvalidConfig)
	}
	if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil && cfg.TLS.GetConfigForClient == nil {
		return cfg, nil, fmt.Errorf("%w: TLS needs a certificate (Certificates or GetCertificate)", ErrInvalidConfig)
	}
	switch {
	case cfg.AdminSecret == "":
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return cfg, nil, fmt.Errorf("momentolocal: generating admin secret: %w", err)
		}
		cfg.AdminSecret = hex.EncodeToString(b)
	case len(cfg.AdminSecret) < minAdminSecret:
		return cfg, nil, fmt.Errorf("%w: AdminSecret must be at least %d bytes", ErrInvalidConfig, minAdminSecret)
	}
	secret := slices.Clone(cfg.SigningKey)
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return cfg, nil, fmt.Errorf("momentolocal: generating signing key: %w", err)
		}
	} else if len(secret) < 32 {
		return cfg, nil, fmt.Errorf("%w: SigningKey must be at least 32 bytes", ErrInvalidConfig)
	}
	return cfg, secret, nil
}
