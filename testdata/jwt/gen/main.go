// Command gen writes the TEST-ONLY keys and JWK Sets under testdata/jwt used
// by the JWT and Cognito authenticator tests. The private keys it writes are
// public knowledge (they are committed to the repository): never use them
// for anything but tests.
//
// Run from the repository root:
//
//	go run ./testdata/jwt/gen
//
// (The go tool ignores testdata directories for ./... patterns, so this
// program is never built by `go build ./...` or `go vet ./...`.)
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/MicahParks/jwkset"
)

const dir = "testdata/jwt"

type spec struct {
	kid  string // also the file name stem
	alg  jwkset.ALG
	gen  func() (crypto.Signer, error)
	jwks bool // listed in jwks-public.json
}

func main() {
	specs := []spec{
		{"test-rsa-1", jwkset.AlgRS256, rsaKey(2048), true},
		{"test-rsa-2", jwkset.AlgRS256, rsaKey(2048), false},
		{"test-rsa-attacker", jwkset.AlgRS256, rsaKey(2048), false},
		{"test-rsa-1024-weak", jwkset.AlgRS256, rsaKey(1024), false},
		{"test-ec-1", jwkset.AlgES256, ecKey, true},
		{"test-ec-attacker", jwkset.AlgES256, ecKey, false},
		{"test-ed-1", jwkset.AlgEdDSA, edKey, true},
	}
	store := jwkset.NewMemoryStorage()
	for _, s := range specs {
		key, err := s.gen()
		if err != nil {
			log.Fatalf("%s: %v", s.kid, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			log.Fatalf("%s: %v", s.kid, err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, s.kid+".TEST-ONLY.key.pem"), pemBytes, 0o644); err != nil {
			log.Fatal(err)
		}
		if !s.jwks {
			continue
		}
		jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: s.kid, ALG: s.alg, USE: jwkset.UseSig},
		})
		if err != nil {
			log.Fatalf("%s: %v", s.kid, err)
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			log.Fatal(err)
		}
	}
	raw, err := store.JSONPublic(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	var pretty any
	if err := json.Unmarshal(raw, &pretty); err != nil {
		log.Fatal(err)
	}
	out, err := json.MarshalIndent(pretty, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks-public.json"), append(out, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", len(specs), "keys and jwks-public.json to", dir)
}

func rsaKey(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

func ecKey() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func edKey() (crypto.Signer, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	return k, err
}
