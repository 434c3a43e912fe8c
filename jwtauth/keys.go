package tvm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// keySource finds the key that verifies a token. Implementations: static
// keys by kid, a static JWK Set, and a remote JWK Set with refresh.
type keySource interface {
	// lookup returns the public key named kid, or an error wrapping
	// errJWTUnknownKID or errJWTKeyAlgMismatch.
	lookup(ctx context.Context, t *jwt.Token, kid string) (any, error)
	// close stops background work; lookups keep answering from memory.
	close()
}

// errJWKSTooLarge is the cause of a refused, oversized JWKS response.
var errJWKSTooLarge = errors.New("JWKS response body larger than the limit")

// jwksUseAllowed lists the JWK "use" values a verification key may have:
// "sig" or none.
var jwksUseAllowed = []jwkset.USE{jwkset.UseSig, ""}

// jwtKeyFitsAlg reports whether key is a public key that may verify alg:
// RSA keys of at least 2048 bits for RS* and PS*, the matching NIST curve
// for ES*, Ed25519 for EdDSA.
func jwtKeyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N != nil && k.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}

// jwtPublicKeyProblem says what is wrong with a configured verification key,
// given the allowed algorithms, or returns "".
func jwtPublicKeyProblem(key any, algs []string) string {
	switch k := key.(type) {
	case nil:
		return "is nil"
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey, []byte:
		return fmt.Sprintf("is a %T: give the public key (private and symmetric keys are refused)", k)
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "is a nil RSA key"
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Sprintf("is a %d-bit RSA key: at least %d bits are required", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "is a nil ECDSA key"
		}
	case ed25519.PublicKey:
	default:
		return fmt.Sprintf("has unsupported type %T (want *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey)", key)
	}
	if !slices.ContainsFunc(algs, func(alg string) bool { return jwtKeyFitsAlg(key, alg) }) {
		return fmt.Sprintf("cannot verify any of the configured Algorithms %v", algs)
	}
	return ""
}

// jwtStaticKeys is the key source of JWTConfig.Keys.
type jwtStaticKeys map[string]crypto.PublicKey

func newStaticKeys(keys map[string]crypto.PublicKey, algs []string) (keySource, error) {
	if len(keys) == 0 {
		return nil, errors.New("empty")
	}
	var problems []string
	out := make(jwtStaticKeys, len(keys))
	for _, kid := range slices.Sorted(maps.Keys(keys)) {
		if kid == "" {
			problems = append(problems, "a key has an empty kid")
			continue
		}
		if p := jwtPublicKeyProblem(keys[kid], algs); p != "" {
			problems = append(problems, fmt.Sprintf("key %q %s", kid, p))
			continue
		}
		out[kid] = keys[kid]
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

func (s jwtStaticKeys) lookup(_ context.Context, _ *jwt.Token, kid string) (any, error) {
	k, ok := s[kid]
	if !ok {
		return nil, errJWTUnknownKID
	}
	return k, nil
}

func (jwtStaticKeys) close() {}

// jwtKeyfuncSource looks keys up with MicahParks/keyfunc, which also refuses
// a JWK whose "alg" differs from the token's and a JWK whose "use" is not
// "sig".
type jwtKeyfuncSource struct {
	kf      keyfunc.Keyfunc
	onClose func()
}

func (s *jwtKeyfuncSource) lookup(ctx context.Context, t *jwt.Token, _ string) (any, error) {
	key, err := s.kf.KeyfuncCtx(ctx)(t)
	if err == nil {
		return key, nil
	}
	if errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, errors.Join(errJWTUnknownKID, err)
	}
	// JWK alg differs from the token's, or the JWK's use is not "sig".
	return nil, errors.Join(errJWTKeyAlgMismatch, err)
}

func (s *jwtKeyfuncSource) close() {
	if s.onClose != nil {
		s.onClose()
	}
}

// newStaticJWKS parses a JWK Set document. Every key must have a kid and be
// usable (a public RSA key of at least 2048 bits, an EC or Ed25519 key, use
// "sig" or none); keys of types jwkset does not support are skipped.
func newStaticJWKS(raw []byte) (keySource, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	var problems []string
	usable := 0
	for i, m := range set.Keys {
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			problems = append(problems, fmt.Sprintf("key #%d: %v", i, err))
			continue
		}
		name := fmt.Sprintf("key #%d", i)
		if m.KID == "" {
			problems = append(problems, name+" has no kid")
			continue
		}
		name = fmt.Sprintf("key %q", m.KID)
		if !slices.Contains(jwksUseAllowed, m.USE) {
			problems = append(problems, fmt.Sprintf("%s has use %q, not \"sig\"", name, m.USE))
			continue
		}
		if p := jwtPublicKeyProblem(jwk.Key(), jwtAllAlgs); p != "" {
			problems = append(problems, name+" "+p)
			continue
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			return nil, err
		}
		usable++
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if usable == 0 {
		return nil, errors.New("no usable key in the JSON Web Key Set")
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: store, UseWhitelist: jwksUseAllowed})
	if err != nil {
		return nil, err
	}
	return &jwtKeyfuncSource{kf: kf}, nil
}

