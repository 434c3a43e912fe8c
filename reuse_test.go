package tvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tvmgo/tvm/internal/testenv"
)

// rtVendor vends a distinct token per call ("token-1", "token-2", ...) that
// expires TTL after the test clock.
type rtVendor struct {
	n     atomic.Int64
	clock func() time.Time
	mu    sync.Mutex
	seen  []Grant
}

func (v *rtVendor) Vend(_ context.Context, g Grant) (Token, error) {
	n := v.n.Add(1)
	v.mu.Lock()
	v.seen = append(v.seen, g)
	v.mu.Unlock()
	return Token{AuthToken: fmt.Sprintf("token-%d", n), ExpiresAt: v.clock().Add(g.TTL)}, nil
}

// rtSetup builds a handler whose authenticator takes the identity from the
// test ("X-Test-Subject", "X-Test-Method", "X-Test-Exp" in unix seconds),
// with the given resolver (default: a static scope) and a distinct-token
// vendor on a settable clock.
func rtSetup(t *testing.T, cfg Config) (*Handler, *rtVendor, *testenv.Clock) {
	t.Helper()
	clock := testenv.NewClock(htNow)
	v := &rtVendor{clock: clock.Now}
	cfg.Authenticator = AuthenticatorFunc(func(r *http.Request) (Identity, error) {
		id := Identity{Subject: r.Header.Get("X-Test-Subject"), Method: r.Header.Get("X-Test-Method")}
		if id.Method == "" {
			id.Method = "test"
		}
		if exp := r.Header.Get("X-Test-Exp"); exp != "" {
			var s int64
			if _, err := fmt.Sscan(exp, &s); err != nil {
				return Identity{}, err
			}
			id.ExpiresAt = time.Unix(s, 0)
		}
		return id, nil
	})
	if cfg.Scopes == nil {
		cfg.Scopes = htDefault(t, htScope)
	}
	if cfg.Vendor == nil {
		cfg.Vendor = v
	}
	h, _, _ := htSetup(t, cfg)
	h.now = clock.Now
	return h, v, clock
}

type rtBody struct {
	AuthToken string `json:"authToken"`
	ExpiresAt int64  `json:"expiresAt"`
}

func rtGet(t *testing.T, h http.Handler, target string, hdr map[string]string) rtBody {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s %v: status %d %s", target, hdr, w.Code, w.Body)
	}
	var b rtBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReuseSameIdentitySameToken(t *testing.T) {
	var results []Result
	var mu sync.Mutex
	h, v, clock := rtSetup(t, Config{OnResult: func(_ *http.Request, res Result) {
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	}})
	alice := map[string]string{"X-Test-Subject": "alice"}
	first := rtGet(t, h, "/token", alice)
	clock.Advance(7 * time.Minute) // 8 of 15 minutes remain: more than half
	second := rtGet(t, h, "/token", alice)
	if first != second {
		t.Errorf("second answer %+v, want the first %+v", second, first)
	}
	if want := htNow.Add(defaultTTL).Unix(); second.ExpiresAt != want {
		t.Errorf("expiresAt %d, want the token's real expiry %d", second.ExpiresAt, want)
	}
	if n := v.n.Load(); n != 1 {
		t.Errorf("%d vends, want 1", n)
	}
	if len(results) != 2 || results[0].Source != "vended" || results[1].Source != "reused" {
		t.Errorf("Result.Source = %q, %q; want vended, reused", results[0].Source, results[1].Source)
	}

	clock.Advance(time.Minute) // 7 of 15 minutes remain: less than half
	third := rtGet(t, h, "/token", alice)
	if third.AuthToken == first.AuthToken || v.n.Load() != 2 {
		t.Errorf("a token with less than half its lifetime left was reused (%d vends)", v.n.Load())
	}
	if want := clock.Now().Add(defaultTTL).Unix(); third.ExpiresAt != want {
		t.Errorf("new token expires %d, want %d", third.ExpiresAt, want)
	}
	// The fresh token replaced the old one.
	if again := rtGet(t, h, "/token", alice); again != third {
		t.Errorf("after renewal got %+v, want %+v", again, third)
	}
}

