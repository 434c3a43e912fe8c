package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
	"go.uber.org/goleak"
	"golang.org/x/time/rate"
)

// jtRemote makes an authenticator on srv's JWKS with a log buffer.
func jtRemote(t *testing.T, srv *jtJWKSServer, edit func(c *Config)) (*Authenticator, *jtLogBuffer) {
	t.Helper()
	cfg := jtConfig()
	cfg.Issuers[0].JWKSURL = srv.URL()
	return jtLogged(t, cfg, edit)
}

// jtLogged makes an authenticator of cfg, edited, that logs into the
// returned buffer.
func jtLogged(t *testing.T, cfg Config, edit func(c *Config)) (*Authenticator, *jtLogBuffer) {
	t.Helper()
	logs := &jtLogBuffer{}
	cfg.Logger = logs.logger()
	if edit != nil {
		edit(&cfg)
	}
	return jtMustNew(t, cfg), logs
}

// jtUnavailable is what jtVerifyCode returns for the error of an issuer
// whose key set was never fetched (503, not a TokenError).
const jtUnavailable TokenErrorCode = "(unavailable)"

// jtVerifyCode verifies tok and returns "" on success, jtUnavailable, or
// the TokenError code.
func jtVerifyCode(t *testing.T, a *Authenticator, tok string) TokenErrorCode {
	t.Helper()
	id, err := a.VerifyToken(context.Background(), tok)
	if err == nil {
		return ""
	}
	if errors.Is(err, tvm.ErrUpstreamUnavailable) {
		require.NotErrorIs(t, err, tvm.ErrInvalidCredentials)
		require.Equal(t, tvm.Identity{}, id)
		return jtUnavailable
	}
	var te *TokenError
	require.ErrorAs(t, err, &te, "every failure is a TokenError: %v", err)
	require.ErrorIs(t, err, tvm.ErrInvalidCredentials)
	return te.Code
}

func jtRSATok(t *testing.T, kid string) string {
	ks := jtKeys(t)
	key := ks.rsa1
	if kid == jtRSA2KID {
		key = ks.rsa2
	}
	return jtSign(t, jwt.SigningMethodRS256, key, kid, jtBaseClaims(), nil)
}

func jtRandomKIDTok(t *testing.T, i int) string {
	return jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, fmt.Sprintf("random-kid-%d", i), jtBaseClaims(), nil)
}

// jtEventually polls cond until it holds or the deadline passes. Only for
// effects of the background refresh, which has no other observable signal.
func jtEventually(t *testing.T, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRemoteDownAfterFirstFetch(t *testing.T) {
	jtNoLeak(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	a, logs := jtRemote(t, srv, func(c *Config) { c.RefreshInterval = time.Second })
	require.EqualValues(t, 1, srv.hits.Load(), "New fetched the key set once")
	good := jtRSATok(t, jtRSAKID)
	require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, good))

	srv.set("down", nil)
	assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 0)), "unknown kid triggers a refresh, which fails")
	assert.EqualValues(t, 2, srv.hits.Load())
	assert.Contains(t, logs.String(), "JWKS fetch failed")
	assert.Contains(t, logs.String(), "503")
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, good), "cached keys keep working while the endpoint is down")

	// The endpoint disappears entirely; background refreshes fail; the
	// cache is kept.
	srv.srv.Close()
	before := strings.Count(logs.String(), "JWKS fetch failed")
	jtEventually(t, 10*time.Second, func() bool {
		return strings.Count(logs.String(), "JWKS fetch failed") > before
	}, "a failed background refresh")
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, good), "cached keys keep working after failed background refreshes")
	assert.NotContains(t, logs.String(), good[strings.LastIndex(good, ".")+1:], "tokens are never logged")
}

