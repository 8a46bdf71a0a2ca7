#!/usr/bin/env bash
# Dashboard benchmark (issue 5): the simulator at a "Black Friday" rate against a platform this
# script starts itself (Postgres, broker, pos, inventory, web; through the supervisor on ports of
# its own, data in a temporary directory), with one dashboard websocket connected. Reports the
# sales per second the POS accepted, the time from each sale's 202 to its appearance on the
# dashboard websocket (p50, p99, max), and the CPU and RSS of every process. The table is also
# written to artifacts/bench-dashboard.md.
#
# Environment: RATE (default 100), DURATION (default 60s), BENCH_PORT_BASE (default 28080; the
# platform uses that port and the next nine), WORKERS (simulator requests in flight, default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
RATE=${RATE:-100}
DURATION=${DURATION:-60s}
BASE=${BENCH_PORT_BASE:-28080}
WORKERS=${WORKERS:-64}
mkdir -p artifacts

work=$(mktemp -d /tmp/freshmart-bench-dashboard.XXXXXX)
chmod 755 "$work" # Postgres runs as the postgres user when this runs as root
bin="$work/bin"
echo "building into $bin" >&2
$GO build -o "$bin/" ./broker/cmd/... ./services/cmd/... ./web/cmd/... ./scripts/cmd/...

FRESHMART_BIN_DIR="$bin" FRESHMART_DATA_DIR="$work/data" FRESHMART_PORT_BASE="$BASE" \
  FRESHMART_SKIP=simulator LOG_LEVEL=warn "$bin/freshmart-run" -root . >"$work/run.log" 2>&1 &
sup=$!
cleanup() {
  kill -TERM "$sup" 2>/dev/null || true
  wait "$sup" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

web="http://127.0.0.1:$BASE" pos="http://127.0.0.1:$((BASE + 1))" inv="http://127.0.0.1:$((BASE + 2))"
wait_ok() { # url
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$sup" 2>/dev/null; then echo "the platform stopped; its log:" >&2; tail -50 "$work/run.log" >&2; exit 1; fi
    sleep 0.2
  done
  echo "$1 did not answer within 2 minutes; platform log:" >&2
  tail -50 "$work/run.log" >&2
  exit 1
}
wait_ok "$pos/healthz"
wait_ok "$inv/readyz"
wait_ok "$web/readyz"
echo "platform up; simulator at ${RATE}x for $DURATION" >&2

# name:pid of every process to measure: the supervisor's children, and the Postgres postmaster.
procs=()
for p in $(pgrep -P "$sup"); do
  name=$(basename "$(readlink "/proc/$p/exe" 2>/dev/null || echo "?")")
  procs+=("$name:$p")
done
pgpid=$(head -1 "$work/data/postgres/postmaster.pid" 2>/dev/null || true)
if [ -n "$pgpid" ]; then procs+=("postgres:$pgpid"); fi

ticks() { # pid [with children] -> utime+stime in clock ticks (Postgres: the postmaster and its backends)
  local total=0 p
  for p in "$1" $(if [ "${2:-}" = tree ]; then pgrep -P "$1"; fi); do
    if [ -r "/proc/$p/stat" ]; then
      total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    fi
  done
  echo "$total"
}
rss_kb() { # pid [tree] -> resident KiB (summed over the tree)
  local total=0 p
  for p in "$1" $(if [ "${2:-}" = tree ]; then pgrep -P "$1"; fi); do
    if [ -r "/proc/$p/status" ]; then
      total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")))
    fi
  done
  echo "$total"
}

# The simulator also files complaints (to the platform's complaints service, not a default port).
POS_URL="$pos" COMPLAINTS_URL="http://127.0.0.1:$((BASE + 3))" "$bin/simulator" -rate "$RATE" -duration "$DURATION" -workers "$WORKERS" -seed 2026 \
  -probe "ws://127.0.0.1:$BASE/ws" -report 10s >"$work/sim.out" 2>"$work/sim.log" &
sim=$!
procs+=("simulator:$sim")

secs=$(python3 -c "import re,sys; s='$DURATION'; m=re.fullmatch(r'(\d+)(s|m)', s); print(int(m[1])*(60 if m[2]=='m' else 1))")
warm=5
sleep "$warm"
declare -A t0 peak
for np in "${procs[@]}"; do
  n=${np%%:*} p=${np##*:} mode=""
  [ "$n" = postgres ] && mode=tree
  t0[$np]=$(ticks "$p" $mode)
  peak[$np]=0
done
start=$(date +%s.%N)
# Sample RSS every 2 s over the window; stop a few seconds before the simulator ends, so every
# process is still there for the second CPU reading.
end=$(python3 -c "print($(date +%s) + $secs - $warm - 6)")
while [ "$(date +%s)" -lt "${end%.*}" ]; do
  for np in "${procs[@]}"; do
    n=${np%%:*} p=${np##*:} mode=""
    [ "$n" = postgres ] && mode=tree
    r=$(rss_kb "$p" $mode)
    [ "$r" -gt "${peak[$np]}" ] && peak[$np]=$r
  done
  sleep 2
done
declare -A t1
for np in "${procs[@]}"; do
  n=${np%%:*} p=${np##*:} mode=""
  [ "$n" = postgres ] && mode=tree
  t1[$np]=$(ticks "$p" $mode)
done
stop=$(date +%s.%N)
wait "$sim" || { echo "simulator failed:" >&2; tail -20 "$work/sim.log" >&2; exit 1; }

hz=$(getconf CLK_TCK)
out=artifacts/bench-dashboard.md
{
  echo "## Dashboard benchmark: simulator at ${RATE}x for $DURATION, one dashboard websocket"
  echo
  python3 - "$work/sim.out" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
s, d = r["stats"], r.get("dashboard", {})
print("| figure | value |")
print("|---|---|")
print(f"| sales accepted per second | {r['sales_accepted_per_second']:.1f} |")
print(f"| sales sent / accepted / failed | {s['sales']['sent']} / {s['sales']['accepted']} / {s['sales']['failed']} |")
print(f"| stock counts accepted / failed | {s['stock_counts']['accepted']} / {s['stock_counts']['failed']} |")
print(f"| deliveries accepted / failed | {s['deliveries']['accepted']} / {s['deliveries']['failed']} |")
print(f"| 202 to dashboard websocket p50 | {d.get('p50_ms', 0):.1f} ms |")
print(f"| 202 to dashboard websocket p99 | {d.get('p99_ms', 0):.1f} ms |")
print(f"| 202 to dashboard websocket max | {d.get('max_ms', 0):.1f} ms |")
print(f"| sales seen on the websocket / not seen | {d.get('sales_seen', 0)} / {d.get('sales_not_seen', 0)} |")
PY
  echo
  echo "| process | CPU (% of one core, steady window) | peak RSS (MiB) |"
  echo "|---|---|---|"
  for np in "${procs[@]}"; do
    n=${np%%:*}
    python3 -c "print(f'| $n | {($((t1[$np] - t0[$np])) / $hz) / ($stop - $start) * 100:.0f} | {${peak[$np]} / 1024:.0f} |')"
  done
  echo
  echo "Machine: $(nproc) cores; CPU is user+system time over the measured window; Postgres includes its backends."
} | tee "$out"