// TestReuseNeverShared: anything that tells two requests apart gives them
// different tokens.
func TestReuseNeverShared(t *testing.T) {
	narrowing := htNarrowing(t, htDefault(t, Scope{{Role: PublishSubscribe, Cache: "chat", TopicPrefix: "room-"}}), NarrowOptions{})
	tests := []struct {
		name   string
		cfg    Config
		a, b   string
		ha, hb map[string]string
	}{
		{"two subjects, same scope", Config{}, "/token", "/token",
			map[string]string{"X-Test-Subject": "alice"}, map[string]string{"X-Test-Subject": "bob"}},
		{"same subject, two methods", Config{}, "/token", "/token",
			map[string]string{"X-Test-Subject": "alice", "X-Test-Method": "basic"}, map[string]string{"X-Test-Subject": "alice", "X-Test-Method": "jwt"}},
		{"same subject, different narrowing", Config{Scopes: narrowing}, "/token?topic=room-1", "/token?topic=room-2",
			map[string]string{"X-Test-Subject": "alice"}, map[string]string{"X-Test-Subject": "alice"}},
		{"same subject, narrowed and not", Config{Scopes: narrowing}, "/token?topic=room-1", "/token",
			map[string]string{"X-Test-Subject": "alice"}, map[string]string{"X-Test-Subject": "alice"}},
		{"same subject, different token id", Config{TokenID: func(_ Identity, r *http.Request) (string, error) { return r.URL.Query().Get("name"), nil }},
			"/token?name=a", "/token?name=b", map[string]string{"X-Test-Subject": "alice"}, map[string]string{"X-Test-Subject": "alice"}},
		{"same subject, different grant TTL", Config{Scopes: ResolverFunc(func(_ context.Context, _ Identity, r *http.Request) (Grant, error) {
			ttl := 10 * time.Minute
			if r.URL.Query().Has("short") {
				ttl = 5 * time.Minute
			}
			return Grant{Scope: htScope, TTL: ttl}, nil
		})}, "/token", "/token?short", map[string]string{"X-Test-Subject": "alice"}, map[string]string{"X-Test-Subject": "alice"}},
		// Subjects whose concatenation with the method would be ambiguous.
		{"length-prefixed fields", Config{}, "/token", "/token",
			map[string]string{"X-Test-Subject": "b", "X-Test-Method": "a"}, map[string]string{"X-Test-Subject": "", "X-Test-Method": "ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, v, _ := rtSetup(t, tt.cfg)
			if tt.cfg.TokenID == nil {
				h.tokenID = func(id Identity, _ *http.Request) (string, error) { return "fixed-id", nil }
			}
			a := rtGet(t, h, tt.a, tt.ha)
			b := rtGet(t, h, tt.b, tt.hb)
			if a.AuthToken == b.AuthToken || v.n.Load() != 2 {
				t.Errorf("both got %q (%d vends)", a.AuthToken, v.n.Load())
			}
			// Each still reuses its own.
			if again := rtGet(t, h, tt.a, tt.ha); again.AuthToken != a.AuthToken {
				t.Errorf("first caller got %q then %q", a.AuthToken, again.AuthToken)
			}
			if again := rtGet(t, h, tt.b, tt.hb); again.AuthToken != b.AuthToken {
				t.Errorf("second caller got %q then %q", b.AuthToken, again.AuthToken)
			}
		})
	}
}

