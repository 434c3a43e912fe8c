package tvm

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// btHashes caches bcrypt hashes (MinCost, to keep tests fast; the
// authenticators of these tests come from newBasic(cfg, bcrypt.MinCost)).
var btHashes sync.Map

func btHash(t testing.TB, password string) string {
	t.Helper()
	if h, ok := btHashes.Load(password); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	btHashes.Store(password, string(h))
	return string(h)
}

const (
	btAlicePassword = "correct horse battery staple"
	btBobPassword   = "hunter2-but-longer"
)

func btConfig(t testing.TB, headers bool) BasicConfig {
	return BasicConfig{
		Users: []User{
			{Username: "alice", PasswordHash: btHash(t, btAlicePassword), Groups: []string{"ReadOnlyUserGroup"}},
			{Username: "bob", PasswordHash: btHash(t, btBobPassword), Groups: []string{"ReadWriteUserGroup", "admins"}},
			{Username: "zoë", PasswordHash: btHash(t, "ünïcode pässwörd"), Groups: nil},
		},
		Realm:                  "chat",
		AllowCredentialHeaders: headers,
	}
}

func btBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestNewBasicRejectsBadConfig(t *testing.T) {
	good := btHash(t, "pw")
	tooCostly := strings.Replace(good, "$04$", "$15$", 1) // bcrypt.Cost reads the cost without hashing
	tests := []struct {
		name      string
		cfg       BasicConfig
		field     string
		forbidden string // must not appear in the error
	}{
		{"no users", BasicConfig{}, "BasicConfig.Users", ""},
		{"empty username", BasicConfig{Users: []User{{Username: "", PasswordHash: good}}}, "BasicConfig.Users[0].Username", ""},
		{"colon in username", BasicConfig{Users: []User{{Username: "a:b", PasswordHash: good}}}, "BasicConfig.Users[0].Username", ""},
		{"control char in username", BasicConfig{Users: []User{{Username: "a\nb", PasswordHash: good}}}, "BasicConfig.Users[0].Username", ""},
		{"invalid UTF-8 username", BasicConfig{Users: []User{{Username: "a\xffb", PasswordHash: good}}}, "BasicConfig.Users[0].Username", ""},
		{"overlong username", BasicConfig{Users: []User{{Username: strings.Repeat("u", maxBasicUsernameLength+1), PasswordHash: good}}}, "BasicConfig.Users[0].Username", ""},
		{"duplicate username", BasicConfig{Users: []User{{Username: "a", PasswordHash: good}, {Username: "a", PasswordHash: good}}}, "BasicConfig.Users[1].Username", ""},
		{"plain-text password", BasicConfig{Users: []User{{Username: "a", PasswordHash: "s3cret-plain"}}}, "BasicConfig.Users[0].PasswordHash", "s3cret-plain"},
		{"truncated hash", BasicConfig{Users: []User{{Username: "a", PasswordHash: good[:30]}}}, "BasicConfig.Users[0].PasswordHash", good[:30]},
		{"empty hash", BasicConfig{Users: []User{{Username: "a"}}}, "BasicConfig.Users[0].PasswordHash", ""},
		{"cost too high", BasicConfig{Users: []User{{Username: "a", PasswordHash: tooCostly}}}, "BasicConfig.Users[0].PasswordHash", tooCostly},
		{"empty group", BasicConfig{Users: []User{{Username: "a", PasswordHash: good, Groups: []string{"g", ""}}}}, "BasicConfig.Users[0].Groups[1]", ""},
		{"control char in group", BasicConfig{Users: []User{{Username: "a", PasswordHash: good, Groups: []string{"g\x00"}}}}, "BasicConfig.Users[0].Groups[0]", ""},
		{"C1 control char in group", BasicConfig{Users: []User{{Username: "a", PasswordHash: good, Groups: []string{"g\u0085"}}}}, "BasicConfig.Users[0].Groups[0]", ""}, // the rule GroupRule.Group follows
		{"invalid UTF-8 group", BasicConfig{Users: []User{{Username: "a", PasswordHash: good, Groups: []string{"\xff"}}}}, "BasicConfig.Users[0].Groups[0]", ""},
		{"quote in realm", BasicConfig{Users: []User{{Username: "a", PasswordHash: good}}, Realm: `x"y`}, "BasicConfig.Realm", ""},
		{"control char in realm", BasicConfig{Users: []User{{Username: "a", PasswordHash: good}}, Realm: "x\r\ny"}, "BasicConfig.Realm", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := newBasic(tt.cfg, bcrypt.MinCost)
			if err == nil || a != nil {
				t.Fatalf("NewBasic = %v, %v; want an error", a, err)
			}
			if fields := configFields(t, err); !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("error %v: fields %q, want exactly %q", err, fields, tt.field)
			}
			if tt.forbidden != "" && strings.Contains(err.Error(), tt.forbidden) {
				t.Errorf("error %q echoes the configured secret", err)
			}
		})
	}
}

