package jwtauth

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"github.com/tvmgo/tvm"
)

// BenchmarkHandlerJWT is tvm's handler with this authenticator, as
// cmd/tvmload's jwt-reuse scenario runs it: RS256 tokens of 1,000 users
// presented again and again, a templated scope for a third of them, token
// reuse on, a vendor that answers at once, the log line discarded.
//
//	go test -run '^$' -bench HandlerJWT -benchmem ./jwtauth/
func BenchmarkHandlerJWT(b *testing.B) {
	ks := jtKeys(b)
	for _, bc := range []struct {
		name    string
		disable bool
	}{{"cached", false}, {"uncached", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := jtConfig()
			cfg.Now = nil
			cfg.DisableCache = bc.disable
			cfg.Issuers[0].Keys = map[string]crypto.PublicKey{jtRSAKID: &ks.rsa1.PublicKey}
			a, err := New(cfg)
			require.NoError(b, err)
			b.Cleanup(func() { _ = a.Close() })
			scopes, err := tvm.NewGroupScopes(
				tvm.GroupRule{Group: "writers", Scope: tvm.Scope{{Role: tvm.PublishSubscribe, Cache: "default-cache", Topic: "user-{sub}"}}},
				tvm.GroupRule{Default: true, Scope: tvm.Scope{{Role: tvm.SubscribeOnly, Cache: "default-cache", Topic: tvm.All}}},
			)
			require.NoError(b, err)
			h, err := tvm.NewHandler(tvm.Config{Authenticator: a, Scopes: scopes, Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
				Vendor: jtVendor(func(g tvm.Grant) (tvm.Token, error) {
					return tvm.Token{AuthToken: "token-" + g.TokenID, ExpiresAt: time.Now().Add(g.TTL)}, nil
				})})
			require.NoError(b, err)
			now := time.Now()
			reqs := make([]*http.Request, 1000)
			for i := range reqs {
				c := jtBaseClaims()
				c["sub"] = fmt.Sprintf("user-%04d", i)
				c["exp"], c["iat"], c["nbf"] = now.Add(2*time.Hour).Unix(), now.Unix(), now.Unix()
				if i%3 == 0 {
					c["groups"] = []any{"writers"}
				} else {
					delete(c, "groups")
				}
				r := httptest.NewRequest(http.MethodGet, "/api/momento/token", nil).WithContext(context.Background())
				r.Header.Set("Authorization", "Bearer "+jtSign(b, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, c, nil))
				reqs[i] = r
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, reqs[i%len(reqs)])
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body.String())
				}
				i++
			}
		})
	}
}
