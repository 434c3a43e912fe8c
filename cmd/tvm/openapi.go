package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tvmgo/tvm"
)

//go:generate sh -c "TVM_CONFIG= go run . openapi > openapi.json"

// openAPIVersion is info.version of the OpenAPI documents: the version of
// the token endpoint's contract (its paths, parameters and bodies), not of
// the binary.
const openAPIVersion = "1.0.0"

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

// openAPIJSON returns the OpenAPI 3.1 document of the token endpoint that
// cfg configures, indented, with a final newline.
func openAPIJSON(cfg *Config) ([]byte, error) {
	b, err := json.MarshalIndent(openAPIDocument(cfg), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the OpenAPI document: %w", err)
	}
	return append(b, '\n'), nil
}

// errorStatus is an error answer of the token endpoint: its status, the
// codes its body may carry, and the header it always has.
type errorStatus struct {
	status      int
	codes       []string
	header      string // "", "WWW-Authenticate", "Allow" or "Retry-After"
	description string
}

// tokenErrors are the error answers of GET on the token path that cfg
// makes possible (401 needs an authenticator that can refuse, 429 a rate
// limit).
func tokenErrors(cfg *Config) []errorStatus {
	out := []errorStatus{
		{400, []string{tvm.CodeBadRequest}, "", "Malformed request: a narrowing or token id parameter that is repeated, empty or not a valid name, or request headers over 32 KiB (over 64 KiB the server itself answers 431 in plain text)."},
	}
	if cfg.Auth.Method != "open" {
		out = append(out, errorStatus{401, []string{tvm.CodeUnauthorized}, "WWW-Authenticate", "Missing or invalid credentials, or a credential that expires too soon: refresh it and retry."})
	}
	out = append(out, errorStatus{403, []string{tvm.CodeForbidden}, "", "No scope rule grants the caller a scope, the caller's identity cannot fill the rule's templates, or the narrowing asks for something outside the granted scope. Do not retry."})
	if cfg.RateLimit != nil {
		out = append(out, errorStatus{429, []string{tvm.CodeRateLimited}, "Retry-After", "The caller's rate limit is exhausted: retry after Retry-After seconds."})
	}
	return append(out,
		errorStatus{499, []string{tvm.CodeCanceled}, "", "The client went away before the answer. No client receives it: it is the status of logs and metrics."},
		errorStatus{500, []string{tvm.CodeInternal, tvm.CodeInvalidScope}, "", "A bug or a misconfiguration (internal), or a resolved scope that is empty or invalid and so was never vended (invalid_scope)."},
		errorStatus{502, []string{tvm.CodeUpstreamRejected}, "", "Momento refused to vend (bad API key, permission, argument). Not retried."},
		errorStatus{503, []string{tvm.CodeUpstreamUnavailable, tvm.CodeUpstreamThrottled}, "Retry-After", "Momento is unavailable after bounded retries (upstream_unavailable), or too many tokens are being vended: Momento's auth quota or the vend ceiling (upstream_throttled). Retry after Retry-After seconds."},
		errorStatus{504, []string{tvm.CodeUpstreamTimeout}, "", "Momento did not answer within vendTimeout."},
	)
}

// allowHeader is the Allow header of 405 answers.
func allowHeader(cfg *Config) string {
	if len(cfg.CORS.AllowedOrigins) > 0 {
		return "GET, OPTIONS"
	}
	return http.MethodGet
}

