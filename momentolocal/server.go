package momentolocal

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg         Config
	log         *slog.Logger
	now         func() time.Time
	desc        *descriptors
	methods     map[string]*method
	secret      []byte
	adminSecret string
	addr        string
	endpoint    string
	rootKey     string
	rootKeyV2   string
	quota       *quota
	tlsCfg      *tls.Config // nil: plaintext

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

	cachesMu     sync.RWMutex
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
	cfg, secret, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	origins, err := parseOrigins(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
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
		cfg:         cfg,
		log:         log,
		now:         cfg.Now,
		desc:        desc,
		secret:      secret,
		adminSecret: cfg.AdminSecret,
		addr:        ln.Addr().String(),
		quota:       newQuota(cfg.TokenQuota),
		ln:          ln,
		origins:     origins,
		conns:       map[*trackedConn]struct{}{},
		caches:      map[string]*cacheStore{},
		done:        make(chan struct{}),
	}
	s.endpoint = cfg.Endpoint
	if s.endpoint == "" {
		s.endpoint = s.addr
	}
	if cfg.TLS != nil {
		s.tlsCfg = serverTLSConfig(cfg.TLS)
	}
	s.grpcLn = newChanListener(ln.Addr())
	s.httpLn = newChanListener(ln.Addr())
	s.faults = newFaults(s)
	s.topics = newTopicHub(s)
	for _, c := range cfg.Caches {
		s.caches[c] = newCacheStore()
	}
	fail := func(err error) (*Server, error) {
		_ = ln.Close()
		return nil, err
	}
	if s.heartbeatMsg, err = encodeMessage(s.newHeartbeat()); err != nil {
		return fail(err)
	}
	if s.rootKey, err = s.makeRootKey(); err != nil {
		return fail(err)
	}
	if s.rootKeyV2, err = s.makeRootKeyV2(); err != nil {
		return fail(err)
	}
	methods, err := s.methodTable(desc)
	if err != nil {
		return fail(err)
	}
	s.methods = make(map[string]*method, len(methods))
	for _, m := range methods {
		s.methods[m.fullName] = m
	}

	s.grpcSrv = grpc.NewServer(
		// The SDKs ping every 5 s even without active streams; a default
		// server would answer GOAWAY too_many_pings after ~30 s.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxWireMessage),
		grpc.WaitForHandlers(true),
		grpc.ForceServerCodecV2(newServerCodec()),
		grpc.UnknownServiceHandler(unimplemented),
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
	log.Debug("momentolocal started", "addr", s.addr, "caches", cfg.Caches, "tls", s.tlsCfg != nil)
	return s, nil
}

// unimplemented answers every method the emulator does not serve with
// UNIMPLEMENTED and a message naming the method, as Momento answers an
// unknown method.
func unimplemented(_ any, stream grpc.ServerStream) error {
	name, _ := grpc.MethodFromServerStream(stream)
	return status.Error(codes.Unimplemented, unimplementedMessage(name))
}

// Addr returns the address the emulator listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// URL returns the base URL of the gRPC-Web endpoint, "http://127.0.0.1:port"
// ("https://..." with Config.TLS), the value the web SDK's endpoint
// overrides need.
func (s *Server) URL() string {
	if s.tlsCfg != nil {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// Endpoint returns the base endpoint the emulator announces
// (Config.Endpoint, default Addr()): the endpoint to pair with
// RootAPIKeyV2, as with a Momento region's endpoint.
func (s *Server) Endpoint() string { return s.endpoint }

// Config returns the effective configuration, with defaults filled in, the
// resolved Addr, the signing key, the admin secret and the caches that
// exist now. Start(srv.Config()) after Close restarts an emulator on the
// same port whose keys stay valid (cache contents and topics start empty).
func (s *Server) Config() Config {
	c := s.cfg
	c.Addr = s.addr
	c.SigningKey = slices.Clone(s.secret)
	c.Caches = s.cacheNames()
	c.AllowedOrigins = slices.Clone(s.cfg.AllowedOrigins)
	if s.cfg.TLS != nil {
		c.TLS = s.cfg.TLS.Clone()
	}
	return c
}

// RootAPIKey returns the emulator's root api key in v1 shape: a key with
// every data-plane and control-plane permission that
// GenerateDisposableToken accepts when Config.RequireAPIKey is set. It is
// a JWT whose "c" and "cp" claims name the emulator's host, a shape
// auth.NewStringMomentoTokenProvider parses; since that provider assumes
// TLS on port 443, override its endpoints with Endpoints (or use
// CredentialProvider) to reach the emulator.
func (s *Server) RootAPIKey() string { return s.rootKey }

// RootAPIKeyV2 returns the same root key in the shape of Momento's v2 api
// keys: a JWT with the claim "t": "g" and no endpoint, to be paired with
// an endpoint (Endpoint()), e.g. in the JS SDKs'
// CredentialProvider.fromApiKeyV2({apiKey, endpoint}). client-sdk-go
// v1.38.0 has no v2 constructor: use CredentialProviderFor, or
// auth.NewStringMomentoTokenProvider followed by WithEndpoints.
func (s *Server) RootAPIKeyV2() string { return s.rootKeyV2 }

// Endpoints returns SDK endpoints that reach this emulator at Addr(), in
// plaintext or, with Config.TLS, over TLS, for
// auth.CredentialProvider.WithEndpoints (for example with a disposable
// token the emulator issued).
func (s *Server) Endpoints() auth.AllEndpoints {
	ep := auth.Endpoint{Endpoint: s.addr, InsecureConnection: s.tlsCfg == nil}
	return auth.AllEndpoints{ControlEndpoint: ep, CacheEndpoint: ep, TokenEndpoint: ep, StorageEndpoint: ep}
}

// CredentialProvider returns root credentials for the official Go SDK that
// point at this emulator (see Endpoints). With Config.TLS the SDK verifies
// the certificate against the system roots (SSL_CERT_FILE).
func (s *Server) CredentialProvider() (auth.CredentialProvider, error) {
	return s.CredentialProviderFor(s.rootKey)
}

// CredentialProviderFor returns Go SDK credentials for apiKey (a root key,
// v1 or v2, or the ApiKey string a GenerateDisposableToken success
// returned) that point at this emulator (see Endpoints).
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

// call runs one unary call with faults, Momento's request size limit and
// logging.
func (s *Server) call(ctx context.Context, m *method, req *dynamicpb.Message) (proto.Message, error) {
	start := time.Now()
	var resp proto.Message
	err := s.faults.before(ctx, m.fullName)
	if err == nil {
		err = checkRequestSize(proto.Size(req))
	}
	if err == nil {
		resp, err = m.unary(ctx, req)
	}
	setErrTrailer(ctx, err)
	s.log.Debug("momentolocal call", "method", m.fullName, "code", status.Code(err).String(), "latency", time.Since(start))
	return resp, err
}

// callStream runs one server-streaming call with faults, Momento's
// request size limit and logging.
func (s *Server) callStream(ctx context.Context, m *method, req *dynamicpb.Message, send func(any) error) error {
	start := time.Now()
	err := s.faults.before(ctx, m.fullName)
	if err == nil {
		err = checkRequestSize(proto.Size(req))
	}
	if err == nil {
		err = m.stream(ctx, req, send)
	}
	setErrTrailer(ctx, err)
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
