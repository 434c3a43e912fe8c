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
	"slices"
	"strings"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"

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

// loopbackOrigins are the emulator's default gRPC-Web CORS origins.
var loopbackOrigins = []string{"http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"}

// newLogger returns the process logger. Format "" means json in AWS Lambda
// and text elsewhere.
func newLogger(c LogConfig, lambda bool, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" || (c.Format == "" && lambda) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the token vending machine until ctx ends (SIGTERM/SIGINT),
// then shuts down gracefully. stop restores the default signal behaviour,
// so that a second signal kills the process at once.
func serve(ctx context.Context, stop func(), cfg *Config, env environment, stdout, stderr io.Writer) error {
	log := newLogger(cfg.Log, env.lambda, stderr)
	for _, w := range configWarnings(cfg, env.addr) {
		log.Warn("tvm: configuration warning (tvm check lists them)", "key", w.key, "warning", w.msg)
	}
	if env.lambda {
		return serveLambda(ctx, cfg, env, log)
	}
	if cfg.Auth.Method == "apigateway" {
		return configErrors{{key: "auth.method", msg: "apigateway works only in AWS Lambda (AWS_LAMBDA_RUNTIME_API is not set)"}}
	}

	key, err := env.momentoAPIKey(ctx, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	local := cfg.Momento.Local
	switch {
	case key != "" && local && !cfg.demo:
		return configErrors{{key: "momento.local", msg: "true, but a Momento API key is set in the environment: remove one of them"}}
	case key != "" && cfg.demo && !env.realDemo:
		return configErrors{{key: "TVM_CONFIG", msg: "none, but a Momento API key is set: the demo would vend real Momento tokens, publish+subscribe " +
			"on every topic of default-cache, to anyone who can reach it. Give a configuration, or set TVM_DEMO_REAL_TOKENS=1 to run the demo on your account"}}
	case key != "":
		local = false // the demo configuration vends real tokens when a key is set
	case !local:
		return errors.New("no Momento API key: set MOMENTO_API_KEY or MOMENTO_API_KEY_FILE (or momento.local: true in the configuration, for development)")
	}

	var (
		vendor        *tvm.MomentoVendor
		tokenEndpoint string
		emu           *momentolocal.Server
		credentials   auth.CredentialProvider
		sdkConfig     = config.InRegionLatestWithLogger(logger.NewNoopMomentoLoggerFactory())
	)
	if local {
		emu, err = startEmulator(cfg, env.localAddr, log)
		if err != nil {
			return err
		}
		defer emu.Close()
		prov, err := emu.CredentialProvider()
		if err != nil {
			return fmt.Errorf("emulator credentials: %w", err)
		}
		vendor, err = buildVendor(cfg, prov, "", "", log)
		if err != nil {
			return err
		}
		tokenEndpoint = prov.GetTokenEndpoint()
		sdkConfig = config.LaptopLatestWithLogger(logger.NewNoopMomentoLoggerFactory())
		credentials = prov
	} else {
		vendor, err = momentoVendor(cfg, env, key, log)
		if err != nil {
			return err
		}
		credentials = vendor.CredentialProvider()
		tokenEndpoint = credentials.GetTokenEndpoint()
	}
	defer vendor.Close()
	// Closed after the servers have shut down and the handler is done.
	cache, err := rateLimitCacheClient(cfg, credentials, sdkConfig)
	if err != nil {
		return err
	}
	if cache != nil {
		defer cache.Close()
	}

	// The authenticator's background work (JWKS refresh) outlives the
	// signal until in-flight requests are done.
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	m := newMetrics()
	svc, err := buildTokenService(bg, cfg, vendor, cache, m, log)
	if err != nil {
		return err
	}
	defer svc.Close()

	ln, err := net.Listen("tcp", env.addr)
	if err != nil {
		return fmt.Errorf("listening on TVM_ADDR %s: %w", env.addr, err)
	}
	addr := ln.Addr().String()
	ready := newReadiness(tokenEndpoint, log)

	// The operations endpoints share the token listener unless TVM_OPS_ADDR
	// gives them their own (e.g. to keep /metrics off the public port).
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, hostCheck(cfg, env.addr, svc.handler, log))
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
	admin := false
	if a, ok := any(emu).(interface{ AdminHandler() http.Handler }); ok && emu != nil && isLoopbackAddr(opsAddr) {
		// Fault injection for reliability tests: local mode on loopback only.
		ops.Handle(adminPrefix+"/", noBrowsers(http.StripPrefix(adminPrefix, a.AdminHandler())))
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

	printBanner(stdout, cfg, addr, opsAddr, emu, admin, vendor)
	log.Info("tvm listening", "addr", addr, "opsAddr", opsAddr, "path", cfg.Path, "auth", cfg.Auth.Method, "local", local,
		"momento", vendor.String(), "pid", os.Getpid())

	select {
	case err := <-errc:
		for _, s := range servers {
			_ = s.Close()
		}
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	stop()
	ready.draining.Store(true)
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	shCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
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
		return fmt.Errorf("graceful shutdown did not finish within %s; remaining requests were aborted", cfg.ShutdownTimeout)
	}
	log.Info("stopped")
	return nil
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
	origins := loopbackOrigins
	if o := cfg.CORS.AllowedOrigins; len(o) > 0 && !(len(o) == 1 && o[0] == "*") {
		origins = append(append([]string(nil), loopbackOrigins...), o...)
	}
	caches := cfg.Momento.Caches
	if r := cfg.RateLimit; r != nil && r.Shared != nil && r.Shared.Cache != "" && !slices.Contains(caches, r.Shared.Cache) {
		// The emulator also serves the counters of the shared rate limit.
		if len(caches) == 0 {
			caches = []string{momentolocal.DefaultCache}
		}
		caches = append(slices.Clone(caches), r.Shared.Cache)
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
		fmt.Fprintf(w, "tvm: operations on http://%s (/healthz, /readyz, /metrics)\n", opsAddr)
	} else {
		// Metrics tell outsiders the traffic, the outcomes and the upstream's
		// health; /readyz, whether Momento is reachable.
		fmt.Fprintln(w, "tvm: /healthz, /readyz and /metrics share this listener; set TVM_OPS_ADDR (e.g. 127.0.0.1:9091) to keep them off a public port")
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
