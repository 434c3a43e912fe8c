package tvm

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TokenIDPolicy chooses the token id of a vended token: the name Momento
// attaches to the token and shows to other subscribers as the sender of every
// message published with it. It runs after authentication and only when the
// resolver's Grant has no TokenID. An error wrapping ErrBadRequest becomes a
// 400, ErrInvalidCredentials a 401, anything else a 500.
type TokenIDPolicy func(id Identity, r *http.Request) (string, error)

// hashedTokenIDPrefix starts the token ids derived from a subject that
// cannot be used verbatim.
const hashedTokenIDPrefix = "sha256-"

// SubjectTokenID is the default TokenIDPolicy: the verified subject.
//
// A subject of at most MaxTokenIDLength bytes of valid UTF-8 without control
// or format characters, and not starting with "sha256-", is used verbatim.
// Any other non-empty subject (too long, with control or format characters
// such as bidi overrides, or looking like a hashed id) is replaced by
// "sha256-" followed by the unpadded base64url SHA-256 of the subject (50
// characters): stable for the same subject, and, unlike truncation, never
// the same for two subjects that share a prefix; and since no subject keeps
// the "sha256-" prefix verbatim, a user who chooses their own name cannot
// take the hashed id of another. Nobody can publish under someone else's
// name. An empty subject is refused with ErrInvalidCredentials.
func SubjectTokenID(id Identity, _ *http.Request) (string, error) {
	if id.Subject == "" {
		return "", fmt.Errorf("%w: identity has no subject for the token id", ErrInvalidCredentials)
	}
	if validTokenID(id.Subject) && !strings.HasPrefix(id.Subject, hashedTokenIDPrefix) {
		return id.Subject, nil
	}
	sum := sha256.Sum256([]byte(id.Subject))
	return hashedTokenIDPrefix + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// QueryTokenID returns a TokenIDPolicy that lets an open-mode caller choose
// its token id with the query parameter param (for example "?name=alice" in
// a public demo chat). The caller-chosen id is honoured only when the
// identity's Method is "open" (see Open): for every authenticated caller the
// parameter is ignored and the verified subject is used (SubjectTokenID), so
// an authenticated caller can never publish under another user's name.
//
// In open mode a missing parameter falls back to SubjectTokenID
// ("anonymous"); a parameter given twice, empty, longer than
// MaxTokenIDLength bytes, not UTF-8, or with control or format characters
// is a 400, as is a name starting with "sha256-" (the prefix of the ids
// SubjectTokenID hashes). Remember that an open-mode token id proves
// nothing: anyone can pick any name.
func QueryTokenID(param string) TokenIDPolicy {
	return func(id Identity, r *http.Request) (string, error) {
		if id.Method != MethodOpen {
			return SubjectTokenID(id, r)
		}
		values, present := r.URL.Query()[param]
		if !present {
			return SubjectTokenID(id, r)
		}
		if len(values) != 1 {
			return "", fmt.Errorf("%w: query parameter %q given more than once", ErrBadRequest, param)
		}
		if !validTokenID(values[0]) {
			return "", fmt.Errorf("%w: query parameter %q must be 1 to %d bytes of printable UTF-8", ErrBadRequest, param, MaxTokenIDLength)
		}
		if strings.HasPrefix(values[0], hashedTokenIDPrefix) {
			return "", fmt.Errorf("%w: query parameter %q must not start with %q (hashed token ids)", ErrBadRequest, param, hashedTokenIDPrefix)
		}
		return values[0], nil
	}
}

// validTokenID reports whether s can be used as a token id as is.
func validTokenID(s string) bool {
	if s == "" || len(s) > MaxTokenIDLength || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		// Format characters (bidi overrides, zero-width joiners) would let a
		// name display as another.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}
