package tvm

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestBasicBoundsConcurrentChecks: a flood of logins never runs more
// bcrypt comparisons at once than the bound (by default half GOMAXPROCS), so
// the machine keeps room for a legitimate login; the logins that cannot
// get a turn in time are shed with ErrOverloaded (503 + Retry-After), not
// queued without end.
func TestBasicBoundsConcurrentChecks(t *testing.T) {
	a := htBasic(t, btConfig(t, false))
	a.users[0].goodTag.Store(a.credentialTag("alice", "wrong") ^ 1) // the flood's credentials are not known-good
	var running, peak atomic.Int32
	release := make(chan struct{})
	a.compare = func(hash, pw []byte) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		running.Add(-1)
		return errors.New("wrong")
	}
	const flood = 16
	errs := make(chan error, flood)
	var wg sync.WaitGroup
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", btBasic("alice", "wrong"))
			_, err := a.Authenticate(r)
			errs <- err
		}()
	}
	// Let the flood pile up, then let the comparisons finish.
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < int32(runtime.GOMAXPROCS(0)+1)/2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	if p, max := peak.Load(), int32(runtime.GOMAXPROCS(0)+1)/2; p > max {
		t.Errorf("%d bcrypt comparisons ran at once, want at most %d (half of GOMAXPROCS)", p, max)
	}
	for err := range errs {
		if !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrOverloaded) {
			t.Errorf("flooded login: %v", err)
		}
	}
}

// TestCheckGate: with every slot taken, waiters are served in arrival
// order, a login finding the line full is shed at once, a waiter not
// served within the wait is shed, and a canceled one leaves.
func TestCheckGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const queue = 4
		g := &checkGate{free: 1, queue: queue, wait: checkWait}
		ctx := context.Background()
		first, err := g.acquire(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		order := make(chan int, queue+1)
		results := make([]error, queue+1)
		var wg sync.WaitGroup
		for i := range queue + 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slot, err := g.acquire(ctx, false)
				results[i] = err
				if err == nil {
					order <- i
					g.release(slot)
				}
			}()
			synctest.Wait() // waiter i is queued before i+1 arrives
		}
		// The fifth found the line full.
		if !errors.Is(results[queue], ErrOverloaded) {
			t.Errorf("login over the bound: %v, want ErrOverloaded", results[queue])
		}
		g.release(first)
		wg.Wait()
		close(order)
		var got []int
		for i := range order {
			got = append(got, i)
		}
		if want := []int{0, 1, 2, 3}; !slices.Equal(got, want) {
			t.Errorf("served %v, want arrival order %v", got, want)
		}

		// A waiter that does not get a slot within the wait is shed.
		busy, err := g.acquire(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := g.acquire(ctx, false); !errors.Is(err, ErrOverloaded) || time.Since(start) != checkWait {
			t.Errorf("waiting for a busy slot: %v after %s, want ErrOverloaded after %s", err, time.Since(start), checkWait)
		}
		// A canceled waiter leaves the queue at once.
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { _, err := g.acquire(cctx, false); done <- err }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrOverloaded) {
			t.Errorf("canceled waiter: %v", err)
		}
		if n := len(g.waiters[0]) + len(g.waiters[1]); n != 0 {
			t.Errorf("%d waiters left", n)
		}
		g.release(busy)
		if g.free != 1 {
			t.Errorf("%d free slots after every release, want 1", g.free)
		}
	})
}

