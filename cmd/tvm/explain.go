package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tvmgo/tvm"
)

// explainTimeout bounds tvm explain (a JWKS fetch, a bcrypt comparison).
const explainTimeout = 30 * time.Second

// caller is who tvm explain asks as. Its secrets are never printed.
type caller struct {
	jwt      secret         // --jwt
	user     string         // --user
	password secret         // read from stdin with --user
	claims   map[string]any // --claims
	query    string         // --query
}

// describe says what the request carries, without its secrets.
func (c caller) describe() string {
	switch {
	case c.jwt != "":
		return fmt.Sprintf("Authorization: Bearer <a JWT of %d bytes>", len(c.jwt))
	case c.user != "":
		return fmt.Sprintf("Authorization: Basic <user %q, password from standard input>", c.user)
	case c.claims != nil:
		return fmt.Sprintf("API Gateway authorizer claims (%d)", len(c.claims))
	}
	return "no credentials"
}

// explanation is what the token handler did with one request.
type explanation struct {
	res    tvm.Result
	status int
	header http.Header
	body   struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	vends int // calls to the stand-in vendor (nothing is ever vended)
}

// cmdExplain runs one request through the handler that the configuration
// builds, with a vendor that never calls Momento, and says what tvm would
// answer and why. Exit codes: 0 when tvm would vend, 1 when it would
// refuse, 2 on a usage or configuration problem.
func cmdExplain(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("explain", stderr)
	configPath := fs.String("config", "", "configuration file (default $TVM_CONFIG; none: the demo configuration)")
	jwtFlag := fs.String("jwt", "", "the caller's bearer JWT (jwt, cognito); - reads it from standard input")
	user := fs.String("user", "", "the caller's username (basic); the password is read from standard input")
	claims := fs.String("claims", "", "the API Gateway authorizer's claims, a JSON object (apigateway)")
	query := fs.String("query", "", "the request's query string, e.g. 'topic=room-1' (narrowing, token id)")
	offline := fs.Bool("offline", false, "refuse the network: a configuration that fetches keys (JWKS URL, discovery, Cognito) is an error")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tvm explain: "+format+"\n", a...)
		return exitConfig
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if n := btoi(set["jwt"]) + btoi(set["user"]) + btoi(set["claims"]); n > 1 {
		return usageErr("give one caller: --jwt, --user or --claims")
	}
	path := cmp.Or(*configPath, getenv("TVM_CONFIG"))
	cfg, code := loadOrDemo(path, stderr)
	if cfg == nil {
		return code
	}
	method := cfg.Auth.Method
	var c caller
	switch {
	case set["jwt"] && method != "jwt" && method != "cognito":
		return usageErr("--jwt needs auth.method jwt or cognito (auth.method is %s)", method)
	case set["user"] && method != "basic":
		return usageErr("--user needs auth.method basic (auth.method is %s)", method)
	case set["claims"] && method != "apigateway":
		return usageErr("--claims needs auth.method apigateway (auth.method is %s)", method)
	case set["jwt"]:
		c.jwt = secret(strings.TrimSpace(*jwtFlag))
		if *jwtFlag == "-" {
			line, err := readLine(stdin)
			if err != nil {
				return usageErr("--jwt -: write the JWT on standard input")
			}
			c.jwt = secret(strings.TrimSpace(line))
		}
	case set["user"]:
		line, err := readLine(stdin)
		if err != nil {
			return usageErr("--user: write the password on standard input, e.g. echo \"$PW\" | tvm explain --user %s", *user)
		}
		c.user, c.password = *user, secret(line)
	case set["claims"]:
		if err := json.Unmarshal([]byte(*claims), &c.claims); err != nil || c.claims == nil {
			return usageErr("--claims must be a JSON object, e.g. '{\"sub\": \"alice\", \"cognito:groups\": [\"writers\"]}'")
		}
	}
	c.query = strings.TrimPrefix(*query, "?")
	if strings.ContainsAny(c.query, " #\r\n") {
		return usageErr("--query must be a URL query string (percent-encode spaces and #)")
	}

	ctx, cancel := context.WithTimeout(ctx, explainTimeout)
	defer cancel()
	var nw *offlineDialer
	if *offline {
		nw = refuseNetwork()
		defer nw.restore()
	}
	x, err := explain(ctx, cfg, c, stderr, *offline)
	if nw != nil && len(nw.attempts()) > 0 {
		fmt.Fprintf(stderr, "tvm explain: --offline, but this configuration needs the network to verify tokens (it tried to reach %s): its keys come from a JWKS URL, OpenID discovery or Cognito; run without --offline, or use a jwksFile\n",
			strings.Join(nw.attempts(), ", "))
		return exitConfig
	}
	if err != nil {
		printProblems(stderr, path, asProblems(err))
		return exitConfig
	}
	where := path
	if where == "" {
		where = "the demo configuration"
	}
	x.print(stdout, cfg, c, where)
	if x.status == http.StatusOK {
		return exitOK
	}
	return exitError
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readLine reads one non-empty line (at most 64 KiB) from r.
func readLine(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxAPIKeySize))
	sc.Buffer(make([]byte, 0, 4096), maxAPIKeySize)
	if !sc.Scan() || strings.TrimRight(sc.Text(), "\r") == "" {
		return "", errors.New("no line")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}

