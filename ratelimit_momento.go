package tvm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/responses"
	"github.com/momentohq/client-sdk-go/utils"
)

// Defaults of the Momento rate limiter.
const (
	// DefaultMomentoRateLimitWindow is the default
	// MomentoRateLimitOptions.Window.
	DefaultMomentoRateLimitWindow = time.Minute
	// DefaultMomentoRateLimitTimeout is the default
	// MomentoRateLimitOptions.Timeout.
	DefaultMomentoRateLimitTimeout = 500 * time.Millisecond
	// DefaultMomentoRateLimitKeyPrefix is the default
	// MomentoRateLimitOptions.KeyPrefix.
	DefaultMomentoRateLimitKeyPrefix = "tvm-rl:"
)

// MomentoRateLimitOptions configures a MomentoRateLimiter.
type MomentoRateLimitOptions struct {
	// CacheName is the Momento cache holding the counters. Required. The
	// client's credentials need read-write access to it.
	CacheName string
	// Limit is how many token requests each identity may make per Window,
	// across every instance. Required, at least 1.
	Limit int64
	// Window is the length of the fixed counting window, in whole
	// milliseconds, at least one second. Default
	// DefaultMomentoRateLimitWindow (1 minute).
	Window time.Duration
	// KeyPrefix starts every counter's key. Default "tvm-rl:". Give
	// different handlers sharing a cache different prefixes when they must
	// not share limits.
	KeyPrefix string
	// Timeout bounds each call to Momento. Default
	// DefaultMomentoRateLimitTimeout (500 ms).
	Timeout time.Duration
	// FailClosed refuses requests (503 with Retry-After) when Momento cannot
	// be asked. By default the limiter fails open: it lets the request
	// through (to Fallback when set) and logs a warning, because the limit
	// protects against abuse, and an outage of the counters should not
	// become an outage of token vending.
	FailClosed bool
	// Fallback, when set, decides instead when Momento cannot be asked, for
	// example a per-instance MemoryRateLimiter with a rate in line with
	// Limit. It takes precedence over FailClosed.
	Fallback RateLimiter
	// Logger receives the warnings about failed calls to Momento (at most
	// one per second). Default slog.Default(). They never contain a key or
	// token.
	Logger *slog.Logger
	// Now is the clock that picks the window. Default time.Now.
	Now func() time.Time
}

// MomentoRateLimiter is a RateLimiter whose counters live in Momento Cache,
// so that every instance of a token vending machine (processes, containers,
// Lambda functions) enforces one limit without another server.
//
// It counts requests per identity in fixed windows: each request increments
// the counter "<KeyPrefix><identity hash>:<window number>" (Momento's
// Increment, with a TTL of one window) and is refused with a
// *RateLimitError, waiting until the window ends, once the counter exceeds
// Limit. The identity hash is a SHA-256 of the authentication method and
// subject, so keys hold no user names. As with every fixed window counter,
// a client may make up to 2×Limit requests around a window boundary.
//
// Each request costs one Momento call (bounded by Timeout) before the
// token is vended or reused. Safe for concurrent use.
type MomentoRateLimiter struct {
	client     momento.CacheClient
	cache      string
	limit      int64
	window     time.Duration
	prefix     string
	timeout    time.Duration
	failClosed bool
	fallback   RateLimiter
	log        *slog.Logger
	now        func() time.Time
	lastWarn   atomic.Int64 // unix nanoseconds of the last warning
	err        error        // configuration error: the limiter refuses everything
}

// NewMomentoRateLimiter returns a rate limiter counting in the cache
// opts.CacheName through client (for example from
// momento.NewCacheClient(config.InRegionLatest(), provider, time.Minute)).
// The caller keeps ownership of client and closes it. It does not contact
// Momento; it returns an error wrapping ErrInvalidConfig for a missing
// client, cache name or limit, or an out-of-range duration.
func NewMomentoRateLimiter(client momento.CacheClient, opts MomentoRateLimitOptions) (*MomentoRateLimiter, error) {
	l := MomentoRateLimit(client, opts).(*MomentoRateLimiter)
	if l.err != nil {
		return nil, l.err
	}
	return l, nil
}

