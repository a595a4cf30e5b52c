#!/bin/sh
# The one build of the handler: linux/amd64, static (CGO_ENABLED=0), stripped, reproducible (-trimpath),
# stamped with the version `git describe` gives. `make build`, `make package` and azd's prepackage hook
# (through package.sh) all run this, so every path ships the same bytes.
#
#   infra/scripts/build.sh [output]      (default: ./handler, where host.json expects it)
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
out=${1:-handler}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X github.com/entra-purge/entra-purge/internal/buildinfo.Version=$version" \
	-o "$out" ./cmd/handler
chmod 0755 "$out"
