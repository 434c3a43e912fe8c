package tvm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// mtQuiet is an SDK auth configuration that does not log.
var mtQuiet = config.AuthDefaultWithLogger(logger.NewNoopMomentoLoggerFactory())

// mtFakeClient is a fake momento.AuthClient. It answers with gen when set,
// else with resp and err.
type mtFakeClient struct {
	mu     sync.Mutex
	reqs   []*momento.GenerateDisposableTokenRequest
	resp   auth_responses.GenerateDisposableTokenResponse
	err    error
	gen    func(ctx context.Context, n int) (auth_responses.GenerateDisposableTokenResponse, error)
	closed int
}

func (f *mtFakeClient) GenerateDisposableToken(ctx context.Context, r *momento.GenerateDisposableTokenRequest) (auth_responses.GenerateDisposableTokenResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	n, gen, resp, err := len(f.reqs), f.gen, f.resp, f.err
	f.mu.Unlock()
	if gen != nil {
		return gen(ctx, n)
	}
	return resp, err
}

func (f *mtFakeClient) GenerateApiKey(context.Context, *momento.GenerateApiKeyRequest) (auth_responses.GenerateApiKeyResponse, error) {
	return nil, errors.New("unused")
}

func (f *mtFakeClient) RefreshApiKey(context.Context, *momento.RefreshApiKeyRequest) (auth_responses.RefreshApiKeyResponse, error) {
	return nil, errors.New("unused")
}

func (f *mtFakeClient) Close() { f.mu.Lock(); f.closed++; f.mu.Unlock() }

func (f *mtFakeClient) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.reqs) }

// mtRetry returns o with its defaults, as NewMomentoVendor stores it.
func mtRetry(t testing.TB, o RetryOptions) RetryOptions {
	t.Helper()
	var probs problems
	o = o.withDefaults("MomentoVendorConfig.Retry", &probs)
	if err := probs.err(); err != nil {
		t.Fatal(err)
	}
	return o
}

// mtVendor is a MomentoVendor around a fake client, with the default retry
// options.
func mtVendor(t testing.TB, fake *mtFakeClient, secrets ...string) *MomentoVendor {
	return newMomentoVendorWithClient(fake, secrets, mtRetry(t, RetryOptions{}), nil)
}

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
			v, err := NewMomentoVendor(MomentoVendorConfig{APIKey: tt.key})
			if err == nil || v != nil {
				t.Fatalf("NewMomentoVendor = %v, %v; want an error", v, err)
			}
			if fields := configFields(t, err); !slices.Equal(fields, []string{"MomentoVendorConfig.APIKey"}) {
				t.Errorf("error %v: fields %q", err, fields)
			}
			if strings.TrimSpace(tt.key) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.key)) || strings.Contains(err.Error(), "SECRETISH") {
				t.Errorf("error %q echoes the key", err)
			}
		})
	}
}

func TestNewMomentoVendor(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), mtIgnoreSDKLeak)

	v, err := NewMomentoVendor(MomentoVendorConfig{APIKey: mtKey, AuthConfig: mtQuiet})
	if err != nil {
		t.Fatal(err)
	}
	if v.retry != mtRetry(t, RetryOptions{}) || v.log != slog.Default() {
		t.Errorf("defaults: retry %+v, logger %v", v.retry, v.log)
	}
	if !slices.Contains(v.secrets, mtKey) {
		t.Error("the API key is not among the secrets redacted from errors")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	// A closed vendor is a programming error, not an unavailable Momento.
	_, err = v.Vend(context.Background(), Grant{Scope: htScope, TTL: time.Minute})
	var ve *VendError
	if !errors.Is(err, ErrClosed) || errors.As(err, &ve) || errors.Is(err, ErrUpstreamUnavailable) {
		t.Errorf("Vend after Close = %v, want ErrClosed (and no VendError)", err)
	}

	t.Run("nil AuthConfig means the default", func(t *testing.T) {
		v, err := NewMomentoVendor(MomentoVendorConfig{APIKey: mtKey})
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Close()
	})

	t.Run("credential provider", func(t *testing.T) {
		p, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewMomentoVendor(MomentoVendorConfig{CredentialProvider: p, AuthConfig: mtQuiet})
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Close()

		// Exactly one of APIKey and CredentialProvider.
		type provider struct{ auth.CredentialProvider }
		var nilProvider *provider
		for name, cfg := range map[string]MomentoVendorConfig{
			"neither":             {},
			"both":                {APIKey: mtKey, CredentialProvider: p},
			"typed nil provider":  {CredentialProvider: nilProvider},
			"blank key, provider": {APIKey: " ", CredentialProvider: p},
		} {
			v, err := NewMomentoVendor(cfg)
			if fields := configFields(t, err); v != nil || !slices.Equal(fields, []string{"MomentoVendorConfig.APIKey"}) {
				t.Errorf("%s: %v, %v (fields %q)", name, v, err, fields)
			}
			if err != nil && strings.Contains(err.Error(), mtKey) {
				t.Errorf("%s: error %q echoes the key", name, err)
			}
		}
	})
}

