package main

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/momento"

	"github.com/tvmgo/tvm/internal/testenv"
)

// tvmBin is the tvm binary, built once per test run by TestMain.
var tvmBin string

// testBinEnv names the built binary for a child test process, which then
// does not build it again.
const testBinEnv = "TVM_TEST_BIN"

func TestMain(m *testing.M) {
	// A test re-running itself in a namespace passes the binary along.
	if bin := os.Getenv(testBinEnv); bin != "" {
		tvmBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "tvm-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tvmBin = filepath.Join(dir, "tvm")
	args := []string{"build", "-o", tvmBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tvm: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bannerWriter captures stdout and reports the addresses of the banner.
type bannerWriter struct {
	testenv.SyncBuffer
	mu      sync.Mutex // guards the fields below
	once    sync.Once
	ready   chan struct{}
	partial string
	base    string // http://127.0.0.1:port
	ops     string // http://127.0.0.1:port of TVM_OPS_ADDR, if any
	emuAddr string
	admin   string // the emulator's admin secret, from the banner
}

func (w *bannerWriter) Write(p []byte) (int, error) {
	w.SyncBuffer.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial += string(p)
	for {
		line, rest, ok := strings.Cut(w.partial, "\n")
		if !ok {
			break
		}
		w.partial = rest
		switch {
		case strings.HasPrefix(line, "tvm: listening on "):
			w.base = strings.Fields(strings.TrimPrefix(line, "tvm: listening on "))[0]
		case strings.HasPrefix(line, "tvm: operations on "):
			w.ops = strings.Fields(strings.TrimPrefix(line, "tvm: operations on "))[0]
		case strings.HasPrefix(line, "tvm: momento emulator (momentolocal) on "):
			w.emuAddr = strings.TrimSuffix(strings.Fields(strings.TrimPrefix(line, "tvm: momento emulator (momentolocal) on "))[0], ",")
		case strings.HasPrefix(line, "tvm: emulator fault injection at "):
			if _, rest, ok := strings.Cut(line, "Authorization: Bearer "); ok {
				w.admin = strings.TrimSuffix(rest, ")")
			}
		case strings.HasPrefix(line, "tvm: try: "):
			w.once.Do(func() { close(w.ready) })
		}
	}
	return len(p), nil
}

// tvmProc is a running tvm binary.
type tvmProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  *bannerWriter
	stderr  *testenv.SyncBuffer
	exited  chan struct{}
	waitErr error
	secrets []string // must never appear in stdout or stderr
}

// baseEnv is the environment of every run: nothing of the test's own
// environment leaks in (no MOMENTO_API_KEY), and all ports are free ones.
func baseEnv(t *testing.T, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"TVM_ADDR=127.0.0.1:0",
		"MOMENTO_LOCAL_ADDR=127.0.0.1:0",
	}, extra...)
}

