package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
	"go.uber.org/goleak"
)

// jtDiscoveryServer is an OpenID provider's discovery document and key set
// on loopback, whose behaviour a test changes.
type jtDiscoveryServer struct {
	srv               *httptest.Server
	docHits, jwksHits atomic.Int64
	mu                sync.Mutex
	mode              string // "ok", "down", "custom"
	doc               []byte // the document served in "custom" mode
	jwks              []byte
	trapHits          atomic.Int64 // requests to /trap/ (a jwks_uri that must not be used)
}

func jtNewDiscoveryServer(tb testing.TB, jwks []byte) *jtDiscoveryServer {
	tb.Helper()
	d := &jtDiscoveryServer{mode: "ok", jwks: jwks}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	tb.Cleanup(d.srv.Close)
	return d
}

// issuer is the provider's issuer: a path under the server, as Keycloak's.
func (d *jtDiscoveryServer) issuer() string { return d.srv.URL + "/realms/test" }

func (d *jtDiscoveryServer) set(mode string, doc []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mode, d.doc = mode, doc
}

func (d *jtDiscoveryServer) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	mode, doc, jwks := d.mode, d.doc, d.jwks
	d.mu.Unlock()
	switch r.URL.Path {
	case "/realms/test/.well-known/openid-configuration":
		d.docHits.Add(1)
		switch mode {
		case "down":
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case "ok":
			doc, _ = json.Marshal(map[string]any{
				"issuer": d.issuer(), "jwks_uri": d.issuer() + "/protocol/openid-connect/certs",
				"authorization_endpoint": d.issuer() + "/auth", "id_token_signing_alg_values_supported": []string{"RS256"},
			})
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	case "/realms/test/protocol/openid-connect/certs":
		d.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	default:
		if strings.HasPrefix(r.URL.Path, "/trap/") {
			d.trapHits.Add(1)
			_, _ = w.Write(jwks)
			return
		}
		http.NotFound(w, r)
	}
}

// jtDiscovering makes an authenticator discovering d's issuer.
func jtDiscovering(t *testing.T, d *jtDiscoveryServer, edit func(c *Config)) (*Authenticator, *jtLogBuffer) {
	t.Helper()
	cfg := jtConfig()
	cfg.Issuers[0].Issuer = d.issuer()
	return jtLogged(t, cfg, edit)
}

func jtDiscoveryToken(t *testing.T, d *jtDiscoveryServer) string {
	c := jtBaseClaims()
	c["iss"] = d.issuer()
	return jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, c, nil)
}

// jtAssertUnavailable checks that err is the 503 of an issuer whose key set
// is not known yet: not a credential error, with a Retry-After.
func jtAssertUnavailable(t *testing.T, id tvm.Identity, err error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, tvm.ErrUpstreamUnavailable)
	assert.NotErrorIs(t, err, tvm.ErrInvalidCredentials, "the token may be fine: never a 401")
	assert.Equal(t, tvm.Identity{}, id, "never a pass")
	var ra interface{ RetryAfter() time.Duration }
	require.ErrorAs(t, err, &ra)
	assert.Positive(t, ra.RetryAfter())
}

func TestDiscovery(t *testing.T) {
	jtNoLeak(t)
	d := jtNewDiscoveryServer(t, jtDefaultJWKS(t))
	a, _ := jtDiscovering(t, d, nil)
	assert.EqualValues(t, 1, d.docHits.Load(), "New ran discovery once")
	assert.EqualValues(t, 1, d.jwksHits.Load(), "and fetched the key set it names")
	id, err := a.VerifyToken(context.Background(), jtDiscoveryToken(t, d))
	require.NoError(t, err)
	assert.Equal(t, "user-1", id.Subject)
	assert.EqualValues(t, 1, d.docHits.Load(), "discovery is not repeated")
}

