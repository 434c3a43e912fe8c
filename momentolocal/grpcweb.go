package momentolocal

// gRPC-Web for the browser SDK (@gomomento/sdk-web), served on the same port
// as native gRPC. The framing is small enough to implement here on top of
// the same method table as native gRPC, instead of depending on an archived
// wrapper: a request body is one length-prefixed message (flag byte 0, 4-byte
// big-endian length, bytes); a response is zero or more such messages
// followed by one trailer frame (flag 0x80) holding "grpc-status" and
// "grpc-message" lines. In the text format (application/grpc-web-text) the
// body is base64; each response frame is encoded on its own, with padding,
// which the grpc-web client decodes four characters at a time.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	frameData    = 0x00
	frameTrailer = 0x80
	frameHeader  = 5
)

// corsAllowedHeaders are the request headers the web SDK sends
// (read-concern only with a non-default read concern).
var corsAllowedHeaders = []string{
	"agent", "authorization", "cache", "content-type", "grpc-timeout",
	"read-concern", "runtime-version", "x-grpc-web", "x-user-agent",
}

// corsExposedHeaders are the response headers the web SDK reads ("err"
// names the limit of a RESOURCE_EXHAUSTED answer).
const corsExposedHeaders = "grpc-status, grpc-message, err"

// serveHTTP serves gRPC-Web calls and their CORS preflights.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "momentolocal is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()

	origin := r.Header.Get("Origin")
	if origin != "" {
		if !s.originAllowed(origin) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
	}
	if r.Method == http.MethodOptions {
		s.preflight(w, r, origin)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	m, ok := s.methods[r.URL.Path]
	if !ok {
		writeWebStatus(w, false, status.New(codes.Unimplemented, unimplementedMessage(r.URL.Path)))
		return
	}
	text, ok := webContentType(r.Header.Get("Content-Type"))
	if !ok {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	req, st := s.readWebRequest(r, m, text)
	if st != nil {
		writeWebStatus(w, text, st)
		return
	}

	ctx := metadata.NewIncomingContext(r.Context(), webMetadata(r.Header))
	ctx = context.WithValue(ctx, remoteAddrKey{}, r.RemoteAddr)
	if d, ok := parseGrpcTimeout(r.Header.Get("grpc-timeout")); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	setWebHeaders(w, text)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(msg any) error {
		b, err := marshalOut(msg)
		if err != nil {
			return status.Errorf(codes.Internal, "encoding response: %v", err)
		}
		if err := writeFrame(w, text, frameData, b); err != nil {
			return status.FromContextError(err).Err()
		}
		if err := rc.Flush(); err != nil {
			return status.FromContextError(err).Err()
		}
		return nil
	}
	var err error
	if m.unary != nil {
		var resp proto.Message
		resp, err = s.call(ctx, m, req)
		if err == nil && resp == nil {
			err = status.Error(codes.Internal, "no response")
		}
		if err == nil {
			err = send(resp)
		}
	} else {
		err = s.callStream(ctx, m, req, send)
	}
	st = status.Convert(err)
	_ = writeFrame(w, text, frameTrailer, trailerBlock(st, errCause(err)))
	_ = rc.Flush()
}

// enter registers a gRPC-Web call with the server's wait group unless the
// server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
		s.wg.Add(1)
		return true
	}
}

// preflight answers a CORS preflight request.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	if origin == "" || r.Header.Get("Access-Control-Request-Method") != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !contains(corsAllowedHeaders, h) {
			http.Error(w, "request header not allowed: "+h, http.StatusForbidden)
			return
		}
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "POST")
	hd.Set("Access-Control-Allow-Headers", strings.Join(corsAllowedHeaders, ", "))
	hd.Set("Access-Control-Max-Age", "600")
	hd.Add("Vary", "Access-Control-Request-Method")
	hd.Add("Vary", "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// webContentType reports whether ct is a gRPC-Web content type and whether
// it is the base64 text format.
func webContentType(ct string) (text, ok bool) {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	switch ct {
	case "application/grpc-web-text", "application/grpc-web-text+proto":
		return true, true
	case "application/grpc-web", "application/grpc-web+proto":
		return false, true
	}
	return false, false
}

func setWebHeaders(w http.ResponseWriter, text bool) {
	if text {
		w.Header().Set("Content-Type", "application/grpc-web-text+proto")
	} else {
		w.Header().Set("Content-Type", "application/grpc-web+proto")
	}
	w.Header().Set("Cache-Control", "no-store")
}

// readWebRequest reads and decodes the single request message.
func (s *Server) readWebRequest(r *http.Request, m *method, text bool) (*dynamicpb.Message, *status.Status) {
	limit := int64(maxWireMessage + frameHeader)
	if text {
		limit = limit*4/3 + 8
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, status.New(codes.Unavailable, "reading request body")
	}
	if int64(len(body)) > limit {
		return nil, status.New(codes.ResourceExhausted, "request too large")
	}
	if text {
		if body, err = decodeWebText(body); err != nil {
			return nil, status.New(codes.InvalidArgument, "malformed base64 request body")
		}
	}
	if len(body) < frameHeader {
		return nil, status.New(codes.InvalidArgument, "missing request message")
	}
	flag, n := body[0], binary.BigEndian.Uint32(body[1:frameHeader])
	if flag&1 != 0 {
		return nil, status.New(codes.Unimplemented, "compressed messages are not supported")
	}
	if flag != frameData || uint64(n) != uint64(len(body)-frameHeader) {
		return nil, status.New(codes.InvalidArgument, "malformed request frame: expected exactly one message")
	}
	req := dynamicpb.NewMessage(m.in)
	if err := proto.Unmarshal(body[frameHeader:], req); err != nil {
		return nil, status.New(codes.InvalidArgument, "malformed request message")
	}
	return req, nil
}

// decodeWebText decodes a text-format body: base64, possibly several padded
// chunks concatenated, possibly with whitespace.
func decodeWebText(b []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, b)
	if len(clean)%4 != 0 {
		return nil, errors.New("base64 length is not a multiple of 4")
	}
	out := make([]byte, 0, len(clean)/4*3)
	var quad [3]byte
	for i := 0; i < len(clean); i += 4 {
		n, err := base64.StdEncoding.Decode(quad[:], clean[i:i+4])
		if err != nil {
			return nil, err
		}
		out = append(out, quad[:n]...)
	}
	return out, nil
}

