package tvm

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSubjectTokenID(t *testing.T) {
	long := strings.Repeat("x", MaxTokenIDLength)
	tests := []struct {
		name    string
		subject string
		want    string // "" with hashed=true: hashed
		hashed  bool
		wantErr error
	}{
		{"plain", "alice", "alice", false, nil},
		{"uuid", "3f1c2b9e-8a4d-4c1e-9f0a-2b7d6e5c4a31", "3f1c2b9e-8a4d-4c1e-9f0a-2b7d6e5c4a31", false, nil},
		{"unicode", "zoë 🙂", "zoë 🙂", false, nil},
		{"exactly 64 bytes", long, long, false, nil},
		{"65 bytes", long + "y", "", true, nil},
		{"newline", "alice\nbob", "", true, nil},
		{"NUL", "alice\x00", "", true, nil},
		{"C1 control", "alice\u0085", "", true, nil},
		{"bidi override", "alice\u202egnp.exe", "", true, nil},
		{"zero-width joiner", "al\u200dice", "", true, nil},
		{"invalid UTF-8", "alice\xff", "", true, nil},
		{"empty", "", "", false, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SubjectTokenID(Identity{Subject: tt.subject}, nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.hashed {
				if got != tt.want {
					t.Errorf("token id = %q, want %q", got, tt.want)
				}
				return
			}
			if !strings.HasPrefix(got, hashedTokenIDPrefix) || len(got) != 50 || !validTokenID(got) {
				t.Errorf("token id = %q, want sha256- and 43 base64url characters", got)
			}
			again, _ := SubjectTokenID(Identity{Subject: tt.subject}, nil)
			if again != got {
				t.Errorf("hashing is not stable: %q vs %q", got, again)
			}
		})
	}
	// Two long subjects sharing their first 64 bytes must not share a token
	// id (truncation would let one publish as the other).
	a, _ := SubjectTokenID(Identity{Subject: long + "-alice"}, nil)
	b, _ := SubjectTokenID(Identity{Subject: long + "-bob"}, nil)
	if a == b {
		t.Errorf("subjects with a common prefix share the token id %q", a)
	}
}

func TestQueryTokenID(t *testing.T) {
	policy := QueryTokenID("name")
	tests := []struct {
		name    string
		method  string
		subject string
		query   string
		want    string
		wantErr error
	}{
		{"open, chosen name", MethodOpen, "anonymous", "name=alice", "alice", nil},
		{"open, unicode name", MethodOpen, "anonymous", "name=zo%C3%AB", "zoë", nil},
		{"open, no parameter", MethodOpen, "anonymous", "other=x", "anonymous", nil},
		{"open, repeated", MethodOpen, "anonymous", "name=a&name=b", "", ErrBadRequest},
		{"open, empty", MethodOpen, "anonymous", "name=", "", ErrBadRequest},
		{"open, too long", MethodOpen, "anonymous", "name=" + strings.Repeat("n", MaxTokenIDLength+1), "", ErrBadRequest},
		{"open, control character", MethodOpen, "anonymous", "name=a%0Ab", "", ErrBadRequest},
		{"open, bidi override", MethodOpen, "anonymous", "name=a%E2%80%AEb", "", ErrBadRequest},
		{"basic ignores the parameter", "basic", "bob", "name=alice", "bob", nil},
		{"jwt ignores the parameter", "jwt", "user-1", "name=admin", "user-1", nil},
		{"context ignores the parameter", "context", "user-2", "name=admin", "user-2", nil},
		{"no method ignores the parameter", "", "user-3", "name=admin", "user-3", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/token?"+tt.query, nil)
			got, err := policy(Identity{Subject: tt.subject, Method: tt.method}, r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("token id = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
