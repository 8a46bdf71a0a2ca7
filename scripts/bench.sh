#!/usr/bin/env bash
# make bench: the platform benchmark (services/bench: POS sales accepted per second at acks=all,
# and the p50/p99 time from a sale's 202 to its stock change in GET /v1/stock at a steady 200
# sales/s), then the broker benchmark (scripts/bench-broker.sh) unless SKIP_BROKER_BENCH=1.
#
# It measures the platform `make run` is running (POS on 127.0.0.1:8081, inventory on :8082) when
# both answer, otherwise it starts its own on free ports. Arguments go to the benchmark, e.g.
#   scripts/bench.sh -own -duration 30s -rate 200 -clients 64 -broker kfake
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./services/bench "$@"
if [ "${SKIP_BROKER_BENCH:-0}" != 1 ] && [ -f scripts/bench-broker.sh ]; then
  echo
  bash scripts/bench-broker.sh
fi
