package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
)

// Hot reload (not in AWS Lambda, whose instances start fresh): on SIGHUP,
// and when the configuration file or MOMENTO_API_KEY_FILE changes, tvm
// builds a new generation (the configuration, a vendor for the current API
// key, the cache client of the shared counters, the authenticator, the
// handler) completely, then swaps it in atomically. A configuration that
// does not load or build leaves the running generation in place. Requests
// in flight finish on the generation they started on, which is closed once
// no request uses it.

// Polling of the watched files (TVM_RELOAD_INTERVAL).
const (
	defaultReloadInterval = 2 * time.Second
	minReloadInterval     = 10 * time.Millisecond
)

// parseReloadInterval reads TVM_RELOAD_INTERVAL: empty means the default
// (2s), "0" turns file watching off (SIGHUP still reloads).
func parseReloadInterval(s string) (time.Duration, error) {
	switch s {
	case "":
		return defaultReloadInterval, nil
	case "0":
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minReloadInterval {
		return 0, configErrors{{key: "TVM_RELOAD_INTERVAL", msg: fmt.Sprintf("must be 0 (off) or a duration of at least %s, such as 2s", minReloadInterval)}}
	}
	return d, nil
}

// generation is what one configuration and one API key were built into.
// It counts its users: the live holder while it serves, and every request
// on it. Retiring it (a reload replaced it, or the process exits) drops
// the holder's count; whoever drops the last one closes its components.
type generation struct {
	id       int
	cfg      *Config
	handler  http.Handler
	vendor   *tvm.MomentoVendor
	endpoint string // Momento's token endpoint (host:port), for /readyz
	openapi  []byte // the OpenAPI document of cfg
	keySum   [sha256.Size]byte
	closers  []func() // closed in reverse order
	log      *slog.Logger

	refs     atomic.Int64
	announce atomic.Bool // log when closed (a reload retired it)
	once     sync.Once
}

// release drops one use of g, closing g when it was the last. (A single
// counter, not a count and a "retired" flag: a request finishing while a
// reload retires g could otherwise see the count at zero before g was
// retired and the flag set after a newer request took g.)
func (g *generation) release() {
	if g.refs.Add(-1) == 0 {
		g.close()
	}
}

// retire drops the live holder's use of g: g is closed now if no request
// uses it, else by the last one.
func (g *generation) retire(announce bool) {
	g.announce.Store(announce)
	g.release()
}

// close closes g's components (authenticator and its JWKS refresh, cache
// client, vendor), once.
func (g *generation) close() {
	g.once.Do(func() {
		for i := len(g.closers) - 1; i >= 0; i-- {
			g.closers[i]()
		}
		if g.announce.Load() && g.id > 0 {
			g.log.Info("closed the previous configuration (no request in flight on it)", "generation", g.id)
		}
	})
}

// live holds the generation serving tokens.
type live struct{ cur atomic.Pointer[generation] }

func newLive(g *generation) *live {
	l := &live{}
	g.refs.Add(1) // the holder's use
	l.cur.Store(g)
	return l
}

// current returns the serving generation, for reading its configuration.
func (l *live) current() *generation { return l.cur.Load() }

// acquire returns the serving generation, counted as in use until
// release. A generation swapped out between the load and the count is
// never used: the loop takes the new one. (Its count may then go from
// zero to one and back, calling close again, which does nothing twice.)
func (l *live) acquire() *generation {
	for {
		g := l.cur.Load()
		g.refs.Add(1)
		if l.cur.Load() == g {
			return g
		}
		g.release()
	}
}

// swap makes g the serving generation and returns the previous one, for
// the caller to retire.
func (l *live) swap(g *generation) *generation {
	g.refs.Add(1) // the holder's use
	return l.cur.Swap(g)
}

// ServeHTTP serves a token request on the current generation, which stays
// open until the request is done.
func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := l.acquire()
	defer g.release()
	// The write deadline follows the generation's vendTimeout, which a
	// reload may raise beyond the server's WriteTimeout set at start.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(g.cfg.VendTimeout + writeSlack))
	g.handler.ServeHTTP(w, r)
}

// serveOpenAPI serves the current generation's OpenAPI document.
func (l *live) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	doc := l.current().openapi
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(doc)
}

// builder builds generations: what does not change while the process
// runs (environment, emulator, metrics, logger) plus a configuration and
// an API key.
type builder struct {
	env     environment
	emu     *momentolocal.Server // nil unless tokens come from the embedded emulator
	metrics *metrics
	log     *slog.Logger
	bg      context.Context // outlives the signals: generations' background work
	built   int
}

