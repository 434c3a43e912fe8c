package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testGeneration is a generation whose handler answers 204 and whose
// closing sets closed.
func testGeneration(id int, h http.Handler, closed *atomic.Bool) *generation {
	g := &generation{id: id, cfg: &Config{VendTimeout: time.Second}, handler: h, log: slog.New(slog.DiscardHandler)}
	g.closers = []func(){func() {
		if closed.Swap(true) {
			panic("closed twice")
		}
	}}
	return g
}

// TestLiveDrainsTheRetiredGeneration: a request in flight when a reload
// swaps the generation finishes on the old one, which is closed only then;
// the next request is served by the new one.
func TestLiveDrainsTheRetiredGeneration(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var oldClosed, newClosed atomic.Bool
	old := testGeneration(1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		w.Header().Set("X-Generation", "1")
	}), &oldClosed)
	l := newLive(old)
	done := make(chan string)
	go func() {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/t", nil))
		done <- rec.Header().Get("X-Generation")
	}()
	<-entered
	next := testGeneration(2, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Generation", "2") }), &newClosed)
	l.swap(next).retire(true)
	if oldClosed.Load() {
		t.Fatal("the old generation was closed with a request in flight on it")
	}
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/t", nil))
	if g := rec.Header().Get("X-Generation"); g != "2" {
		t.Errorf("a request after the swap was served by generation %q", g)
	}
	close(release)
	if g := <-done; g != "1" {
		t.Errorf("the request in flight was served by generation %q, want 1", g)
	}
	if !oldClosed.Load() {
		t.Error("the old generation is not closed once idle")
	}
	if newClosed.Load() {
		t.Error("the serving generation was closed")
	}
	l.current().retire(false)
	if !newClosed.Load() {
		t.Error("retiring the idle serving generation did not close it")
	}
}

// TestLiveNeverServesAClosedGeneration swaps generations while requests
// run: no request ever runs on a closed generation, and every retired
// generation ends closed (run it with -race).
func TestLiveNeverServesAClosedGeneration(t *testing.T) {
	t.Parallel()
	var used atomic.Int64
	var bad atomic.Int64
	type gen struct {
		g      *generation
		closed atomic.Bool
	}
	mk := func(id int) *gen {
		x := &gen{}
		x.g = testGeneration(id, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			used.Add(1)
			if x.closed.Load() {
				bad.Add(1)
			}
		}), &x.closed)
		return x
	}
	first := mk(1)
	l := newLive(first.g)
	all := []*gen{first}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					l.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/t", nil))
				}
			}
		})
	}
	for i := 2; i <= 150; i++ {
		x := mk(i)
		all = append(all, x)
		before := used.Load()
		l.swap(x.g).retire(true)
		for used.Load() < before+8 { // let requests run on every generation
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d requests ran on a closed generation", bad.Load(), used.Load())
	}
	for _, x := range all[:len(all)-1] {
		if !x.closed.Load() {
			t.Errorf("retired generation %d was never closed", x.g.id)
		}
	}
	if all[len(all)-1].closed.Load() {
		t.Error("the serving generation was closed")
	}
}

func TestParseReloadInterval(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", defaultReloadInterval, true}, {"0", 0, true}, {"250ms", 250 * time.Millisecond, true},
		{"1ms", 0, false}, {"-1s", 0, false}, {"soon", 0, false}, {"5", 0, false},
	} {
		got, err := parseReloadInterval(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseReloadInterval(%q) = %s, %v", tt.in, got, err)
		}
	}
}

