package tvm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/momentohq/client-sdk-go/momento"
	auth_responses "github.com/momentohq/client-sdk-go/responses/auth"
	"github.com/momentohq/client-sdk-go/utils"
	"go.uber.org/goleak"
)

// mtKey is a syntactically valid (v1, base64 JSON) Momento API key for a
// host that is never contacted.
var mtKey = base64.StdEncoding.EncodeToString([]byte(`{"api_key":"mt-inner-api-key-secret-value","endpoint":"cell-test.example.invalid"}`))

// mtIgnoreSDKLeak ignores the idle gRPC connection the SDK's AuthClient
// leaks on Close (client-sdk-go v1.38.0 closes only its token client, not
// its auth client; see momento/auth_client.go).
var mtIgnoreSDKLeak = goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run")

// mtFakeClient is a fake momento.AuthClient.
type mtFakeClient struct {
	mu     sync.Mutex
	reqs   []*momento.GenerateDisposableTokenRequest
	resp   auth_responses.GenerateDisposableTokenResponse
	err    error
	closed int
}

func (f *mtFakeClient) GenerateDisposableToken(_ context.Context, r *momento.GenerateDisposableTokenRequest) (auth_responses.GenerateDisposableTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	return f.resp, f.err
}

func (f *mtFakeClient) GenerateApiKey(context.Context, *momento.GenerateApiKeyRequest) (auth_responses.GenerateApiKeyResponse, error) {
	return nil, errors.New("unused")
}

func (f *mtFakeClient) RefreshApiKey(context.Context, *momento.RefreshApiKeyRequest) (auth_responses.RefreshApiKeyResponse, error) {
	return nil, errors.New("unused")
}

func (f *mtFakeClient) Close() { f.mu.Lock(); f.closed++; f.mu.Unlock() }

func TestNewMomentoVendorRejectsBadKeys(t *testing.T) {
	tests := []struct{ name, key string }{
		{"empty", ""},
		{"blank", "   "},
		{"garbage", "not-a-momento-key-SECRETISH-123"},
		{"malformed JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJTRUNSRVRJU0gifQ"},
		{"v1 without endpoint", base64.StdEncoding.EncodeToString([]byte(`{"api_key":"SECRETISH-inner"}`))},
		{"v1 not JSON", base64.StdEncoding.EncodeToString([]byte(`SECRETISH`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewMomentoVendor(tt.key)
			if err == nil || v != nil {
				t.Fatalf("NewMomentoVendor = %v, %v; want an error", v, err)
			}
			var ce *ConfigError
			if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
			if strings.TrimSpace(tt.key) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.key)) || strings.Contains(err.Error(), "SECRETISH") {
				t.Errorf("error %q echoes the key", err)
			}
			mv := MomentoVendor(tt.key)
			if mv == nil {
				t.Fatal("MomentoVendor returned nil")
			}
			if err := mv.(interface{ Validate() error }).Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v", err)
			}
			if _, err := mv.Vend(context.Background(), Grant{Scope: htScope, TTL: time.Minute}); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Vend() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewMomentoVendorConstructors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), mtIgnoreSDKLeak)

	v, err := NewMomentoVendor(mtKey, WithAuthConfiguration(config.AuthDefaultWithLogger(logger.NewNoopMomentoLoggerFactory())))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := v.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate() after Close = %v", err)
	}
	_, err = v.Vend(context.Background(), Grant{Scope: htScope, TTL: time.Minute})
	var ve *VendError
	if !errors.As(err, &ve) || !errors.Is(err, ErrUpstreamUnavailable) {
		t.Errorf("Vend after Close = %v, want a VendError wrapping ErrUpstreamUnavailable", err)
	}
	if _, ok := MomentoVendor(mtKey).(*MomentoSDKVendor); !ok {
		t.Error("MomentoVendor with a valid key is not a *MomentoSDKVendor")
	} else {
		_ = MomentoVendor(mtKey).(*MomentoSDKVendor).Close()
	}

	t.Run("options", func(t *testing.T) {
		if _, err := NewMomentoVendor(mtKey, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("nil option: %v", err)
		}
		if _, err := NewMomentoVendor(mtKey, WithAuthConfiguration(nil)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("nil configuration: %v", err)
		}
	})

	t.Run("provider", func(t *testing.T) {
		if _, err := NewMomentoVendorFromProvider(nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("nil provider: %v", err)
		}
		if err := MomentoVendorFromProvider(nil).(interface{ Validate() error }).Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("MomentoVendorFromProvider(nil).Validate() = %v", err)
		}
		p, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewMomentoVendorFromProvider(p)
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Close()
	})
}

