package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"
)

// demoIdP is a small identity provider that plays Amazon Cognito's part when
// the example runs offline. It signs ID tokens (ES256, with a key generated
// at start) carrying the same claims as a Cognito ID token — iss, aud, sub,
// exp, token_use, cognito:username, cognito:groups — and publishes its public
// key as a JSON Web Key Set, so the token vending machine verifies them with
// the real JWT authenticator fetching the real JWKS over HTTP.
//
// It is a demo: every user shares one published password. Do not expose it
// beyond your machine.
type demoIdP struct {
	issuer   string
	audience string
	key      *ecdsa.PrivateKey
	kid      string
	users    []demoUser
	password [sha256.Size]byte
	ttl      time.Duration
	now      func() time.Time
}

// demoUser is a demo account and its groups.
type demoUser struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// demoPassword is the password of every demo account; the sign-in page shows it.
const demoPassword = "demo-password"

// Routes served by the demo identity provider.
const (
	jwksPath      = "/.well-known/jwks.json"
	discoveryPath = "/.well-known/openid-configuration"
	idpTokenPath  = "/idp/token"
)

// maxSignInBody bounds a sign-in request body.
const maxSignInBody = 4 << 10

// newDemoIdP returns an identity provider whose tokens carry iss = issuer
// and aud = audience and live for ttl.
func newDemoIdP(issuer, audience string, users []demoUser, password string, ttl time.Duration) (*demoIdP, error) {
	if issuer == "" || audience == "" || password == "" || ttl <= 0 {
		return nil, errors.New("demo idp: issuer, audience, password and a positive ttl are required")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo idp: generating key: %w", err)
	}
	kidBytes := make([]byte, 8)
	if _, err := rand.Read(kidBytes); err != nil {
		return nil, fmt.Errorf("demo idp: generating key id: %w", err)
	}
	return &demoIdP{
		issuer:   strings.TrimRight(issuer, "/"),
		audience: audience,
		key:      key,
		kid:      "demo-" + base64.RawURLEncoding.EncodeToString(kidBytes),
		users:    users,
		password: sha256.Sum256([]byte(password)),
		ttl:      ttl,
		now:      time.Now,
	}, nil
}

// Issuer is the `iss` of the tokens.
func (p *demoIdP) Issuer() string { return p.issuer }

// JWKSURL is where the key set is served.
func (p *demoIdP) JWKSURL() string { return p.issuer + jwksPath }

// Users lists the demo accounts.
func (p *demoIdP) Users() []demoUser { return p.users }

func (p *demoIdP) user(name string) (demoUser, bool) {
	for _, u := range p.users {
		if u.Username == name {
			return u, true
		}
	}
	return demoUser{}, false
}

// checkPassword compares fixed-length hashes in constant time.
func (p *demoIdP) checkPassword(password string) bool {
	h := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(h[:], p.password[:]) == 1
}

// Issue signs an ID token for a demo user.
func (p *demoIdP) Issue(username string) (string, time.Time, error) {
	u, ok := p.user(username)
	if !ok {
		return "", time.Time{}, fmt.Errorf("demo idp: unknown user %q", username)
	}
	now := p.now()
	exp := now.Add(p.ttl)
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	claims := jwt.MapClaims{
		"iss":              p.issuer,
		"aud":              p.audience,
		"sub":              u.Username,
		"iat":              now.Unix(),
		"auth_time":        now.Unix(),
		"exp":              exp.Unix(),
		"token_use":        "id",
		"cognito:username": u.Username,
		"cognito:groups":   groups,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = p.kid
	s, err := t.SignedString(p.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("demo idp: signing: %w", err)
	}
	return s, time.Unix(exp.Unix(), 0), nil
}

// jwk is one public key of a JSON Web Key Set (RFC 7517).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKS returns the key set document.
func (p *demoIdP) JWKS() ([]byte, error) {
	pub, err := p.key.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("demo idp: public key: %w", err)
	}
	raw := pub.Bytes() // 0x04 || X || Y, 32 bytes each for P-256
	if len(raw) != 65 {
		return nil, fmt.Errorf("demo idp: unexpected public key length %d", len(raw))
	}
	return json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{{
		Kty: "EC", Crv: "P-256",
		X:   base64.RawURLEncoding.EncodeToString(raw[1:33]),
		Y:   base64.RawURLEncoding.EncodeToString(raw[33:]),
		Kid: p.kid, Use: "sig", Alg: "ES256",
	}}})
}

// Mount adds the identity provider's routes to r.
func (p *demoIdP) Mount(r chi.Router) {
	r.Get(jwksPath, p.serveJWKS)
	r.Get(discoveryPath, p.serveDiscovery)
	r.Post(idpTokenPath, p.serveToken)
}

func (p *demoIdP) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	b, err := p.JWKS()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "internal", "key set unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

func (p *demoIdP) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"jwks_uri":                              p.JWKSURL(),
		"token_endpoint":                        p.issuer + idpTokenPath,
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"subject_types_supported":               []string{"public"},
		"response_types_supported":              []string{"id_token"},
	})
}

// signInRequest is the body of POST /idp/token, as JSON or as a form.
type signInRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// signInResponse is the answer to a successful sign-in.
type signInResponse struct {
	IDToken   string `json:"idToken"`
	TokenType string `json:"tokenType"`
	ExpiresIn int64  `json:"expiresIn"`
}

func (p *demoIdP) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInBody)
	var req signInRequest
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSONError(w, http.StatusBadRequest, "bad_request", "expected a JSON body {\"username\", \"password\"}")
			return
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			writeJSONError(w, http.StatusBadRequest, "bad_request", "malformed form")
			return
		}
		req.Username, req.Password = r.PostForm.Get("username"), r.PostForm.Get("password")
	default:
		writeJSONError(w, http.StatusUnsupportedMediaType, "bad_request", "use application/json or a form")
		return
	}
	_, known := p.user(req.Username)
	passOK := p.checkPassword(req.Password)
	if !known || !passOK {
		writeJSONError(w, http.StatusUnauthorized, "invalid_grant", "unknown user or wrong password")
		return
	}
	tok, exp, err := p.Issue(req.Username)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "internal", "could not issue a token")
		return
	}
	writeJSON(w, http.StatusOK, signInResponse{
		IDToken:   tok,
		TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(p.now()).Round(time.Second) / time.Second),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}
