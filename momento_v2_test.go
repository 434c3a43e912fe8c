package tvm_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/momentohq/client-sdk-go/momento"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/internal/testenv"
	"github.com/tvmgo/tvm/momentolocal"
)

// v2Endpoint is the regional endpoint of the v2 test: the vendor dials
// token.<it>:443, and the vended token names it for the data plane.
const v2Endpoint = "cell-test-1.tvm.test"

// v2ChildEnv marks the child process of TestMomentoVendorV2KeyOverTLS; its
// value is the directory of the test CA.
const v2ChildEnv = "TVM_V2_TLS_CHILD_DIR"

// TestMomentoVendorV2KeyOverTLS is the real vendor with a key shaped like
// today's Momento console issues (a v2 key: a JWT with "t": "g" and no
// endpoint) and a regional endpoint, vending over TLS on port 443 from a
// momentolocal behind TLS, as it would from Momento: the SDK dials
// token.<endpoint>:443, trusting a test CA through SSL_CERT_FILE, with the
// host names resolving to loopback in a private mount and network
// namespace (its own /etc/hosts and loopback). The vended token then works
// on the data plane (cache.<endpoint>:443) with the official SDK.
func TestMomentoVendorV2KeyOverTLS(t *testing.T) {
	if dir := os.Getenv(v2ChildEnv); dir != "" {
		v2Child(t, dir)
		return
	}
	names := []string{v2Endpoint, "token." + v2Endpoint, "cache." + v2Endpoint, "control." + v2Endpoint, "storage." + v2Endpoint}
	hosts, ok := testenv.Hosts(t, names...)
	if !ok {
		t.Skip("no private namespace for the test host names")
	}
	ca := testenv.NewCA(t, names...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := testenv.InNamespace(ctx, hosts, true, os.Args[0], "-test.run", "^TestMomentoVendorV2KeyOverTLS$", "-test.count", "1", "-test.v")
	// Go reads SSL_CERT_FILE once per process: the SDK's TLS trusts the
	// test CA only in the child.
	cmd.Env = append(os.Environ(), v2ChildEnv+"="+ca.Dir, "SSL_CERT_FILE="+ca.CAFile, "SSL_CERT_DIR="+ca.Dir)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestMomentoVendorV2KeyOverTLS") {
		t.Fatal("the child did not run the test")
	}
}

// v2Child runs in the namespace, where v2Endpoint's names are loopback and
// the system roots are the test CA.
func v2Child(t *testing.T, dir string) {
	srv, err := momentolocal.Start(momentolocal.Config{
		Addr:          "127.0.0.1:443",
		TLS:           testenv.ServerTLS(t, dir),
		Endpoint:      v2Endpoint,
		RequireAPIKey: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	key := srv.RootAPIKeyV2()
	if kind := v2KeyType(t, key); kind != "g" {
		t.Fatalf("the emulator's v2 root key has t=%q", kind)
	}

	// A v2 key alone, with nothing naming an endpoint, is refused.
	if _, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{APIKey: key}); err == nil {
		t.Fatal("a v2 key without an endpoint was accepted")
	}
	v, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{APIKey: key, Endpoint: v2Endpoint,
		AuthConfig: config.AuthDefaultWithLogger(logger.NewNoopMomentoLoggerFactory())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if got, want := v.String(), "tvm.MomentoVendor{v2 API key, token endpoint token."+v2Endpoint+":443}"; got != want {
		t.Errorf("vendor = %s, want %s", got, want)
	}
	scopes, err := tvm.NewGroupScopes(tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: momentolocal.DefaultCache, Topic: "chat"}}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := tvm.NewHandler(tvm.Config{Authenticator: tvm.Open(), Scopes: scopes, Vendor: v, TokenID: tvm.QueryTokenID("name"),
		Logger: itQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/token?name=v2-user", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("token request: %d %s", w.Code, w.Body)
	}
	var body struct {
		AuthToken string `json:"authToken"`
		ExpiresAt int64  `json:"expiresAt"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	reqs := srv.TokenRequests()
	if len(reqs) != 1 || reqs[0].TokenID != "v2-user" {
		t.Fatalf("token requests at the emulator: %+v", reqs)
	}

	// The token, as a browser or another SDK gets it, on its own: the SDK
	// reads the endpoint from it and publishes over TLS.
	creds, err := auth.FromString(body.AuthToken)
	if err != nil {
		t.Fatal(err)
	}
	if creds.GetCacheEndpoint() != "cache."+v2Endpoint+":443" || !creds.IsCacheEndpointSecure() {
		t.Fatalf("the vended token names %s (secure %v)", creds.GetCacheEndpoint(), creds.IsCacheEndpointSecure())
	}
	topics, err := momento.NewTopicClient(config.TopicsDefaultWithLogger(logger.NewNoopMomentoLoggerFactory()), creds)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := topics.Publish(ctx, &momento.TopicPublishRequest{CacheName: momentolocal.DefaultCache, TopicName: "chat", Value: momento.String("over TLS")}); err != nil {
		t.Fatalf("publishing with the vended token: %v", err)
	}
	if _, err := topics.Publish(ctx, &momento.TopicPublishRequest{CacheName: momentolocal.DefaultCache, TopicName: "other", Value: momento.String("x")}); err == nil {
		t.Error("the token published outside its scope")
	}
}

// v2KeyType returns the "t" claim of a JWT-shaped key.
func v2KeyType(t *testing.T, key string) string {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		t.Fatalf("the v2 key is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		T string `json:"t"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.T
}
