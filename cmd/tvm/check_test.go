package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckReportsEveryComponentAtOnce: one run of `tvm check` reports the
// problems of the keys the binary owns and those the library finds in
// several components (vendor, authenticator, scope rules, narrowing, rate
// limit, handler), each under its configuration key, and never echoes a
// refused value that may be a secret: a plain-text password where a bcrypt
// hash belongs, an htpasswd-style "user:password" where a user mapping
// belongs, or a password that a missing colon turned into a key.
func TestCheckReportsEveryComponentAtOnce(t *testing.T) {
	const (
		password  = "correct-horse-battery-staple"
		password2 = "tr0ub4dor-and-3"
		password3 = "hunter2-is-not-a-hash"
	)
	yaml := `path: /metrics
tokenId: sideways
ttl: 2h
vendTimeout: -1s
auth:
  method: basic
  users:
    - {username: alice, passwordHash: "` + password + `", groups: [chat]}
    - "bob:` + password2 + `"
    - {username: carol, passwordHash ` + password3 + `}
scopes:
  - group: chat
    permissions: [{role: publishsubscribe, cache: chat}]
narrowing: {keyParam: "a b"}
cors: {allowedOrigins: ["https://app.example.com/login"]}
rateLimit: {requestsPerSecond: -1}
reuse: {minRemaining: 2}
retry: {attempts: 20}
log: {level: chatty}
`
	path := filepath.Join(t.TempDir(), "tvm.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", path}, func(string) string { return "" }, nil, &stdout, &stderr)
	want := []string{
		// Decoding.
		"auth.users[1]: expected a mapping, got a string (not shown) (line 9)",
		`auth.users[2]: unknown key (not shown) (line 10)`,
		// The binary's keys.
		"path: reserved for the operations endpoints (/healthz, /readyz, /metrics, /openapi.json, /admin/...)",
		"tokenId: must be subject or query:<name>",
		"log.level: must be debug, info, warn or error",
		// The library's verdict, component by component.
		"retry.attempts: must be between 1 and 10",
		"auth.users[0].passwordHash: not a valid bcrypt hash",
		"auth.users[2].passwordHash: not a valid bcrypt hash",
		`scopes[0].permissions[0].topic: missing (set topic to a name or "*", or set topicPrefix)`,
		`narrowing.keyParam: must be 1 to 64 letters, digits, "_", "-" or "."`,
		"rateLimit.requestsPerSecond: must be a positive number",
		"ttl: must be between 1s and 1h0m0s",
		"vendTimeout: must not be negative",
		"reuse.minRemaining: must be between 0 and 1 (exclusive)",
		"cors.allowedOrigins[0]: (value not shown) is not an origin of the form scheme://host[:port]",
		"tvm: 15 problems in " + path,
	}
	if got := strings.TrimSuffix(stderr.String(), "\n"); code != exitConfig || stdout.Len() != 0 || got != strings.Join(want, "\n") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, stdout.String(), got, strings.Join(want, "\n"))
	}
	for _, secret := range []string{password, password2, password3} {
		if strings.Contains(stdout.String()+stderr.String(), secret) {
			t.Errorf("tvm check echoes the password %q", secret)
		}
	}
}

// TestREADMECheckExample holds the README's `tvm check` example: the YAML
// block after "For this `tvm.yaml`:" gives exactly the output shown after
// "`tvm check tvm.yaml` prints:".
func TestREADMECheckExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(after, fence string) string {
		t.Helper()
		_, rest, ok := strings.Cut(string(b), after)
		if !ok {
			t.Fatalf("README has no %q", after)
		}
		_, rest, ok = strings.Cut(rest, fence+"\n")
		if !ok {
			t.Fatalf("no %s block after %q", fence, after)
		}
		body, _, ok := strings.Cut(rest, "```\n")
		if !ok {
			t.Fatalf("unterminated block after %q", after)
		}
		return body
	}
	yaml := block("For this\n`tvm.yaml`:", "```yaml")
	want := block("`tvm check tvm.yaml` prints:", "```")
	dir := t.TempDir()
	path := filepath.Join(dir, "tvm.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", path}, func(string) string { return "" }, nil, &stdout, &stderr)
	if got := strings.ReplaceAll(stderr.String(), path, "tvm.yaml"); code != exitConfig || got != want {
		t.Errorf("exit %d, output:\n%s\nREADME shows:\n%s", code, got, want)
	}
}
