#!/usr/bin/env bash
# What `make test` (and so CI) runs: every module's tests, with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
go vet ./broker/... ./services/... ./schemas/... ./migrations/... ./web/... ./scripts/...
go test -race -count=1 -timeout 18m ./broker/... ./services/... ./schemas/... ./migrations/... ./web/... ./scripts/...
