#!/usr/bin/env bash
# The Ruby gem's single test entry point (CI calls it):
#   1. installs the Debian packages it needs (quietly, only what is missing; apt-get as root or sudo)
#   2. builds the C library if build-ruby/ lacks it (the benchmark's C side links it)
#   3. starts a private PostgreSQL (ci/postgres.sh) unless $TASKER_DATABASE_URL is set
#   4. builds the gem (build.sh) and installs it with `gem install --local` into a temporary dir
#   5. runs every test under test/ against the installed gem, then a GC.stress subset of the
#      conformance suite
#   6. runs the gem's example from a directory outside the repository
# Closes with one line "ruby: N passed, N failed" and exits non-zero on any failure.
set -euo pipefail
gem_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$gem_dir/.." && pwd)

PACKAGES=(ruby ruby-dev rake ruby-minitest ruby-pg ruby-railties build-essential cmake pkg-config
          libpq-dev libcjson-dev libyaml-dev libssl-dev postgresql)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "ruby-gem/test.sh: need root to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "ruby-gem/test.sh: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$repo/build-ruby/libtasker.a" ]; then
  echo "=== building the C library (build-ruby/)"
  bash "$repo/ci/build.sh" build-ruby -DTASKER_BUILD_TESTS=OFF
fi

if [ -z "${TASKER_DATABASE_URL:-}" ]; then
  # shellcheck source=../ci/postgres.sh
  source "$repo/ci/postgres.sh"
  tasker_pg_start fast
fi

work=$(mktemp -d /tmp/tasker-ruby.XXXXXX)
cleanup() { rm -rf "$work"; rm -f "$gem_dir"/tasker-core-*.gem; }
trap 'cleanup; command -v tasker_pg_stop >/dev/null && tasker_pg_stop' EXIT

echo "=== building and installing the gem"
gem_file=$(bash "$gem_dir/build.sh")
gem install --local --no-document --install-dir "$work/gems" "$gem_file" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; find "$work/gems" -name mkmf.log -exec cat {} +; exit 1; }
export GEM_HOME="$work/gems"
GEM_PATH="$work/gems:$(ruby -e 'print Gem.default_path.join(":")')"
export GEM_PATH

passed=0
failed=0
record() { # name, status, log
  local summary runs fails errs skips
  summary=$(grep -E '^[0-9]+ runs, ' "$3" | tail -1 || true)
  if [ -n "$summary" ]; then
    runs=$(echo "$summary" | sed -E 's/^([0-9]+) runs.*/\1/')
    fails=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures.*/\1/')
    errs=$(echo "$summary" | sed -E 's/.* ([0-9]+) errors.*/\1/')
    skips=$(echo "$summary" | sed -E 's/.* ([0-9]+) skips.*/\1/')
    passed=$((passed + runs - fails - errs - skips))
    failed=$((failed + fails + errs))
  fi
  if [ "$2" != 0 ] && { [ -z "$summary" ] || [ "$((fails + errs))" = 0 ]; }; then
    failed=$((failed + 1))  # crashed without a minitest summary
  fi
  if [ "$2" = 0 ]; then echo "--- ok: $1 (${summary:-no summary})"; else echo "--- FAILED: $1"; tail -80 "$3"; fi
}

run_test() { # name, then the command
  local name=$1 rc=0
  shift
  echo "=== $name"
  (cd "$gem_dir" && "$@") >"$work/$name.log" 2>&1 || rc=$?
  grep -E '^memory: ' "$work/$name.log" || true
  grep -oE 'conformance [a-z-]+ [^ ]+ (ok|FAIL)$' "$work/$name.log" || true  # minitest's progress dots may precede it
  record "$name" "$rc" "$work/$name.log"
}

for t in "$gem_dir"/test/*_test.rb; do
  run_test "$(basename "$t" .rb)" ruby -Itest "$t"
done
run_test "conformance_gc_stress" env TASKER_GC_STRESS_CASES=01_dummy,17_permanent ruby -Itest test/conformance_test.rb

echo "=== example, from outside the repository"
example_dir="$work/example"
mkdir -p "$example_dir"
cp "$gem_dir"/examples/* "$example_dir/"
rc=0
(cd "$example_dir" && ruby order_example.rb) >"$work/example.log" 2>&1 || rc=$?
cat "$work/example.log"
if [ $rc = 0 ] && grep -q "task .* complete" "$work/example.log"; then
  passed=$((passed + 1)); echo "--- ok: example"
else
  failed=$((failed + 1)); echo "--- FAILED: example"
fi

echo
echo "ruby: $passed passed, $failed failed"
[ "$failed" = 0 ]
