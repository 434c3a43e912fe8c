package momentolocal_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tvmgo/tvm/internal/testenv"
	"github.com/tvmgo/tvm/momentolocal"
)

// nodeTestDir holds the Node test project (package.json, package-lock.json).
const nodeTestDir = "nodetest"

// requireNode returns the node binary, after checking that the Node test
// project's dependencies are installed. Without them it fails under CI
// (CI=true) and skips, saying why, elsewhere.
func requireNode(t *testing.T) string {
	t.Helper()
	needs := testenv.Require(t)
	node := needs.Command("node", "Node.js 20+, to run the Node SDK tests")
	needs.NodeModules(nodeTestDir, "@gomomento/sdk", "@gomomento/sdk-web", "xhr2")
	needs.Check()
	return node
}

// runNode runs one Node test file against srv and fails t if it fails.
func runNode(t *testing.T, node string, srv *momentolocal.Server, file string) {
	t.Helper()
	runNodeEnv(t, node, file,
		"MOMENTOLOCAL_ADDR="+srv.Addr(),
		"MOMENTOLOCAL_URL="+srv.URL(),
		"MOMENTOLOCAL_ROOT_KEY="+srv.RootAPIKey(),
	)
}

// runNodeEnv runs one Node test file with env added to the environment
// and fails t if it fails.
func runNodeEnv(t *testing.T, node, file string, env ...string) {
	t.Helper()
	runNodeEnvHosts(t, node, "", []string{file}, env...)
}

// runNodeEnvHosts runs Node test files with env added to the environment;
// with hosts set, in a private mount namespace where that file is
// /etc/hosts (see hostsNamespace). It fails t if they fail.
func runNodeEnvHosts(t *testing.T, node, hosts string, files []string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	if hosts != "" {
		cmd = testenv.InNamespace(ctx, hosts, false, node, args...)
	}
	cmd.Dir = nodeTestDir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %v failed: %v\n%s", files, err, out)
	}
	t.Logf("node --test %v:\n%s", files, out)
}

// tokenRequestsByID indexes the emulator's token requests by token id.
func tokenRequestsByID(srv *momentolocal.Server) map[string]momentolocal.TokenRequest {
	m := map[string]momentolocal.TokenRequest{}
	for _, r := range srv.TokenRequests() {
		m[r.TokenID] = r
	}
	return m
}

func TestNodeSDK(t *testing.T) {
	node := requireNode(t)
	srv := startServer(t, momentolocal.Config{})
	runNode(t, node, srv, "sdk.test.cjs")

	// What the Node SDK's GenerateDisposableToken requests carried.
	reqs := tokenRequestsByID(srv)
	want := map[string][]momentolocal.Permission{
		"node-alice": {{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"}},
		"node-bob":   {{Role: "subscribeonly", Cache: "*", Topic: "node-chat"}},
		"node-w":     {{Role: "readwrite", Cache: "default-cache", KeyPrefix: "alice/"}},
		"node-r":     {{Role: "readonly", Cache: "default-cache", KeyPrefix: "alice/"}},
		"node-c":     {{Role: "readwrite", Cache: "*", Key: "node-counter"}},
	}
	for id, perms := range want {
		r, ok := reqs[id]
		if assert.True(t, ok, "no token request with id %s", id) {
			assert.Equal(t, perms, r.Permissions, id)
			assert.Equal(t, 10*time.Minute, r.ValidFor, id)
		}
	}
}

func TestWebSDK(t *testing.T) {
	node := requireNode(t)
	srv := startServer(t, momentolocal.Config{})
	runNode(t, node, srv, "web.test.cjs")

	reqs := tokenRequestsByID(srv)
	want := map[string][]momentolocal.Permission{
		"web-alice": {{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"}},
		"web-bob":   {{Role: "subscribeonly", Cache: "*", Topic: "web-chat"}},
		"web-cache": {{Role: "readwrite", Cache: "default-cache", KeyPrefix: "web/"}},
	}
	for id, perms := range want {
		r, ok := reqs[id]
		if assert.True(t, ok, "no token request with id %s", id) {
			assert.Equal(t, perms, r.Permissions, id)
		}
	}
}