// TestNewBasicBcryptCost: NewBasic accepts bcrypt costs 10 to 14 only (10
// is OWASP's minimum; above 14 every request would take seconds).
func TestNewBasicBcryptCost(t *testing.T) {
	cost4 := btHash(t, "pw")
	withCost := func(cost string) string { return strings.Replace(cost4, "$04$", "$"+cost+"$", 1) }
	for _, tt := range []struct {
		hash string
		ok   bool
	}{
		{cost4, false}, {withCost("09"), false}, {withCost("10"), true}, {withCost("15"), false},
	} {
		cost, _ := bcrypt.Cost([]byte(tt.hash))
		a, err := NewBasic(BasicConfig{Users: []User{{Username: "a", PasswordHash: tt.hash}}})
		if tt.ok {
			if err != nil || a == nil {
				t.Errorf("cost %d refused: %v", cost, err)
			} else if dummyCost, _ := bcrypt.Cost(a.dummy); dummyCost != cost {
				t.Errorf("cost %d: dummy hash cost %d", cost, dummyCost)
			}
			continue
		}
		fields := configFields(t, err)
		if a != nil || !slices.Equal(fields, []string{"BasicConfig.Users[0].PasswordHash"}) || !strings.Contains(err.Error(), "outside 10..14") {
			t.Errorf("cost %d: %v, %v", cost, a, err)
		}
	}
}

