package tvm

import (
	"bufio"
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
	"net"
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
	"go.uber.org/goleak"
)

// ---------------------------------------------------------------------------
// Test fixtures shared by jwt_test.go, jwks_test.go, cognito_test.go,
// jwt_fuzz_test.go. Every name starts with "jt" so as not to collide with the
// other test files of package tvm.

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
	raw, err := os.ReadFile(filepath.Join("testdata", "jwt", name+".TEST-ONLY.key.pem"))
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
type jtLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *jtLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *jtLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
	auth   *JWTAuthenticator
	claims func() jwt.MapClaims // valid claims
	groups string               // groups claim name
	method string               // Identity.Method
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

// jtJWTConfig is a valid JWTConfig without a key source.
func jtJWTConfig() JWTConfig {
	return JWTConfig{
		Issuer:     jtIssuer,
		Audience:   []string{jtAudience, "other-audience"},
		Algorithms: []string{"RS256", "ES256", "EdDSA"},
		Leeway:     30 * time.Second,
		Now:        jtClock,
		Logger:     jtDiscardLogger(),
	}
}

func jtMustJWT(tb testing.TB, cfg JWTConfig) *JWTAuthenticator {
	tb.Helper()
	a, err := NewJWT(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

// jtProfiles returns the JWT profiles (static keys, JWKS JSON, JWKS file,
// remote JWKS) and the Cognito profiles (id and access tokens, remote).
func jtProfiles(t *testing.T) []*jtProfile {
	t.Helper()
	ks := jtKeys(t)
	jwksJSON := jtDefaultJWKS(t)
	srv := jtNewJWKSServer(t, jwksJSON)

	keysCfg := jtJWTConfig()
	keysCfg.Keys = map[string]crypto.PublicKey{
		jtRSAKID: &ks.rsa1.PublicKey,
		jtECKID:  &ks.ec1.PublicKey,
		jtEdKID:  ks.ed1.Public(),
	}
	jsonCfg := jtJWTConfig()
	jsonCfg.JWKSJSON = jwksJSON
	fileCfg := jtJWTConfig()
	fileCfg.JWKSFile = filepath.Join("testdata", "jwt", "jwks-public.json")
	remoteCfg := jtJWTConfig()
	remoteCfg.JWKSURL = srv.URL()

	jwtProfile := func(name string, cfg JWTConfig) *jtProfile {
		return &jtProfile{name: name, kind: "jwt", auth: jtMustJWT(t, cfg), claims: jtBaseClaims, groups: "groups", method: MethodJWT}
	}
	profiles := []*jtProfile{
		jwtProfile("jwt/Keys", keysCfg),
		jwtProfile("jwt/JWKSJSON", jsonCfg),
		jwtProfile("jwt/JWKSFile", fileCfg),
		jwtProfile("jwt/JWKSURL", remoteCfg),
	}
	for _, use := range []string{CognitoIDToken, CognitoAccessToken} {
		a, err := NewCognito(CognitoConfig{
			Region: jtRegion, UserPoolID: jtPool, ClientID: jtClientID, TokenUse: use,
			JWKSURL: srv.URL(), Now: jtClock, Logger: jtDiscardLogger(),
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = a.Close() })
		profiles = append(profiles, &jtProfile{
			name: "cognito/" + use, kind: "cognito-" + use, auth: a,
			claims: func() jwt.MapClaims { return jtCognitoClaims(use) },
			groups: "cognito:groups", method: MethodCognito,
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

// ---------------------------------------------------------------------------
// The hostile-input table (../shared/DESIGN.md). Every row runs against
// every profile it applies to; every hostile row must be refused with
// ErrInvalidCredentials (and the listed code) or ErrNoCredentials, with a
// zero identity, an error that does not contain the token, and no request
// to the jku/x5u trap.

type jtRow struct {
	name  string
	kinds []string // nil: every profile
	// auth returns the Authorization header values (nil: no header).
	auth func(t *testing.T, p *jtProfile) []string
	want error          // nil: must be accepted
	code TokenErrorCode // for ErrInvalidCredentials rows
}

func jtBearer(tok string) []string { return []string{"Bearer " + tok} }

// jtRS signs p's valid claims, changed by mut, with the issuer's RSA key.
func jtRS(t *testing.T, p *jtProfile, mut func(c jwt.MapClaims), edit func(h map[string]any)) string {
	c := p.claims()
	if mut != nil {
		mut(c)
	}
	return jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, c, edit)
}

func jtClaimsRow(name string, want error, code TokenErrorCode, mut func(p *jtProfile, c jwt.MapClaims), kinds ...string) jtRow {
	return jtRow{name: name, kinds: kinds, want: want, code: code, auth: func(t *testing.T, p *jtProfile) []string {
		return jtBearer(jtRS(t, p, func(c jwt.MapClaims) { mut(p, c) }, nil))
	}}
}

func jtHeaderRow(name string, code TokenErrorCode, edit func(h map[string]any), kinds ...string) jtRow {
	return jtRow{name: name, kinds: kinds, want: ErrInvalidCredentials, code: code, auth: func(t *testing.T, p *jtProfile) []string {
		return jtBearer(jtRS(t, p, nil, edit))
	}}
}

func jtRows(trap *jtTrap) []jtRow {
	inv := ErrInvalidCredentials
	leeway := 30 * time.Second
	rows := []jtRow{
		// ---- accepted ----
		{name: "valid RS256", auth: func(t *testing.T, p *jtProfile) []string { return jtBearer(jtRS(t, p, nil, nil)) }},
		{name: "valid ES256", kinds: []string{"jwt"}, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ec1, jtECKID, p.claims(), nil))
		}},
		{name: "valid EdDSA", kinds: []string{"jwt"}, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodEdDSA, jtKeys(t).ed1, jtEdKID, p.claims(), nil))
		}},
		{name: "scheme is case-insensitive (RFC 7235)", auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"bEARER " + jtRS(t, p, nil, nil)}
		}},
		{name: "surrounding whitespace is not part of the value", auth: func(t *testing.T, p *jtProfile) []string {
			return []string{" \tBearer " + jtRS(t, p, nil, nil) + " "}
		}},
		{name: "jku, x5u, x5c and jwk headers are ignored", auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtRS(t, p, nil, func(h map[string]any) {
				h["jku"] = trap.srv.URL + "/jwks.json"
				h["x5u"] = trap.srv.URL + "/cert.pem"
				h["x5c"] = []any{"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"}
				h["jwk"] = map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB"}
			}))
		}},
		jtClaimsRow("exp just inside the leeway", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = jtNow.Add(-leeway + time.Second).Unix()
		}),
		jtClaimsRow("nbf just inside the leeway", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["nbf"] = jtNow.Add(leeway - time.Second).Unix()
		}),
		jtClaimsRow("iat just inside the leeway", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["iat"] = jtNow.Add(leeway - time.Second).Unix()
		}),
		jtClaimsRow("aud array holding an accepted audience", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["aud"] = []any{"someone-else", jtAudience}
		}, "jwt"),
		jtClaimsRow("groups as a single string", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = "Solo"
		}),
		jtClaimsRow("no groups claim", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			delete(c, p.groups)
		}),
		jtClaimsRow("no nbf, no iat", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			delete(c, "nbf")
			delete(c, "iat")
		}),
		jtClaimsRow("Cognito's newer global issuer form", nil, "", func(p *jtProfile, c jwt.MapClaims) {
			c["iss"] = "https://issuer.cognito-idp." + jtRegion + ".amazonaws.com/" + jtPool
		}, "cognito-id", "cognito-access"),

		// ---- no credentials ----
		{name: "no Authorization header", want: ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return nil }},
		{name: "empty Authorization header", want: ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return []string{""} }},
		{name: "blank Authorization header", want: ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return []string{" \t "} }},
		{name: "Basic scheme", want: ErrNoCredentials, auth: func(*testing.T, *jtProfile) []string { return []string{"Basic dXNlcjpwYXNz"} }},
		{name: "token without scheme", want: ErrNoCredentials, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{jtRS(t, p, nil, nil)}
		}},

		// ---- header syntax ----
		{name: "duplicate Authorization headers (both valid)", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return []string{"Bearer " + tok, "Bearer " + tok}
		}},
		{name: "duplicate Authorization headers (Basic first)", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Basic dXNlcjpwYXNz", "Bearer " + jtRS(t, p, nil, nil)}
		}},
		{name: "Bearer without token", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return []string{"Bearer"} }},
		{name: "Bearer and a space only", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return []string{"Bearer  "} }},
		{name: "two spaces after Bearer", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer  " + jtRS(t, p, nil, nil)}
		}},
		{name: "tab after Bearer", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer\t" + jtRS(t, p, nil, nil)}
		}},
		{name: "no space after Bearer", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer" + jtRS(t, p, nil, nil)}
		}},
		{name: "two tokens in one header", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return []string{"Bearer " + tok + ", Bearer " + tok}
		}},
		{name: "NUL byte in token", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer " + jtRS(t, p, nil, nil) + "\x00"}
		}},
		{name: "non-ASCII in token", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return []string{"Bearer é" + jtRS(t, p, nil, nil)}
		}},

		// ---- token shape ----
		{name: "one segment", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return jtBearer("abc") }},
		{name: "two segments", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(tok[:strings.LastIndex(tok, ".")])
		}},
		{name: "too many segments", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtRS(t, p, nil, nil) + ".e30")
		}},
		{name: "thousands of dots", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string {
			return jtBearer(strings.Repeat(".", 5000))
		}},
		{name: "three empty segments", want: inv, code: TokenMalformed, auth: func(*testing.T, *jtProfile) []string { return jtBearer("..") }},
		{name: "a megabyte-long token", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(tok + strings.Repeat("A", 1<<20))
		}},
		{name: "one byte over the 8 KiB limit, otherwise well formed", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, func(c jwt.MapClaims) { c["pad"] = "" }, nil)
			pad := DefaultMaxTokenBytes - len(tok) + 1
			tok = jtRS(t, p, func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", pad*3/4+4) }, nil)
			require.Greater(t, len(tok), DefaultMaxTokenBytes)
			return jtBearer(tok)
		}},
		{name: "malformed base64 in header (bad length)", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer("A" + tok[strings.Index(tok, "."):])
		}},
		{name: "base64 padding character", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtRS(t, p, nil, nil) + "=")
		}},
		{name: "non-canonical base64 (trailing bits) in signature", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			// A 256-byte RS256 signature is 342 base64url characters whose
			// last one carries 4 padding bits; set them.
			last := tok[len(tok)-1]
			idx := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
			alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			return jtBearer(tok[:len(tok)-1] + string(alphabet[idx|0x0f]))
		}},
		{name: "header is not JSON", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(jtB64([]byte("not json")) + tok[strings.Index(tok, "."):])
		}},
		{name: "header is a JSON array", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(jtB64([]byte(`["RS256"]`)) + tok[strings.Index(tok, "."):])
		}},
		{name: "payload is a JSON array", want: inv, code: TokenMalformed, auth: func(t *testing.T, p *jtProfile) []string {
			parts := strings.Split(jtRS(t, p, nil, nil), ".")
			return jtBearer(parts[0] + "." + jtB64([]byte(`[1,2]`)) + "." + parts[2])
		}},
		{name: "payload swapped (signature of another payload)", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			a := strings.Split(jtRS(t, p, nil, nil), ".")
			b := strings.Split(jtRS(t, p, func(c jwt.MapClaims) { c["sub"] = "admin" }, nil), ".")
			return jtBearer(a[0] + "." + b[1] + "." + a[2])
		}},
		{name: "signature removed", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			tok := jtRS(t, p, nil, nil)
			return jtBearer(tok[:strings.LastIndex(tok, ".")+1])
		}},

		// ---- algorithm ----
		{name: "alg none", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": jtRSAKID}, p.claims()))
		}},
		{name: "alg NONE", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"alg": "NONE", "kid": jtRSAKID}, p.claims()))
		}},
		{name: "alg none signed with golang-jwt's unsafe none key", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jtRSAKID, p.claims(), nil))
		}},
		{name: "alg missing", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"kid": jtRSAKID}, p.claims()) + "c2ln")
		}},
		{name: "alg is a number", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtUnsigned(t, map[string]any{"alg": 256, "kid": jtRSAKID}, p.claims()) + "c2ln")
		}},
		{name: "HS256 signed with the RSA public key PEM (algorithm confusion)", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodHS256, jtKeys(t).rsa1PublicPEM, jtRSAKID, p.claims(), nil))
		}},
		{name: "HS256 signed with the RSA public key DER", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodHS256, jtKeys(t).rsa1PublicDER, jtRSAKID, p.claims(), nil))
		}},
		{name: "RS512 (not in the allow-list)", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS512, jtKeys(t).rsa1, jtRSAKID, p.claims(), nil))
		}},
		{name: "PS256 with the issuer's RSA key (not in the allow-list)", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodPS256, jtKeys(t).rsa1, jtRSAKID, p.claims(), nil))
		}},
		{name: "ES256 token naming the RSA key", want: inv, code: TokenBadAlgorithm, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ec1, jtRSAKID, p.claims(), nil))
		}},
		{name: "ES256 for Cognito (RS256 only)", kinds: []string{"cognito-id", "cognito-access"}, want: inv, code: TokenBadAlgorithm,
			auth: func(t *testing.T, p *jtProfile) []string {
				return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ec1, jtECKID, p.claims(), nil))
			}},
		jtHeaderRow("crit header", TokenMalformed, func(h map[string]any) { h["crit"] = []any{"exp"} }),
		jtHeaderRow("b64=false with crit (RFC 7797)", TokenMalformed, func(h map[string]any) {
			h["b64"] = false
			h["crit"] = []any{"b64"}
		}),

		// ---- key ----
		{name: "signed by an unknown key with a known kid", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, jtRSAKID, p.claims(), nil))
		}},
		{name: "ES256 signed by an unknown key with a known kid", kinds: []string{"jwt"}, want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodES256, jtKeys(t).ecAttacker, jtECKID, p.claims(), nil))
		}},
		{name: "unknown kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, "attacker", p.claims(), nil))
		}},
		{name: "missing kid (signed by the issuer's key)", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, nil, p.claims(), nil))
		}},
		jtHeaderRow("empty kid", TokenUnknownKey, func(h map[string]any) { h["kid"] = "" }),
		jtHeaderRow("kid is a number", TokenUnknownKey, func(h map[string]any) { h["kid"] = 1 }),
		jtHeaderRow("kid is null", TokenUnknownKey, func(h map[string]any) { h["kid"] = nil }),
		jtHeaderRow("kid is an object", TokenUnknownKey, func(h map[string]any) { h["kid"] = map[string]any{"kid": jtRSAKID} }),
		jtHeaderRow("kid is an array", TokenUnknownKey, func(h map[string]any) { h["kid"] = []any{jtRSAKID} }),
		{name: "attacker key in jwk header and a fresh kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			ks := jtKeys(t)
			n := jtB64(ks.rsaAttacker.N.Bytes())
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, ks.rsaAttacker, "attacker-jwk", p.claims(), func(h map[string]any) {
				h["jwk"] = map[string]any{"kty": "RSA", "kid": "attacker-jwk", "n": n, "e": "AQAB"}
			}))
		}},
		{name: "attacker key in jwk header with the issuer's kid", want: inv, code: TokenBadSignature, auth: func(t *testing.T, p *jtProfile) []string {
			ks := jtKeys(t)
			n := jtB64(ks.rsaAttacker.N.Bytes())
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, ks.rsaAttacker, jtRSAKID, p.claims(), func(h map[string]any) {
				h["jwk"] = map[string]any{"kty": "RSA", "kid": jtRSAKID, "n": n, "e": "AQAB"}
			}))
		}},
		{name: "attacker jku and a fresh kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, "attacker-jku", p.claims(), func(h map[string]any) {
				h["jku"] = trap.srv.URL + "/jwks.json"
			}))
		}},
		{name: "attacker x5u and a fresh kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, "attacker-x5u", p.claims(), func(h map[string]any) {
				h["x5u"] = trap.srv.URL + "/cert.pem"
			}))
		}},
		{name: "a 5000-byte kid", want: inv, code: TokenUnknownKey, auth: func(t *testing.T, p *jtProfile) []string {
			return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsaAttacker, strings.Repeat("k", 5000), p.claims(), nil))
		}},

		// ---- time ----
		jtClaimsRow("expired", inv, TokenExpired, func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = jtNow.Add(-time.Hour).Unix()
		}),
		jtClaimsRow("exp just outside the leeway", inv, TokenExpired, func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = jtNow.Add(-leeway - time.Second).Unix()
		}),
		jtClaimsRow("exp missing", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { delete(c, "exp") }),
		jtClaimsRow("exp zero", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["exp"] = 0 }),
		jtClaimsRow("exp negative", inv, TokenExpired, func(p *jtProfile, c jwt.MapClaims) { c["exp"] = -1 }),
		jtClaimsRow("exp is a string", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c["exp"] = fmt.Sprint(jtNow.Add(time.Hour).Unix())
		}),
		jtClaimsRow("exp is an object", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["exp"] = map[string]any{} }),
		// 1e300 converts to a platform-dependent time: expired on amd64,
		// refused as absurd elsewhere.
		jtClaimsRow("exp is 1e300", inv, "", func(p *jtProfile, c jwt.MapClaims) { c["exp"] = 1e300 }),
		jtClaimsRow("nbf in the future", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["nbf"] = jtNow.Add(time.Hour).Unix()
		}),
		jtClaimsRow("nbf just outside the leeway", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["nbf"] = jtNow.Add(leeway + time.Second).Unix()
		}),
		jtClaimsRow("nbf is a string", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["nbf"] = "yesterday" }),
		jtClaimsRow("iat in the future", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["iat"] = jtNow.Add(time.Hour).Unix()
		}),
		jtClaimsRow("iat just outside the leeway", inv, TokenNotYetValid, func(p *jtProfile, c jwt.MapClaims) {
			c["iat"] = jtNow.Add(leeway + time.Second).Unix()
		}),
		jtClaimsRow("iat is a boolean", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["iat"] = true }),

		// ---- issuer, audience, token use ----
		jtClaimsRow("wrong iss", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) { c["iss"] = "https://evil.test/" }),
		jtClaimsRow("iss with a trailing slash difference", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) {
			c["iss"] = strings.TrimSuffix(c["iss"].(string), "/") + "/x"
		}),
		jtClaimsRow("iss missing", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) { delete(c, "iss") }),
		jtClaimsRow("iss is a number", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) { c["iss"] = 42 }),
		jtClaimsRow("iss of another Cognito pool", inv, TokenBadIssuer, func(p *jtProfile, c jwt.MapClaims) {
			c["iss"] = "https://cognito-idp." + jtRegion + ".amazonaws.com/us-west-2_OtherPool"
		}, "cognito-id", "cognito-access"),
		jtClaimsRow("wrong aud", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = "someone-else" }, "jwt", "cognito-id"),
		jtClaimsRow("aud missing", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { delete(c, "aud") }, "jwt", "cognito-id"),
		jtClaimsRow("aud empty string", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = "" }, "jwt", "cognito-id"),
		jtClaimsRow("aud empty array", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = []any{} }, "jwt", "cognito-id"),
		jtClaimsRow("aud is a number", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = 7 }, "jwt", "cognito-id"),
		jtClaimsRow("aud array with a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["aud"] = []any{jtAudience, 7} }, "jwt", "cognito-id"),
		jtClaimsRow("id token: client id only in client_id", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) {
			delete(c, "aud")
			c["client_id"] = jtClientID
		}, "cognito-id"),
		jtClaimsRow("access token: client_id missing", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { delete(c, "client_id") }, "cognito-access"),
		jtClaimsRow("access token: wrong client_id", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) { c["client_id"] = "someoneelse" }, "cognito-access"),
		jtClaimsRow("access token: client id only in aud", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) {
			delete(c, "client_id")
			c["aud"] = jtClientID
		}, "cognito-access"),
		jtClaimsRow("access token: client_id is an array", inv, TokenBadAudience, func(p *jtProfile, c jwt.MapClaims) {
			c["client_id"] = []any{jtClientID}
		}, "cognito-access"),
		jtClaimsRow("wrong token_use", inv, TokenBadTokenUse, func(p *jtProfile, c jwt.MapClaims) {
			if c["token_use"] == CognitoIDToken {
				c["token_use"] = CognitoAccessToken
			} else {
				c["token_use"] = CognitoIDToken
			}
		}, "cognito-id", "cognito-access"),
		jtClaimsRow("token_use missing", inv, TokenBadTokenUse, func(p *jtProfile, c jwt.MapClaims) { delete(c, "token_use") }, "cognito-id", "cognito-access"),
		jtClaimsRow("token_use is an array", inv, TokenBadTokenUse, func(p *jtProfile, c jwt.MapClaims) {
			c["token_use"] = []any{c["token_use"]}
		}, "cognito-id", "cognito-access"),
		{name: "an id token sent to the access-token authenticator", kinds: []string{"cognito-access"}, want: inv, code: TokenBadTokenUse,
			auth: func(t *testing.T, p *jtProfile) []string {
				c := jtCognitoClaims(CognitoIDToken)
				c["client_id"] = jtClientID
				return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, c, nil))
			}},
		{name: "an access token sent to the id-token authenticator", kinds: []string{"cognito-id"}, want: inv, code: TokenBadAudience,
			auth: func(t *testing.T, p *jtProfile) []string {
				return jtBearer(jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, jtCognitoClaims(CognitoAccessToken), nil))
			}},

		// ---- subject and groups ----
		jtClaimsRow("sub missing", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { delete(c, "sub") }),
		jtClaimsRow("sub empty", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = "" }),
		jtClaimsRow("sub is a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = 12345 }),
		jtClaimsRow("sub is null", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = nil }),
		jtClaimsRow("sub is an array", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c["sub"] = []any{"user-1"} }),
		jtClaimsRow("groups is an object", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = map[string]any{"ReadWrite": true}
		}),
		jtClaimsRow("groups is a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c[p.groups] = 1 }),
		jtClaimsRow("groups array holding a number", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = []any{"ReadWrite", 1}
		}),
		jtClaimsRow("groups array holding an object", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) {
			c[p.groups] = []any{map[string]any{"name": "ReadWrite"}}
		}),
		jtClaimsRow("groups is an empty string", inv, TokenBadClaims, func(p *jtProfile, c jwt.MapClaims) { c[p.groups] = "" }),
	}
	return rows
}

