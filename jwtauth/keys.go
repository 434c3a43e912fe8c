package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// keySource finds the key that verifies a token. Implementations: static
// keys by kid (staticKeys), a static JWK Set and a remote JWK Set with
// refresh (both keyfuncSource).
type keySource interface {
	// lookup returns the public key named kid, or an error wrapping
	// errUnknownKID or errKeyAlgMismatch.
	lookup(ctx context.Context, t *jwt.Token, kid string) (any, error)
	// close stops background work; lookups keep answering from memory.
	close()
}

// newKeySource builds the one key source cfg sets (check has verified there
// is exactly one), allowing keys that verify one of algs. On error it also
// returns the name of the Config field to blame.
func newKeySource(cfg *Config, algs []string, remote remoteOptions) (keySource, string, error) {
	switch {
	case cfg.Keys != nil:
		ks, err := newStaticKeys(cfg.Keys, algs)
		return ks, "Keys", err
	case cfg.JWKSJSON != nil:
		ks, err := newStaticJWKS(cfg.JWKSJSON)
		return ks, "JWKSJSON", err
	case cfg.JWKSFile != "":
		ks, err := newJWKSFile(cfg.JWKSFile)
		return ks, "JWKSFile", err
	default:
		ks, err := newRemoteJWKS(remote)
		return ks, "JWKSURL", err
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
		return fmt.Sprintf("is a %T: give the public key (private and symmetric keys are refused)", k)
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

// staticKeys is the key source of Config.Keys.
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

func (staticKeys) close() {}

// keyfuncSource looks keys up with MicahParks/keyfunc, which also refuses a
// JWK whose "alg" differs from the token's and a JWK whose "use" is not
// "sig".
type keyfuncSource struct {
	kf      keyfunc.Keyfunc
	onClose func()
}

func (s *keyfuncSource) lookup(ctx context.Context, t *jwt.Token, _ string) (any, error) {
	key, err := s.kf.KeyfuncCtx(ctx)(t)
	if err == nil {
		return key, nil
	}
	if errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, errors.Join(errUnknownKID, err)
	}
	// JWK alg differs from the token's, or the JWK's use is not "sig".
	return nil, errors.Join(errKeyAlgMismatch, err)
}

func (s *keyfuncSource) close() {
	if s.onClose != nil {
		s.onClose()
	}
}

// newStaticJWKS parses a JWK Set document. Every key must have a kid and be
// usable (a public RSA key of at least 2048 bits, an EC or Ed25519 key, use
// "sig" or none); keys of types jwkset does not support are skipped.
func newStaticJWKS(raw []byte) (keySource, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	var problems []string
	usable := 0
	for i, m := range set.Keys {
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
		return nil, errors.New("no usable key in the JSON Web Key Set")
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: store, UseWhitelist: useAllowed})
	if err != nil {
		return nil, err
	}
	return &keyfuncSource{kf: kf}, nil
}

// newJWKSFile reads a JWK Set file of at most defaultMaxJWKSBytes.
func newJWKSFile(path string) (keySource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, defaultMaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > defaultMaxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", defaultMaxJWKSBytes)
	}
	return newStaticJWKS(raw)
}