func TestBasicAuthenticate(t *testing.T) {
	type headers map[string][]string
	long := strings.Repeat("p", maxBasicPasswordLength+1)
	tests := []struct {
		name        string
		credHeaders bool // AllowCredentialHeaders
		h           headers
		wantErr     error
		wantSubject string
	}{
		{"valid basic", false, headers{"Authorization": {btBasic("alice", btAlicePassword)}}, nil, "alice"},
		{"scheme is case-insensitive", false, headers{"Authorization": {"bAsIc " + strings.TrimPrefix(btBasic("bob", btBobPassword), "Basic ")}}, nil, "bob"},
		{"unicode user and password", false, headers{"Authorization": {btBasic("zoë", "ünïcode pässwörd")}}, nil, "zoë"},
		{"no credentials", false, headers{}, ErrNoCredentials, ""},
		{"wrong password", false, headers{"Authorization": {btBasic("alice", btBobPassword)}}, ErrInvalidCredentials, ""},
		{"empty password", false, headers{"Authorization": {btBasic("alice", "")}}, ErrInvalidCredentials, ""},
		{"password prefix", false, headers{"Authorization": {btBasic("alice", btAlicePassword[:10])}}, ErrInvalidCredentials, ""},
		{"unknown user", false, headers{"Authorization": {btBasic("mallory", btAlicePassword)}}, ErrInvalidCredentials, ""},
		{"username differs in case", false, headers{"Authorization": {btBasic("Alice", btAlicePassword)}}, ErrInvalidCredentials, ""},
		{"username with trailing NUL", false, headers{"Authorization": {btBasic("alice\x00", btAlicePassword)}}, ErrInvalidCredentials, ""},
		{"empty username", false, headers{"Authorization": {btBasic("", btAlicePassword)}}, ErrInvalidCredentials, ""},
		{"malformed base64", false, headers{"Authorization": {"Basic !!!not-base64!!!"}}, ErrInvalidCredentials, ""},
		{"base64 with trailing garbage", false, headers{"Authorization": {btBasic("alice", btAlicePassword) + "="}}, ErrInvalidCredentials, ""},
		{"no colon", false, headers{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}}, ErrInvalidCredentials, ""},
		{"scheme only", false, headers{"Authorization": {"Basic"}}, ErrInvalidCredentials, ""},
		{"bearer scheme", false, headers{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.e30."}}, ErrInvalidCredentials, ""},
		{"duplicate Authorization", false, headers{"Authorization": {btBasic("alice", btAlicePassword), btBasic("alice", btAlicePassword)}}, ErrInvalidCredentials, ""},
		{"oversize header", false, headers{"Authorization": {"Basic " + strings.Repeat("QUFB", 10000)}}, ErrInvalidCredentials, ""},
		{"megabyte header", false, headers{"Authorization": {btBasic("alice", strings.Repeat("p", 1<<20))}}, ErrInvalidCredentials, ""},
		{"thousands of colons", false, headers{"Authorization": {btBasic("alice", strings.Repeat(":", 5000))}}, ErrInvalidCredentials, ""},
		{"password over 72 bytes whose prefix matches", false, headers{"Authorization": {btBasic("alice", (btAlicePassword + long)[:maxBasicPasswordLength+1])}}, ErrInvalidCredentials, ""},
		{"overlong username", false, headers{"Authorization": {btBasic(strings.Repeat("a", maxBasicUsernameLength+1), "x")}}, ErrInvalidCredentials, ""},
		{"credential headers ignored when disabled", false, headers{"Username": {"alice"}, "Password": {btAlicePassword}}, ErrNoCredentials, ""},
		{"credential headers", true, headers{"Username": {"alice"}, "Password": {btAlicePassword}}, nil, "alice"},
		{"credential headers wrong password", true, headers{"Username": {"alice"}, "Password": {"nope"}}, ErrInvalidCredentials, ""},
		{"credential headers empty username", true, headers{"Username": {""}, "Password": {btAlicePassword}}, ErrInvalidCredentials, ""},
		{"username header only", true, headers{"Username": {"alice"}}, ErrInvalidCredentials, ""},
		{"password header only", true, headers{"Password": {btAlicePassword}}, ErrInvalidCredentials, ""},
		{"duplicate username header", true, headers{"Username": {"alice", "bob"}, "Password": {btAlicePassword}}, ErrInvalidCredentials, ""},
		{"both, agreeing", true, headers{"Authorization": {btBasic("alice", btAlicePassword)}, "Username": {"alice"}, "Password": {btAlicePassword}}, nil, "alice"},
		{"both, different users", true, headers{"Authorization": {btBasic("alice", btAlicePassword)}, "Username": {"bob"}, "Password": {btBobPassword}}, ErrInvalidCredentials, ""},
		{"both, different passwords", true, headers{"Authorization": {btBasic("alice", btAlicePassword)}, "Username": {"alice"}, "Password": {"x"}}, ErrInvalidCredentials, ""},
		{"overlong header password", true, headers{"Username": {"alice"}, "Password": {long}}, ErrInvalidCredentials, ""},
	}
	for _, headerMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("credentialHeaders=%v", headerMode), func(t *testing.T) {
			a := htBasic(t, btConfig(t, headerMode))
			for _, tt := range tests {
				if tt.credHeaders && !headerMode {
					continue
				}
				if !tt.credHeaders && headerMode && (tt.h["Username"] != nil || tt.h["Password"] != nil) {
					continue // rows about disabled header mode
				}
				t.Run(tt.name, func(t *testing.T) {
					r := httptest.NewRequest(http.MethodGet, "/token", nil)
					for k, vs := range tt.h {
						for _, v := range vs {
							r.Header.Add(k, v)
						}
					}
					id, err := a.Authenticate(r)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) {
							t.Fatalf("Authenticate() error = %v, want %v", err, tt.wantErr)
						}
						if id.Subject != "" {
							t.Errorf("identity %+v returned with an error", id)
						}
						for _, secret := range []string{btAlicePassword, btBobPassword, "mallory"} {
							if strings.Contains(err.Error(), secret) {
								t.Errorf("error %q contains presented credentials", err)
							}
						}
						return
					}
					if err != nil {
						t.Fatalf("Authenticate() error = %v", err)
					}
					if id.Subject != tt.wantSubject || id.Method != "basic" {
						t.Errorf("identity = %+v, want subject %q method basic", id, tt.wantSubject)
					}
				})
			}
		})
	}
}