func jtApplies(r jtRow, kind string) bool {
	if len(r.kinds) == 0 {
		return true
	}
	for _, k := range r.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// jtNoLeak fails t if goroutines started during t outlive it and its
// cleanups (servers closed, authenticators closed).
func jtNoLeak(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func TestJWTAuthenticateTable(t *testing.T) {
	jtNoLeak(t)
	trap := jtNewTrap(t)
	profiles := jtProfiles(t)
	rows := jtRows(trap)
	accepted, refused := 0, 0
	for _, p := range profiles {
		for _, row := range rows {
			if !jtApplies(row, p.kind) {
				continue
			}
			t.Run(p.name+"/"+row.name, func(t *testing.T) {
				auth := row.auth(t, p)
				r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
				for _, v := range auth {
					r.Header.Add("Authorization", v)
				}
				id, err := p.auth.Authenticate(r)
				if row.want == nil {
					accepted++
					require.NoError(t, err)
					assert.Equal(t, p.method, id.Method)
					assert.Equal(t, p.claims()["sub"], id.Subject)
					assert.Equal(t, p.claims()["sub"], id.Claims["sub"])
					assert.False(t, id.ExpiresAt.IsZero())
					return
				}
				refused++
				require.Error(t, err)
				assert.Equal(t, Identity{}, id, "a refused request yields no identity")
				assert.ErrorIs(t, err, row.want)
				if row.want == ErrInvalidCredentials {
					assert.NotErrorIs(t, err, ErrNoCredentials)
					var te *TokenError
					require.ErrorAs(t, err, &te)
					if row.code != "" {
						assert.Equal(t, row.code, te.Code, "code (cause: %v)", te.Err)
					}
				} else {
					assert.NotErrorIs(t, err, ErrInvalidCredentials)
				}
				jtAssertNoTokenInError(t, err, auth)
			})
		}
	}
	assert.Zero(t, trap.hits.Load(), "the jku/x5u trap was contacted")
	assert.Positive(t, accepted)
	assert.Positive(t, refused)
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

func TestJWTIdentity(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtJWTConfig()
	cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustJWT(t, cfg)
	claims := jtBaseClaims()
	claims["email"] = "alice@example.com"
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, claims, nil)

	id, err := a.VerifyToken(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "user-1", id.Subject)
	assert.Equal(t, []string{"ReadWrite", "Staff"}, id.Groups)
	assert.Equal(t, MethodJWT, id.Method)
	assert.Equal(t, time.Unix(jtNow.Add(10*time.Minute).Unix(), 0).UTC(), id.ExpiresAt.UTC())
	assert.Equal(t, "alice@example.com", id.Claims["email"])
	assert.Equal(t, jtIssuer, id.Claims["iss"])

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	id2, err := a.Authenticate(r)
	require.NoError(t, err)
	assert.Equal(t, id, id2)

	_, err = a.VerifyToken(context.Background(), "")
	assert.ErrorIs(t, err, ErrNoCredentials)
	_, err = a.VerifyToken(context.Background(), "a.b")
	assert.ErrorIs(t, err, ErrInvalidCredentials)
	assert.Equal(t, "Bearer", a.Challenge())
	assert.NoError(t, a.Validate())
}

func TestJWTClaimPaths(t *testing.T) {
	ks := jtKeys(t)
	tests := []struct {
		name         string
		subjectClaim string
		groupsClaim  string
		claims       func(c jwt.MapClaims)
		wantSubject  string
		wantGroups   []string
		wantCode     TokenErrorCode
	}{
		{name: "keycloak realm roles", groupsClaim: "realm_access.roles",
			claims:     func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": []any{"admin", "user"}} },
			wantGroups: []string{"admin", "user"}},
		{name: "nested three levels", groupsClaim: "resource_access.tvm.roles",
			claims: func(c jwt.MapClaims) {
				c["resource_access"] = map[string]any{"tvm": map[string]any{"roles": []any{"publisher"}}}
			},
			wantGroups: []string{"publisher"}},
		{name: "namespaced claim with dots is read as a top-level name", groupsClaim: "https://tvm.example.com/roles",
			claims:     func(c jwt.MapClaims) { c["https://tvm.example.com/roles"] = []any{"ns"} },
			wantGroups: []string{"ns"}},
		{name: "nested path through a non-object yields no groups", groupsClaim: "realm_access.roles",
			claims: func(c jwt.MapClaims) { c["realm_access"] = "roles" }, wantGroups: nil},
		{name: "nested path missing yields no groups", groupsClaim: "realm_access.roles",
			claims: func(c jwt.MapClaims) {}, wantGroups: nil},
		{name: "nested value of the wrong type is refused", groupsClaim: "realm_access.roles",
			claims:   func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": map[string]any{}} },
			wantCode: TokenBadClaims},
		{name: "null groups means none", groupsClaim: "roles",
			claims: func(c jwt.MapClaims) { c["roles"] = nil }, wantGroups: nil},
		{name: "cognito groups claim name", groupsClaim: "cognito:groups",
			claims:     func(c jwt.MapClaims) { c["cognito:groups"] = []any{"ReadOnlyUserGroup"} },
			wantGroups: []string{"ReadOnlyUserGroup"}},
		{name: "custom subject claim", subjectClaim: "email",
			claims:      func(c jwt.MapClaims) { c["email"] = "bob@example.com" },
			wantSubject: "bob@example.com", wantGroups: []string{"ReadWrite", "Staff"}},
		{name: "nested subject claim", subjectClaim: "user.id",
			claims:      func(c jwt.MapClaims) { c["user"] = map[string]any{"id": "u-42"} },
			wantSubject: "u-42", wantGroups: []string{"ReadWrite", "Staff"}},
		{name: "custom subject claim missing", subjectClaim: "email",
			claims: func(c jwt.MapClaims) {}, wantCode: TokenBadClaims},
		{name: "custom subject claim is a number", subjectClaim: "uid",
			claims: func(c jwt.MapClaims) { c["uid"] = 42 }, wantCode: TokenBadClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := jtJWTConfig()
			cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
			cfg.SubjectClaim = tt.subjectClaim
			cfg.GroupsClaim = tt.groupsClaim
			a := jtMustJWT(t, cfg)
			c := jtBaseClaims()
			tt.claims(c)
			id, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
			if tt.wantCode != "" {
				var te *TokenError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, tt.wantCode, te.Code)
				return
			}
			require.NoError(t, err)
			want := tt.wantSubject
			if want == "" {
				want = "user-1"
			}
			assert.Equal(t, want, id.Subject)
			assert.Equal(t, tt.wantGroups, id.Groups)
		})
	}
}

