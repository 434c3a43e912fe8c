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
	// Waiting costs a goroutine, not CPU: the bound only caps memory under
	// a flood from many connections.
	checkQueuePerSlot = 32
	// checkWait is the longest a login waits for its check.
	checkWait = time.Second
)

// checkGate bounds the concurrent password checks of a
// BasicAuthenticator: at most slots run at once and the others wait in
// line, at most queue of them (a login finding the line full is shed at
// once) and each for at most wait (then it is shed).
//
// A free slot goes first to the logins presenting known-good credentials
// (see BasicAuthenticator), then to the other logins in arrival order:
// under a flood of bad logins a client that logged in before is served at
// the next free slot, and a new login waits its turn, its fair share of the
// checks. (Serving the newest first instead would serve some new logins at
// once and starve the others, which a steady flood keeps overtaking.) A
// nil gate admits everything.
type checkGate struct {
	mu      sync.Mutex
	free    int
	queue   int
	wait    time.Duration
	waiters [2][]*checkWaiter // [0] others, [1] known-good; in arrival order
}

type checkWaiter struct {
	ready   chan struct{} // closed when granted a slot
	granted bool
}

func newCheckGate(slots int) *checkGate {
	return &checkGate{free: slots, queue: slots * checkQueuePerSlot, wait: checkWait}
}

// acquire takes a slot, waiting as described above; known says whether
// the login presents known-good credentials. It returns an error wrapping
// ErrOverloaded when the login is shed or ctx ends first (then wrapping
// ctx's error too).
func (g *checkGate) acquire(ctx context.Context, known bool) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	if g.free > 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	if len(g.waiters[0])+len(g.waiters[1]) >= g.queue {
		g.mu.Unlock()
		return fmt.Errorf("%w: too many logins waiting for a password check; retry later", ErrOverloaded)
	}
	w := &checkWaiter{ready: make(chan struct{})}
	lane := 0
	if known {
		lane = 1
	}
	g.waiters[lane] = append(g.waiters[lane], w)
	g.mu.Unlock()

	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
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
	for i, x := range g.waiters[lane] {
		if x == w {
			g.waiters[lane] = append(g.waiters[lane][:i], g.waiters[lane][i+1:]...)
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%w: waiting for a password check: %w", ErrOverloaded, err)
	}
	return fmt.Errorf("%w: too many password checks at once; retry later", ErrOverloaded)
}

// release returns a slot, to the waiter next in line if any.
func (g *checkGate) release() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.releaseLocked()
	g.mu.Unlock()
}

func (g *checkGate) releaseLocked() {
	for lane := 1; lane >= 0; lane-- {
		if len(g.waiters[lane]) > 0 {
			w := g.waiters[lane][0]
			g.waiters[lane] = g.waiters[lane][1:]
			w.granted = true
			close(w.ready)
			return
		}
	}
	g.free++
}
