#!/usr/bin/env bash
# Runs the benchmarks and prints one markdown table (each row ends in "met" or "NOT MET").
# Uses $TASKER_DATABASE_URL when set; otherwise starts a private PostgreSQL with durable settings
# (fsync on: benchmarks never turn durability off). Usage: bash bench/run.sh [all|resolution|latency|
# create|transition|throughput|memory]
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
build-bench/bench/tasker_bench "${1:-all}"
