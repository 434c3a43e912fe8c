package tvm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
	"github.com/tvmgo/tvm/momentolocal"
)

// exampleDescribe prints what a browser would see of a token response.
func exampleDescribe(resp *http.Response) {
	defer resp.Body.Close()
	var body struct {
		AuthToken string `json:"authToken"`
		ExpiresAt int64  `json:"expiresAt"`
		Error     string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Println(resp.StatusCode, body.Error, resp.Header.Get("WWW-Authenticate"))
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Cache-Control"),
		"token:", body.AuthToken != "",
		"lifetime:", time.Until(time.Unix(body.ExpiresAt, 0)).Round(time.Minute))
}

// The handler mounted on the standard library's ServeMux. A local Momento
// emulator stands in for Momento here; in production the vendor is
// tvm.NewMomentoVendor(tvm.MomentoVendorConfig{APIKey: os.Getenv("MOMENTO_API_KEY")}).
func Example_serveMux() {
	local, err := momentolocal.Start(momentolocal.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	provider, err := local.CredentialProvider()
	if err != nil {
		log.Fatal(err)
	}
	vendor, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: provider})
	if err != nil {
		log.Fatal(err)
	}
	defer vendor.Close()
	// Everyone gets the same scope: one default rule.
	scopes, err := tvm.NewGroupScopes(tvm.GroupRule{
		Default: true,
		Scope:   tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: "announcements"}},
	})
	if err != nil {
		log.Fatal(err)
	}

	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(), // anyone: only for a scope you would give to anyone
		Scopes:        scopes,
		Vendor:        vendor,
		TTL:           15 * time.Minute,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)), // default: slog.Default()
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/momento/token", h)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/momento/token")
	if err != nil {
		log.Fatal(err)
	}
	exampleDescribe(resp)
	// What reached Momento: exactly the configured scope.
	req := local.TokenRequests()[0]
	fmt.Println(req.TokenID, req.ValidFor, req.Permissions)
	// Output:
	// 200 no-store token: true lifetime: 15m0s
	// anonymous 15m0s [subscribeonly cache=default-cache topic=announcements]
}

// vendorFunc adapts a function to the tvm.Vendor interface (a Vendor has
// one method; tvm has no adapter for it).
type vendorFunc func(ctx context.Context, g tvm.Grant) (tvm.Token, error)

func (f vendorFunc) Vend(ctx context.Context, g tvm.Grant) (tvm.Token, error) { return f(ctx, g) }

// exampleVendor stands in for tvm.NewMomentoVendor in the examples below,
// which are about routing and authentication.
var exampleVendor = vendorFunc(func(_ context.Context, g tvm.Grant) (tvm.Token, error) {
	return tvm.Token{AuthToken: "token-for-" + g.TokenID, ExpiresAt: time.Now().Add(g.TTL)}, nil
})

// exampleEveryone gives every caller the scope s (one default rule).
func exampleEveryone(s tvm.Scope) *tvm.GroupScopes {
	scopes, err := tvm.NewGroupScopes(tvm.GroupRule{Default: true, Scope: s})
	if err != nil {
		log.Fatal(err)
	}
	return scopes
}

// The handler mounted on a chi router, behind chi middleware.
func Example_chi() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        exampleEveryone(tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
		Vendor:        exampleVendor,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	r := chi.NewRouter()
	r.Route("/api/momento", func(r chi.Router) {
		r.Method(http.MethodGet, "/token", h)
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/momento/token")
	if err != nil {
		log.Fatal(err)
	}
	exampleDescribe(resp)
	// Output:
	// 200 no-store token: true lifetime: 15m0s
}

// The handler mounted on a gorilla/mux router.
func Example_gorillaMux() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        exampleEveryone(tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
		Vendor:        exampleVendor,
		TTL:           5 * time.Minute,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	r := mux.NewRouter()
	r.Handle("/api/momento/token", h).Methods(http.MethodGet)

	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/momento/token")
	if err != nil {
		log.Fatal(err)
	}
	exampleDescribe(resp)
	// Output:
	// 200 no-store token: true lifetime: 5m0s
}

// Shared credentials, as in the Lambda-authorizer mode of Momento's
// reference token vending machine: HTTP Basic (or, with
// AllowCredentialHeaders, the "username"/"password" headers) checked
// against bcrypt hashes, and the scope chosen by the user's groups, never
// by what the client asks for.
func ExampleNewBasic() {
	// Hash offline with cost 10 to 14 (e.g. `htpasswd -nbBC 12 alice
	// password`, or `tvm hash-password`), and load the hashes from your
	// configuration. This is "alice's password" at cost 10.
	const aliceHash = "$2a$10$/ENYjzFlxgkTwq1xNfrO8.FmxFGYKNGmr6QDKBGiVvMa7HMWx8zdm"
	basic, err := tvm.NewBasic(tvm.BasicConfig{
		Users: []tvm.User{{Username: "alice", PasswordHash: aliceHash, Groups: []string{"ReadOnlyUserGroup"}}},
		Realm: "chat",
	})
	if err != nil {
		log.Fatal(err)
	}
	scopes, err := tvm.NewGroupScopes(
		tvm.GroupRule{Group: "ReadWriteUserGroup", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All}}},
		tvm.GroupRule{Group: "ReadOnlyUserGroup", Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}},
	)
	if err != nil {
		log.Fatal(err)
	}
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: basic,
		Scopes:        scopes,
		Vendor:        exampleVendor,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, password := range []string{"alice's password", "guess"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.SetBasicAuth("alice", password)
		req.Header.Set("usergroup", "ReadWriteUserGroup") // ignored: scopes come from verified groups only
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		exampleDescribe(resp)
	}

	// A misconfiguration fails at construction, every problem at once.
	_, err = tvm.NewBasic(tvm.BasicConfig{Users: []tvm.User{
		{Username: "bob", PasswordHash: "plain-text password"},
		{Username: "a:b", PasswordHash: aliceHash},
	}})
	fmt.Println(err)
	// Output:
	// 200 no-store token: true lifetime: 15m0s
	// 401 unauthorized Basic realm="chat", charset="UTF-8"
	// BasicConfig.Users[0].PasswordHash: not a valid bcrypt hash
	// BasicConfig.Users[1].Username: must not contain ':'
}

