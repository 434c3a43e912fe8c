package tvm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Limits on Basic credentials. Longer inputs are rejected as invalid
// credentials before any hashing.
const (
	maxBasicUsernameLength = 256
	// bcrypt reads only the first 72 bytes: a longer password would be
	// silently truncated.
	maxBasicPasswordLength = 72
	// Every request runs one bcrypt comparison; a higher cost would make
	// each one take seconds.
	maxBasicBcryptCost   = 14
	minBasicBcryptCost   = bcrypt.DefaultCost // 10, OWASP's minimum
	maxBasicHeaderLength = len("Basic ") + (maxBasicUsernameLength+1+maxBasicPasswordLength+2)/3*4
)

// The request headers of the shared-credentials mode of Momento's
// reference token vending machine clients (BasicConfig.AllowCredentialHeaders).
const (
	usernameHeader = "username"
	passwordHeader = "password"
)

// User is one account of a BasicAuthenticator.
type User struct {
	// Username is the name the caller presents. It becomes Identity.Subject
	// (and so, by default, the token id). It must be non-empty valid UTF-8
	// without control characters or ':' and at most
	// maxBasicUsernameLength bytes.
	Username string `json:"username" yaml:"username"`
	// PasswordHash is the bcrypt hash of the user's password, e.g. the
	// output of `tvm hash-password`, of `htpasswd -nbBC 12 user password`
	// after the colon, or of bcrypt.GenerateFromPassword; cost 10 to 14,
	// the same for every user of a BasicAuthenticator (a caller could tell
	// users of different costs apart by timing). Plain-text passwords are
	// refused.
	PasswordHash string `json:"passwordHash" yaml:"passwordHash"`
	// Groups become Identity.Groups, for group rules (GroupScopes).
	Groups []string `json:"groups,omitempty" yaml:"groups,omitempty"`
}

// BasicConfig configures shared-credential authentication: HTTP Basic
// (RFC 7617) and, optionally, the "username" and "password" headers sent by
// Momento's reference token vending machine clients.
type BasicConfig struct {
	// Users are the accepted accounts. At least one is required and
	// usernames must be unique. Passwords longer than 72 bytes (bcrypt's
	// limit) are refused.
	Users []User
	// Realm is the realm of the `WWW-Authenticate: Basic` challenge.
	// Default "tvm". It must not contain '"', '\\' or control characters.
	Realm string
	// AllowCredentialHeaders also accepts the credentials in the "username"
	// and "password" request headers, as Momento's reference clients send
	// them (allow these headers in CORSOptions.AllowedHeaders for
	// browsers). When both these headers and an Authorization header are
	// present they must carry the same credentials. Default false.
	AllowCredentialHeaders bool
	// MaxConcurrentChecks bounds the bcrypt comparisons running at once
	// (each takes a core for tens of milliseconds), so that a flood of bad
	// logins cannot push a legitimate login's latency up without end; one
	// more is reserved to credentials that passed before (see
	// BasicAuthenticator). Logins beyond it wait in line, those credentials
	// first, up to one second and at most 32 per check; the others are
	// shed with ErrOverloaded (503 with Retry-After). Default: half of GOMAXPROCS at construction, rounded
	// up, so that a flood leaves CPUs for the rest of the server; negative:
	// no bound.
	MaxConcurrentChecks int
}

// BasicAuthenticator verifies shared credentials against a fixed list of
// users with bcrypt-hashed passwords. It is safe for concurrent use.
//
// The comparison does not reveal, by timing, which usernames exist: the
// SHA-256 of the presented username is compared in constant time with that
// of every configured user, without early exit, and exactly one bcrypt
// comparison runs per request, against a dummy hash of the users' one cost
// when the user is unknown.
//
// Password checks are bounded (BasicConfig.MaxConcurrentChecks), and
// credentials that passed a check before have a slot of their own and go
// first in line: the authenticator remembers, per user, an 8-bit tag of the
// last credentials that passed (an HMAC under a random key of the process;
// random until the first success, for the unknown user's dummy too), so
// that a returning client is served at once during a flood of bad logins. A tag this
// short separates the flood well (a wrong password matches 1 time in 256,
// and then only jumps the queue) while telling nothing about a password or
// whether a user exists.
type BasicAuthenticator struct {
	users  []basicUser
	dummy  []byte     // bcrypt hash of a random password nobody knows (dummyHash)
	gate   *checkGate // nil: no bound on concurrent checks
	tagKey [32]byte   // key of the known-good credential tags
	// dummyTag is the known-good tag of unknown users: random, never a
	// success.
	dummyTag atomic.Uint32
	realm    string
	headers  bool
	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, password []byte) error
}

