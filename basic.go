package tvm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Limits on Basic credentials. Longer inputs are rejected as invalid
// credentials before any hashing.
const (
	// MaxBasicUsernameLength is the longest username, in bytes, a
	// BasicAuthenticator accepts.
	MaxBasicUsernameLength = 256
	// MaxBasicPasswordLength is the longest password, in bytes, a
	// BasicAuthenticator accepts: bcrypt reads only the first 72 bytes, so a
	// longer password would be silently truncated.
	MaxBasicPasswordLength = 72
	// MaxBasicBcryptCost is the highest bcrypt cost NewBasic accepts. Every
	// request runs one bcrypt comparison, and a higher cost would make each
	// one take seconds.
	MaxBasicBcryptCost = 14
	// maxBasicHeaderLength bounds the Authorization header value.
	maxBasicHeaderLength = len("Basic ") + (MaxBasicUsernameLength+1+MaxBasicPasswordLength+2)/3*4
)

// Header names of the shared-credentials mode of Momento's reference token
// vending machine clients, honoured when BasicConfig.AllowCredentialHeaders
// is set.
const (
	UsernameHeader = "username"
	PasswordHeader = "password"
)

// User is one account of a BasicAuthenticator.
type User struct {
	// Username is the name the caller presents. It becomes Identity.Subject
	// (and so, by default, the token id). It must be non-empty valid UTF-8
	// without control characters or ':' and at most
	// MaxBasicUsernameLength bytes.
	Username string `json:"username" yaml:"username"`
	// PasswordHash is the bcrypt hash of the user's password, e.g. the
	// output of `htpasswd -nbBC 12 user password` after the colon or of
	// bcrypt.GenerateFromPassword. Plain-text passwords are refused. Give
	// every user the same cost: a caller can tell costs apart by timing.
	PasswordHash string `json:"passwordHash" yaml:"passwordHash"`
	// Groups become Identity.Groups, for group rules (GroupScopes).
	Groups []string `json:"groups,omitempty" yaml:"groups,omitempty"`
}

// BasicConfig configures shared-credential authentication: HTTP Basic
// (RFC 7617) and, optionally, the "username" and "password" headers sent by
// Momento's reference token vending machine clients.
type BasicConfig struct {
	// Users are the accepted accounts. At least one is required and
	// usernames must be unique.
	Users []User
	// Realm is the realm of the `WWW-Authenticate: Basic` challenge.
	// Default "tvm". It must not contain '"', '\\' or control characters.
	Realm string
	// AllowCredentialHeaders also accepts the credentials in the "username"
	// and "password" request headers. When both these headers and an
	// Authorization header are present they must carry the same
	// credentials.
	AllowCredentialHeaders bool
}

// BasicAuthenticator verifies shared credentials against a fixed list of
// users with bcrypt-hashed passwords. It is safe for concurrent use.
//
// The comparison does not reveal, by timing, which usernames exist: the
// SHA-256 of the presented username is compared in constant time with that
// of every configured user, without early exit, and exactly one bcrypt
// comparison runs per request, against a dummy hash of the same cost when
// the user is unknown.
type BasicAuthenticator struct {
	users   []basicUser
	dummy   []byte // bcrypt hash of a random password nobody knows
	realm   string
	headers bool
	err     error // set only by Basic for an invalid configuration
	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, password []byte) error
}

type basicUser struct {
	nameHash [sha256.Size]byte
	username string
	hash     []byte
	groups   []string
}

