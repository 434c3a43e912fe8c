package jwtauth

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/internal/testenv"
)

// jtCounter counts the calls of an issuer's CheckClaims: a cache hit does
// not call it.
type jtCounter struct {
	mu sync.Mutex
	n  int
}

func (c *jtCounter) check(map[string]any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}

func (c *jtCounter) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestCacheHitSkipsVerification(t *testing.T) {
	ks := jtKeys(t)
	var n jtCounter
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	cfg.Issuers[0].CheckClaims = n.check
	a := jtMustNew(t, cfg)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
	first, err := a.VerifyToken(context.Background(), tok)
	require.NoError(t, err)
	second, err := a.VerifyToken(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.Equal(t, 1, n.calls(), "the second request hit the cache")

	cfg.DisableCache = true
	b := jtMustNew(t, cfg)
	for range 3 {
		_, err := b.VerifyToken(context.Background(), tok)
		require.NoError(t, err)
	}
	assert.Equal(t, 4, n.calls(), "DisableCache verifies every time")
}

// TestCachePoisoning: only a byte-for-byte copy of a verified token hits;
// failures are never cached; an entry ends at exp and when its key leaves
// the key set.
func TestCachePoisoning(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	clock := testenv.NewClock(jtNow)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
	var n jtCounter
	cfg := jtConfig()
	cfg.Issuers[0].JWKSURL = srv.URL()
	cfg.Issuers[0].CheckClaims = n.check
	cfg.Now = clock.Now
	a := jtMustNew(t, cfg)

	good := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
	_, err := a.VerifyToken(context.Background(), good)
	require.NoError(t, err)

	t.Run("forged variants of a cached token miss and fail", func(t *testing.T) {
		parts := strings.Split(good, ".")
		admin := jtBaseClaims()
		admin["sub"], admin["groups"] = "admin", []any{"Admins"}
		for name, tok := range map[string]string{
			"another payload, the cached signature":  parts[0] + "." + jtJSONB64(t, admin) + "." + parts[2],
			"the cached token signed by an attacker": jtSign(t, jwt.SigningMethodRS256, ks.rsaAttacker, jtRSAKID, jtBaseClaims(), nil),
			"a flipped signature bit":                parts[0] + "." + parts[1] + "." + flipLast(parts[2]),
			"alg none with the cached payload":       jtUnsigned(t, map[string]any{"alg": "none", "kid": jtRSAKID}, jtBaseClaims()),
		} {
			assert.Equal(t, TokenBadSignature, notOK(jtVerifyCode(t, a, tok)), name)
		}
	})

	t.Run("failures are not cached", func(t *testing.T) {
		c := jtBaseClaims()
		tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa2, jtRSA2KID, c, nil)
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, tok), "rsa2 not published yet")
		srv.set("ok", jtJWKS(t,
			jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey},
			jtJWK{kid: jtRSA2KID, alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey}))
		jtResetLimiter(t, a)
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, tok), "the refusal was not remembered")
	})

	t.Run("an entry ends at exp", func(t *testing.T) {
		c := jtBaseClaims()
		c["exp"] = jtNow.Add(time.Minute).Unix()
		tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil)
		require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, tok))
		clock.Set(jtNow.Add(time.Minute + 10*time.Second)) // past exp, inside the leeway
		before := n.calls()
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, tok), "verified again (leeway)")
		assert.Equal(t, before+1, n.calls(), "not a cache hit past exp")
		clock.Set(jtNow.Add(time.Minute + time.Hour))
		assert.Equal(t, TokenExpired, jtVerifyCode(t, a, tok))
		clock.Set(jtNow)
	})

	t.Run("an entry ends when its key leaves the key set", func(t *testing.T) {
		require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, good))
		before := n.calls()
		require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, good))
		require.Equal(t, before, n.calls(), "a hit")
		// The issuer rotates rsa1 out; the next refresh (an unknown kid)
		// replaces the set.
		srv.set("ok", jtJWKS(t, jtJWK{kid: jtRSA2KID, alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey}))
		jtResetLimiter(t, a)
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 7)))
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, good), "the cached token of the removed key is refused")
	})

	t.Run("an entry ends when its kid names another key", func(t *testing.T) {
		srv.set("ok", jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
		jtResetLimiter(t, a)
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 8)))
		require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, good))
		// Same kid, another key: the entry's key is gone.
		srv.set("ok", jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey}))
		jtResetLimiter(t, a)
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 9)))
		assert.Equal(t, TokenBadSignature, jtVerifyCode(t, a, good))
	})
}

