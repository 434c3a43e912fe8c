package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
)

// TestOneSourceOfTruth feeds the same values to the library and to
// `tvm check` and requires the same verdict, with the library's problem
// named by the configuration key. One pair of cases (accepted, refused) per
// rule that once existed twice and drifted apart: the Cognito region
// pattern, the loopback test of JWKS URLs, the case of CORS origins, the
// minimum bcrypt cost and the list of JWT algorithms.
func TestOneSourceOfTruth(t *testing.T) {
	hash := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	lowCost, goodCost := hash(bcrypt.MinCost), hash(bcrypt.DefaultCost)
	scopes := "scopes:\n  - default: true\n    permissions: [{role: subscribeonly, cache: c, topic: \"*\"}]\n"
	jwtYAML := func(url, alg string) string {
		return "auth:\n  method: jwt\n  jwt:\n    issuer: https://issuer.example.com/\n    audience: [tvm]\n    algorithms: [" + alg + "]\n    jwksURL: " + url + "\n" + scopes
	}
	jwtLib := func(url, alg string) error {
		a, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{Issuer: "https://issuer.example.com/", Audience: []string{"tvm"},
			Algorithms: []string{alg}, JWKSURL: url}}, Context: cancelled(), Logger: slog.New(slog.DiscardHandler)})
		if a != nil {
			a.Close()
		}
		return err
	}
	cognitoYAML := func(region string) string {
		return "auth:\n  method: cognito\n  cognito:\n    region: " + region + "\n    userPoolId: " + region + "_abc\n    clientId: client1\n    tokenUse: id\n" + scopes
	}
	cognitoLib := func(region string) error {
		a, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{Cognito: &jwtauth.Cognito{Region: region, UserPoolID: region + "_abc",
			ClientID: "client1", TokenUse: "id"}}}, Context: cancelled(), Logger: slog.New(slog.DiscardHandler)})
		if a != nil {
			a.Close()
		}
		return err
	}
	openYAML := func(origin string) string {
		return "auth: {method: open}\ncors:\n  allowedOrigins: [\"" + origin + "\"]\n" + scopes
	}
	originLib := func(origin string) error {
		_, err := tvm.NewHandler(tvm.Config{Authenticator: tvm.Open(), Scopes: unusedResolver{}, Vendor: checkVendor{},
			CORS: tvm.CORSOptions{AllowedOrigins: []string{origin}}})
		return err
	}
	basicYAML := func(h string) string {
		return "auth:\n  method: basic\n  users:\n    - {username: alice, passwordHash: '" + h + "'}\n" + scopes
	}
	basicLib := func(h string) error {
		_, err := tvm.NewBasic(tvm.BasicConfig{Users: []tvm.User{{Username: "alice", PasswordHash: h}}})
		return err
	}

	tests := []struct {
		name string
		yaml string
		lib  func() error
		key  string // the key a refusal names
	}{
		{"cognito region with a two-digit number", cognitoYAML("ap-southeast-10"), func() error { return cognitoLib("ap-southeast-10") }, ""},
		{"cognito region in upper case", cognitoYAML("US-WEST-2"), func() error { return cognitoLib("US-WEST-2") }, "auth.cognito.region"},
		{"jwks over http on 127.0.0.2 (loopback)", jwtYAML("http://127.0.0.2:8080/jwks", "RS256"), func() error { return jwtLib("http://127.0.0.2:8080/jwks", "RS256") }, ""},
		{"jwks over http on a public host", jwtYAML("http://keys.example.com/jwks", "RS256"), func() error { return jwtLib("http://keys.example.com/jwks", "RS256") }, "auth.jwt.jwksURL"},
		{"origin in mixed case", openYAML("https://App.Example.com"), func() error { return originLib("https://App.Example.com") }, ""},
		{"origin with a path", openYAML("https://app.example.com/x"), func() error { return originLib("https://app.example.com/x") }, "cors.allowedOrigins[0]"},
		{"bcrypt cost 10", basicYAML(goodCost), func() error { return basicLib(goodCost) }, ""},
		{"bcrypt cost 4", basicYAML(lowCost), func() error { return basicLib(lowCost) }, "auth.users[0].passwordHash"},
		{"jwt algorithm EdDSA", jwtYAML("https://keys.example.com/jwks", "EdDSA"), func() error { return jwtLib("https://keys.example.com/jwks", "EdDSA") }, ""},
		{"jwt algorithm HS256", jwtYAML("https://keys.example.com/jwks", "HS256"), func() error { return jwtLib("https://keys.example.com/jwks", "HS256") }, "auth.jwt.algorithms"},
		{"jwt algorithm ES256K", jwtYAML("https://keys.example.com/jwks", "ES256K"), func() error { return jwtLib("https://keys.example.com/jwks", "ES256K") }, "auth.jwt.algorithms"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			libErr := tt.lib()
			if libErr != nil && !errors.Is(libErr, tvm.ErrInvalidConfig) {
				t.Fatalf("library error %v does not wrap ErrInvalidConfig", libErr)
			}
			path := filepath.Join(dir, strings.Repeat("c", i+1)+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"check", path}, func(string) string { return "" }, nil, &stdout, &stderr)
			checkRefused := code != exitOK
			if (libErr != nil) != checkRefused {
				t.Fatalf("verdicts differ: library error %v; tvm check exit %d, output %s%s", libErr, code, stdout.String(), stderr.String())
			}
			if tt.key == "" {
				if checkRefused {
					t.Fatalf("both refused a value that should be accepted: %v", libErr)
				}
				return
			}
			if !checkRefused {
				t.Fatal("both accepted a value that should be refused")
			}
			// tvm check reports the library's own problem, under the key.
			var ce *tvm.ConfigError
			if !errors.As(libErr, &ce) {
				t.Fatalf("library error %v holds no *tvm.ConfigError", libErr)
			}
			// Go field names written as keys, and without a refused value of
			// 8 bytes or more: tvm check never prints one back (redactValues).
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			shown := redactValues(&doc, []problem{{key: tt.key, msg: yamlWords(ce.Problem, nil), lib: true}})[0]
			want := shown.String()
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("tvm check output %q does not hold %q", stderr.String(), want)
			}
		})
	}
}

// cancelled returns a context that is already done, so that a JWKS URL is
// never fetched.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