// openAPIDocument describes the token endpoint of cfg: its path, query
// parameters, security schemes, and every answer with its status, headers
// and body schema.
func openAPIDocument(cfg *Config) obj {
	cors := len(cfg.CORS.AllowedOrigins) > 0
	responses := obj{"200": obj{
		"description": "A disposable Momento token limited to the caller's scope (the shape of Momento's reference token vending machine).",
		"headers":     commonHeaders(cors),
		"content":     jsonContent("#/components/schemas/Token"),
	}}
	schemas := obj{"Token": tokenSchema(), "Error": errorSchema(allCodes(), "Any error answer.")}
	for _, e := range append(tokenErrors(cfg), errorStatus{405, []string{tvm.CodeMethodNotAllowed}, "Allow", "Only GET (and OPTIONS with CORS) is served."}) {
		name := "Error" + strconv.Itoa(e.status)
		schemas[name] = errorSchema(e.codes, e.description)
		if e.status == http.StatusMethodNotAllowed {
			continue // the other methods' answer (components.responses)
		}
		headers := commonHeaders(cors)
		if e.header != "" {
			headers[e.header] = obj{"$ref": "#/components/headers/" + strings.ReplaceAll(e.header, "-", "")}
		}
		responses[strconv.Itoa(e.status)] = obj{"description": e.description, "headers": headers, "content": jsonContent("#/components/schemas/" + name)}
	}
	get := obj{
		"operationId": "getToken",
		"summary":     "Vend a short-lived Momento disposable token",
		"description": "Authenticates the caller, resolves its scope from the verified identity alone (the configuration's scope rules, optionally narrowed by the query), and vends or reuses a Momento disposable token. Nothing the client sends can widen the scope. Answers are never cached (Cache-Control: no-store).",
		"parameters":  queryParameters(cfg),
		"security":    security(cfg),
		"responses":   responses,
	}
	item := obj{"get": get}
	notAllowed := obj{"$ref": "#/components/responses/MethodNotAllowed"}
	for _, m := range []string{"post", "put", "patch", "delete"} {
		item[m] = obj{"operationId": m + "Token", "summary": "Not allowed: use GET", "responses": obj{"405": notAllowed}}
	}
	// HEAD would cost a vend for nothing: 405, without a body.
	headNotAllowed := obj{"description": "Only GET is served (a HEAD would cost a vend for nothing).", "headers": obj{"Allow": obj{"$ref": "#/components/headers/Allow"}}}
	item["head"] = obj{"operationId": "headToken", "summary": "Not allowed: use GET", "responses": obj{"405": headNotAllowed}}
	item["options"] = optionsOperation(cfg, notAllowed)

	components := obj{
		"schemas":   schemas,
		"headers":   headerComponents(cfg),
		"responses": obj{"MethodNotAllowed": obj{"description": "Only GET (and OPTIONS with CORS) is served.", "headers": withAllow(commonHeaders(cors)), "content": jsonContent("#/components/schemas/Error405")}},
	}
	if s := securitySchemes(cfg); len(s) > 0 {
		components["securitySchemes"] = s
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "tvm token endpoint",
			"version":     openAPIVersion,
			"description": "The token endpoint of tvm, the token vending machine for Momento, as its configuration makes it (authentication " + cfg.Auth.Method + "). Paths are relative to the token listener (TVM_ADDR), also when this document is served by the operations listener (TVM_OPS_ADDR).",
		},
		"paths":      obj{cfg.Path: item},
		"components": components,
	}
}

func withAllow(h obj) obj {
	h["Allow"] = obj{"$ref": "#/components/headers/Allow"}
	return h
}

// optionsOperation is OPTIONS on the token path: CORS preflights with
// CORS, 405 without.
func optionsOperation(cfg *Config, notAllowed obj) obj {
	op := obj{"operationId": "preflightToken"}
	if len(cfg.CORS.AllowedOrigins) == 0 {
		op["summary"] = "Not allowed: CORS is off (cors.allowedOrigins)"
		op["responses"] = obj{"405": notAllowed}
		return op
	}
	op["summary"] = "CORS preflight"
	op["parameters"] = []any{
		obj{"name": "Origin", "in": "header", "required": false, "schema": obj{"type": "string"}, "description": "One of cors.allowedOrigins."},
		obj{"name": "Access-Control-Request-Method", "in": "header", "required": false, "schema": obj{"type": "string"}, "description": "GET. Without it the request is a plain OPTIONS, answered 204 with Allow."},
	}
	preflight := obj{
		"Access-Control-Allow-Origin":  obj{"schema": obj{"type": "string"}},
		"Access-Control-Allow-Methods": obj{"schema": obj{"type": "string", "const": "GET"}},
		"Access-Control-Allow-Headers": obj{"schema": obj{"type": "string"}},
		"Access-Control-Max-Age":       obj{"schema": obj{"type": "integer", "minimum": 0}},
		"Allow":                        obj{"schema": obj{"type": "string", "const": "GET, OPTIONS"}},
	}
	op["responses"] = obj{
		"204": obj{"description": "The preflight is allowed (or a plain OPTIONS).", "headers": preflight},
		"403": obj{"description": "The preflight is refused (origin, method or headers not allowed).", "content": jsonContent("#/components/schemas/Error403")},
	}
	return op
}

