// Command tvm is a standalone token vending machine for Momento: one binary
// that serves tokens on a laptop, on a server, or in AWS Lambda behind API
// Gateway, configured by a YAML file and the environment.
//
// Usage:
//
//	tvm [serve] [--config FILE] [--addr ADDR]   serve tokens (the default)
//	tvm check [--strict] [--config FILE]        validate a configuration and exit
//	tvm explain [--config FILE] [caller]        say what tvm would answer a caller
//	tvm openapi [--config FILE]                 print the OpenAPI document of the token endpoint
//	tvm hash-password [--cost N]                read a password on stdin, print its bcrypt hash
//	tvm version                                 print the version
//
// With no configuration and no MOMENTO_API_KEY, tvm starts an embedded
// Momento emulator and vends open, publish+subscribe tokens for
// default-cache: a demo that works on a fresh machine. See the README for
// the configuration reference.
//
// Environment:
//
//	TVM_ADDR               listen address (default 127.0.0.1:8080)
//	TVM_OPS_ADDR           separate address for /healthz, /readyz, /metrics, /openapi.json (default: TVM_ADDR)
//	TVM_CONFIG             configuration file (also --config)
//	TVM_RELOAD_INTERVAL    how often the configuration and key files are checked for changes (default 2s; 0: off)
//	MOMENTO_API_KEY        Momento API key (never logged)
//	MOMENTO_API_KEY_FILE   file holding the Momento API key
//	MOMENTO_LOCAL_ADDR     embedded emulator address (default 127.0.0.1:9090)
//	TVM_DEMO_REAL_TOKENS   1: the demo (no configuration) may vend real tokens with MOMENTO_API_KEY
//	AWS_LAMBDA_RUNTIME_API set by AWS Lambda: serve API Gateway events
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/tvmgo/tvm"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1 // runtime failure
	exitConfig = 2 // usage or configuration error
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is main without process globals, for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, args, getenv, stdout, stderr)
	case "check":
		return cmdCheck(args, getenv, stdout, stderr)
	case "explain":
		return cmdExplain(ctx, args, getenv, stdin, stdout, stderr)
	case "openapi":
		return cmdOpenAPI(args, getenv, stdout, stderr)
	case "hash-password":
		return cmdHashPassword(args, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "tvm", version())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "tvm: unknown command %q\n%s", cmd, usage)
		return exitConfig
	}
}

const usage = `usage:
  tvm [serve] [--config FILE] [--addr ADDR]   serve tokens (default command); SIGHUP reloads
  tvm check [--strict] [--config FILE]        validate a configuration file and exit (--strict: warnings are errors)
  tvm explain [--config FILE] [--jwt TOKEN|- | --user NAME | --claims JSON] [--query Q] [--offline]
                                              say what tvm would answer a caller, vending nothing
  tvm openapi [--config FILE]                 print the OpenAPI 3.1 document of the token endpoint
  tvm hash-password [--cost N]                read a password on stdin, print its bcrypt hash
  tvm version                                 print the version

environment: TVM_ADDR, TVM_OPS_ADDR, TVM_CONFIG, TVM_RELOAD_INTERVAL, MOMENTO_API_KEY, MOMENTO_API_KEY_FILE, MOMENTO_LOCAL_ADDR, TVM_DEMO_REAL_TOKENS
`

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tvm "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// cmdServe serves tokens until SIGTERM or SIGINT (or forever in Lambda).
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	configPath := fs.String("config", "", "configuration file (default $TVM_CONFIG; none: local demo)")
	addr := fs.String("addr", "", "listen address (default $TVM_ADDR or 127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tvm serve: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	env := readEnv(getenv)
	if *configPath != "" {
		env.configPath = *configPath
	}
	if *addr != "" {
		env.addr = *addr
	}
	cfg, code := loadOrDemo(env.configPath, stderr)
	if cfg == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, stop, cfg, env, stdout, stderr); err != nil {
		var ce configErrors
		if errors.As(err, &ce) {
			printProblems(stderr, env.configPath, ce)
			return exitConfig
		}
		fmt.Fprintf(stderr, "tvm: %v\n", err)
		return exitError
	}
	return exitOK
}

// loadOrDemo loads the configuration at path, or the demo configuration
// when path is empty. On error it prints one line per problem and returns
// a nil config with the exit code.
func loadOrDemo(path string, stderr io.Writer) (*Config, int) {
	if path == "" {
		return DemoConfig(), exitOK
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		var ce configErrors
		if !errors.As(err, &ce) {
			ce = configErrors{{msg: err.Error()}}
		}
		printProblems(stderr, path, ce)
		return nil, exitConfig
	}
	return cfg, exitOK
}

// printProblems prints one line per problem, then a summary line.
func printProblems(w io.Writer, path string, probs configErrors) {
	for _, p := range probs {
		fmt.Fprintln(w, p.String())
	}
	where := path
	if where == "" {
		where = "the configuration"
	}
	n := "1 problem"
	if len(probs) != 1 {
		n = fmt.Sprintf("%d problems", len(probs))
	}
	fmt.Fprintf(w, "tvm: %s in %s\n", n, where)
}

// cmdCheck validates a configuration file and the environment, then exits.
func cmdCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	configPath := fs.String("config", "", "configuration file (default $TVM_CONFIG)")
	strict := fs.Bool("strict", false, "refuse the configuration when it has warnings (exit 2)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	path := *configPath
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tvm check: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	if path == "" {
		path = getenv("TVM_CONFIG")
	}
	if path == "" {
		fmt.Fprintln(stderr, "tvm check: no configuration file (use --config FILE or TVM_CONFIG)")
		return exitConfig
	}
	// LoadConfig checks everything: the binary's keys, and the library's
	// verdict on every component (without network).
	cfg, code := loadOrDemo(path, stderr)
	if cfg == nil {
		return code
	}
	env := readEnv(getenv)
	momento, err := describeMomento(cfg, env)
	if err != nil {
		printProblems(stderr, path, asProblems(err))
		return exitConfig
	}
	warnings := configWarnings(cfg, env.addr)
	if *strict && len(warnings) > 0 {
		return reportWarnings(stderr, path, warnings, true)
	}
	fmt.Fprintf(stdout, "%s: ok (auth %s, %d scope rule(s), path %s)\n", path, cfg.Auth.Method, len(cfg.Scopes), cfg.Path)
	fmt.Fprintf(stdout, "momento: %s\n", momento)
	return reportWarnings(stderr, path, warnings, false)
}

// cmdHashPassword reads one password line from stdin and prints its bcrypt
// hash, for auth.users[].passwordHash. The library (tvm.HashPassword)
// decides the default cost and what it accepts.
func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("hash-password", stderr)
	cost := fs.Int("cost", 0, "bcrypt cost, the same for every user (default: the library's, 10, as the examples use)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	sc := bufio.NewScanner(io.LimitReader(stdin, 4096))
	if !sc.Scan() || sc.Text() == "" {
		fmt.Fprint(stderr, "tvm hash-password: write the password on standard input, e.g. echo \"$PW\" | tvm hash-password\n")
		return exitConfig
	}
	h, err := tvm.HashPassword(strings.TrimRight(sc.Text(), "\r"), *cost)
	if errors.Is(err, tvm.ErrInvalidConfig) {
		fmt.Fprintf(stderr, "tvm hash-password: %s\n", strings.TrimPrefix(err.Error(), tvm.ErrInvalidConfig.Error()+": "))
		return exitConfig
	}
	if err != nil {
		fmt.Fprintf(stderr, "tvm hash-password: %v\n", err)
		return exitError
	}
	fmt.Fprintln(stdout, h)
	return exitOK
}
