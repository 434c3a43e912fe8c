#!/usr/bin/env bash
# The project's test command (the README's second set-up command; CI runs it too).
#
# It installs what the tests need that Go does not fetch by itself (the npm
# packages of the Node and browser tests), then runs go vet, staticcheck, the
# whole Go test suite with the race detector (which includes the Node SDK
# tests and the browser end-to-end tests when node and chromium are present),
# and each fuzz target for a short time.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
STATICCHECK_VERSION=v0.8.2

step() { printf '\n==> %s\n' "$*"; }

step "go modules"
go mod download

if command -v npm >/dev/null 2>&1; then
  for dir in momentolocal/nodetest tokenclient examples/chat/web examples/chat/e2e testdata/idp/node; do
    if [ -f "$dir/package-lock.json" ]; then
      step "npm ci ($dir)"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    fi
  done
  step "tokenclient: build and unit tests"
  npm run --prefix tokenclient build
  npm test --prefix tokenclient
  if [ -f examples/chat/web/package.json ]; then
    step "build the chat UI"
    npm run --prefix examples/chat/web build
  fi
else
  echo "npm not found: the Node SDK and browser tests will be skipped (CI installs node and fails instead)"
fi

step "go vet"
go vet ./...

step "staticcheck"
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ./...

step "go test -race"
go test -race -count=1 -timeout 20m ./...

step "fuzz targets (${FUZZTIME} each)"
# Every FuzzXxx function in the module, run one at a time in its package.
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "fuzz $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done

step "all tests passed"
