package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/tvmgo/tvm"
)

// methodAPIGateway is the Identity.Method of callers verified by an API
// Gateway authorizer.
const methodAPIGateway = "apigateway"

// apiGatewayAuthenticator trusts the claims that an API Gateway authorizer
// (a Cognito user pool authorizer or a Lambda authorizer of a REST API, a
// JWT or Lambda authorizer of an HTTP API) has already verified. It reads
// them only from the request context that aws-lambda-go-api-proxy fills
// from the Lambda event (core.GetAPIGatewayContextFromContext and
// core.GetAPIGatewayV2ContextFromContext), never from headers: a client
// cannot forge a request context, and the adapter's context key is private
// to it. Outside Lambda every request is refused.
type apiGatewayAuthenticator struct {
	subjectClaim string
	groupsClaim  string
	groupsFormat string // groupsJSON, groupsSpace or groupsComma
	now          func() time.Time
}

func newAPIGatewayAuthenticator(c *APIGatewayConfig) *apiGatewayAuthenticator {
	return &apiGatewayAuthenticator{subjectClaim: c.SubjectClaim, groupsClaim: c.GroupsClaim,
		groupsFormat: cmp.Or(c.GroupsFormat, groupsJSON), now: time.Now}
}

// Challenge is the WWW-Authenticate challenge of 401 answers.
func (a *apiGatewayAuthenticator) Challenge() string { return "Bearer" }

// Authenticate implements tvm.Authenticator.
func (a *apiGatewayAuthenticator) Authenticate(r *http.Request) (tvm.Identity, error) {
	claims, err := authorizerClaims(r)
	if err != nil {
		return tvm.Identity{}, err
	}
	sub, ok := claims[a.subjectClaim].(string)
	if !ok || sub == "" {
		return tvm.Identity{}, fmt.Errorf("%w: the authorizer gave no %q claim", tvm.ErrInvalidCredentials, a.subjectClaim)
	}
	id := tvm.Identity{Subject: sub, Claims: claims, Method: methodAPIGateway}
	if g, present := claims[a.groupsClaim]; present {
		groups, err := parseGroups(g, a.groupsFormat)
		if err != nil {
			return tvm.Identity{}, fmt.Errorf("%w: claim %q: %w", tvm.ErrInvalidCredentials, a.groupsClaim, err)
		}
		id.Groups = groups
	}
	if e, present := claims["exp"]; present {
		exp, err := parseTime(e)
		if err != nil {
			return tvm.Identity{}, fmt.Errorf("%w: claim \"exp\": %w", tvm.ErrInvalidCredentials, err)
		}
		if !a.now().Before(exp) {
			return tvm.Identity{}, fmt.Errorf("%w: the credential has expired", tvm.ErrInvalidCredentials)
		}
		id.ExpiresAt = exp
	}
	return id, nil
}

// authorizerClaims returns a copy of the verified claims of the request's
// API Gateway authorizer.
func authorizerClaims(r *http.Request) (map[string]any, error) {
	ctx := r.Context()
	if v1, ok := core.GetAPIGatewayContextFromContext(ctx); ok {
		az := v1.Authorizer
		if len(az) == 0 {
			return nil, fmt.Errorf("%w: no API Gateway authorizer on this route", tvm.ErrNoCredentials)
		}
		// REST API Cognito user pool authorizer: {"claims": {...}}.
		if c, ok := az["claims"].(map[string]any); ok {
			return maps.Clone(c), nil
		}
		// HTTP API with payload format 1.0: {"jwt": {"claims": {...}}} or
		// {"lambda": {...}}.
		if j, ok := az["jwt"].(map[string]any); ok {
			if c, ok := j["claims"].(map[string]any); ok {
				return maps.Clone(c), nil
			}
		}
		if l, ok := az["lambda"].(map[string]any); ok {
			return maps.Clone(l), nil
		}
		// REST API Lambda authorizer: {"principalId": ..., <context>...}.
		m := maps.Clone(az)
		delete(m, "integrationLatency")
		return m, nil
	}
	if v2, ok := core.GetAPIGatewayV2ContextFromContext(ctx); ok {
		az := v2.Authorizer
		switch {
		case az != nil && az.JWT != nil && len(az.JWT.Claims) > 0:
			m := make(map[string]any, len(az.JWT.Claims))
			for k, v := range az.JWT.Claims {
				m[k] = v
			}
			return m, nil
		case az != nil && len(az.Lambda) > 0:
			return maps.Clone(az.Lambda), nil
		}
		return nil, fmt.Errorf("%w: no API Gateway JWT or Lambda authorizer on this route", tvm.ErrNoCredentials)
	}
	return nil, fmt.Errorf("%w: not an API Gateway request (auth.method apigateway works only in AWS Lambda)", tvm.ErrNoCredentials)
}

