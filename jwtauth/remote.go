package jwtauth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// fetchURLProblem says what is wrong with the address of a discovery
// document or key set (named field in the message), or returns "": it must
// be an absolute https URL without credentials, or http on a loopback host
// (or with allowHTTP).
func fetchURLProblem(raw string, allowHTTP bool, field string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "not an absolute http(s) URL"
	case u.User != nil:
		return "must not contain credentials"
	case field == "Issuer" && (u.RawQuery != "" || u.Fragment != ""):
		return "must not have a query or fragment"
	case u.Scheme == "http" && !allowHTTP && !loopbackHost(u.Hostname()):
		return "must be https (http only on a loopback host, or with AllowInsecureHTTP)"
	}
	return ""
}

// logURL returns scheme://host/path of a checked URL, for logs.
func logURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadedStorage is the memory store of a remote key set; it remembers
// whether a fetch ever succeeded, and the last failure.
type loadedStorage struct {
	jwkset.Storage
	loaded  atomic.Bool
	lastErr atomic.Pointer[error]
}

// KeyReplaceAll is called by jwkset after every successful fetch.
func (s *loadedStorage) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	err := s.Storage.KeyReplaceAll(ctx, given)
	if err == nil {
		s.loaded.Store(true)
	}
	return err
}

func (s *loadedStorage) failed(err error) { s.lastErr.Store(&err) }

func (s *loadedStorage) last() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// newRemoteJWKS starts the remote JWK Set at rawURL (checked) of the
// issuer named name: jwkset fetches it once now (bounded by the timeout; a
// failure is logged), then every refresh interval in a goroutine that
// stops when the context ends or close is called. Lookups of an unknown
// kid go through gatedStorage. With a context already done nothing is
// fetched.
func newRemoteJWKS(name, rawURL string, o fetchOptions) (keySource, error) {
	ctx, cancel := context.WithCancel(o.ctx)

	client, owned := boundedClient(o.client, o.timeout, o.maxBytes)

	logger, where := o.logger, logURL(rawURL)
	store := &loadedStorage{Storage: jwkset.NewMemoryStorage()}
	onError := func(ctx context.Context, err error) {
		store.failed(err)
		if o.ctx.Err() != nil {
			return // shutting down, or tvm check: not a failure of the issuer
		}
		logger.LogAttrs(ctx, slog.LevelWarn, "tvm: JWKS fetch failed; keeping the keys already cached",
			slog.String("issuer", name), slog.String("url", where), slog.String("error", err.Error()))
	}

	httpStore, err := jwkset.NewStorageFromHTTP(rawURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               o.timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onError,
		RefreshInterval:           o.refresh,
		Storage:                   store,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	// refresher re-fetches on demand: jwkset refreshes its HTTP storages
	// when a kid is unknown; the rate limit is ours (gatedStorage), so its
	// own limiter lets everything through.
	refresher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{rawURL: httpStore},
		RateLimitWaitMax:  o.timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	gated := &gatedStorage{
		Storage:   httpStore,
		refresher: refresher,
		limiter:   rate.NewLimiter(rate.Every(o.unknownKID), 1),
		ctx:       ctx,
		timeout:   o.timeout,
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: gated, UseWhitelist: useAllowed})
	if err != nil {
		cancel()
		return nil, err
	}
	return &keyfuncSource{kf: kf, store: store, loaded: store.loaded.Load, name: name, lastErr: store.last, retry: o.unknownKID, onClose: func() {
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

// gatedStorage is the cached remote JWK Set. A kid that is not cached
// triggers one refresh at a time, at most once per limiter period; lookups
// that arrive while a refresh is in flight wait for it (or for their own
// context), lookups that find the limiter empty fail at once. So a flood of
// made-up kids costs the issuer one request per period, and a legitimate
// key rotation is picked up by the first token signed with the new key.
type gatedStorage struct {
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
func (g *gatedStorage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
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
func (g *gatedStorage) refresh(kid string, done chan struct{}) {
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
