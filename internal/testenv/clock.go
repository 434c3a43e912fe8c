package testenv

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a test clock that moves only when told. It is safe for
// concurrent use; pass its Now method where a component takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// ShiftedClock is the real time plus an offset that tests move forward,
// for components that also wait in real time (network calls, SDK
// deadlines) while the test skips ahead. Safe for concurrent use; the zero
// value reads the real time.
type ShiftedClock struct{ offset atomic.Int64 }

// Now returns the real time plus the offset.
func (c *ShiftedClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance adds d to the offset.
func (c *ShiftedClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
