package momentolocal_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/momentolocal"
)

// fanOut is one publisher and n subscribers spread over a number of gRPC
// connections, on one topic of an emulator.
type fanOut struct {
	srv      *momentolocal.Server
	pub      *rawClient
	received atomic.Int64 // items received by all subscribers
	gaps     atomic.Int64 // discontinuities received
	mu       sync.Mutex
	lat      []time.Duration // publish→receive, per delivery
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

func newFanOut(b *testing.B, subscribers, conns int) *fanOut {
	b.Helper()
	srv, err := momentolocal.Start(momentolocal.Config{SubscriberBuffer: 4096})
	require.NoError(b, err)
	f := &fanOut{srv: srv, pub: newRawClient(b, srv.Addr(), srv.RootAPIKey())}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	clients := make([]*rawClient, conns)
	for i := range clients {
		clients[i] = newRawClient(b, srv.Addr(), srv.RootAPIKey())
	}
	for i := range subscribers {
		s, err := clients[i%conns].subscribe(b, ctx, testCache, "bench", 0, 0)
		require.NoError(b, err)
		first, err := s.recv()
		require.NoError(b, err)
		require.Equal(b, "heartbeat", first.kind)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			var local []time.Duration
			defer func() {
				f.mu.Lock()
				f.lat = append(f.lat, local...)
				f.mu.Unlock()
			}()
			for {
				ev, err := s.recv()
				if err != nil {
					return
				}
				switch ev.kind {
				case "item":
					sent, _ := strconv.ParseInt(ev.text, 10, 64)
					local = append(local, time.Duration(time.Now().UnixNano()-sent))
					f.received.Add(1)
				case "discontinuity":
					f.gaps.Add(1)
				}
			}
		}()
	}
	return f
}

func (f *fanOut) publish(b *testing.B, ctx context.Context) {
	if err := f.pub.publish(b, ctx, testCache, "bench", strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
		b.Fatal(err)
	}
}

// waitFor waits until n items have been received in total.
func (f *fanOut) waitFor(b *testing.B, n int64) {
	deadline := time.Now().Add(time.Minute)
	for f.received.Load() < n && f.gaps.Load() == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d deliveries", f.received.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// stop ends the subscriptions, closes the emulator and reports latency
// percentiles of every delivery.
func (f *fanOut) stop(b *testing.B) {
	f.cancel()
	require.NoError(b, f.srv.Close())
	f.wg.Wait()
	if g := f.gaps.Load(); g > 0 {
		b.Fatalf("%d discontinuities: subscribers fell behind", g)
	}
	slices.Sort(f.lat)
	if len(f.lat) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(f.lat[int(p*float64(len(f.lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// fanOutConns are the connection counts the benchmarks use for 100
// subscribers: one connection each (100 separate clients, such as
// browsers) and 4 shared connections (one process, like an SDK client with
// its default 4 stream channels).
var fanOutConns = []int{100, 4}

// BenchmarkTopicFanOut100 publishes b.N messages back to back (each publish
// waits for its acknowledgement) from one publisher to 100 subscribers and
// reports publishes per second, deliveries per second and the
// publish→receive latency of every delivery.
func BenchmarkTopicFanOut100(b *testing.B) {
	for _, conns := range fanOutConns {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) { benchFanOut(b, conns) })
	}
}

func benchFanOut(b *testing.B, conns int) {
	const subscribers = 100
	f := newFanOut(b, subscribers, conns)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		f.publish(b, ctx)
	}
	f.waitFor(b, int64(b.N)*subscribers)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*subscribers)/elapsed.Seconds(), "deliveries/s")
	f.stop(b)
}

// BenchmarkTopicFanOut100OneInFlight publishes one message at a time to 100
// subscribers and waits until all of them have it, so the latency figures
// are those of an idle emulator.
func BenchmarkTopicFanOut100OneInFlight(b *testing.B) {
	for _, conns := range fanOutConns {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) { benchFanOutOneInFlight(b, conns) })
	}
}

func benchFanOutOneInFlight(b *testing.B, conns int) {
	const subscribers = 100
	f := newFanOut(b, subscribers, conns)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		f.publish(b, ctx)
		f.waitFor(b, int64(i+1)*subscribers)
	}
	b.StopTimer()
	f.stop(b)
}