// launch starts the binary without waiting for it to serve.
func launch(t *testing.T, env []string, args ...string) *tvmProc {
	t.Helper()
	p := &tvmProc{
		t:      t,
		cmd:    exec.Command(tvmBin, args...),
		stdout: &bannerWriter{ready: make(chan struct{})},
		stderr: &testenv.SyncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd.Env = env
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(15 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		out := p.stdout.String() + p.stderr.String()
		for _, s := range p.secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("the output of tvm contains a secret (%d bytes starting %.6q)", len(s), s)
			}
		}
		if t.Failed() {
			t.Logf("tvm stdout:\n%s\ntvm stderr:\n%s", p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// startTVM starts the binary and waits until it serves.
func startTVM(t *testing.T, env []string, args ...string) *tvmProc {
	t.Helper()
	p := launch(t, env, args...)
	select {
	case <-p.stdout.ready:
	case <-p.exited:
		t.Fatalf("tvm exited before serving: %v\nstderr:\n%s", p.waitErr, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("tvm did not start\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
	}
	return p
}

func (p *tvmProc) url(path string) string {
	p.stdout.mu.Lock()
	defer p.stdout.mu.Unlock()
	return p.stdout.base + path
}

func (p *tvmProc) emulator() string {
	p.stdout.mu.Lock()
	defer p.stdout.mu.Unlock()
	return p.stdout.emuAddr
}

// wait waits for the process to exit and returns its exit code.
func (p *tvmProc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("tvm did not exit within %s", timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	if p.waitErr != nil {
		p.t.Fatalf("wait: %v", p.waitErr)
	}
	return 0
}

// runTVM runs the binary to completion and returns its exit code and output.
func runTVM(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := launch(t, env, args...)
	code = p.wait(60 * time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

type tokenBody struct {
	AuthToken string `json:"authToken"`
	ExpiresAt int64  `json:"expiresAt"`
	Error     string `json:"error"`
}

// asyncResult is the answer of a token request made by getBearerAsync.
type asyncResult struct {
	status int
	body   tokenBody
	err    error
}

// getBearerAsync asks p for a token with the bearer token tok, in the
// background, and sends the answer on the returned channel.
func getBearerAsync(p *tvmProc, tok string) <-chan asyncResult {
	done := make(chan asyncResult, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, p.url("/api/momento/token"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- asyncResult{err: err}
			return
		}
		defer resp.Body.Close()
		var b tokenBody
		err = json.NewDecoder(resp.Body).Decode(&b)
		done <- asyncResult{status: resp.StatusCode, body: b, err: err}
	}()
	return done
}

// get sends a GET with optional header modifications and decodes the body.
func get(t *testing.T, url string, mod func(*http.Request)) (*http.Response, tokenBody) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tb tokenBody
	_ = json.Unmarshal(b, &tb)
	return resp, tb
}

// topicClient returns an SDK topic client using a vended token against the
// emulator at addr.
func topicClient(t *testing.T, token, addr string) momento.TopicClient {
	t.Helper()
	prov, err := auth.NewStringMomentoTokenProvider(token)
	if err != nil {
		t.Fatalf("the vended token is not an SDK credential: %v", err)
	}
	ep := auth.Endpoint{Endpoint: addr, InsecureConnection: true}
	prov, err = prov.WithEndpoints(auth.AllEndpoints{ControlEndpoint: ep, CacheEndpoint: ep, TokenEndpoint: ep, StorageEndpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	c, err := momento.NewTopicClient(config.TopicsDefault(), prov)
	if err != nil {
		t.Fatal(err)
	}
	// The client is not closed: in client-sdk-go v1.38.0,
	// TopicClient.Close closes a channel that a pool goroutine may still be
	// sending on (a data race the race detector reports, and a possible
	// panic). Its connections end with the tvm process.
	return c
}

// nextItem returns the next message of a subscription.
func nextItem(t *testing.T, sub momento.TopicSubscription) momento.TopicItem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := sub.Event(ctx)
		if err != nil {
			t.Fatalf("subscription: %v", err)
		}
		if item, ok := ev.(momento.TopicItem); ok {
			return item
		}
	}
}

func TestBinaryDefaultDemo(t *testing.T) {
	p := startTVM(t, baseEnv(t))
	out := p.stdout.String()
	for _, want := range []string{"tvm: listening on http://127.0.0.1:", "tvm: momento emulator (momentolocal) on 127.0.0.1:", "caches default-cache",
		"tvm: try: curl 'http://127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}

	resp, alice := get(t, p.url("/api/momento/token?name=alice"), func(r *http.Request) { r.Header.Set("Origin", "http://localhost:5173") })
	if resp.StatusCode != 200 || alice.AuthToken == "" {
		t.Fatalf("alice: %d %+v", resp.StatusCode, alice)
	}
	// A Vite dev server page may call the demo.
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("demo CORS: %v", resp.Header)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", resp.Header)
	}
	if d := time.Until(time.Unix(alice.ExpiresAt, 0)); d < 14*time.Minute || d > 15*time.Minute+5*time.Second {
		t.Errorf("expires in %s, want 15m", d)
	}
	_, bob := get(t, p.url("/api/momento/token?name=bob"), nil)
	_, anon := get(t, p.url("/api/momento/token"), nil)
	p.secrets = append(p.secrets, alice.AuthToken, bob.AuthToken, anon.AuthToken)

	// The tokens work with the official Go SDK against the emulator:
	// bob subscribes, alice publishes, bob sees alice as the publisher.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bobClient := topicClient(t, bob.AuthToken, p.emulator())
	sub, err := bobClient.Subscribe(ctx, &momento.TopicSubscribeRequest{CacheName: "default-cache", TopicName: "lobby"})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	aliceClient := topicClient(t, alice.AuthToken, p.emulator())
	if _, err := aliceClient.Publish(ctx, &momento.TopicPublishRequest{CacheName: "default-cache", TopicName: "lobby", Value: momento.String("hello from alice")}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	item := nextItem(t, sub)
	if item.GetValue() != momento.String("hello from alice") || item.GetPublisherId() != "alice" {
		t.Errorf("received %v from %q, want alice's message", item.GetValue(), item.GetPublisherId())
	}
	// The anonymous caller got a random id, not "anonymous".
	anonClient := topicClient(t, anon.AuthToken, p.emulator())
	if _, err := anonClient.Publish(ctx, &momento.TopicPublishRequest{CacheName: "default-cache", TopicName: "lobby", Value: momento.String("hi")}); err != nil {
		t.Fatalf("anonymous publish: %v", err)
	}
	if id := string(nextItem(t, sub).GetPublisherId()); !strings.HasPrefix(id, "anonymous-") || id == "anonymous-" {
		t.Errorf("anonymous publisher id %q", id)
	}

	// What reached the emulator: exactly the demo scope, with the ids.
	reqs := tokenRequests(t, p)
	if len(reqs) != 3 || reqs[0].TokenID != "alice" || reqs[1].TokenID != "bob" || !strings.HasPrefix(reqs[2].TokenID, "anonymous-") {
		t.Fatalf("token requests %+v", reqs)
	}
	for _, r := range reqs {
		if r.ValidForSeconds != 900 || len(r.Permissions) != 1 ||
			r.Permissions[0] != (emuPermission{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"}) {
			t.Errorf("token request %+v", r)
		}
	}

	// Operations endpoints.
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ready"`} {
		resp, err := http.Get(p.url(path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	metrics := scrape(t, p)
	for _, want := range []string{
		`tvm_token_requests_total{outcome="ok"} 3`,
		`tvm_vend_duration_seconds_count{result="ok"} 3`,
		`tvm_upstream_errors_total{kind="unavailable"} 0`,
		`tvm_token_requests_in_flight 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if resp, _ := get(t, p.url("/nope"), nil); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// emuPermission and emuTokenRequest are the JSON of the emulator's
// /token-requests admin endpoint.
type emuPermission struct {
	Role        string `json:"role"`
	Cache       string `json:"cache"`
	Topic       string `json:"topic,omitempty"`
	TopicPrefix string `json:"topicPrefix,omitempty"`
	Key         string `json:"key,omitempty"`
	KeyPrefix   string `json:"keyPrefix,omitempty"`
}

type emuTokenRequest struct {
	TokenID         string          `json:"tokenId"`
	ValidForSeconds int64           `json:"validForSeconds"`
	Permissions     []emuPermission `json:"permissions"`
}

// adminSecret returns the emulator's admin secret, as the banner printed
// it ("" when the banner announces no admin endpoint).
func (p *tvmProc) adminSecret() string {
	p.stdout.mu.Lock()
	defer p.stdout.mu.Unlock()
	return p.stdout.admin
}

// adminGet sends a GET with the admin secret to the emulator's admin
// endpoint at url.
func (p *tvmProc) adminGet(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.adminSecret())
	return http.DefaultClient.Do(req)
}

// tokenRequests lists the GenerateDisposableToken requests the embedded
// emulator received, through the admin endpoint of the tvm listener.
func tokenRequests(t *testing.T, p *tvmProc) []emuTokenRequest {
	t.Helper()
	resp, err := p.adminGet(p.url("/admin/momentolocal/token-requests"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []emuTokenRequest
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token-requests: %d %v", resp.StatusCode, err)
	}
	return out
}

// admin sends a request to the emulator's admin endpoint.
func admin(t *testing.T, p *tvmProc, method, path, body string, mod func(*http.Request)) int {
	t.Helper()
	req, err := http.NewRequest(method, p.url("/admin/momentolocal"+path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.adminSecret())
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// faults lists the emulator's fault rules still in force (count-limited
// rules disappear once spent).
func faults(t *testing.T, p *tvmProc) []json.RawMessage {
	t.Helper()
	resp, err := p.adminGet(p.url("/admin/momentolocal/faults"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("faults: %d %v", resp.StatusCode, err)
	}
	return out
}

func scrape(t *testing.T, p *tvmProc) string {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(b)
}

func TestBinaryOpenConfig(t *testing.T) {
	p := startTVM(t, baseEnv(t), "--config", filepath.Join(fixtures, "open.yaml"))

	// CORS preflight for the configured origin.
	req, _ := http.NewRequest(http.MethodOptions, p.url("/api/momento/token"), nil)
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// Rate limit: burst 10 at 5/s for the one open identity.
	got429 := false
	for i := range 20 {
		resp, body := get(t, p.url("/api/momento/token?name=carol"), func(r *http.Request) { r.Header.Set("Origin", "http://localhost:5173") })
		p.secrets = append(p.secrets, body.AuthToken)
		if resp.StatusCode == http.StatusTooManyRequests {
			if i < 10 {
				t.Errorf("429 at request %d, within the burst", i)
			}
			if resp.Header.Get("Retry-After") == "" || body.Error != "rate_limited" {
				t.Errorf("429 without Retry-After or code: %v %+v", resp.Header, body)
			}
			got429 = true
			break
		}
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	if !got429 {
		t.Error("no 429 after 20 quick requests with burst 10")
	}
	if !strings.Contains(scrape(t, p), `tvm_token_requests_total{outcome="rate_limited"} 1`) {
		t.Error("rate-limited request not counted")
	}
}

func TestBinaryBasic(t *testing.T) {
	p := startTVM(t, baseEnv(t), "--config", filepath.Join(fixtures, "basic.yaml"))
	p.secrets = append(p.secrets, "alice-password", "bob-password", "wrong-password",
		base64.StdEncoding.EncodeToString([]byte("alice:alice-password")))

	basic := func(u, pw string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, pw) } }
	resp, alice := get(t, p.url("/api/momento/token"), basic("alice", "alice-password"))
	if resp.StatusCode != 200 {
		t.Fatalf("alice: %d %+v", resp.StatusCode, alice)
	}
	resp, bob := get(t, p.url("/api/momento/token"), func(r *http.Request) {
		r.Header.Set("username", "bob")
		r.Header.Set("password", "bob-password")
		// Hostile headers of the reference TVM must not widen bob's scope.
		r.Header.Set("usergroup", "ReadWriteUserGroup")
		r.Header.Set("cachename", "other")
	})
	if resp.StatusCode != 200 {
		t.Fatalf("bob via headers: %d %+v", resp.StatusCode, bob)
	}
	// Narrowing: alice asks for one topic only.
	resp, narrow := get(t, p.url("/api/momento/token?topic=room-42"), basic("alice", "alice-password"))
	if resp.StatusCode != 200 {
		t.Fatalf("alice ?topic=room-42: %d %+v", resp.StatusCode, narrow)
	}
	// bob cannot narrow into another cache (outside his scope): 403.
	if resp, body := get(t, p.url("/api/momento/token?cache=other"), basic("bob", "bob-password")); resp.StatusCode != 403 {
		t.Errorf("bob ?cache=other: %d %+v", resp.StatusCode, body)
	}
	p.secrets = append(p.secrets, alice.AuthToken, bob.AuthToken, narrow.AuthToken)
	for _, mod := range []func(*http.Request){nil, basic("alice", "wrong-password"), basic("mallory", "alice-password")} {
		resp, body := get(t, p.url("/api/momento/token"), mod)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") || body.AuthToken != "" {
			t.Errorf("bad credentials: %d %q %+v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}

	// alice (ReadWrite) may publish; bob (ReadOnly) may subscribe only.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bobClient := topicClient(t, bob.AuthToken, p.emulator())
	sub, err := bobClient.Subscribe(ctx, &momento.TopicSubscribeRequest{CacheName: "default-cache", TopicName: "news"})
	if err != nil {
		t.Fatalf("bob subscribe: %v", err)
	}
	defer sub.Close()
	_, err = bobClient.Publish(ctx, &momento.TopicPublishRequest{CacheName: "default-cache", TopicName: "news", Value: momento.String("x")})
	var me momento.MomentoError
	if !errors.As(err, &me) || me.Code() != momento.PermissionError {
		t.Errorf("bob publish: %v, want %s", err, momento.PermissionError)
	}
	aliceClient := topicClient(t, alice.AuthToken, p.emulator())
	if _, err := aliceClient.Publish(ctx, &momento.TopicPublishRequest{CacheName: "default-cache", TopicName: "news", Value: momento.String("from alice")}); err != nil {
		t.Fatalf("alice publish: %v", err)
	}
	if item := nextItem(t, sub); item.GetPublisherId() != "alice" {
		t.Errorf("publisher %q", item.GetPublisherId())
	}
	if !strings.Contains(scrape(t, p), `tvm_token_requests_total{outcome="unauthorized"} 3`) {
		t.Error("401s not counted")
	}
	// The scopes that reached the emulator come from the verified groups
	// only: bob's hostile usergroup/cachename headers changed nothing.
	reqs := tokenRequests(t, p)
	want := []emuTokenRequest{
		{"alice", 900, []emuPermission{{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"}}},
		{"bob", 900, []emuPermission{{Role: "subscribeonly", Cache: "default-cache", Topic: "*"}}},
		{"alice", 900, []emuPermission{{Role: "publishsubscribe", Cache: "default-cache", Topic: "room-42"}}},
	}
	if fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("token requests %+v, want %+v", reqs, want)
	}
}

// TestBinaryUpstreamFaults injects faults into the embedded emulator's
// token service through the admin endpoint and checks the answers, the
// metrics, and recovery.
func TestBinaryUpstreamFaults(t *testing.T) {
	cfg := base + "vendTimeout: 1s\ntokenId: query:name\nmomento: {local: true}\nretry: {attempts: 3}\n"
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, cfg))
	if !strings.Contains(p.stdout.String(), "tvm: emulator fault injection at http://127.0.0.1:") {
		t.Fatalf("no fault injection on loopback: %s", p.stdout.String())
	}
	// A page in a browser cannot reach it.
	if c := admin(t, p, "POST", "/faults", `{"code":"UNAVAILABLE"}`, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); c != 403 {
		t.Errorf("browser request to admin: %d", c)
	}
	if c := admin(t, p, "POST", "/faults", `{"code":"UNAVAILABLE"}`, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }); c != 403 {
		t.Errorf("browser request to admin: %d", c)
	}
	// Nor can anything without the secret the banner printed, or through a
	// loopback proxy or tunnel (a forwarding header).
	if c := admin(t, p, "POST", "/faults", `{"code":"UNAVAILABLE"}`, func(r *http.Request) { r.Header.Del("Authorization") }); c != 401 {
		t.Errorf("admin without the secret: %d, want 401", c)
	}
	if c := admin(t, p, "POST", "/faults", `{"code":"UNAVAILABLE"}`, func(r *http.Request) { r.Header.Set("X-Forwarded-For", "203.0.113.7") }); c != 403 {
		t.Errorf("admin through a proxy: %d, want 403", c)
	}
	// A tunnel or rebinding page reaches it with its own name as Host.
	if c := admin(t, p, "POST", "/faults", `{"code":"UNAVAILABLE"}`, func(r *http.Request) { r.Host = "tunnel.example" }); c != 403 {
		t.Errorf("admin with a non-loopback Host: %d, want 403", c)
	}
	if n := len(faults(t, p)); n != 0 {
		t.Fatalf("%d faults installed by refused requests", n)
	}
	tests := []struct {
		fault   string
		status  int
		code    string
		metric  string
		maxTime time.Duration
	}{
		// Three failures: the first call and the two retries (retry.attempts: 3),
		// all within one vend, which is one upstream error.
		{`{"method":"GenerateDisposableToken","code":"UNAVAILABLE","count":3}`, 503, "upstream_unavailable", `tvm_upstream_errors_total{kind="unavailable"} 1`, 5 * time.Second},
		{`{"method":"GenerateDisposableToken","code":"PERMISSION_DENIED","count":1}`, 502, "upstream_rejected", `tvm_upstream_errors_total{kind="rejected"} 1`, 5 * time.Second},
		{`{"method":"GenerateDisposableToken","latency":"5s","count":1}`, 504, "upstream_timeout", `tvm_upstream_errors_total{kind="timeout"} 1`, 3 * time.Second},
	}
	for _, tt := range tests {
		if c := admin(t, p, "POST", "/faults", tt.fault, nil); c != 201 {
			t.Fatalf("adding fault %s: %d", tt.fault, c)
		}
		start := time.Now()
		resp, body := get(t, p.url("/api/momento/token?name=x"), nil)
		if resp.StatusCode != tt.status || body.Error != tt.code || time.Since(start) > tt.maxTime {
			t.Errorf("fault %s: %d %+v after %s", tt.fault, resp.StatusCode, body, time.Since(start))
		}
		if tt.status == 503 && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		if m := scrape(t, p); !strings.Contains(m, tt.metric) {
			t.Errorf("metrics lack %s", tt.metric)
		}
		// Every faulty call was made: the count-limited rule is spent.
		if left := faults(t, p); len(left) != 0 {
			t.Errorf("fault %s: rules left %s", tt.fault, left)
		}
	}
	// Count-limited faults are spent: the next request succeeds.
	if resp, body := get(t, p.url("/api/momento/token?name=x"), nil); resp.StatusCode != 200 {
		t.Errorf("after the faults: %d %+v", resp.StatusCode, body)
	} else {
		p.secrets = append(p.secrets, body.AuthToken)
	}
}

// TestBinaryOpsAddr: TVM_OPS_ADDR moves the operations endpoints (and the
// emulator's admin endpoint) to their own listener.
func TestBinaryOpsAddr(t *testing.T) {
	p := startTVM(t, baseEnv(t, "TVM_ADDR=0.0.0.0:0", "TVM_OPS_ADDR=127.0.0.1:0"))
	p.stdout.mu.Lock()
	ops := p.stdout.ops
	p.stdout.mu.Unlock()
	if !strings.HasPrefix(ops, "http://127.0.0.1:") {
		t.Fatalf("no operations address in the banner:\n%s", p.stdout.String())
	}
	status := func(url string) int {
		resp, err := p.adminGet(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/admin/momentolocal/faults"} {
		if c := status(p.url(path)); c != 404 {
			t.Errorf("token listener %s: %d, want 404", path, c)
		}
		if c := status(ops + path); c != 200 {
			t.Errorf("operations listener %s: %d, want 200", path, c)
		}
	}
	if c := status(ops + "/api/momento/token"); c != 404 {
		t.Errorf("operations listener serves tokens: %d", c)
	}
	resp, body := get(t, p.url("/api/momento/token?name=ops"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	p.secrets = append(p.secrets, body.AuthToken)
	if m := func() string {
		r, err := http.Get(ops + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}(); !strings.Contains(m, `tvm_token_requests_total{outcome="ok"} 1`) {
		t.Error("the token request is not counted")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestBinaryAdminOnlyOnLoopback: the fault injection endpoint is not
// mounted when tvm listens on a non-loopback address.
func TestBinaryAdminOnlyOnLoopback(t *testing.T) {
	p := startTVM(t, baseEnv(t, "TVM_ADDR=0.0.0.0:0"))
	if strings.Contains(p.stdout.String(), "fault injection") {
		t.Errorf("fault injection announced on 0.0.0.0: %s", p.stdout.String())
	}
	if c := admin(t, p, "GET", "/faults", "", nil); c != 404 {
		t.Errorf("admin on 0.0.0.0: %d, want 404", c)
	}
}

// testKey reads a TEST-ONLY RSA key of testdata/jwt.
func testKey(t *testing.T, name string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/jwt", name+".TEST-ONLY.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwt.ParseRSAPrivateKeyFromPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwkOf(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}
}

func sign(t *testing.T, kid string, k *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves the keys; hold, when set, delays each answer until it
// is closed (after reporting the request on held).
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []map[string]string
	hold chan struct{}
	held chan struct{}
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	j := &jwksServer{keys: keys}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		hold, held := j.hold, j.held
		keys := j.keys
		j.mu.Unlock()
		if hold != nil {
			held <- struct{}{}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(j.Close)
	return j
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tvm.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func jwtConfig(jwksURL string, extra string) string {
	return `
auth:
  method: jwt
  jwt:
    issuer: https://issuer.test/
    jwksURL: ` + jwksURL + `
    audience: tvm-test
    algorithms: [RS256]
scopes:
  - group: writers
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
  - default: true
    permissions:
      - {role: subscribeonly, cache: default-cache, topic: "*"}
momento:
  local: true
` + extra
}

func TestBinaryJWT(t *testing.T) {
	key := testKey(t, "test-rsa-1")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key))
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, jwtConfig(jwks.URL, "")))

	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": "erin", "groups": []string{"writers"},
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	attacker := testKey(t, "test-rsa-attacker")
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"writer", sign(t, "test-rsa-1", key, claims(nil)), 200},
		{"no group: default rule", sign(t, "test-rsa-1", key, claims(func(c jwt.MapClaims) { delete(c, "groups") })), 200},
		{"short-lived", sign(t, "test-rsa-1", key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(2 * time.Minute).Unix() })), 200},
		{"expired", sign(t, "test-rsa-1", key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), 401},
		{"wrong audience", sign(t, "test-rsa-1", key, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), 401},
		{"wrong issuer", sign(t, "test-rsa-1", key, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" })), 401},
		{"forged with a known kid", sign(t, "test-rsa-1", attacker, claims(nil)), 401},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"test-rsa-1"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://issuer.test/","aud":"tvm-test","sub":"x","exp":9999999999}`)) + ".", 401},
		{"garbage", "not.a.jwt", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.secrets = append(p.secrets, tt.token)
			resp, body := get(t, p.url("/api/momento/token"), bearer(tt.token))
			p.secrets = append(p.secrets, body.AuthToken)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%+v)", resp.StatusCode, tt.status, body)
			}
			if tt.name == "short-lived" {
				// The token never outlives the caller's JWT.
				if d := time.Unix(body.ExpiresAt, 0).Sub(now); d > 2*time.Minute+time.Second {
					t.Errorf("token outlives the JWT: expires %s after now", d)
				}
			}
		})
	}
}

// TestBinarySIGTERMFinishesInFlight: a request in flight when SIGTERM
// arrives completes; new connections are refused; the process exits 0.
// The request is held in the authenticator: its JWT names a key the JWKS
// server publishes only after the test releases the refresh.
func TestBinarySIGTERMFinishesInFlight(t *testing.T) {
	key1, key2 := testKey(t, "test-rsa-1"), testKey(t, "test-rsa-2")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key1))
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, jwtConfig(jwks.URL, "shutdownTimeout: 20s\n")))

	hold, held := make(chan struct{}), make(chan struct{}, 1)
	jwks.mu.Lock()
	jwks.keys = append(jwks.keys, jwkOf("test-rsa-2", key2))
	jwks.hold, jwks.held = hold, held
	jwks.mu.Unlock()

	tok := sign(t, "test-rsa-2", key2, jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": "frank",
		"exp": time.Now().Add(time.Hour).Unix()})
	p.secrets = append(p.secrets, tok)
	done := getBearerAsync(p, tok)
	select {
	case <-held: // the request is now waiting for the key refresh
	case <-time.After(20 * time.Second):
		t.Fatal("the JWKS refresh never came")
	}
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes: new connections are refused.
	addr := strings.TrimPrefix(p.url(""), "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond) // polling an external process
	}
	select {
	case <-p.exited:
		t.Fatal("exited with a request in flight")
	default:
	}
	close(hold)
	r := <-done
	if r.err != nil || r.status != 200 || r.body.AuthToken == "" {
		t.Fatalf("in-flight request: %d %+v %v", r.status, r.body, r.err)
	}
	p.secrets = append(p.secrets, r.body.AuthToken)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Error("no shutdown log line")
	}
	t.Logf("exited %s after SIGTERM", time.Since(signalled).Round(time.Millisecond))
}

