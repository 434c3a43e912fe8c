package tvm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/momentohq/client-sdk-go/auth"
)

// The kinds of Momento API keys (see parseMomentoKey).
const (
	momentoKeyV1 = "v1"
	momentoKeyV2 = "v2"
)

// momentoKey is what tvm reads from a Momento API key without verifying
// it: its kind, and the endpoint it names (v1 keys only).
type momentoKey struct {
	kind     string // momentoKeyV1 or momentoKeyV2
	endpoint string // v1: the base endpoint (base64 keys) or the cache host (JWT keys)
	jwt      bool   // a JWT (v1 with c/cp claims, or v2)
}

// parseMomentoKey tells the kinds of Momento API keys apart, without
// verifying them:
//
//   - a v2 key (today's Momento console) is a JWT whose claims hold
//     "t": "g" and no endpoint; it is used with a regional endpoint;
//   - a v1 key is the base64 of JSON {"endpoint", "api_key"}, or a JWT
//     whose "c" and "cp" claims name the cache and control hosts.
//
// Its problems never quote the key.
func parseMomentoKey(key string) (momentoKey, string) {
	if raw, err := base64.StdEncoding.DecodeString(key); err == nil {
		var v1 struct {
			Endpoint string `json:"endpoint"`
			APIKey   string `json:"api_key"`
		}
		if json.Unmarshal(raw, &v1) != nil || v1.Endpoint == "" || v1.APIKey == "" {
			return momentoKey{}, "not a Momento API key (neither a v1 key nor a JWT)"
		}
		return momentoKey{kind: momentoKeyV1, endpoint: v1.Endpoint}, ""
	}
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return momentoKey{}, "not a Momento API key (neither a v1 key nor a JWT)"
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return momentoKey{}, "not a Momento API key (a JWT whose claims cannot be decoded)"
	}
	var claims struct {
		Type    any `json:"t"`
		Cache   any `json:"c"`
		Control any `json:"cp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return momentoKey{}, "not a Momento API key (a JWT whose claims are not JSON)"
	}
	if claims.Type == "g" {
		return momentoKey{kind: momentoKeyV2, jwt: true}, ""
	}
	cache, _ := claims.Cache.(string)
	control, _ := claims.Control.(string)
	if cache == "" || control == "" {
		return momentoKey{}, `not a Momento API key (a JWT with neither "t": "g" nor the "c" and "cp" claims)`
	}
	return momentoKey{kind: momentoKeyV1, endpoint: cache, jwt: true}, ""
}

// endpointProblem says why endpoint is not a bare Momento endpoint host
// such as "cell-4-us-west-2-1.prod.a.momentohq.com", or returns "".
func endpointProblem(endpoint string) string {
	switch {
	case strings.Contains(endpoint, "://"):
		return "must be a host name without a scheme, e.g. cell-4-us-west-2-1.prod.a.momentohq.com"
	case strings.ContainsAny(endpoint, "/?#"):
		return "must be a host name without a path"
	case strings.Contains(endpoint, ":"):
		return "must be a host name without a port (the SDK connects to port 443)"
	case len(endpoint) > 253:
		return "longer than 253 bytes"
	case net.ParseIP(endpoint) != nil:
		return "must be a host name, not an IP address (the SDK connects to cache.<endpoint>, token.<endpoint>, ...)"
	}
	for label := range strings.SplitSeq(endpoint, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
			strings.IndexFunc(label, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
			}) >= 0 {
			return "not a host name"
		}
	}
	return ""
}

// momentoProvider builds the SDK credential provider for an API key (and,
// for a v2 key, its regional endpoint) with the public API of
// client-sdk-go v1.38.0, which has no v2 constructor: the key as
// auth.FromString reads it, then WithEndpoints to control., cache., token.
// and storage.<endpoint>:443 over TLS. A v1 JWT key's token endpoint, which
// v1.38.0 leaves empty, is derived from its cache host. Problems are
// reported under field and never quote the key.
func momentoProvider(key, endpoint string, probs *problems) (auth.CredentialProvider, momentoKey) {
	k, problem := parseMomentoKey(key)
	if problem != "" {
		probs.add("MomentoVendorConfig.APIKey", problem)
		return nil, k
	}
	switch {
	case k.kind == momentoKeyV2 && endpoint == "":
		probs.add("MomentoVendorConfig.Endpoint", "required with a v2 API key (the key names no endpoint; e.g. MOMENTO_ENDPOINT)")
		return nil, k
	case k.kind == momentoKeyV1 && endpoint != "":
		probs.add("MomentoVendorConfig.Endpoint", "set, but the API key is a v1 key, which names its own endpoint")
		return nil, k
	case endpoint != "":
		if p := endpointProblem(endpoint); p != "" {
			probs.add("MomentoVendorConfig.Endpoint", p)
			return nil, k
		}
	}
	provider, err := auth.FromString(key)
	if err != nil {
		// The SDK's parse errors may quote the key: never wrap them.
		probs.add("MomentoVendorConfig.APIKey", "not a valid Momento API key")
		return nil, k
	}
	var eps auth.AllEndpoints
	switch {
	case k.kind == momentoKeyV2:
		k.endpoint = endpoint
		eps = auth.AllEndpoints{
			ControlEndpoint: auth.Endpoint{Endpoint: "control." + endpoint + ":443"},
			CacheEndpoint:   auth.Endpoint{Endpoint: "cache." + endpoint + ":443"},
			TokenEndpoint:   auth.Endpoint{Endpoint: "token." + endpoint + ":443"},
			StorageEndpoint: auth.Endpoint{Endpoint: "storage." + endpoint + ":443"},
		}
	case k.jwt:
		base, ok := strings.CutPrefix(k.endpoint, "cache.")
		if !ok {
			probs.add("MomentoVendorConfig.APIKey", `a v1 JWT key whose cache host does not start with "cache."`)
			return nil, k
		}
		eps.TokenEndpoint = auth.Endpoint{Endpoint: "token." + base + ":443"}
	default:
		return provider, k
	}
	provider, err = provider.WithEndpoints(eps)
	if err != nil {
		probs.add("MomentoVendorConfig.Endpoint", fmt.Sprintf("the SDK refused the endpoints: %s", sanitize(errorMessage(err), []string{key})))
		return nil, k
	}
	return provider, k
}
