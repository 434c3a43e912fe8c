package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestCheckRefusesScopesWritingCounters: with rateLimit.shared or
// vendLimit.shared, a scope that could write the counter cache is refused
// by the library, and tvm check reports it under the permission's key.
func TestCheckRefusesScopesWritingCounters(t *testing.T) {
	scopes := "scopes:\n  - group: g\n    permissions: [{role: readonly, cache: c}]\n  - default: true\n    permissions:\n" +
		"      - {role: subscribeonly, cache: c, topic: t}\n      - %s\n"
	for _, tt := range []struct{ limit, perm string }{
		{"rateLimit: {shared: {cache: tvm-counters, limit: 10}}", "{role: readwrite, cache: '*'}"},
		{"rateLimit: {shared: {cache: tvm-counters, limit: 10}}", "{role: writeonly, cache: tvm-counters, keyPrefix: 'mine/'}"},
		{"vendLimit: {shared: {cache: tvm-counters, limit: 4, window: 1s}}", "{role: readwrite, cache: '{sub}'}"},
	} {
		yaml := jwtAuth + tt.limit + "\n" + strings.Replace(scopes, "%s", tt.perm, 1)
		_, err := ParseConfig([]byte(yaml))
		var ce configErrors
		if !errors.As(err, &ce) || len(ce) != 1 || ce[0].key != "scopes[1].permissions[1].cache" || !strings.Contains(ce[0].msg, "which holds the shared counters of") {
			t.Errorf("%s + %s: %v", tt.limit, tt.perm, err)
		}
	}
	// Reading the counter cache, or writing another, is fine.
	for _, perm := range []string{"{role: readonly, cache: tvm-counters}", "{role: readwrite, cache: other}", "{role: readwrite, cache: 'user-{sub}'}"} {
		yaml := jwtAuth + "rateLimit: {shared: {cache: tvm-counters, limit: 10}}\n" + strings.Replace(scopes, "%s", perm, 1)
		if _, err := ParseConfig([]byte(yaml)); err != nil {
			t.Errorf("%s refused: %v", perm, err)
		}
	}
}

// TestCounterSecret: instances holding the same API key name the counters
// alike; another key names them differently, and the secret is not the key.
func TestCounterSecret(t *testing.T) {
	a, b, other := counterSecret("key-1"), counterSecret("key-1"), counterSecret("key-2")
	if !bytes.Equal(a, b) || bytes.Equal(a, other) || len(a) != 32 || bytes.Contains(a, []byte("key-1")) {
		t.Errorf("secrets %x %x %x", a, b, other)
	}
}