// TestBinaryShutdownIsBounded: a request that does not finish within
// shutdownTimeout is cut off and the process exits anyway, non-zero.
func TestBinaryShutdownIsBounded(t *testing.T) {
	key1, key2 := testKey(t, "test-rsa-1"), testKey(t, "test-rsa-2")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key1))
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, jwtConfig(jwks.URL, "shutdownTimeout: 1s\n")))
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	defer close(hold)
	jwks.mu.Lock()
	jwks.hold, jwks.held = hold, held
	jwks.mu.Unlock()

	tok := sign(t, "test-rsa-2", key2, jwt.MapClaims{"iss": "https://issuer.test/", "aud": "tvm-test", "sub": "gina",
		"exp": time.Now().Add(time.Hour).Unix()})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, p.url("/api/momento/token"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-held
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(10 * time.Second)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("exit took %s with shutdownTimeout 1s", elapsed)
	}
	if code != exitError || !strings.Contains(p.stderr.String(), "graceful shutdown did not finish within 1s") {
		t.Errorf("exit code %d, stderr %s", code, p.stderr.String())
	}
	if err := <-done; err == nil {
		t.Error("the cut-off request got an answer")
	}
}

func TestBinaryCognito(t *testing.T) {
	key := testKey(t, "test-rsa-1")
	jwks := newJWKSServer(t, jwkOf("test-rsa-1", key))
	cfg := `
auth:
  method: cognito
  cognito:
    region: us-west-2
    userPoolId: us-west-2_AbC123def
    clientId: 1example23456789
    tokenUse: id
    jwksURL: ` + jwks.URL + `
scopes:
  - group: ReadWriteUserGroup
    permissions: [{role: publishsubscribe, cache: default-cache, topic: "*"}]
momento: {local: true}
`
	p := startTVM(t, baseEnv(t), "--config", writeConfig(t, cfg))
	now := time.Now()
	idToken := func(mod func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC123def", "aud": "1example23456789",
			"sub": "7d8ca528-4931-4254-9273-ea5ee853f271", "token_use": "id", "cognito:groups": []string{"ReadWriteUserGroup"},
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "auth_time": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return sign(t, "test-rsa-1", key, c)
	}
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"id token", idToken(nil), 200},
		{"access token", idToken(func(c jwt.MapClaims) { c["token_use"] = "access" }), 401},
		{"other client", idToken(func(c jwt.MapClaims) { c["aud"] = "someoneelse" }), 401},
		{"other pool", idToken(func(c jwt.MapClaims) {
			c["iss"] = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other"
		}), 401},
		{"no group", idToken(func(c jwt.MapClaims) { delete(c, "cognito:groups") }), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.secrets = append(p.secrets, tt.token)
			resp, body := get(t, p.url("/api/momento/token"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tt.token) })
			p.secrets = append(p.secrets, body.AuthToken)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (%+v)", resp.StatusCode, tt.status, body)
			}
		})
	}
}

