package tvm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestIdentityContextRoundTrip(t *testing.T) {
	if _, ok := IdentityFromContext(context.Background()); ok {
		t.Fatal("identity found in an empty context")
	}
	// A value stored under a look-alike key from another package is not an
	// identity.
	type identityKey struct{}
	forged := context.WithValue(context.Background(), identityKey{}, Identity{Subject: "mallory"})
	if _, ok := IdentityFromContext(forged); ok {
		t.Fatal("identity read from a foreign context key")
	}
	want := Identity{Subject: "u-1", Groups: []string{"g"}}
	got, ok := IdentityFromContext(NewContext(context.Background(), want))
	if !ok || got.Subject != want.Subject || len(got.Groups) != 1 {
		t.Fatalf("IdentityFromContext = %+v, %v", got, ok)
	}
}

func TestContextIdentity(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := contextAuthenticator{now: func() time.Time { return now }}
	tests := []struct {
		name    string
		ctx     func(context.Context) context.Context
		wantErr error
		want    Identity
	}{
		{"no identity", func(c context.Context) context.Context { return c }, ErrNoCredentials, Identity{}},
		{"empty subject", func(c context.Context) context.Context { return NewContext(c, Identity{Groups: []string{"admins"}}) }, ErrInvalidCredentials, Identity{}},
		{"expired", func(c context.Context) context.Context {
			return NewContext(c, Identity{Subject: "u", ExpiresAt: now.Add(-time.Second)})
		}, ErrInvalidCredentials, Identity{}},
		{"expires now", func(c context.Context) context.Context { return NewContext(c, Identity{Subject: "u", ExpiresAt: now}) }, ErrInvalidCredentials, Identity{}},
		{"valid", func(c context.Context) context.Context {
			return NewContext(c, Identity{Subject: "u-42", Groups: []string{"ReadWriteUserGroup"}, ExpiresAt: now.Add(time.Hour)})
		}, nil, Identity{Subject: "u-42", Method: "context", ExpiresAt: now.Add(time.Hour)}},
		{"stored method is overridden", func(c context.Context) context.Context {
			return NewContext(c, Identity{Subject: "u-7", Method: MethodOpen})
		}, nil, Identity{Subject: "u-7", Method: "context"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/token", nil)
			r = r.WithContext(tt.ctx(r.Context()))
			// Headers the client controls are never read.
			r.Header.Set("Authorization", "Bearer whatever")
			r.Header.Set("X-User", "admin")
			id, err := a.Authenticate(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != tt.want.Subject || id.Method != tt.want.Method || !id.ExpiresAt.Equal(tt.want.ExpiresAt) {
				t.Errorf("identity = %+v, want %+v", id, tt.want)
			}
		})
	}
}

func TestContextIdentityCopiesGroupsAndClaims(t *testing.T) {
	stored := Identity{Subject: "u", Groups: []string{"a"}, Claims: map[string]any{"k": "v"}}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(NewContext(r.Context(), stored))
	id, err := ContextIdentity().Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	id.Groups[0] = "changed"
	id.Claims["k"] = "changed"
	if stored.Groups[0] != "a" || stored.Claims["k"] != "v" {
		t.Errorf("authenticator returned aliases of the stored identity: %+v", stored)
	}
	if c, ok := ContextIdentity().(Challenger); !ok || c.Challenge() == "" {
		t.Error("ContextIdentity has no challenge")
	}
}
