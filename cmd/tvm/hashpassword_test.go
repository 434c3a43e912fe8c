package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestHashPasswordDefaultCostMatchesFixtures: `tvm hash-password` without
// --cost hashes at the cost the examples and fixtures use, so that a user
// added with it has the same cost as the others (NewBasic refuses mixed
// costs); the range of --cost is the library's.
func TestHashPasswordDefaultCostMatchesFixtures(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(fixtures, "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fixtureCost, err := bcrypt.Cost([]byte(cfg.Auth.Users[0].PasswordHash))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"hash-password"}, func(string) string { return "" }, strings.NewReader("pw\n"), &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if cost, err := bcrypt.Cost(bytes.TrimSpace(out.Bytes())); err != nil || cost != fixtureCost {
		t.Errorf("default cost %d (%v), want the fixtures' %d", cost, err, fixtureCost)
	}
	// The hash joins the fixture's users.
	users := append(cfg.Auth.Users, UserConfig{Username: "new", PasswordHash: strings.TrimSpace(out.String())})
	if _, err := buildAuthenticator(t.Context(), &Config{Auth: AuthConfig{Method: "basic", Users: users}}, nil); err != nil {
		t.Errorf("a user hashed by default does not join the fixture's: %v", err)
	}
	for _, cost := range []string{"9", "15"} {
		out.Reset()
		errOut.Reset()
		code := run(t.Context(), []string{"hash-password", "--cost", cost}, func(string) string { return "" }, strings.NewReader("pw\n"), &out, &errOut)
		if code != exitConfig || out.Len() != 0 || !strings.Contains(errOut.String(), "outside 10..14") {
			t.Errorf("--cost %s: exit %d, %q %q", cost, code, out.String(), errOut.String())
		}
	}
}
