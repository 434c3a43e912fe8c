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
//
// For each it reports requests/s, p50/p99/max latency, errors, the peak RSS
// (VmHWM) of the server process, and ratios to the baseline. cmd/tvm runs
// with log.level warn (no per-request log line) unless -log-info.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

// result is the outcome of one scenario.
type result struct {
	Name      string
	Requests  int64         // answered in the measured window
	RPS       float64       // Requests / duration
	P50, P99  time.Duration // of the requests that must succeed
	Max       time.Duration
	Errors    int64 // requests that must succeed and did not (transport error or non-200)
	Refused   int64 // hostile requests answered 401, as they must be
	Wrong     int64 // hostile requests not answered 401
	PeakRSSMB float64
	JWKSHits  int64 // JWKS fetches by cmd/tvm during the scenario (jwt scenarios)
	Vends     string
}

// request describes one request of a scenario; valid ones must get 200,
// hostile ones 401.
type request struct {
	header string
	valid  bool
}

func runScenario(o options, tmp, name string, is *issuer) (*result, error) {
	var (
		reqs func(conn int, i int) request
		cfg  string
	)
	logLevel := "warn"
	if o.logInfo {
		logLevel = "info"
	}
	base := "momento: {local: true}\nlog: {level: " + logLevel + "}\n"
	openCfg := "auth: {method: open}\nscopes: [{default: true, permissions: [{role: publishsubscribe, cache: default-cache, topic: '*'}]}]\n" + base
	jwtCfg := fmt.Sprintf("auth:\n  method: jwt\n  jwt: {issuer: %q, jwksURL: %q, audience: [load], algorithms: [RS256]}\n"+
		"scopes:\n  - group: writers\n    permissions: [{role: publishsubscribe, cache: default-cache, topic: 'user-{sub}'}]\n"+
		"  - default: true\n    permissions: [{role: subscribeonly, cache: default-cache, topic: '*'}]\n", is.iss, is.url) + base
	switch name {
	case "baseline":
	case "open-reuse":
		cfg = openCfg
	case "open-noreuse":
		cfg = openCfg + "reuse: {enabled: false}\n"
	case "jwt-reuse":
		cfg = jwtCfg
		reqs = func(conn, i int) request {
			return request{header: is.valid[(conn*7919+i)%len(is.valid)], valid: true}
		}
	case "jwt-hostile":
		cfg = jwtCfg
		reqs = func(conn, i int) request {
			if i%2 == 0 {
				return request{header: is.valid[(conn*7919+i)%len(is.valid)], valid: true}
			}
			if i%4 == 1 {
				return request{header: is.forged[(conn+i)%len(is.forged)]}
			}
			return request{header: is.randomKID()}
		}
	default:
		return nil, fmt.Errorf("unknown scenario %q", name)
	}

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	target := "http://" + addr + "/api/momento/token"
	if name == "baseline" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(self, "-serve-baseline", addr)
		target = "http://" + addr + "/"
	} else {
		localAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(tmp, name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		cmd = exec.Command(o.tvmBin, "--config", path)
		cmd.Env = append(os.Environ(), "TVM_ADDR="+addr, "MOMENTO_LOCAL_ADDR="+localAddr, "MOMENTO_API_KEY=", "TVM_OPS_ADDR=")
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitReady("http://"+addr+"/", name == "baseline"); err != nil {
		return nil, fmt.Errorf("%w; server stderr:\n%s", err, stderr.String())
	}

	jwksBefore := is.hits.Load()
	res := load(o, name, target, reqs)
	res.JWKSHits = is.hits.Load() - jwksBefore
	res.PeakRSSMB = peakRSS(cmd.Process.Pid)
	if name != "baseline" {
		res.Vends = vendCount(addr)
	}
	return res, nil
}

// load runs the closed loop: warm-up, then the measured window.
func load(o options, name, target string, reqs func(conn, i int) request) *result {
	tr := &http.Transport{
		MaxIdleConns: o.conns, MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var measuring, stop atomic.Bool
	// Open loop: connection c sends its k-th request at t0 + (k·conns+c)/rate.
	t0 := time.Now()
	interval := time.Duration(0)
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.conns) / o.rate)
	}
	type connStats struct {
		lat                   []time.Duration
		n, errs, refused, bad int64
	}
	stats := make([]connStats, o.conns)
	var wg sync.WaitGroup
	for c := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &stats[c]
			st.lat = make([]time.Duration, 0, 1<<16)
			for i := 0; !stop.Load(); i++ {
				var scheduled time.Time
				if interval > 0 {
					scheduled = t0.Add(time.Duration(i)*interval + time.Duration(c)*interval/time.Duration(o.conns))
					if d := time.Until(scheduled); d > 0 {
						time.Sleep(d)
					}
				}
				rq := request{valid: true}
				if reqs != nil {
					rq = reqs(c, i)
				}
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				if rq.header != "" {
					req.Header.Set("Authorization", rq.header)
				}
				start := time.Now()
				if !scheduled.IsZero() {
					start = scheduled // a late request's wait counts (no coordinated omission)
				}
				resp, err := client.Do(req)
				status := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					status = resp.StatusCode
				}
				took := time.Since(start)
				if !measuring.Load() || stop.Load() {
					continue
				}
				st.n++
				switch {
				case rq.valid && status == http.StatusOK:
					st.lat = append(st.lat, took)
				case rq.valid:
					st.errs++
				case status == http.StatusUnauthorized:
					st.refused++
				default:
					st.bad++
				}
			}
		}()
	}
	time.Sleep(o.warmup)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(o.duration)
	stop.Store(true) // requests in flight finish, uncounted
	elapsed := time.Since(start)
	wg.Wait()

	res := &result{Name: name}
	var all []time.Duration
	for _, st := range stats {
		res.Requests += st.n
		res.Errors += st.errs
		res.Refused += st.refused
		res.Wrong += st.bad
		all = append(all, st.lat...)
	}
	res.RPS = float64(res.Requests) / elapsed.Seconds()
	slices.Sort(all)
	if len(all) > 0 {
		res.P50, res.P99, res.Max = percentile(all, 0.50), percentile(all, 0.99), all[len(all)-1]
	}
	return res
}