type basicUser struct {
	nameHash [sha256.Size]byte
	username string
	hash     []byte
	groups   []string
	// goodTag is the credentialTag of the last login that passed (random
	// until then).
	goodTag atomic.Uint32
}

// NewBasic returns a BasicAuthenticator for cfg. It fails closed: every
// problem (no user, a user without a name or with an invalid bcrypt hash,
// a hash whose cost differs from the first user's, two users sharing a
// name, an unusable realm) is a *ConfigError naming the field, joined with
// errors.Join.
func NewBasic(cfg BasicConfig) (*BasicAuthenticator, error) {
	return newBasic(cfg, minBasicBcryptCost)
}

// newBasic is NewBasic with the lowest bcrypt cost accepted (tests of this
// package use bcrypt.MinCost to run fast).
func newBasic(cfg BasicConfig, minCost int) (*BasicAuthenticator, error) {
	var probs problems
	if len(cfg.Users) == 0 {
		probs.add("BasicConfig.Users", "at least one user is required")
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "tvm"
	}
	if strings.ContainsAny(realm, "\"\\") || hasControl(realm) || !utf8.ValidString(realm) {
		probs.add("BasicConfig.Realm", "must not contain quotes, backslashes or control characters")
	}
	a := &BasicAuthenticator{realm: realm, headers: cfg.AllowCredentialHeaders, compare: bcrypt.CompareHashAndPassword}
	switch n := cfg.MaxConcurrentChecks; {
	case n == 0:
		a.gate = newCheckGate(defaultMaxConcurrentChecks())
	case n > 0:
		a.gate = newCheckGate(n)
	}
	seen := make(map[string]bool, len(cfg.Users))
	cost0, first := 0, -1 // the cost of the first valid hash, every user's
	for i, u := range cfg.Users {
		field := fmt.Sprintf("BasicConfig.Users[%d]", i)
		if err := checkUsername(u.Username); err != nil {
			probs.add(field+".Username", err.Error())
		} else if seen[u.Username] {
			probs.add(field+".Username", "duplicate username")
		}
		seen[u.Username] = true
		for j, g := range u.Groups {
			if g == "" || hasControl(g) || !utf8.ValidString(g) {
				probs.add(fmt.Sprintf("%s.Groups[%d]", field, j), "empty, not UTF-8, or holds a control character")
			}
		}
		cost, err := bcrypt.Cost([]byte(u.PasswordHash))
		switch {
		case err != nil:
			// Never echo the hash (or a plain-text password pasted by mistake).
			probs.add(field+".PasswordHash", "not a valid bcrypt hash")
			continue
		case cost < minCost || cost > maxBasicBcryptCost:
			probs.add(field+".PasswordHash", fmt.Sprintf("bcrypt cost %d is outside %d..%d", cost, minCost, maxBasicBcryptCost))
			continue
		}
		if first < 0 {
			cost0, first = cost, i
		} else if cost != cost0 {
			probs.add(field+".PasswordHash", fmt.Sprintf("bcrypt cost %d differs from the cost %d of BasicConfig.Users[%d]: "+
				"give every user the same cost (a caller could tell users of different costs apart by timing)", cost, cost0, first))
			continue
		}
		a.users = append(a.users, basicUser{
			nameHash: sha256.Sum256([]byte(u.Username)),
			username: u.Username,
			hash:     []byte(u.PasswordHash),
			groups:   slices.Clone(u.Groups),
		})
		a.users[len(a.users)-1].goodTag.Store(randomTag())
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	// The dummy hash has the users' cost, so an unknown user takes as long
	// as a known one.
	dummy, err := dummyHash(cost0)
	if err != nil {
		return nil, err
	}
	a.dummy = dummy
	_, _ = rand.Read(a.tagKey[:])
	a.dummyTag.Store(randomTag())
	return a, nil
}

// dummyHashes holds, per bcrypt cost, the dummy hash of this process
// (cost → []byte): generating one takes as long as a password check (a
// second at cost 14), and cmd/tvm builds its authenticator twice at start
// (tvm check's verdict, then the server) and on every reload.
var dummyHashes sync.Map

// dummyHash returns the bcrypt hash, at cost, of a random password nobody
// knows, made once per process and cost. It is only ever compared for
// unknown users, whose login fails whatever the comparison says.
func dummyHash(cost int) ([]byte, error) {
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte), nil
	}
	random := make([]byte, 32)
	_, _ = rand.Read(random) // crypto/rand.Read never fails
	pw := base64.RawStdEncoding.EncodeToString(random)[:maxBasicPasswordLength/2]
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return nil, fmt.Errorf("tvm: generating the dummy bcrypt hash: %w", err)
	}
	// Two constructions racing both generate one; either hash serves.
	v, _ := dummyHashes.LoadOrStore(cost, h)
	return v.([]byte), nil
}