// TestReuseNeverOutlivesCredential: a kept token is not handed to a caller
// whose credential expires before it.
func TestReuseNeverOutlivesCredential(t *testing.T) {
	h, v, clock := rtSetup(t, Config{})
	long := map[string]string{"X-Test-Subject": "alice", "X-Test-Exp": fmt.Sprint(htNow.Add(2 * time.Hour).Unix())}
	short := map[string]string{"X-Test-Subject": "alice", "X-Test-Exp": fmt.Sprint(htNow.Add(5 * time.Minute).Unix())}

	first := rtGet(t, h, "/token", long) // 15 minutes
	got := rtGet(t, h, "/token", short)
	if got.AuthToken == first.AuthToken || got.ExpiresAt > htNow.Add(5*time.Minute).Unix() {
		t.Errorf("caller with a 5-minute credential got %+v (the 15-minute token is %+v)", got, first)
	}
	if n := v.n.Load(); n != 2 {
		t.Errorf("%d vends, want 2", n)
	}
	// The capped token is reused while the credential lasts, as a new one
	// would not live longer.
	clock.Advance(4 * time.Minute)
	if again := rtGet(t, h, "/token", short); again != got {
		t.Errorf("capped token not reused: %+v then %+v", got, again)
	}
	// The long-lived credential does not get the capped token: a new one
	// would live 15 minutes, the kept one has 1 left.
	if again := rtGet(t, h, "/token", long); again.AuthToken == got.AuthToken || again.ExpiresAt != clock.Now().Add(defaultTTL).Unix() {
		t.Errorf("long credential got %+v", again)
	}
}

func TestReuseLRUBound(t *testing.T) {
	h, v, _ := rtSetup(t, Config{Reuse: ReuseOptions{MaxEntries: 2}})
	get := func(sub string) string {
		return rtGet(t, h, "/token", map[string]string{"X-Test-Subject": sub}).AuthToken
	}
	a, b := get("a"), get("b")
	if get("a") != a { // a is now the most recently used
		t.Fatal("a not reused")
	}
	get("c") // evicts b
	if n := h.reuse.cache.len(); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
	if get("a") != a {
		t.Error("a was evicted instead of b")
	}
	if get("b") == b {
		t.Error("b was kept beyond the bound")
	}
	if n := v.n.Load(); n != 4 {
		t.Errorf("%d vends, want 4", n)
	}
}

func TestReuseDisabled(t *testing.T) {
	h, v, _ := rtSetup(t, Config{Reuse: ReuseOptions{Disabled: true}})
	for range 3 {
		rtGet(t, h, "/token", map[string]string{"X-Test-Subject": "alice"})
	}
	if n := v.n.Load(); n != 3 || h.reuse != nil {
		t.Errorf("%d vends with reuse disabled, want 3", n)
	}
}

func TestReuseErrorsAreNotKept(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	inner := &rtVendor{clock: func() time.Time { return htNow }}
	vendor := vendorFunc(func(ctx context.Context, g Grant) (Token, error) {
		if fail.Load() {
			return Token{}, &VendError{Kind: ErrUpstreamRejected, Err: errors.New("no")}
		}
		return inner.Vend(ctx, g)
	})
	var res Result
	h, _, _ := rtSetup(t, Config{Vendor: vendor, OnResult: func(_ *http.Request, r Result) { res = r }})
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.Header.Set("X-Test-Subject", "alice")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadGateway {
		t.Fatalf("status %d", w.Code)
	}
	if res.Source != "vended" || res.Code != CodeUpstreamRejected {
		t.Errorf("failed vend: result source %q code %q, want vended %s", res.Source, res.Code, CodeUpstreamRejected)
	}
	fail.Store(false)
	if b := rtGet(t, h, "/token", map[string]string{"X-Test-Subject": "alice"}); b.AuthToken != "token-1" {
		t.Errorf("got %q", b.AuthToken)
	}
}