func TestBasicIdentityGroupsAreCopies(t *testing.T) {
	cfg := btConfig(t, false)
	a := htBasic(t, cfg)
	cfg.Users[1].Groups[0] = "mutated-config" // changing the config afterwards changes nothing
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", btBasic("bob", btBobPassword))
	id, err := a.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Groups) != 2 || id.Groups[0] != "ReadWriteUserGroup" || id.Groups[1] != "admins" {
		t.Fatalf("groups = %v", id.Groups)
	}
	if id.Claims["sub"] != "bob" {
		t.Errorf("claims = %v, want sub=bob", id.Claims)
	}
	id.Groups[0] = "mutated-identity"
	id2, err := a.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if id2.Groups[0] != "ReadWriteUserGroup" {
		t.Errorf("a caller mutated the authenticator's groups: %v", id2.Groups)
	}
}

// TestBasicAlwaysOneBcryptComparison checks the timing defence: known user,
// unknown user and wrong password all run exactly one bcrypt comparison,
// and unknown users are compared against the dummy hash.
func TestBasicAlwaysOneBcryptComparison(t *testing.T) {
	a := htBasic(t, btConfig(t, false))
	if cost, err := bcrypt.Cost(a.dummy); err != nil || cost != bcrypt.MinCost {
		t.Fatalf("dummy hash cost = %d, %v; want the users' cost %d", cost, err, bcrypt.MinCost)
	}
	var calls int
	var lastHash []byte
	a.compare = func(hash, pw []byte) error {
		calls++
		lastHash = hash
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	tests := []struct {
		user, pass string
		dummy      bool
	}{
		{"alice", btAlicePassword, false},
		{"alice", "wrong", false},
		{"bob", btBobPassword, false},
		{"mallory", "whatever", true},
	}
	for _, tt := range tests {
		calls = 0
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", btBasic(tt.user, tt.pass))
		_, _ = a.Authenticate(r)
		if calls != 1 {
			t.Errorf("%s: %d bcrypt comparisons, want exactly 1", tt.user, calls)
		}
		if isDummy := string(lastHash) == string(a.dummy); isDummy != tt.dummy {
			t.Errorf("%s: compared against dummy = %v, want %v", tt.user, isDummy, tt.dummy)
		}
	}
}

// TestBasicOneCostForAllUsers: users of different bcrypt costs are
// refused (timing would tell them apart), naming the user and never the
// hash.
func TestBasicOneCostForAllUsers(t *testing.T) {
	h5, err := bcrypt.GenerateFromPassword([]byte("x"), 5)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newBasic(BasicConfig{Users: []User{
		{Username: "a", PasswordHash: btHash(t, "x")},
		{Username: "b", PasswordHash: string(h5)},
		{Username: "c", PasswordHash: btHash(t, "y")},
	}}, bcrypt.MinCost)
	if fields := configFields(t, err); a != nil || !slices.Equal(fields, []string{"BasicConfig.Users[1].PasswordHash"}) {
		t.Fatalf("mixed costs: %v, %v", a, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "cost 5 differs from the cost 4 of BasicConfig.Users[0]") || strings.Contains(msg, string(h5)) {
		t.Errorf("message %q", msg)
	}
}

func TestBasicChallenge(t *testing.T) {
	a := htBasic(t, btConfig(t, false))
	if got, want := a.Challenge(), `Basic realm="chat", charset="UTF-8"`; got != want {
		t.Errorf("Challenge() = %q, want %q", got, want)
	}
	cfg := btConfig(t, false)
	cfg.Realm = ""
	b := htBasic(t, cfg)
	if got, want := b.Challenge(), `Basic realm="tvm", charset="UTF-8"`; got != want {
		t.Errorf("default Challenge() = %q, want %q", got, want)
	}
}