// randomTag returns a random credential tag.
func randomTag() uint32 {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return uint32(b[0])
}

// credentialTag returns the 8-bit tag of the credentials user:pass.
func (a *BasicAuthenticator) credentialTag(user, pass string) uint32 {
	mac := hmac.New(sha256.New, a.tagKey[:])
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var sum [sha256.Size]byte
	return uint32(mac.Sum(sum[:0])[0])
}

// HashPassword returns the bcrypt hash of password for User.PasswordHash,
// at cost (0: the default, 10, bcrypt's and OWASP's minimum; NewBasic
// accepts 10 to 14, the same for every user). It refuses, with an error
// wrapping ErrInvalidConfig that never contains the password, an empty
// password, one longer than 72 bytes (bcrypt ignores the rest) and a cost
// outside 10..14.
func HashPassword(password string, cost int) (string, error) {
	cost = orDefault(cost, minBasicBcryptCost)
	switch {
	case cost < minBasicBcryptCost || cost > maxBasicBcryptCost:
		return "", fmt.Errorf("%w: bcrypt cost %d is outside %d..%d", ErrInvalidConfig, cost, minBasicBcryptCost, maxBasicBcryptCost)
	case password == "":
		return "", fmt.Errorf("%w: empty password", ErrInvalidConfig)
	case len(password) > maxBasicPasswordLength:
		return "", fmt.Errorf("%w: password longer than %d bytes (bcrypt ignores the rest)", ErrInvalidConfig, maxBasicPasswordLength)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("tvm: hashing the password: %w", err)
	}
	return string(h), nil
}

// defaultMaxConcurrentChecks is half of GOMAXPROCS, rounded up: a flood
// of logins can take at most half the CPUs, and a legitimate login's check
// then runs at full speed beside the flood's (see BENCHMARKS.md).
func defaultMaxConcurrentChecks() int { return (runtime.GOMAXPROCS(0) + 1) / 2 }

// Challenge returns the WWW-Authenticate challenge of 401 responses:
// `Basic realm="<realm>", charset="UTF-8"`.
func (a *BasicAuthenticator) Challenge() string {
	return `Basic realm="` + a.realm + `", charset="UTF-8"`
}

func checkUsername(name string) error {
	switch {
	case name == "":
		return errors.New("required")
	case len(name) > maxBasicUsernameLength:
		return fmt.Errorf("longer than %d bytes", maxBasicUsernameLength)
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
// are malformed, oversized, ambiguous or wrong; ErrOverloaded when its
// password check could not get a turn (see MaxConcurrentChecks), and the
// context's error when the request was canceled while waiting. Errors never
// contain the presented username or password.
func (a *BasicAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	user, pass, err := a.credentials(r)
	if err != nil {
		return Identity{}, err
	}
	if len(user) > maxBasicUsernameLength || len(pass) > maxBasicPasswordLength {
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
	hash, good := a.dummy, &a.dummyTag
	if found == 1 {
		hash, good = a.users[idx].hash, &a.users[idx].goodTag
	}
	// Always exactly one bcrypt comparison, when a slot is free.
	tag := a.credentialTag(user, pass)
	slot, err := a.gate.acquire(r.Context(), good.Load() == tag)
	if err != nil {
		return Identity{}, err
	}
	ok := func() bool {
		defer a.gate.release(slot)
		return a.compare(hash, []byte(pass)) == nil
	}()
	if ok && found == 1 {
		good.Store(tag)
	}
	if found != 1 || !ok {
		return Identity{}, fmt.Errorf("%w: wrong username or password", ErrInvalidCredentials)
	}
	u := &a.users[idx]
	return Identity{
		Subject: u.username,
		Groups:  slices.Clone(u.groups),
		Claims:  map[string]any{"sub": u.username},
		Method:  "basic",
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
		users, passes := r.Header.Values(usernameHeader), r.Header.Values(passwordHeader)
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
