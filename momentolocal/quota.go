package momentolocal

import (
	"sync"
	"time"
)

// quota is a token bucket of n operations per second with a burst of n,
// full at start: at most n operations in any one-second span, refilled
// continuously. It uses the emulator's clock so tests can move time.
type quota struct {
	mu     sync.Mutex
	n      float64
	tokens float64
	last   time.Time
}

func newQuota(n int) *quota {
	if n <= 0 {
		return nil
	}
	return &quota{n: float64(n), tokens: float64(n)}
}

// allow takes one operation from the bucket and reports whether there was
// one. A nil quota allows everything.
func (q *quota) allow(now time.Time) bool {
	if q == nil {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.last.IsZero():
		q.last = now
	case now.After(q.last): // a clock moving backwards refills nothing
		q.tokens = min(q.n, q.tokens+now.Sub(q.last).Seconds()*q.n)
		q.last = now
	}
	if q.tokens < 1 {
		return false
	}
	q.tokens--
	return true
}