// explain builds the token handler of cfg (without rate limits, which
// would count this request) around a vendor that never calls Momento, and
// serves it one request from c, as the server would: over HTTP, or for
// apigateway as an API Gateway event.
func explain(ctx context.Context, cfg *Config, c caller, stderr io.Writer, offline bool) (*explanation, error) {
	limitless := *cfg
	limitless.RateLimit, limitless.VendLimit = nil, nil
	x := &explanation{}
	var mu sync.Mutex
	vendor := tvm.Vendor(vendFunc(func(_ context.Context, g tvm.Grant) (tvm.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		x.vends++
		return tvm.Token{AuthToken: "explain-vends-nothing", ExpiresAt: time.Now().Add(g.TTL)}, nil
	}))
	// The authenticator's warnings (a JWKS fetch that failed) go to
	// stderr; the handler's request log line does not (it is printed
	// below, better).
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if offline {
		log = slog.New(slog.DiscardHandler)
	}
	svc, err := buildTokenService(ctx, &limitless, vendor, nil, nil, log, func(hc *tvm.Config) {
		hc.Logger = slog.New(slog.DiscardHandler)
		hc.OnResult = func(_ *http.Request, res tvm.Result) {
			mu.Lock()
			defer mu.Unlock()
			x.res = res
		}
	})
	if err != nil {
		return nil, err
	}
	defer svc.Close()

	var body []byte
	if cfg.Auth.Method == "apigateway" {
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "GET " + cfg.Path, RawPath: cfg.Path, RawQueryString: c.query,
			Headers: map[string]string{},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet, Path: cfg.Path},
			},
		}
		if c.claims != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: c.claims}
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out, err := newLambdaHandler(lambdaMux(cfg, svc.handler)).Invoke(ctx, payload)
		if err != nil {
			return nil, err
		}
		resp, ok := out.(events.APIGatewayV2HTTPResponse)
		if !ok {
			return nil, fmt.Errorf("unexpected Lambda answer %T", out)
		}
		x.status, x.header, body = resp.StatusCode, http.Header{}, []byte(resp.Body)
		for k, v := range resp.Headers {
			x.header.Set(k, v)
		}
		for k, vs := range resp.MultiValueHeaders {
			x.header[http.CanonicalHeaderKey(k)] = vs
		}
	} else {
		target := cfg.Path
		if c.query != "" {
			target += "?" + c.query
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://tvm-explain.invalid"+target, nil)
		if err != nil {
			return nil, fmt.Errorf("--query: %w", err)
		}
		req.RemoteAddr = "127.0.0.1:1"
		switch {
		case c.jwt != "":
			req.Header.Set("Authorization", "Bearer "+string(c.jwt))
		case c.user != "":
			req.SetBasicAuth(c.user, string(c.password))
		}
		rec := httptest.NewRecorder()
		svc.handler.ServeHTTP(rec, req)
		x.status, x.header, body = rec.Code, rec.Header(), rec.Body.Bytes()
	}
	if x.status != http.StatusOK {
		_ = json.Unmarshal(body, &x.body)
	}
	mu.Lock()
	defer mu.Unlock()
	return x, nil
}

// vendFunc adapts a function to tvm.Vendor.
type vendFunc func(ctx context.Context, g tvm.Grant) (tvm.Token, error)

func (f vendFunc) Vend(ctx context.Context, g tvm.Grant) (tvm.Token, error) { return f(ctx, g) }

