// Command chat is a browser chat on Momento Topics whose tokens come from
// tvm: the Go equivalent of Momento's Next.js chat example with an embedded
// token route, and, with -tvm-url, of its Vite example that fetches tokens
// from a separately deployed token vending machine.
//
// With no configuration it runs offline: an embedded Momento emulator
// (momentolocal) and a built-in demo identity provider that plays Cognito's
// part (users alice, in ReadWriteUserGroup, and bob, in ReadOnlyUserGroup).
// The token route verifies the demo ID tokens with tvm's real JWT
// authenticator, which fetches the demo JWKS over HTTP.
//
//	go run ./examples/chat            # builds the UI with npm on first run
//
// Environment (flags win): CHAT_ADDR, CHAT_TOKEN_TTL, MOMENTO_API_KEY (real
// Momento instead of the emulator), MOMENTO_CACHE, COGNITO_REGION,
// COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID (a real user pool instead of the
// demo identity provider), CHAT_TVM_URL and CHAT_MOMENTO_ENDPOINT (the
// standalone shape). See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run parses the command line, starts the server and serves until ctx is
// done or SIGINT/SIGTERM arrives.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	opts, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: opts.LogLevel}))

	if opts.Build {
		if err := ensureUI(ctx, opts.WebDir, stderr); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	baseURL := opts.PublicURL
	if baseURL == "" {
		baseURL = "http://" + ln.Addr().String()
	}
	a, err := newApp(opts, baseURL, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()

	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	// The token route verifies ID tokens with keys fetched from the
	// identity provider's JWKS URL, which this server itself serves in
	// demo mode: start it once the listener is serving.
	if err := a.StartTokenRoute(ctx); err != nil {
		_ = srv.Close()
		return err
	}
	a.PrintBanner(stderr)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