func TestBinaryConfigErrors(t *testing.T) {
	bad := filepath.Join(fixtures, "bad-many.yaml")
	for _, args := range [][]string{{"--config", bad}, {"serve", "--config", bad}, {"check", "--config", bad}} {
		code, stdout, stderr := runTVM(t, baseEnv(t), args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitConfig || stdout != "" || len(lines) != 17 || lines[16] != "tvm: 16 problems in "+bad ||
			lines[0] != "auth.jwt.audiance: unknown key (line 8)" {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", args, code, stdout, stderr)
		}
	}
	// TVM_CONFIG works like --config.
	if code, _, stderr := runTVM(t, baseEnv(t, "TVM_CONFIG="+bad)); code != exitConfig || !strings.Contains(stderr, "tvm: 16 problems") {
		t.Errorf("TVM_CONFIG: exit %d %s", code, stderr)
	}
}

func TestBinaryCheck(t *testing.T) {
	for _, name := range []string{"example.yaml", "basic.yaml", "open.yaml", "jwt-file.yaml", "cognito.yaml", "apigateway.yaml"} {
		path := filepath.Join(fixtures, name)
		code, stdout, stderr := runTVM(t, baseEnv(t), "check", "--config", path)
		if code != 0 || !strings.HasPrefix(stdout, path+": ok") || stderr != "" {
			t.Errorf("check %s: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
		}
	}
	// A problem only the library sees (the JWKS file is no key set).
	cfg := writeConfig(t, "auth: {method: jwt, jwt: {issuer: i, jwksFile: "+filepath.Join(fixtures, "open.yaml")+", audience: a, algorithms: [RS256]}}\nscopes: [{default: true, permissions: [{role: readonly, cache: c}]}]\n")
	if code, _, stderr := runTVM(t, baseEnv(t), "check", cfg); code != exitConfig || !strings.HasPrefix(stderr, "auth.jwt.jwksFile: ") {
		t.Errorf("bad jwks file: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runTVM(t, baseEnv(t), "check"); code != exitConfig || !strings.Contains(stderr, "no configuration file") {
		t.Errorf("check without a file: exit %d %s", code, stderr)
	}
}

func TestBinaryStartupErrors(t *testing.T) {
	baseYAML := base
	base := writeConfig(t, baseYAML)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no api key", baseEnv(t), []string{"--config", base}, exitError, "no Momento API key: set MOMENTO_API_KEY"},
		{"apigateway outside lambda", baseEnv(t), []string{"--config", filepath.Join(fixtures, "apigateway.yaml")}, exitConfig,
			"auth.method: apigateway works only in AWS Lambda"},
		{"local and key", baseEnv(t, "MOMENTO_API_KEY=secret-key-1234"), []string{"--config", filepath.Join(fixtures, "basic.yaml")}, exitConfig,
			"momento.local: true, but a Momento API key is set"},
		{"malformed key", baseEnv(t, "MOMENTO_API_KEY=secret-key-1234"), []string{"--config", base}, exitConfig,
			"MOMENTO_API_KEY: not a Momento API key"},
		{"v2 key without an endpoint", baseEnv(t, "MOMENTO_API_KEY="+v2TestKey), []string{"--config", base}, exitConfig,
			"MOMENTO_ENDPOINT: required with a v2 API key"},
		{"endpoint with a scheme", baseEnv(t, "MOMENTO_API_KEY="+v2TestKey, "MOMENTO_ENDPOINT=https://cell-1.example.com"), []string{"--config", base}, exitConfig,
			"MOMENTO_ENDPOINT: must be a host name without a scheme"},
		{"endpoint differing from momento.endpoint", baseEnv(t, "MOMENTO_API_KEY="+v2TestKey, "MOMENTO_ENDPOINT=cell-1.example.com"),
			[]string{"--config", writeConfig(t, baseYAML+"momento: {endpoint: cell-2.example.com}\n")}, exitConfig,
			"momento.endpoint: differs from MOMENTO_ENDPOINT"},
		{"address in use", baseEnv(t, "TVM_ADDR="+busy.Addr().String()), nil, exitError, "listening on TVM_ADDR"},
		{"emulator address in use", baseEnv(t, "MOMENTO_LOCAL_ADDR="+busy.Addr().String()), nil, exitError, "starting the embedded Momento emulator"},
		{"unknown command", baseEnv(t), []string{"frobnicate"}, exitConfig, `unknown command "frobnicate"`},
		{"bad flag", baseEnv(t), []string{"--nope"}, exitConfig, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runTVM(t, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d (want %d), stderr:\n%s", code, tt.code, stderr)
			}
			if strings.Contains(stderr, "secret-key-1234") {
				t.Error("the API key is in the output")
			}
		})
	}
}

// TestBinaryRealKeyNeverLogged runs the demo with a well-formed API key
// whose token endpoint is unreachable: the vend fails (503), /readyz says
// not ready, the failure is counted, and the key appears nowhere.
func TestBinaryRealKeyNeverLogged(t *testing.T) {
	inner := "secret-api-key-that-must-not-leak-0123456789"
	key := base64.StdEncoding.EncodeToString([]byte(`{"api_key":"` + inner + `","endpoint":"localhost"}`))
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{baseEnv(t, "MOMENTO_API_KEY="+key), baseEnv(t, "MOMENTO_API_KEY_FILE="+keyFile)} {
		p := startTVM(t, append(env, "TVM_CONFIG=", "TVM_DEMO_REAL_TOKENS=1"))
		p.secrets = append(p.secrets, inner, key)
		if !strings.Contains(p.stdout.String(), "vending real Momento tokens") || p.emulator() != "" {
			t.Errorf("banner: %s", p.stdout.String())
		}
		resp, body := get(t, p.url("/api/momento/token?name=alice"), nil)
		if resp.StatusCode < 500 || body.AuthToken != "" {
			t.Errorf("vend with an unreachable Momento: %d %+v", resp.StatusCode, body)
		}
		if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		r, err := http.Get(p.url("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 503 {
			t.Errorf("/readyz: %d, want 503", r.StatusCode)
		}
		m := scrape(t, p)
		if strings.Contains(m, `tvm_upstream_errors_total{kind="unavailable"} 0`) && strings.Contains(m, `tvm_upstream_errors_total{kind="timeout"} 0`) {
			t.Errorf("upstream error not counted:\n%s", m)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(15 * time.Second); code != 0 {
			t.Errorf("exit code %d", code)
		}
	}
}

func TestBinaryHashPassword(t *testing.T) {
	cmd := exec.Command(tvmBin, "hash-password", "--cost", "10")
	cmd.Stdin = strings.NewReader("s3cret-pw\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$2a$10$") || strings.Contains(hash, "s3cret-pw") {
		t.Fatalf("hash %q", hash)
	}
	// The hash works in a configuration.
	cfg := writeConfig(t, "auth: {method: basic, users: [{username: u, passwordHash: '"+hash+"'}]}\nscopes: [{default: true, permissions: [{role: readonly, cache: c}]}]\n")
	if code, _, stderr := runTVM(t, baseEnv(t), "check", cfg); code != 0 {
		t.Errorf("check with the new hash: %d %s", code, stderr)
	}
}

// fakeRuntime is a minimal AWS Lambda runtime API: it hands out the queued
// events and records the function's responses and errors.
type fakeRuntime struct {
	*httptest.Server
	events  chan []byte
	results chan runtimeResult
}

type runtimeResult struct {
	id    string
	kind  string // "response" or "error"
	body  []byte
	event int
}

func newFakeRuntime(t *testing.T, events ...[]byte) *fakeRuntime {
	rt := &fakeRuntime{events: make(chan []byte, len(events)), results: make(chan runtimeResult, len(events)+1)}
	for _, e := range events {
		rt.events <- e
	}
	var mu sync.Mutex
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case ev := <-rt.events:
			mu.Lock()
			n++
			id := fmt.Sprintf("req-%d", n)
			mu.Unlock()
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-west-2:123456789012:function:tvm")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5e1b4151-5ac6c58f3375aa3c7c6b73c9")
			_, _ = w.Write(ev)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/{kind}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var idx int
		_, _ = fmt.Sscanf(r.PathValue("id"), "req-%d", &idx)
		rt.results <- runtimeResult{id: r.PathValue("id"), kind: r.PathValue("kind"), body: b, event: idx - 1}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rt.results <- runtimeResult{kind: "init-error", body: b, event: -1}
		w.WriteHeader(http.StatusAccepted)
	})
	rt.Server = httptest.NewServer(mux)
	t.Cleanup(rt.Close)
	return rt
}