// queryParameters are the narrowing parameters of cfg.Narrowing and the
// token id parameter of tokenId: query:<name>.
func queryParameters(cfg *Config) []any {
	params := []any{}
	if n := cfg.Narrowing; n != nil {
		// The parameters as the library reads them (its defaults filled in,
		// those turned off empty).
		narrowing, err := tvm.NewNarrowing(unusedResolver{}, tvm.NarrowOptions{
			CacheParam: n.CacheParam, TopicParam: n.TopicParam, KeyParam: n.KeyParam, KeyPrefixParam: n.KeyPrefixParam,
		})
		var o tvm.NarrowOptions
		if err == nil { // a loaded configuration's narrowing always builds
			o = narrowing.Options()
		}
		for _, p := range []struct{ name, what string }{
			{o.CacheParam, "Narrow the token to this one cache."},
			{o.TopicParam, "Narrow the token to this one topic (cache permissions are dropped unless an item is asked for too)."},
			{o.KeyParam, "Narrow the token to this one cache key (topic permissions are dropped unless a topic is asked for too)."},
			{o.KeyPrefixParam, "Narrow the token to the cache keys starting with this prefix (not with the key parameter)."},
		} {
			name := p.name
			if name == "" {
				continue
			}
			params = append(params, obj{
				"name": name, "in": "query", "required": false,
				"description": p.what + " Intersection only: never wider than the granted scope; outside it the answer is 403, a malformed value 400.",
				"schema":      obj{"type": "string", "minLength": 1, "maxLength": tvm.MaxNameLength},
			})
		}
	}
	if name, ok := strings.CutPrefix(cfg.TokenID, "query:"); ok {
		params = append(params, obj{
			"name": name, "in": "query", "required": false,
			"description": "The token id (the publisher id other subscribers see). Anonymous callers only; absent: a random anonymous-<16 hex> id.",
			"schema":      obj{"type": "string", "minLength": 1, "maxLength": tvm.MaxTokenIDLength},
		})
	}
	return params
}

// securitySchemes are the components of cfg's authentication.
func securitySchemes(cfg *Config) obj {
	switch cfg.Auth.Method {
	case "basic":
		s := obj{"basic": obj{"type": "http", "scheme": "basic", "description": "A user of auth.users."}}
		if cfg.Auth.AllowCredentialHeaders {
			s["usernameHeader"] = obj{"type": "apiKey", "in": "header", "name": "username", "description": "The username header of Momento's reference clients (auth.allowCredentialHeaders), with the password header."}
			s["passwordHeader"] = obj{"type": "apiKey", "in": "header", "name": "password", "description": "The password header of Momento's reference clients, with the username header."}
		}
		return s
	case "jwt", "cognito":
		return obj{"bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A JWT of the configured issuer (auth." + cfg.Auth.Method + ")."}}
	case "apigateway":
		return obj{"bearer": obj{"type": "http", "scheme": "bearer", "description": "Verified by the API Gateway authorizer in front of tvm, which passes its claims to tvm."}}
	}
	return nil
}

// security is the requirement of GET: none for open authentication.
func security(cfg *Config) []any {
	switch cfg.Auth.Method {
	case "basic":
		req := []any{obj{"basic": []any{}}}
		if cfg.Auth.AllowCredentialHeaders {
			req = append(req, obj{"usernameHeader": []any{}, "passwordHeader": []any{}})
		}
		return req
	case "jwt", "cognito", "apigateway":
		return []any{obj{"bearer": []any{}}}
	}
	return []any{} // open: anyone
}

