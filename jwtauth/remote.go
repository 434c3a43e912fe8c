package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// remoteOptions are the Config fields of a remote JWK Set.
type remoteOptions struct {
	url        string
	client     *http.Client
	timeout    time.Duration
	refresh    time.Duration
	unknownKID time.Duration
	maxBytes   int64
	ctx        context.Context
	logger     *slog.Logger
	allowHTTP  bool
	logURL     string // scheme://host/path, for logs
}

// check validates the options, reporting problems to p under the Config
// field names, and fills in the defaults.
func (o *remoteOptions) check(p *problems) {
	u, err := url.Parse(o.url)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.add("JWKSURL", "not an absolute http(s) URL")
	case u.User != nil:
		p.add("JWKSURL", "must not contain credentials")
	case u.Scheme == "http" && !o.allowHTTP && !loopbackHost(u.Hostname()):
		p.add("JWKSURL", "must be https (http only on a loopback host, or with AllowInsecureJWKSURL)")
	default:
		o.logURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	}
	switch {
	case o.timeout == 0:
		o.timeout = defaultHTTPTimeout
	case o.timeout < 0 || o.timeout > maxHTTPTimeout:
		p.add("HTTPTimeout", fmt.Sprintf("must be between 0 and %s", maxHTTPTimeout))
	}
	switch {
	case o.refresh == 0:
		o.refresh = defaultRefreshInterval
	case o.refresh < minRefreshInterval:
		p.add("RefreshInterval", fmt.Sprintf("less than %s", minRefreshInterval))
	}
	switch {
	case o.unknownKID == 0:
		o.unknownKID = defaultUnknownKIDInterval
	case o.unknownKID < minUnknownKIDInterval:
		p.add("UnknownKIDRefreshInterval", fmt.Sprintf("less than %s", minUnknownKIDInterval))
	}
	switch {
	case o.maxBytes == 0:
		o.maxBytes = defaultMaxJWKSBytes
	case o.maxBytes < 0:
		p.add("MaxJWKSBytes", "negative")
	}
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newRemoteJWKS starts a remote JWK Set: jwkset fetches it once now
// (bounded by the timeout; a failure is logged), then every refresh
// interval in a goroutine that stops when the context ends or close is
// called. Lookups of an unknown kid go through gatedStorage.
func newRemoteJWKS(o remoteOptions) (keySource, error) {
	ctx, cancel := context.WithCancel(o.ctx)

	client, owned := boundedClient(o.client, o.timeout, o.maxBytes)

	logger, logURL := o.logger, o.logURL
	onError := func(ctx context.Context, err error) {
		logger.LogAttrs(ctx, slog.LevelWarn, "tvm: JWKS fetch failed; keeping the keys already cached",
			slog.String("url", logURL), slog.String("error", err.Error()))
	}

	httpStore, err := jwkset.NewStorageFromHTTP(o.url, jwkset.HTTPClientStorageOptions{
		Client:                    client,
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
	// when a kid is unknown; the rate limit is ours (gatedStorage), so its
	// own limiter lets everything through.
	refresher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{o.url: httpStore},
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
	return &keyfuncSource{kf: kf, onClose: func() {
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
