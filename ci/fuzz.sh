#!/usr/bin/env bash
# Fuzzes everything that reads outside input (tests/fuzz/: template reader YAML and JSON, configuration
# reader, JSON Schema compile + validate, regex engine, task contexts as hashed, result JSON) with
# libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer, each for a bounded time
# (FUZZ_SECONDS, default 30), starting from the committed seed corpora (tests/fuzz/corpus/), which it
# leaves untouched. Prints the executions of each harness; fails on any crash, leak, timeout or broken
# property, keeping the input that shows it (turn it into a regression test, and a seed).
# Usage: bash ci/fuzz.sh [HARNESS...]      (needs clang and libclang-rt: ci/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
build=build-fuzz
log=$(mktemp)
if ! { CC=clang cmake -S . -B "$build" -DTASKER_FUZZ=ON -DTASKER_WERROR=ON -DTASKER_BUILD_TESTS=OFF \
         -DTASKER_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       && cmake --build "$build" -j2; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "fuzz: build failed" >&2; exit 1
fi
rm -f "$log"

harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_template_yaml fuzz_template_json fuzz_config fuzz_jsonschema
                                         fuzz_regex fuzz_context fuzz_result)
work=$(mktemp -d /tmp/tasker-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
total=0
for h in "${harnesses[@]}"; do
  mkdir -p "$work/$h/corpus" "$work/$h/crashes"
  cp tests/fuzz/corpus/"$h"/* "$work/$h/corpus/"
  rc=0
  "$build/tests/fuzz/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$h/crashes/" "$work/$h/corpus" >"$work/$h.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$h.log" | tail -1)
  execs=${execs:-0}
  total=$((total + execs))
  if [ "$rc" = 0 ]; then
    printf 'fuzz %-20s ok      %10s executions in %ss\n' "$h" "$execs" "$seconds"
  else
    failed=$((failed + 1))
    printf 'fuzz %-20s FAILED  %10s executions (exit %s)\n' "$h" "$execs" "$rc"
    grep -v '^#\|^INFO' "$work/$h.log" | tail -40
    keep=$(mktemp -d /tmp/tasker-fuzz-crash.XXXXXX)
    cp -r "$work/$h/crashes/." "$keep/" 2>/dev/null || true
    echo "fuzz: the input that shows it is kept in $keep"
  fi
done
echo "fuzz: ${#harnesses[@]} harnesses, $total executions, $failed failed"
[ "$failed" = 0 ]
