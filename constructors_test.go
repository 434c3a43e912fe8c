package tvm

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestConstructorsReportEveryProblem: every constructor reports all the
// problems of its configuration at once, each a *ConfigError naming its
// field (joined with errors.Join, so errors.As finds them and Unwrap()
// []error lists them), and returns no component.
func TestConstructorsReportEveryProblem(t *testing.T) {
	good := btHash(t, "pw") // bcrypt cost 4: below NewBasic's minimum of 10
	var nilLimiter *MemoryRateLimiter
	fallback := htMemoryLimiter(t, MemoryRateLimitConfig{PerSecond: 1})
	tests := []struct {
		name   string
		build  func() (any, error)
		fields []string
	}{
		{"NewHandler", func() (any, error) {
			return NewHandler(Config{
				RateLimit:      nilLimiter,
				TTL:            2 * time.Hour,
				MinTTL:         -time.Second,
				VendTimeout:    -1,
				MaxHeaderBytes: -1,
				RetryAfter:     -1,
				Reuse:          ReuseOptions{MinRemaining: 2, MaxEntries: -1},
				CORS:           CORSOptions{AllowedOrigins: []string{"*", "https://a.example/path"}, AllowedHeaders: []string{"bad header"}, MaxAge: 25 * time.Hour},
			})
		}, []string{
			"Config.Authenticator", "Config.Scopes", "Config.Vendor", "Config.RateLimit",
			"Config.TTL", "Config.MinTTL", "Config.VendTimeout", "Config.MaxHeaderBytes", "Config.RetryAfter",
			"Config.Reuse.MinRemaining", "Config.Reuse.MaxEntries",
			"Config.CORS.AllowedOrigins[0]", "Config.CORS.AllowedOrigins[1]", "Config.CORS.AllowedHeaders[0]", "Config.CORS.MaxAge",
		}},
		{"NewBasic", func() (any, error) {
			return NewBasic(BasicConfig{Realm: `a"b`, Users: []User{
				{Username: "", PasswordHash: "plain-text"},
				{Username: "a:b", PasswordHash: good},
				{Username: "c", PasswordHash: good, Groups: []string{""}},
				{Username: "c", PasswordHash: good[:20]},
			}})
		}, []string{
			"BasicConfig.Realm",
			"BasicConfig.Users[0].Username", "BasicConfig.Users[0].PasswordHash",
			"BasicConfig.Users[1].Username", "BasicConfig.Users[1].PasswordHash",
			"BasicConfig.Users[2].Groups[0]", "BasicConfig.Users[2].PasswordHash",
			"BasicConfig.Users[3].Username", "BasicConfig.Users[3].PasswordHash",
		}},
		{"NewBasic, no users", func() (any, error) { return NewBasic(BasicConfig{Realm: "x\n"}) },
			[]string{"BasicConfig.Users", "BasicConfig.Realm"}},
		{"NewGroupScopes", func() (any, error) {
			return NewGroupScopes(
				GroupRule{Default: true, Scope: readOnlyScope},
				GroupRule{Scope: Scope{{Role: ReadOnly, Cache: "ok"}, {Role: "root", Cache: "c"}}, TTL: 2 * time.Hour},
				GroupRule{Group: "g", Scope: Scope{{Role: PublishSubscribe, Cache: "c", Topic: "a b"}}},
				GroupRule{Group: "g"},
			)
		}, []string{
			"GroupScopes.Rules[0].Default",
			"GroupScopes.Rules[1].Group", "GroupScopes.Rules[1].TTL", "GroupScopes.Rules[1].Scope[1].role",
			"GroupScopes.Rules[2].Scope[0].topic",
			"GroupScopes.Rules[3].Group", "GroupScopes.Rules[3].Scope",
		}},
		{"NewNarrowing", func() (any, error) {
			return NewNarrowing(nil, NarrowOptions{CacheParam: "a&b", TopicParam: "k", KeyParam: "k"})
		}, []string{"Narrowing.inner", "NarrowOptions.CacheParam", "NarrowOptions.KeyParam"}},
		{"NewMomentoVendor", func() (any, error) {
			return NewMomentoVendor(MomentoVendorConfig{APIKey: "not-a-key", Retry: RetryOptions{Attempts: 11, BaseDelay: 2 * time.Second, MaxDelay: time.Second}})
		}, []string{"MomentoVendorConfig.APIKey", "MomentoVendorConfig.Retry.Attempts", "MomentoVendorConfig.Retry"}},
		{"NewMemoryRateLimiter", func() (any, error) {
			return NewMemoryRateLimiter(MemoryRateLimitConfig{PerSecond: math.NaN(), Burst: -1, MaxEntries: -1})
		}, []string{"MemoryRateLimitConfig.PerSecond", "MemoryRateLimitConfig.Burst", "MemoryRateLimitConfig.MaxEntries"}},
		{"NewMomentoRateLimiter", func() (any, error) {
			return NewMomentoRateLimiter(MomentoRateLimitConfig{CacheName: "a b", Window: 25 * time.Hour, Timeout: -1, FailClosed: true, Fallback: fallback})
		}, []string{
			"MomentoRateLimitConfig.Client", "MomentoRateLimitConfig.CacheName", "MomentoRateLimitConfig.Secret", "MomentoRateLimitConfig.Limit",
			"MomentoRateLimitConfig.Window", "MomentoRateLimitConfig.Timeout", "MomentoRateLimitConfig.FailClosed",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.build()
			if !isNil(c) {
				t.Errorf("a component (%T) returned with the error", c)
			}
			got := configFields(t, err)
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields\n  %q\nwant\n  %q\nerror:\n%v", got, tt.fields, err)
			}
			if len(tt.fields) > 1 {
				if _, joined := err.(interface{ Unwrap() []error }); !joined {
					t.Errorf("%d problems not joined with errors.Join: %T", len(tt.fields), err)
				}
			}
		})
	}
}
