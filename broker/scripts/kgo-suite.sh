#!/usr/bin/env bash
# Runs franz-go's own integration suite (pkg/kgo, the version in the
# broker's go.mod) against a freshly built freshmart-broker on free loopback
# ports, and prints one line per top-level test: PASS, FAIL or SKIP.
#
#   broker/scripts/kgo-suite.sh                 # the whole suite
#   broker/scripts/kgo-suite.sh 'TestTxnEtl|TestConsumeRegex'
#   KGO_SUITE_TIMEOUT=20m broker/scripts/kgo-suite.sh
#
# The module source is copied out of the read-only module cache into a
# temp dir; the broker's data dir and log live there too (kept on failure,
# path printed). Exit status: that of `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-.}
timeout=${KGO_SUITE_TIMEOUT:-15m}
ver=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
src=$(go mod download -json "github.com/twmb/franz-go@$ver" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
work=$(mktemp -d "${TMPDIR:-/tmp}/kgo-suite-XXXXXX")
cp -r "$src" "$work/franz-go"
chmod -R u+w "$work/franz-go"
go build -o "$work/freshmart-broker" ./cmd/freshmart-broker

"$work/freshmart-broker" --listen 127.0.0.1:0 --http "" --data-dir "$work/data" \
  --auto-create-topics --group-min-session-timeout 1s --log-level info >"$work/broker.log" 2>&1 &
bpid=$!
trap 'kill "$bpid" 2>/dev/null || true; wait "$bpid" 2>/dev/null || true' EXIT
# The broker logs "msg=listening addr=<host:port>" once clients can connect.
addr=""
for _ in $(seq 1 600); do
  addr=$(sed -n 's/.*msg=listening addr=\([0-9.:]*\).*/\1/p' "$work/broker.log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.05
done
if [ -z "$addr" ]; then
  echo "kgo-suite: broker did not start; log:" >&2
  cat "$work/broker.log" >&2
  exit 1
fi
echo "kgo-suite: franz-go $ver against freshmart-broker at $addr (work dir $work)"

set +e
(cd "$work/franz-go" && KGO_SEEDS="$addr" KGO_TEST_RF=1 GOFLAGS=-mod=mod \
  go test ./pkg/kgo/ -run "$run" -count=1 -timeout "$timeout" -v) >"$work/kgo.log" 2>&1
status=$?
set -e
grep -E '^(--- )?(PASS|FAIL|SKIP|ok|panic)' "$work/kgo.log" | grep -vE '^    ' || true
grep -E '^--- (PASS|FAIL|SKIP): Test' "$work/kgo.log" | awk '{n[$2]++} END {for (k in n) printf "kgo-suite: %s %d\n", k, n[k]}'
if [ "$status" -eq 0 ]; then
  rm -rf "$work"
else
  echo "kgo-suite: go test exited $status; full output in $work/kgo.log, broker log in $work/broker.log" >&2
fi
exit "$status"
