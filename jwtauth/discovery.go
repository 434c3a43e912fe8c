package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Backoff of discovery retries (Issuer.Issuer): the first retry after
// about 1s, doubling to at most 1m, each with ±10% jitter.
const (
	discoveryFirstRetry = time.Second
	discoveryMaxRetry   = time.Minute
)

// discovered is the key source of an issuer without one: OpenID Connect
// discovery finds its jwks_uri (as coreos/go-oidc's NewProvider does), then
// a remote key set serves it. Until discovery succeeds, lookups fail with an
// *unavailableError; discovery is retried in the background with backoff.
type discovered struct {
	name, issuer, docURL string
	allowHTTP            bool
	o                    fetchOptions
	client               *http.Client
	owned                *http.Transport // closed with the source

	inner  atomic.Pointer[keySource] // nil until discovery succeeds
	cancel context.CancelFunc
	done   chan struct{} // closed when the background goroutine ends

	mu      sync.Mutex
	closed  bool
	lastErr error
	next    time.Time // when the next attempt is due
}

// newDiscovery starts the discovery of issuer: the first attempt now, in a
// goroutine registered with first (New waits for it), the retries in the
// background. With a context already done nothing is attempted (tvm check)
// and lookups report the issuer unavailable.
func newDiscovery(name, issuer string, allowHTTP bool, o fetchOptions, first *sync.WaitGroup) *discovered {
	d := &discovered{
		name: name, issuer: issuer, allowHTTP: allowHTTP, o: o,
		docURL: strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
		done:   make(chan struct{}),
	}
	if o.ctx.Err() != nil {
		d.cancel = func() {}
		d.lastErr = errors.New("discovery not attempted: the context is done")
		close(d.done)
		return d
	}
	d.client, d.owned = boundedClient(o.client, o.timeout, o.maxBytes)
	var ctx context.Context
	ctx, d.cancel = context.WithCancel(o.ctx)
	first.Add(1)
	go d.run(ctx, first.Done)
	return d
}

// run attempts discovery until it succeeds or ctx ends, calling
// firstDone once the first attempt has been recorded: succeeded, or failed
// with its error stored (lookups report it) and logged.
func (d *discovered) run(ctx context.Context, firstDone func()) {
	defer close(d.done)
	defer func() {
		if firstDone != nil {
			firstDone()
		}
	}()
	wait := discoveryFirstRetry
	for {
		err := d.attempt(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		delay := time.Duration(float64(wait) * (0.9 + 0.2*rand.Float64()))
		d.mu.Lock()
		d.lastErr, d.next = err, time.Now().Add(delay)
		d.mu.Unlock()
		d.o.logger.LogAttrs(ctx, slog.LevelError, "tvm: OpenID Connect discovery failed; retrying, tokens of this issuer are refused with 503 meanwhile",
			slog.String("issuer", d.name), slog.String("url", logURL(d.docURL)), slog.Duration("retry_in", delay), slog.String("error", err.Error()))
		if firstDone != nil {
			firstDone()
			firstDone = nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, discoveryMaxRetry)
	}
}

// discoveryDoc holds the fields of a discovery document that are used.
type discoveryDoc struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// attempt fetches the discovery document once, checks it and starts the
// remote key set of its jwks_uri.
func (d *discovered) attempt(runCtx context.Context) error {
	ctx, cancel := context.WithTimeout(runCtx, d.o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.docURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery document: HTTP status %d", resp.StatusCode)
	}
	var doc discoveryDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return fmt.Errorf("discovery document: %w", err)
	}
	if doc.Issuer != d.issuer {
		return fmt.Errorf("discovery document names the issuer %s, not the configured one (they must be equal exactly)", quote(doc.Issuer))
	}
	if pr := fetchURLProblem(doc.JWKSURI, d.allowHTTP, "jwks_uri"); pr != "" {
		return fmt.Errorf("discovery document's jwks_uri %s: %s", quote(doc.JWKSURI), pr)
	}
	// The key set lives as long as the discovery source (runCtx), its
	// requests through the same bounded client.
	o := d.o
	o.ctx, o.client = runCtx, d.client
	ks, err := newRemoteJWKS(d.name, doc.JWKSURI, o)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		ks.close()
		return context.Canceled
	}
	d.inner.Store(&ks)
	return nil
}

func (d *discovered) lookup(ctx context.Context, t *jwt.Token, kid string) (any, error) {
	if ks := d.inner.Load(); ks != nil {
		return (*ks).lookup(ctx, t, kid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return nil, &unavailableError{issuer: d.name, cause: d.lastErr, retryAfter: max(time.Until(d.next), time.Second)}
}

func (d *discovered) current(kid string) any {
	if ks := d.inner.Load(); ks != nil {
		return (*ks).current(kid)
	}
	return nil
}

func (d *discovered) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	<-d.done
	if ks := d.inner.Load(); ks != nil {
		(*ks).close()
	}
	if d.owned != nil {
		d.owned.CloseIdleConnections()
	}
}

// quote quotes a string an identity provider sent, for messages: escaped,
// and cut to 200 bytes.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}