func TestReuseOptionsValidation(t *testing.T) {
	for _, tt := range []struct {
		o      ReuseOptions
		fields []string
	}{
		{ReuseOptions{MinRemaining: 1}, []string{"Config.Reuse.MinRemaining"}},
		{ReuseOptions{MinRemaining: -0.5}, []string{"Config.Reuse.MinRemaining"}},
		{ReuseOptions{MinRemaining: 1.5}, []string{"Config.Reuse.MinRemaining"}},
		{ReuseOptions{MinRemaining: math.NaN()}, []string{"Config.Reuse.MinRemaining"}},
		{ReuseOptions{MaxEntries: -1}, []string{"Config.Reuse.MaxEntries"}},
		{ReuseOptions{MinRemaining: 2, MaxEntries: -1}, []string{"Config.Reuse.MinRemaining", "Config.Reuse.MaxEntries"}},
	} {
		_, err := NewHandler(Config{Authenticator: Open(), Scopes: htDefault(t, htScope), Vendor: &htVendor{}, Reuse: tt.o})
		if fields := configFields(t, err); !slices.Equal(fields, tt.fields) {
			t.Errorf("%+v: err %v, fields %q, want %q", tt.o, err, fields, tt.fields)
		}
	}
	// Invalid options are accepted when reuse is disabled: they are unused.
	if _, err := NewHandler(Config{Authenticator: Open(), Scopes: htDefault(t, htScope), Vendor: &htVendor{}, Reuse: ReuseOptions{Disabled: true, MinRemaining: 3}}); err != nil {
		t.Error(err)
	}
}

// ctVendor blocks every call until released and counts calls.
type ctVendor struct {
	calls   atomic.Int64
	release chan struct{}
	result  func(ctx context.Context, g Grant) (Token, error)
	ctxErr  atomic.Value // the context's error when the call returned
}

func (v *ctVendor) Vend(ctx context.Context, g Grant) (Token, error) {
	v.calls.Add(1)
	select {
	case <-v.release:
	case <-ctx.Done():
	}
	v.ctxErr.Store(fmt.Sprint(ctx.Err()))
	if v.result != nil {
		return v.result(ctx, g)
	}
	return Token{AuthToken: "shared-token", ExpiresAt: htNow.Add(g.TTL)}, nil
}

// coalesceRun sends n identical requests (with contexts from ctxs, if set)
// and returns their recorders and results once they all finished. It runs
// in a synctest bubble: synctest.Wait returns once every request waits for
// the shared vend (the only place a request can block durably), then
// afterJoin runs, and the vendor is released.
func coalesceRun(t *testing.T, h *Handler, v *ctVendor, n int, ctxs func() []context.Context, afterJoin func(results func() []Result)) ([]*httptest.ResponseRecorder, []Result) {
	t.Helper()
	var ws []*httptest.ResponseRecorder
	var results []Result
	synctest.Test(t, func(t *testing.T) {
		v.release = make(chan struct{})
		var mu sync.Mutex
		h.onResult = func(_ *http.Request, res Result) {
			mu.Lock()
			results = append(results, res)
			mu.Unlock()
		}
		var cs []context.Context
		if ctxs != nil {
			cs = ctxs()
		}
		ws = make([]*httptest.ResponseRecorder, n)
		var done sync.WaitGroup
		for i := range n {
			done.Go(func() {
				r := httptest.NewRequest(http.MethodGet, "/token", nil)
				if cs != nil && cs[i] != nil {
					r = r.WithContext(cs[i])
				}
				ws[i] = httptest.NewRecorder()
				h.ServeHTTP(ws[i], r)
			})
		}
		synctest.Wait()
		if c := v.calls.Load(); c != 1 {
			t.Errorf("%d upstream calls while %d requests wait, want 1", c, n)
		}
		if afterJoin != nil {
			afterJoin(func() []Result { mu.Lock(); defer mu.Unlock(); return slices.Clone(results) })
		}
		close(v.release)
		done.Wait()
	})
	return ws, results
}

// coalesceSources counts the results by Source.
func coalesceSources(results []Result) map[string]int {
	m := map[string]int{}
	for _, r := range results {
		m[r.Source]++
	}
	return m
}