// jwtAllAlgs lists every supported algorithm.
var jwtAllAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// newJWKSFile reads a JWK Set file of at most DefaultMaxJWKSBytes.
func newJWKSFile(path string) (keySource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, DefaultMaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > DefaultMaxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", DefaultMaxJWKSBytes)
	}
	return newStaticJWKS(raw)
}

// remoteJWKSOptions are the JWTConfig fields of a remote JWK Set.
type remoteJWKSOptions struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	refresh     time.Duration
	unknownKID  time.Duration
	maxBytes    int64
	ctx         context.Context
	logger      *slog.Logger
	allowHTTP   bool
	fieldPrefix string
	logURL      string // scheme://host/path, for logs
}

// check validates the options and fills in defaults.
func (o *remoteJWKSOptions) check() []error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &ConfigError{Field: o.fieldPrefix + "." + field, Problem: problem})
	}
	u, err := url.Parse(o.url)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		bad("JWKSURL", "not an absolute http(s) URL")
	case u.User != nil:
		bad("JWKSURL", "must not contain credentials")
	case u.Scheme == "http" && !o.allowHTTP && !jwtLoopbackHost(u.Hostname()):
		bad("JWKSURL", "must be https (http only on a loopback host, or with AllowInsecureJWKSURL)")
	default:
		o.logURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	}
	switch {
	case o.timeout == 0:
		o.timeout = DefaultJWKSHTTPTimeout
	case o.timeout < 0 || o.timeout > MaxJWKSHTTPTimeout:
		bad("HTTPTimeout", fmt.Sprintf("must be between 0 and %s", MaxJWKSHTTPTimeout))
	}
	switch {
	case o.refresh == 0:
		o.refresh = DefaultJWKSRefreshInterval
	case o.refresh < MinJWKSRefreshInterval:
		bad("RefreshInterval", fmt.Sprintf("less than %s", MinJWKSRefreshInterval))
	}
	switch {
	case o.unknownKID == 0:
		o.unknownKID = DefaultJWKSUnknownKIDInterval
	case o.unknownKID < time.Second:
		bad("UnknownKIDRefreshInterval", "less than 1s")
	}
	switch {
	case o.maxBytes == 0:
		o.maxBytes = DefaultMaxJWKSBytes
	case o.maxBytes < 0:
		bad("MaxJWKSBytes", "negative")
	}
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return errs
}

