package momentolocal

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// http2Preface is what every HTTP/2 client (native gRPC) sends first.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// prefaceTimeout bounds how long a new connection may take to show whether
// it speaks HTTP/2 or HTTP/1.1.
const prefaceTimeout = 10 * time.Second

// acceptLoop accepts connections on the real listener and hands each to a
// router goroutine. Native gRPC (HTTP/2 with prior knowledge) goes to the
// grpc.Server, everything else (gRPC-Web and CORS preflights over
// HTTP/1.1) to the http.Server.
func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
				case <-s.done:
					return
				}
				continue
			}
			s.log.Debug("momentolocal accept failed", "err", err)
			return
		}
		delay = 0
		if s.tlsCfg != nil {
			// The handshake happens on the router's first read, under
			// its deadline.
			c = tls.Server(c, s.tlsCfg)
		}
		tc := s.track(c)
		if tc == nil {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.route(tc)
		}()
	}
}

// route reads as much of the connection's first bytes as needed to tell
// HTTP/2 from HTTP/1.1 (after the TLS handshake, with Config.TLS), then
// hands it over with those bytes replayed. Both servers see a connection
// that is already decrypted.
func (s *Server) route(c *trackedConn) {
	_ = c.SetReadDeadline(time.Now().Add(prefaceTimeout))
	buf := make([]byte, 0, len(http2Preface))
	h2 := true
	for len(buf) < len(http2Preface) {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if !bytes.HasPrefix([]byte(http2Preface), buf) {
			h2 = false
			break
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	c.replay = buf
	target := s.httpLn
	if h2 {
		target = s.grpcLn
	}
	if !target.deliver(c) {
		_ = c.Close()
	}
}

// track registers c so that Close and fault injection can close it. It
// returns nil when the server is closing.
func (s *Server) track(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, s: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	default:
	}
	s.conns[tc] = struct{}{}
	return tc
}

// closeConnections closes the tracked connections for which match returns
// true (all when match is nil) and returns how many it closed.
func (s *Server) closeConnections(match func(*trackedConn) bool) int {
	s.mu.Lock()
	var victims []*trackedConn
	for c := range s.conns {
		if match == nil || match(c) {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
	return len(victims)
}

// trackedConn is an accepted connection. It replays the bytes the router
// read and unregisters itself when closed.
type trackedConn struct {
	net.Conn
	s      *Server
	replay []byte
	once   sync.Once
}

// Read returns the replayed bytes first, then reads the connection.
func (c *trackedConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the connection once and forgets it.
func (c *trackedConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		err = c.Conn.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return err
}

// chanListener is a net.Listener fed by the router.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept; it returns false when the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept implements net.Listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *chanListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *chanListener) Addr() net.Addr { return l.addr }
