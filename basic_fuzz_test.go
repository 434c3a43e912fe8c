package tvm

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// bfUsers are the accounts of FuzzBasicAuthenticate.
var bfUsers = map[string]string{"alice": "correct horse battery", "bob": "s3cret:with:colons", "ünï": "pässwörd"}

// bfMessages holds every fixed error text of the Basic authenticator: an
// error may quote these, never what the caller sent.
const bfMessages = "tvm: invalid credentials: basic credentials too long wrong username or password more than one Authorization header " +
	"username and password headers must each appear exactly once Authorization header and credential headers disagree " +
	"empty username tvm: no credentials: no basic credentials Authorization header too long " +
	"Authorization header is not of the Basic scheme malformed Basic credentials"

// FuzzBasicAuthenticate feeds arbitrary Authorization, username and
// password header values to a Basic authenticator that also accepts the
// credential headers. It must never panic; a refusal is ErrNoCredentials or
// ErrInvalidCredentials with a zero identity and an error that quotes
// nothing the caller sent; an acceptance must be a configured user whose
// exact password the request carried (decoded independently here).
//
//	go test -run '^$' -fuzz FuzzBasicAuthenticate -fuzztime 60s .
func FuzzBasicAuthenticate(f *testing.F) {
	var users []User
	for name, pw := range bfUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			f.Fatal(err)
		}
		users = append(users, User{Username: name, PasswordHash: string(h), Groups: []string{"g-" + name}})
	}
	a, err := newBasic(BasicConfig{Users: users, AllowCredentialHeaders: true}, bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, seed := range [][3]string{
		{"Basic " + enc("alice:correct horse battery"), "", ""},
		{"basic " + enc("bob:s3cret:with:colons"), "", ""},
		{"BASIC   " + enc("ünï:pässwörd"), "", ""},
		{"", "alice", "correct horse battery"},
		{"Basic " + enc("alice:correct horse battery"), "alice", "correct horse battery"},
		{"Basic " + enc("alice:correct horse battery"), "bob", "s3cret:with:colons"},
		{"Basic " + enc("alice:wrong"), "", ""},
		{"Basic " + enc("mallory:correct horse battery"), "", ""},
		{"Basic " + enc(":correct horse battery"), "", ""},
		{"Basic " + enc("alice"), "", ""},
		{"Basic " + strings.TrimRight(enc("alice:correct horse battery!"), "="), "", ""},
		{"Basic " + enc("alice:correct horse battery") + "\x00", "", ""},
		{"Basic " + enc("alice:"+strings.Repeat("x", 100)), "", ""},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", "", ""},
		{"Basic", "", ""}, {"Basic ", "", ""}, {"Basic =", "", ""}, {"", "", ""},
		{"", "alice", ""}, {"", "", "correct horse battery"}, {"", "ALICE", "correct horse battery"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, authz, user, pass string) {
		r := httptest.NewRequest("GET", "/token", nil)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if user != "" {
			r.Header.Set(usernameHeader, user)
		}
		if pass != "" {
			r.Header.Set(passwordHeader, pass)
		}
		id, err := a.Authenticate(r)
		if err != nil {
			if id.Subject != "" || id.Method != "" || id.Groups != nil {
				t.Fatalf("refusal with identity %+v", id)
			}
			if errors.Is(err, ErrNoCredentials) == errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("error %v is not exactly one of ErrNoCredentials, ErrInvalidCredentials", err)
			}
			for _, sent := range []string{authz, user, pass, strings.TrimPrefix(authz, "Basic ")} {
				if len(sent) >= 4 && strings.Contains(err.Error(), sent) && !strings.Contains(bfMessages, sent) {
					t.Fatalf("error %q quotes the request (%q)", err, sent)
				}
			}
			return
		}
		want, ok := bfUsers[id.Subject]
		if !ok || id.Method != "basic" || len(id.Groups) != 1 || id.Groups[0] != "g-"+id.Subject {
			t.Fatalf("accepted unknown or altered identity %+v", id)
		}
		fromAuthz := false
		if authz != "" {
			scheme, payload, _ := strings.Cut(authz, " ")
			raw, err := base64.StdEncoding.DecodeString(strings.TrimLeft(payload, " "))
			if !strings.EqualFold(scheme, "basic") || err != nil || string(raw) != id.Subject+":"+want {
				t.Fatalf("accepted %q as %s without its exact password", authz, id.Subject)
			}
			fromAuthz = true
		}
		fromHeaders := user == id.Subject && pass == want
		if !fromAuthz && !fromHeaders {
			t.Fatalf("accepted %s without its password (authz %q, headers %q/%q)", id.Subject, authz, user, pass)
		}
		if fromAuthz && (user != "" || pass != "") && !fromHeaders {
			t.Fatalf("accepted %s although the credential headers disagree", id.Subject)
		}
	})
}
