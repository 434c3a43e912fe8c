package tvm

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults of token reuse.
const (
	defaultReuseMinRemaining = 0.5
	defaultReuseMaxEntries   = 10000
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
	// that a kept token must still have to be handed again. Default 0.5.
	MinRemaining float64
	// MaxEntries bounds the number of kept tokens; the least recently used
	// is dropped first. Default 10,000 tokens (a few megabytes).
	MaxEntries int
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
	b = binary.AppendUvarint(b, uint64(len(g.Scope)))
	for i := range g.Scope {
		p := &g.Scope[i]
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

// reuser keeps vended tokens and shares concurrent identical vends.
type reuser struct {
	cache  tokenCache
	flight singleflight.Group
}

// newReuser checks o, recording its problems, and returns a reuser.
func newReuser(o ReuseOptions, probs *problems) *reuser {
	o.MinRemaining = orDefault(o.MinRemaining, defaultReuseMinRemaining)
	if !(o.MinRemaining > 0 && o.MinRemaining < 1) { // also refuses NaN
		probs.add("Config.Reuse.MinRemaining", "must be between 0 and 1 (exclusive)")
	}
	o.MaxEntries = orDefault(o.MaxEntries, defaultReuseMaxEntries)
	if o.MaxEntries < 0 {
		probs.add("Config.Reuse.MaxEntries", "must not be negative")
	}
	return &reuser{cache: tokenCache{minRemaining: o.MinRemaining, max: o.MaxEntries, items: make(map[reuseKey]*list.Element)}}
}

// Sources of a token (Result.Source).
const (
	sourceVended    = "vended"
	sourceReused    = "reused"
	sourceCoalesced = "coalesced"
)

// obtain returns a token for the grant g of the identity id, and where it
// came from: a kept one, the result of a concurrent identical request, or a
// new one from the vendor. ruleTTL is the TTL before capping to the
// credential's lifetime (g.TTL is after).
func (h *Handler) obtain(ctx context.Context, id Identity, g Grant, ruleTTL time.Duration, now time.Time) (Token, string, error) {
	if h.reuse == nil {
		tok, err := h.callVendor(ctx, g)
		return tok, sourceVended, err
	}
	key := makeReuseKey(id, g, ruleTTL)
	if tok, ok := h.reuse.cache.get(key, now, g.TTL, id.ExpiresAt); ok {
		return tok, sourceReused, nil
	}
	return h.sharedVend(ctx, id, g, key, now)
}

// sharedVend vends for a request whose token is not kept, sharing the call
// with concurrent identical requests. (A function of its own, so that what
// the shared call captures is allocated on this path only.)
func (h *Handler) sharedVend(ctx context.Context, id Identity, g Grant, key reuseKey, now time.Time) (Token, string, error) {
	// Only requests asking for exactly the same lifetime share a call, so
	// that nobody receives a token outliving its credential.
	var fk [sha256.Size + 8]byte
	copy(fk[:], key[:])
	binary.BigEndian.PutUint64(fk[sha256.Size:], uint64(g.TTL))
	leader, source := false, sourceVended
	ch := h.reuse.flight.DoChan(string(fk[:]), func() (any, error) {
		leader = true
		// A call for this key may have ended between the lookup and now:
		// its token is kept.
		if tok, ok := h.reuse.cache.get(key, now, g.TTL, id.ExpiresAt); ok {
			source = sourceReused
			return tok, nil
		}
		// The call belongs to every waiting request: the first caller's
		// cancellation must not end it for the others.
		tok, err := h.callVendorRecover(context.WithoutCancel(ctx), g)
		if err == nil {
			h.reuse.cache.put(key, tok)
		}
		return tok, err
	})
	select {
	case r := <-ch:
		// leader and source were written before the result was sent.
		if !leader {
			source = sourceCoalesced
		}
		if r.Err != nil {
			return Token{}, source, r.Err
		}
		return r.Val.(Token), source, nil
	case <-ctx.Done():
		return Token{}, "", fmt.Errorf("tvm: request ended while waiting for the vend: %w", ctx.Err())
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