func TestMomentoVendorBuildsTheSDKRequest(t *testing.T) {
	scope := Scope{
		{Role: PublishSubscribe, Cache: "chat", Topic: "room-1"},
		{Role: SubscribeOnly, Cache: All, Topic: All},
		{Role: ReadOnly, Cache: "chat", KeyPrefix: "u1/"},
	}
	validUntil := uint64(time.Date(2026, 3, 1, 12, 15, 0, 0, time.UTC).Unix())
	fake := &mtFakeClient{resp: &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended", Endpoint: "cell.example", ValidUntil: validUntil}}
	v := mtVendor(t, fake)

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
	if want := momentoScope(scope); !reflect.DeepEqual(req.Scope, want) {
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
	if _, err := v.Vend(context.Background(), Grant{Scope: scope, TTL: time.Minute}); !errors.Is(err, ErrClosed) || fake.calls() != 3 {
		t.Errorf("Vend after Close = %v after %d SDK calls, want ErrClosed and no call", err, fake.calls())
	}
}

// TestMomentoVendorRefusesBadGrants: a grant the SDK or Momento would refuse
// (or, worse, accept wider than meant) never reaches the SDK.
func TestMomentoVendorRefusesBadGrants(t *testing.T) {
	fake := &mtFakeClient{resp: &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended"}}
	v := mtVendor(t, fake)
	tooMany := make(Scope, MaxPermissions+1)
	for i := range tooMany {
		tooMany[i] = Permission{Role: ReadOnly, Cache: fmt.Sprint("c", i)}
	}
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
		{"invalid scope", Grant{Scope: Scope{{Role: ReadOnly, Cache: ""}}, TTL: time.Minute}, ErrInvalidScope},
		{"template scope", Grant{Scope: Scope{{Role: ReadOnly, Cache: "c", KeyPrefix: "{sub}/"}}, TTL: time.Minute}, ErrInvalidScope},
		{"unknown role", Grant{Scope: Scope{{Role: "admin", Cache: "c", Topic: All}}, TTL: time.Minute}, ErrInvalidScope},
		{"unexpanded topic template", Grant{Scope: Scope{{Role: PublishSubscribe, Cache: "c", Topic: "user-{sub}"}}, TTL: time.Minute}, ErrInvalidScope},
		{"topic on cache role", Grant{Scope: Scope{{Role: ReadWrite, Cache: "c", Topic: "t"}}, TTL: time.Minute}, ErrInvalidScope},
		{"missing topic", Grant{Scope: Scope{{Role: PublishSubscribe, Cache: "c"}}, TTL: time.Minute}, ErrInvalidScope},
		{"missing cache", Grant{Scope: Scope{{Role: PublishSubscribe, Cache: "", Topic: All}}, TTL: time.Minute}, ErrInvalidScope},
		{"more permissions than Momento accepts", Grant{Scope: tooMany, TTL: time.Minute}, ErrInvalidScope},
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
	if n := len(fake.reqs); n != 2 {
		t.Errorf("%d SDK calls for two unexpected responses, want 2 (not retried)", n)
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
		calls    int // SDK calls with 3 attempts: retried only when Momento is unavailable
	}{
		{"authentication", nil, momento.NewMomentoError(momento.AuthenticationError, "Invalid authentication credentials: "+raw, nil), ErrUpstreamRejected, momento.AuthenticationError, nil, "Invalid authentication", 1},
		{"permission", nil, momento.NewMomentoError(momento.PermissionError, "Insufficient permissions for "+secret, nil), ErrUpstreamRejected, momento.PermissionError, nil, "Insufficient permissions", 1},
		{"invalid argument", nil, momento.NewMomentoError(momento.InvalidArgumentError, "disposable tokens must expire within 1 hour", nil), ErrUpstreamRejected, momento.InvalidArgumentError, nil, "within 1 hour", 1},
		{"bad request", nil, momento.NewMomentoError(momento.BadRequestError, "bad", nil), ErrUpstreamRejected, momento.BadRequestError, nil, "", 1},
		{"not found", nil, momento.NewMomentoError(momento.CacheNotFoundError, "no cache", nil), ErrUpstreamRejected, momento.CacheNotFoundError, nil, "", 1},
		{"server unavailable", nil, momento.NewMomentoError(momento.ServerUnavailableError, "unavailable", nil), ErrUpstreamUnavailable, momento.ServerUnavailableError, nil, "", 3},
		// Momento's auth quota (5 operations per second per account):
		// throttled, never retried within the request.
		{"limit exceeded", nil, momento.NewMomentoError(momento.LimitExceededError, "Request rate limit exceeded", nil), ErrUpstreamThrottled, momento.LimitExceededError, nil, "rate limit", 1},
		{"SDK double conversion: limit exceeded", nil, momento.NewMomentoError(momento.ClientSdkError, "SDK Failed to process the request.",
			momento.NewMomentoError(momento.LimitExceededError, "Request rate limit exceeded", errors.New("rpc error: code = ResourceExhausted"))),
			ErrUpstreamThrottled, momento.LimitExceededError, nil, "rate limit", 1},
		{"internal", nil, momento.NewMomentoError(momento.InternalServerError, "oops", nil), ErrUpstreamUnavailable, momento.InternalServerError, nil, "", 3},
		{"connection", nil, momento.NewMomentoError(momento.ConnectionError, "connection refused", nil), ErrUpstreamUnavailable, momento.ConnectionError, nil, "", 3},
		{"unknown", nil, momento.NewMomentoError(momento.UnknownServiceError, "?", nil), ErrUpstreamUnavailable, momento.UnknownServiceError, nil, "", 3},
		{"timeout code", nil, momento.NewMomentoError(momento.TimeoutError, "deadline", nil), ErrUpstreamTimeout, momento.TimeoutError, nil, "", 1},
		{"deadline passed", expired, momento.NewMomentoError(momento.TimeoutError, "deadline", nil), ErrUpstreamTimeout, momento.TimeoutError, context.DeadlineExceeded, "", 1},
		{"deadline passed, other code", expired, momento.NewMomentoError(momento.CanceledError, "x", nil), ErrUpstreamTimeout, momento.CanceledError, context.DeadlineExceeded, "", 1},
		{"caller canceled", canceled, momento.NewMomentoError(momento.CanceledError, "canceled", nil), ErrUpstreamUnavailable, momento.CanceledError, context.Canceled, "", 1},
		{"plain error", nil, errors.New("weird " + raw), ErrUpstreamUnavailable, "", nil, "weird", 3},
		{"wrapped context deadline", nil, fmt.Errorf("x: %w", context.DeadlineExceeded), ErrUpstreamTimeout, "", nil, "", 1},
		{"SDK double conversion: permission", nil, momento.NewMomentoError(momento.ClientSdkError, "SDK Failed to process the request.",
			momento.NewMomentoError(momento.PermissionError, "Insufficient permissions", errors.New("rpc error: code = PermissionDenied"))),
			ErrUpstreamRejected, momento.PermissionError, nil, "Insufficient permissions", 1},
		{"SDK double conversion: unavailable", nil, momento.NewMomentoError(momento.ClientSdkError, "SDK Failed to process the request.",
			momento.NewMomentoError(momento.ServerUnavailableError, "down", nil)),
			ErrUpstreamUnavailable, momento.ServerUnavailableError, nil, "down", 3},
		{"client SDK error without an inner code", nil, momento.NewMomentoError(momento.ClientSdkError, "marshal failed", errors.New("x")),
			ErrUpstreamUnavailable, momento.ClientSdkError, nil, "marshal failed", 3},
		{"original error echoing the key", nil, momento.NewMomentoError(momento.AuthenticationError, "bad key", errors.New("key was "+raw)), ErrUpstreamRejected, momento.AuthenticationError, nil, "bad key", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			fake := &mtFakeClient{err: tt.err}
			v := newMomentoVendorWithClient(fake, []string{raw, "abc"}, mtRetry(t, RetryOptions{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}), nil)
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
			if n := fake.calls(); n != tt.calls {
				t.Errorf("%d SDK calls, want %d", n, tt.calls)
			}
		})
	}
}

// TestClosedMomentoVendorThroughTheHandler: a request reaching a closed
// MomentoVendor is a 500 internal error (a programming error), not a 503
// "Momento unavailable": one Vend call, no retry, nothing sent to Momento.
func TestClosedMomentoVendorThroughTheHandler(t *testing.T) {
	for _, reuse := range []ReuseOptions{{}, {Disabled: true}} {
		t.Run(fmt.Sprintf("reuse disabled %v", reuse.Disabled), func(t *testing.T) {
			fake := &mtFakeClient{resp: &auth_responses.GenerateDisposableTokenSuccess{ApiKey: "vended"}}
			mv := newMomentoVendorWithClient(fake, nil, mtRetry(t, RetryOptions{Attempts: 5, BaseDelay: time.Millisecond}), nil)
			if err := mv.Close(); err != nil {
				t.Fatal(err)
			}
			var vends atomic.Int64
			var res Result
			h, _, logs := htSetup(t, Config{Reuse: reuse,
				Vendor: vendorFunc(func(ctx context.Context, g Grant) (Token, error) {
					vends.Add(1)
					return mv.Vend(ctx, g)
				}),
				OnResult: func(_ *http.Request, r Result) { res = r },
			})
			w := htDo(h, http.MethodGet, "/token", nil)
			htCheckError(t, w, http.StatusInternalServerError, CodeInternal)
			if ra := w.Header().Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q on a closed vendor's 500", ra)
			}
			if n := vends.Load(); n != 1 {
				t.Errorf("%d Vend calls, want 1", n)
			}
			if n := fake.calls(); n != 0 {
				t.Errorf("%d SDK calls after Close", n)
			}
			if res.Status != 500 || res.Code != CodeInternal || !errors.Is(res.Err, ErrClosed) || errors.Is(res.Err, ErrUpstreamUnavailable) {
				t.Errorf("result = %+v", res)
			}
			if out := logs.String(); strings.Contains(out, CodeUpstreamUnavailable) || !strings.Contains(out, `"level":"ERROR"`) {
				t.Errorf("log: %s", out)
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
		v, err := NewMomentoVendor(MomentoVendorConfig{CredentialProvider: p, AuthConfig: mtQuiet})
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
		v, err := NewMomentoVendor(MomentoVendorConfig{CredentialProvider: p, AuthConfig: mtQuiet})
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
		v, err := NewMomentoVendor(MomentoVendorConfig{CredentialProvider: p, AuthConfig: mtQuiet})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		scope := momentoScope(htScope)
		_, err = v.client.GenerateDisposableToken(context.Background(), &momento.GenerateDisposableTokenRequest{ExpiresIn: utils.ExpiresInSeconds(3601), Scope: scope})
		mapped := v.mapError(context.Background(), err)
		if !errors.Is(mapped, ErrUpstreamRejected) || !strings.Contains(mapped.Error(), "1 hour") {
			t.Errorf("SDK error %v mapped to %v, want ErrUpstreamRejected", err, mapped)
		}
	})
}
