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
	"github.com/tvmgo/tvm/momentolocal"
	"golang.org/x/crypto/bcrypt"
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
// tvm.MomentoVendor(os.Getenv("MOMENTO_API_KEY")).
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
	vendor, err := tvm.NewMomentoVendorFromProvider(provider)
	if err != nil {
		log.Fatal(err)
	}
	defer vendor.Close()

	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(), // anyone: only for a scope you would give to anyone
		Scopes:        tvm.StaticScope(tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.Topic("announcements")))),
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

// exampleVendor stands in for tvm.MomentoVendor(apiKey) in the examples
// below, which are about routing and authentication.
var exampleVendor = tvm.VendorFunc(func(_ context.Context, g tvm.Grant) (tvm.Token, error) {
	return tvm.Token{AuthToken: "token-for-" + g.TokenID, ExpiresAt: time.Now().Add(g.TTL)}, nil
})

// The handler mounted on a chi router, behind chi middleware.
func Example_chi() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        tvm.StaticScope(tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.AllTopics))),
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
		Scopes:        tvm.StaticScope(tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.AllTopics))),
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
func ExampleBasic() {
	// In production, hash with bcrypt.DefaultCost or more, offline
	// (e.g. `htpasswd -nbBC 12 alice password`), and load the hashes from
	// your configuration.
	hash, err := bcrypt.GenerateFromPassword([]byte("alice's password"), bcrypt.MinCost)
	if err != nil {
		log.Fatal(err)
	}
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Basic(tvm.BasicConfig{
			Users: []tvm.User{{Username: "alice", PasswordHash: string(hash), Groups: []string{"ReadOnlyUserGroup"}}},
			Realm: "chat",
		}),
		Scopes: tvm.GroupScopes(
			tvm.GroupRule{Group: "ReadWriteUserGroup", Scope: tvm.NewScope(tvm.TopicPublishSubscribe("default-cache", tvm.AllTopics))},
			tvm.GroupRule{Group: "ReadOnlyUserGroup", Scope: tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.AllTopics))},
		),
		Vendor: exampleVendor,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	// Output:
	// 200 no-store token: true lifetime: 15m0s
	// 401 unauthorized Basic realm="chat", charset="UTF-8"
}

// The embedded shape: the token route lives inside an application that
// already signs its users in. The application's session middleware puts
// the verified identity in the request context with tvm.NewContext, and
// tvm.ContextIdentity trusts it. Templates fill the scope from the verified
// subject.
func ExampleContextIdentity() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.ContextIdentity(),
		Scopes:        tvm.StaticScope(tvm.NewScope(tvm.TopicPublishSubscribe("default-cache", tvm.Topic("inbox-{sub}")))),
		Vendor: tvm.VendorFunc(func(_ context.Context, g tvm.Grant) (tvm.Token, error) {
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

// Error responses are small JSON bodies with stable codes.
func ExampleNewHandler_errors() {
	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: tvm.Open(),
		Scopes:        tvm.StaticScope(tvm.NewScope(tvm.TopicSubscribeOnly("default-cache", tvm.AllTopics))),
		Vendor: tvm.VendorFunc(func(context.Context, tvm.Grant) (tvm.Token, error) {
			return tvm.Token{}, &tvm.VendError{Kind: tvm.ErrUpstreamUnavailable, Code: "ServerUnavailableError"}
		}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/token", nil))
		fmt.Print(w.Code, " Allow=", w.Header().Get("Allow"), " Retry-After=", w.Header().Get("Retry-After"), " ", w.Body.String())
	}
	// Output:
	// 405 Allow=GET Retry-After= {"error":"method_not_allowed","message":"method not allowed; use GET"}
	// 503 Allow= Retry-After=1 {"error":"upstream_unavailable","message":"Momento is unavailable; retry later"}
}
