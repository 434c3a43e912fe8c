package tvm

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestBasicTimingDoesNotRevealUsers measures, as a benchmark would, how
// long a Basic login takes for an unknown username and for each known one
// (with a wrong password): with every configuration NewBasic accepts, the
// medians stay within 1.5× of each other, so timing does not tell which
// users exist. A configuration mixing bcrypt costs (one user at 10, one at
// 12: the unknown user would take as long as the slowest one and the
// cost-10 user would stand out, about 4×) must be refused.
//
// The threshold is generous (the medians of the same work differ by a few
// percent) and the cost difference it guards against is 4×. It takes a few
// seconds of bcrypt, so it is skipped under -short.
func TestBasicTimingDoesNotRevealUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("measures bcrypt timings (several seconds)")
	}
	hash := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte("the right password"), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	h10 := hash(10)
	mixed, err := NewBasic(BasicConfig{Users: []User{{Username: "alice", PasswordHash: h10}, {Username: "bob", PasswordHash: hash(12)}}})
	if err == nil {
		checkBasicTiming(t, mixed, 5, "nobody", "alice", "bob")
	} else if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("mixed costs: %v, want ErrInvalidConfig", err)
	}
	uniform, err := NewBasic(BasicConfig{Users: []User{{Username: "alice", PasswordHash: h10}, {Username: "bob", PasswordHash: hash(10)}}})
	if err != nil {
		t.Fatal(err)
	}
	checkBasicTiming(t, uniform, 9, "nobody", "alice", "bob")
}

// checkBasicTiming logs in n times as each user with a wrong password,
// interleaved (so that a change of the machine's load hits every user
// alike), and fails when the slowest median exceeds 1.5× the fastest.
func checkBasicTiming(t *testing.T, a *BasicAuthenticator, n int, users ...string) {
	t.Helper()
	times := make([][]time.Duration, len(users))
	for range n {
		for i, u := range users {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u+":a wrong password")))
			start := time.Now()
			if _, err := a.Authenticate(r); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("%s: %v", u, err)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	medians := make([]time.Duration, len(users))
	for i := range users {
		slices.Sort(times[i])
		medians[i] = times[i][n/2]
	}
	lo, hi := slices.Min(medians), slices.Max(medians)
	t.Logf("median login time over %d attempts: %v = %v", n, users, medians)
	if float64(hi) > 1.5*float64(lo) {
		t.Errorf("login time tells users apart: medians %v = %v (%.1f×, want ≤ 1.5×)", users, medians, float64(hi)/float64(lo))
	}
}