func TestCoalescingOneUpstreamCall(t *testing.T) {
	v := &ctVendor{}
	h, _, _ := htSetup(t, Config{Vendor: v})
	const n = 32
	ws, results := coalesceRun(t, h, v, n, nil, nil)
	if c := v.calls.Load(); c != 1 {
		t.Errorf("%d upstream calls for %d identical concurrent requests, want 1", c, n)
	}
	for i, w := range ws {
		if w.Code != 200 || !json.Valid(w.Body.Bytes()) {
			t.Errorf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	if got := coalesceSources(results); got["vended"] != 1 || got["coalesced"] != n-1 || len(got) != 2 {
		t.Errorf("sources %v, want one vended and %d coalesced", got, n-1)
	}
}

func TestCoalescingSharesErrors(t *testing.T) {
	v := &ctVendor{result: func(context.Context, Grant) (Token, error) {
		return Token{}, &VendError{Kind: ErrUpstreamRejected, Code: "PERMISSION_ERROR", Err: errors.New("refused")}
	}}
	h, _, _ := htSetup(t, Config{Vendor: v})
	const n = 8
	ws, results := coalesceRun(t, h, v, n, nil, nil)
	for i, w := range ws {
		if w.Code != http.StatusBadGateway {
			t.Errorf("request %d: status %d, want 502", i, w.Code)
		}
	}
	if c := v.calls.Load(); c != 1 {
		t.Errorf("%d upstream calls, want 1", c)
	}
	// Failures name the path they took too.
	if got := coalesceSources(results); got["vended"] != 1 || got["coalesced"] != n-1 {
		t.Errorf("sources %v, want one vended and %d coalesced", got, n-1)
	}
}

// TestCoalescingCallerCancellation: callers go away, the leader among
// them; they get their answer at once (499 canceled, not a Momento outage)
// and the shared call goes on for the others, its context intact.
func TestCoalescingCallerCancellation(t *testing.T) {
	v := &ctVendor{}
	h, _, logs := htSetup(t, Config{Vendor: v})
	const n = 6
	cancels := make([]context.CancelFunc, n)
	ctxs := func() []context.Context { // made inside the bubble
		cs := make([]context.Context, n)
		for i := range cs {
			cs[i], cancels[i] = context.WithCancel(context.Background())
		}
		return cs
	}
	var early []Result
	ws, results := coalesceRun(t, h, v, n, ctxs, func(results func() []Result) {
		for i := 0; i < n; i += 2 { // request 0 is as likely as any to lead
			cancels[i]()
		}
		synctest.Wait() // the cancelled requests answer; the others still wait
		early = results()
	})
	if len(early) != n/2 {
		t.Errorf("%d requests answered before the release, want the %d cancelled ones", len(early), n/2)
	}
	for _, r := range early {
		if r.Status != statusClientClosedRequest || r.Code != CodeCanceled || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("cancelled request's result %+v, want 499 canceled", r)
		}
	}
	for i, w := range ws {
		want := http.StatusOK
		if i%2 == 0 {
			want = statusClientClosedRequest
		}
		if w.Code != want {
			t.Errorf("request %d: status %d, want %d", i, w.Code, want)
		}
	}
	if got := v.ctxErr.Load(); got != "<nil>" {
		t.Errorf("the shared call's context ended: %v", got)
	}
	if c := v.calls.Load(); c != 1 {
		t.Errorf("%d upstream calls, want 1", c)
	}
	if len(results) != n {
		t.Errorf("%d results, want %d", len(results), n)
	}
	out := logs.String()
	if strings.Contains(out, `"level":"ERROR"`) || strings.Contains(out, CodeUpstreamUnavailable) || strings.Count(out, `"outcome":"canceled"`) != n/2 {
		t.Errorf("cancelled requests must log at info as canceled, never as an outage:\n%s", out)
	}
}

func TestCoalescingVendorPanic(t *testing.T) {
	v := &ctVendor{result: func(context.Context, Grant) (Token, error) {
		panic("vendor bug with a secret-looking value")
	}}
	h, _, logs := htSetup(t, Config{Vendor: v})
	got, _ := coalesceRun(t, h, v, 4, nil, nil)
	for i, w := range got {
		if w.Code != http.StatusInternalServerError {
			t.Errorf("request %d: status %d, want 500", i, w.Code)
		}
	}
	if out := logs.String(); !strings.Contains(out, "panic in the vendor") || strings.Contains(out, "secret-looking") {
		t.Errorf("log:\n%s", out)
	}
}

// len returns the number of kept tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
