package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tvmgo/tvm"
)

// floodConns is the number of connections sending bad logins in the
// basic-flood scenarios (issue 12: 16 concurrent bad logins).
const floodConns = 16

// result is the outcome of one scenario.
type result struct {
	Name      string
	Requests  int64         // answered in the measured window
	RPS       float64       // Requests / duration
	P50, P99  time.Duration // of the requests that must succeed
	Max       time.Duration
	Errors    int64 // requests that must succeed and did not (transport error or non-200)
	Refused   int64 // hostile requests answered 401, as they must be
	Shed      int64 // hostile requests answered 503 (a login flood shed by the bound on password checks)
	Wrong     int64 // hostile requests answered otherwise
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
	// jwtCfg(extra) is the jwt configuration, extra added to auth.jwt.
	jwtCfg := func(extra string) string {
		return fmt.Sprintf("auth:\n  method: jwt\n  jwt: {issuer: %q, jwksURL: %q, audience: [load], algorithms: [RS256]%s}\n"+
			"scopes:\n  - group: writers\n    permissions: [{role: publishsubscribe, cache: default-cache, topic: 'user-{sub}'}]\n"+
			"  - default: true\n    permissions: [{role: subscribeonly, cache: default-cache, topic: '*'}]\n", is.iss, is.url, extra) + base
	}
	switch name {
	case "baseline":
	case "open-reuse":
		cfg = openCfg
	case "open-noreuse":
		cfg = openCfg + "reuse: {enabled: false}\n"
	case "jwt-reuse", "jwt-nocache":
		cfg = jwtCfg("")
		if name == "jwt-nocache" {
			cfg = jwtCfg(", disableCache: true")
		}
		reqs = func(conn, i int) request {
			return request{header: is.valid[(conn*7919+i)%len(is.valid)], valid: true}
		}
	case "basic-alone", "basic-flood", "basic-flood-unbounded":
		// One legitimate user logs in over and over (connection 0); in the
		// flood scenarios 16 more connections send bad logins as fast as
		// they are answered, half for an unknown user, half with a wrong
		// password for a real one. The report is the legitimate logins'.
		hash, err := tvm.HashPassword("the-right-password", 0)
		if err != nil {
			return nil, err
		}
		cfg = fmt.Sprintf("auth:\n  method: basic\n  users:\n    - {username: alice, passwordHash: %q}\n    - {username: bob, passwordHash: %q}\n", hash, hash) +
			"scopes: [{default: true, permissions: [{role: subscribeonly, cache: default-cache, topic: '*'}]}]\n" + base
		if name == "basic-flood-unbounded" {
			cfg = strings.Replace(cfg, "  method: basic\n", "  method: basic\n  maxConcurrentChecks: -1\n", 1)
		}
		o.conns = 1
		if name != "basic-alone" {
			o.conns = 1 + floodConns
		}
		good := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:the-right-password"))
		bad := []string{
			"Basic " + base64.StdEncoding.EncodeToString([]byte("mallory:guess")),
			"Basic " + base64.StdEncoding.EncodeToString([]byte("bob:guess")),
		}
		reqs = func(conn, i int) request {
			if conn == 0 {
				return request{header: good, valid: true}
			}
			return request{header: bad[(conn+i)%2]}
		}
	case "jwt-hostile":
		cfg = jwtCfg("")
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
		lat                         []time.Duration
		n, errs, refused, shed, bad int64
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
				case status == http.StatusServiceUnavailable:
					st.shed++
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
		res.Shed += st.shed
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