func TestJWTCheckClaims(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtJWTConfig()
	cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	cfg.CheckClaims = func(c map[string]any) error {
		if c["email_verified"] != true {
			return errors.New("email not verified")
		}
		return nil
	}
	a := jtMustJWT(t, cfg)
	c := jtBaseClaims()
	_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenBadClaims, te.Code)
	assert.ErrorIs(t, err, ErrInvalidCredentials)

	c["email_verified"] = true
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
	assert.NoError(t, err)
}

func TestJWTSkipChecks(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtJWTConfig()
	cfg.Issuer, cfg.SkipIssuerCheck = "", true
	cfg.Audience, cfg.SkipAudienceCheck = nil, true
	cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustJWT(t, cfg)
	c := jtBaseClaims()
	delete(c, "iss")
	delete(c, "aud")
	_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
	assert.NoError(t, err)
	// Skipping issuer and audience checks skips nothing else.
	delete(c, "exp")
	_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
	assert.ErrorIs(t, err, ErrInvalidCredentials)
}

func TestJWTLeewayDefault(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtJWTConfig()
	cfg.Leeway = 0 // DefaultJWTLeeway
	cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustJWT(t, cfg)
	for _, tt := range []struct {
		exp  time.Duration
		want error
	}{
		{-DefaultJWTLeeway + time.Second, nil},
		{-DefaultJWTLeeway - time.Second, ErrInvalidCredentials},
	} {
		c := jtBaseClaims()
		c["exp"] = jtNow.Add(tt.exp).Unix()
		_, err := a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
		if tt.want == nil {
			assert.NoError(t, err, "exp %s", tt.exp)
		} else {
			assert.ErrorIs(t, err, tt.want, "exp %s", tt.exp)
		}
	}
}

