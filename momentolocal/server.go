package momentolocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// DefaultCache is the cache an emulator has when Config.Caches is empty.
const DefaultCache = "default-cache"

// Defaults of the optional Config fields.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultSubscriberBuffer  = 256
	DefaultTopicHistory      = 256
	DefaultMaxTokenRequests  = 10000
)

// maxMessageSize is the largest request the emulator accepts, like
// Momento's 5 MiB limit.
const maxMessageSize = 5 << 20

// ErrInvalidConfig is wrapped by the errors Start returns for an invalid
// Config.
var ErrInvalidConfig = errors.New("momentolocal: invalid config")

// Config configures an emulator. The zero value is a working emulator on a
// free loopback port with the cache "default-cache".
type Config struct {
	// Addr is the TCP address to listen on. Default "127.0.0.1:0" (a free
	// port). To restart an emulator on the same port, pass the Addr() of
	// the closed one.
	Addr string
	// Caches are the caches that exist. Default ["default-cache"]. Calls on
	// any other cache answer NOT_FOUND, as Momento does.
	Caches []string
	// RequireAPIKey makes GenerateDisposableToken require the root api key
	// (RootAPIKey) and answer UNAUTHENTICATED without it. When false, the
	// token service accepts any caller, like a local development endpoint.
	// Data-plane calls always require a key issued by this emulator.
	RequireAPIKey bool
	// AllowedOrigins are the browser origins allowed to call the gRPC-Web
	// endpoint (CORS). An entry may end in ":*" to allow any port, e.g.
	// "http://localhost:*". Default: the loopback origins
	// "http://127.0.0.1:*", "http://localhost:*" and "http://[::1]:*".
	// An empty non-nil slice allows no browser origin. Requests without an
	// Origin header (non-browser clients) are not subject to CORS.
	AllowedOrigins []string
	// Logger receives one debug line per call (method, status, latency)
	// and never a key. Default: discard.
	Logger *slog.Logger

	// SigningKey is the HMAC secret the emulator signs api keys with, at
	// least 32 bytes. Default: 32 random bytes. Set it (with Addr) to
	// restart an emulator whose root key and issued tokens stay valid.
	SigningKey []byte
	// HeartbeatInterval is how often a subscription receives a heartbeat
	// (the first message is always one). Default 5s.
	HeartbeatInterval time.Duration
	// SubscriberBuffer is how many messages may wait for one slow
	// subscriber; past it messages are dropped for that subscriber, which
	// then receives a discontinuity. Default 256.
	SubscriberBuffer int
	// TopicHistory is how many recent messages per topic are kept for
	// subscriptions that resume from a sequence number. Default 256.
	TopicHistory int
	// MaxTokenRequests is how many GenerateDisposableToken requests
	// TokenRequests keeps: the newest ones, older ones are dropped, so a
	// long-running emulator does not grow without bound. Zero or negative
	// means the default, 10000 (DefaultMaxTokenRequests).
	MaxTokenRequests int
	// Now is the emulator's clock, for token expiry and cache TTLs.
	// Default time.Now. Tests can move it forward to expire tokens.
	Now func() time.Time
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	desc    *descriptors
	methods map[string]*method
	secret  []byte
	addr    string
	rootKey string

	ln      net.Listener
	grpcLn  *chanListener
	httpLn  *chanListener
	grpcSrv *grpc.Server
	httpSrv *http.Server
	faults  *Faults
	origins []originPattern

	mu sync.Mutex
	// tokenRequests is a ring of at most cfg.MaxTokenRequests records;
	// once full, tokenHead is the index of the oldest.
	tokenRequests []TokenRequest
	tokenHead     int
	conns         map[*trackedConn]struct{}

	caches       map[string]*cacheStore
	topics       *topicHub
	heartbeatMsg *encodedMessage

	done      chan struct{}
	wg        sync.WaitGroup // accept loop, connection routers, servers, gRPC-Web calls
	closeOnce sync.Once
	closeErr  error
}