// print writes the explanation for people.
func (x *explanation) print(w io.Writer, cfg *Config, c caller, where string) {
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-16s"+format+"\n", append([]any{label}, a...)...)
	}
	target := cfg.Path
	if c.query != "" {
		target += "?" + c.query
	}
	line("configuration:", "%s (auth %s, %d scope rule(s))", where, cfg.Auth.Method, len(cfg.Scopes))
	line("request:", "GET %s; %s", target, c.describe())
	id := x.res.Identity
	if id.Method == "" {
		line("authentication:", "failed (see the answer)")
		x.printAnswer(w, line)
		return
	}
	line("authentication:", "ok (method %s)", id.Method)
	line("  subject:", "%s", id.Subject)
	groups := "(none)"
	if len(id.Groups) > 0 {
		groups = strings.Join(id.Groups, ", ")
	}
	line("  groups:", "%s", groups)
	if !id.ExpiresAt.IsZero() {
		line("  expires:", "%s (in %s)", id.ExpiresAt.UTC().Format(time.RFC3339), time.Until(id.ExpiresAt).Round(time.Second))
	}

	matched := -1
	for i, r := range cfg.Scopes {
		if r.Default || slices.Contains(id.Groups, r.Group) {
			matched = i
			break
		}
	}
	fmt.Fprintln(w, "rules:")
	for i, r := range cfg.Scopes {
		name := "group " + r.Group
		if r.Default {
			name = "default"
		}
		verdict := "no: the caller is not in group " + r.Group
		switch {
		case i == matched && r.Default:
			verdict = "matches (the default rule matches every caller)"
		case i == matched:
			verdict = "matches (the caller is in group " + r.Group + ")"
		case matched >= 0 && i > matched:
			verdict = fmt.Sprintf("not tried (scopes[%d] matched first)", matched)
		}
		fmt.Fprintf(w, "  scopes[%d] %s: %s\n", i, name, verdict)
	}
	if matched < 0 {
		line("scope:", "none: no rule matches the caller")
	} else {
		r := cfg.Scopes[matched]
		// The rule alone, as GroupScopes fills it for this identity.
		single, err := tvm.NewGroupScopes(tvm.GroupRule{Group: r.Group, Default: r.Default, Scope: r.Permissions, TTL: r.TTL})
		if err == nil {
			g, err := single.Resolve(context.Background(), id, nil)
			if err != nil {
				line("rule scope:", "cannot be filled from the identity: %v", err)
			} else {
				printScope(w, line, "rule scope:", g.Scope)
			}
		}
	}
	if cfg.Narrowing != nil && c.query != "" {
		line("narrowing:", "%s (intersected with the rule scope)", c.query)
	}
	if x.res.Grant.Scope != nil {
		printScope(w, line, "scope:", x.res.Grant.Scope)
	}
	if x.res.Grant.TTL > 0 {
		ttl := x.res.Grant.TTL.String()
		if !id.ExpiresAt.IsZero() && time.Until(id.ExpiresAt)-x.res.Grant.TTL < 2*time.Second {
			ttl += " (capped: the caller's credential expires then)"
		}
		line("ttl:", "%s", ttl)
	}
	if tid := x.res.Grant.TokenID; tid != "" {
		if name, ok := strings.CutPrefix(cfg.TokenID, "query:"); ok && id.Method == tvm.MethodOpen && !hasParam(c.query, name) {
			tid += fmt.Sprintf(" (random for each request: no ?%s=)", name)
		}
		line("token id:", "%s", tid)
	}
	if cfg.RateLimit != nil || cfg.VendLimit != nil {
		line("note:", "rateLimit and vendLimit are not applied by explain (they depend on traffic)")
	}
	x.printAnswer(w, line)
}

func (x *explanation) printAnswer(w io.Writer, line func(string, string, ...any)) {
	if x.status == http.StatusOK {
		line("answer:", "200 ok: a token would be vended (explain vended nothing: Momento was not called)")
		return
	}
	line("answer:", "%d %s: %s", x.status, x.body.Error, x.body.Message)
	for _, h := range []string{"WWW-Authenticate", "Allow", "Retry-After"} {
		if v := x.header.Get(h); v != "" {
			fmt.Fprintf(w, "  %s: %s\n", h, v)
		}
	}
	if x.res.Err != nil {
		line("  cause:", "%s", x.res.Err.Error())
	}
}

func printScope(w io.Writer, line func(string, string, ...any), label string, s tvm.Scope) {
	line(label, "%d permission(s)", len(s))
	for _, p := range s {
		fmt.Fprintf(w, "  %s\n", tvm.Scope{p}.String())
	}
}

// hasParam reports whether the query string q has the parameter name,
// decoded as the server decodes it (url.URL.Query).
func hasParam(q, name string) bool {
	values, _ := url.ParseQuery(q) // --query was checked to parse
	return values.Has(name)
}

// offlineDialer replaces the process's default HTTP transport with one
// that dials nothing and records where it was asked to go (tvm explain
// --offline). The JWT authenticator's own client is a clone of the
// default transport, so it refuses too.
type offlineDialer struct {
	prev http.RoundTripper
	mu   sync.Mutex
	seen []string
}

var errOffline = errors.New("tvm explain --offline: network refused")

func refuseNetwork() *offlineDialer {
	d := &offlineDialer{prev: http.DefaultTransport}
	dial := func(_ context.Context, _, addr string) (net.Conn, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !slices.Contains(d.seen, addr) {
			d.seen = append(d.seen, addr)
		}
		return nil, errOffline
	}
	http.DefaultTransport = &http.Transport{DialContext: dial, DialTLSContext: dial}
	return d
}

func (d *offlineDialer) attempts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

func (d *offlineDialer) restore() { http.DefaultTransport = d.prev }