func TestDiscoveryDownAtStart(t *testing.T) {
	jtNoLeak(t)
	d := jtNewDiscoveryServer(t, jtDefaultJWKS(t))
	d.set("down", nil)
	start := time.Now()
	a, logs := jtDiscovering(t, d, nil)
	assert.Less(t, time.Since(start), 5*time.Second, "New does not wait for the provider")
	tok := jtDiscoveryToken(t, d)
	id, err := a.VerifyToken(context.Background(), tok)
	jtAssertUnavailable(t, id, err)
	jtAssertNoTokenInError(t, err, []string{tok})
	assert.Contains(t, logs.String(), "discovery failed")
	assert.Contains(t, logs.String(), "503")

	// The provider comes back: the background retry finds it.
	d.set("ok", nil)
	jtEventually(t, 10*time.Second, func() bool {
		_, err := a.VerifyToken(context.Background(), tok)
		return err == nil
	}, "discovery retried in the background")
	assert.GreaterOrEqual(t, d.docHits.Load(), int64(2))
	assert.NotContains(t, logs.String(), tok[strings.LastIndex(tok, ".")+1:], "tokens are never logged")
}

// TestDiscoveryThroughHandler checks what a browser sees while discovery is
// pending: tvm's handler answers 503 with Retry-After, not 401, not 200.
func TestDiscoveryThroughHandler(t *testing.T) {
	d := jtNewDiscoveryServer(t, jtDefaultJWKS(t))
	d.set("down", nil)
	a, _ := jtDiscovering(t, d, func(c *Config) { c.Now = nil })
	scopes, err := tvm.NewGroupScopes(tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "c", Topic: tvm.All}}})
	require.NoError(t, err)
	vends := 0
	h, err := tvm.NewHandler(tvm.Config{Authenticator: a, Scopes: scopes, Vendor: jtVendor(func(g tvm.Grant) (tvm.Token, error) {
		vends++
		return tvm.Token{AuthToken: "x", ExpiresAt: time.Now().Add(g.TTL)}, nil
	})})
	require.NoError(t, err)
	c := jtBaseClaims()
	c["iss"] = d.issuer()
	c["exp"] = time.Now().Add(time.Hour).Unix()
	c["iat"], c["nbf"] = time.Now().Unix(), time.Now().Unix()
	r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil)
	r.Header.Set("Authorization", "Bearer "+jtSign(t, jwt.SigningMethodRS256, jtKeys(t).rsa1, jtRSAKID, c, nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	assert.NotEmpty(t, w.Header().Get("Retry-After"))
	assert.Zero(t, vends)
}

// jtVendor is a tvm.Vendor from a function.
type jtVendor func(g tvm.Grant) (tvm.Token, error)

func (f jtVendor) Vend(_ context.Context, g tvm.Grant) (tvm.Token, error) { return f(g) }

// TestDiscoveryHostileDocuments: a discovery document that names another
// issuer, a key set over plain http or elsewhere unusable, a huge or
// broken body: the issuer stays unavailable (503, never a pass), the
// failure is logged as an error, and a jwks_uri of a refused document is
// never fetched.
func TestDiscoveryHostileDocuments(t *testing.T) {
	jtNoLeak(t)
	jwks := jtDefaultJWKS(t)
	for _, tt := range []struct {
		name string
		doc  func(d *jtDiscoveryServer) []byte
		log  string
	}{
		{"another issuer", func(d *jtDiscoveryServer) []byte {
			return jtDoc(t, "https://evil.test/realms/test", d.srv.URL+"/trap/jwks")
		}, "not the configured one"},
		{"the issuer with a trailing slash", func(d *jtDiscoveryServer) []byte {
			return jtDoc(t, d.issuer()+"/", d.srv.URL+"/trap/jwks")
		}, "not the configured one"},
		{"the issuer in another case", func(d *jtDiscoveryServer) []byte {
			return jtDoc(t, strings.ToUpper(d.issuer()), d.srv.URL+"/trap/jwks")
		}, "not the configured one"},
		{"no issuer", func(d *jtDiscoveryServer) []byte { return []byte(`{"jwks_uri":"` + d.srv.URL + `/trap/jwks"}`) }, "not the configured one"},
		{"issuer of the wrong type", func(d *jtDiscoveryServer) []byte {
			return []byte(`{"issuer":1,"jwks_uri":"` + d.srv.URL + `/trap/jwks"}`)
		}, "discovery document"},
		{"jwks_uri over http on a public host", func(d *jtDiscoveryServer) []byte {
			return jtDoc(t, d.issuer(), "http://keys.example.com/jwks")
		}, "must be https"},
		{"jwks_uri with credentials", func(d *jtDiscoveryServer) []byte {
			return jtDoc(t, d.issuer(), "https://user:pass@keys.example.com/jwks")
		}, "credentials"},
		{"jwks_uri missing", func(d *jtDiscoveryServer) []byte { return jtDoc(t, d.issuer(), "") }, "not an absolute"},
		{"jwks_uri relative", func(d *jtDiscoveryServer) []byte { return jtDoc(t, d.issuer(), "/trap/jwks") }, "not an absolute"},
		{"an oversized document", func(d *jtDiscoveryServer) []byte {
			doc := map[string]any{"issuer": d.issuer(), "jwks_uri": d.srv.URL + "/trap/jwks", "pad": strings.Repeat("x", 64<<10)}
			raw, _ := json.Marshal(doc)
			return raw
		}, "larger than the limit"},
		{"garbage", func(*jtDiscoveryServer) []byte { return []byte("<html>login</html>") }, "discovery document"},
		{"a JSON array", func(*jtDiscoveryServer) []byte { return []byte(`[{"issuer":"x"}]`) }, "discovery document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := jtNewDiscoveryServer(t, jwks)
			d.set("custom", tt.doc(d))
			a, logs := jtDiscovering(t, d, func(c *Config) { c.MaxResponseBytes = 16 << 10 })
			tok := jtDiscoveryToken(t, d)
			id, err := a.VerifyToken(context.Background(), tok)
			jtAssertUnavailable(t, id, err)
			assert.ErrorContains(t, err, tt.log, "New waited for the first attempt: its failure is the reason")
			assert.Contains(t, logs.String(), "level=ERROR", "and it was logged before New returned")
			assert.Contains(t, logs.String(), tt.log)
			assert.Zero(t, d.trapHits.Load(), "the jwks_uri of a refused document is never fetched")
			assert.Zero(t, d.jwksHits.Load())
		})
	}
}

