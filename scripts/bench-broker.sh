#!/usr/bin/env bash
# Broker benchmark (make bench-broker): freshmart-broker at its default durability against franz-go's
# kfake with DataDir + SyncWrites, each as its own process on loopback, under the same franz-go load.
# Runs the consumer group benchmark first when broker/bench/groups exists (its table goes to
# artifacts/bench-broker-groups.md), then prints the data-path Markdown table side by side (also written
# to artifacts/bench-broker.md). The whole run takes about four minutes.
#
# Extra arguments go to the data-path driver (see `go run ./broker/bench -h`), e.g.
#   scripts/bench-broker.sh -rounds 5
#   scripts/bench-broker.sh -readme broker/README.md    # rewrite the README's "Benchmark" section
#                                                        # with both tables
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
bin=bin/bench
mkdir -p "$bin" artifacts

echo "building freshmart-broker, kfakeserver and the bench driver" >&2
$GO build -o "$bin/kfakeserver" ./broker/bench/kfakeserver
$GO build -o "$bin/broker-bench" ./broker/bench
broker_args=()
if [ -d broker/cmd/freshmart-broker ]; then
  $GO build -o "$bin/freshmart-broker" ./broker/cmd/freshmart-broker
  broker_args=(-broker-bin "$bin/freshmart-broker")
else
  echo "broker/cmd/freshmart-broker does not exist yet: measuring kfake only" >&2
fi

groups_args=()
if [ -d broker/bench/groups ] && [ -n "$(ls broker/bench/groups/*.go 2>/dev/null)" ]; then
  # It starts freshmart-broker and kfake inside its own process; see its package doc.
  echo "consumer group benchmark (broker/bench/groups)" >&2
  $GO build -o "$bin/groups-bench" ./broker/bench/groups
  "$bin/groups-bench" | tee artifacts/bench-broker-groups.md
  echo >&2
  groups_args=(-groups artifacts/bench-broker-groups.md)
fi

"$bin/broker-bench" "${broker_args[@]}" "${groups_args[@]}" -kfake-bin "$bin/kfakeserver" \
  -out artifacts/bench-broker.md "$@"