// The values of auth.apigateway.groupsFormat: how the authorizer delivers
// the groups claim. API Gateway flattens a claim that is a list into a
// string, and a flattened string can be split back only if no group name
// holds the delimiter: which is a property of the identity provider, that
// tvm cannot check, so the configuration must say it.
const (
	// groupsJSON (the default): a list, or a string holding a JSON list of
	// strings (`["a","b c"]`), as a Lambda authorizer can put in its
	// context. Never ambiguous.
	groupsJSON = "json"
	// groupsSpace: "[a b]", as an HTTP API JWT authorizer flattens a list
	// (a single name without brackets is one group). Safe only when no
	// group name holds whitespace, as with Cognito user pools.
	groupsSpace = "space"
	// groupsComma: "a,b", as a REST API Cognito authorizer flattens
	// cognito:groups. Safe only when no group name holds a comma (Cognito
	// allows commas).
	groupsComma = "comma"
)

// apiGatewayProblems checks auth.apigateway.groupsFormat, and that no
// group rule names a group holding the declared delimiter (it could never
// match: the claim is split there).
func apiGatewayProblems(cfg *Config) configErrors {
	var probs configErrors
	format, delim := cfg.Auth.APIGateway.GroupsFormat, ""
	switch format {
	case "", groupsJSON:
		return nil
	case groupsSpace:
		delim = "whitespace"
	case groupsComma:
		delim = "a comma"
	default:
		return configErrors{{key: "auth.apigateway.groupsFormat", msg: "must be json, space or comma"}}
	}
	for i, r := range cfg.Scopes {
		if format == groupsSpace && strings.ContainsFunc(r.Group, unicode.IsSpace) || format == groupsComma && strings.Contains(r.Group, ",") {
			probs = append(probs, problem{key: fmt.Sprintf("scopes[%d].group", i),
				msg: "holds " + delim + ", where auth.apigateway.groupsFormat: " + format + " splits the groups claim: it could never match"})
		}
	}
	return probs
}

// parseGroups reads a groups claim in the declared format (see groupsJSON,
// groupsSpace, groupsComma). A list is always accepted as is. It never
// splits a string in a way the format does not declare safe: a string that
// does not have the format's shape is an error, not a guess.
func parseGroups(v any, format string) ([]string, error) {
	var out []string
	switch g := v.(type) {
	case []any:
		for _, x := range g {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("not a list of strings")
			}
			out = append(out, s)
		}
	case []string:
		out = append(out, g...)
	case string:
		switch {
		case g == "":
		case format == groupsSpace && strings.HasPrefix(g, "[") && strings.HasSuffix(g, "]"):
			out = strings.Fields(g[1 : len(g)-1])
		case format == groupsSpace && strings.ContainsFunc(g, unicode.IsSpace):
			return nil, fmt.Errorf("holds whitespace outside the [a b] form of auth.apigateway.groupsFormat: space")
		case format == groupsSpace:
			out = []string{g}
		case format == groupsComma:
			out = strings.Split(g, ",")
		default:
			if err := json.Unmarshal([]byte(g), &out); err != nil {
				return nil, fmt.Errorf("not a JSON list of strings (with an authorizer that flattens lists, set auth.apigateway.groupsFormat)")
			}
		}
	default:
		return nil, fmt.Errorf("not a string or a list")
	}
	groups := out[:0]
	for _, s := range out {
		if s != "" {
			groups = append(groups, s)
		}
	}
	return groups, nil
}

// parseTime reads a time claim as API Gateway passes it: a number or a
// numeric string (unix seconds), or the date format of REST API Cognito
// authorizers ("Thu Sep 12 18:12:39 UTC 2019").
func parseTime(v any) (time.Time, error) {
	var secs float64
	switch t := v.(type) {
	case float64:
		secs = t
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return time.Time{}, fmt.Errorf("not a time")
		}
		secs = f
	case string:
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			secs = f
			break
		}
		tm, err := time.Parse(time.UnixDate, t)
		if err != nil {
			return time.Time{}, fmt.Errorf("not a time")
		}
		return tm, nil
	default:
		return time.Time{}, fmt.Errorf("not a time")
	}
	if math.IsNaN(secs) || secs <= 0 || secs > 1e11 {
		return time.Time{}, fmt.Errorf("not a time")
	}
	return time.Unix(int64(secs), 0), nil
}
