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
// Logins presenting known-good credentials (see BasicAuthenticator) have
// one more slot, reserved to them, and go first when a slot frees; the
// other logins are served in arrival order. So under a flood of bad logins
// a client that logged in before is checked at once (in the reserved slot,
// beside the flood's checks) or at the next free slot, and a new login
// waits its turn, its fair share of the checks. (Serving the newest first
// instead would serve some new logins at once and starve the others, which
// a steady flood keeps overtaking.) A nil gate admits everything.
type checkGate struct {
	mu       sync.Mutex
	free     int // free slots for any login
	reserved int // free slots for known-good logins only (1 or 0)
	queue    int
	wait     time.Duration
	waiters  [2][]*checkWaiter // [0] others, [1] known-good; in arrival order
}

type checkWaiter struct {
	ready   chan struct{} // closed when granted a slot
	granted bool
	slot    checkSlot // the slot granted
}

// checkSlot is the kind of slot a check holds.
type checkSlot int

const (
	anySlot      checkSlot = iota // one of the slots
	reservedSlot                  // the slot reserved for known-good logins
)

func newCheckGate(slots int) *checkGate {
	return &checkGate{free: slots, reserved: 1, queue: slots * checkQueuePerSlot, wait: checkWait}
}

// acquire takes a slot, waiting as described above, and returns it for
// release; known says whether the login presents known-good credentials.
// It returns an error wrapping ErrOverloaded when the login is shed or ctx
// ends first (then wrapping ctx's error too).
func (g *checkGate) acquire(ctx context.Context, known bool) (checkSlot, error) {
	if g == nil {
		return anySlot, nil
	}
	g.mu.Lock()
	switch {
	case g.free > 0:
		g.free--
		g.mu.Unlock()
		return anySlot, nil
	case known && g.reserved > 0:
		g.reserved--
		g.mu.Unlock()
		return reservedSlot, nil
	}
	if len(g.waiters[0])+len(g.waiters[1]) >= g.queue {
		g.mu.Unlock()
		return anySlot, fmt.Errorf("%w: too many logins waiting for a password check; retry later", ErrOverloaded)
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
		return w.slot, nil
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		if err != nil {
			g.releaseLocked(w.slot) // the caller went away: pass the slot on
			return anySlot, fmt.Errorf("%w: waiting for a password check: %w", ErrOverloaded, err)
		}
		return w.slot, nil
	}
	for i, x := range g.waiters[lane] {
		if x == w {
			g.waiters[lane] = append(g.waiters[lane][:i], g.waiters[lane][i+1:]...)
			break
		}
	}
	if err != nil {
		return anySlot, fmt.Errorf("%w: waiting for a password check: %w", ErrOverloaded, err)
	}
	return anySlot, fmt.Errorf("%w: too many password checks at once; retry later", ErrOverloaded)
}

// release returns a slot acquire gave, to the waiter next in line if any
// (the reserved slot only to a known-good login).
func (g *checkGate) release(slot checkSlot) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.releaseLocked(slot)
	g.mu.Unlock()
}

func (g *checkGate) releaseLocked(slot checkSlot) {
	lanes := []int{1, 0}
	if slot == reservedSlot {
		lanes = lanes[:1]
	}
	for _, lane := range lanes {
		if len(g.waiters[lane]) > 0 {
			w := g.waiters[lane][0]
			g.waiters[lane] = g.waiters[lane][1:]
			w.granted, w.slot = true, slot
			close(w.ready)
			return
		}
	}
	if slot == reservedSlot {
		g.reserved++
	} else {
		g.free++
	}
}
