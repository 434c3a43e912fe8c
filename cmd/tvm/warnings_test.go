package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkRun runs `tvm check [args] FILE` in process on yaml with the
// environment env (name=value) and returns the exit code and outputs.
func checkRun(t *testing.T, yaml string, env []string, args ...string) (int, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tvm.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		for _, kv := range env {
			if name, v, ok := strings.Cut(kv, "="); ok && name == k {
				return v
			}
		}
		return ""
	}
	var out, errOut bytes.Buffer
	code := run(t.Context(), append(append([]string{"check"}, args...), path), getenv, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCheckWarnings: tvm check warns (exit 0, one line each, naming the
// key, never quoting a value) about configurations that are valid but
// dangerous, and --strict refuses them (exit 2).
func TestCheckWarnings(t *testing.T) {
	abs, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	jwtAuth := strings.Replace(jwtAuth, "../../testdata", abs, 1) // the file is in a temporary directory
	open := "auth: {method: open}\n"
	ro := "scopes: [{default: true, permissions: [{role: subscribeonly, cache: c, topic: t}]}]\n"
	tests := []struct {
		name string
		yaml string
		env  []string
		keys []string
	}{
		{"nothing dangerous", open + ro, nil, nil},
		{"open auth with a writing permission", open +
			"scopes: [{default: true, permissions: [{role: publishsubscribe, cache: c, topic: t}, {role: subscribeonly, cache: c, topic: u}, {role: writeonly, cache: c}]}]\n",
			nil, []string{"scopes[0].permissions[0].role", "scopes[0].permissions[2].role"}},
		{"open auth with CORS *", open + ro + "cors: {allowedOrigins: ['*']}\n", nil, []string{"cors.allowedOrigins"}},
		{"open auth on a non-loopback address", open + ro, []string{"TVM_ADDR=0.0.0.0:8080"}, []string{"TVM_ADDR"}},
		{"open auth on every interface", open + ro, []string{"TVM_ADDR=:8080"}, []string{"TVM_ADDR"}},
		{"open auth on localhost", open + ro, []string{"TVM_ADDR=localhost:8080"}, nil},
		{"basic auth on a non-loopback address", jwtAuth + ro, []string{"TVM_ADDR=0.0.0.0:8080"}, nil},
		{"a bare {sub} can be a fixed topic", jwtAuth + "scopes:\n  - group: admins\n    permissions: [{role: publishsubscribe, cache: c, topic: announcements}]\n" +
			"  - default: true\n    permissions: [{role: publishsubscribe, cache: c, topic: '{sub}'}]\n", nil, []string{"scopes[1].permissions[0].topic"}},
		{"a claim can be a fixed cache", jwtAuth + "scopes:\n  - group: admins\n    permissions: [{role: readwrite, cache: billing}]\n" +
			"  - default: true\n    permissions: [{role: readwrite, cache: '{tenant}'}]\n", nil, []string{"scopes[1].permissions[0].cache"}},
		{"a templated prefix can cover a fixed topic", jwtAuth + "scopes:\n  - default: true\n    permissions:\n" +
			"      - {role: subscribeonly, cache: c, topic: 'room/1'}\n      - {role: publishsubscribe, cache: c, topicPrefix: '{sub}/'}\n", nil, []string{"scopes[0].permissions[1].topicPrefix"}},
		{"templates kept apart from fixed names", jwtAuth + "scopes:\n  - group: admins\n    permissions: [{role: publishsubscribe, cache: c, topic: room-1}]\n" +
			"  - default: true\n    permissions: [{role: publishsubscribe, cache: c, topic: 'user-{sub}'}, {role: publishsubscribe, cache: other, topic: '{sub}'}]\n", nil, nil},
		{"a shared rate limit failing open", jwtAuth + ro + "rateLimit: {shared: {cache: rl, limit: 5}}\n", nil, []string{"rateLimit.shared.failClosed"}},
		{"a shared vend ceiling failing open", jwtAuth + ro + "vendLimit: {shared: {cache: rl, limit: 4, window: 1s}}\n", nil, []string{"vendLimit.shared.failClosed"}},
		{"shared limits with a fallback or failing closed", jwtAuth + ro + "rateLimit: {requestsPerSecond: 2, shared: {cache: rl, limit: 5}}\nvendLimit: {shared: {cache: rl, limit: 4, window: 1s, failClosed: true}}\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := checkRun(t, tt.yaml, tt.env)
			var keys []string
			for line := range strings.Lines(stderr) {
				rest, ok := strings.CutPrefix(line, "warning: ")
				if !ok {
					t.Errorf("not a warning line: %q", line)
					continue
				}
				key, _, _ := strings.Cut(rest, ": ")
				keys = append(keys, key)
			}
			if code != exitOK || !strings.Contains(stdout, ": ok (") || !slices.Equal(keys, tt.keys) {
				t.Errorf("exit %d, warnings %q, want %q\nstdout %s\nstderr %s", code, keys, tt.keys, stdout, stderr)
			}
			for _, secretish := range []string{"announcements", "billing", "room/1"} {
				if strings.Contains(stderr, secretish) {
					t.Errorf("a warning quotes the value %q: %s", secretish, stderr)
				}
			}
			code, stdout, stderr = checkRun(t, tt.yaml, tt.env, "--strict")
			switch {
			case len(tt.keys) == 0 && (code != exitOK || stderr != ""):
				t.Errorf("--strict without warnings: exit %d, %s", code, stderr)
			case len(tt.keys) > 0 && (code != exitConfig || stdout != "" || !strings.Contains(stderr, "refused by --strict")):
				t.Errorf("--strict: exit %d, stdout %q, stderr %s", code, stdout, stderr)
			}
		})
	}
}

// TestConfigWarningJWTAudience: a JWT issuer that accepts tokens without
// an audience is a warning, inline or among several issuers.
func TestConfigWarningJWTAudience(t *testing.T) {
	scopes := "scopes: [{default: true, permissions: [{role: readonly, cache: c}]}]\n"
	keys := "jwksFile: ../../testdata/jwt/jwks-public.json, algorithms: [RS256]"
	for yaml, want := range map[string]string{
		"auth: {method: jwt, jwt: {issuer: https://i.example/, audience: [app], " + keys + "}}\n":                                          "",
		"auth: {method: jwt, jwt: {issuer: https://i.example/, allowMissingAudience: true, requiredClaims: {azp: [app]}, " + keys + "}}\n": "auth.jwt.allowMissingAudience",
		"auth: {method: jwt, jwt: {issuers: [{name: a, issuer: https://i.example/, audience: [app], " + keys + "}, " +
			"{name: b, issuer: https://j.example/, allowMissingAudience: true, requiredClaims: {azp: [app]}, " + keys + "}]}}\n": "auth.jwt.issuers[1].allowMissingAudience",
	} {
		cfg, err := ParseConfig([]byte(yaml + scopes))
		if err != nil {
			t.Fatal(err)
		}
		w := configWarnings(cfg, "127.0.0.1:8080")
		if want == "" && len(w) != 0 || want != "" && (len(w) != 1 || w[0].key != want) {
			t.Errorf("%s: warnings %v, want %q", yaml, w, want)
		}
	}
}

// TestDemoWarnings: the demo warns only when it listens beyond loopback.
func TestDemoWarnings(t *testing.T) {
	if w := configWarnings(DemoConfig(), "127.0.0.1:8080"); len(w) != 0 {
		t.Errorf("demo on loopback: %v", w)
	}
	if w := configWarnings(DemoConfig(), "0.0.0.0:8080"); len(w) != 1 || w[0].key != "TVM_ADDR" || !strings.Contains(w[0].msg, "the demo") {
		t.Errorf("demo on 0.0.0.0: %v", w)
	}
}
