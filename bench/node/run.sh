#!/usr/bin/env bash
# JavaScript handlers vs C handlers on the same no-op workload (bench/ruby/noop_template.yaml: tasks of 100
# independent steps, run by bench/ruby/c_noop.c on the C side), side by side in one run: each round runs C
# then Node, each on a fresh database of a private, durable PostgreSQL (fsync on). Prints every run, the
# medians and the ratio.
#   bench/node/run.sh [TASKS per run (default 100)] [ROUNDS (default 3)] [CONCURRENCY (default 10)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tasks=${1:-100}
rounds=${2:-3}
concurrency=${3:-10}

if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
bash "$repo/ci/build.sh" build-node-bench -DCMAKE_BUILD_TYPE=Release -DTASKER_BUILD_TESTS=OFF -DTASKER_BUILD_BENCH=OFF >/dev/null
(cd "$repo/node-addon" && npm install --no-audit --no-fund --silent >/dev/null)
work=$(mktemp -d /tmp/tasker-bench-node.XXXXXX)
# shellcheck source=../../ci/postgres.sh
source "$repo/ci/postgres.sh"
tasker_pg_start
trap 'tasker_pg_stop; rm -rf "$work"' EXIT
gcc -O2 -o "$work/c_noop" "$repo/bench/ruby/c_noop.c" -I"$repo/c-api/include" "$repo/build-node-bench/libtasker.a" \
  $(sh "$repo/recipe/recipe.sh" libs)

base_url=$TASKER_DATABASE_URL
fresh_db() { # name → exports TASKER_DATABASE_URL for a new, migrated database
  "$TASKER_PG_BIN/createdb" -h "$TASKER_PG_BASE" -p "$TASKER_PG_PORT" -U postgres "$1"
  export TASKER_DATABASE_URL=${base_url/\/tasker\?/\/$1?}
  node -e 'new (require(process.argv[1]).Client)().migrate().then(() => process.exit(0))' "$repo/node-addon"
}

template="$repo/bench/ruby/noop_template.yaml"
declare -A rates=([c]="" [node]="")
side() { # c|node round → runs that side on a fresh database, prints its line, keeps its rate
  fresh_db "bench_$1_$2"
  local line
  if [ "$1" = c ]; then line=$("$work/c_noop" "$template" "$tasks" "$concurrency")
  else line=$(node "$here/node_noop.js" "$template" "$tasks" "$concurrency"); fi
  echo "round $2 $line"
  rates[$1]+="$(echo "$line" | sed -E 's/.*= ([0-9]+) steps\/s.*/\1/') "
}
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "workload: $rounds rounds x $tasks tasks x 100 no-op steps, concurrency $concurrency, fsync on"
for r in $(seq 1 "$rounds"); do
  side c "$r"
  side node "$r"
done
c_med=$(median "${rates[c]}")
node_med=$(median "${rates[node]}")
echo "median: C $c_med steps/s, Node $node_med steps/s"
awk -v n="$node_med" -v c="$c_med" 'BEGIN { printf "node/c: %.1f %% (target >= 90 %%)\n", 100 * n / c }'