// TestReloadFixed: what a reload may not change.
func TestReloadFixed(t *testing.T) {
	remote := func() *Config {
		c := DemoConfig()
		c.demo, c.Momento.Local = false, false
		return c
	}
	tests := []struct {
		name     string
		old, cfg func() *Config
		mod      func(*Config)
		want     string
	}{
		{"scopes, ttl, auth may change", DemoConfig, DemoConfig, func(c *Config) { c.TTL = time.Minute; c.Scopes = nil; c.Auth.Method = "basic" }, ""},
		{"cors may change with Momento", remote, remote, func(c *Config) { c.CORS = CORSConfig{} }, ""},
		{"path", DemoConfig, DemoConfig, func(c *Config) { c.Path = "/token" }, "path: cannot change on reload (restart tvm to change it)"},
		{"momento.local", DemoConfig, remote, func(*Config) {}, "momento.local: cannot change on reload (restart tvm to change it)"},
		{"momento.caches", DemoConfig, DemoConfig, func(c *Config) { c.Momento.Caches = []string{"other"} },
			"momento.caches: the embedded emulator's caches (with rateLimit.shared.cache) cannot change on reload (restart tvm to change them)"},
		{"the emulator's shared counters cache", DemoConfig, DemoConfig, func(c *Config) { c.RateLimit = &RateLimitConfig{Shared: &SharedRateLimitConfig{Cache: "counters"}} },
			"momento.caches: the embedded emulator's caches (with rateLimit.shared.cache) cannot change on reload (restart tvm to change them)"},
		{"the emulator's origins", DemoConfig, DemoConfig, func(c *Config) { c.CORS = CORSConfig{AllowedOrigins: []string{"https://app.example"}} },
			"cors.allowedOrigins: the embedded emulator's browser origins cannot change on reload (restart tvm to change them)"},
		{"log.format", DemoConfig, DemoConfig, func(c *Config) { c.Log.Format = "json" }, "log.format: cannot change on reload (restart tvm to change it)"},
		{"apigateway", remote, remote, func(c *Config) { c.Auth.Method = "apigateway" }, "auth.method: apigateway works only in AWS Lambda (AWS_LAMBDA_RUNTIME_API is not set)"},
	}
	for _, tt := range tests {
		c := tt.cfg()
		tt.mod(c)
		var got string
		if p := reloadFixed(tt.old(), c); len(p) > 0 {
			got = p.Error()
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// waitFor polls an external process (the binary) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReloads waits until tvm_config_reloads_total{result} is n.
func waitReloads(t *testing.T, p *tvmProc, result string, n int) {
	t.Helper()
	want := fmt.Sprintf(`tvm_config_reloads_total{result=%q} %d`+"\n", result, n)
	waitFor(t, want, func() bool { return strings.Contains(scrape(t, p), want) })
}

// vendOne asks the binary for a token as name and returns the token
// request the embedded emulator received for it.
func vendOne(t *testing.T, p *tvmProc, name string, mod func(*http.Request)) emuTokenRequest {
	t.Helper()
	resp, body := get(t, p.url("/api/momento/token?name="+name), mod)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s: %d %+v", name, resp.StatusCode, body)
	}
	p.secrets = append(p.secrets, body.AuthToken)
	for _, r := range tokenRequests(t, p) {
		if r.TokenID == name {
			return r
		}
	}
	t.Fatalf("the emulator received no token request for %s", name)
	return emuTokenRequest{}
}

// TestBinaryReloadSIGHUP: SIGHUP reloads the configuration file (file
// watching off): a changed scope and TTL take effect; a broken file, or
// one changing what a reload cannot, keeps the running configuration,
// logs why and counts the error; a fixed file reloads again.
func TestBinaryReloadSIGHUP(t *testing.T) {
	t.Parallel()
	const cfg = `
auth: {method: open}
tokenId: query:name
scopes:
  - default: true
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
momento: {local: true}
`
	path := writeConfig(t, cfg)
	p := startTVM(t, baseEnv(t, "TVM_RELOAD_INTERVAL=0"), "--config", path)
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := vendOne(t, p, "before", nil); r.Permissions[0].Topic != "*" || r.ValidForSeconds != 900 {
		t.Fatalf("before the reload: %+v", r)
	}

	narrowed := strings.Replace(cfg, `topic: "*"`, `topicPrefix: "room-"`, 1) + "ttl: 10m\n"
	write(narrowed)
	time.Sleep(100 * time.Millisecond) // no watcher: nothing may happen without the signal
	if r := vendOne(t, p, "unsignalled", nil); r.Permissions[0].Topic != "*" {
		t.Fatalf("the configuration changed without SIGHUP (file watching is off): %+v", r)
	}
	hup()
	waitReloads(t, p, "ok", 1)
	if r := vendOne(t, p, "after", nil); r.Permissions[0].TopicPrefix != "room-" || r.Permissions[0].Topic != "" || r.ValidForSeconds != 600 {
		t.Fatalf("after SIGHUP: %+v, want topicPrefix room- for 600s", r)
	}
	if !strings.Contains(p.stderr.String(), `msg="configuration reloaded" trigger=SIGHUP generation=2 previous=1`) {
		t.Errorf("no reload log line:\n%s", p.stderr.String())
	}

	for i, bad := range []struct{ yaml, why string }{
		{narrowed + "scopes: [\n", `error="invalid YAML: line`},
		{strings.Replace(narrowed, "ttl: 10m", "ttl: 2h", 1), `error="ttl: must be between 1s and 1h0m0s"`},
		{narrowed + "path: /other/token\n", `error="path: cannot change on reload (restart tvm to change it)"`},
	} {
		write(bad.yaml)
		hup()
		waitReloads(t, p, "error", i+1)
		if !strings.Contains(p.stderr.String(), bad.why) {
			t.Errorf("reload %d: the log does not say %s:\n%s", i, bad.why, p.stderr.String())
		}
		if r := vendOne(t, p, fmt.Sprintf("kept-%d", i), nil); r.Permissions[0].TopicPrefix != "room-" || r.ValidForSeconds != 600 {
			t.Errorf("after a failed reload %d the configuration changed: %+v", i, r)
		}
	}
	m := scrape(t, p)
	if !strings.Contains(m, "tvm_config_last_reload_successful 0\n") || !strings.Contains(m, `tvm_config_reloads_total{result="ok"} 1`+"\n") {
		t.Errorf("metrics after failed reloads:\n%s", m)
	}
	if !strings.Contains(p.stderr.String(), `level=ERROR msg="configuration reload failed: still serving the previous configuration" trigger=SIGHUP generation=2`) {
		t.Errorf("no failed-reload log line:\n%s", p.stderr.String())
	}
	write(cfg)
	hup()
	waitReloads(t, p, "ok", 2)
	if r := vendOne(t, p, "fixed", nil); r.Permissions[0].Topic != "*" || r.ValidForSeconds != 900 {
		t.Fatalf("after the fixed file: %+v", r)
	}
	if !strings.Contains(scrape(t, p), "tvm_config_last_reload_successful 1\n") {
		t.Error("last reload not marked successful")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// k8sVolume lays out a directory as Kubernetes mounts a ConfigMap or
// Secret: dir/name -> ..data/name, ..data -> a timestamped directory. swap
// replaces the content the way the kubelet does: a new directory, a new
// ..data link renamed over the old one, the old directory removed.
type k8sVolume struct {
	t    *testing.T
	dir  string
	name string
	n    int
}

func newK8sVolume(t *testing.T, name, content string) *k8sVolume {
	v := &k8sVolume{t: t, dir: t.TempDir(), name: name}
	v.swap(content)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *k8sVolume) path() string { return filepath.Join(v.dir, v.name) }

func (v *k8sVolume) swap(content string) {
	t := v.t
	t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", v.n, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.dir, ts, v.name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBinaryReloadWatchesConfigMap: a configuration file mounted from a
// Kubernetes ConfigMap (a symlink through ..data) is reloaded when the
// kubelet swaps the link, without a signal.
func TestBinaryReloadWatchesConfigMap(t *testing.T) {
	t.Parallel()
	const cfg = `
auth: {method: open}
tokenId: query:name
scopes:
  - default: true
    permissions:
      - {role: subscribeonly, cache: default-cache, topic: "*"}
momento: {local: true}
`
	vol := newK8sVolume(t, "tvm.yaml", cfg)
	p := startTVM(t, baseEnv(t, "TVM_RELOAD_INTERVAL=50ms"), "--config", vol.path())
	if r := vendOne(t, p, "before", nil); r.Permissions[0].Role != "subscribeonly" {
		t.Fatalf("before: %+v", r)
	}
	vol.swap(strings.Replace(cfg, "subscribeonly", "publishsubscribe", 1))
	waitReloads(t, p, "ok", 1)
	if r := vendOne(t, p, "after", nil); r.Permissions[0].Role != "publishsubscribe" {
		t.Fatalf("after the swap: %+v", r)
	}
	if !strings.Contains(p.stderr.String(), `trigger="changed: `+vol.path()+`"`) {
		t.Errorf("the reload does not name the changed file:\n%s", p.stderr.String())
	}
	// A broken ConfigMap is refused once, not again at every poll.
	vol.swap("auth: {method: open\n")
	waitReloads(t, p, "error", 1)
	time.Sleep(300 * time.Millisecond) // six polling intervals
	if m := scrape(t, p); !strings.Contains(m, `tvm_config_reloads_total{result="error"} 1`+"\n") {
		t.Errorf("an unchanged broken file was reloaded again:\n%s", m)
	}
	if r := vendOne(t, p, "kept", nil); r.Permissions[0].Role != "publishsubscribe" {
		t.Fatalf("after the broken swap: %+v", r)
	}
}

// TestBinaryReloadInFlight: a request in flight during a reload completes
// on the configuration it started with; the old configuration's
// components are closed only after it; the next request gets the new
// configuration. The request is held in the JWT authenticator: its JWT
// names a key that the JWKS server publishes only when released. The new
// configuration reads its keys from a file, so it builds meanwhile.
func TestBinaryReloadInFlight(t *testing.T) {
	t.Parallel()
	key1, key2 := testKey(t, "test-rsa-1"), testKey(t, "test-rsa-2")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key1))
	path := writeConfig(t, jwtConfig(jwks.URL, ""))
	p := startTVM(t, baseEnv(t, "TVM_RELOAD_INTERVAL=0"), "--config", path)

	hold, held := make(chan struct{}), make(chan struct{}, 1)
	jwks.mu.Lock()
	jwks.keys = append(jwks.keys, jwkOf("test-rsa-2", key2))
	jwks.hold, jwks.held = hold, held
	jwks.mu.Unlock()
	claims := func(sub string) jwt.MapClaims {
		return jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	}
	tok := sign(t, "test-rsa-2", key2, claims("inflight"))
	p.secrets = append(p.secrets, tok)
	done := getBearerAsync(p, tok)
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the JWKS refresh never came")
	}

	jwksFile, err := filepath.Abs("../../testdata/jwt/jwks-public.json")
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(jwtConfig("x", ""), "jwksURL: x", "jwksFile: "+jwksFile, 1)
	next = strings.Replace(next, `{role: subscribeonly, cache: default-cache, topic: "*"}`, `{role: subscribeonly, cache: default-cache, topic: "news"}`, 1)
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, p, "ok", 1)
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	fresh := sign(t, "test-rsa-1", key1, claims("fresh"))
	p.secrets = append(p.secrets, fresh)
	if r := vendOne(t, p, "fresh", bearer(fresh)); r.Permissions[0].Topic != "news" {
		t.Errorf("a request after the reload got %+v, want the new scope (topic news)", r)
	}
	select {
	case r := <-done:
		t.Fatalf("the request in flight ended before its key was published: %+v", r)
	default:
	}
	if strings.Contains(p.stderr.String(), "closed the previous configuration") {
		t.Fatal("the previous configuration was closed with a request in flight on it")
	}

	close(hold)
	r := <-done
	if r.err != nil || r.status != http.StatusOK || r.body.AuthToken == "" {
		t.Fatalf("the request in flight: %d %+v %v", r.status, r.body, r.err)
	}
	p.secrets = append(p.secrets, r.body.AuthToken)
	// It was served by the old configuration (topic "*"), then the old
	// configuration was closed.
	var got []string
	for _, tr := range tokenRequests(t, p) {
		got = append(got, tr.TokenID+":"+tr.Permissions[0].Topic)
	}
	if fmt.Sprint(got) != "[fresh:news inflight:*]" {
		t.Errorf("token requests %v, want [fresh:news inflight:*]", got)
	}
	waitFor(t, "the old configuration to close", func() bool {
		return strings.Contains(p.stderr.String(), `msg="closed the previous configuration (no request in flight on it)" generation=1`)
	})
}