func TestRemoteGarbage(t *testing.T) {
	jtNoLeak(t)
	t.Run("after the first fetch", func(t *testing.T) {
		srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
		a, logs := jtRemote(t, srv, nil)
		srv.set("garbage", nil)
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 0)))
		assert.EqualValues(t, 2, srv.hits.Load())
		assert.Contains(t, logs.String(), "failed to decode JWK Set response")
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)), "garbage does not replace the cached keys")
	})
	t.Run("at the first fetch", func(t *testing.T) {
		srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
		srv.set("garbage", nil)
		a, logs := jtRemote(t, srv, nil)
		assert.Contains(t, logs.String(), "failed to decode JWK Set response")
		// Never fetched: the issuer is unavailable (503), the token may be
		// fine (not a 401).
		assert.Equal(t, jtUnavailable, jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
		// The endpoint recovers: the next token with an unknown kid may
		// refresh once the rate limit allows; here the first lookup
		// already used it, so the issuer stays unavailable until then.
		srv.set("ok", nil)
		assert.Equal(t, jtUnavailable, jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
		assert.EqualValues(t, 2, srv.hits.Load())
		jtResetLimiter(t, a)
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
	})
	t.Run("a JWK Set with an invalid key", func(t *testing.T) {
		srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
		a, logs := jtRemote(t, srv, nil)
		srv.set("ok", []byte(`{"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]}`))
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 0)))
		assert.Contains(t, logs.String(), "JWKS fetch failed")
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
	})
}

func TestRemoteHugeBody(t *testing.T) {
	jtNoLeak(t)
	for _, mode := range []string{"huge", "huge-cl"} {
		t.Run(mode+" at the first fetch", func(t *testing.T) {
			srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
			srv.set(mode, nil)
			start := time.Now()
			a, logs := jtRemote(t, srv, func(c *Config) { c.MaxResponseBytes = 64 << 10 })
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Contains(t, logs.String(), errTooLarge.Error())
			assert.Equal(t, jtUnavailable, jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
		})
		t.Run(mode+" after the first fetch", func(t *testing.T) {
			srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
			a, logs := jtRemote(t, srv, func(c *Config) { c.MaxResponseBytes = 64 << 10 })
			srv.set(mode, nil)
			assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 0)))
			assert.Contains(t, logs.String(), errTooLarge.Error())
			assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
		})
	}
}

func TestLimitedBody(t *testing.T) {
	for _, tt := range []struct {
		size    int
		max     int64
		wantErr bool
	}{
		{0, 10, false},
		{10, 10, false},
		{11, 10, true},
		{1 << 20, 1000, true},
	} {
		b := &limitedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", tt.size))), left: tt.max}
		got, err := io.ReadAll(b)
		if tt.wantErr {
			assert.ErrorIs(t, err, errTooLarge, "size %d max %d", tt.size, tt.max)
			assert.LessOrEqual(t, int64(len(got)), tt.max)
			_, err = b.Read(make([]byte, 10))
			assert.ErrorIs(t, err, errTooLarge, "the error is sticky")
		} else {
			assert.NoError(t, err)
			assert.Len(t, got, tt.size)
		}
		assert.NoError(t, b.Close())
	}
}

func TestRemoteSlow(t *testing.T) {
	jtNoLeak(t)
	const timeout = 300 * time.Millisecond
	t.Run("at the first fetch", func(t *testing.T) {
		srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
		srv.set("slow", nil)
		start := time.Now()
		a, logs := jtRemote(t, srv, func(c *Config) { c.HTTPTimeout = timeout })
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, timeout/2)
		assert.Less(t, elapsed, 5*time.Second, "New is bounded by HTTPTimeout")
		assert.Contains(t, logs.String(), "JWKS fetch failed")

		start = time.Now()
		assert.Equal(t, jtUnavailable, jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
		assert.Less(t, time.Since(start), 5*time.Second, "a refresh on an unknown kid is bounded by HTTPTimeout")
	})
	t.Run("after the first fetch", func(t *testing.T) {
		srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
		a, _ := jtRemote(t, srv, func(c *Config) { c.HTTPTimeout = timeout })
		srv.set("slow", nil)
		start := time.Now()
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, 1)))
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
	})
	t.Run("the request context ends first", func(t *testing.T) {
		srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
		a, _ := jtRemote(t, srv, func(c *Config) { c.HTTPTimeout = 10 * time.Second })
		srv.set("slow", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := a.VerifyToken(ctx, jtRandomKIDTok(t, 2))
		var te *TokenError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, TokenUnknownKey, te.Code)
		assert.Less(t, time.Since(start), 5*time.Second, "a waiting request leaves when its context ends")
	})
}

