// Package container tests the container image of cmd/tvm (the
// repository's Containerfile, built by scripts/container.sh) with Debian's
// podman and runc.
package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tvmgo/tvm/internal/testenv"
)

// podman runs podman with the test's containers.conf and runc, and returns
// its trimmed output.
func podman(t *testing.T, conf string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append([]string{"--runtime", "runc"}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestImage builds the image, checks it runs as a non-root user, starts it
// with the built-in demo (embedded emulator, open auth), asks it for a
// token through the published port, and stops it with SIGTERM: it must
// shut down cleanly (exit code 0, "stopped" in its log).
func TestImage(t *testing.T) {
	needs := testenv.Require(t)
	needs.Command("podman", "apt-get install podman runc")
	needs.Command("runc", "apt-get install runc")
	needs.Check()
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("rootless podman is not set up here; run as root")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "containers.conf")
	// The default ulimits cannot be set in this kind of VM.
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	image, name := "localhost/tvm:test-"+id, "tvm-test-"+id

	build := exec.Command("../../scripts/container.sh", image)
	build.Env = append(os.Environ(), "CONTAINERS_CONF="+conf, "PODMAN_RUNTIME=runc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/container.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = podman(t, conf, "rmi", "-f", image) })

	user, err := podman(t, conf, "image", "inspect", "--format", "{{.Config.User}}", image)
	if err != nil || user != "65532:65532" {
		t.Fatalf("image user = %q (%v), want 65532:65532 (not root)", user, err)
	}

	port := freePort(t)
	if out, err := podman(t, conf, "run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), image); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = podman(t, conf, "rm", "-f", name) })

	url := fmt.Sprintf("http://127.0.0.1:%d/api/momento/token?name=alice", port)
	var body struct {
		AuthToken string `json:"authToken"`
		ExpiresAt int64  `json:"expiresAt"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && err == nil {
				break
			}
			err = fmt.Errorf("status %d, %v", resp.StatusCode, err)
		}
		if time.Now().After(deadline) {
			logs, _ := podman(t, conf, "logs", name)
			t.Fatalf("no token from the container: %v\nlogs:\n%s", err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if body.AuthToken == "" || time.Until(time.Unix(body.ExpiresAt, 0)) < 10*time.Minute {
		t.Fatalf("token response %+v: want an authToken valid about 15 minutes", body)
	}
	if out, err := podman(t, conf, "top", name, "user"); err != nil || !strings.Contains(out, "65532") {
		t.Errorf("process user: %q (%v), want 65532", out, err)
	}

	// podman stop sends the image's STOPSIGNAL (SIGTERM), then SIGKILL
	// after the timeout: a clean shutdown exits 0 well before.
	start := time.Now()
	if out, err := podman(t, conf, "stop", "-t", "20", name); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("stopping took %s: the SIGTERM was not handled", took)
	}
	code, err := podman(t, conf, "inspect", "--format", "{{.State.ExitCode}}", name)
	logs, _ := podman(t, conf, "logs", name)
	if err != nil || code != "0" {
		t.Fatalf("exit code %q (%v) after SIGTERM, want 0\nlogs:\n%s", code, err, logs)
	}
	if !bytes.Contains([]byte(logs), []byte("stopped")) {
		t.Errorf("the log does not say the server stopped:\n%s", logs)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
