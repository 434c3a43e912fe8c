package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/momentolocal"

	"github.com/tvmgo/tvm/internal/testenv"
)

// gatedVendor reports each call on entered, then waits for release (when
// set) before calling the vendor it wraps.
type gatedVendor struct {
	tvm.Vendor
	entered chan struct{}
	release chan struct{}
}

func (g *gatedVendor) Vend(ctx context.Context, grant tvm.Grant) (tvm.Token, error) {
	g.entered <- struct{}{}
	if g.release != nil {
		<-g.release
	}
	return g.Vendor.Vend(ctx, grant)
}

// TestMetricsClientGoneMidVend: a client that goes away while its token is
// being vended is counted as outcome "canceled" (499), not as
// upstream_unavailable; tvm_upstream_errors_total does not move, and the
// request's log line is at info level. Without reuse the vend itself is
// canceled (vend result "canceled"); with reuse the vend is shared, goes
// on for the next identical request, and succeeds.
func TestMetricsClientGoneMidVend(t *testing.T) {
	tests := []struct {
		name       string
		extra      string
		gate       bool   // hold the vend in the test rather than in Momento
		vendResult string // the tvm_vend_duration_seconds result of the vend
	}{
		{"reuse off", "reuse: {enabled: false}\n", false, "canceled"},
		{"reuse on", "", true, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, err := momentolocal.Start(momentolocal.Config{RequireAPIKey: true})
			if err != nil {
				t.Fatal(err)
			}
			defer emu.Close()
			prov, err := emu.CredentialProvider()
			if err != nil {
				t.Fatal(err)
			}
			mv, err := tvm.NewMomentoVendor(tvm.MomentoVendorConfig{CredentialProvider: prov})
			if err != nil {
				t.Fatal(err)
			}
			defer mv.Close()
			vendor := &gatedVendor{Vendor: mv, entered: make(chan struct{}, 2)}
			if tt.gate {
				vendor.release = make(chan struct{})
			} else if _, err := emu.Faults().Add(momentolocal.Fault{Method: "GenerateDisposableToken", Latency: time.Minute, Count: 1}); err != nil {
				t.Fatal(err)
			}

			cfg, err := ParseConfig([]byte(base + tt.extra))
			if err != nil {
				t.Fatal(err)
			}
			logs := &testenv.SyncBuffer{}
			m := newMetrics()
			svc, err := buildTokenService(context.Background(), cfg, vendor, nil, m, newLogger(LogConfig{Level: "debug", Format: "json"}, false, logs, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			served := make(chan struct{}, 2)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				svc.handler.ServeHTTP(w, r)
				served <- struct{}{}
			}))
			defer srv.Close()

			ctx, cancel := context.WithCancel(context.Background())
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+defaultPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			gone := make(chan error, 1)
			go func() {
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				gone <- err
			}()
			wait := func(c <-chan struct{}, what string) {
				t.Helper()
				select {
				case <-c:
				case <-time.After(30 * time.Second):
					t.Fatalf("timed out waiting for %s", what)
				}
			}
			wait(vendor.entered, "the vend")
			cancel() // the client goes away mid-vend
			if err := <-gone; err == nil {
				t.Fatal("the canceled request got an answer")
			}
			wait(served, "the canceled request to end")

			if tt.gate {
				// The shared vend goes on and serves the next request.
				close(vendor.release)
				resp, err := srv.Client().Get(srv.URL + defaultPath)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("the next request: %d", resp.StatusCode)
				}
				wait(served, "the next request")
				if n := len(emu.TokenRequests()); n != 1 {
					t.Errorf("%d vends reached Momento, want 1 (shared)", n)
				}
			}

			rec := httptest.NewRecorder()
			m.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			metrics := rec.Body.String()
			want := []string{
				`tvm_token_requests_total{outcome="canceled"} 1`,
				`tvm_token_requests_total{outcome="upstream_unavailable"} 0`,
				`tvm_token_requests_total{outcome="internal"} 0`,
				`tvm_upstream_errors_total{kind="unavailable"} 0`,
				`tvm_upstream_errors_total{kind="timeout"} 0`,
				`tvm_upstream_errors_total{kind="rejected"} 0`,
				`tvm_upstream_errors_total{kind="other"} 0`,
				`tvm_vend_duration_seconds_count{result="` + tt.vendResult + `"} 1`,
				`tvm_token_requests_in_flight 0`,
			}
			for _, w := range want {
				if !strings.Contains(metrics, w) {
					t.Errorf("metrics lack %s", w)
				}
			}
			if strings.Contains(metrics, `tvm_vend_duration_seconds_count{result="error"}`) {
				t.Error("the vend is counted as an error")
			}

			// One line per request; the canceled one at info level.
			var canceled int
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l struct {
					Level   string `json:"level"`
					Msg     string `json:"msg"`
					Status  int    `json:"status"`
					Outcome string `json:"outcome"`
				}
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if l.Level == "ERROR" || l.Level == "WARN" {
					t.Errorf("logged at %s: %s", l.Level, line)
				}
				if l.Msg == "tvm token request" && l.Outcome == tvm.CodeCanceled {
					canceled++
					if l.Level != "INFO" || l.Status != 499 {
						t.Errorf("canceled request logged as %s", line)
					}
				}
			}
			if canceled != 1 {
				t.Errorf("%d log lines for the canceled request, want 1:\n%s", canceled, logs.String())
			}
		})
	}
}
