// Command tvmload is the load generator behind BENCHMARKS.md: a closed-loop
// HTTP load (N connections, each sending its next request as soon as the
// previous answer is read) against the real cmd/tvm binary with its embedded
// Momento emulator, and against a trivial net/http handler as a baseline, in
// one run on one machine.
//
//	go run ./cmd/tvmload -duration 10s -conns 64
//
// Scenarios (-scenarios, comma separated, default all):
//
//	baseline         a trivial net/http handler (its own process) answering a fixed JSON body
//	open-reuse       cmd/tvm, open auth, token reuse on (the default)
//	open-noreuse     cmd/tvm, open auth, reuse off: every request is a vend through the SDK
//	jwt-reuse        cmd/tvm, RS256 JWTs of 1,000 users verified against a JWKS this tool serves
//	jwt-hostile      as jwt-reuse, with 1 request in 2 carrying a forged signature or a random kid:
//	                 reports the valid requests' latency and how often cmd/tvm fetched the JWKS
//	basic-alone      cmd/tvm, Basic auth (bcrypt cost 10): one connection logging in as a real user
//	basic-flood      as basic-alone, plus 16 connections sending bad logins (unknown user or wrong
//	                 password) as fast as they are answered: reports the real user's latency
//	basic-flood-unbounded
//	                 as basic-flood with auth.maxConcurrentChecks: -1 (no bound on password checks)
//
// The basic-* scenarios choose their own connection counts (-conns does not apply).
//
// For each it reports requests/s, p50/p99/max latency, errors, the peak RSS
// (VmHWM) of the server process, and ratios to the baseline. cmd/tvm runs
// with log.level warn (no per-request log line) unless -log-info.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2])
		return
	}
	os.Exit(run())
}

// baselineBody has the size and shape of a token answer.
var baselineBody = []byte(`{"authToken":"` + strings.Repeat("x", 420) + `","expiresAt":1767225600}` + "\n")

// serveBaseline is the trivial handler: what net/http alone costs.
func serveBaseline(addr string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(baselineBody)
	})
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, os.Interrupt)
		<-c
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type options struct {
	duration, warmup time.Duration
	conns            int
	tvmBin           string
	scenarios        []string
	logInfo          bool
	jsonOut          string
	rate             float64 // > 0: open loop at this many requests/s in total
}

func run() int {
	var o options
	var scen string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before measuring (not counted)")
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections (closed loop)")
	flag.StringVar(&o.tvmBin, "tvm", "", "cmd/tvm binary (default: go build ./cmd/tvm into a temporary directory)")
	flag.StringVar(&scen, "scenarios", "baseline,open-reuse,open-noreuse,jwt-reuse,jwt-hostile", "scenarios to run")
	flag.BoolVar(&o.logInfo, "log-info", false, "run cmd/tvm with log.level info (one line per request, to /dev/null)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.Float64Var(&o.rate, "rate", 0, "open loop: send this many requests/s in total, spread over the connections, "+
		"and measure latency from each request's scheduled time (0: closed loop, as fast as answers come)")
	flag.Parse()
	o.scenarios = strings.Split(scen, ",")

	tmp, err := os.MkdirTemp("", "tvmload-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if o.tvmBin == "" {
		o.tvmBin = filepath.Join(tmp, "tvm")
		build := exec.Command("go", "build", "-o", o.tvmBin, "./cmd/tvm")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building cmd/tvm (run from the repository root):", err)
			return 1
		}
	}

	issuer, err := newIssuer(1000)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer issuer.close()

	mode := "closed loop"
	if o.rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f req/s", o.rate)
	}
	fmt.Printf("# tvmload: %s, %d connections, %s per scenario after %s warm-up, %s, %d CPUs, %s\n",
		mode, o.conns, o.duration, o.warmup, runtime.Version(), runtime.NumCPU(), cpuModel())
	var results []*result
	for _, name := range o.scenarios {
		res, err := runScenario(o, tmp, strings.TrimSpace(name), issuer)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 1
		}
		results = append(results, res)
		fmt.Fprintf(os.Stderr, "%s: %.0f req/s, p50 %s, p99 %s, errors %d, RSS %.1f MB\n",
			res.Name, res.RPS, ms(res.P50), ms(res.P99), res.Errors, res.PeakRSSMB)
	}
	printTable(os.Stdout, results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	for _, r := range results {
		if r.Errors > 0 {
			return 2
		}
	}
	return 0
}
