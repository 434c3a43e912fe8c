package jwtauth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/tvmgo/tvm"
)

// tokenHash is the cache key of a token: the SHA-256 of all of it, so a
// token that differs in any byte, its signature included, has its own.
type tokenHash [sha256.Size]byte

func hashToken(raw string) tokenHash { return sha256.Sum256([]byte(raw)) }

// cacheEntry is a verified token: its identity, until when it holds, and
// the key that verified it.
type cacheEntry struct {
	id   tvm.Identity
	exp  time.Time // the token's own exp
	keys keySource
	kid  string
	key  any
}

// verifiedCache keeps the identities of verified tokens (Config.CacheSize).
// It holds two generations of at most half the size each: new entries go
// into the current one; when it is full it becomes the old one and the
// previous old one is dropped; a hit in the old generation moves the entry
// to the current one. So it is bounded, costs O(1) per operation, and keeps
// the tokens in use.
type verifiedCache struct {
	half int

	mu       sync.Mutex
	cur, old map[tokenHash]*cacheEntry
}

func newVerifiedCache(size int) *verifiedCache {
	half := max(size/2, 1)
	return &verifiedCache{half: half, cur: make(map[tokenHash]*cacheEntry, half)}
}

// get returns the identity of a cached token if it still holds at now:
// its exp has not passed, and the key that verified it is still in its
// issuer's key set. An entry that no longer holds is removed. Only a token
// identical to a verified one, byte for byte, can hit.
func (c *verifiedCache) get(h tokenHash, now time.Time) (tvm.Identity, bool) {
	c.mu.Lock()
	e, ok := c.cur[h]
	if !ok {
		if e, ok = c.old[h]; ok {
			delete(c.old, h)
			c.insertLocked(h, e)
		}
	}
	c.mu.Unlock()
	if !ok {
		return tvm.Identity{}, false
	}
	if !now.Before(e.exp) || !sameKey(e.key, e.keys.current(e.kid)) {
		c.mu.Lock()
		if c.cur[h] == e {
			delete(c.cur, h)
		}
		c.mu.Unlock()
		return tvm.Identity{}, false
	}
	return e.id, true
}

// put keeps a verified token.
func (c *verifiedCache) put(h tokenHash, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.old, h)
	c.insertLocked(h, &e)
}

func (c *verifiedCache) insertLocked(h tokenHash, e *cacheEntry) {
	if _, ok := c.cur[h]; !ok && len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[tokenHash]*cacheEntry, c.half)
	}
	c.cur[h] = e
}

// clear drops every entry.
func (c *verifiedCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.old = make(map[tokenHash]*cacheEntry), nil
}