// build builds the generation of cfg and key. abort (a stopping process)
// cancels a JWKS fetch under way; the generation's own background work
// lives until it is closed.
func (b *builder) build(abort context.Context, cfg *Config, key secret) (*generation, error) {
	g := &generation{cfg: cfg, log: b.log, keySum: sha256.Sum256([]byte(key))}
	gctx, cancel := context.WithCancel(b.bg)
	g.closers = append(g.closers, cancel)
	fail := func(err error) (*generation, error) {
		g.close()
		return nil, err
	}
	var (
		creds auth.CredentialProvider
		err   error
		sdk   = config.InRegionLatestWithLogger(logger.NewNoopMomentoLoggerFactory())
	)
	if b.emu != nil {
		if creds, err = b.emu.CredentialProvider(); err != nil {
			return fail(fmt.Errorf("emulator credentials: %w", err))
		}
		g.vendor, err = buildVendor(cfg, creds, "", "", b.log)
		sdk = config.LaptopLatestWithLogger(logger.NewNoopMomentoLoggerFactory())
	} else if g.vendor, err = momentoVendor(cfg, b.env, key, b.log); err == nil {
		creds = g.vendor.CredentialProvider()
	}
	if err != nil {
		return fail(err)
	}
	g.closers = append(g.closers, func() { _ = g.vendor.Close() })
	g.endpoint = creds.GetTokenEndpoint()
	cache, err := rateLimitCacheClient(cfg, creds, sdk)
	if err != nil {
		return fail(err)
	}
	if cache != nil {
		g.closers = append(g.closers, cache.Close)
	}
	stop := context.AfterFunc(abort, cancel)
	svc, err := buildTokenService(gctx, cfg, g.vendor, cache, b.metrics, b.log)
	stop()
	if err != nil {
		return fail(err)
	}
	g.closers = append(g.closers, func() { _ = svc.Close() })
	if err := abort.Err(); err != nil {
		return fail(err)
	}
	if g.openapi, err = openAPIJSON(cfg); err != nil {
		return fail(err)
	}
	g.handler = hostCheck(cfg, b.env.addr, svc.handler, b.log)
	b.built++
	g.id = b.built
	return g, nil
}

// reloadFixed lists the problems of a new configuration that changes what
// a reload cannot: the path the token listener routes, where tokens come
// from (momento.local), what the embedded emulator was started with (its
// caches, its browser origins), the log format.
func reloadFixed(old, cfg *Config) configErrors {
	var probs configErrors
	restart := func(key string) {
		probs = append(probs, problem{key: key, msg: "cannot change on reload (restart tvm to change it)"})
	}
	if cfg.Path != old.Path {
		restart("path")
	}
	if cfg.Momento.Local != old.Momento.Local {
		restart("momento.local")
	}
	if old.Momento.Local && cfg.Momento.Local {
		was, now := emulatorConfig(old, "", nil), emulatorConfig(cfg, "", nil)
		if !slices.Equal(was.Caches, now.Caches) {
			probs = append(probs, problem{key: "momento.caches", msg: "the embedded emulator's caches (with rateLimit.shared.cache) cannot change on reload (restart tvm to change them)"})
		}
		if !slices.Equal(was.AllowedOrigins, now.AllowedOrigins) {
			probs = append(probs, problem{key: "cors.allowedOrigins", msg: "the embedded emulator's browser origins cannot change on reload (restart tvm to change them)"})
		}
	}
	if cfg.Log.Format != old.Log.Format {
		restart("log.format")
	}
	if cfg.Auth.Method == "apigateway" {
		probs = append(probs, apiGatewayOutsideLambda)
	}
	return probs
}

// reloader reloads on SIGHUP and when a watched file changes.
type reloader struct {
	live     *live
	b        *builder
	path     string        // the configuration file; "" for the demo configuration
	interval time.Duration // polling period of the watched files; 0: SIGHUP only
	ready    *readiness
	level    *slog.LevelVar
	log      *slog.Logger
	reloads  *prometheus.CounterVec // tvm_config_reloads_total{result}
	lastOK   prometheus.Gauge       // tvm_config_last_reload_successful
	seen     map[string][sha256.Size]byte
}

