package momentolocal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Fault is a fault injection rule. It applies to the calls of Method and
// combines any of: a delay, an error status, and closing the caller's
// connection.
type Fault struct {
	// Method selects the calls: a full gRPC method name such as
	// "/cache_client.pubsub.Pubsub/Publish", its last element such as
	// "Publish", or "" / "*" for every method.
	Method string
	// Latency delays each affected call (before it runs) by this much. A
	// call whose context ends during the delay ends with it.
	Latency time.Duration
	// Code, when not codes.OK, fails each affected call with this status.
	Code codes.Code
	// Message is the status message of the failure. Default "injected fault".
	Message string
	// CloseConnection closes the caller's connection, failing every call on
	// it (the SDKs then reconnect).
	CloseConnection bool
	// Count limits the rule to the next Count affected calls; 0 means no
	// limit (until removed).
	Count int
	// Fraction, between 0 and 1, makes the rule affect each matching call
	// with this probability; 0 means every call.
	Fraction float64
}

// FaultStatus is a Fault rule as listed by Faults.List.
type FaultStatus struct {
	// ID identifies the rule for Faults.Remove.
	ID int
	Fault
	// Remaining is how many more calls the rule affects (Count rules), or
	// 0 for unlimited rules.
	Remaining int
	// Hits is how many calls the rule has affected.
	Hits int
}

// Faults injects faults into an emulator's calls, for reliability tests of
// clients. Rules apply to native gRPC and gRPC-Web calls alike, before the
// call is authenticated. A Subscribe call is affected when it starts.
// The zero rule set injects nothing. Safe for concurrent use.
type Faults struct {
	s      *Server
	mu     sync.Mutex
	nextID int
	rules  []*faultRule
}

type faultRule struct {
	id        int
	f         Fault
	remaining int
	hits      int
}

func newFaults(s *Server) *Faults { return &Faults{s: s} }

// Add validates and installs a rule and returns its id.
func (fs *Faults) Add(f Fault) (int, error) {
	if err := fs.validate(&f); err != nil {
		return 0, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	fs.rules = append(fs.rules, &faultRule{id: fs.nextID, f: f, remaining: f.Count})
	return fs.nextID, nil
}

// FailNext makes the next n calls of method fail with code.
func (fs *Faults) FailNext(method string, code codes.Code, n int) (int, error) {
	if n <= 0 {
		return 0, errors.New("momentolocal: FailNext needs n > 0")
	}
	return fs.Add(Fault{Method: method, Code: code, Count: n})
}

// FailFraction makes each call of method fail with code with probability
// fraction, until the rule is removed.
func (fs *Faults) FailFraction(method string, code codes.Code, fraction float64) (int, error) {
	if !(fraction > 0 && fraction <= 1) {
		return 0, errors.New("momentolocal: FailFraction needs 0 < fraction <= 1")
	}
	return fs.Add(Fault{Method: method, Code: code, Fraction: fraction})
}

// SetLatency delays every call of method by d, until the rule is removed.
func (fs *Faults) SetLatency(method string, d time.Duration) (int, error) {
	return fs.Add(Fault{Method: method, Latency: d})
}

// Remove removes the rule with the given id and reports whether it existed.
func (fs *Faults) Remove(id int) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, r := range fs.rules {
		if r.id == id {
			fs.rules = append(fs.rules[:i], fs.rules[i+1:]...)
			return true
		}
	}
	return false
}

// Reset removes every rule.
func (fs *Faults) Reset() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = nil
}

// List returns the installed rules in the order they were added. Count
// rules disappear once spent.
func (fs *Faults) List() []FaultStatus {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FaultStatus, len(fs.rules))
	for i, r := range fs.rules {
		out[i] = FaultStatus{ID: r.id, Fault: r.f, Remaining: r.remaining, Hits: r.hits}
	}
	return out
}

// CloseConnections closes every client connection now (native gRPC and
// gRPC-Web), ending their calls and subscriptions, and returns how many it
// closed. The emulator keeps accepting new connections.
func (fs *Faults) CloseConnections() int {
	return fs.s.closeConnections(nil)
}

func (fs *Faults) validate(f *Fault) error {
	switch {
	case f.Method == "" || f.Method == "*":
		f.Method = ""
	case strings.HasPrefix(f.Method, "/"):
		if _, ok := fs.s.methods[f.Method]; !ok {
			return fmt.Errorf("momentolocal: unknown method %q", f.Method)
		}
	default:
		found := false
		for full := range fs.s.methods {
			if _, name := splitMethod(full); name == f.Method {
				f.Method = full
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("momentolocal: unknown method %q", f.Method)
		}
	}
	if f.Latency < 0 {
		return errors.New("momentolocal: fault latency must not be negative")
	}
	if f.Code > codes.Unauthenticated {
		return fmt.Errorf("momentolocal: invalid status code %d", f.Code)
	}
	if f.Count < 0 {
		return errors.New("momentolocal: fault count must not be negative")
	}
	if !(f.Fraction >= 0 && f.Fraction <= 1) {
		return errors.New("momentolocal: fault fraction must be between 0 and 1")
	}
	if f.Latency == 0 && f.Code == codes.OK && !f.CloseConnection {
		return errors.New("momentolocal: a fault needs a latency, a status code or CloseConnection")
	}
	return nil
}

// before applies the matching rules to a call of method. A non-nil error is
// the call's result.
func (fs *Faults) before(ctx context.Context, method string) error {
	var (
		latency   time.Duration
		code      = codes.OK
		message   string
		closeConn bool
	)
	fs.mu.Lock()
	kept := fs.rules[:0]
	for _, r := range fs.rules {
		if (r.f.Method == "" || r.f.Method == method) && (r.f.Fraction == 0 || rand.Float64() < r.f.Fraction) {
			r.hits++
			latency += r.f.Latency
			if code == codes.OK && r.f.Code != codes.OK {
				code, message = r.f.Code, r.f.Message
			}
			closeConn = closeConn || r.f.CloseConnection
			if r.f.Count > 0 {
				r.remaining--
				if r.remaining == 0 {
					continue // spent
				}
			}
		}
		kept = append(kept, r)
	}
	clear(fs.rules[len(kept):])
	fs.rules = kept
	fs.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		case <-fs.s.done:
			t.Stop()
			return status.Error(codes.Unavailable, "momentolocal is shutting down")
		}
	}
	if closeConn {
		if addr := remoteAddrFrom(ctx); addr != "" {
			fs.s.closeConnections(func(c *trackedConn) bool { return c.RemoteAddr().String() == addr })
		}
		return status.Error(codes.Unavailable, "connection closed by fault injection")
	}
	if code != codes.OK {
		if message == "" {
			message = "injected fault"
		}
		return status.Error(code, message)
	}
	return nil
}

// remoteAddrKey carries the client address of a gRPC-Web call.
type remoteAddrKey struct{}

// remoteAddrFrom returns the caller's address ("ip:port") or "".
func remoteAddrFrom(ctx context.Context) string {
	if a, ok := ctx.Value(remoteAddrKey{}).(string); ok {
		return a
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// isLoopback reports whether hostport is a loopback address.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
