package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyFitsAlg checks the key/algorithm pairing table.
func TestKeyFitsAlg(t *testing.T) {
	ks := jtKeys(t)
	type pair struct {
		key any
		alg string
	}
	ok := []pair{
		{&ks.rsa1.PublicKey, "RS256"}, {&ks.rsa1.PublicKey, "PS512"},
		{&ks.ec1.PublicKey, "ES256"}, {ks.ed1.Public(), "EdDSA"},
	}
	bad := []pair{
		{&ks.rsa1.PublicKey, "ES256"}, {&ks.rsa1.PublicKey, "EdDSA"}, {&ks.rsa1.PublicKey, "HS256"},
		{&ks.rsaWeak.PublicKey, "RS256"},
		{&ks.ec1.PublicKey, "ES384"}, {&ks.ec1.PublicKey, "RS256"},
		{ks.ed1.Public(), "ES256"},
		{[]byte("secret"), "HS256"}, {ks.rsa1, "RS256"}, {nil, "RS256"},
	}
	for _, p := range ok {
		assert.True(t, keyFitsAlg(p.key, p.alg), "%T %s", p.key, p.alg)
	}
	for _, p := range bad {
		assert.False(t, keyFitsAlg(p.key, p.alg), "%T %s", p.key, p.alg)
	}
	assert.NotEmpty(t, publicKeyProblem(crypto.PublicKey(nil), []string{"RS256"}))
}

// TestEveryAlgorithm signs a token with each supported algorithm and checks
// that an authenticator allowing only that algorithm accepts it, and that
// one allowing every other algorithm refuses it (bad_algorithm).
func TestEveryAlgorithm(t *testing.T) {
	assert.Equal(t, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"},
		algorithmNames, "the list documented on Config.Algorithms")
	ks := jtKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	signers := map[string]crypto.Signer{
		"RS256": ks.rsa1, "RS384": ks.rsa1, "RS512": ks.rsa1, "PS256": ks.rsa1, "PS384": ks.rsa1, "PS512": ks.rsa1,
		"ES256": ks.ec1, "ES384": p384, "ES512": p521, "EdDSA": ks.ed1,
	}
	require.Len(t, signers, len(algorithmNames))
	for _, alg := range algorithmNames {
		t.Run(alg, func(t *testing.T) {
			signer := signers[alg]
			cfg := jtConfig()
			cfg.Issuers[0].Algorithms = []string{alg}
			cfg.Issuers[0].Keys = map[string]crypto.PublicKey{"k": signer.Public()}
			tok := jtSign(t, jwt.GetSigningMethod(alg), signer, "k", jtBaseClaims(), nil)
			_, err := jtMustNew(t, cfg).VerifyToken(context.Background(), tok)
			require.NoError(t, err)

			// Every other algorithm allowed: refused before any key lookup.
			cfg.Issuers[0].Algorithms = slices.DeleteFunc(slices.Clone(algorithmNames), func(a string) bool { return a == alg })
			cfg.Issuers[0].Keys = map[string]crypto.PublicKey{"other": &ks.rsa2.PublicKey}
			if publicKeyProblem(signer.Public(), cfg.Issuers[0].Algorithms) == "" {
				cfg.Issuers[0].Keys["k"] = signer.Public() // an RSA key still fits the other RS* and PS*
			}
			_, err = jtMustNew(t, cfg).VerifyToken(context.Background(), tok)
			var te *TokenError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, TokenBadAlgorithm, te.Code)
		})
	}
}