func newReloader(l *live, b *builder, path string, interval time.Duration, ready *readiness, level *slog.LevelVar, reg *prometheus.Registry) *reloader {
	r := &reloader{
		live: l, b: b, path: path, interval: interval, ready: ready, level: level, log: b.log,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tvm_config_reloads_total",
			Help: "Configuration reloads (SIGHUP, or a change of the configuration file or MOMENTO_API_KEY_FILE) by result: ok (swapped in) or error (the running configuration kept).",
		}, []string{"result"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tvm_config_last_reload_successful",
			Help: "1 when the last reload succeeded (or none was tried), 0 when it failed and an older configuration is serving.",
		}),
		seen: map[string][sha256.Size]byte{},
	}
	reg.MustRegister(r.reloads, r.lastOK)
	r.reloads.WithLabelValues("ok")
	r.reloads.WithLabelValues("error")
	r.lastOK.Set(1)
	for _, f := range r.watched() {
		r.seen[f] = fileState(f)
	}
	return r
}

// watched returns the files whose changes trigger a reload.
func (r *reloader) watched() []string {
	var files []string
	for _, f := range []string{r.path, r.b.env.apiKeyFile} {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// fileState is the digest of a file's content, read through any symlink
// (so Kubernetes' swap of a mounted secret's ..data link is a change), or
// of the error reading it.
func fileState(path string) [sha256.Size]byte {
	f, err := os.Open(path)
	if err != nil {
		return sha256.Sum256([]byte("error: " + err.Error()))
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxConfigSize+1)); err != nil {
		return sha256.Sum256([]byte("error: " + err.Error()))
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// changed reports which watched files changed since last seen ("" when
// none), and remembers their new state.
func (r *reloader) changed() string {
	var what []string
	for _, f := range r.watched() {
		if s := fileState(f); s != r.seen[f] {
			r.seen[f] = s
			what = append(what, f)
		}
	}
	return strings.Join(what, ", ")
}

// run reloads on hup and, every interval, when a watched file changed,
// until ctx ends. Reloads are serialized; signals arriving during one
// coalesce into the next.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	var tick <-chan time.Time
	if r.interval > 0 && len(r.watched()) > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.changed() // the reload reads the files as they are now
			r.reload(ctx, "SIGHUP")
		case <-tick:
			if what := r.changed(); what != "" {
				r.reload(ctx, "changed: "+what)
			}
		}
	}
}

// reload builds the configuration and API key as they are now and swaps
// them in, or keeps the running generation and logs why.
func (r *reloader) reload(ctx context.Context, trigger string) {
	cur := r.live.current()
	g, err := r.next(ctx, cur)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: not a failed reload
		}
		r.reloads.WithLabelValues("error").Inc()
		r.lastOK.Set(0)
		r.log.Error("configuration reload failed: still serving the previous configuration",
			"trigger", trigger, "generation", cur.id, "error", oneLine(err))
		return
	}
	old := r.live.swap(g)
	r.level.Set(logLevel(g.cfg.Log))
	r.ready.retarget(g.endpoint)
	r.reloads.WithLabelValues("ok").Inc()
	r.lastOK.Set(1)
	r.log.Info("configuration reloaded", "trigger", trigger, "generation", g.id, "previous", cur.id,
		"auth", g.cfg.Auth.Method, "scopeRules", len(g.cfg.Scopes), "momento", g.vendor.String(), "apiKeyChanged", g.keySum != old.keySum)
	old.retire(true)
}

// next loads the configuration and the API key and builds them.
func (r *reloader) next(ctx context.Context, cur *generation) (*generation, error) {
	cfg := DemoConfig()
	if r.path != "" {
		var err error
		if cfg, err = LoadConfig(r.path); err != nil {
			return nil, err
		}
	}
	if probs := reloadFixed(cur.cfg, cfg); len(probs) > 0 {
		return nil, probs
	}
	key, err := r.b.env.momentoAPIKey(ctx, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	local, err := momentoMode(cfg, key, r.b.env.realDemo)
	if err != nil {
		return nil, err
	}
	if local != (r.b.emu != nil) {
		return nil, errors.New("where tokens come from (the embedded emulator or a Momento API key) cannot change on reload: restart tvm")
	}
	return r.b.build(ctx, cfg, key)
}

// retarget points the readiness check at a new token endpoint (a new API
// key may name another region).
func (r *readiness) retarget(target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.target != target {
		r.target, r.checkedAt, r.err = target, time.Time{}, nil
	}
}

// oneLine renders err on one log line: configuration problems joined by
// "; ".
func oneLine(err error) string {
	var ce configErrors
	if errors.As(err, &ce) {
		lines := make([]string, len(ce))
		for i, p := range ce {
			lines[i] = p.String()
		}
		return strings.Join(lines, "; ")
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