func TestRemoteRotation(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
	a, _ := jtRemote(t, srv, nil)
	old, next := jtRSATok(t, jtRSAKID), jtRSATok(t, jtRSA2KID)
	require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, old))
	require.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, next), "not published yet")

	// The issuer rotates: publishes rsa2, removes rsa1. The limiter is empty
	// (the lookup above used it), so wait for the next period by making a
	// fresh authenticator, as a restart would.
	srv.set("ok", jtJWKS(t, jtJWK{kid: jtRSA2KID, alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey}))
	a2, _ := jtRemote(t, srv, nil)
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a2, next))
	assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a2, old), "the removed key no longer verifies")

	// The first authenticator picks the rotation up on an unknown-kid
	// refresh once its limiter allows; here we reset the limiter rather
	// than wait ten seconds.
	hits := srv.hits.Load()
	jtResetLimiter(t, a)
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, next), "the new key verifies after an unknown-kid refresh")
	assert.Equal(t, hits+1, srv.hits.Load())
	assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, old), "the removed key stops verifying after the refresh")
}

// jtResetLimiter refills the unknown-kid limiter of a remote authenticator.
func jtResetLimiter(t *testing.T, a *Authenticator) {
	t.Helper()
	ks := a.issuers[0].keys
	if d, ok := ks.(*discovered); ok {
		require.NotNil(t, d.inner.Load(), "discovery succeeded")
		ks = *d.inner.Load()
	}
	src, ok := ks.(*keyfuncSource)
	require.True(t, ok)
	g, ok := src.kf.Storage().(*gatedStorage)
	require.True(t, ok)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limiter = rate.NewLimiter(g.limiter.Limit(), 1)
}

func TestRemoteUnknownKIDFlood(t *testing.T) {
	jtNoLeak(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	a, _ := jtRemote(t, srv, nil)
	require.EqualValues(t, 1, srv.hits.Load())

	const n = 200
	var wg sync.WaitGroup
	var refused atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+jtRandomKIDTok(t, i))
			_, err := a.Authenticate(r)
			var te *TokenError
			if errors.As(err, &te) && te.Code == TokenUnknownKey {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, n, refused.Load())
	assert.EqualValues(t, 2, srv.hits.Load(), "a flood of random kids costs the issuer one request per period")
	for i := range 20 {
		assert.Equal(t, TokenUnknownKey, jtVerifyCode(t, a, jtRandomKIDTok(t, n+i)))
	}
	assert.EqualValues(t, 2, srv.hits.Load())
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)), "known keys are unaffected")
}

// TestRemoteRotationCoalesced checks that concurrent requests signed
// with a newly published key all succeed on a single refresh.
func TestRemoteRotationCoalesced(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
	a, _ := jtRemote(t, srv, nil)
	srv.set("ok", jtJWKS(t,
		jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey},
		jtJWK{kid: jtRSA2KID, alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey}))
	next := jtRSATok(t, jtRSA2KID)
	const n = 50
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.VerifyToken(context.Background(), next); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, n, ok.Load())
	assert.EqualValues(t, 2, srv.hits.Load())
}

func TestRemoteBackgroundRefresh(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey}))
	a, _ := jtRemote(t, srv, func(c *Config) { c.RefreshInterval = time.Second })
	old := jtRSATok(t, jtRSAKID)
	require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, old))
	srv.set("ok", jtJWKS(t, jtJWK{kid: jtRSA2KID, alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey}))
	jtEventually(t, 10*time.Second, func() bool { return jtVerifyCode(t, a, old) == TokenUnknownKey },
		"the background refresh to drop the removed key")
	assert.GreaterOrEqual(t, srv.hits.Load(), int64(2))
	// The new key was fetched by the background refresh, not on demand.
	hits := srv.hits.Load()
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSA2KID)))
	assert.LessOrEqual(t, srv.hits.Load(), hits+1)
}

