#!/usr/bin/env bash
# Runs the benchmarks and prints one markdown table (each row ends in "met" or "NOT MET").
# Uses $TASKER_DATABASE_URL when set; otherwise starts a private PostgreSQL with durable settings
# (fsync on: benchmarks never turn durability off). Usage: bash bench/run.sh [all|resolution|latency|
# create|transition|throughput|floor|memory|peer|speed|soak]; `all`, `peer` and `speed` (the rows of the speed
# targets only) also run graphile-worker (Node >= 18, npm)
# side by side on the same server, and end with the speed targets, each with graphile-worker's figure
# from the same run and the ratio. TASKER_BENCH_PLANS=fresh skips the VACUUM ANALYZE before the measured
# runs (plans made from a new database's statistics); the default measures after it. bench/profile.sh
# shows where the server's time goes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DTASKER_BUILD_TESTS=OFF
if [ -z "${TASKER_DATABASE_URL:-}" ]; then
  # shellcheck source=ci/postgres.sh
  source ci/postgres.sh
  tasker_pg_start
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)," \
     "$(psql "$TASKER_DATABASE_URL" -Atc 'SHOW server_version' | cut -d' ' -f1) (fsync $(psql "$TASKER_DATABASE_URL" -Atc 'SHOW fsync'))"
echo
mode=${1:-all}
summary=build-bench/bench-summary.json
rm -f "$summary"
TASKER_BENCH_SUMMARY=$summary build-bench/bench/tasker_bench "$mode"
if [ "$mode" = all ] || [ "$mode" = peer ] || [ "$mode" = speed ]; then
  # graphile-worker on the same server in the same run; its rows are appended to the table
  if ! command -v npm >/dev/null; then
    echo "bench: the peer comparison needs Node.js >= 18 and npm (apt-get install nodejs npm)" >&2
    exit 1
  fi
  bash bench/peer/run.sh >build-bench/peer.json 2>build-bench/peer.log \
    || { cat build-bench/peer.log >&2; echo "bench: the graphile-worker peer run failed" >&2; exit 1; }
  python3 bench/peer/compare.py "$summary" build-bench/peer.json
fi
