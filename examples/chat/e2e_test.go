package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tvmgo/tvm/internal/testenv"
)

// TestEndToEndInChromium runs the browser suite in e2e/ (node's test runner,
// playwright-core, Debian's chromium): a read-write and a read-only user
// chatting, a refused publish, token refresh without loss or duplicates,
// and the standalone shape with cmd/tvm on another origin. It needs
// /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` in web/ and e2e/.
// Without them it is skipped, except under CI=true, where it fails.
// Screenshots and logs go to test-artifacts/ (or $E2E_ARTIFACTS).
func TestEndToEndInChromium(t *testing.T) {
	needs := testenv.Require(t)
	chromium := needs.Chromium()
	node := needs.Command("node", "Node.js 20+")
	needs.NodeModules("web", "@gomomento/sdk-web")
	needs.NodeModules("e2e", "playwright-core")
	needs.Check()

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
