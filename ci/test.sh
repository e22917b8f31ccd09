#!/usr/bin/env bash
# Runs every test of tasker-core against a private PostgreSQL it starts (and removes on exit):
#   0. the layering of the C core from its #include lines (ci/check-layers.sh)
#   1. the C core: unit and integration tests (CMocka, through ctest); a Release build (tests included)
#   2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer
#   3. libFuzzer on every reader of outside input (ci/fuzz.sh, 30 s each); every C test program under
#      valgrind (zero errors, no definite leaks)
#   4. `cmake --install`, then the examples in examples/c built through pkg-config and run
#   5. the reliability tests: several worker processes, kill -9, a PostgreSQL restart, and a stop
#      during a database outage or a handler longer than its lease
#   6. the Python package: sdist and wheel, installed in fresh virtualenvs on Python 3.9 and 3.13, the
#      conformance suite with sync and async handlers, pytest, mypy on the examples, an ASan build
#   7. the Ruby gem: packaged, installed, its tests and the conformance suite with Ruby handlers
#   8. the npm package: packed, installed into a fresh app, node --test and the conformance suite with
#      JavaScript handlers (ci/test-node.sh)
#   9. the polyglot run (ci/test-polyglot.sh): one workflow, a worker process per language
# Closes with the conformance table (case × language, from the lines each runner printed) and one
# line "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# Everything this script prints also goes to a log, which the conformance table is read from.
ci_log=$(mktemp /tmp/tasker-ci-log.XXXXXX)
exec > >(tee -a "$ci_log")

bash ci/install-deps.sh
# shellcheck source=ci/postgres.sh
source ci/postgres.sh
tasker_pg_start fast

passed=0
failed=0
phase() { echo; echo "=== $*"; }
record() { # name, exit status
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "--- ok: $1"; else failed=$((failed + 1)); echo "--- FAILED: $1"; fi
}

run_ctest() { # build dir, label
  local out rc=0
  out=$(ctest --test-dir "$1" --output-on-failure -j2 2>&1) || rc=$?
  echo "$out" | grep -E "Test +#|tests passed|tests failed|Failed|\*\*\*" || true
  [ $rc = 0 ] || echo "$out" | tail -200
  local total
  total=$(echo "$out" | sed -n 's/.* tests failed out of \([0-9]*\).*/\1/p' | tail -1)
  local nfail
  nfail=$(echo "$out" | sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' | tail -1)
  passed=$((passed + ${total:-0} - ${nfail:-0}))
  failed=$((failed + ${nfail:-0}))
  [ $rc = 0 ] || [ "${nfail:-0}" != 0 ] || failed=$((failed + 1))
}

phase "layers of the C core (includes)"
rc=0
bash ci/check-layers.sh || rc=$?
record "check-layers" $rc

phase "C core: build and test"
bash ci/build.sh build
run_ctest build
# ctest keeps a passing test's output to itself; the JSON-Schema-Test-Suite count and the C runner's
# conformance lines belong in the log.
build/tests/c/test_jsonschema 2>/dev/null | grep '^json-schema-test-suite' || true
grep -E '^conformance c ' build/Testing/Temporary/LastTest.log || true

phase "Release build (tests included): builds with warnings as errors"
rc=0
bash ci/build.sh build-release -DCMAKE_BUILD_TYPE=Release || rc=$?
record "Release build" $rc

phase "C core under AddressSanitizer + UndefinedBehaviorSanitizer"
bash ci/build.sh build-asan -DTASKER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan

phase "fuzzing: every reader of outside input, ${FUZZ_SECONDS:-30} s each under ASan + UBSan"
rc=0
bash ci/fuzz.sh || rc=$?
record "fuzzing (ci/fuzz.sh)" $rc

phase "C core under valgrind"
# Two programs at a time (the machine has two cores; most of the time is valgrind's, not the server's).
vglogs=$(mktemp -d /tmp/tasker-valgrind.XXXXXX)
valgrind_one() {
  local t=$1 name rc=0
  name=$(basename "$t")
  TASKER_RACE_ROUNDS=100 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --suppressions="$root/ci/valgrind.supp" "$t" >"$vglogs/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$vglogs/$name.rc"
}
export -f valgrind_one
export root vglogs
ls build/tests/c/test_* | xargs -P2 -I{} bash -c 'valgrind_one {}'
for t in build/tests/c/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  rc=$(cat "$vglogs/$name.rc" 2>/dev/null || echo 1)
  [ "$rc" = 0 ] || tail -60 "$vglogs/$name.log"
  record "valgrind $name" "$rc"
done
rm -rf "$vglogs"

phase "install, then build the C examples through pkg-config"
prefix=$(mktemp -d /tmp/tasker-install.XXXXXX)
cmake --install build --prefix "$prefix" >/dev/null
pc=$(dirname "$(find "$prefix" -name tasker.pc | head -1)")
rc=0
( cd examples/c && make -s clean && PKG_CONFIG_PATH="$pc" make -s all CFLAGS="-O2 -Wall -Wextra -Werror" \
  && LD_LIBRARY_PATH="$prefix/lib:$(dirname "$pc")" ./schema_status && make -s clean ) || rc=$?
record "examples/c against the installed library" $rc
rm -rf "$prefix"

phase "reliability: 4 worker processes, kill -9, PostgreSQL restart"
rc=0
REL_BUILD_DIR=build bash tests/reliability/run.sh || rc=$?
record "reliability A, B, C" $rc
for t in shutdown_during_outage shutdown_keeps_leases; do
  rc=0
  REL_BUILD_DIR=build bash "tests/reliability/$t.sh" || rc=$?
  record "reliability: $t" $rc
done

phase "Python package: sdist + abi3 wheel, installed outside the repository on the oldest and newest Python"
rc=0
bash ci/test-python.sh || rc=$?
record "Python package" $rc

phase "Ruby gem: build, install, tests, conformance, example outside the repository"
rc=0
bash ruby-gem/test.sh || rc=$?
record "Ruby gem" $rc

phase "npm package: packed, installed outside the repository, node --test, conformance, examples"
rc=0
bash ci/test-node.sh || rc=$?
record "npm package" $rc

phase "polyglot: one workflow, a worker process per language, kill -9 of one"
rc=0
bash ci/test-polyglot.sh || rc=$?
record "polyglot" $rc

phase "conformance: case × language"
langs=(c ruby)
[ -f ci/test-python.sh ] && langs+=(python-sync python-async)
[ -f ci/test-node.sh ] && langs+=(node)
rc=0
bash ci/conformance-table.sh "$ci_log" "${langs[@]}" || rc=$?
record "conformance table (${langs[*]})" $rc
rm -f "$ci_log"

echo
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
