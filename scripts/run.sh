#!/usr/bin/env bash
# What `make run` runs after `make build`: the supervisor that starts Postgres, the broker and
# every service (see scripts/run and the README). It replaces this shell so Ctrl-C and SIGTERM
# reach it directly. FRESHMART_BIN_DIR selects another build directory (default bin/).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${FRESHMART_BIN_DIR:-bin}"
if [ ! -x "$bin/freshmart-run" ]; then
  echo "[run] $bin/freshmart-run is missing; building the binaries first (make build)" >&2
  mkdir -p "$bin"
  go build -o "$bin/" ./broker/cmd/... ./services/cmd/... ./web/cmd/... ./scripts/cmd/...
fi
exec "$bin/freshmart-run" -root . "$@"
