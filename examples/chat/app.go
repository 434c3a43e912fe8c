package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/tvmgo/tvm/momentolocal"
)

// Group names, as in the seed's Cognito user pool.
const (
	readWriteGroup = "ReadWriteUserGroup"
	readOnlyGroup  = "ReadOnlyUserGroup"
)

// demoAudience is the demo identity provider's client id (`aud`).
const demoAudience = "tvm-chat-demo"

// tokenPath is where the token vending machine route is mounted.
const tokenPath = "/api/momento/token"

// defaultRooms are the rooms the page suggests.
var defaultRooms = []string{"general", "random", "momento"}

// demoUsers are the demo identity provider's accounts.
var demoUsers = []demoUser{
	{Username: "alice", Groups: []string{readWriteGroup}},
	{Username: "bob", Groups: []string{readOnlyGroup}},
	{Username: "carol", Groups: []string{readWriteGroup}},
	// eve is in no chat group: the token route refuses her (403).
	{Username: "eve", Groups: nil},
}

// app is the chat server: the UI, its config.json, the demo identity
// provider, the token route and, in local mode, the embedded emulator.
type app struct {
	opts     options
	baseURL  string
	logger   *slog.Logger
	router   chi.Router
	idp      *demoIdP
	emulator *momentolocal.Server
	closers  []func() error
	// token is the token route's handler, set by StartTokenRoute.
	token atomic.Pointer[http.Handler]
}

// newApp builds the server for opts. baseURL is the server's URL as the
// browser and the token route reach it (the demo issuer).
func newApp(opts options, baseURL string, logger *slog.Logger) (*app, error) {
	a := &app{opts: opts, baseURL: baseURL, logger: logger}
	if !opts.Cognito.enabled() {
		idp, err := newDemoIdP(baseURL, demoAudience, demoUsers, demoPassword, opts.IDTokenTTL)
		if err != nil {
			return nil, err
		}
		a.idp = idp
	}
	if opts.mode() == modeLocal {
		em, err := momentolocal.Start(momentolocal.Config{
			Addr:   opts.EmulatorAddr,
			Caches: []string{opts.Cache},
			Logger: logger.With("component", "momentolocal"),
		})
		if err != nil {
			return nil, fmt.Errorf("starting the Momento emulator: %w", err)
		}
		a.emulator = em
		a.closers = append(a.closers, em.Close)
	}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer, securityHeaders)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/config.json", a.serveConfig)
	r.Get("/api/config", a.serveConfig)
	if a.idp != nil {
		a.idp.Mount(r)
	}
	if opts.mode() != modeStandalone {
		r.Handle(tokenPath, http.HandlerFunc(a.serveToken))
	}
	r.Handle("/*", http.FileServerFS(os.DirFS(filepath.Join(opts.WebDir, "dist"))))
	a.router = r
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

func (a *app) serveToken(w http.ResponseWriter, r *http.Request) {
	h := a.token.Load()
	if h == nil {
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable, "starting", "the token route is starting")
		return
	}
	(*h).ServeHTTP(w, r)
}

// StartTokenRoute builds the tvm handler (embedded shape only). It is
// called once the server is serving, because the JWT authenticator fetches
// the demo identity provider's JWKS from this very server.
func (a *app) StartTokenRoute(ctx context.Context) error {
	if a.opts.mode() == modeStandalone {
		return nil
	}
	h, closeFn, err := newTokenHandler(ctx, tokenSetup{
		opts:     a.opts,
		idp:      a.idp,
		emulator: a.emulator,
		logger:   a.logger,
	})
	if err != nil {
		return err
	}
	if closeFn != nil {
		a.closers = append(a.closers, closeFn)
	}
	a.token.Store(&h)
	return nil
}

// Close stops the emulator and the token route's background work.
func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// pageConfig is config.json: what the page needs to know at run time.
type pageConfig struct {
	Mode            string     `json:"mode"`
	TokenURL        string     `json:"tokenUrl"`
	MomentoEndpoint string     `json:"momentoEndpoint"`
	CacheName       string     `json:"cacheName"`
	Rooms           []string   `json:"rooms"`
	Groups          pageGroups `json:"groups"`
	Auth            pageAuth   `json:"auth"`
}

type pageGroups struct {
	ReadWrite string `json:"readWrite"`
	ReadOnly  string `json:"readOnly"`
}

type pageAuth struct {
	Type     string     `json:"type"` // "demo" or "cognito"
	URL      string     `json:"url,omitempty"`
	Users    []demoUser `json:"users,omitempty"`
	Password string     `json:"password,omitempty"`
	Region   string     `json:"region,omitempty"`
	ClientID string     `json:"clientId,omitempty"`
}

// PageConfig returns the page's configuration.
func (a *app) PageConfig() pageConfig {
	c := pageConfig{
		Mode:      a.opts.mode(),
		TokenURL:  tokenPath,
		CacheName: a.opts.Cache,
		Rooms:     defaultRooms,
		Groups:    pageGroups{ReadWrite: readWriteGroup, ReadOnly: readOnlyGroup},
	}
	switch c.Mode {
	case modeLocal:
		c.MomentoEndpoint = a.emulator.URL()
	case modeStandalone:
		c.TokenURL = a.opts.TVMURL
		c.MomentoEndpoint = a.opts.MomentoEndpoint
	}
	if a.idp != nil {
		c.Auth = pageAuth{Type: "demo", Users: a.idp.Users(), Password: demoPassword}
	} else {
		c.Auth = pageAuth{Type: "cognito", Region: a.opts.Cognito.Region, ClientID: a.opts.Cognito.ClientID}
	}
	return c
}

func (a *app) serveConfig(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, a.PageConfig())
}

// securityHeaders sets headers that cost nothing for this page.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// PrintBanner tells the user where to go.
func (a *app) PrintBanner(w io.Writer) {
	c := a.PageConfig()
	fmt.Fprintf(w, "chat: open %s  (mode %s, cache %s, token TTL %s)\n", a.baseURL, c.Mode, c.CacheName, a.opts.TokenTTL)
	if a.emulator != nil {
		fmt.Fprintf(w, "chat: Momento emulator (gRPC and gRPC-Web) on %s\n", a.emulator.Addr())
	}
	if a.idp != nil {
		fmt.Fprintf(w, "chat: demo sign-in: alice and carol (%s), bob (%s), eve (no group); password %q\n", readWriteGroup, readOnlyGroup, demoPassword)
		fmt.Fprintf(w, "chat: demo identity provider: issuer %s, JWKS %s, audience %s\n", a.idp.Issuer(), a.idp.JWKSURL(), demoAudience)
		if u, err := url.Parse(a.baseURL); err == nil && !isLoopbackHost(u.Hostname()) {
			fmt.Fprintln(w, "chat: WARNING: the demo identity provider signs anyone in with a published password; keep it on loopback")
		}
	}
	if c.Mode == modeStandalone {
		fmt.Fprintf(w, "chat: standalone shape: tokens from %s; allow origin %s in its CORS settings\n", c.TokenURL, originOf(a.baseURL))
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host
}
