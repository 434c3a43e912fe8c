package tvm

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/momentohq/client-sdk-go/auth"
)

// mkJWT returns an unsigned-looking JWT with the given claims JSON (the
// vendor never verifies a key; Momento does).
func mkJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("mk-signature-SECRET"))
}

// mkV2Key is a key shaped like the v2 API keys of today's Momento console:
// a JWT with "t": "g" and no endpoint.
var mkV2Key = mkJWT(`{"t":"g","id":"mk-v2-key-id-SECRET","p":"","exp":4102444800}`)

func TestParseMomentoKey(t *testing.T) {
	v1 := base64.StdEncoding.EncodeToString([]byte(`{"endpoint":"cell-1.example.com","api_key":"inner-SECRET"}`))
	tests := []struct {
		name, key string
		kind      string
		endpoint  string
	}{
		{"v1 base64 JSON", v1, momentoKeyV1, "cell-1.example.com"},
		{"v1 JWT with c and cp", mkJWT(`{"sub":"x","c":"cache.cell-2.example.com","cp":"control.cell-2.example.com"}`), momentoKeyV1, "cache.cell-2.example.com"},
		{"v2 JWT", mkV2Key, momentoKeyV2, ""},
		{"v2 JWT even with stray endpoint claims", mkJWT(`{"t":"g","c":"cache.x.example.com"}`), momentoKeyV2, ""},
		{"garbage", "not a key SECRET", "", ""},
		{"base64 of something else", base64.StdEncoding.EncodeToString([]byte("SECRET")), "", ""},
		{"v1 JSON without api_key", base64.StdEncoding.EncodeToString([]byte(`{"endpoint":"e.example.com"}`)), "", ""},
		{"JWT of two segments", "eyJhbGciOiJIUzI1NiJ9.eyJ0IjoiZyJ9", "", ""},
		{"JWT whose claims are not base64", "eyJhbGciOiJIUzI1NiJ9.!!!.c2ln", "", ""},
		{"JWT whose claims are not JSON", mkJWT(`SECRET`), "", ""},
		{"JWT of another kind (t is not g)", mkJWT(`{"t":"d","sub":"SECRET"}`), "", ""},
		{"JWT without endpoints or type", mkJWT(`{"sub":"SECRET"}`), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, problem := parseMomentoKey(tt.key)
			if tt.kind == "" {
				if problem == "" {
					t.Fatalf("parseMomentoKey accepted %q as %+v", tt.key, k)
				}
				if strings.Contains(problem, "SECRET") || strings.Contains(problem, tt.key) {
					t.Errorf("problem %q quotes the key", problem)
				}
				return
			}
			if problem != "" || k.kind != tt.kind || k.endpoint != tt.endpoint {
				t.Fatalf("parseMomentoKey = %+v, %q; want kind %s endpoint %q", k, problem, tt.kind, tt.endpoint)
			}
		})
	}
}

