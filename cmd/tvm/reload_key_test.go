package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tvmgo/tvm/internal/testenv"
	"github.com/tvmgo/tvm/momentolocal"
)

// reloadKeyChildEnv marks the child process of
// TestBinaryReloadKeySymlinkSwap; its value is the test CA's directory.
const reloadKeyChildEnv = "TVM_RELOAD_KEY_CHILD_DIR"

// The two Momento "regions" of the key swap test: each an emulator behind
// TLS on port 443, on its own loopback address.
var keySwapCells = []struct{ endpoint, ip string }{
	{"cell-a.tvm.test", "127.0.0.1"},
	{"cell-b.tvm.test", "127.0.0.2"},
}

// TestBinaryReloadKeySymlinkSwap: MOMENTO_API_KEY_FILE mounted from a
// Kubernetes Secret (a symlink through ..data); the kubelet's swap to a
// new key, for another Momento endpoint, replaces the vendor: the next
// token comes from the new endpoint with the new key, /readyz checks the
// new endpoint, and the old vendor is closed. The binary runs with two
// TLS emulators on port 443 whose host names resolve in a private mount
// and network namespace (as in the root package's v2 key test).
func TestBinaryReloadKeySymlinkSwap(t *testing.T) {
	if dir := os.Getenv(reloadKeyChildEnv); dir != "" {
		reloadKeyChild(t, dir)
		return
	}
	t.Parallel()
	var names []string
	hostsFile := "127.0.0.1 localhost\n::1 localhost\n"
	for _, c := range keySwapCells {
		cell := []string{c.endpoint, "token." + c.endpoint, "cache." + c.endpoint, "control." + c.endpoint, "storage." + c.endpoint}
		names = append(names, cell...)
		hostsFile += c.ip + " " + strings.Join(cell, " ") + "\n"
	}
	hosts, ok := testenv.Hosts(t, names...)
	if !ok {
		t.Skip("no private namespace for the test host names")
	}
	if err := os.WriteFile(hosts, []byte(hostsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	ca := testenv.NewCA(t, names...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := testenv.InNamespace(ctx, hosts, true, os.Args[0], "-test.run", "^TestBinaryReloadKeySymlinkSwap$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), reloadKeyChildEnv+"="+ca.Dir, testBinEnv+"="+tvmBin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBinaryReloadKeySymlinkSwap") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// reloadKeyChild runs in the namespace.
func reloadKeyChild(t *testing.T, dir string) {
	var emus []*momentolocal.Server
	var keys []string
	for _, c := range keySwapCells {
		emu, err := momentolocal.Start(momentolocal.Config{
			Addr: c.ip + ":443", TLS: testenv.ServerTLS(t, dir), Endpoint: c.endpoint, RequireAPIKey: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { emu.Close() })
		emus = append(emus, emu)
		// A v1 key (base64 JSON naming its endpoint) holding the
		// emulator's root key.
		keys = append(keys, base64.StdEncoding.EncodeToString([]byte(`{"endpoint":"`+c.endpoint+`","api_key":"`+emu.RootAPIKey()+`"}`)))
	}
	vol := newK8sVolume(t, "momento-api-key", keys[0]+"\n")
	cfg := writeConfig(t, `
auth: {method: open}
tokenId: query:name
scopes:
  - default: true
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
`)
	p := startTVM(t, baseEnv(t, "MOMENTO_API_KEY_FILE="+vol.path(), "SSL_CERT_FILE="+filepath.Join(dir, "ca.pem"), "TVM_RELOAD_INTERVAL=50ms"), "--config", cfg)
	p.secrets = append(p.secrets, keys[0], keys[1], emus[0].RootAPIKey(), emus[1].RootAPIKey())

	tokenFrom := func(name string, want int) {
		t.Helper()
		resp, body := get(t, p.url("/api/momento/token?name="+name), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token for %s: %d %+v", name, resp.StatusCode, body)
		}
		p.secrets = append(p.secrets, body.AuthToken)
		for i, emu := range emus {
			var ids []string
			for _, r := range emu.TokenRequests() {
				ids = append(ids, r.TokenID)
			}
			if got := strings.Contains(strings.Join(ids, ","), name); got != (i == want) {
				t.Errorf("token for %s: emulator %s received %v", name, keySwapCells[i].endpoint, ids)
			}
		}
	}
	ready := func() int {
		t.Helper()
		resp, err := http.Get(p.url("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tokenFrom("before", 0)
	if s := ready(); s != http.StatusOK {
		t.Errorf("/readyz before the swap: %d", s)
	}

	vol.swap(keys[1] + "\n")
	waitReloads(t, p, "ok", 1)
	tokenFrom("after", 1)
	logs := p.stderr.String()
	for _, want := range []string{`trigger="changed: ` + vol.path() + `"`, "token endpoint token.cell-b.tvm.test:443", "apiKeyChanged=true",
		`msg="closed the previous configuration (no request in flight on it)" generation=1`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	// /readyz now checks the new endpoint: down, then not ready.
	emus[1].Close()
	waitFor(t, "/readyz to check the new endpoint", func() bool { return ready() == http.StatusServiceUnavailable })
}
