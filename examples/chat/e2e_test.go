package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestEndToEndInChromium runs the browser suite in e2e/ (node's test runner,
// playwright-core, Debian's chromium): a read-write and a read-only user
// chatting, a refused publish, token refresh without loss or duplicates,
// and the standalone shape with cmd/tvm on another origin. It needs
// /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` in web/ and e2e/.
// Without them it is skipped, except under CI=true, where it fails.
// Screenshots and logs go to test-artifacts/ (or $E2E_ARTIFACTS).
func TestEndToEndInChromium(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Node.js 20+)")
	}
	for _, dir := range []string{"web", "e2e"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
			missing = append(missing, "examples/chat/"+dir+"/node_modules (npm ci --prefix examples/chat/"+dir+")")
		}
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the browser test cannot run; missing: %v", missing)
		}
		t.Skipf("browser test skipped; missing: %v", missing)
	}

	artifacts, err := filepath.Abs("test-artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if v := os.Getenv("E2E_ARTIFACTS"); v != "" {
		artifacts = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "chat.test.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "E2E_ARTIFACTS="+artifacts, "CHROMIUM="+chromium)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("node --test e2e/chat.test.mjs (artifacts in %s):\n%s", artifacts, out.String())
	if err != nil {
		t.Fatalf("browser suite failed: %v", err)
	}
}
