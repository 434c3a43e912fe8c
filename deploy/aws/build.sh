#!/bin/sh
# Builds the Lambda package into deploy/aws/build/: the tvm binary as
# "bootstrap" (provided.al2023, arm64) and its configuration.
# Run from anywhere; then: cd deploy/aws && sam deploy --guided
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$here/build"
mkdir -p "$here/build"
(cd "$root" && GOOS=linux GOARCH=arm64 CGO_ENABLED=0 \
	go build -trimpath -tags lambda.norpc -ldflags="-s -w" -o "$here/build/bootstrap" ./cmd/tvm)
cp "$here/tvm.yaml" "$here/build/tvm.yaml"
# Check the configuration with the host's own build before deploying it.
(cd "$root" && go run ./cmd/tvm check --config "$here/tvm.yaml")
echo "built $here/build (bootstrap + tvm.yaml)"
