package tvm_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/responses"
	"github.com/tvmgo/tvm"

	"github.com/tvmgo/tvm/internal/testenv"
)

// TestMomentoRateLimiterCountersNotComputable: a client holding a token
// that may write the counter cache (here: a client on the root key) knows
// how the limiter names counters and the subject it counts, but still
// cannot find them: it cannot set another caller's counter to a million
// (locking them out) nor find and delete its own.
func TestMomentoRateLimiterCountersNotComputable(t *testing.T) {
	rlGoleak(t)
	srv := rlEmulator(t)
	clock := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC))
	lim, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{
		Client: rlCacheClient(t, srv), CacheName: rlCache, Secret: rlSecret, Limit: 3, Window: time.Minute, Now: clock.Now, FailClosed: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := itHandler(t, tvm.Config{
		Authenticator: rlSubjectAuth,
		Scopes:        itEveryone(t, tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
		Vendor:        benchStubVendor,
		RateLimit:     lim,
	})
	// What a client can compute: the documented prefix, the SHA-256 of the
	// handler's key ("<method>:<subject>") and the window number.
	guess := func(subject string) string {
		sum := sha256.Sum256([]byte("test:" + subject))
		w := clock.Now().UnixMilli() / time.Minute.Milliseconds()
		return "tvm-rl:" + base64.RawURLEncoding.EncodeToString(sum[:]) + ":" + strconv.FormatInt(w, 10)
	}
	attacker := rlCacheClient(t, srv)
	ctx := context.Background()
	if _, err := attacker.Increment(ctx, &momento.IncrementRequest{CacheName: rlCache, Field: momento.String(guess("victim")), Amount: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	if code, _ := rlStatus(h, "victim"); code != http.StatusOK {
		t.Errorf("the victim's first request after the attacker set a guessed counter: %d, want 200", code)
	}
	// The attacker's own counter is not where it can find it (to delete it).
	if code, _ := rlStatus(h, "attacker"); code != http.StatusOK {
		t.Fatalf("attacker's request: %d", code)
	}
	resp, err := attacker.Get(ctx, &momento.GetRequest{CacheName: rlCache, Key: momento.String(guess("attacker"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, miss := resp.(*responses.GetMiss); !miss {
		t.Errorf("the attacker found its own counter under the guessed key: %T", resp)
	}
}

// TestNewHandlerRefusesScopesWritingCounters: a scope that could write the
// cache holding a MomentoRateLimiter's counters (Config.RateLimit or
// Config.VendLimit) is refused at construction when the resolver's scopes
// are known (GroupScopes, Narrowing around it), and at request time
// otherwise, never vended.
func TestNewHandlerRefusesScopesWritingCounters(t *testing.T) {
	counters, err := tvm.NewMomentoRateLimiter(tvm.MomentoRateLimitConfig{Client: struct{ momento.CacheClient }{}, CacheName: "counters", Secret: rlSecret, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	writing := []tvm.Scope{
		{{Role: tvm.ReadWrite, Cache: "counters"}},
		{{Role: tvm.WriteOnly, Cache: "counters"}},
		{{Role: tvm.ReadWrite, Cache: "counters", KeyPrefix: "mine/"}},
		{{Role: tvm.WriteOnly, Cache: "counters", Key: "k"}},
		{{Role: tvm.ReadWrite, Cache: tvm.All}},
		{{Role: tvm.WriteOnly, Cache: tvm.All, KeyPrefix: "tvm-rl:"}},
		{{Role: tvm.ReadWrite, Cache: "{sub}"}},       // a subject named "counters"
		{{Role: tvm.ReadWrite, Cache: "count{team}"}}, // a team claim "ers"
		{{Role: tvm.SubscribeOnly, Cache: "c", Topic: "t"}, {Role: tvm.ReadWrite, Cache: "counters"}},
	}
	harmless := []tvm.Scope{
		{{Role: tvm.ReadOnly, Cache: "counters"}},
		{{Role: tvm.PublishSubscribe, Cache: "counters", Topic: tvm.All}},
		{{Role: tvm.ReadWrite, Cache: "other"}},
		{{Role: tvm.ReadOnly, Cache: tvm.All}},
		{{Role: tvm.ReadWrite, Cache: "user-{sub}"}}, // never "counters"
		{{Role: tvm.ReadWrite, Cache: "{sub}-data"}},
	}
	build := func(s tvm.Scope, narrow bool, vendLimit bool) error {
		groups, err := tvm.NewGroupScopes(tvm.GroupRule{Group: "g", Scope: tvm.Scope{{Role: tvm.ReadOnly, Cache: "x"}}}, tvm.GroupRule{Default: true, Scope: s})
		if err != nil {
			t.Fatal(err)
		}
		var res tvm.ScopeResolver = groups
		if narrow {
			if res, err = tvm.NewNarrowing(groups, tvm.NarrowOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		cfg := tvm.Config{Authenticator: tvm.Open(), Scopes: res, Vendor: benchStubVendor, RateLimit: counters}
		if vendLimit {
			cfg.RateLimit, cfg.VendLimit = nil, counters
		}
		_, err = tvm.NewHandler(cfg)
		return err
	}
	for _, s := range writing {
		for _, narrow := range []bool{false, true} {
			for _, vl := range []bool{false, true} {
				err := build(s, narrow, vl)
				fields := rlConfigFields(t, err)
				if len(fields) != 1 || fields[0] != "Config.Scopes.Rules[1].Scope["+strconv.Itoa(len(s)-1)+"].cache" {
					t.Errorf("scope %s (narrowing %v, vend limit %v): err %v, fields %q", s, narrow, vl, err, fields)
				}
			}
		}
	}
	for _, s := range harmless {
		if err := build(s, true, false); err != nil {
			t.Errorf("scope %s refused: %v", s, err)
		}
	}

	// A resolver the handler cannot inspect: refused per request.
	for _, s := range writing[:6] {
		vended := 0
		h, err := tvm.NewHandler(tvm.Config{
			Authenticator: tvm.Open(),
			Scopes: tvm.ResolverFunc(func(context.Context, tvm.Identity, *http.Request) (tvm.Grant, error) {
				return tvm.Grant{Scope: s}, nil
			}),
			Vendor: vendorFunc(func(ctx context.Context, g tvm.Grant) (tvm.Token, error) {
				vended++
				return benchStubVendor(ctx, g)
			}),
			VendLimit: counters,
		})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token", nil))
		if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), tvm.CodeInvalidScope) || vended != 0 {
			t.Errorf("scope %s from a custom resolver: %d %s, %d vends", s, w.Code, w.Body, vended)
		}
	}
}