func jtDoc(t *testing.T, issuer, jwksURI string) []byte {
	raw, err := json.Marshal(map[string]any{"issuer": issuer, "jwks_uri": jwksURI})
	require.NoError(t, err)
	return raw
}

// TestDiscoveryNotAttemptedWithDoneContext: tvm check builds with a
// context that is already done; discovery is then neither attempted nor an
// error, and nothing keeps running.
func TestDiscoveryNotAttemptedWithDoneContext(t *testing.T) {
	d := jtNewDiscoveryServer(t, jtDefaultJWKS(t))
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, logs := jtDiscovering(t, d, func(c *Config) { c.Context = ctx })
	assert.Zero(t, d.docHits.Load(), "no request")
	assert.Empty(t, logs.String(), "nothing to report")
	id, err := a.VerifyToken(context.Background(), jtDiscoveryToken(t, d))
	jtAssertUnavailable(t, id, err)
	goleak.VerifyNone(t, ignore)
}

// TestDiscoveryCloseStopsRetries: Close ends the background retries.
func TestDiscoveryCloseStopsRetries(t *testing.T) {
	d := jtNewDiscoveryServer(t, jtDefaultJWKS(t))
	d.set("down", nil)
	ignore := goleak.IgnoreCurrent()
	cfg := jtConfig()
	cfg.Issuers[0].Issuer = d.issuer()
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	a, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	hits := d.docHits.Load()
	goleak.VerifyNone(t, ignore)
	time.Sleep(1500 * time.Millisecond) // past the first retry
	assert.Equal(t, hits, d.docHits.Load(), "no retry after Close")
	jtAssertClosed(t, a, jtDiscoveryToken(t, d))
}

// TestDiscoveryKeySetNeverFetched: discovery succeeded but the key set
// could not be fetched yet: the issuer is unavailable (503), not the token
// invalid; once the key set is reachable, tokens verify.
func TestDiscoveryKeySetNeverFetched(t *testing.T) {
	jtNoLeak(t)
	d := jtNewDiscoveryServer(t, []byte("not yet"))
	a, _ := jtDiscovering(t, d, nil)
	tok := jtDiscoveryToken(t, d)
	id, err := a.VerifyToken(context.Background(), tok)
	jtAssertUnavailable(t, id, err)
	d.mu.Lock()
	d.jwks = jtDefaultJWKS(t)
	d.mu.Unlock()
	jtResetLimiter(t, a)
	_, err = a.VerifyToken(context.Background(), tok)
	assert.NoError(t, err, "the unknown-kid refresh fetched the key set")
	assert.False(t, errors.Is(err, tvm.ErrUpstreamUnavailable))
}