func TestNewMomentoVendorFromEnv(t *testing.T) {
	const name = "TVM_TEST_MOMENTO_API_KEY"
	if _, err := NewMomentoVendorFromEnv(""); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty name: %v", err)
	}
	t.Setenv(name, "")
	_, err := NewMomentoVendorFromEnv(name)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
		t.Errorf("unset variable: %v", err)
	}
	t.Setenv(name, "garbage-SECRETISH")
	_, err = NewMomentoVendorFromEnv(name)
	if !errors.Is(err, ErrInvalidConfig) || strings.Contains(err.Error(), "SECRETISH") {
		t.Errorf("invalid key: %v", err)
	}
	if err := MomentoVendorFromEnv(name).(interface{ Validate() error }).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("MomentoVendorFromEnv(invalid).Validate() = %v", err)
	}
	t.Setenv(name, mtKey)
	v, err := NewMomentoVendorFromEnv(name)
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Close()
}

func TestMomentoVendorBuildsTheSDKRequest(t *testing.T) {
	scope := NewScope(
		TopicPublishSubscribe("chat", Topic("room-1")),
		TopicSubscribeOnly(AllCaches, AllTopics),
		CacheKeyPrefixReadOnly("chat", "u1/"),
	)
	validUntil := uint64(time.Date(2026, 3, 1, 12, 15, 0, 0, time.UTC).Unix())
	fake := &mtFakeClient{resp: &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended", Endpoint: "cell.example", ValidUntil: validUntil}}
	v := newMomentoVendorWithClient(fake, nil)

	tok, err := v.Vend(context.Background(), Grant{Scope: scope, TTL: 15*time.Minute + 900*time.Millisecond, TokenID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AuthToken != "vended" || tok.Endpoint != "cell.example" || tok.ExpiresAt.Unix() != int64(validUntil) {
		t.Errorf("token = %#v (%s)", tok, tok.Endpoint)
	}
	req := fake.reqs[0]
	if req.ExpiresIn.Seconds() != 900 {
		t.Errorf("ExpiresIn = %d s, want 900 (whole seconds, rounded down)", req.ExpiresIn.Seconds())
	}
	if req.Props.TokenId == nil || *req.Props.TokenId != "alice" {
		t.Errorf("TokenId = %v", req.Props.TokenId)
	}
	want, err := scope.MomentoScope()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(req.Scope, want) {
		t.Errorf("Scope = %#v, want %#v", req.Scope, want)
	}

	// No token id: none is sent.
	if _, err := v.Vend(context.Background(), Grant{Scope: scope, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if fake.reqs[1].Props.TokenId != nil {
		t.Errorf("TokenId = %q, want none", *fake.reqs[1].Props.TokenId)
	}

	// ValidUntil missing: the handler fills the expiry in.
	fake.resp = &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended"}
	if tok, err := v.Vend(context.Background(), Grant{Scope: scope, TTL: time.Minute}); err != nil || !tok.ExpiresAt.IsZero() {
		t.Errorf("token = %v, %v", tok, err)
	}

	if err := v.Close(); err != nil || fake.closed != 1 {
		t.Errorf("Close() = %v, client closed %d times", err, fake.closed)
	}
	_ = v.Close()
	if fake.closed != 1 {
		t.Errorf("client closed %d times, want once", fake.closed)
	}
}

func TestMomentoVendorRefusesBadGrants(t *testing.T) {
	fake := &mtFakeClient{resp: &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended"}}
	v := newMomentoVendorWithClient(fake, nil)
	tests := []struct {
		name string
		g    Grant
		want error
	}{
		{"zero TTL", Grant{Scope: htScope}, ErrInvalidConfig},
		{"sub-second TTL", Grant{Scope: htScope, TTL: 999 * time.Millisecond}, ErrInvalidConfig},
		{"TTL over an hour", Grant{Scope: htScope, TTL: time.Hour + time.Second}, ErrInvalidConfig},
		{"long token id", Grant{Scope: htScope, TTL: time.Minute, TokenID: strings.Repeat("x", 65)}, ErrInvalidConfig},
		{"empty scope", Grant{TTL: time.Minute}, ErrInvalidScope},
		{"invalid scope", Grant{Scope: NewScope(CacheReadOnly("")), TTL: time.Minute}, ErrInvalidScope},
		{"template scope", Grant{Scope: NewScope(CacheKeyPrefixReadOnly("c", "{sub}/")), TTL: time.Minute}, ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Vend(context.Background(), tt.g); !errors.Is(err, tt.want) {
				t.Errorf("Vend() = %v, want %v", err, tt.want)
			}
		})
	}
	if len(fake.reqs) != 0 {
		t.Errorf("%d requests reached the SDK", len(fake.reqs))
	}

	fake.resp = nil // neither a success nor an error
	if _, err := v.Vend(context.Background(), Grant{Scope: htScope, TTL: time.Minute}); !errors.Is(err, ErrUpstreamRejected) {
		t.Errorf("nil response: %v", err)
	}
	fake.resp = &auth_responses.GenerateDisposableTokenSuccess{}
	if _, err := v.Vend(context.Background(), Grant{Scope: htScope, TTL: time.Minute}); !errors.Is(err, ErrUpstreamRejected) {
		t.Errorf("empty token: %v", err)
	}
}

func TestMomentoVendorMapsSDKErrors(t *testing.T) {
	const secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.sig-secret-part"
	const raw = "root-api-key-0123456789"
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		kind     error
		code     string
		alsoIs   error
		wantText string
	}{
		{"authentication", nil, momento.NewMomentoError(momento.AuthenticationError, "Invalid authentication credentials: "+raw, nil), ErrUpstreamRejected, momento.AuthenticationError, nil, "Invalid authentication"},
		{"permission", nil, momento.NewMomentoError(momento.PermissionError, "Insufficient permissions for "+secret, nil), ErrUpstreamRejected, momento.PermissionError, nil, "Insufficient permissions"},
		{"invalid argument", nil, momento.NewMomentoError(momento.InvalidArgumentError, "disposable tokens must expire within 1 hour", nil), ErrUpstreamRejected, momento.InvalidArgumentError, nil, "within 1 hour"},
		{"bad request", nil, momento.NewMomentoError(momento.BadRequestError, "bad", nil), ErrUpstreamRejected, momento.BadRequestError, nil, ""},
		{"not found", nil, momento.NewMomentoError(momento.CacheNotFoundError, "no cache", nil), ErrUpstreamRejected, momento.CacheNotFoundError, nil, ""},
		{"server unavailable", nil, momento.NewMomentoError(momento.ServerUnavailableError, "unavailable", nil), ErrUpstreamUnavailable, momento.ServerUnavailableError, nil, ""},
		{"limit exceeded", nil, momento.NewMomentoError(momento.LimitExceededError, "Request rate limit exceeded", nil), ErrUpstreamUnavailable, momento.LimitExceededError, nil, ""},
		{"internal", nil, momento.NewMomentoError(momento.InternalServerError, "oops", nil), ErrUpstreamUnavailable, momento.InternalServerError, nil, ""},
		{"connection", nil, momento.NewMomentoError(momento.ConnectionError, "connection refused", nil), ErrUpstreamUnavailable, momento.ConnectionError, nil, ""},
		{"unknown", nil, momento.NewMomentoError(momento.UnknownServiceError, "?", nil), ErrUpstreamUnavailable, momento.UnknownServiceError, nil, ""},
		{"timeout code", nil, momento.NewMomentoError(momento.TimeoutError, "deadline", nil), ErrUpstreamTimeout, momento.TimeoutError, nil, ""},
		{"deadline passed", expired, momento.NewMomentoError(momento.TimeoutError, "deadline", nil), ErrUpstreamTimeout, momento.TimeoutError, context.DeadlineExceeded, ""},
		{"deadline passed, other code", expired, momento.NewMomentoError(momento.CanceledError, "x", nil), ErrUpstreamTimeout, momento.CanceledError, context.DeadlineExceeded, ""},
		{"caller canceled", canceled, momento.NewMomentoError(momento.CanceledError, "canceled", nil), ErrUpstreamUnavailable, momento.CanceledError, context.Canceled, ""},
		{"plain error", nil, errors.New("weird " + raw), ErrUpstreamUnavailable, "", nil, "weird"},
		{"wrapped context deadline", nil, fmt.Errorf("x: %w", context.DeadlineExceeded), ErrUpstreamTimeout, "", nil, ""},
		{"SDK double conversion: permission", nil, momento.NewMomentoError(momento.ClientSdkError, "SDK Failed to process the request.",
			momento.NewMomentoError(momento.PermissionError, "Insufficient permissions", errors.New("rpc error: code = PermissionDenied"))),
			ErrUpstreamRejected, momento.PermissionError, nil, "Insufficient permissions"},
		{"SDK double conversion: unavailable", nil, momento.NewMomentoError(momento.ClientSdkError, "SDK Failed to process the request.",
			momento.NewMomentoError(momento.ServerUnavailableError, "down", nil)),
			ErrUpstreamUnavailable, momento.ServerUnavailableError, nil, "down"},
		{"client SDK error without an inner code", nil, momento.NewMomentoError(momento.ClientSdkError, "marshal failed", errors.New("x")),
			ErrUpstreamUnavailable, momento.ClientSdkError, nil, "marshal failed"},
		{"original error echoing the key", nil, momento.NewMomentoError(momento.AuthenticationError, "bad key", errors.New("key was "+raw)), ErrUpstreamRejected, momento.AuthenticationError, nil, "bad key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			fake := &mtFakeClient{err: tt.err}
			v := newMomentoVendorWithClient(fake, []string{raw, "abc"})
			_, err := v.Vend(ctx, Grant{Scope: htScope, TTL: time.Minute, TokenID: "u"})
			var ve *VendError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *VendError", err)
			}
			if !errors.Is(err, tt.kind) || ve.Code != tt.code {
				t.Errorf("error = %v (kind %v, code %q), want kind %v code %q", err, ve.Kind, ve.Code, tt.kind, tt.code)
			}
			if tt.alsoIs != nil && !errors.Is(err, tt.alsoIs) {
				t.Errorf("error %v does not wrap %v", err, tt.alsoIs)
			}
			msg := err.Error()
			if strings.Contains(msg, raw) || strings.Contains(msg, secret) || strings.Contains(msg, "sig-secret-part") || strings.Contains(msg, "\n") {
				t.Errorf("error message leaks a secret or spans lines: %q", msg)
			}
			if tt.wantText != "" && !strings.Contains(msg, tt.wantText) {
				t.Errorf("error %q lost the useful text %q", msg, tt.wantText)
			}
			if ve.Retryable() != (tt.kind != ErrUpstreamRejected) {
				t.Errorf("Retryable() = %v", ve.Retryable())
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	long := strings.Repeat("é", 400)
	got := sanitize(long, nil)
	if len(got) > maxErrorMessage+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("sanitize kept %d bytes", len(got))
	}
	if s := sanitize("a\n\tb   c", nil); s != "a b c" {
		t.Errorf("sanitize = %q", s)
	}
	if s := sanitize("key=abcd1234 again abcd1234", []string{"abcd1234"}); s != "key=[REDACTED] again [REDACTED]" {
		t.Errorf("sanitize = %q", s)
	}
}

// TestMomentoVendorRealSDKFailures drives the real SDK client against
// unreachable and silent servers on 127.0.0.1.
func TestMomentoVendorRealSDKFailures(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), mtIgnoreSDKLeak)
	grant := Grant{Scope: htScope, TTL: time.Minute, TokenID: "u"}
	quiet := WithAuthConfiguration(config.AuthDefaultWithLogger(logger.NewNoopMomentoLoggerFactory()))

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		p, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: uint(port)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewMomentoVendorFromProvider(p, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = v.Vend(ctx, grant)
		if !errors.Is(err, ErrUpstreamUnavailable) {
			t.Fatalf("Vend() = %v, want ErrUpstreamUnavailable", err)
		}
	})

	t.Run("silent server times out", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns sync.WaitGroup
		conns.Add(1)
		go func() { // accept and never answer
			defer conns.Done()
			var held []net.Conn
			defer func() {
				for _, c := range held {
					_ = c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		defer func() { _ = ln.Close(); conns.Wait() }()
		port := ln.Addr().(*net.TCPAddr).Port
		p, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: uint(port)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewMomentoVendorFromProvider(p, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = v.Vend(ctx, grant)
		if !errors.Is(err, ErrUpstreamTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Vend() = %v, want ErrUpstreamTimeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Vend took %s despite the 300ms deadline", d)
		}
	})

	t.Run("SDK refuses expiries over an hour before sending", func(t *testing.T) {
		p, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewMomentoVendorFromProvider(p, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		scope, err := htScope.MomentoScope()
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.client.GenerateDisposableToken(context.Background(), &momento.GenerateDisposableTokenRequest{ExpiresIn: utils.ExpiresInSeconds(3601), Scope: scope})
		mapped := v.mapError(context.Background(), err)
		if !errors.Is(mapped, ErrUpstreamRejected) || !strings.Contains(mapped.Error(), "1 hour") {
			t.Errorf("SDK error %v mapped to %v, want ErrUpstreamRejected", err, mapped)
		}
	})
}
