#!/usr/bin/env bash
# Python handlers (sync and async) vs C handlers on the same no-op workload (bench/ruby/noop_template.yaml:
# tasks of 100 independent steps; the C side is bench/ruby/c_noop.c), side by side in one run: each round
# runs C, Python sync, then Python async, each on a fresh database of a private, durable PostgreSQL
# (fsync on). The package is built and installed into a virtualenv as a user installs it. Prints every
# run, the medians and the ratios.
#   bench/python/run.sh [TASKS per run (default 100)] [ROUNDS (default 3)] [CONCURRENCY (default 10)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tasks=${1:-100}
rounds=${2:-3}
concurrency=${3:-10}
python=${PYTHON:-python3}

bash "$repo/ci/build.sh" build-bench-python -DTASKER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
work=$(mktemp -d /tmp/tasker-bench-python.XXXXXX)
# shellcheck source=../../ci/postgres.sh
source "$repo/ci/postgres.sh"
tasker_pg_start
trap 'tasker_pg_stop; rm -rf "$work"' EXIT
gcc -O2 -o "$work/c_noop" "$repo/bench/ruby/c_noop.c" -I"$repo/c-api/include" "$repo/build-bench-python/libtasker.a" \
  $(pkg-config --libs libpq libcjson yaml-0.1 libcrypto) -lpthread -lm
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$repo/python-pkg" >/dev/null
py="$work/venv/bin/python"
template="$repo/bench/ruby/noop_template.yaml"

base_url=$TASKER_DATABASE_URL
fresh_db() { # name → exports TASKER_DATABASE_URL for a new, migrated database
  "$TASKER_PG_BIN/createdb" -h "$TASKER_PG_BASE" -p "$TASKER_PG_PORT" -U postgres "$1"
  export TASKER_DATABASE_URL=${base_url/\/tasker\?/\/$1?}
  (cd "$work" && "$py" -c 'import tasker_core; tasker_core.Client().migrate()')
}

rate() { sed -E 's/.*= ([0-9]+) steps\/s.*/\1/'; }
c_rates=()
sync_rates=()
async_rates=()
echo "workload: $rounds rounds x $tasks tasks x 100 no-op steps, concurrency $concurrency, fsync on"
for r in $(seq 1 "$rounds"); do
  fresh_db "bench_c_$r"
  line=$("$work/c_noop" "$template" "$tasks" "$concurrency")
  echo "round $r $line"
  c_rates+=("$(echo "$line" | rate)")
  for mode in sync async; do
    fresh_db "bench_py_${mode}_$r"
    line=$(cd "$work" && "$py" "$here/python_noop.py" "$mode" "$template" "$tasks" "$concurrency")
    echo "round $r $line"
    if [ "$mode" = sync ]; then sync_rates+=("$(echo "$line" | rate)"); else async_rates+=("$(echo "$line" | rate)"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
c_med=$(median "${c_rates[@]}")
sync_med=$(median "${sync_rates[@]}")
async_med=$(median "${async_rates[@]}")
echo "median: C $c_med steps/s, Python sync $sync_med steps/s, Python async $async_med steps/s"
awk -v s="$sync_med" -v a="$async_med" -v c="$c_med" 'BEGIN {
  printf "python-sync/c: %.1f %% (target >= 90 %%)\n", 100 * s / c
  printf "python-async/c: %.1f %% (target >= 90 %%)\n", 100 * a / c }'
