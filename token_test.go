package tvm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestTokenNeverPrintsItsSecret: a Token printed, logged or encoded in any
// usual way, on its own or inside another value, shows its expiry and
// never its AuthToken.
func TestTokenNeverPrintsItsSecret(t *testing.T) {
	const secret = "eyJhcGlfa2V5IjoidG9rZW4tc2VjcmV0LTEyMzQ1In0="
	tok := Token{AuthToken: secret, ExpiresAt: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Endpoint: "cell.example.com"}
	type holder struct {
		Token Token
		Ptr   *Token
	}
	h := holder{Token: tok, Ptr: &tok}
	var outs []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		outs = append(outs, fmt.Sprintf(format, tok), fmt.Sprintf(format, h))
	}
	for _, v := range []any{tok, h, []Token{tok}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		outs = append(outs, string(b))
	}
	var buf bytes.Buffer
	for _, handler := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		log := slog.New(handler)
		log.Info("vended", "token", tok, "holder", h, "any", slog.AnyValue(h))
	}
	outs = append(outs, buf.String())
	for _, out := range outs {
		if strings.Contains(out, secret) || strings.Contains(out, "token-secret") {
			t.Errorf("the secret shows in %q", out)
		}
	}
	if b, _ := json.Marshal(tok); !strings.Contains(string(b), "2026-12-01T12:00:00Z") {
		t.Errorf("json of a token %s does not say when it expires", b)
	}
}
