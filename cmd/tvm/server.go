package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"
)

// Server timeouts. WriteTimeout is the configured vend timeout plus
// writeSlack (which also covers the library's default vend timeout).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 60 * time.Second
	writeSlack        = 30 * time.Second
	maxHeaderBytes    = 64 << 10
	adminPrefix       = "/admin/momentolocal"
)

// newLogger returns the process logger. Format "" means json in AWS Lambda
// and text elsewhere. Its level is held by level when not nil, so that a
// reload can change it.
func newLogger(c LogConfig, lambda bool, w io.Writer, level *slog.LevelVar) *slog.Logger {
	var leveler slog.Leveler = logLevel(c)
	if level != nil {
		level.Set(logLevel(c))
		leveler = level
	}
	opts := &slog.HandlerOptions{Level: leveler}
	if c.Format == "json" || (c.Format == "" && lambda) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logLevel is the level of log.level (validated already).
func logLevel(c LogConfig) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	return level
}

// serve runs the token vending machine until ctx ends (SIGTERM/SIGINT),
// then shuts down gracefully. stop restores the default signal behaviour,
// so that a second signal kills the process at once. Outside Lambda it
// reloads the configuration on SIGHUP and when the configuration file or
// MOMENTO_API_KEY_FILE changes (see reload.go).
func serve(ctx context.Context, stop func(), cfg *Config, env environment, stdout, stderr io.Writer) error {
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, env.lambda, stderr, level)
	for _, w := range configWarnings(cfg, env.addr) {
		log.Warn("tvm: configuration warning (tvm check lists them)", "key", w.key, "warning", w.msg)
	}
	if env.lambda {
		return serveLambda(ctx, cfg, env, log)
	}
	if cfg.Auth.Method == "apigateway" {
		return configErrors{apiGatewayOutsideLambda}
	}
	interval, err := parseReloadInterval(env.reloadInterval)
	if err != nil {
		return err
	}
	// SIGHUP reloads from now on (its default would end the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	key, err := env.momentoAPIKey(ctx, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	local, err := momentoMode(cfg, key, env.realDemo)
	if err != nil {
		return err
	}
	var emu *momentolocal.Server
	if local {
		if emu, err = startEmulator(cfg, env.localAddr, log); err != nil {
			return err
		}
		defer emu.Close()
	}
	m := newMetrics()
	// The generations' background work (JWKS refresh) outlives the signal
	// until in-flight requests are done.
	b := &builder{env: env, emu: emu, metrics: m, log: log, bg: context.WithoutCancel(ctx)}
	gen, err := b.build(b.bg, cfg, key)
	if err != nil {
		return err
	}
	tokens := newLive(gen)
	// Closed after the servers have shut down and the handlers are done.
	defer func() { tokens.current().retire(false) }()

	ln, err := net.Listen("tcp", env.addr)
	if err != nil {
		return fmt.Errorf("listening on TVM_ADDR %s: %w", env.addr, err)
	}
	addr := ln.Addr().String()
	ready := newReadiness(gen.endpoint, log)

	// The operations endpoints share the token listener unless TVM_OPS_ADDR
	// gives them their own (e.g. to keep /metrics off the public port).
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, tokens) // each generation checks Host as its configuration says (hostCheck)
	mux.HandleFunc("/", notFound)
	ops, opsAddr := mux, addr
	var opsLn net.Listener
	if env.opsAddr != "" {
		opsLn, err = net.Listen("tcp", env.opsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on TVM_OPS_ADDR %s: %w", env.opsAddr, err)
		}
		opsAddr = opsLn.Addr().String()
		ops = http.NewServeMux()
		ops.HandleFunc("/", notFound)
	}
	ops.HandleFunc("/healthz", healthz)
	ops.Handle("/readyz", ready)
	ops.Handle("/metrics", m.handler())
	ops.HandleFunc("/openapi.json", tokens.serveOpenAPI)
	admin := false
	if emu != nil && isLoopbackAddr(opsAddr) {
		// Fault injection for reliability tests: local mode on loopback only.
		ops.Handle(adminPrefix+"/", noBrowsers(http.StripPrefix(adminPrefix, emu.AdminHandler())))
		admin = true
	}

	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      cfg.VendTimeout + writeSlack,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	tokenSrv := newServer(mux)
	servers := []*http.Server{tokenSrv}
	errc := make(chan error, 2)
	go func() { errc <- tokenSrv.Serve(ln) }()
	if opsLn != nil {
		opsSrv := newServer(ops)
		servers = append(servers, opsSrv)
		go func() { errc <- opsSrv.Serve(opsLn) }()
	}

	reloads := newReloader(tokens, b, env.configPath, interval, ready, level, m.reg)
	rctx, stopReloads := context.WithCancel(ctx)
	reloaderDone := make(chan struct{})
	go func() {
		defer close(reloaderDone)
		reloads.run(rctx, hup)
	}()
	defer func() {
		stopReloads()
		<-reloaderDone
	}()

	printBanner(stdout, cfg, addr, opsAddr, emu, admin, gen.vendor)
	log.Info("tvm listening", "addr", addr, "opsAddr", opsAddr, "path", cfg.Path, "auth", cfg.Auth.Method, "local", local,
		"momento", gen.vendor.String(), "pid", os.Getpid(), "reloadInterval", interval)

	select {
	case err := <-errc:
		for _, s := range servers {
			_ = s.Close()
		}
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	stop()
	// No reload swaps a generation in while the servers drain.
	stopReloads()
	<-reloaderDone
	ready.draining.Store(true)
	timeout := tokens.current().cfg.ShutdownTimeout
	log.Info("shutting down: finishing in-flight requests", "timeout", timeout)
	shCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The token listener first: /readyz keeps answering "shutting down"
	// on a separate operations listener until the token requests are done.
	var shutdownErr error
	for _, s := range servers {
		if err := s.Shutdown(shCtx); err != nil {
			shutdownErr = err
			_ = s.Close()
		}
	}
	if shutdownErr != nil {
		return fmt.Errorf("graceful shutdown did not finish within %s; remaining requests were aborted", timeout)
	}
	log.Info("stopped")
	return nil
}

