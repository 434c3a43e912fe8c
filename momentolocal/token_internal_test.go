package momentolocal

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tvmgo/tvm/internal/testenv"
)

func TestVerifyKey(t *testing.T) {
	clock := &testenv.ShiftedClock{}
	s, err := Start(Config{Now: clock.Now})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	other, err := Start(Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, other.Close()) }()

	perms := []Permission{{Role: RoleReadOnly, Cache: "default-cache", KeyPrefix: "a\x00/"}}
	disposable := func(mod func(*keyClaims)) string {
		c := &keyClaims{Kind: kindDisposable, TokenID: "alice", Perms: toClaimPerms(perms),
			RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, ExpiresAt: jwt.NewNumericDate(clock.Now().Add(time.Minute))}}
		if mod != nil {
			mod(c)
		}
		k, err := s.signKey(c)
		require.NoError(t, err)
		return k
	}
	good := disposable(nil)

	p, err := s.verifyKey(good)
	require.NoError(t, err)
	assert.Equal(t, &principal{tokenID: "alice", perms: perms}, p)

	p, err = s.verifyKey(s.RootAPIKey())
	require.NoError(t, err)
	assert.True(t, p.root)

	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	widened := strings.Replace(string(payload), `"r":"readonly"`, `"r":"readwrite"`, 1)
	require.NotEqual(t, string(payload), widened)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(widened)) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"iss": issuer, "knd": kindRoot}).SignedString(s.secret)
	require.NoError(t, err)

	// The same signature spelled with different non-significant trailing
	// bits: accepted by lenient base64 decoding, refused here.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	root := s.RootAPIKey()
	last := strings.IndexByte(alphabet, root[len(root)-1])
	malleable := root[:len(root)-1] + string(alphabet[last^1])

	bad := map[string]string{
		"non-canonical signature":   malleable,
		"empty":                     "",
		"garbage":                   "not-a-key",
		"tampered permissions":      tampered,
		"alg none":                  none,
		"other algorithm":           hs512,
		"other emulator's root key": other.RootAPIKey(),
		"wrong issuer":              disposable(func(c *keyClaims) { c.Issuer = "momento" }),
		"unknown kind":              disposable(func(c *keyClaims) { c.Kind = "admin" }),
		"disposable without exp":    disposable(func(c *keyClaims) { c.ExpiresAt = nil }),
		"expired":                   disposable(func(c *keyClaims) { c.ExpiresAt = jwt.NewNumericDate(clock.Now().Add(-time.Second)) }),
		"not yet valid":             disposable(func(c *keyClaims) { c.NotBefore = jwt.NewNumericDate(clock.Now().Add(time.Hour)) }),
	}
	for name, key := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := s.verifyKey(key)
			require.Error(t, err)
			if key != "" {
				assert.NotContains(t, err.Error(), key, "errors never contain the key")
			}
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", key))
			_, err = s.authenticate(ctx)
			assert.Equal(t, codes.Unauthenticated, status.Code(err))
		})
	}

	// The good key expires when the clock passes its exp.
	clock.Advance(2 * time.Minute)
	_, err = s.verifyKey(good)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
}

func TestAuthorizationFrom(t *testing.T) {
	tests := []struct {
		md   metadata.MD
		want string
	}{
		{nil, ""},
		{metadata.Pairs("authorization", "abc"), "abc"},
		{metadata.Pairs("authorization", "Bearer abc"), "abc"},
		{metadata.Pairs("authorization", " bearer  abc "), "abc"},
		{metadata.Pairs("authorization", "a", "authorization", "b"), ""}, // ambiguous
	}
	for _, tc := range tests {
		ctx := context.Background()
		if tc.md != nil {
			ctx = metadata.NewIncomingContext(ctx, tc.md)
		}
		assert.Equal(t, tc.want, authorizationFrom(ctx), "%v", tc.md)
	}
}
