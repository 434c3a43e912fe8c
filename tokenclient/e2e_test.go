// Package tokenclient has no Go code: this directory is the npm package
// @tvmgo/token-client (TypeScript, see README.md). Its one Go test runs the
// package's browser suite, so that `go test ./...` covers it.
package tokenclient

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tvmgo/tvm/internal/testenv"
)

// TestBrowserSuite runs the package's browser suite (test/browser: node's
// test runner, playwright-core, Debian's chromium) against cmd/tvm and its
// embedded Momento emulator: token fetching with 401/403/429/503, clock
// skew, and a topic subscription across token expiry, dropped connections
// and a discontinuity. It needs /usr/bin/chromium (or $CHROMIUM), node and
// `npm ci` in this directory. Without them it is skipped, except under
// CI=true, where it fails. Logs go to test-artifacts/ (or $E2E_ARTIFACTS).
func TestBrowserSuite(t *testing.T) {
	needs := testenv.Require(t)
	chromium := needs.Chromium()
	node := needs.Command("node", "Node.js 20+")
	needs.Command("npm", "npm")
	needs.NodeModules(".", "playwright-core")
	needs.Check()

	testenv.RunBrowserSuite(t, node, chromium, ".", filepath.Join("test", "browser", "browser.test.mjs"), 6*time.Minute)
}
