package jwtauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	"github.com/tvmgo/tvm/internal/testenv"
)

// Test fixtures shared by the test files of the package (the fuzz target
// included). Their names start with "jt" (JWT test), which keeps them apart
// from the package's own names.

// jtNow is the fixed clock of the tests.
var jtNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func jtClock() time.Time { return jtNow }

const (
	jtIssuer   = "https://issuer.test/"
	jtAudience = "tvm-test"
	jtRSAKID   = "test-rsa-1"
	jtRSA2KID  = "test-rsa-2"
	jtECKID    = "test-ec-1"
	jtEdKID    = "test-ed-1"
)

// jtKeySet holds the TEST-ONLY keys of testdata/jwt.
type jtKeySet struct {
	rsa1, rsa2, rsaAttacker, rsaWeak *rsa.PrivateKey
	ec1, ecAttacker                  *ecdsa.PrivateKey
	ed1                              ed25519.PrivateKey
	rsa1PublicPEM, rsa1PublicDER     []byte
}

var (
	jtKeysOnce sync.Once
	jtKeysVal  *jtKeySet
	jtKeysErr  error
)

func jtReadKey(name string) (crypto.Signer, error) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "jwt", name+".TEST-ONLY.key.pem"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

// jtKeys loads the fixture keys once.
func jtKeys(tb testing.TB) *jtKeySet {
	tb.Helper()
	jtKeysOnce.Do(func() {
		load := func(name string) crypto.Signer {
			if jtKeysErr != nil {
				return nil
			}
			k, err := jtReadKey(name)
			if err != nil {
				jtKeysErr = err
			}
			return k
		}
		ks := &jtKeySet{}
		ks.rsa1, _ = load("test-rsa-1").(*rsa.PrivateKey)
		ks.rsa2, _ = load("test-rsa-2").(*rsa.PrivateKey)
		ks.rsaAttacker, _ = load("test-rsa-attacker").(*rsa.PrivateKey)
		ks.rsaWeak, _ = load("test-rsa-1024-weak").(*rsa.PrivateKey)
		ks.ec1, _ = load("test-ec-1").(*ecdsa.PrivateKey)
		ks.ecAttacker, _ = load("test-ec-attacker").(*ecdsa.PrivateKey)
		ks.ed1, _ = load("test-ed-1").(ed25519.PrivateKey)
		if jtKeysErr == nil {
			der, err := x509.MarshalPKIXPublicKey(&ks.rsa1.PublicKey)
			if err != nil {
				jtKeysErr = err
			}
			ks.rsa1PublicDER = der
			ks.rsa1PublicPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		}
		jtKeysVal = ks
	})
	require.NoError(tb, jtKeysErr, "loading testdata/jwt keys (regenerate with go run ./testdata/jwt/gen)")
	return jtKeysVal
}

// jtJWK describes one key of a JWK Set served or embedded by a test.
type jtJWK struct {
	kid string
	alg jwkset.ALG
	key any // public key
	use jwkset.USE
}

// jtJWKS returns the JSON of a JWK Set holding keys.
func jtJWKS(tb testing.TB, keys ...jtJWK) []byte {
	tb.Helper()
	store := jwkset.NewMemoryStorage()
	for _, k := range keys {
		use := k.use
		if use == "" {
			use = jwkset.UseSig
		}
		j, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: use}})
		require.NoError(tb, err)
		require.NoError(tb, store.KeyWrite(context.Background(), j))
	}
	raw, err := store.JSONPublic(context.Background())
	require.NoError(tb, err)
	return raw
}

// jtDefaultJWKS is the issuer's key set: rsa1, ec1, ed1.
func jtDefaultJWKS(tb testing.TB) []byte {
	ks := jtKeys(tb)
	return jtJWKS(tb,
		jtJWK{kid: jtRSAKID, alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey},
		jtJWK{kid: jtECKID, alg: jwkset.AlgES256, key: &ks.ec1.PublicKey},
		jtJWK{kid: jtEdKID, alg: jwkset.AlgEdDSA, key: ks.ed1.Public()},
	)
}

// jtSign signs claims with key, after letting edit change the header.
func jtSign(tb testing.TB, method jwt.SigningMethod, key any, kid any, claims jwt.MapClaims, edit func(h map[string]any)) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(key)
	require.NoError(tb, err)
	return s
}

// jtB64 is base64url without padding.
func jtB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jtJSON encodes v as JSON, base64url.
func jtJSONB64(tb testing.TB, v any) string {
	tb.Helper()
	raw, err := json.Marshal(v)
	require.NoError(tb, err)
	return jtB64(raw)
}

// jtUnsigned builds header.claims. with an empty signature.
func jtUnsigned(tb testing.TB, header map[string]any, claims jwt.MapClaims) string {
	return jtJSONB64(tb, header) + "." + jtJSONB64(tb, claims) + "."
}

// jtDiscardLogger drops logs.
func jtDiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// jtLogBuffer is a concurrency-safe log sink.
type jtLogBuffer struct{ testenv.SyncBuffer }