// TestCheckGateKnownGood: known-good logins have a slot of their own, so
// one is checked at once while the flood holds every other slot, and a
// free slot goes to a known-good waiter before any other, even one that
// came earlier; the reserved slot never goes to others.
func TestCheckGateKnownGood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newCheckGate(1)
		ctx := context.Background()
		flood, err := g.acquire(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		reserved, err := g.acquire(ctx, true)
		if err != nil || reserved != reservedSlot {
			t.Fatalf("known-good login beside the flood: %v, %v", reserved, err)
		}
		order := make(chan string, 4)
		for _, w := range []struct {
			name  string
			known bool
		}{{"other", false}, {"newest other", false}, {"known", true}, {"second known", true}} {
			go func() {
				if slot, err := g.acquire(ctx, w.known); err == nil {
					order <- w.name
					g.release(slot)
				}
			}()
			synctest.Wait()
		}
		g.release(reserved) // to the first known-good waiter
		synctest.Wait()     // "known" is done, handing the reserved slot to "second known"
		if len(order) != 2 {
			t.Fatalf("after the reserved slot freed, %d served, want the two known-good", len(order))
		}
		if g.reserved != 1 || len(g.waiters[0]) != 2 {
			t.Fatalf("the reserved slot went to another login: reserved %d, waiting %d", g.reserved, len(g.waiters[0]))
		}
		g.release(flood)
		synctest.Wait()
		close(order)
		var got []string
		for n := range order {
			got = append(got, n)
		}
		if want := []string{"known", "second known", "other", "newest other"}; !slices.Equal(got, want) {
			t.Errorf("served %q, want %q", got, want)
		}
	})
}

// TestBasicOverloadedIs503: a shed login is a 503 "overloaded" with
// Retry-After, not a 401 (the credentials were never checked) and not an
// upstream outage.
func TestBasicOverloadedIs503(t *testing.T) {
	cfg := btConfig(t, false)
	cfg.MaxConcurrentChecks = 1
	a := htBasic(t, cfg)
	a.gate.free, a.gate.reserved = 0, 0 // every slot is taken
	a.gate.wait = time.Millisecond
	h, err := NewHandler(Config{Authenticator: a, Scopes: htDefault(t, htScope), Vendor: &htVendor{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.Header.Set("Authorization", btBasic("alice", btAlicePassword))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), `"error":"overloaded"`) {
		t.Errorf("shed login: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// No bound: a negative MaxConcurrentChecks.
	cfg.MaxConcurrentChecks = -1
	if b := htBasic(t, cfg); b.gate != nil {
		t.Error("MaxConcurrentChecks < 0 still bounds")
	}
	cfg.MaxConcurrentChecks = 0
	b, n := htBasic(t, cfg), (runtime.GOMAXPROCS(0)+1)/2
	if b.gate == nil || b.gate.free != n || b.gate.queue != n*checkQueuePerSlot {
		t.Errorf("default gate %+v, want %d slots (half of GOMAXPROCS %d)", b.gate, n, runtime.GOMAXPROCS(0))
	}
}

// TestBasicRemembersKnownGoodCredentials: a login that passes makes its
// credentials known-good for the user; a failed one changes nothing, and
// unknown users never become known.
func TestBasicRemembersKnownGoodCredentials(t *testing.T) {
	a := htBasic(t, btConfig(t, false))
	login := func(user, pass string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", btBasic(user, pass))
		_, _ = a.Authenticate(r)
	}
	alice := &a.users[0]
	before := alice.goodTag.Load()
	login("alice", "wrong")
	if alice.goodTag.Load() != before {
		t.Error("a failed login changed the known-good tag")
	}
	login("alice", btAlicePassword)
	if alice.goodTag.Load() != a.credentialTag("alice", btAlicePassword) {
		t.Error("a passed login is not known-good")
	}
	dummy := a.dummyTag.Load()
	login("mallory", "x")
	if a.dummyTag.Load() != dummy {
		t.Error("an unknown user changed the dummy tag")
	}
	if a.credentialTag("alice", btAlicePassword) > 255 || a.credentialTag("alice", "x") == a.credentialTag("bob", "x") && a.credentialTag("alice", "y") == a.credentialTag("bob", "y") && a.credentialTag("alice", "z") == a.credentialTag("bob", "z") {
		t.Error("tags do not depend on the user")
	}
}
