#!/usr/bin/env bash
# The project's test command (the README's second set-up command; CI runs it too).
#
# It installs what the tests need that Go does not fetch by itself (the npm
# packages of the Node and browser tests), then runs go vet, staticcheck, the
# whole Go test suite with the race detector (which includes the Node SDK
# tests and the browser end-to-end tests when node and chromium are present),
# and each fuzz target for a fixed number of executions.
set -euo pipefail
cd "$(dirname "$0")/.."

# FUZZ_SCALE multiplies every fuzz target's execution budget (fuzz_execs
# below): FUZZ_SCALE=6 fuzzes each for about a minute.
FUZZ_SCALE=${FUZZ_SCALE:-1}
if ! [[ "$FUZZ_SCALE" =~ ^[1-9][0-9]*$ ]]; then
  echo "scripts/test.sh: FUZZ_SCALE must be a positive whole number, got '${FUZZ_SCALE}'" >&2
  exit 2
fi
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

# Each fuzz target's budget is a number of executions (-fuzztime Nx), not a
# duration: with a duration, Go 1.26's fuzz coordinator can fail a target
# that found nothing with a bare "context deadline exceeded" when the
# deadline fires (golang/go#75804, fixed in Go 1.27); with a count it sets no
# deadline. Each count is about ten seconds of fuzzing on a 2-core machine.
fuzz_execs() {
  case "$1" in
    FuzzAppendTokenResponse) echo 50000 ;;
    FuzzAuthenticate) echo 30000 ;;
    FuzzBasicAuthenticate) echo 50000 ;;
    FuzzClaimPath) echo 30000 ;;
    FuzzDecodeWebText) echo 40000 ;;
    FuzzParseConfig) echo 2000 ;;  # builds every component an accepted file names
    FuzzPermissionsFromProto) echo 30000 ;;
    FuzzScopeExpand) echo 25000 ;;
    FuzzVerifyKey) echo 40000 ;;
    *) echo "scripts/test.sh: no execution budget for fuzz target $1; add it to fuzz_execs" >&2; return 1 ;;
  esac
}

step "fuzz targets (FUZZ_SCALE=${FUZZ_SCALE})"
# Every FuzzXxx function in the module, run one at a time in its package.
mapfile -t fuzz_files < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | sort)
for file in "${fuzz_files[@]}"; do
  pkg=$(dirname "$file")  # "." or "./dir": grep names files from "."
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    budget=$(fuzz_execs "$target")
    execs=$((budget * FUZZ_SCALE))
    echo "fuzz $pkg $target (${execs} executions)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${execs}x" "$pkg"
  done
done

step "all tests passed"
