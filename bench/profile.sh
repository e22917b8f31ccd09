#!/usr/bin/env bash
# Where the server's time goes: runs benchmark workloads on a private, durable PostgreSQL that loads
# pg_stat_statements (track_planning on) and logs lock waits longer than 10 ms, then prints, per unit of
# work (a step, or a stage of the latency chain), every statement's calls, execution and planning time,
# rows and WAL bytes, the server's WAL totals, its WAL records by kind (pg_walinspect, PostgreSQL 15+)
# and the lock waits seen.
# With TASKER_PROFILE_EXPLAIN=1 the server also logs every statement's plan with its row counts and
# buffers (auto_explain, nested statements included) into build-bench/profile/server.log; set
# TASKER_PROFILE_EXPLAIN_SAMPLE to a fraction (e.g. 0.05) to log only a sample of the statements.
# With TASKER_PROFILE_PERF=1 it also samples the server's call graphs with `perf record` during each
# measured run and prints PostgreSQL's CPU per unit of work by cause (bench/perf_breakdown.py).
# Usage: bash bench/profile.sh [resolution|latency|transition|throughput|throughput-unbatched|throughput-batched|create] ...
#        (default: latency throughput-unbatched). Output: markdown on stdout, also kept in
#        build-bench/profile/<workload>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(latency throughput-unbatched)
if [ "${TASKER_PROFILE_PERF:-}" = 1 ]; then
  bash ci/install-deps.sh linux-perf >/dev/null # system-wide sampling needs root or kernel.perf_event_paranoid <= 0
else
  bash ci/install-deps.sh >/dev/null
fi
bash ci/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DTASKER_BUILD_TESTS=OFF
# shellcheck source=ci/postgres.sh
source ci/postgres.sh
tasker_pg_start
libs="'pg_stat_statements'"
[ "${TASKER_PROFILE_EXPLAIN:-}" = 1 ] && libs="'pg_stat_statements', 'auto_explain'"
psql -q "$TASKER_DATABASE_URL" <<SQL
ALTER SYSTEM SET shared_preload_libraries = $libs;
ALTER SYSTEM SET log_lock_waits = on;
ALTER SYSTEM SET deadlock_timeout = '10ms';
SQL
tasker_pg_restart
# the extensions' settings are known once they are loaded. track = all: the statements inside the
# engine's functions (and the foreign-key checks their writes fire) are counted one by one.
psql -q "$TASKER_DATABASE_URL" -c 'ALTER SYSTEM SET pg_stat_statements.track_planning = on' >/dev/null
psql -q "$TASKER_DATABASE_URL" -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" >/dev/null
if [ "${TASKER_PROFILE_EXPLAIN:-}" = 1 ]; then
  # every statement's plan, with its row counts and buffers, in the server log (build-bench/profile/server.log)
  for s in "log_min_duration = 0" "log_analyze = on" "log_buffers = on" "log_timing = off" \
           "log_nested_statements = on" "log_format = text" "sample_rate = ${TASKER_PROFILE_EXPLAIN_SAMPLE:-1}"; do
    psql -q "$TASKER_DATABASE_URL" -c "ALTER SYSTEM SET auto_explain.${s% =*} = '${s#*= }'" >/dev/null
  done
fi
psql -q "$TASKER_DATABASE_URL" -c 'SELECT pg_reload_conf()' >/dev/null
psql -q "$TASKER_DATABASE_URL" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
# WAL records by kind (heap insert, update, HOT update, lock, b-tree insert...) where the server has it
psql -q "$TASKER_DATABASE_URL" -c 'CREATE EXTENSION IF NOT EXISTS pg_walinspect' 2>/dev/null || true
out=build-bench/profile
rm -rf "$out"
mkdir -p "$out"
for mode in "${modes[@]}"; do
  log_lines=$(wc -l <"$TASKER_PG_BASE/server.log")
  echo "bench/profile: $mode" >&2
  TASKER_BENCH_PROFILE=$PWD/$out TASKER_BENCH_PERF=${TASKER_PROFILE_PERF:-} \
    build-bench/bench/tasker_bench "$mode" >"$out/$mode.rows"
  waits=$(tail -n +"$((log_lines + 1))" "$TASKER_PG_BASE/server.log" | grep -c 'still waiting for' || true)
  echo "$mode: $waits lock waits longer than 10 ms (log_lock_waits)" >"$out/$mode.locks"
done
[ "${TASKER_PROFILE_EXPLAIN:-}" = 1 ] && cp "$TASKER_PG_BASE/server.log" "$out/server.log"
for f in "$out"/*.rows; do cat "$f"; done | awk '/^\| / && !/^\| benchmark \|/' | sed '1i | benchmark | measured | target | |\n|---|---|---|---|'
echo
for f in "$out"/*.locks; do cat "$f"; done
echo
for f in "$out"/*.md; do cat "$f"; done
if [ "${TASKER_PROFILE_PERF:-}" = 1 ]; then
  for data in "$out"/*.perf.data; do
    label=$(basename "$data" .perf.data)
    read -r units unit postmaster <"$out/$label.units"
    perf script -i "$data" -F comm,pid,period,ip,sym,dso --show-task-events 2>/dev/null |
      python3 bench/perf_breakdown.py "$units" "$unit" "$postmaster" "PostgreSQL CPU by cause, $label (perf)"
  done
fi