// jwtLoopbackHost reports whether host is localhost or a loopback address.
func jwtLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newRemoteJWKS starts a remote JWK Set: jwkset fetches it once now
// (bounded by the timeout; a failure is logged), then every refresh
// interval in a goroutine that stops when the context ends or close is
// called. Lookups of an unknown kid go through jwksGatedStorage.
func newRemoteJWKS(o remoteJWKSOptions) (keySource, error) {
	ctx, cancel := context.WithCancel(o.ctx)

	var client http.Client
	if o.client != nil {
		client = *o.client
	}
	var owned *http.Transport
	base := client.Transport
	if base == nil {
		if o.client == nil {
			owned = http.DefaultTransport.(*http.Transport).Clone()
			base = owned
		} else {
			base = http.DefaultTransport
		}
	}
	client.Transport = &jwksLimitTransport{base: base, max: o.maxBytes}
	if client.Timeout == 0 || client.Timeout > o.timeout {
		client.Timeout = o.timeout
	}

	logger, logURL := o.logger, o.logURL
	onError := func(ctx context.Context, err error) {
		logger.LogAttrs(ctx, slog.LevelWarn, "tvm: JWKS fetch failed; keeping the keys already cached",
			slog.String("url", logURL), slog.String("error", err.Error()))
	}

	httpStore, err := jwkset.NewStorageFromHTTP(o.url, jwkset.HTTPClientStorageOptions{
		Client:                    &client,
		Ctx:                       ctx,
		HTTPTimeout:               o.timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onError,
		RefreshInterval:           o.refresh,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	// refresher re-fetches on demand: jwkset refreshes its HTTP storages
	// when a kid is unknown; the rate limit is ours (jwksGatedStorage), so
	// its own limiter lets everything through.
	refresher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{o.url: httpStore},
		RateLimitWaitMax:  o.timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	gated := &jwksGatedStorage{
		Storage:   httpStore,
		refresher: refresher,
		limiter:   rate.NewLimiter(rate.Every(o.unknownKID), 1),
		ctx:       ctx,
		timeout:   o.timeout,
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: gated, UseWhitelist: jwksUseAllowed})
	if err != nil {
		cancel()
		return nil, err
	}
	return &jwtKeyfuncSource{kf: kf, onClose: func() {
		// Cancel under the lock, so that KeyRead either started its
		// refresh goroutine (wg.Add) before, or sees the cancellation.
		gated.mu.Lock()
		cancel()
		gated.mu.Unlock()
		gated.wg.Wait()
		if owned != nil {
			owned.CloseIdleConnections()
		}
	}}, nil
}

// jwksGatedStorage is the cached remote JWK Set. A kid that is not cached
// triggers one refresh at a time, at most once per limiter period; lookups
// that arrive while a refresh is in flight wait for it (or for their own
// context), lookups that find the limiter empty fail at once. So a flood of
// made-up kids costs the issuer one request per period, and a legitimate
// key rotation is picked up by the first token signed with the new key.
type jwksGatedStorage struct {
	jwkset.Storage                // the cache, refreshed in the background
	refresher      jwkset.Storage // KeyRead refreshes the cache
	limiter        *rate.Limiter
	ctx            context.Context
	timeout        time.Duration

	mu       sync.Mutex
	inflight chan struct{} // closed when the refresh in flight ends
	wg       sync.WaitGroup
}

// KeyRead returns the cached key, refreshing the cache (rate limited) when
// kid is unknown.
func (g *jwksGatedStorage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := g.Storage.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwk, err
	}
	g.mu.Lock()
	done := g.inflight
	if done == nil {
		if g.ctx.Err() != nil || !g.limiter.Allow() {
			g.mu.Unlock()
			return jwkset.JWK{}, err
		}
		done = make(chan struct{})
		g.inflight = done
		g.wg.Add(1)
		go g.refresh(kid, done)
	}
	g.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return jwkset.JWK{}, errors.Join(err, ctx.Err())
	}
	return g.Storage.KeyRead(ctx, kid)
}

// refresh fetches the JWK Set once, bounded by the timeout and by the life
// of the authenticator (not by the request that triggered it, so that the
// other requests waiting for it are not cut short by one client leaving).
func (g *jwksGatedStorage) refresh(kid string, done chan struct{}) {
	defer g.wg.Done()
	defer func() {
		g.mu.Lock()
		g.inflight = nil
		g.mu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(g.ctx, g.timeout)
	defer cancel()
	// Refresh errors go to the RefreshErrorHandler (logged); a kid still
	// unknown afterwards is the caller's business.
	_, _ = g.refresher.KeyRead(ctx, kid)
}

// jwksLimitTransport refuses JWKS response bodies longer than max bytes:
// at once when Content-Length says so, otherwise when the reader goes past
// the limit.
type jwksLimitTransport struct {
	base http.RoundTripper
	max  int64
}

// RoundTrip sends the request and bounds the response body.
func (t *jwksLimitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (Content-Length %d > %d)", errJWKSTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &jwksLimitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *jwksLimitTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// jwksLimitedBody reads at most left bytes, then fails with errJWKSTooLarge.
type jwksLimitedBody struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (b *jwksLimitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = errJWKSTooLarge
	return n, b.err
}

func (b *jwksLimitedBody) Close() error { return b.rc.Close() }