// TestMomentoVendorKeysAndEndpoints: a v2 key needs an endpoint, from which
// the vendor builds the SDK's endpoints (token./cache./control.<endpoint>
// on 443, TLS); a v1 key names its own; every refusal names the field and
// never the key.
func TestMomentoVendorKeysAndEndpoints(t *testing.T) {
	v1 := base64.StdEncoding.EncodeToString([]byte(`{"endpoint":"cell-1.example.com","api_key":"inner-SECRET"}`))
	v1JWT := mkJWT(`{"sub":"x","c":"cache.cell-2.example.com","cp":"control.cell-2.example.com"}`)
	const ep = "cell-4-us-west-2-1.prod.a.momentohq.com"
	ok := []struct {
		name, key, endpoint string
		token, cache, ctrl  string
		desc                string
	}{
		{"v2 key with its endpoint", mkV2Key, ep, "token." + ep + ":443", "cache." + ep + ":443", "control." + ep + ":443", "v2 API key, token endpoint token." + ep + ":443"},
		{"v1 base64 key", v1, "", "token.cell-1.example.com:443", "cache.cell-1.example.com:443", "control.cell-1.example.com:443", "v1 API key, token endpoint token.cell-1.example.com:443"},
		{"v1 JWT key: token endpoint derived from its cache host", v1JWT, "", "token.cell-2.example.com:443", "cache.cell-2.example.com:443", "control.cell-2.example.com:443", "v1 API key, token endpoint token.cell-2.example.com:443"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewMomentoVendor(MomentoVendorConfig{APIKey: tt.key, Endpoint: tt.endpoint, AuthConfig: mtQuiet})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			p := v.CredentialProvider()
			if p.GetTokenEndpoint() != tt.token || p.GetCacheEndpoint() != tt.cache || p.GetControlEndpoint() != tt.ctrl {
				t.Errorf("endpoints token %q cache %q control %q; want %q %q %q", p.GetTokenEndpoint(), p.GetCacheEndpoint(), p.GetControlEndpoint(), tt.token, tt.cache, tt.ctrl)
			}
			if !p.IsTokenEndpointSecure() || !p.IsCacheEndpointSecure() || !p.IsControlEndpointSecure() {
				t.Error("an endpoint is not TLS")
			}
			if got := v.String(); got != "tvm.MomentoVendor{"+tt.desc+"}" {
				t.Errorf("String() = %q, want the kind and token endpoint %q", got, tt.desc)
			}
			if strings.Contains(v.String(), "SECRET") || strings.Contains(v.String(), tt.key) {
				t.Errorf("String() %q reveals the key", v.String())
			}
			if !slices.Contains(v.secrets, tt.key) {
				t.Error("the key is not redacted from error messages")
			}
		})
	}

	bad := []struct {
		name, key, endpoint, field string
	}{
		{"v2 key without an endpoint", mkV2Key, "", "MomentoVendorConfig.Endpoint"},
		{"v1 key with an endpoint", v1, ep, "MomentoVendorConfig.Endpoint"},
		{"endpoint with a scheme", mkV2Key, "https://" + ep, "MomentoVendorConfig.Endpoint"},
		{"endpoint with a port", mkV2Key, ep + ":443", "MomentoVendorConfig.Endpoint"},
		{"endpoint with a path", mkV2Key, ep + "/v1", "MomentoVendorConfig.Endpoint"},
		{"endpoint that is an IP address", mkV2Key, "10.0.0.1", "MomentoVendorConfig.Endpoint"},
		{"endpoint that is not a host name", mkV2Key, "cell_4..example", "MomentoVendorConfig.Endpoint"},
		{"unparseable key", "SECRET-not-a-key", ep, "MomentoVendorConfig.APIKey"},
		{"v1 JWT whose cache host has no cache. prefix", mkJWT(`{"c":"cell-2.example.com","cp":"control.cell-2.example.com"}`), "", "MomentoVendorConfig.APIKey"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewMomentoVendor(MomentoVendorConfig{APIKey: tt.key, Endpoint: tt.endpoint, AuthConfig: mtQuiet})
			if err == nil {
				v.Close()
				t.Fatal("accepted")
			}
			if fields := configFields(t, err); !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("error %v: fields %q, want %q", err, fields, tt.field)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}

	t.Run("endpoint with a credential provider", func(t *testing.T) {
		p := mtProvider(t)
		_, err := NewMomentoVendor(MomentoVendorConfig{CredentialProvider: p, Endpoint: ep})
		if fields := configFields(t, err); !slices.Equal(fields, []string{"MomentoVendorConfig.Endpoint"}) {
			t.Errorf("error %v: fields %q", err, fields)
		}
	})
}

// mtProvider is a credential provider for a local server that nobody
// listens on; building a vendor with it dials nothing.
func mtProvider(t testing.TB) auth.CredentialProvider {
	t.Helper()
	p, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
