package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("p%.2f = %s, want %s", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("empty")
	}
}

// TestLoadCounts runs both loops against a server that refuses the hostile
// requests and checks the bookkeeping.
func TestLoadCounts(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		switch r.Header.Get("Authorization") {
		case "bad":
			w.WriteHeader(http.StatusUnauthorized)
			return
		case "shed":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(baselineBody)
	}))
	defer srv.Close()
	reqs := func(_, i int) request {
		if i%4 == 1 {
			return request{header: "bad"}
		}
		if i%4 == 3 {
			return request{header: "shed"}
		}
		return request{header: "good", valid: true}
	}
	for _, rate := range []float64{0, 400} {
		o := options{duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond, conns: 4, rate: rate}
		res := load(o, "t", srv.URL, reqs)
		if res.Errors != 0 || res.Wrong != 0 || res.Requests == 0 || res.Refused == 0 || res.Shed == 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
			t.Errorf("rate %v: %+v", rate, res)
		}
		if rate > 0 && (res.RPS < rate/2 || res.RPS > rate*1.5) {
			t.Errorf("open loop at %v req/s ran at %.0f", rate, res.RPS)
		}
	}
}

func TestIssuerTokens(t *testing.T) {
	is, err := newIssuer(5)
	if err != nil {
		t.Fatal(err)
	}
	defer is.close()
	if len(is.valid) != 5 || len(is.forged) != 5 {
		t.Fatalf("%d valid, %d forged", len(is.valid), len(is.forged))
	}
	a, b := is.randomKID(), is.randomKID()
	if a == b || strings.Count(a, ".") != 2 {
		t.Fatalf("random kid tokens %q %q", a, b)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimPrefix(a, "Bearer "), ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(raw, &h); err != nil || h.Alg != "RS256" || !strings.HasPrefix(h.Kid, "rnd-") {
		t.Errorf("header %s: %v", raw, err)
	}
	resp, err := http.Get(is.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if is.hits.Load() != 1 {
		t.Errorf("JWKS hits %d", is.hits.Load())
	}
}