// notOK maps success to "accepted", so that a forged token hitting the
// cache fails the comparison loudly.
func notOK(c TokenErrorCode) TokenErrorCode {
	if c == "" {
		return "accepted"
	}
	if c == TokenBadAlgorithm || c == TokenMalformed {
		return TokenBadSignature // refused before the signature check: as good
	}
	return c
}

func flipLast(seg string) string {
	b := []byte(seg)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

// TestCacheBounded: the cache never holds more than CacheSize tokens, and
// keeps the ones in use.
func TestCacheBounded(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtEdKID: ks.ed1.Public()}
	cfg.CacheSize = 100
	a := jtMustNew(t, cfg)
	hot := jtSign(t, jwt.SigningMethodEdDSA, ks.ed1, jtEdKID, jtBaseClaims(), nil)
	for i := range 1000 {
		c := jtBaseClaims()
		c["sub"] = fmt.Sprintf("user-%d", i)
		_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodEdDSA, ks.ed1, jtEdKID, c, nil))
		require.NoError(t, err)
		_, err = a.VerifyToken(context.Background(), hot)
		require.NoError(t, err)
		require.LessOrEqual(t, a.cache.len(), 100)
	}
	h := hashToken(hot)
	_, ok := a.cache.get(h, jtNow)
	assert.True(t, ok, "the token in use stays")
	require.NoError(t, a.Close())
	assert.Zero(t, a.cache.len(), "Close empties the cache")
}

// TestCacheConcurrent runs hits, misses and failures together (go test
// -race).
func TestCacheConcurrent(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtConfig()
	cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtEdKID: ks.ed1.Public()}
	cfg.CacheSize = 16
	a := jtMustNew(t, cfg)
	var toks []string
	for i := range 32 {
		c := jtBaseClaims()
		c["sub"] = fmt.Sprintf("user-%d", i)
		toks = append(toks, jtSign(t, jwt.SigningMethodEdDSA, ks.ed1, jtEdKID, c, nil))
	}
	forged := jtSign(t, jwt.SigningMethodRS256, ks.rsaAttacker, jtEdKID, jtBaseClaims(), nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				tok := toks[(g*7+i)%len(toks)]
				if i%5 == 0 {
					tok = forged
				}
				r.Header.Set("Authorization", "Bearer "+tok)
				id, err := a.Authenticate(r)
				if tok == forged {
					assert.Error(t, err)
				} else if assert.NoError(t, err) {
					assert.Equal(t, strings.TrimPrefix(id.Subject, "user-"), id.Subject[5:])
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkAuthenticateCached is the cost of a token seen before: the
// bearer parse, a SHA-256 of the token, a map lookup and the key check.
func BenchmarkAuthenticateCached(b *testing.B) {
	ks := jtKeys(b)
	for _, bc := range []struct {
		name    string
		disable bool
		jwks    bool
	}{{"RS256/cached/Keys", false, false}, {"RS256/cached/JWKS", false, true}, {"RS256/uncached/JWKS", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := jtConfig()
			cfg.Now = nil
			cfg.DisableCache = bc.disable
			if bc.jwks {
				cfg.Issuers[0].JWKSJSON = jtDefaultJWKS(b)
			} else {
				cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
			}
			a, err := New(cfg)
			require.NoError(b, err)
			defer a.Close()
			c := jtBaseClaims()
			c["exp"], c["iat"], c["nbf"] = time.Now().Add(time.Hour).Unix(), time.Now().Unix(), time.Now().Unix()
			r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
			r.Header.Set("Authorization", "Bearer "+jtSign(b, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// len returns the number of entries.
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
