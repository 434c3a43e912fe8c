package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Needs collects what a test needs from outside Go (node, npm packages,
// chromium, podman) and, once asked, skips the test when something is
// missing, or fails it under CI=true, where CI installs everything. Call
// the finders, then Check:
//
//	needs := testenv.Require(t)
//	node := needs.Command("node", "Node.js 20+")
//	needs.NodeModules("e2e", "playwright-core")
//	needs.Check()
type Needs struct {
	t       testing.TB
	missing []string
}

// Require starts collecting the needs of t.
func Require(t testing.TB) *Needs { return &Needs{t: t} }

// Command returns the path of the command name, noting it missing (with
// how to get it) when it is not on PATH.
func (n *Needs) Command(name, how string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		n.missing = append(n.missing, name+" ("+how+")")
	}
	return p
}

// Chromium returns $CHROMIUM or /usr/bin/chromium, noting it missing when
// the file does not exist.
func (n *Needs) Chromium() string {
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		n.missing = append(n.missing, p+" (apt-get install chromium)")
	}
	return p
}

// NodeModules notes as missing each npm package of pkgs that dir's
// node_modules lacks (`npm ci --prefix dir`).
func (n *Needs) NodeModules(dir string, pkgs ...string) {
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			rel := fromModuleRoot(dir)
			n.missing = append(n.missing, pkg+" in "+rel+"/node_modules (npm ci --prefix "+rel+")")
		}
	}
}

// fromModuleRoot returns dir relative to the directory holding go.mod, as
// a command run from the repository root would name it.
func fromModuleRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for root := abs; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			if rel, err := filepath.Rel(root, abs); err == nil {
				return rel
			}
			return dir
		}
		if filepath.Dir(root) == root {
			return dir
		}
	}
}

// Check skips the test when something is missing, saying what, or fails
// it under CI=true.
func (n *Needs) Check() {
	n.t.Helper()
	if len(n.missing) == 0 {
		return
	}
	what := strings.Join(n.missing, ", ")
	if os.Getenv("CI") == "true" {
		n.t.Fatalf("CI=true but this test cannot run; missing: %s", what)
	}
	n.t.Skipf("skipped (under CI=true this fails); missing: %s", what)
}

// RunBrowserSuite runs the browser suite file (node's test runner, one
// test file at a time, spec reporter) in dir with chromium, bounded by
// timeout, logging its output; it fails t when the suite fails.
// Screenshots and logs go to test-artifacts/ (or $E2E_ARTIFACTS), passed
// to the suite as E2E_ARTIFACTS, and chromium as CHROMIUM.
func RunBrowserSuite(t testing.TB, node, chromium, dir, file string, timeout time.Duration) {
	t.Helper()
	artifacts, err := filepath.Abs("test-artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if v := os.Getenv("E2E_ARTIFACTS"); v != "" {
		artifacts = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "E2E_ARTIFACTS="+artifacts, "CHROMIUM="+chromium)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("node --test %s (artifacts in %s):\n%s", filepath.Join(fromModuleRoot(dir), file), artifacts, out.String())
	if err != nil {
		t.Fatalf("browser suite failed: %v", err)
	}
}
