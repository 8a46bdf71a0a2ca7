#!/usr/bin/env bash
# What `make test` (and so CI) runs: the lint checks (gofmt, go mod tidy, each module on its own,
# vet, staticcheck), then every test of both modules with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
bash scripts/lint.sh
go test -race -count=1 -timeout 18m ./... ./broker/...
