package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"slices"
)

// minRSABits is the shortest RSA modulus accepted for verification.
const minRSABits = 2048

// algorithm is a supported signing algorithm and the test of the public
// keys that may verify it.
type algorithm struct {
	name string
	fits func(key any) bool
}

// algorithms is the one list of supported public-key signing algorithms
// (Issuer.Algorithms). "none" is deliberately absent; HMAC is apart
// (hmacAlgorithms).
var algorithms = []algorithm{
	{"RS256", isStrongRSA}, {"RS384", isStrongRSA}, {"RS512", isStrongRSA},
	{"PS256", isStrongRSA}, {"PS384", isStrongRSA}, {"PS512", isStrongRSA},
	{"ES256", isECDSAOn(elliptic.P256())}, {"ES384", isECDSAOn(elliptic.P384())}, {"ES512", isECDSAOn(elliptic.P521())},
	{"EdDSA", isEd25519},
}

// algorithmNames lists the names of algorithms, in order.
var algorithmNames = func() []string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.name
	}
	return names
}()

// supportedAlg reports whether alg (case-sensitive) is a supported
// public-key algorithm.
func supportedAlg(alg string) bool { return slices.Contains(algorithmNames, alg) }

// keyFitsAlg reports whether key may verify alg: RSA keys of at least
// minRSABits for RS* and PS*, the matching NIST curve for ES*, Ed25519 for
// EdDSA, and for HS* a secret ([]byte, only ever from the HMAC key source)
// at least as long as the hash output.
func keyFitsAlg(key any, alg string) bool {
	if n := hmacMinBytes(alg); n > 0 {
		k, ok := key.([]byte)
		return ok && len(k) >= n
	}
	i := slices.IndexFunc(algorithms, func(a algorithm) bool { return a.name == alg })
	return i >= 0 && algorithms[i].fits(key)
}

// hmacAlgorithms are the HMAC algorithms, allowed only with the HMAC key
// source, and the shortest secret each accepts (RFC 7518 section 3.2: no
// shorter than the hash output).
var hmacAlgorithms = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// isHMACAlg reports whether alg is HS256, HS384 or HS512.
func isHMACAlg(alg string) bool { _, ok := hmacAlgorithms[alg]; return ok }

// hmacMinBytes is the shortest secret alg accepts (0 for other algorithms).
func hmacMinBytes(alg string) int { return hmacAlgorithms[alg] }

func isStrongRSA(key any) bool {
	k, ok := key.(*rsa.PublicKey)
	return ok && k != nil && k.N != nil && k.N.BitLen() >= minRSABits
}

func isECDSAOn(curve elliptic.Curve) func(key any) bool {
	return func(key any) bool {
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k != nil && k.Curve == curve
	}
}

func isEd25519(key any) bool {
	k, ok := key.(ed25519.PublicKey)
	return ok && len(k) == ed25519.PublicKeySize
}