// Start starts an emulator listening on cfg.Addr and returns once it
// accepts connections. Close it when done.
func Start(cfg Config) (*Server, error) {
	desc, err := loadDescriptors()
	if err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if len(cfg.Caches) == 0 {
		cfg.Caches = []string{DefaultCache}
	}
	for _, c := range cfg.Caches {
		if c == "" || c == All {
			return nil, fmt.Errorf("%w: invalid cache name %q", ErrInvalidConfig, c)
		}
	}
	if cfg.AllowedOrigins == nil {
		cfg.AllowedOrigins = []string{"http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"}
	}
	origins, err := parseOrigins(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.SubscriberBuffer <= 0 {
		cfg.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if cfg.TopicHistory <= 0 {
		cfg.TopicHistory = DefaultTopicHistory
	}
	if cfg.MaxTokenRequests <= 0 {
		cfg.MaxTokenRequests = DefaultMaxTokenRequests
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	secret := slices.Clone(cfg.SigningKey)
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("momentolocal: generating signing key: %w", err)
		}
	} else if len(secret) < 32 {
		return nil, fmt.Errorf("%w: SigningKey must be at least 32 bytes", ErrInvalidConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("momentolocal: listen: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		now:     cfg.Now,
		desc:    desc,
		secret:  secret,
		addr:    ln.Addr().String(),
		ln:      ln,
		origins: origins,
		conns:   map[*trackedConn]struct{}{},
		caches:  map[string]*cacheStore{},
		done:    make(chan struct{}),
	}
	s.grpcLn = newChanListener(ln.Addr())
	s.httpLn = newChanListener(ln.Addr())
	s.faults = newFaults(s)
	s.topics = newTopicHub(s)
	for _, c := range cfg.Caches {
		s.caches[c] = newCacheStore()
	}
	if s.heartbeatMsg, err = encodeMessage(s.newHeartbeat()); err != nil {
		_ = ln.Close()
		return nil, err
	}
	if s.rootKey, err = s.makeRootKey(); err != nil {
		_ = ln.Close()
		return nil, err
	}

	methods := []*method{
		{fullName: methodGenerateDisposableToken, in: desc.genTokenReq, out: desc.genTokenResp, unary: s.generateDisposableToken},
		{fullName: methodPublish, in: desc.publishReq, out: desc.empty, unary: s.publish},
		{fullName: methodSubscribe, in: desc.subscribeReq, out: desc.subscriptionItem, stream: s.subscribe},
		{fullName: methodGet, in: desc.getReq, out: desc.getResp, unary: s.cacheGet},
		{fullName: methodSet, in: desc.setReq, out: desc.setResp, unary: s.cacheSet},
		{fullName: methodDelete, in: desc.deleteReq, out: desc.deleteResp, unary: s.cacheDelete},
		{fullName: methodIncrement, in: desc.incrReq, out: desc.incrResp, unary: s.cacheIncrement},
	}
	s.methods = make(map[string]*method, len(methods))
	for _, m := range methods {
		s.methods[m.fullName] = m
	}

	s.grpcSrv = grpc.NewServer(
		// The SDKs ping every 5 s even without active streams; a default
		// server would answer GOAWAY too_many_pings after ~30 s.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.WaitForHandlers(true),
		grpc.ForceServerCodecV2(newServerCodec()),
	)
	for _, sd := range serviceDescs(methods, s.call, s.callStream) {
		s.grpcSrv.RegisterService(sd, s)
	}
	s.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		_ = s.grpcSrv.Serve(s.grpcLn)
	}()
	go func() {
		defer s.wg.Done()
		_ = s.httpSrv.Serve(s.httpLn)
	}()
	go func() {
		defer s.wg.Done()
		s.acceptLoop()
	}()
	log.Debug("momentolocal started", "addr", s.addr, "caches", cfg.Caches)
	return s, nil
}

// Addr returns the address the emulator listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// URL returns the base URL of the gRPC-Web endpoint, "http://127.0.0.1:port",
// the value the web SDK's endpoint overrides need.
func (s *Server) URL() string { return "http://" + s.addr }

// Config returns the effective configuration, with defaults filled in, the
// resolved Addr and the signing key. Start(srv.Config()) after Close
// restarts an emulator on the same port whose keys stay valid.
func (s *Server) Config() Config {
	c := s.cfg
	c.Addr = s.addr
	c.SigningKey = slices.Clone(s.secret)
	c.Caches = slices.Clone(s.cfg.Caches)
	c.AllowedOrigins = slices.Clone(s.cfg.AllowedOrigins)
	return c
}

// RootAPIKey returns the emulator's root api key: a key with every
// data-plane permission that GenerateDisposableToken accepts when
// Config.RequireAPIKey is set. It is a JWT whose "c" and "cp" claims name
// the emulator's host, a shape auth.NewStringMomentoTokenProvider parses;
// since that provider assumes TLS on port 443, override its endpoints with
// Endpoints (or use CredentialProvider) to reach the emulator.
func (s *Server) RootAPIKey() string { return s.rootKey }

// Endpoints returns SDK endpoints that reach this emulator in plaintext, for
// auth.CredentialProvider.WithEndpoints (for example with a disposable token
// the emulator issued).
func (s *Server) Endpoints() auth.AllEndpoints {
	ep := auth.Endpoint{Endpoint: s.addr, InsecureConnection: true}
	return auth.AllEndpoints{ControlEndpoint: ep, CacheEndpoint: ep, TokenEndpoint: ep, StorageEndpoint: ep}
}

// CredentialProvider returns root credentials for the official Go SDK that
// point at this emulator in plaintext.
func (s *Server) CredentialProvider() (auth.CredentialProvider, error) {
	return s.CredentialProviderFor(s.rootKey)
}

// CredentialProviderFor returns Go SDK credentials for apiKey (the root key,
// or the ApiKey string a GenerateDisposableToken success returned) that
// point at this emulator in plaintext.
func (s *Server) CredentialProviderFor(apiKey string) (auth.CredentialProvider, error) {
	p, err := auth.NewStringMomentoTokenProvider(apiKey)
	if err != nil {
		return nil, fmt.Errorf("momentolocal: parsing api key: %w", err)
	}
	return p.WithEndpoints(s.Endpoints())
}

// TokenRequests returns the GenerateDisposableToken requests the emulator
// received and answered with a token, oldest first. Requests it refused
// (invalid, unauthenticated, or failed by an injected fault) issued nothing
// and are not listed, so an empty list means nothing was vended. Only the
// newest Config.MaxTokenRequests requests are kept; older ones are dropped.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TokenRequest, 0, len(s.tokenRequests))
	out = append(out, s.tokenRequests[s.tokenHead:]...)
	out = append(out, s.tokenRequests[:s.tokenHead]...)
	for i := range out {
		out[i].Permissions = slices.Clone(out[i].Permissions)
	}
	return out
}

// recordTokenRequest records r for TokenRequests, overwriting the oldest
// record once Config.MaxTokenRequests are kept. The caller holds s.mu.
func (s *Server) recordTokenRequest(r TokenRequest) {
	if len(s.tokenRequests) < s.cfg.MaxTokenRequests {
		s.tokenRequests = append(s.tokenRequests, r)
		return
	}
	s.tokenRequests[s.tokenHead] = r
	s.tokenHead = (s.tokenHead + 1) % len(s.tokenRequests)
}

// Faults returns the emulator's fault injector.
func (s *Server) Faults() *Faults { return s.faults }

// Close stops the emulator: it stops accepting connections, ends every call
// and subscription, closes every connection and waits until all of its
// goroutines have returned. The port is free again when Close returns.
// Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Under s.mu, so that track and enter either see the server closing
		// or finish registering before Close waits.
		s.mu.Lock()
		close(s.done)
		s.mu.Unlock()
		err := s.ln.Close()
		s.grpcSrv.Stop() // cancels calls, closes gRPC connections, waits for handlers
		if herr := s.httpSrv.Close(); herr != nil && err == nil {
			err = herr
		}
		s.closeConnections(nil)
		s.wg.Wait()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("momentolocal: close: %w", err)
		}
		s.log.Debug("momentolocal closed", "addr", s.addr)
	})
	return s.closeErr
}

// call runs one unary call with faults and logging.
func (s *Server) call(ctx context.Context, m *method, req *dynamicpb.Message) (proto.Message, error) {
	start := time.Now()
	var resp proto.Message
	err := s.faults.before(ctx, m.fullName)
	if err == nil {
		resp, err = m.unary(ctx, req)
	}
	s.log.Debug("momentolocal call", "method", m.fullName, "code", status.Code(err).String(), "latency", time.Since(start))
	return resp, err
}

// callStream runs one server-streaming call with faults and logging.
func (s *Server) callStream(ctx context.Context, m *method, req *dynamicpb.Message, send func(any) error) error {
	start := time.Now()
	err := s.faults.before(ctx, m.fullName)
	if err == nil {
		err = m.stream(ctx, req, send)
	}
	s.log.Debug("momentolocal stream", "method", m.fullName, "code", status.Code(err).String(), "duration", time.Since(start))
	return err
}

// randomID returns 16 random bytes in hex.
func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