func TestRemoteKeyAlgMismatch(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	// The issuer publishes rsa1 for RS384 only; a token claims RS256.
	srv := jtNewJWKSServer(t, jtJWKS(t,
		jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS384, key: &ks.rsa1.PublicKey},
		jtJWK{kid: "enc-key", alg: jwkset.AlgRS256, key: &ks.rsa2.PublicKey, use: jwkset.UseEnc}))
	a, _ := jtRemote(t, srv, nil)
	assert.Equal(t, TokenBadAlgorithm, jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)), "JWK alg must match the token alg")
	encTok := jtSign(t, jwt.SigningMethodRS256, ks.rsa2, "enc-key", jtBaseClaims(), nil)
	assert.Equal(t, TokenBadAlgorithm, jtVerifyCode(t, a, encTok), "an encryption key never verifies")
}

func TestRemoteWeakKey(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	srv := jtNewJWKSServer(t, jtJWKS(t, jtJWK{kid: "weak", alg: jwkset.AlgRS256, key: &ks.rsaWeak.PublicKey}))
	a, _ := jtRemote(t, srv, nil)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsaWeak, "weak", jtBaseClaims(), nil)
	assert.Equal(t, TokenBadAlgorithm, jtVerifyCode(t, a, tok), "RSA keys under 2048 bits are refused")
}

func TestRemoteUserHTTPClient(t *testing.T) {
	jtNoLeak(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	var seen atomic.Int64
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{
		Timeout: time.Hour,
		Transport: jtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen.Add(1)
			return transport.RoundTrip(r)
		}),
	}
	orig := *client
	a, _ := jtRemote(t, srv, func(c *Config) { c.HTTPClient = client })
	assert.EqualValues(t, 1, seen.Load(), "the caller's transport is used")
	assert.Equal(t, orig.Timeout, client.Timeout, "the caller's client is not modified")
	assert.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
}

func TestRemoteContextCancelStopsRefresh(t *testing.T) {
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	ignore := goleak.IgnoreCurrent() // the server's own goroutines
	ctx, cancel := context.WithCancel(context.Background())
	cfg := jtConfig()
	cfg.Issuers[0].JWKSURL = srv.URL()
	cfg.Context = ctx
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	a, err := New(cfg) // deliberately never closed
	require.NoError(t, err)
	require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
	cancel()
	goleak.VerifyNone(t, ignore)
}

func TestRemoteCloseStopsEverything(t *testing.T) {
	jtNoLeak(t)
	srv := jtNewJWKSServer(t, jtDefaultJWKS(t))
	cfg := jtConfig()
	cfg.Issuers[0].JWKSURL = srv.URL()
	cfg.RefreshInterval = time.Second
	a, err := New(cfg)
	require.NoError(t, err)
	require.Equal(t, TokenErrorCode(""), jtVerifyCode(t, a, jtRSATok(t, jtRSAKID)))
	require.NoError(t, a.Close())
	hits := srv.hits.Load()
	jtAssertClosed(t, a, jtRSATok(t, jtRSAKID))
	jtAssertClosed(t, a, jtRandomKIDTok(t, 0))
	assert.Equal(t, hits, srv.hits.Load(), "no fetch after Close")

	// A request that raced Close and reached the key source finds no key
	// for an unknown kid, and causes no fetch either.
	unknown := &jwt.Token{Method: jwt.SigningMethodRS256, Header: map[string]any{"alg": "RS256", "kid": "random-kid-after-close"}}
	_, err = a.issuers[0].keys.lookup(context.Background(), unknown, "random-kid-after-close")
	assert.ErrorIs(t, err, errUnknownKID)
	assert.Equal(t, hits, srv.hits.Load(), "no fetch by the key source after Close")
}