// apiGatewayOutsideLambda refuses auth.method apigateway when serving
// outside AWS Lambda, at start and on reload.
var apiGatewayOutsideLambda = problem{key: "auth.method", msg: "apigateway works only in AWS Lambda (AWS_LAMBDA_RUNTIME_API is not set)"}

// momentoMode decides where tokens come from: the embedded emulator
// (local) or Momento with key. key may be empty. A reload decides again
// and must come to the same answer.
func momentoMode(cfg *Config, key secret, realDemo bool) (local bool, err error) {
	switch {
	case key != "" && cfg.Momento.Local && !cfg.demo:
		return false, configErrors{{key: "momento.local", msg: "true, but a Momento API key is set in the environment: remove one of them"}}
	case key != "" && cfg.demo && !realDemo:
		return false, configErrors{{key: "TVM_CONFIG", msg: "none, but a Momento API key is set: the demo would vend real Momento tokens, publish+subscribe " +
			"on every topic of default-cache, to anyone who can reach it. Give a configuration, or set TVM_DEMO_REAL_TOKENS=1 to run the demo on your account"}}
	case key != "":
		return false, nil // the demo configuration vends real tokens when a key is set
	case !cfg.Momento.Local:
		return false, errors.New("no Momento API key: set MOMENTO_API_KEY or MOMENTO_API_KEY_FILE (or momento.local: true in the configuration, for development)")
	}
	return true, nil
}

// startEmulator starts the embedded Momento emulator for momento.local.
func startEmulator(cfg *Config, addr string, log *slog.Logger) (*momentolocal.Server, error) {
	emu, err := momentolocal.Start(emulatorConfig(cfg, addr, log.With("component", "momentolocal")))
	if err != nil {
		return nil, fmt.Errorf("starting the embedded Momento emulator on MOMENTO_LOCAL_ADDR %s: %w", addr, err)
	}
	return emu, nil
}

