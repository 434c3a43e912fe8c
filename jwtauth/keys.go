package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// keySource finds the key that verifies a token. Implementations: static
// keys by kid (staticKeys), an HMAC secret (hmacKey), a static JWK Set and
// a remote JWK Set with refresh (both keyfuncSource), and a remote JWK Set
// found by discovery (discovered).
type keySource interface {
	// lookup returns the key named kid, or an error wrapping errUnknownKID
	// or errKeyAlgMismatch, or an *unavailableError.
	lookup(ctx context.Context, t *jwt.Token, kid string) (any, error)
	// current returns the key now in the set under kid, or nil, without
	// fetching anything: the cache of verified tokens asks it whether the
	// key that verified a token is still published.
	current(kid string) any
	// close stops background work; lookups keep answering from memory.
	close()
}

// sameKey reports whether two verification keys are the same key.
func sameKey(a, b any) bool {
	switch k := a.(type) {
	case []byte:
		o, ok := b.([]byte)
		return ok && subtle.ConstantTimeCompare(k, o) == 1
	case interface{ Equal(crypto.PublicKey) bool }:
		return b != nil && k.Equal(b)
	}
	return false
}

// newStaticSource builds the key source of an issuer that needs no network
// (Keys, JWKSJSON, JWKSFile, HMAC). On error it also returns the name of
// the Issuer field to blame.
func newStaticSource(pl *plan, maxBytes int64) (keySource, string, error) {
	cfg := pl.cfg
	switch pl.source {
	case srcKeys:
		ks, err := newStaticKeys(cfg.Keys, pl.algs)
		return ks, "Keys", err
	case srcJSON:
		ks, err := newStaticJWKS(cfg.JWKSJSON)
		return ks, "JWKSJSON", err
	case srcFile:
		ks, err := newJWKSFile(cfg.JWKSFile, maxBytes)
		return ks, "JWKSFile", err
	default:
		return hmacKey(slices.Clone(cfg.HMAC.Secret)), "HMAC", nil
	}
}

// useAllowed lists the JWK "use" values a verification key may have: "sig"
// or none.
var useAllowed = []jwkset.USE{jwkset.UseSig, ""}

// publicKeyProblem says what is wrong with a configured verification key,
// given the allowed algorithms, or returns "".
func publicKeyProblem(key any, algs []string) string {
	switch k := key.(type) {
	case nil:
		return "is nil"
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey, []byte:
		return fmt.Sprintf("is a %T: give the public key (private and symmetric keys are refused; HMAC secrets go in Issuer.HMAC)", k)
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "is a nil RSA key"
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Sprintf("is a %d-bit RSA key: at least %d bits are required", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "is a nil ECDSA key"
		}
	case ed25519.PublicKey:
	default:
		return fmt.Sprintf("has unsupported type %T (want *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey)", key)
	}
	if !slices.ContainsFunc(algs, func(alg string) bool { return keyFitsAlg(key, alg) }) {
		return fmt.Sprintf("cannot verify any of the configured Algorithms %v", algs)
	}
	return ""
}

// staticKeys is the key source of Issuer.Keys.
type staticKeys map[string]crypto.PublicKey

func newStaticKeys(keys map[string]crypto.PublicKey, algs []string) (keySource, error) {
	if len(keys) == 0 {
		return nil, errors.New("empty")
	}
	var problems []string
	out := make(staticKeys, len(keys))
	for _, kid := range slices.Sorted(maps.Keys(keys)) {
		if kid == "" {
			problems = append(problems, "a key has an empty kid")
			continue
		}
		if p := publicKeyProblem(keys[kid], algs); p != "" {
			problems = append(problems, fmt.Sprintf("key %q %s", kid, p))
			continue
		}
		out[kid] = keys[kid]
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

func (s staticKeys) lookup(_ context.Context, _ *jwt.Token, kid string) (any, error) {
	k, ok := s[kid]
	if !ok {
		return nil, errUnknownKID
	}
	return k, nil
}

func (s staticKeys) current(kid string) any { return s[kid] }

func (staticKeys) close() {}

// hmacKey is the key source of Issuer.HMAC: one secret, whatever the kid
// (the issuer checks HMACKey.KeyID). Only issuers whose Algorithms are all
// HMAC have one, and it is the only source that returns a []byte, which is
// what golang-jwt's HMAC verification needs and its public-key
// verifications refuse.
type hmacKey []byte

func (k hmacKey) lookup(context.Context, *jwt.Token, string) (any, error) { return []byte(k), nil }

func (k hmacKey) current(string) any { return []byte(k) }

func (hmacKey) close() {}

// keyfuncSource looks keys up with MicahParks/keyfunc, which also refuses a
// JWK whose "alg" differs from the token's and a JWK whose "use" is not
// "sig". store is the key set itself (for current, which must not fetch).
type keyfuncSource struct {
	kf      keyfunc.Keyfunc
	store   jwkset.Storage
	loaded  func() bool // nil: always
	name    string      // Issuer.Name, for unavailableError
	retry   time.Duration
	lastErr func() error
	onClose func()
}

func (s *keyfuncSource) lookup(ctx context.Context, t *jwt.Token, _ string) (any, error) {
	key, err := s.kf.KeyfuncCtx(ctx)(t)
	if err == nil {
		return key, nil
	}
	if errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if s.loaded != nil && !s.loaded() {
			// The key set was never fetched: the token may be fine.
			return nil, &unavailableError{issuer: s.name, cause: s.lastErr(), retryAfter: s.retry}
		}
		return nil, errors.Join(errUnknownKID, err)
	}
	// JWK alg differs from the token's, or the JWK's use is not "sig".
	return nil, errors.Join(errKeyAlgMismatch, err)
}

func (s *keyfuncSource) current(kid string) any {
	jwk, err := s.store.KeyRead(context.Background(), kid)
	if err != nil {
		return nil
	}
	return jwk.Key()
}

func (s *keyfuncSource) close() {
	if s.onClose != nil {
		s.onClose()
	}
}

// newStaticJWKS parses a JWK Set document. Keys whose use is "enc" are
// skipped (providers such as Keycloak publish one); every other key must
// have a kid and be usable (a public RSA key of at least 2048 bits, an EC
// or Ed25519 key, use "sig" or none); keys of types jwkset does not support
// are skipped. At least one usable key must remain.
func newStaticJWKS(raw []byte) (keySource, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	var problems []string
	usable := 0
	for i, m := range set.Keys {
		if m.USE == jwkset.UseEnc {
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			problems = append(problems, fmt.Sprintf("key #%d: %v", i, err))
			continue
		}
		name := fmt.Sprintf("key #%d", i)
		if m.KID == "" {
			problems = append(problems, name+" has no kid")
			continue
		}
		name = fmt.Sprintf("key %q", m.KID)
		if !slices.Contains(useAllowed, m.USE) {
			problems = append(problems, fmt.Sprintf("%s has use %q, not \"sig\"", name, m.USE))
			continue
		}
		if p := publicKeyProblem(jwk.Key(), algorithmNames); p != "" {
			problems = append(problems, name+" "+p)
			continue
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			return nil, err
		}
		usable++
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if usable == 0 {
		return nil, errors.New("no usable signing key in the JSON Web Key Set")
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: store, UseWhitelist: useAllowed})
	if err != nil {
		return nil, err
	}
	return &keyfuncSource{kf: kf, store: store}, nil
}

// newJWKSFile reads a JWK Set file of at most maxBytes.
func newJWKSFile(path string, maxBytes int64) (keySource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > maxBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxBytes)
	}
	return newStaticJWKS(raw)
}
