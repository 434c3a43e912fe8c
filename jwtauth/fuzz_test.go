package jwtauth

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tvmgo/tvm"
)

// FuzzAuthenticate feeds arbitrary Authorization header values to an
// authenticator with static keys. It must never panic; every refusal must
// be tvm.ErrNoCredentials or tvm.ErrInvalidCredentials (never both), with a
// zero identity; and anything accepted must be a token that verifies on its
// own under the configured keys and allowed algorithms, so no unsigned or
// garbage token ever passes.
//
//	go test -run '^$' -fuzz FuzzAuthenticate -fuzztime 60s ./jwtauth/
func FuzzAuthenticate(f *testing.F) {
	ks := jtKeys(f)
	keys := map[string]crypto.PublicKey{
		jtRSAKID: &ks.rsa1.PublicKey,
		jtECKID:  &ks.ec1.PublicKey,
		jtEdKID:  ks.ed1.Public(),
	}
	cfg := jtConfig()
	cfg.Issuers[0].Keys = keys
	a, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = a.Close() })

	rs := jtSign(f, jwt.SigningMethodRS256, ks.rsa1, jtRSAKID, jtBaseClaims(), nil)
	es := jtSign(f, jwt.SigningMethodES256, ks.ec1, jtECKID, jtBaseClaims(), nil)
	ed := jtSign(f, jwt.SigningMethodEdDSA, ks.ed1, jtEdKID, jtBaseClaims(), nil)
	parts := strings.Split(rs, ".")
	for _, seed := range []string{
		"", " ", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
		"Bearer " + rs, "bearer " + es, "BEARER " + ed, "Bearer  " + rs, "Bearer\t" + rs,
		"Bearer " + rs + "." + parts[1], "Bearer " + parts[0] + "." + parts[1] + ".",
		"Bearer " + jtUnsigned(f, map[string]any{"alg": "none", "kid": jtRSAKID}, jtBaseClaims()),
		"Bearer " + jtSign(f, jwt.SigningMethodHS256, ks.rsa1PublicPEM, jtRSAKID, jtBaseClaims(), nil),
		"Bearer " + jtSign(f, jwt.SigningMethodRS256, ks.rsaAttacker, jtRSAKID, jtBaseClaims(), nil),
		"Bearer " + jtSign(f, jwt.SigningMethodRS256, ks.rsa1, nil, jtBaseClaims(), nil),
		"Bearer " + strings.Repeat(".", 100), "Bearer a.b.c", "Bearer e30.e30.e30",
		"Bearer " + rs + ", Bearer " + rs,
	} {
		f.Add(seed)
	}

	allowed := map[string]bool{"RS256": true, "ES256": true, "EdDSA": true}
	f.Fuzz(func(t *testing.T, header string) {
		r := (&http.Request{Method: http.MethodGet, Header: http.Header{"Authorization": {header}}}).WithContext(context.Background())
		id, err := a.Authenticate(r)
		if err != nil {
			noCreds, invalid := errors.Is(err, tvm.ErrNoCredentials), errors.Is(err, tvm.ErrInvalidCredentials)
			if noCreds == invalid {
				t.Fatalf("refusal must be exactly one of tvm.ErrNoCredentials / tvm.ErrInvalidCredentials: %v", err)
			}
			if id.Subject != "" || id.Claims != nil || id.Groups != nil || !id.ExpiresAt.IsZero() || id.Method != "" {
				t.Fatalf("refusal with a non-zero identity: %+v", id)
			}
			if invalid {
				var te *TokenError
				if !errors.As(err, &te) || te.Code == "" {
					t.Fatalf("invalid credentials without a TokenError code: %v", err)
				}
			}
			if tv := strings.TrimSpace(header); len(tv) >= 24 && strings.Contains(err.Error(), tv[7:]) {
				t.Fatalf("error message contains the token: %v", err)
			}
			return
		}

		// Accepted: check independently that the token is genuine.
		v := strings.Trim(header, " \t")
		if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
			t.Fatalf("accepted a header without a Bearer scheme: %q", header)
		}
		tok := v[7:]
		var alg string
		_, perr := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
			alg = tk.Method.Alg()
			kid, _ := tk.Header["kid"].(string)
			k, ok := keys[kid]
			if !ok {
				return nil, errors.New("unknown kid")
			}
			return k, nil
		}, jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}), jwt.WithTimeFunc(jtClock),
			jwt.WithLeeway(30*time.Second), jwt.WithExpirationRequired(), jwt.WithIssuer(jtIssuer), jwt.WithAudience(jtAudience))
		if perr != nil {
			t.Fatalf("accepted a token that does not verify independently: %v", perr)
		}
		if !allowed[alg] {
			t.Fatalf("accepted alg %q", alg)
		}
		if id.Subject == "" || id.Method != "jwt" {
			t.Fatalf("accepted with a bad identity: %+v", id)
		}
	})
}

// FuzzClaimPath feeds arbitrary claim paths to the parser: it never
// panics, and an accepted path has one meaning: its canonical form parses
// back to the same names.
//
//	go test -run '^$' -fuzz FuzzClaimPath -fuzztime 60s ./jwtauth/
func FuzzClaimPath(f *testing.F) {
	for _, seed := range []string{"groups", "realm_access.roles", `resource_access["my.client"].roles`,
		`["https://example.com/roles"]`, `a["b\"c"]`, "a..b", `["\u00e9"]`, "cognito:groups", `[""]`, `a[`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		cp, problem := parseClaimPath(p)
		if problem != "" {
			if cp != nil {
				t.Fatalf("refused %q with a path", p)
			}
			return
		}
		if len(cp) == 0 {
			t.Fatalf("accepted %q as an empty path", p)
		}
		again, problem := parseClaimPath(cp.String())
		if problem != "" || len(again) != len(cp) {
			t.Fatalf("%q -> %q -> %q (%s)", p, cp.String(), again, problem)
		}
		for i := range cp {
			if cp[i] != again[i] {
				t.Fatalf("%q -> %q: name %d differs", p, cp.String(), i)
			}
		}
	})
}