// TestBinaryLambdaRuntime runs the real binary as AWS Lambda would, against
// a fake runtime API: the Momento key comes from a fake Parameters and
// Secrets extension, and v1 and v2 events get v1 and v2 answers. The events
// chosen are refused before any vend (Momento is not reachable here).
func TestBinaryLambdaRuntime(t *testing.T) {
	inner := "lambda-secret-api-key-0123456789"
	key := base64.StdEncoding.EncodeToString([]byte(`{"api_key":"` + inner + `","endpoint":"localhost"}`))
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Parameters-Secrets-Token") != "session-token-xyz" || r.URL.Query().Get("secretId") != "arn:aws:secretsmanager:us-west-2:123456789012:secret:tvm" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"SecretString": key})
	}))
	defer ext.Close()
	_, extPort, _ := net.SplitHostPort(strings.TrimPrefix(ext.URL, "http://"))

	files := []string{"http-v2-no-authorizer-forged.json", "http-v2-jwt-nogroup.json", "rest-v1-post.json", "http-v2-jwt-expired.json"}
	var evs [][]byte
	for _, f := range files {
		evs = append(evs, readEvent(t, f))
	}
	evs = append(evs, []byte(`{"Records":[]}`))
	rt := newFakeRuntime(t, evs...)

	env := baseEnv(t,
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.URL, "http://"),
		"TVM_CONFIG="+filepath.Join(fixtures, "apigateway.yaml"),
		"MOMENTO_API_KEY_SECRET_ID=arn:aws:secretsmanager:us-west-2:123456789012:secret:tvm",
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="+extPort,
		"AWS_SESSION_TOKEN=session-token-xyz",
	)
	p := launch(t, env)
	p.secrets = append(p.secrets, inner, key, "session-token-xyz")
	t.Cleanup(func() { _ = p.cmd.Process.Kill() }) // the runtime loop never ends by itself

	want := []struct {
		kind   string
		v2     bool
		status int
	}{{"response", true, 401}, {"response", true, 403}, {"response", false, 405}, {"response", true, 401}, {"error", false, 0}}
	for range want {
		var r runtimeResult
		select {
		case r = <-rt.results:
		case <-p.exited:
			t.Fatalf("tvm exited: %v\n%s", p.waitErr, p.stderr.String())
		case <-time.After(60 * time.Second):
			t.Fatal("no answer from the function")
		}
		if r.event < 0 || r.event >= len(want) {
			t.Fatalf("unexpected result %s %s", r.kind, r.body)
		}
		w := want[r.event]
		if r.kind != w.kind {
			t.Errorf("event %d: %s %s, want %s", r.event, r.kind, r.body, w.kind)
			continue
		}
		if w.kind == "error" {
			if !strings.Contains(string(r.body), "not an API Gateway proxy event") {
				t.Errorf("error body %s", r.body)
			}
			continue
		}
		var resp struct {
			StatusCode        int                 `json:"statusCode"`
			Headers           map[string]string   `json:"headers"`
			MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
			Cookies           []string            `json:"cookies"`
			Body              string              `json:"body"`
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		t.Logf("event %d: %s", r.event, r.body)
		// A v1 answer carries multiValueHeaders, a v2 answer does not.
		if resp.StatusCode != w.status || (resp.MultiValueHeaders == nil) != w.v2 {
			t.Errorf("event %d (%s): %s", r.event, files[r.event], r.body)
		}
	}
	if !strings.Contains(p.stderr.String(), `"msg":"tvm serving API Gateway events"`) {
		t.Errorf("no JSON start log: %s", p.stderr.String())
	}
}
