package tvm

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Bounds of the password check queue of a BasicAuthenticator.
const (
	// checkQueuePerSlot is how many logins may wait per concurrent check.
	checkQueuePerSlot = 4
	// checkWait is the longest a login waits for its check.
	checkWait = 500 * time.Millisecond
)

// checkGate bounds the concurrent password checks of a
// BasicAuthenticator: at most slots run at once and the others wait,
// newest first (LIFO), at most queue of them and each for at most wait; a
// login that would make the queue longer pushes out the oldest waiter, and
// a waiter not served in time is shed. Under a flood, each new login is
// served at the next free slot, unless another arrives before it: the
// flood's logins that waited longest, which would be served last anyway,
// are the ones refused. A nil gate admits everything.
type checkGate struct {
	mu      sync.Mutex
	free    int
	queue   int
	wait    time.Duration
	waiters []*checkWaiter // the newest last
}

type checkWaiter struct {
	ready   chan struct{} // closed when granted a slot or pushed out
	granted bool
}

func newCheckGate(slots int) *checkGate {
	return &checkGate{free: slots, queue: slots * checkQueuePerSlot, wait: checkWait}
}

// acquire takes a slot, waiting as described above. It returns an error
// wrapping ErrOverloaded when the login is shed or ctx ends first (then
// wrapping ctx's error too).
func (g *checkGate) acquire(ctx context.Context) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	if g.free > 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	w := &checkWaiter{ready: make(chan struct{})}
	if len(g.waiters) >= g.queue {
		oldest := g.waiters[0]
		g.waiters = append(g.waiters[:0], g.waiters[1:]...)
		close(oldest.ready) // not granted: shed
	}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()

	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		if err != nil {
			g.releaseLocked() // the caller went away: pass the slot on
			return fmt.Errorf("%w: waiting for a password check: %w", ErrOverloaded, err)
		}
		return nil
	}
	for i, x := range g.waiters {
		if x == w {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%w: waiting for a password check: %w", ErrOverloaded, err)
	}
	return fmt.Errorf("%w: too many password checks at once; retry later", ErrOverloaded)
}

// release returns a slot, to the newest waiter if any.
func (g *checkGate) release() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.releaseLocked()
	g.mu.Unlock()
}

func (g *checkGate) releaseLocked() {
	if n := len(g.waiters); n > 0 {
		w := g.waiters[n-1]
		g.waiters = g.waiters[:n-1]
		w.granted = true
		close(w.ready)
		return
	}
	g.free++
}
