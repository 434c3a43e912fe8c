package tvm

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/responses"
	"github.com/momentohq/client-sdk-go/utils"
)

// minCounterSecret is the shortest MomentoRateLimitConfig.Secret, in bytes.
const minCounterSecret = 32

// MomentoRateLimitConfig configures a MomentoRateLimiter.
type MomentoRateLimitConfig struct {
	// Client is the Momento cache client holding the counters, for example
	// from momento.NewCacheClient(config.InRegionLatest(), provider,
	// time.Minute). Required. The caller keeps ownership of it and closes
	// it. Its credentials need read-write access to CacheName.
	Client momento.CacheClient
	// CacheName is the Momento cache holding the counters. Required. No
	// vended token may write it: NewHandler refuses scopes that could (see
	// Config), since a token that can write the counters could reset its
	// own or exhaust someone else's.
	CacheName string
	// Secret keys the HMAC-SHA256 that names the counters, so that nobody
	// without it can compute where a caller's counter is, even knowing the
	// caller's subject. Required, at least 32 bytes (of high entropy), the
	// same for every instance sharing the limits, and never logged. Derive
	// it from a secret every instance already holds, for example
	// HMAC-SHA256(Momento API key, "tvm rate limit counters"), as cmd/tvm
	// does. It is copied.
	Secret []byte
	// Limit is how many token requests each caller may make per Window,
	// across every instance. Required, at least 1.
	Limit int64
	// Window is the length of the fixed counting window, in whole
	// milliseconds, at least one second. Default one minute.
	Window time.Duration
	// KeyPrefix starts every counter's key. Default "tvm-rl:". Give
	// different handlers sharing a cache different prefixes when they must
	// not share limits.
	KeyPrefix string
	// Timeout bounds each call to Momento. Default 500 ms.
	Timeout time.Duration
	// FailClosed refuses requests (503 with Retry-After) when Momento cannot
	// be asked. By default the limiter fails open: it lets the request
	// through (to Fallback when set) and logs a warning, because the limit
	// protects against abuse, and an outage of the counters should not
	// become an outage of token vending.
	FailClosed bool
	// Fallback, when set, decides instead when Momento cannot be asked, for
	// example a per-instance MemoryRateLimiter with a rate in line with
	// Limit. It cannot be combined with FailClosed.
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
// It counts requests per caller in fixed windows: each request increments
// the counter "<KeyPrefix><key hash>:<window number>" (Momento's
// Increment, with a TTL of one window) and is refused with a
// *RateLimitError, waiting until the window ends, once the counter exceeds
// Limit. The key hash is an HMAC-SHA256 of the caller's key under Secret,
// so counter keys hold no user names and cannot be computed without the
// secret. As with every fixed window counter,
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
	secret     []byte
	timeout    time.Duration
	failClosed bool
	fallback   RateLimiter
	log        *slog.Logger
	now        func() time.Time
	lastWarn   atomic.Int64 // unix nanoseconds of the last warning
}

// NewMomentoRateLimiter returns a rate limiter for cfg. It does not
// contact Momento. It fails closed with *ConfigError values for a missing
// client, cache name, secret or limit, a secret shorter than 32 bytes, an
// out-of-range duration, or FailClosed together with a Fallback.
func NewMomentoRateLimiter(cfg MomentoRateLimitConfig) (*MomentoRateLimiter, error) {
	l := &MomentoRateLimiter{
		client: cfg.Client, cache: cfg.CacheName, limit: cfg.Limit,
		window:     orDefault(cfg.Window, time.Minute),
		prefix:     orDefault(cfg.KeyPrefix, "tvm-rl:"),
		secret:     slices.Clone(cfg.Secret),
		timeout:    orDefault(cfg.Timeout, 500*time.Millisecond),
		failClosed: cfg.FailClosed, fallback: cfg.Fallback,
		log: cfg.Logger, now: cfg.Now,
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	var probs problems
	if isNil(cfg.Client) {
		probs.add("MomentoRateLimitConfig.Client", "required")
	}
	if cfg.CacheName == "" {
		probs.add("MomentoRateLimitConfig.CacheName", "required")
	} else if p := nameProblem(cfg.CacheName); p != "" {
		probs.add("MomentoRateLimitConfig.CacheName", p)
	}
	if len(cfg.Secret) < minCounterSecret {
		probs.add("MomentoRateLimitConfig.Secret", "required, at least "+strconv.Itoa(minCounterSecret)+" bytes")
	}
	if cfg.Limit < 1 {
		probs.add("MomentoRateLimitConfig.Limit", "must be at least 1")
	}
	if l.window < time.Second || l.window > 24*time.Hour || l.window%time.Millisecond != 0 {
		probs.add("MomentoRateLimitConfig.Window", "must be whole milliseconds, between 1s and 24h (Momento's longest item TTL)")
	}
	if l.timeout < 0 {
		probs.add("MomentoRateLimitConfig.Timeout", "must not be negative")
	}
	if cfg.Fallback != nil && isNil(cfg.Fallback) {
		probs.add("MomentoRateLimitConfig.Fallback", "nil")
	}
	if cfg.Fallback != nil && cfg.FailClosed {
		probs.add("MomentoRateLimitConfig.FailClosed", "cannot be combined with Fallback (the fallback decides when Momento cannot be asked)")
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	return l, nil
}

// counterKey returns the counter key of key in the window containing now,
// and the end of that window.
func (l *MomentoRateLimiter) counterKey(key string, now time.Time) (string, time.Time) {
	mac := hmac.New(sha256.New, l.secret)
	mac.Write([]byte(key))
	var buf [sha256.Size]byte
	sum := mac.Sum(buf[:0])
	w := now.UnixMilli() / l.window.Milliseconds()
	end := time.UnixMilli((w + 1) * l.window.Milliseconds())
	k := make([]byte, 0, len(l.prefix)+43+1+20)
	k = append(k, l.prefix...)
	k = base64.RawURLEncoding.AppendEncode(k, sum)
	k = append(k, ':')
	k = strconv.AppendInt(k, w, 10)
	return string(k), end
}

// Allow increments key's counter for the current window and refuses the
// request with a *RateLimitError once it exceeds the limit.
func (l *MomentoRateLimiter) Allow(ctx context.Context, key string) error {
	now := l.now()
	counter, end := l.counterKey(key, now)
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	resp, err := l.client.Increment(cctx, &momento.IncrementRequest{
		CacheName: l.cache,
		Field:     momento.String(counter),
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
	return l.unavailable(ctx, key, err)
}

// unavailable decides when Momento could not be asked.
func (l *MomentoRateLimiter) unavailable(ctx context.Context, key string, err error) error {
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
	if now, last := time.Now().UnixNano(), l.lastWarn.Load(); now-last >= int64(time.Second) && l.lastWarn.CompareAndSwap(last, now) {
		l.log.LogAttrs(ctx, slog.LevelWarn, "tvm: rate limiter cannot reach Momento",
			slog.String("cache", l.cache), slog.String("decision", decision), slog.String("error", msg))
	}
	switch {
	case l.fallback != nil:
		return l.fallback.Allow(ctx, key)
	case l.failClosed:
		return fmt.Errorf("%w: rate limiter: %s", ErrUpstreamUnavailable, msg)
	}
	return nil
}