// The embedded shape: the token route lives inside an application that
// already signs its users in. The application's session middleware puts
// the verified identity in the request context with tvm.NewContext, and
// tvm.ContextIdentity trusts it. Templates fill the scope from the verified
// subject.
func ExampleContextIdentity() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.ContextIdentity(),
		Scopes:        exampleEveryone(tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: "inbox-{sub}"}}),
		Vendor: vendorFunc(func(_ context.Context, g tvm.Grant) (tvm.Token, error) {
			fmt.Println("vending", g.Scope, "as", g.TokenID)
			return tvm.Token{AuthToken: "t", ExpiresAt: time.Now().Add(g.TTL)}, nil
		}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Your session middleware (a stand-in: a real one verifies a session
	// cookie or an OIDC login).
	sessions := map[string]string{"s3cr3t-session": "user-42"}
	withSession := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err == nil && sessions[c.Value] != "" {
				r = r.WithContext(tvm.NewContext(r.Context(), tvm.Identity{Subject: sessions[c.Value]}))
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/momento/token", withSession(h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/momento/token", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "s3cr3t-session"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	exampleDescribe(resp)

	resp, err = http.Get(srv.URL + "/api/momento/token") // no session
	if err != nil {
		log.Fatal(err)
	}
	exampleDescribe(resp)
	// Output:
	// vending topic:publishsubscribe(default-cache/inbox-user-42) as user-42
	// 200 no-store token: true lifetime: 15m0s
	// 401 unauthorized Session
}

// Error responses are small JSON bodies with stable codes; a client that
// went away is its own outcome ("canceled", 499), not a Momento outage.
func ExampleNewHandler_errors() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        exampleEveryone(tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}),
		Vendor: vendorFunc(func(ctx context.Context, _ tvm.Grant) (tvm.Token, error) {
			if ctx.Err() != nil {
				return tvm.Token{}, &tvm.VendError{Kind: tvm.ErrUpstreamUnavailable, Code: "CanceledError", Err: ctx.Err()}
			}
			return tvm.Token{}, &tvm.VendError{Kind: tvm.ErrUpstreamUnavailable, Code: "ServerUnavailableError"}
		}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnResult: func(r *http.Request, res tvm.Result) {
			fmt.Println("result:", res.Status, res.Code)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the client went away
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/token", nil),
		httptest.NewRequest(http.MethodGet, "/token", nil),
		httptest.NewRequestWithContext(gone, http.MethodGet, "/token", nil),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " Allow=", w.Header().Get("Allow"), " Retry-After=", w.Header().Get("Retry-After"), " ", w.Body.String())
	}

	// A misconfiguration fails at construction, every problem at once.
	_, err = tvm.NewHandler(tvm.Config{Authenticator: tvm.Open(), TTL: 2 * time.Hour})
	fmt.Println(err)
	// Output:
	// result: 405 method_not_allowed
	// 405 Allow=GET Retry-After= {"error":"method_not_allowed","message":"method not allowed; use GET"}
	// result: 503 upstream_unavailable
	// 503 Allow= Retry-After=1 {"error":"upstream_unavailable","message":"Momento is unavailable; retry later"}
	// result: 499 canceled
	// 499 Allow= Retry-After= {"error":"canceled","message":"the request was canceled"}
	// Config.Scopes: required
	// Config.Vendor: required
	// Config.TTL: must be between 1s and 1h0m0s
}

// The README's quick start: a Cognito user pool's ID tokens, group scopes,
// and the Momento vendor. Here momentolocal stands in for Momento (in
// production: tvm.MomentoVendorConfig{APIKey: os.Getenv("MOMENTO_API_KEY"),
// Endpoint: os.Getenv("MOMENTO_ENDPOINT")}), and the authenticator's
// context is already done, so that the example fetches no keys from AWS.
func ExampleNewHandler() {
	local, err := momentolocal.Start(momentolocal.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	provider, err := local.CredentialProvider()
	if err != nil {
		log.Fatal(err)
	}
	noNetwork, cancel := context.WithCancel(context.Background())
	cancel()
	const pool, client = "us-west-2_aBcDeFgHi", "3n4b5urk1ft4fl3mg5e62d9ado"

	auth, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{
		Cognito: &jwtauth.Cognito{Region: "us-west-2", UserPoolID: pool, ClientID: client, TokenUse: "id"},
	}}, Context: noNetwork, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err) // every constructor fails closed on a misconfiguration
	}
	defer auth.Close()
	scopes, err := tvm.NewGroupScopes(
		tvm.GroupRule{Group: "ReadWriteUserGroup", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: tvm.All}}},
		tvm.GroupRule{Group: "ReadOnlyUserGroup", Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}},
	)
	if err != nil {
		log.Fatal(err)
	}
	vendor, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: provider})
	if err != nil {
		log.Fatal(err)
	}
	defer vendor.Close()
	h, err := tvm.NewHandler(tvm.Config{Authenticator: auth, Scopes: scopes, Vendor: vendor, TTL: 15 * time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/momento/token", h)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/momento/token") // no ID token
	if err != nil {
		log.Fatal(err)
	}
	exampleDescribe(resp)
	// Output:
	// 401 unauthorized Bearer
}