// commonHeaders are the headers of every answer of GET.
func commonHeaders(cors bool) obj {
	h := obj{
		"Cache-Control":          obj{"$ref": "#/components/headers/CacheControl"},
		"Pragma":                 obj{"$ref": "#/components/headers/Pragma"},
		"X-Content-Type-Options": obj{"$ref": "#/components/headers/XContentTypeOptions"},
		"Vary":                   obj{"$ref": "#/components/headers/Vary"},
	}
	if cors {
		h["Access-Control-Allow-Origin"] = obj{"$ref": "#/components/headers/AccessControlAllowOrigin"}
		h["Access-Control-Expose-Headers"] = obj{"$ref": "#/components/headers/AccessControlExposeHeaders"}
	}
	return h
}

// headerComponents are the headers the answers refer to.
func headerComponents(cfg *Config) obj {
	challenge := obj{"type": "string", "pattern": "^Bearer( |$)"}
	if cfg.Auth.Method == "basic" {
		challenge = obj{"type": "string", "pattern": "^Basic "}
	}
	h := obj{
		"CacheControl":        obj{"required": true, "description": "Tokens are never cached.", "schema": obj{"type": "string", "const": "no-store"}},
		"Pragma":              obj{"required": true, "schema": obj{"type": "string", "const": "no-cache"}},
		"XContentTypeOptions": obj{"required": true, "schema": obj{"type": "string", "const": "nosniff"}},
		"Vary":                obj{"required": true, "description": "The answer depends on the Origin (CORS).", "schema": obj{"type": "string", "const": "Origin"}},
		"WWWAuthenticate":     obj{"required": true, "description": "The challenge of the configured authentication (RFC 9110; Bearer challenges carry error=\"invalid_token\" when a presented token failed).", "schema": challenge},
		"RetryAfter":          obj{"required": true, "description": "Seconds to wait before retrying.", "schema": obj{"type": "integer", "minimum": 0}},
		"Allow":               obj{"required": true, "schema": obj{"type": "string", "const": allowHeader(cfg)}},
	}
	if len(cfg.CORS.AllowedOrigins) > 0 {
		h["AccessControlAllowOrigin"] = obj{"description": "The request's Origin when it is one of cors.allowedOrigins (or * when all are allowed).", "schema": obj{"type": "string"}}
		h["AccessControlExposeHeaders"] = obj{"description": "The headers a page may read.", "schema": obj{"type": "string"}}
	}
	return h
}

func jsonContent(ref string) obj {
	return obj{"application/json": obj{"schema": obj{"$ref": ref}}}
}

func tokenSchema() obj {
	return obj{
		"type": "object", "required": []string{"authToken", "expiresAt"}, "additionalProperties": false,
		"properties": obj{
			"authToken": obj{"type": "string", "minLength": 1, "description": "The disposable token, for a Momento client SDK. A secret: never log it."},
			"expiresAt": obj{"type": "integer", "minimum": 0, "description": "When the token stops working, in Unix seconds. Never after the caller's own credential expires."},
		},
	}
}

func errorSchema(codes []string, description string) obj {
	return obj{
		"type": "object", "required": []string{"error", "message"}, "additionalProperties": false, "description": description,
		"properties": obj{
			"error":   obj{"type": "string", "enum": codes, "description": "A stable code; clients may switch on it."},
			"message": obj{"type": "string", "description": "A fixed, safe description, for people."},
		},
	}
}

// allCodes are every error code of the token endpoint.
func allCodes() []string {
	codes := []string{tvm.CodeMethodNotAllowed}
	for _, e := range tokenErrors(&Config{Auth: AuthConfig{Method: "basic"}, RateLimit: &RateLimitConfig{}}) {
		codes = append(codes, e.codes...)
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// cmdOpenAPI prints the OpenAPI document of a configuration (default
// $TVM_CONFIG; none: the demo's, as committed in cmd/tvm/openapi.json).
func cmdOpenAPI(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("openapi", stderr)
	configPath := fs.String("config", "", "configuration file (default $TVM_CONFIG; none: the demo configuration)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tvm openapi: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	cfg, code := loadOrDemo(cmp.Or(*configPath, getenv("TVM_CONFIG")), stderr)
	if cfg == nil {
		return code
	}
	b, err := openAPIJSON(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tvm openapi: %v\n", err)
		return exitError
	}
	_, _ = stdout.Write(b)
	return exitOK
}
