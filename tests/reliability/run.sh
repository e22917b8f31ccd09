#!/usr/bin/env bash
# Multi-process reliability tests of tasker-core (issue 6), against a private PostgreSQL it starts and
# removes (ci/postgres.sh, fast mode). rel_driver runs each test; rel_worker is the worker process.
#   A  4 worker processes x 300 tasks of the "mixed" DAG: everything completes, each handler ran
#      exactly once per attempt, nothing left active, queued or claimed;
#   B  the same with a 2 s lease while one worker is kill -9'ed every 3 s and restarted: nothing lost,
#      no step completed twice, every interrupted step recovered within 2 x lease (its next attempt
#      claimed within 2 x lease + 1 s + its backoff);
#   C  the same while PostgreSQL is restarted twice (fast shutdown) mid-run: workers reconnect.
#
# Usage: tests/reliability/run.sh [A] [B] [C]     (default: all three)
#        tests/reliability/run.sh --build         (only build; prints the directory of the programs)
# Environment:
#   REL_DRIVER_ARGS     extra rel_driver options for every test, e.g. "--tasks 50 --term-every-ms 2000"
#                       (rel_driver --help lists them)
#   REL_LOG_DIR         where the driver and worker logs go (default: a temporary directory, kept only
#                       when a test fails)
#   REL_BUILD_DIR       CMake build directory (default build-rel)
#   REL_PG_DOWN_SECONDS test C keeps PostgreSQL down this long at each restart (default: restart at once)
# Prints one line per test and "reliability: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

# Internal: test C's restart command (rel_driver runs it while the workers are busy). With
# $REL_PG_DOWN_SECONDS, the server stays down that long between the stop and the start.
if [ "${1:-}" = --pg-restart ]; then
  # shellcheck source=ci/postgres.sh
  source ci/postgres.sh
  TASKER_PG_AS=()
  if [ "$(id -u)" = 0 ]; then TASKER_PG_AS=(runuser -u postgres --); fi
  if [ -n "${REL_PG_DOWN_SECONDS:-}" ]; then
    "${TASKER_PG_AS[@]}" "$TASKER_PG_BIN/pg_ctl" -D "$TASKER_PG_BASE/data" -m fast -w stop >/dev/null
    sleep "$REL_PG_DOWN_SECONDS"
    _tasker_pg_ctl_start
  else
    tasker_pg_restart
  fi
  exit
fi

build_only=
tests=()
for a in "$@"; do
  case $a in
    A|B|C) tests+=("$a") ;;
    --build) build_only=1 ;;
    *) echo "usage: tests/reliability/run.sh [--build] [A] [B] [C]" >&2; exit 2 ;;
  esac
done
[ ${#tests[@]} -gt 0 ] || tests=(A B C)
start=$SECONDS

# Build only what these tests need (other test programs may be mid-edit): the static library and the
# CLI (for the shutdown_*.sh scripts) through CMake, and the two programs with them when
# tests/reliability is part of the build, else directly.
build=${REL_BUILD_DIR:-build-rel}
log=$(mktemp)
if ! { cmake -S . -B "$build" && cmake --build "$build" -j"$(nproc)" --target tasker_static tasker_cli; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "reliability: build failed" >&2; exit 1
fi
bin=$build/tests/reliability
if [ -d "$bin" ]; then
  cmake --build "$build" -j"$(nproc)" --target rel_driver rel_worker >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
else
  bin=$build/reliability
  mkdir -p "$bin"
  # shellcheck disable=SC2207
  cflags=(-std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Ic-api/include
          $(pkg-config --cflags libpq libcjson yaml-0.1 libcrypto))
  # shellcheck disable=SC2207
  libs=("$build/libtasker.a" $(pkg-config --libs libpq libcjson yaml-0.1 libcrypto) -lpthread -lm)
  cc "${cflags[@]}" tests/reliability/rel_worker.c -o "$bin/rel_worker" "${libs[@]}"
  cc "${cflags[@]}" -DTASKER_SOURCE_DIR="\"$root\"" tests/reliability/rel_driver.c -o "$bin/rel_driver" "${libs[@]}"
fi
rm -f "$log"
if [ -n "$build_only" ]; then echo "$bin"; exit 0; fi

# shellcheck source=ci/postgres.sh
source ci/postgres.sh
tasker_pg_start fast
export TASKER_PG_OPTS   # for --pg-restart, which runs in a child process

logs=${REL_LOG_DIR:-$(mktemp -d /tmp/tasker-reliability.XXXXXX)}
mkdir -p "$logs"
passed=0
failed=0
for t in "${tests[@]}"; do
  extra=()
  [ "$t" != C ] || extra=(--restart-cmd "$root/tests/reliability/run.sh --pg-restart")
  rc=0
  # shellcheck disable=SC2086
  line=$("$bin/rel_driver" --test "$t" --log "$logs/workers-$t.log" "${extra[@]}" ${REL_DRIVER_ARGS:-} \
         2>"$logs/driver-$t.log") || rc=$?
  echo "${line:-reliability $t: FAILED (no result line)}"
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "--- driver log ($logs/driver-$t.log):"
    tail -60 "$logs/driver-$t.log"
    echo "--- last lines of the workers' log ($logs/workers-$t.log):"
    tail -30 "$logs/workers-$t.log" 2>/dev/null || true
  fi
done
[ $failed != 0 ] || [ -n "${REL_LOG_DIR:-}" ] || rm -rf "$logs"
echo "reliability: $passed passed, $failed failed ($((SECONDS - start)) s)"
[ $failed = 0 ]