// NewBasic returns a BasicAuthenticator for cfg, or an error wrapping
// ErrInvalidConfig (a *ConfigError) when a user is missing a name or has an
// invalid bcrypt hash, when two users share a name, or when the realm is
// unusable.
func NewBasic(cfg BasicConfig) (*BasicAuthenticator, error) {
	if len(cfg.Users) == 0 {
		return nil, &ConfigError{Field: "BasicConfig.Users", Problem: "at least one user is required"}
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "tvm"
	}
	if strings.ContainsAny(realm, "\"\\") || hasControl(realm) || !utf8.ValidString(realm) {
		return nil, &ConfigError{Field: "BasicConfig.Realm", Problem: "must not contain quotes, backslashes or control characters"}
	}
	a := &BasicAuthenticator{realm: realm, headers: cfg.AllowCredentialHeaders, compare: bcrypt.CompareHashAndPassword}
	seen := make(map[string]bool, len(cfg.Users))
	maxCost := bcrypt.MinCost
	for i, u := range cfg.Users {
		field := fmt.Sprintf("BasicConfig.Users[%d]", i)
		if err := checkUsername(u.Username); err != nil {
			return nil, &ConfigError{Field: field + ".Username", Problem: err.Error()}
		}
		if seen[u.Username] {
			return nil, &ConfigError{Field: field + ".Username", Problem: "duplicate username"}
		}
		seen[u.Username] = true
		cost, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			// Never echo the hash (or a plain-text password pasted by mistake).
			return nil, &ConfigError{Field: field + ".PasswordHash", Problem: "not a valid bcrypt hash"}
		}
		if cost > MaxBasicBcryptCost {
			return nil, &ConfigError{Field: field + ".PasswordHash", Problem: fmt.Sprintf("bcrypt cost %d is above the maximum %d", cost, MaxBasicBcryptCost)}
		}
		maxCost = max(maxCost, cost)
		a.users = append(a.users, basicUser{
			nameHash: sha256.Sum256([]byte(u.Username)),
			username: u.Username,
			hash:     []byte(u.PasswordHash),
			groups:   slices.Clone(u.Groups),
		})
	}
	// The dummy hash has the highest cost in use, so an unknown user costs
	// as much as the slowest known one.
	random := make([]byte, 32)
	_, _ = rand.Read(random) // crypto/rand.Read never fails
	pw := base64.RawStdEncoding.EncodeToString(random)[:MaxBasicPasswordLength/2]
	dummy, err := bcrypt.GenerateFromPassword([]byte(pw), maxCost)
	if err != nil {
		return nil, fmt.Errorf("tvm: generating the dummy bcrypt hash: %w", err)
	}
	a.dummy = dummy
	return a, nil
}

// Basic is like NewBasic but never returns nil: when cfg is invalid the
// returned authenticator refuses every request, and its Validate method
// returns the configuration error (NewHandler calls it and fails).
func Basic(cfg BasicConfig) Authenticator {
	a, err := NewBasic(cfg)
	if err != nil {
		return &BasicAuthenticator{err: err, realm: "tvm"}
	}
	return a
}

// Validate returns the configuration error of an authenticator made by
// Basic from an invalid configuration, and nil otherwise.
func (a *BasicAuthenticator) Validate() error { return a.err }

// Challenge returns the WWW-Authenticate challenge of 401 responses:
// `Basic realm="<realm>", charset="UTF-8"`.
func (a *BasicAuthenticator) Challenge() string {
	return `Basic realm="` + a.realm + `", charset="UTF-8"`
}

func checkUsername(name string) error {
	switch {
	case name == "":
		return errors.New("required")
	case len(name) > MaxBasicUsernameLength:
		return fmt.Errorf("longer than %d bytes", MaxBasicUsernameLength)
	case !utf8.ValidString(name), hasControl(name):
		return errors.New("must be valid UTF-8 without control characters")
	case strings.Contains(name, ":"):
		return errors.New("must not contain ':'")
	}
	return nil
}

