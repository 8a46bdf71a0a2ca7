#!/usr/bin/env bash
# make lint (and the start of make test): fail when gofmt or `go mod tidy` would change a file,
# when a module does not build and vet on its own (GOWORK=off), or when staticcheck (the version
# pinned by the tool directive in go.mod) finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
unformatted=$(gofmt -l . )
if [ -n "$unformatted" ]; then
  echo "lint: gofmt would change these files (run make fmt):"; echo "$unformatted"; fail=1
fi
for mod in . broker; do
  if ! diff=$(cd "$mod" && GOWORK=off go mod tidy -diff 2>&1); then
    echo "lint: go mod tidy would change $mod/go.mod or go.sum:"; echo "$diff"; fail=1
  fi
  (cd "$mod" && GOWORK=off go build ./... && GOWORK=off go vet ./...) || { echo "lint: module $mod does not build or vet on its own"; fail=1; }
done
go tool staticcheck ./... ./broker/... || fail=1
exit $fail