// MomentoRateLimit is NewMomentoRateLimiter for use inline in a Config: it
// never returns nil. When the options are invalid the limiter refuses every
// request and its Validate method returns the error, so NewHandler fails.
func MomentoRateLimit(client momento.CacheClient, opts MomentoRateLimitOptions) RateLimiter {
	l := &MomentoRateLimiter{
		client: client, cache: opts.CacheName, limit: opts.Limit, window: opts.Window,
		prefix: opts.KeyPrefix, timeout: opts.Timeout, failClosed: opts.FailClosed,
		fallback: opts.Fallback, log: opts.Logger, now: opts.Now,
	}
	if l.window == 0 {
		l.window = DefaultMomentoRateLimitWindow
	}
	if l.prefix == "" {
		l.prefix = DefaultMomentoRateLimitKeyPrefix
	}
	if l.timeout == 0 {
		l.timeout = DefaultMomentoRateLimitTimeout
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	switch {
	case isNil(client):
		l.err = &ConfigError{Field: "MomentoRateLimiter client", Problem: "required"}
	case opts.CacheName == "":
		l.err = &ConfigError{Field: "MomentoRateLimitOptions.CacheName", Problem: "required"}
	case opts.Limit < 1:
		l.err = &ConfigError{Field: "MomentoRateLimitOptions.Limit", Problem: "must be at least 1"}
	case l.window < time.Second || l.window%time.Millisecond != 0:
		l.err = &ConfigError{Field: "MomentoRateLimitOptions.Window", Problem: "must be whole milliseconds, at least 1s"}
	case l.timeout < 0:
		l.err = &ConfigError{Field: "MomentoRateLimitOptions.Timeout", Problem: "must not be negative"}
	case opts.Fallback != nil && isNil(opts.Fallback):
		l.err = &ConfigError{Field: "MomentoRateLimitOptions.Fallback", Problem: "nil"}
	}
	return l
}

// Validate returns the configuration error, if any.
func (l *MomentoRateLimiter) Validate() error { return l.err }

// key returns the counter key of id in the window containing now, and the
// end of that window.
func (l *MomentoRateLimiter) key(id Identity, now time.Time) (string, time.Time) {
	var buf [128]byte
	b := appendKeyField(buf[:0], id.Method)
	b = appendKeyField(b, id.Subject)
	sum := sha256.Sum256(b)
	w := now.UnixMilli() / l.window.Milliseconds()
	end := time.UnixMilli((w + 1) * l.window.Milliseconds())
	k := make([]byte, 0, len(l.prefix)+43+1+20)
	k = append(k, l.prefix...)
	k = base64.RawURLEncoding.AppendEncode(k, sum[:])
	k = append(k, ':')
	k = strconv.AppendInt(k, w, 10)
	return string(k), end
}

// Allow increments id's counter for the current window and refuses the
// request with a *RateLimitError once it exceeds the limit.
func (l *MomentoRateLimiter) Allow(ctx context.Context, id Identity) error {
	if l.err != nil {
		return l.err
	}
	now := l.now()
	key, end := l.key(id, now)
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	resp, err := l.client.Increment(cctx, &momento.IncrementRequest{
		CacheName: l.cache,
		Field:     momento.String(key),
		Amount:    1,
		Ttl:       &utils.CollectionTtl{Ttl: l.window, RefreshTtl: true},
	})
	if err == nil {
		ok, isOK := resp.(*responses.IncrementSuccess)
		if !isOK || ok == nil {
			err = fmt.Errorf("unexpected response %T", resp)
		} else {
			if ok.Value() > l.limit {
				return &RateLimitError{Wait: end.Sub(now)}
			}
			return nil
		}
	}
	if ctx.Err() != nil { // the client went away: nothing to decide
		return fmt.Errorf("%w: %w", ErrUpstreamUnavailable, ctx.Err())
	}
	return l.unavailable(ctx, id, err)
}

// unavailable decides when Momento could not be asked.
func (l *MomentoRateLimiter) unavailable(ctx context.Context, id Identity, err error) error {
	msg := err.Error()
	var se sdkError
	if errors.As(err, &se) {
		msg = se.Code() + ": " + se.Message()
	}
	msg = sanitize(msg, nil)
	decision := "allowing the request (fail open)"
	switch {
	case l.fallback != nil:
		decision = "using the fallback limiter"
	case l.failClosed:
		decision = "refusing the request (fail closed)"
	}
	if now := time.Now().UnixNano(); now-l.lastWarn.Load() >= int64(time.Second) {
		l.lastWarn.Store(now)
		l.log.LogAttrs(ctx, slog.LevelWarn, "tvm: rate limiter cannot reach Momento",
			slog.String("cache", l.cache), slog.String("decision", decision), slog.String("error", msg))
	}
	switch {
	case l.fallback != nil:
		return l.fallback.Allow(ctx, id)
	case l.failClosed:
		return fmt.Errorf("%w: rate limiter: %s", ErrUpstreamUnavailable, msg)
	}
	return nil
}