// webMetadata turns request headers into incoming gRPC metadata.
func webMetadata(h http.Header) metadata.MD {
	md := metadata.MD{}
	for k, vs := range h {
		k = strings.ToLower(k)
		switch k {
		case "content-type", "content-length", "connection", "host", "origin", "referer",
			"accept", "accept-encoding", "accept-language", "user-agent", "te", "grpc-timeout":
			continue
		}
		md[k] = append(md[k], vs...)
	}
	return md
}

// parseGrpcTimeout parses a grpc-timeout header such as "1500m".
func parseGrpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second,
		'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 || n > int64(math.MaxInt64/unit) { // unknown unit, or more than a Duration holds
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// writeFrame writes one frame, base64-encoded in the text format.
func writeFrame(w io.Writer, text bool, flag byte, payload []byte) error {
	frame := make([]byte, frameHeader+len(payload))
	frame[0] = flag
	binary.BigEndian.PutUint32(frame[1:frameHeader], uint32(len(payload)))
	copy(frame[frameHeader:], payload)
	if text {
		enc := make([]byte, base64.StdEncoding.EncodedLen(len(frame)))
		base64.StdEncoding.Encode(enc, frame)
		frame = enc
	}
	_, err := w.Write(frame)
	return err
}

// trailerBlock is the payload of a trailer frame, with the "err" metadata
// when cause is set.
func trailerBlock(st *status.Status, cause string) []byte {
	b := fmt.Appendf(nil, "grpc-status: %d\r\ngrpc-message: %s\r\n", st.Code(), encodeGrpcMessage(st.Message()))
	if cause != "" {
		b = fmt.Appendf(b, "err: %s\r\n", cause)
	}
	return b
}

// writeWebStatus answers a call that failed before it started with a
// "trailers-only" response: the status in the headers and an empty body.
func writeWebStatus(w http.ResponseWriter, text bool, st *status.Status) {
	setWebHeaders(w, text)
	w.Header().Set("grpc-status", strconv.Itoa(int(st.Code())))
	w.Header().Set("grpc-message", encodeGrpcMessage(st.Message()))
	w.WriteHeader(http.StatusOK)
}

// encodeGrpcMessage percent-encodes a status message as gRPC requires.
func encodeGrpcMessage(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// originPattern is one allowed origin: scheme://host with an exact port or
// any port.
type originPattern struct {
	scheme, host, port string // port "*" matches any port (and none)
}

// parseOrigins parses Config.AllowedOrigins.
func parseOrigins(list []string) ([]originPattern, error) {
	out := make([]originPattern, 0, len(list))
	for _, o := range list {
		anyPort := strings.HasSuffix(o, ":*")
		raw := strings.TrimSuffix(o, ":*")
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%w: invalid allowed origin %q (want scheme://host[:port|:*])", ErrInvalidConfig, o)
		}
		p := originPattern{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: u.Port()}
		if anyPort {
			if p.port != "" {
				return nil, fmt.Errorf("%w: invalid allowed origin %q", ErrInvalidConfig, o)
			}
			p.port = "*"
		}
		out = append(out, p)
	}
	return out, nil
}

// originAllowed reports whether a browser Origin header value is allowed.
func (s *Server) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, p := range s.origins {
		if p.scheme == u.Scheme && p.host == host && (p.port == "*" || p.port == port) {
			return true
		}
	}
	return false
}
