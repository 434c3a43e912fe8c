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
// bcrypt comparisons at once than the bound (by default GOMAXPROCS), so
// the machine keeps room for a legitimate login; the logins that cannot
// get a turn in time are shed with ErrOverloaded (503 + Retry-After), not
// queued without end.
func TestBasicBoundsConcurrentChecks(t *testing.T) {
	a := htBasic(t, btConfig(t, false))
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
	for running.Load() < int32(runtime.GOMAXPROCS(0)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	if p, max := peak.Load(), int32(runtime.GOMAXPROCS(0)); p > max {
		t.Errorf("%d bcrypt comparisons ran at once, want at most %d (GOMAXPROCS)", p, max)
	}
	for err := range errs {
		if !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrOverloaded) {
			t.Errorf("flooded login: %v", err)
		}
	}
}

// TestCheckGate: with every slot taken, the newest waiter gets the next
// free slot (LIFO), a waiter over the queue bound pushes out the oldest,
// a waiter not served within the wait is shed, and a canceled one leaves.
func TestCheckGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newCheckGate(1) // one slot, a queue of checkQueuePerSlot
		ctx := context.Background()
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		order := make(chan int, 16)
		results := make([]error, checkQueuePerSlot+1)
		var wg sync.WaitGroup
		for i := range checkQueuePerSlot + 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = g.acquire(ctx)
				if results[i] == nil {
					order <- i
					g.release()
				}
			}()
			synctest.Wait() // waiter i is queued before i+1 arrives
		}
		// Waiter 0 was pushed out by the fifth.
		if !errors.Is(results[0], ErrOverloaded) {
			t.Errorf("oldest waiter over the bound: %v, want ErrOverloaded", results[0])
		}
		g.release()
		wg.Wait()
		close(order)
		var got []int
		for i := range order {
			got = append(got, i)
		}
		if want := []int{4, 3, 2, 1}; !slices.Equal(got, want) {
			t.Errorf("served %v, want the newest first %v", got, want)
		}

		// A waiter that does not get a slot within the wait is shed.
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := g.acquire(ctx); !errors.Is(err, ErrOverloaded) || time.Since(start) != checkWait {
			t.Errorf("waiting for a busy slot: %v after %s, want ErrOverloaded after %s", err, time.Since(start), checkWait)
		}
		// A canceled waiter leaves the queue at once.
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- g.acquire(cctx) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrOverloaded) {
			t.Errorf("canceled waiter: %v", err)
		}
		if len(g.waiters) != 0 {
			t.Errorf("%d waiters left", len(g.waiters))
		}
		g.release()
		if g.free != 1 {
			t.Errorf("%d free slots after every release, want 1", g.free)
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
	a.gate.free = 0 // the one slot is taken
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
	if b := htBasic(t, cfg); b.gate == nil || b.gate.free != runtime.GOMAXPROCS(0) || b.gate.queue != runtime.GOMAXPROCS(0)*checkQueuePerSlot {
		t.Errorf("default gate %+v", b.gate)
	}
}
