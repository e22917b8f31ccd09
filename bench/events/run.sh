#!/usr/bin/env bash
# Runs the lifecycle event benchmarks and prints one markdown table (rows with a target end in "met" or
# "NOT MET"). Uses $TASKER_DATABASE_URL when set (a fresh database is created in it and dropped);
# otherwise starts a private PostgreSQL with durable settings (fsync on).
# Usage: bash bench/events/run.sh [all|publish|engine|remote]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ci/install-deps.sh
bash ci/build.sh build-bench-events -DCMAKE_BUILD_TYPE=Release -DTASKER_BUILD_TESTS=OFF
if [ -z "${TASKER_DATABASE_URL:-}" ]; then
  # shellcheck source=ci/postgres.sh
  source ci/postgres.sh
  tasker_pg_start
fi
echo "machine: $(nproc) cores, $(uname -sr), PostgreSQL $(psql "$TASKER_DATABASE_URL" -Atc 'SHOW server_version' | cut -d' ' -f1) (fsync $(psql "$TASKER_DATABASE_URL" -Atc 'SHOW fsync'))"
echo
build-bench-events/bench/events/tasker_bench_events "${1:-all}"
