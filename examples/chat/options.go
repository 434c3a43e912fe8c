package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// options configures the chat server.
type options struct {
	// Addr is the listen address.
	Addr string
	// PublicURL is the server's URL as browsers reach it; it is also the
	// demo identity provider's issuer. Default http://<listen address>.
	PublicURL string
	// WebDir is the UI's directory (with package.json; dist/ is served).
	WebDir string
	// Build runs npm ci and the Vite build when dist/ is missing.
	Build bool
	// TokenTTL is the lifetime of vended Momento tokens.
	TokenTTL time.Duration
	// IDTokenTTL is the lifetime of the demo identity provider's tokens.
	IDTokenTTL time.Duration
	// Cache is the Momento cache whose topics are the rooms.
	Cache string
	// EmulatorAddr is where the embedded emulator listens (local mode).
	EmulatorAddr string
	// MomentoAPIKey selects real Momento (never logged).
	MomentoAPIKey string
	// Cognito selects a real user pool instead of the demo identity provider.
	Cognito cognitoOptions
	// TVMURL selects the standalone shape: the page fetches tokens from
	// this URL (a cmd/tvm on another origin) and this server serves only
	// the UI, its config.json and the demo identity provider.
	TVMURL string
	// MomentoEndpoint is the Momento base URL the page's SDK uses in the
	// standalone shape (e.g. the standalone tvm's emulator); empty means
	// the endpoint carried by the token.
	MomentoEndpoint string
	// LogLevel is the server's log level.
	LogLevel slog.Level
}

// cognitoOptions names a Cognito user pool and app client.
type cognitoOptions struct {
	Region, UserPoolID, ClientID string
}

func (c cognitoOptions) enabled() bool {
	return c.Region != "" || c.UserPoolID != "" || c.ClientID != ""
}

// Mode names: what the page's badge and config.json say.
const (
	modeLocal      = "local"
	modeMomento    = "momento"
	modeStandalone = "standalone"
)

func (o options) mode() string {
	switch {
	case o.TVMURL != "":
		return modeStandalone
	case o.MomentoAPIKey != "":
		return modeMomento
	default:
		return modeLocal
	}
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envDuration := func(name string, def time.Duration) (time.Duration, error) {
		v := getenv(name)
		if v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return d, nil
	}
	ttl, err := envDuration("CHAT_TOKEN_TTL", 15*time.Minute)
	if err != nil {
		return options{}, err
	}

	var o options
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Addr, "addr", env("CHAT_ADDR", "127.0.0.1:8080"), "listen address (env CHAT_ADDR)")
	fs.StringVar(&o.PublicURL, "public-url", env("CHAT_PUBLIC_URL", ""), "URL browsers use to reach this server; default http://<addr> (env CHAT_PUBLIC_URL)")
	fs.StringVar(&o.WebDir, "web", env("CHAT_WEB_DIR", defaultWebDir()), "directory of the web UI (env CHAT_WEB_DIR)")
	fs.BoolVar(&o.Build, "build", true, "run npm ci and vite build when the UI is not built yet")
	fs.DurationVar(&o.TokenTTL, "token-ttl", ttl, "lifetime of vended Momento tokens (env CHAT_TOKEN_TTL)")
	fs.DurationVar(&o.IDTokenTTL, "id-token-ttl", time.Hour, "lifetime of the demo identity provider's ID tokens")
	fs.StringVar(&o.Cache, "cache", env("MOMENTO_CACHE", "default-cache"), "Momento cache whose topics are the rooms (env MOMENTO_CACHE)")
	fs.StringVar(&o.EmulatorAddr, "emulator-addr", env("CHAT_EMULATOR_ADDR", "127.0.0.1:0"), "listen address of the embedded Momento emulator (env CHAT_EMULATOR_ADDR)")
	fs.StringVar(&o.TVMURL, "tvm-url", env("CHAT_TVM_URL", ""), "standalone shape: URL of a token vending machine on another origin (env CHAT_TVM_URL)")
	fs.StringVar(&o.MomentoEndpoint, "momento-endpoint", env("CHAT_MOMENTO_ENDPOINT", ""), "standalone shape: Momento base URL for the browser SDK, e.g. the standalone tvm's emulator (env CHAT_MOMENTO_ENDPOINT)")
	logLevel := fs.String("log-level", env("CHAT_LOG_LEVEL", "info"), "debug, info, warn or error (env CHAT_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := o.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return options{}, fmt.Errorf("-log-level: %w", err)
	}
	o.MomentoAPIKey = getenv("MOMENTO_API_KEY")
	o.Cognito = cognitoOptions{
		Region:     getenv("COGNITO_REGION"),
		UserPoolID: getenv("COGNITO_USER_POOL_ID"),
		ClientID:   getenv("COGNITO_CLIENT_ID"),
	}
	return o, o.check()
}

func (o options) check() error {
	if o.TokenTTL <= 0 || o.TokenTTL > time.Hour {
		return fmt.Errorf("-token-ttl must be positive and at most 1h, got %s", o.TokenTTL)
	}
	if o.IDTokenTTL < time.Minute {
		return fmt.Errorf("-id-token-ttl must be at least 1m, got %s", o.IDTokenTTL)
	}
	if o.Cognito.enabled() && (o.Cognito.Region == "" || o.Cognito.UserPoolID == "" || o.Cognito.ClientID == "") {
		return fmt.Errorf("set all of COGNITO_REGION, COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID, or none")
	}
	for name, v := range map[string]string{"-public-url": o.PublicURL, "-tvm-url": o.TVMURL, "-momento-endpoint": o.MomentoEndpoint} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s must be an http(s) URL, got %q", name, v)
		}
	}
	if o.TVMURL != "" && o.MomentoAPIKey != "" {
		return fmt.Errorf("-tvm-url (standalone shape) and MOMENTO_API_KEY exclude each other: the standalone tvm holds the API key")
	}
	return nil
}

// defaultWebDir finds examples/chat/web: next to this source file when run
// with `go run` or built in the repository, else ./web or
// ./examples/chat/web under the working directory.
func defaultWebDir() string {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "web"))
	}
	candidates = append(candidates, "web", filepath.Join("examples", "chat", "web"))
	for _, c := range candidates {
		if st, err := os.Stat(filepath.Join(c, "package.json")); err == nil && !st.IsDir() {
			return c
		}
	}
	return "web"
}
