package tvm

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSubjectTokenIDCannotTakeOverHashedID: a user who chooses their own
// username cannot pick the hashed token id of someone else's long (or
// unprintable) subject, and so cannot publish under that id. Every subject
// that looks like a hashed id is hashed in turn.
func TestSubjectTokenIDCannotTakeOverHashedID(t *testing.T) {
	victim := Identity{Subject: strings.Repeat("v", MaxTokenIDLength+1), Method: "jwt"}
	victimID, err := SubjectTokenID(victim, nil)
	if err != nil || !strings.HasPrefix(victimID, hashedTokenIDPrefix) {
		t.Fatalf("victim id %q, %v", victimID, err)
	}
	for _, subject := range []string{
		victimID,                  // the exact hashed id
		hashedTokenIDPrefix,       // the prefix alone
		hashedTokenIDPrefix + "x", // anything starting with it
		hashedTokenIDPrefix + "🙂", // printable UTF-8 after it
	} {
		got, err := SubjectTokenID(Identity{Subject: subject, Method: "basic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got == victimID || got == subject {
			t.Errorf("subject %q got the token id %q verbatim", subject, got)
		}
		if !strings.HasPrefix(got, hashedTokenIDPrefix) || len(got) != 50 || !validTokenID(got) {
			t.Errorf("subject %q: token id %q, want a hashed id", subject, got)
		}
	}
	// Other subjects stay verbatim, the prefix compared exactly.
	for _, subject := range []string{"sha256", "SHA256-x", "xsha256-y", "sha-256-x"} {
		if got, _ := SubjectTokenID(Identity{Subject: subject}, nil); got != subject {
			t.Errorf("subject %q became %q", subject, got)
		}
	}
	// In open mode a caller cannot choose a hashed-looking id either.
	r := httptest.NewRequest("GET", "/?name="+victimID, nil)
	if got, err := QueryTokenID("name")(Identity{Subject: "anonymous", Method: MethodOpen}, r); err == nil {
		t.Errorf("open mode chose the hashed id %q", got)
	}
}
