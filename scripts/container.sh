#!/usr/bin/env bash
# Builds the container image of cmd/tvm with podman: a static binary built
# on the host (base images cannot be pulled), the host's CA certificates,
# and the repository's Containerfile (FROM scratch, non-root user).
#
#   scripts/container.sh [IMAGE]      # default localhost/tvm:dev
#
# Debian's podman runs here with runc; CONTAINERS_CONF may point at a file
# with `default_ulimits = []` where the default ulimits cannot be set.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-localhost/tvm:dev}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/tvm" ./cmd/tvm
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
podman build ${PODMAN_RUNTIME:+--runtime "$PODMAN_RUNTIME"} -q -f Containerfile -t "$image" "$ctx"