// emulatorConfig is the embedded emulator's configuration for cfg.
func emulatorConfig(cfg *Config, addr string, log *slog.Logger) momentolocal.Config {
	origins := momentolocal.LoopbackOrigins()
	if o := cfg.CORS.AllowedOrigins; len(o) > 0 && !(len(o) == 1 && o[0] == "*") {
		origins = append(origins, o...)
	}
	caches := cfg.Momento.Caches
	// The emulator also serves the counters of the shared rate limit and
	// of the shared vend ceiling.
	for _, s := range []*SharedRateLimitConfig{cfg.RateLimit.shared(), cfg.VendLimit.shared()} {
		if s == nil || s.Cache == "" || slices.Contains(caches, s.Cache) {
			continue
		}
		if len(caches) == 0 {
			caches = []string{momentolocal.DefaultCache}
		}
		caches = append(slices.Clone(caches), s.Cache)
	}
	return momentolocal.Config{
		Addr:   addr,
		Caches: caches,
		// Only the TVM (which holds the root key) may mint tokens.
		RequireAPIKey:  true,
		AllowedOrigins: origins,
		Logger:         log,
	}
}

// printBanner tells a human where things are, on stdout.
func printBanner(w io.Writer, cfg *Config, addr, opsAddr string, emu *momentolocal.Server, admin bool, vendor *tvm.MomentoVendor) {
	base := "http://" + addr
	fmt.Fprintf(w, "tvm: listening on %s (auth %s)\n", base, cfg.Auth.Method)
	fmt.Fprintf(w, "tvm: tokens at    %s%s\n", base, cfg.Path)
	if opsAddr != addr {
		fmt.Fprintf(w, "tvm: operations on http://%s (/healthz, /readyz, /metrics, /openapi.json)\n", opsAddr)
	} else {
		// Metrics tell outsiders the traffic, the outcomes and the upstream's
		// health; /readyz, whether Momento is reachable.
		fmt.Fprintln(w, "tvm: /healthz, /readyz, /metrics and /openapi.json share this listener; set TVM_OPS_ADDR (e.g. 127.0.0.1:9091) to keep them off a public port")
	}
	if cfg.Auth.Method == "open" || len(cfg.AllowedHosts) > 0 {
		fmt.Fprintln(w, "tvm: tokens only for Host localhost, an IP address, the listen name or allowedHosts (DNS rebinding)")
	}
	if emu != nil {
		fmt.Fprintf(w, "tvm: momento emulator (momentolocal) on %s, caches %s; gRPC and gRPC-Web, plaintext\n",
			emu.Addr(), strings.Join(emu.Config().Caches, ", "))
		if admin {
			fmt.Fprintf(w, "tvm: emulator fault injection at http://%s%s/ (Authorization: Bearer %s)\n", opsAddr, adminPrefix, emu.AdminSecret())
		}
	} else {
		fmt.Fprintf(w, "tvm: vending real Momento tokens (%s)\n", strings.TrimSuffix(strings.TrimPrefix(vendor.String(), "tvm.MomentoVendor{"), "}"))
	}
	switch {
	case cfg.Auth.Method == "open" && strings.HasPrefix(cfg.TokenID, "query:"):
		fmt.Fprintf(w, "tvm: try: curl '%s%s?%s=alice'\n", base, cfg.Path, strings.TrimPrefix(cfg.TokenID, "query:"))
	case cfg.Auth.Method == "open":
		fmt.Fprintf(w, "tvm: try: curl '%s%s'\n", base, cfg.Path)
	case cfg.Auth.Method == "basic":
		fmt.Fprintf(w, "tvm: try: curl -u USER:PASSWORD '%s%s'\n", base, cfg.Path)
	default:
		fmt.Fprintf(w, "tvm: try: curl -H \"Authorization: Bearer $JWT\" '%s%s'\n", base, cfg.Path)
	}
}

func isLoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noBrowsers refuses requests sent by a web browser on behalf of a page
// (they carry Origin or a Sec-Fetch-Site other than "none"), so that a web
// page cannot inject faults into a developer's local emulator (CSRF).
// curl, test code and scripts send neither header.
func noBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || (r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "none") {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "message": "the admin endpoint refuses browser requests"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// notFound answers every unknown path.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such endpoint"})
}
