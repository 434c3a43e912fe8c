package tvm

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// Defaults of token reuse.
const (
	// DefaultReuseMinRemaining is the default ReuseOptions.MinRemaining: a
	// token is handed again while more than half of its lifetime remains.
	DefaultReuseMinRemaining = 0.5
	// DefaultReuseMaxEntries is the default ReuseOptions.MaxEntries.
	DefaultReuseMaxEntries = 10000
)

// ReuseOptions configures token reuse and request coalescing, both on by
// default.
//
// Reuse: a token vended to an identity is handed again to the same identity
// (same authentication method and subject) for the same request, that is the
// same resolved scope, token id and configured TTL, while more than
// MinRemaining of the lifetime a fresh token would get remains, and never
// when it would outlive the caller's credential (Identity.ExpiresAt). The
// response's expiresAt is the token's real expiry. Two identities never
// share a token: the method and subject are part of the key.
//
// Coalescing: concurrent requests that would vend the same token (same key
// and same effective TTL) cause one upstream call; every waiting request
// gets its result, token or error. A request whose context ends stops
// waiting without cancelling the call for the others, which stays bounded by
// Config.VendTimeout.
//
// Both live in the memory of one Handler: they are per instance, not shared
// between processes or Lambda functions.
type ReuseOptions struct {
	// Disabled turns reuse and coalescing off: every request vends a new
	// token.
	Disabled bool
	// MinRemaining is the fraction, strictly between 0 and 1, of the
	// lifetime a fresh token would get (the effective TTL of the request)
	// that a kept token must still have to be handed again. Default
	// DefaultReuseMinRemaining (0.5).
	MinRemaining float64
	// MaxEntries bounds the number of kept tokens; the least recently used
	// is dropped first. Default DefaultReuseMaxEntries (10,000 tokens, a few
	// megabytes).
	MaxEntries int
}

func (o ReuseOptions) withDefaults() (ReuseOptions, error) {
	if o.MinRemaining == 0 {
		o.MinRemaining = DefaultReuseMinRemaining
	}
	if !(o.MinRemaining > 0 && o.MinRemaining < 1) { // also refuses NaN
		return o, &ConfigError{Field: "Config.Reuse.MinRemaining", Problem: "must be between 0 and 1 (exclusive)"}
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultReuseMaxEntries
	}
	if o.MaxEntries < 0 {
		return o, &ConfigError{Field: "Config.Reuse.MaxEntries", Problem: "must not be negative"}
	}
	return o, nil
}

// reuseKey identifies what a vended token is: who it was vended to and
// everything it carries. It is a SHA-256 of length-prefixed fields, so
// that no two different inputs share a key and an entry costs 32 bytes of
// key whatever the length of the subject.
type reuseKey [sha256.Size]byte

// makeReuseKey keys a token by the identity's method and subject, the token
// id, the configured TTL (before capping to the credential's lifetime; the
// lookup checks the expiry) and the exact resolved scope, permission by
// permission in order.
func makeReuseKey(id Identity, g Grant, ttl time.Duration) reuseKey {
	var buf [256]byte
	b := buf[:0]
	b = appendKeyField(b, id.Method)
	b = appendKeyField(b, id.Subject)
	b = appendKeyField(b, g.TokenID)
	b = binary.AppendUvarint(b, uint64(ttl))
	b = binary.AppendUvarint(b, uint64(len(g.Scope.Permissions)))
	for i := range g.Scope.Permissions {
		p := &g.Scope.Permissions[i]
		b = appendKeyField(b, string(p.Role))
		b = appendKeyField(b, p.Cache)
		b = appendKeyField(b, p.Topic)
		b = appendKeyField(b, p.TopicPrefix)
		b = appendKeyField(b, p.Key)
		b = appendKeyField(b, p.KeyPrefix)
	}
	return sha256.Sum256(b)
}

func appendKeyField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// tokenCache is a bounded LRU of vended tokens. Safe for concurrent use.
type tokenCache struct {
	minRemaining float64
	max          int

	mu    sync.Mutex
	ll    list.List // front: most recently used; values are *cacheEntry
	items map[reuseKey]*list.Element
}

type cacheEntry struct {
	key reuseKey
	tok Token
}

func newTokenCache(o ReuseOptions) *tokenCache {
	return &tokenCache{minRemaining: o.MinRemaining, max: o.MaxEntries, items: make(map[reuseKey]*list.Element)}
}

// usable reports whether tok may be handed to a caller at now, whose fresh
// token would live ttl and whose credential expires at credExp (zero: never).
func (c *tokenCache) usable(tok Token, now time.Time, ttl time.Duration, credExp time.Time) bool {
	remaining := tok.ExpiresAt.Sub(now)
	if remaining <= 0 || float64(remaining) < c.minRemaining*float64(ttl) {
		return false
	}
	// Never outlive the caller's credential.
	return credExp.IsZero() || !tok.ExpiresAt.After(credExp)
}