// Authenticate verifies the request's Basic credentials (and, when enabled,
// its "username"/"password" headers). It returns an error wrapping
// ErrNoCredentials when there are none and ErrInvalidCredentials when they
// are malformed, oversized, ambiguous or wrong. Errors never contain the
// presented username or password.
func (a *BasicAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	if a.err != nil {
		return Identity{}, fmt.Errorf("%w: basic authenticator is misconfigured: %w", ErrInvalidCredentials, a.err)
	}
	user, pass, err := a.credentials(r)
	if err != nil {
		return Identity{}, err
	}
	if len(user) > MaxBasicUsernameLength || len(pass) > MaxBasicPasswordLength {
		return Identity{}, fmt.Errorf("%w: basic credentials too long", ErrInvalidCredentials)
	}

	// Find the user in constant time: compare against every user, no early
	// exit, and select the index without branching on secret data.
	presented := sha256.Sum256([]byte(user))
	found, idx := 0, 0
	for i := range a.users {
		eq := subtle.ConstantTimeCompare(presented[:], a.users[i].nameHash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	hash := a.dummy
	if found == 1 {
		hash = a.users[idx].hash
	}
	// Always exactly one bcrypt comparison.
	ok := a.compare(hash, []byte(pass)) == nil
	if found != 1 || !ok {
		return Identity{}, fmt.Errorf("%w: wrong username or password", ErrInvalidCredentials)
	}
	u := &a.users[idx]
	return Identity{
		Subject: u.username,
		Groups:  slices.Clone(u.groups),
		Claims:  map[string]any{"sub": u.username},
		Method:  MethodBasic,
	}, nil
}

// credentials extracts the presented username and password.
func (a *BasicAuthenticator) credentials(r *http.Request) (user, pass string, err error) {
	var fromAuth, fromHeaders bool
	var aUser, aPass, hUser, hPass string

	switch authz := r.Header.Values("Authorization"); len(authz) {
	case 0:
	case 1:
		aUser, aPass, err = parseBasic(authz[0])
		if err != nil {
			return "", "", err
		}
		fromAuth = true
	default:
		return "", "", fmt.Errorf("%w: more than one Authorization header", ErrInvalidCredentials)
	}

	if a.headers {
		users, passes := r.Header.Values(UsernameHeader), r.Header.Values(PasswordHeader)
		switch {
		case len(users) == 0 && len(passes) == 0:
		case len(users) == 1 && len(passes) == 1:
			hUser, hPass, fromHeaders = users[0], passes[0], true
		default:
			return "", "", fmt.Errorf("%w: username and password headers must each appear exactly once", ErrInvalidCredentials)
		}
	}

	switch {
	case fromAuth && fromHeaders:
		// Both present: they must agree. Compare in constant time anyway.
		su, sp := sha256.Sum256([]byte(aUser)), sha256.Sum256([]byte(aPass))
		tu, tp := sha256.Sum256([]byte(hUser)), sha256.Sum256([]byte(hPass))
		if subtle.ConstantTimeCompare(su[:], tu[:])&subtle.ConstantTimeCompare(sp[:], tp[:]) != 1 {
			return "", "", fmt.Errorf("%w: Authorization header and credential headers disagree", ErrInvalidCredentials)
		}
		return aUser, aPass, nil
	case fromAuth:
		return aUser, aPass, nil
	case fromHeaders:
		if hUser == "" {
			return "", "", fmt.Errorf("%w: empty username", ErrInvalidCredentials)
		}
		return hUser, hPass, nil
	}
	return "", "", fmt.Errorf("%w: no basic credentials", ErrNoCredentials)
}

// parseBasic parses an Authorization header value of the Basic scheme.
func parseBasic(v string) (user, pass string, err error) {
	if len(v) > maxBasicHeaderLength {
		return "", "", fmt.Errorf("%w: Authorization header too long", ErrInvalidCredentials)
	}
	scheme, payload, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", fmt.Errorf("%w: Authorization header is not of the Basic scheme", ErrInvalidCredentials)
	}
	payload = strings.TrimLeft(payload, " ")
	raw, err := base64.StdEncoding.Strict().DecodeString(payload)
	if err != nil {
		return "", "", fmt.Errorf("%w: malformed Basic credentials", ErrInvalidCredentials)
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("%w: malformed Basic credentials", ErrInvalidCredentials)
	}
	if user == "" {
		return "", "", fmt.Errorf("%w: empty username", ErrInvalidCredentials)
	}
	return user, pass, nil
}