func TestJWTMaxTokenBytes(t *testing.T) {
	ks := jtKeys(t)
	cfg := jtJWTConfig()
	cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	c := jtBaseClaims()
	c["pad"] = strings.Repeat("x", 9000)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil)

	_, err := jtMustJWT(t, cfg).VerifyToken(context.Background(), tok)
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TokenMalformed, te.Code)
	assert.ErrorIs(t, err, errJWTTooLong)

	cfg.MaxTokenBytes = 16 << 10
	_, err = jtMustJWT(t, cfg).VerifyToken(context.Background(), tok)
	assert.NoError(t, err)
}

func TestJWTTokenErrorMessage(t *testing.T) {
	e := &TokenError{Code: TokenExpired, Err: jwt.ErrTokenExpired}
	assert.Equal(t, "tvm: invalid credentials: jwt expired", e.Error())
	assert.ErrorIs(t, e, ErrInvalidCredentials)
	assert.ErrorIs(t, e, jwt.ErrTokenExpired)
	assert.ErrorIs(t, &TokenError{Code: TokenMalformed}, ErrInvalidCredentials)
}

// TestJWTConfigErrors checks that every unsafe or unusable configuration
// is refused by NewJWT, and by JWT with an authenticator that refuses every
// request and reports the problem from Validate.
func TestJWTConfigErrors(t *testing.T) {
	ks := jtKeys(t)
	keys := map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	with := func(f func(c *JWTConfig)) JWTConfig {
		c := jtJWTConfig()
		c.Keys = keys
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		cfg    JWTConfig
		fields []string // every field that must be named
	}{
		{"zero config", JWTConfig{}, []string{"JWTConfig.Issuer", "JWTConfig.Audience", "JWTConfig.Algorithms", "JWTConfig.JWKSURL"}},
		{"issuer missing", with(func(c *JWTConfig) { c.Issuer = "" }), []string{"JWTConfig.Issuer"}},
		{"issuer and skip", with(func(c *JWTConfig) { c.SkipIssuerCheck = true }), []string{"JWTConfig.Issuer"}},
		{"audience missing", with(func(c *JWTConfig) { c.Audience = nil }), []string{"JWTConfig.Audience"}},
		{"audience and skip", with(func(c *JWTConfig) { c.SkipAudienceCheck = true }), []string{"JWTConfig.Audience"}},
		{"empty audience", with(func(c *JWTConfig) { c.Audience = []string{""} }), []string{"JWTConfig.Audience"}},
		{"algorithms missing", with(func(c *JWTConfig) { c.Algorithms = nil }), []string{"JWTConfig.Algorithms"}},
		{"alg none", with(func(c *JWTConfig) { c.Algorithms = []string{"RS256", "none"} }), []string{"JWTConfig.Algorithms"}},
		{"alg HS256", with(func(c *JWTConfig) { c.Algorithms = []string{"HS256"} }), []string{"JWTConfig.Algorithms"}},
		{"alg hs512 lowercase", with(func(c *JWTConfig) { c.Algorithms = []string{"hs512"} }), []string{"JWTConfig.Algorithms"}},
		{"alg rs256 lowercase", with(func(c *JWTConfig) { c.Algorithms = []string{"rs256"} }), []string{"JWTConfig.Algorithms"}},
		{"alg unknown", with(func(c *JWTConfig) { c.Algorithms = []string{"ES256K"} }), []string{"JWTConfig.Algorithms"}},
		{"no key source", with(func(c *JWTConfig) { c.Keys = nil }), []string{"JWTConfig.JWKSURL"}},
		{"two key sources", with(func(c *JWTConfig) { c.JWKSJSON = []byte(`{"keys":[]}`) }), []string{"JWTConfig.JWKSURL"}},
		{"empty Keys", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{} }), []string{"JWTConfig.Keys"}},
		{"private key", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{"k": ks.rsa1} }), []string{"JWTConfig.Keys"}},
		{"symmetric key", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{"k": []byte("secret")} }), []string{"JWTConfig.Keys"}},
		{"weak RSA key", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{"k": &ks.rsaWeak.PublicKey} }), []string{"JWTConfig.Keys"}},
		{"nil key", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{"k": nil} }), []string{"JWTConfig.Keys"}},
		{"empty kid", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{"": &ks.rsa1.PublicKey} }), []string{"JWTConfig.Keys"}},
		{"key fits no algorithm", with(func(c *JWTConfig) {
			c.Algorithms = []string{"RS256"}
			c.Keys = map[string]crypto.PublicKey{"k": &ks.ec1.PublicKey}
		}), []string{"JWTConfig.Keys"}},
		{"unsupported key type", with(func(c *JWTConfig) { c.Keys = map[string]crypto.PublicKey{"k": "not a key"} }), []string{"JWTConfig.Keys"}},
		{"JWKS JSON garbage", with(func(c *JWTConfig) { c.Keys, c.JWKSJSON = nil, []byte("<html>") }), []string{"JWTConfig.JWKSJSON"}},
		{"JWKS JSON empty set", with(func(c *JWTConfig) { c.Keys, c.JWKSJSON = nil, []byte(`{"keys":[]}`) }), []string{"JWTConfig.JWKSJSON"}},
		{"JWKS JSON key without kid", with(func(c *JWTConfig) {
			c.Keys, c.JWKSJSON = nil, jtJWKS(t, jtJWK{alg: jwkset.AlgRS256, key: &ks.rsa1.PublicKey})
		}), []string{"JWTConfig.JWKSJSON"}},
		{"JWKS JSON encryption key", with(func(c *JWTConfig) {
			c.Keys, c.JWKSJSON = nil, jtJWKS(t, jtJWK{kid: "e", key: &ks.rsa1.PublicKey, use: jwkset.UseEnc})
		}), []string{"JWTConfig.JWKSJSON"}},
		{"JWKS JSON weak key", with(func(c *JWTConfig) {
			c.Keys, c.JWKSJSON = nil, jtJWKS(t, jtJWK{kid: "w", key: &ks.rsaWeak.PublicKey})
		}), []string{"JWTConfig.JWKSJSON"}},
		{"JWKS JSON symmetric key", with(func(c *JWTConfig) {
			c.Keys, c.JWKSJSON = nil, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`)
		}), []string{"JWTConfig.JWKSJSON"}},
		{"JWKS file missing", with(func(c *JWTConfig) { c.Keys, c.JWKSFile = nil, "testdata/jwt/does-not-exist.json" }), []string{"JWTConfig.JWKSFile"}},
		{"JWKS URL not a URL", with(func(c *JWTConfig) { c.Keys, c.JWKSURL = nil, "jwks.json" }), []string{"JWTConfig.JWKSURL"}},
		{"JWKS URL ftp", with(func(c *JWTConfig) { c.Keys, c.JWKSURL = nil, "ftp://example.com/jwks.json" }), []string{"JWTConfig.JWKSURL"}},
		{"JWKS URL plain http", with(func(c *JWTConfig) { c.Keys, c.JWKSURL = nil, "http://idp.example.com/jwks.json" }), []string{"JWTConfig.JWKSURL"}},
		{"JWKS URL with credentials", with(func(c *JWTConfig) { c.Keys, c.JWKSURL = nil, "https://u:p@idp.example.com/jwks.json" }), []string{"JWTConfig.JWKSURL"}},
		{"JWKS timeouts out of bounds", with(func(c *JWTConfig) {
			c.Keys, c.JWKSURL = nil, "https://idp.example.com/jwks.json"
			c.HTTPTimeout = 2 * time.Minute
			c.RefreshInterval = time.Millisecond
			c.UnknownKIDRefreshInterval = time.Millisecond
			c.MaxJWKSBytes = -1
		}), []string{"JWTConfig.HTTPTimeout", "JWTConfig.RefreshInterval", "JWTConfig.UnknownKIDRefreshInterval", "JWTConfig.MaxJWKSBytes"}},
		{"leeway negative", with(func(c *JWTConfig) { c.Leeway = -time.Second }), []string{"JWTConfig.Leeway"}},
		{"leeway too large", with(func(c *JWTConfig) { c.Leeway = 6 * time.Minute }), []string{"JWTConfig.Leeway"}},
		{"claim paths", with(func(c *JWTConfig) { c.SubjectClaim, c.GroupsClaim = " sub", "realm_access..roles" }),
			[]string{"JWTConfig.SubjectClaim", "JWTConfig.GroupsClaim"}},
		{"max token bytes", with(func(c *JWTConfig) { c.MaxTokenBytes = 1 << 20 }), []string{"JWTConfig.MaxTokenBytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewJWT(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			for _, f := range tt.fields {
				assert.Contains(t, err.Error(), f+": ")
			}
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)

			auth := JWT(tt.cfg)
			require.NotNil(t, auth)
			v, ok := auth.(interface{ Validate() error })
			require.True(t, ok, "JWT(cfg) implements Validate")
			assert.ErrorIs(t, v.Validate(), ErrInvalidConfig)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil))
			id, err := auth.Authenticate(r)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.NotErrorIs(t, err, ErrInvalidCredentials)
			assert.Equal(t, Identity{}, id)
			assert.NoError(t, auth.(io.Closer).Close())
		})
	}
}

func TestJWTValidConfigs(t *testing.T) {
	ks := jtKeys(t)
	for name, cfg := range map[string]JWTConfig{
		"static keys of three types": func() JWTConfig {
			c := jtJWTConfig()
			c.Keys = map[string]crypto.PublicKey{"r": &ks.rsa1.PublicKey, "e": &ks.ec1.PublicKey, "d": ks.ed1.Public()}
			return c
		}(),
		"JWKS file": func() JWTConfig {
			c := jtJWTConfig()
			c.JWKSFile = "testdata/jwt/jwks-public.json"
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := NewJWT(cfg)
			require.NoError(t, err)
			assert.NoError(t, a.Validate())
			assert.NoError(t, a.Close())
			assert.NoError(t, a.Close(), "Close is idempotent")
			_, err = a.VerifyToken(context.Background(), jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil))
			assert.ErrorIs(t, err, ErrInvalidCredentials, "refused after Close")
		})
	}
}

// TestJWTRemoteCheckAllowInsecure checks the http:// escape hatch without
// contacting any host.
func TestJWTRemoteCheckAllowInsecure(t *testing.T) {
	for _, tt := range []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://idp.example.com/jwks", false, true},
		{"http://idp.example.com/jwks", false, false},
		{"http://idp.example.com/jwks", true, true},
		{"http://127.0.0.1:8080/jwks", false, true},
		{"http://[::1]:8080/jwks", false, true},
		{"http://localhost:8080/jwks", false, true},
		{"http://127.0.0.1.nip.io/jwks", false, false},
		{"//idp.example.com/jwks", false, false},
	} {
		o := remoteJWKSOptions{url: tt.url, allowHTTP: tt.allowHTTP, fieldPrefix: "JWTConfig"}
		errs := o.check()
		assert.Equal(t, tt.ok, len(errs) == 0, "%s allowHTTP=%v: %v", tt.url, tt.allowHTTP, errs)
	}
}

func BenchmarkJWTAuthenticate(b *testing.B) {
	ks := jtKeys(b)
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, ks.rsa1, jtRSAKID},
		{"ES256", jwt.SigningMethodES256, ks.ec1, jtECKID},
		{"EdDSA", jwt.SigningMethodEdDSA, ks.ed1, jtEdKID},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := jtJWTConfig()
			cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey, jtECKID: &ks.ec1.PublicKey, jtEdKID: ks.ed1.Public()}
			a, err := NewJWT(cfg)
			require.NoError(b, err)
			defer a.Close()
			r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
			r.Header.Set("Authorization", "Bearer "+jtSign(b, bc.method, bc.key, bc.kid, jtBaseClaims(), nil))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("RS256/JWKS", func(b *testing.B) {
		cfg := jtJWTConfig()
		cfg.JWKSJSON = jtDefaultJWKS(b)
		a, err := NewJWT(cfg)
		require.NoError(b, err)
		defer a.Close()
		r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
		r.Header.Set("Authorization", "Bearer "+jtSign(b, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := a.Authenticate(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestJWTOverTheWire sends raw HTTP/1.1 requests, so that header parsing is
// net/http's: duplicate and lower-case Authorization headers, whitespace.
func TestJWTOverTheWire(t *testing.T) {
	jtNoLeak(t)
	ks := jtKeys(t)
	cfg := jtJWTConfig()
	cfg.Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
	a := jtMustJWT(t, cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Authenticate(r)
		var te *TokenError
		switch {
		case err == nil:
			fmt.Fprintf(w, "ok %s", id.Subject)
		case errors.As(err, &te):
			fmt.Fprintf(w, "invalid %s", te.Code)
		case errors.Is(err, ErrNoCredentials):
			fmt.Fprint(w, "none")
		default:
			fmt.Fprint(w, "other")
		}
	}))
	t.Cleanup(srv.Close)
	tok := jtSign(t, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
	for _, tt := range []struct {
		name    string
		headers string
		want    string
	}{
		{"canonical", "Authorization: Bearer " + tok + "\r\n", "ok user-1"},
		{"lower-case name, extra whitespace", "authorization:   Bearer " + tok + "  \r\n", "ok user-1"},
		{"duplicate headers", "Authorization: Bearer " + tok + "\r\nauthorization: Bearer " + tok + "\r\n", "invalid malformed"},
		{"no header", "", "none"},
		{"empty header", "Authorization:\r\n", "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			_, err = fmt.Fprintf(conn, "GET /api/momento/token HTTP/1.1\r\nHost: tvm.test\r\nConnection: close\r\n%s\r\n", tt.headers)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(body))
		})
	}
}