// get returns the kept token for key if it is usable now. An unusable entry
// is left in place: the caller vends and replaces it.
func (c *tokenCache) get(key reuseKey, now time.Time, ttl time.Duration, credExp time.Time) (Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return Token{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.usable(e.tok, now, ttl, credExp) {
		return Token{}, false
	}
	c.ll.MoveToFront(el)
	return e.tok, true
}

// put keeps tok under key, dropping the least recently used entries beyond
// the bound.
func (c *tokenCache) put(key reuseKey, tok Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*cacheEntry).tok = tok
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, tok: tok})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

// len returns the number of kept tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// obtain returns a token for the grant g of the identity id: a kept one, the
// result of a concurrent identical request, or a new one from the vendor.
// baseTTL is the TTL before capping to the credential's lifetime (g.TTL is
// after).
func (h *Handler) obtain(ctx context.Context, id Identity, g Grant, baseTTL time.Duration, now time.Time, res *Result) (Token, error) {
	if h.cache == nil {
		vctx, cancel := context.WithTimeout(ctx, h.vendTimeout)
		defer cancel()
		return h.callVendor(vctx, g)
	}
	key := makeReuseKey(id, g, baseTTL)
	if tok, ok := h.cache.get(key, now, g.TTL, id.ExpiresAt); ok {
		res.Reused = true
		return tok, nil
	}
	return h.sharedVend(ctx, id, g, key, now, res)
}

// sharedVend vends for a request whose token is not kept, sharing the call
// with concurrent identical requests. (A function of its own, so that what
// the shared call captures is allocated on this path only.)
func (h *Handler) sharedVend(ctx context.Context, id Identity, g Grant, key reuseKey, now time.Time, res *Result) (Token, error) {
	// Only requests asking for exactly the same lifetime share a call, so
	// that nobody receives a token outliving its credential.
	var fk [sha256.Size + 8]byte
	copy(fk[:], key[:])
	binary.BigEndian.PutUint64(fk[sha256.Size:], uint64(g.TTL))
	leader, hit := false, false
	ch := h.flight.DoChan(string(fk[:]), func() (any, error) {
		leader = true
		// A call for this key may have ended between the lookup above and
		// now: its token is kept.
		if tok, ok := h.cache.get(key, now, g.TTL, id.ExpiresAt); ok {
			hit = true
			return tok, nil
		}
		// The call belongs to every waiting request: the first caller's
		// cancellation must not end it for the others.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.vendTimeout)
		defer cancel()
		tok, err := h.callVendorRecover(vctx, g)
		if err == nil {
			h.cache.put(key, tok)
		}
		return tok, err
	})
	if h.testFlightJoined != nil {
		h.testFlightJoined()
	}
	select {
	case r := <-ch:
		// leader and hit were written before the result was sent.
		res.Coalesced, res.Reused = !leader, hit
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, fmt.Errorf("tvm: request ended while waiting for the vend: %w", ctx.Err())
	}
}

// callVendorRecover is callVendor for a call shared by several requests,
// which runs outside any request's goroutine: a panic of the vendor becomes
// an error (logged like the handler logs panics, type and stack only),
// rather than crashing the process.
func (h *Handler) callVendorRecover(ctx context.Context, g Grant) (tok Token, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "tvm: panic in the vendor",
				slog.String("panic", fmt.Sprintf("%T", rec)),
				slog.String("stack", string(debug.Stack())))
			tok, err = Token{}, fmt.Errorf("tvm: vendor panicked (%T)", rec)
		}
	}()
	return h.callVendor(ctx, g)
}

// callVendor calls the vendor, with retries, under ctx (already bounded by
// the vend timeout), and checks its answer.
func (h *Handler) callVendor(ctx context.Context, g Grant) (Token, error) {
	tok, err := h.vendWithRetry(ctx, g)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) &&
			!errors.Is(err, ErrUpstreamRejected) && !errors.Is(err, ErrUpstreamUnavailable) && !errors.Is(err, ErrUpstreamTimeout) {
			// The vendor did not classify its failure; the deadline did.
			err = &VendError{Kind: ErrUpstreamTimeout, Err: err}
		}
		return Token{}, err
	}
	if tok.AuthToken == "" {
		return Token{}, &stageError{http.StatusInternalServerError, CodeInternal, "internal error", errors.New("tvm: vendor returned an empty token")}
	}
	if tok.ExpiresAt.IsZero() {
		tok.ExpiresAt = h.now().Add(g.TTL)
	}
	return tok, nil
}
