package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// ensureUI builds the web UI when dist/index.html is missing: npm ci (when
// node_modules is missing) and npm run build, with their output on w.
func ensureUI(ctx context.Context, webDir string, w io.Writer) error {
	if _, err := os.Stat(filepath.Join(webDir, "dist", "index.html")); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(webDir, "package.json")); err != nil {
		return fmt.Errorf("web UI not found in %s (set -web): %w", webDir, err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("the web UI in %s is not built and npm is not installed: install Node.js 20+ or build it elsewhere (npm ci && npm run build): %w", webDir, err)
	}
	steps := [][]string{{"run", "build"}}
	if _, err := os.Stat(filepath.Join(webDir, "node_modules")); err != nil {
		steps = append([][]string{{"ci", "--no-audit", "--no-fund"}}, steps...)
	}
	for _, args := range steps {
		fmt.Fprintf(w, "chat: building the web UI: npm %v (in %s)\n", args, webDir)
		cmd := exec.CommandContext(ctx, npm, args...)
		cmd.Dir = webDir
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("npm %v in %s: %w", args, webDir, err)
		}
	}
	return nil
}