func (b *jtLogBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// jtJWKSServer is an httptest JWKS endpoint whose behaviour a test changes.
type jtJWKSServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	mode    string // "ok", "down", "garbage", "huge", "huge-cl", "slow"
	body    []byte
	release chan struct{} // closed to end "slow" requests
}

func jtNewJWKSServer(tb testing.TB, body []byte) *jtJWKSServer {
	tb.Helper()
	s := &jtJWKSServer{mode: "ok", body: body, release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(func() {
		s.mu.Lock()
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

func (s *jtJWKSServer) URL() string { return s.srv.URL + "/.well-known/jwks.json" }

func (s *jtJWKSServer) set(mode string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
	if body != nil {
		s.body = body
	}
}

func (s *jtJWKSServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	mode, body, release := s.mode, s.body, s.release
	s.mu.Unlock()
	switch mode {
	case "ok":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	case "down":
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case "garbage":
		_, _ = w.Write([]byte("<html>definitely not a JWK Set"))
	case "huge-cl":
		w.Header().Set("Content-Length", fmt.Sprint(64<<20))
		_, _ = w.Write([]byte(`{"keys":[`))
	case "huge":
		// A JSON document that never ends, streamed without Content-Length.
		_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","n":"`))
		chunk := bytes.Repeat([]byte("A"), 32<<10)
		for i := 0; i < 256; i++ { // 8 MiB at most
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case "slow":
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

// jtTrap is an httptest server that must never be contacted: tokens point
// their jku/x5u headers at it.
type jtTrap struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func jtNewTrap(tb testing.TB) *jtTrap {
	t := &jtTrap{}
	t.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.hits.Add(1)
		http.Error(w, "trap", http.StatusTeapot)
	}))
	tb.Cleanup(t.srv.Close)
	return t
}

// ---------------------------------------------------------------------------
// Profiles: every table row runs against every authenticator that accepts
// the profile's tokens.

type jtProfile struct {
	name   string
	kind   string // "jwt", "cognito-id", "cognito-access"
	auth   *Authenticator
	claims func() jwt.MapClaims // valid claims
	groups string               // groups claim name
	method string               // tvm.Identity.Method
}

func jtBaseClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":    jtIssuer,
		"aud":    jtAudience,
		"sub":    "user-1",
		"groups": []any{"ReadWrite", "Staff"},
		"exp":    jtNow.Add(10 * time.Minute).Unix(),
		"iat":    jtNow.Add(-time.Minute).Unix(),
		"nbf":    jtNow.Add(-time.Minute).Unix(),
	}
}

// jtConfig is a valid Config of one issuer, without a key source.
func jtConfig() Config {
	return Config{
		Issuers: []Issuer{{
			Issuer:     jtIssuer,
			Audience:   []string{jtAudience, "other-audience"},
			Algorithms: []string{"RS256", "ES256", "EdDSA"},
		}},
		Leeway: 30 * time.Second,
		Now:    jtClock,
		Logger: jtDiscardLogger(),
	}
}

// jtCognito is a valid Config of one Cognito issuer reading keys from
// jwksURL.
func jtCognito(jwksURL, use string) Config {
	return Config{
		Issuers: []Issuer{{
			Cognito: &Cognito{Region: jtRegion, UserPoolID: jtPool, ClientID: jtClientID, TokenUse: use},
			JWKSURL: jwksURL,
		}},
		Now:    jtClock,
		Logger: jtDiscardLogger(),
	}
}

func jtMustNew(tb testing.TB, cfg Config) *Authenticator {
	tb.Helper()
	a, err := New(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

// jtProfiles returns the JWT profiles (static keys, JWKS JSON, JWKS file,
// remote JWKS, discovery, no cache) and the Cognito profiles (id and
// access tokens, remote).
func jtProfiles(t *testing.T) []*jtProfile {
	t.Helper()
	ks := jtKeys(t)
	jwksJSON := jtDefaultJWKS(t)
	srv := jtNewJWKSServer(t, jwksJSON)

	keysCfg := jtConfig()
	keysCfg.Issuers[0].Keys = map[string]crypto.PublicKey{
		jtRSAKID: &ks.rsa1.PublicKey,
		jtECKID:  &ks.ec1.PublicKey,
		jtEdKID:  ks.ed1.Public(),
	}
	jsonCfg := jtConfig()
	jsonCfg.Issuers[0].JWKSJSON = jwksJSON
	fileCfg := jtConfig()
	fileCfg.Issuers[0].JWKSFile = filepath.Join("..", "testdata", "jwt", "jwks-public.json")
	remoteCfg := jtConfig()
	remoteCfg.Issuers[0].JWKSURL = srv.URL()
	disc := jtNewDiscoveryServer(t, jwksJSON)
	discCfg := jtConfig()
	discCfg.Issuers[0].Issuer = disc.issuer()
	uncached := jtConfig()
	uncached.Issuers[0].JWKSJSON = jwksJSON
	uncached.DisableCache = true

	jwtProfile := func(name string, cfg Config) *jtProfile {
		return &jtProfile{name: name, kind: "jwt", auth: jtMustNew(t, cfg), claims: jtBaseClaims, groups: "groups", method: "jwt"}
	}
	profiles := []*jtProfile{
		jwtProfile("jwt/Keys", keysCfg),
		jwtProfile("jwt/JWKSJSON", jsonCfg),
		jwtProfile("jwt/JWKSFile", fileCfg),
		jwtProfile("jwt/JWKSURL", remoteCfg),
		jwtProfile("jwt/uncached", uncached),
	}
	dp := jwtProfile("jwt/discovery", discCfg)
	dp.claims = func() jwt.MapClaims {
		c := jtBaseClaims()
		c["iss"] = disc.issuer()
		return c
	}
	profiles = append(profiles, dp)
	for _, use := range []string{CognitoIDToken, CognitoAccessToken} {
		a := jtMustNew(t, jtCognito(srv.URL(), use))
		profiles = append(profiles, &jtProfile{
			name: "cognito/" + use, kind: "cognito-" + use, auth: a,
			claims: func() jwt.MapClaims { return jtCognitoClaims(use) },
			groups: "cognito:groups", method: "cognito",
		})
	}
	return profiles
}

const (
	jtRegion   = "us-west-2"
	jtPool     = "us-west-2_TestPool1"
	jtClientID = "3n4b5urk1ft4fl3mg5e62d9ado"
)

func jtCognitoIssuer() string { return "https://cognito-idp." + jtRegion + ".amazonaws.com/" + jtPool }

// jtCognitoClaims returns valid claims of a Cognito id or access token.
func jtCognitoClaims(use string) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":            jtCognitoIssuer(),
		"sub":            "8f6e2a3c-0000-4000-8000-00000000beef",
		"cognito:groups": []any{"ReadWriteUserGroup"},
		"token_use":      use,
		"auth_time":      jtNow.Add(-time.Hour).Unix(),
		"exp":            jtNow.Add(10 * time.Minute).Unix(),
		"iat":            jtNow.Add(-time.Minute).Unix(),
		"jti":            "5b0f7c2e-1111-4111-8111-000000000001",
	}
	if use == CognitoIDToken {
		c["aud"] = jtClientID
		c["cognito:username"] = "alice"
		c["email"] = "alice@example.com"
	} else {
		c["client_id"] = jtClientID
		c["username"] = "alice"
		c["scope"] = "aws.cognito.signin.user.admin"
	}
	return c
}

// jtNoLeak fails t if goroutines started during t outlive it and its
// cleanups (servers closed, authenticators closed).
func jtNoLeak(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// jtAssertNoTokenInError checks that no part of any token appears in err or
// in the messages of the errors it wraps.
func jtAssertNoTokenInError(t *testing.T, err error, auth []string) {
	t.Helper()
	msgs := []string{err.Error(), fmt.Sprintf("%+v", err)}
	var te *TokenError
	if errors.As(err, &te) && te.Err != nil {
		msgs = append(msgs, te.Err.Error())
	}
	for _, v := range auth {
		v = strings.TrimPrefix(strings.TrimSpace(v), "Bearer ")
		for _, seg := range strings.Split(v, ".") {
			if len(seg) < 16 {
				continue
			}
			for _, m := range msgs {
				assert.NotContains(t, m, seg, "error message reveals part of the token")
			}
		}
	}
}

// jtConfigFields returns the Field of every *tvm.ConfigError joined in err.
func jtConfigFields(t *testing.T, err error) []string {
	t.Helper()
	var fields []string
	var walk func(err error)
	walk = func(err error) {
		var ce *tvm.ConfigError
		if errors.As(err, &ce) && ce == err {
			fields = append(fields, ce.Field)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	require.NotEmpty(t, fields, "err holds *tvm.ConfigError values: %v", err)
	return fields
}

// jtAssertClosed checks that a closed authenticator refuses tok, and a
// request without credentials, with tvm.ErrClosed only: a programming error
// (500), never mistaken for the caller's credentials (401).
func jtAssertClosed(t *testing.T, a *Authenticator, tok string) {
	t.Helper()
	check := func(what string, id tvm.Identity, err error) {
		t.Helper()
		assert.ErrorIs(t, err, tvm.ErrClosed, what)
		assert.NotErrorIs(t, err, tvm.ErrInvalidCredentials, what)
		assert.NotErrorIs(t, err, tvm.ErrNoCredentials, what)
		var te *TokenError
		assert.False(t, errors.As(err, &te), "%s: not a TokenError", what)
		assert.Equal(t, tvm.Identity{}, id, what)
		if err != nil {
			jtAssertNoTokenInError(t, err, []string{tok})
		}
	}
	id, err := a.VerifyToken(context.Background(), tok)
	check("VerifyToken after Close", id, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	id, err = a.Authenticate(r)
	check("Authenticate after Close", id, err)
	id, err = a.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
	check("Authenticate without credentials after Close", id, err)
}

type jtRoundTripFunc func(*http.Request) (*http.Response, error)

func (f jtRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
