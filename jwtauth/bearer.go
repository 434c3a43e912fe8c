package jwtauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tvmgo/tvm"
)

// bearer extracts the bearer token from the Authorization header: exactly
// one header, the scheme "Bearer" in any case, one space, a token of the
// right shape (checkShape).
func bearer(h http.Header, maxToken int) (string, error) {
	vals := h.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("%w: no Authorization header", tvm.ErrNoCredentials)
	case 1:
	default:
		return "", tokenErr(TokenMalformed, errDuplicateHeader)
	}
	// Optional whitespace around a field value is not part of it (RFC 9110
	// section 5.5); net/http already strips it from requests it parses.
	v := strings.Trim(vals[0], " \t")
	if v == "" {
		return "", fmt.Errorf("%w: empty Authorization header", tvm.ErrNoCredentials)
	}
	const scheme = "Bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", fmt.Errorf("%w: Authorization header is not a Bearer credential", tvm.ErrNoCredentials)
	}
	rest := v[len(scheme):]
	if len(rest) < 2 || rest[0] != ' ' {
		// "Bearer", "Bearer ", "Bearer\t...", "Bearerx...".
		return "", tokenErr(TokenMalformed, errBadBearer)
	}
	token := rest[1:]
	if err := checkShape(token, maxToken); err != nil {
		return "", err
	}
	return token, nil
}

// checkShape refuses, before any decoding, a token that is too long, holds
// characters outside base64url and '.', or does not have exactly three
// segments.
func checkShape(token string, maxToken int) error {
	if len(token) > maxToken {
		return tokenErr(TokenMalformed, errTooLong)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch tokenChars[token[i]] {
		case charB64:
		case charDot:
			dots++
			if dots > 2 {
				return tokenErr(TokenMalformed, errSegments)
			}
		default:
			return tokenErr(TokenMalformed, errBadCharacters)
		}
	}
	if dots != 2 {
		return tokenErr(TokenMalformed, errSegments)
	}
	return nil
}

// Classes of the bytes of a compact JWS (tokenChars).
const (
	charBad byte = iota
	charB64      // base64url
	charDot      // segment separator
)

// tokenChars classifies every byte for checkShape, which runs on every
// request: a table lookup per byte.
var tokenChars = func() (t [256]byte) {
	for c := range 256 {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			t[c] = charB64
		case c == '.':
			t[c] = charDot
		}
	}
	return t
}()
