package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is an OpenID-style issuer: an RSA key, a JWKS served on loopback
// (counting fetches), and pre-signed tokens.
type issuer struct {
	iss, url string
	srv      *http.Server
	hits     atomic.Int64
	valid    []string // "Bearer <jwt>" of distinct users, a third in the writers group
	forged   []string // signed by another key under the real kid
	attacker *rsa.PrivateKey
}

func newIssuer(users int) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	is := &issuer{iss: "https://load.issuer.test/", url: "http://" + l.Addr().String() + "/jwks.json", attacker: attacker}
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":%q,"e":%q}]}`,
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	is.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, jwks)
	})}
	go func() { _ = is.srv.Serve(l) }()
	now := time.Now()
	sign := func(k *rsa.PrivateKey, kid, sub string, groups []string) (string, error) {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": is.iss, "aud": "load", "sub": sub, "groups": groups,
			"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
		})
		t.Header["kid"] = kid
		s, err := t.SignedString(k)
		return "Bearer " + s, err
	}
	for i := range users {
		var groups []string
		if i%3 == 0 {
			groups = []string{"writers"}
		}
		v, err := sign(key, "k1", fmt.Sprintf("user-%04d", i), groups)
		if err != nil {
			return nil, err
		}
		is.valid = append(is.valid, v)
		if i < 100 {
			f, err := sign(attacker, "k1", fmt.Sprintf("user-%04d", i), groups)
			if err != nil {
				return nil, err
			}
			is.forged = append(is.forged, f)
		}
	}
	return is, nil
}

// randomKID returns a token naming a key id nobody has: each one a JWKS
// refresh if the authenticator did not rate limit them. Its signature is
// not checked before the key lookup, so a cheap fake one will do.
func (is *issuer) randomKID() string {
	header := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":"rnd-%016x"}`, mrand.Uint64())))
	claims := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"iss":%q,"aud":"load","sub":"mallory","exp":%d}`, is.iss, time.Now().Add(time.Hour).Unix())))
	return "Bearer " + header + "." + claims + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
}

func (is *issuer) close() { _ = is.srv.Close() }
