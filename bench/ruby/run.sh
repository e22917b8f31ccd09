#!/usr/bin/env bash
# Ruby handlers vs C handlers on the same no-op workload (bench/ruby/noop_template.yaml: tasks of 100
# independent steps), side by side in one run: each round runs C then Ruby, each on a fresh database
# of a private, durable PostgreSQL (fsync on). Prints every run, the medians and the ratio.
#   bench/ruby/run.sh [TASKS per run (default 100)] [ROUNDS (default 3)] [CONCURRENCY (default 10)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tasks=${1:-100}
rounds=${2:-3}
concurrency=${3:-10}

bash "$repo/ci/build.sh" build-ruby -DTASKER_BUILD_TESTS=OFF >/dev/null
(cd "$repo/ruby-gem" && rake compile >/dev/null)
work=$(mktemp -d /tmp/tasker-bench-ruby.XXXXXX)
# shellcheck source=../../ci/postgres.sh
source "$repo/ci/postgres.sh"
tasker_pg_start
trap 'tasker_pg_stop; rm -rf "$work"' EXIT
gcc -O2 -o "$work/c_noop" "$here/c_noop.c" -I"$repo/c-api/include" "$repo/build-ruby/libtasker.a" \
  $(pkg-config --libs libpq libcjson yaml-0.1 libcrypto) -lpthread -lm

base_url=$TASKER_DATABASE_URL
fresh_db() { # name → exports TASKER_DATABASE_URL for a new, migrated database
  "$TASKER_PG_BIN/createdb" -h "$TASKER_PG_BASE" -p "$TASKER_PG_PORT" -U postgres "$1"
  export TASKER_DATABASE_URL=${base_url/\/tasker\?/\/$1?}
  ruby -I"$repo/ruby-gem/lib" -rtasker_core -e 'TaskerCore::Client.new.migrate!'
}

rate() { sed -E 's/.*= ([0-9]+) steps\/s.*/\1/'; }
c_rates=()
ruby_rates=()
echo "workload: $rounds rounds x $tasks tasks x 100 no-op steps, concurrency $concurrency, fsync on"
for r in $(seq 1 "$rounds"); do
  fresh_db "bench_c_$r"
  line=$("$work/c_noop" "$here/noop_template.yaml" "$tasks" "$concurrency")
  echo "round $r $line"
  c_rates+=("$(echo "$line" | rate)")
  fresh_db "bench_ruby_$r"
  line=$(ruby -I"$repo/ruby-gem/lib" "$here/ruby_noop.rb" "$here/noop_template.yaml" "$tasks" "$concurrency")
  echo "round $r $line"
  ruby_rates+=("$(echo "$line" | rate)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
c_med=$(median "${c_rates[@]}")
ruby_med=$(median "${ruby_rates[@]}")
echo "median: C $c_med steps/s, Ruby $ruby_med steps/s"
awk -v r="$ruby_med" -v c="$c_med" 'BEGIN { printf "ruby/c: %.1f %% (target >= 90 %%)\n", 100 * r / c }'
