package tvm

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestHashPassword: the default cost is the lowest NewBasic accepts (the
// examples' 10), the hash verifies and joins a BasicAuthenticator, and what
// NewBasic would refuse is refused here too, never echoing the password.
func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != minBasicBcryptCost || bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")) != nil {
		t.Errorf("hash %q: cost %d", h, cost)
	}
	if _, err := NewBasic(BasicConfig{Users: []User{{Username: "u", PasswordHash: h}}}); err != nil {
		t.Errorf("NewBasic refuses the hash: %v", err)
	}
	for _, tt := range []struct {
		pw   string
		cost int
		want string
	}{
		{"s3cret", 9, "bcrypt cost 9 is outside 10..14"},
		{"s3cret", 15, "bcrypt cost 15 is outside 10..14"},
		{"", 0, "empty password"},
		{strings.Repeat("p", 73), 0, "longer than 72 bytes"},
	} {
		h, err := HashPassword(tt.pw, tt.cost)
		if h != "" || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) || (tt.pw != "" && strings.Contains(err.Error(), tt.pw)) {
			t.Errorf("HashPassword(%d bytes, %d) = %q, %v", len(tt.pw), tt.cost, h, err)
		}
	}
}
