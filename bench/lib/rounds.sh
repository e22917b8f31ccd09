# shellcheck shell=bash
# The round loop of the host-vs-C benchmarks (bench/ruby, bench/python, bench/node): every round runs
# the C worker (bench/ruby/c_noop.c) and then each host side on the same no-op workload
# (bench/ruby/noop_template.yaml), each run on a fresh, migrated database of one private, durable
# PostgreSQL (fsync on); then the medians and each host's ratio to C, the C and host runs taken from
# the same rounds. Source it from a run.sh that sets `repo`, `tasks`, `rounds` and `concurrency`, then:
#
#   bench_start BUILD_DIR [CMAKE_ARGS...]  builds the core (Release) into BUILD_DIR, starts PostgreSQL,
#                                          compiles the C side; sets `work` (a scratch directory) and
#                                          `template`
#   bench_migrate() { ...; }               the run.sh defines it: migrates $TASKER_DATABASE_URL with its
#                                          host's client
#   bench_side() { ...; }                  the run.sh defines it: `bench_side KEY` runs that host side on
#                                          $TASKER_DATABASE_URL and prints a line ending "= N steps/s"
#   bench_rounds KEY=LABEL...              e.g. `bench_rounds node=Node`; prints every run, the medians
#                                          and "KEY/c: R %" per side
# The load average before and after is printed, to tell whether the machine was idle.

bench_start() { # build dir, cmake args...
  local build=$1; shift
  bash "$repo/ci/build.sh" "$build" -DCMAKE_BUILD_TYPE=Release -DTASKER_BUILD_TESTS=OFF "$@" >/dev/null
  work=$(mktemp -d /tmp/tasker-bench.XXXXXX)
  template="$repo/bench/ruby/noop_template.yaml"
  # shellcheck source=../../ci/postgres.sh
  source "$repo/ci/postgres.sh"
  tasker_pg_start
  trap 'tasker_pg_stop; rm -rf "$work"' EXIT
  # shellcheck disable=SC2046 # the recipe prints one flag per word
  gcc -O2 -o "$work/c_noop" "$repo/bench/ruby/c_noop.c" -I"$repo/c-api/include" "$repo/$build/libtasker.a" \
    $(sh "$repo/recipe/recipe.sh" libs)
  bench_base_url=$TASKER_DATABASE_URL
}

# A fresh, migrated database for one run: exports TASKER_DATABASE_URL.
bench_fresh_db() { # name, migrate command...
  local name=$1; shift
  "$TASKER_PG_BIN/createdb" -h "$TASKER_PG_BASE" -p "$TASKER_PG_PORT" -U postgres "$name"
  export TASKER_DATABASE_URL=${bench_base_url/\/tasker\?/\/$name?}
  "$@"
}

bench_median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_rounds() { # KEY=LABEL...
  local -A rates=([c]="")
  local spec key line r
  for spec in "$@"; do rates[${spec%%=*}]=""; done
  echo "workload: $rounds rounds x $tasks tasks x 100 no-op steps, concurrency $concurrency, fsync on"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
  for r in $(seq 1 "$rounds"); do
    bench_fresh_db "bench_c_$r" bench_migrate
    line=$("$work/c_noop" "$template" "$tasks" "$concurrency")
    echo "round $r $line"
    rates[c]+="$(echo "$line" | sed -E 's/.*= ([0-9]+) steps\/s.*/\1/') "
    for spec in "$@"; do
      key=${spec%%=*}
      bench_fresh_db "bench_${key//-/_}_$r" bench_migrate
      line=$(bench_side "$key")
      echo "round $r $line"
      rates[$key]+="$(echo "$line" | sed -E 's/.*= ([0-9]+) steps\/s.*/\1/') "
    done
  done
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  local c_med summary med
  # shellcheck disable=SC2086 # the rates are space-separated numbers
  c_med=$(bench_median ${rates[c]})
  summary="median: C $c_med steps/s"
  for spec in "$@"; do
    # shellcheck disable=SC2086
    med=$(bench_median ${rates[${spec%%=*}]})
    summary+=", ${spec#*=} $med steps/s"
  done
  echo "$summary"
  for spec in "$@"; do
    # shellcheck disable=SC2086
    med=$(bench_median ${rates[${spec%%=*}]})
    awk -v k="${spec%%=*}" -v h="$med" -v c="$c_med" 'BEGIN { printf "%s/c: %.1f %% (target >= 90 %%)\n", k, 100 * h / c }'
  done
}
