package main

import (
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

	testenv.RunBrowserSuite(t, node, chromium, "e2e", "chat.test.mjs", 8*time.Minute)
}