// percentile returns the p-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls the server until it answers (cmd/tvm: /readyz, which
// checks the emulator).
func waitReady(base string, baseline bool) error {
	url := base + "readyz"
	if baseline {
		url = base
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30s", url)
}

// peakRSS reads the peak resident set size (VmHWM) of pid, in MB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// vendCount reads cmd/tvm's vend counter from /metrics (vends that reached
// the emulator, by result).
func vendCount(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var parts []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "tvm_vend_duration_seconds_count") {
			parts = append(parts, strings.TrimPrefix(line, "tvm_vend_duration_seconds_count"))
		}
	}
	return strings.Join(parts, " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func printTable(w io.Writer, rs []*result) {
	var base *result
	for _, r := range rs {
		if r.Name == "baseline" {
			base = r
		}
	}
	ratio := func(v, b float64) string {
		if base == nil || b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", v/b)
	}
	fmt.Fprintln(w, "| scenario | req/s | ×baseline | p50 | ×baseline | p99 | ×baseline | max | errors | peak RSS | ×baseline | notes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		var b result
		if base != nil {
			b = *base
		}
		notes := ""
		if r.Refused+r.Wrong > 0 {
			notes += fmt.Sprintf("hostile: %d refused with 401, %d otherwise; p50/p99 of valid requests only. ", r.Refused, r.Wrong)
		}
		if r.JWKSHits > 0 || strings.HasPrefix(r.Name, "jwt") {
			notes += fmt.Sprintf("JWKS fetches: %d. ", r.JWKSHits)
		}
		if r.Vends != "" {
			notes += "vends " + r.Vends
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %d | %.1f MB | %s | %s |\n",
			r.Name, r.RPS, ratio(r.RPS, b.RPS), ms(r.P50), ratio(float64(r.P50), float64(b.P50)),
			ms(r.P99), ratio(float64(r.P99), float64(b.P99)), ms(r.Max), r.Errors,
			r.PeakRSSMB, ratio(r.PeakRSSMB, b.PeakRSSMB), strings.TrimSpace(notes))
	}
}

// issuer is an OpenID-style issuer: an RSA key, a JWKS served on loopback
// (counting fetches), and pre-signed tokens.
type issuer struct {
	iss, url string
	srv      *http.Server
	hits     atomic.Int64
	valid    []string // "Bearer <jwt>" of distinct users, a third in the writers group
	forged   []string // signed by another key under the real kid
	attacker *rsa.PrivateKey
}

func newIssuer(users int) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	is := &issuer{iss: "https://load.issuer.test/", url: "http://" + l.Addr().String() + "/jwks.json", attacker: attacker}
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":%q,"e":%q}]}`,
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	is.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, jwks)
	})}
	go func() { _ = is.srv.Serve(l) }()
	now := time.Now()
	sign := func(k *rsa.PrivateKey, kid, sub string, groups []string) (string, error) {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": is.iss, "aud": "load", "sub": sub, "groups": groups,
			"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
		})
		t.Header["kid"] = kid
		s, err := t.SignedString(k)
		return "Bearer " + s, err
	}
	for i := range users {
		var groups []string
		if i%3 == 0 {
			groups = []string{"writers"}
		}
		v, err := sign(key, "k1", fmt.Sprintf("user-%04d", i), groups)
		if err != nil {
			return nil, err
		}
		is.valid = append(is.valid, v)
		if i < 100 {
			f, err := sign(attacker, "k1", fmt.Sprintf("user-%04d", i), groups)
			if err != nil {
				return nil, err
			}
			is.forged = append(is.forged, f)
		}
	}
	return is, nil
}

// randomKID returns a token naming a key id nobody has: each one a JWKS
// refresh if the authenticator did not rate limit them. Its signature is
// not checked before the key lookup, so a cheap fake one will do.
func (is *issuer) randomKID() string {
	header := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":"rnd-%016x"}`, mrand.Uint64())))
	claims := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"iss":%q,"aud":"load","sub":"mallory","exp":%d}`, is.iss, time.Now().Add(time.Hour).Unix())))
	return "Bearer " + header + "." + claims + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
}

func (is *issuer) close() { _ = is.srv.Close() }
