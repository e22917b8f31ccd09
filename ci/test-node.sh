#!/usr/bin/env bash
# The npm package's test phase (ci/test.sh calls it; it also runs on its own):
#   1. checks for node and npm, installs the Debian packages the core builds with (ci/install-deps.sh)
#   2. starts a private PostgreSQL (ci/postgres.sh) unless $TASKER_DATABASE_URL is set
#   3. `npm pack`s node-addon/ (the core is vendored into the tarball through the build recipe)
#   4. makes a fresh app outside the repository from examples/node (its lock file), installs the
#      tarball there — node-gyp builds the addon from the vendored core — and type-checks the examples
#   5. runs `node --test` on the package's tests and the conformance runner against the installed package
# Closes with one line "node: N passed, N failed" and exits non-zero on any failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "test-node.sh: node and npm are needed (Node.js 18 or later)" >&2; exit 1; }
bash "$repo/ci/install-deps.sh"
# node-gyp compiles against the headers of the running node; with them installed under /usr it needs
# no download (offline machines, CI).
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then
  export npm_config_nodedir=/usr
fi
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# node-gyp compiles the core with this many jobs (the default is one).
export npm_config_jobs=${npm_config_jobs:-2}

if [ -z "${TASKER_DATABASE_URL:-}" ]; then
  # shellcheck source=postgres.sh
  source "$repo/ci/postgres.sh"
  tasker_pg_start fast
fi

work=$(mktemp -d /tmp/tasker-node.XXXXXX)
trap 'rm -rf "$work"; command -v tasker_pg_stop >/dev/null && tasker_pg_stop' EXIT

echo "=== npm pack"
(cd "$repo/node-addon" && npm pack --silent --pack-destination "$work") >"$work/pack.log" 2>&1 \
  || { cat "$work/pack.log"; exit 1; }
tarball=$(ls "$work"/tasker-core-*.tgz)
echo "packed $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"

echo "=== a fresh app outside the repository: npm ci, then npm install the tarball"
app="$work/app"
mkdir -p "$app"
cp "$repo"/examples/node/package.json "$repo"/examples/node/package-lock.json "$app/"
(cd "$app" && npm ci --silent && npm install --no-save --silent "$tarball") >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; exit 1; }
cp -r "$repo"/node-addon/test "$app/test"
cp "$repo"/examples/node/*.js "$repo"/examples/node/*.ts "$repo"/examples/node/*.yaml "$repo"/examples/node/tsconfig.json "$app/"

passed=0
failed=0
run_tests() { # name, then the command (run in the app)
  local name=$1 rc=0 log="$work/$1.log"
  shift
  echo "=== $name"
  (cd "$app" && TASKER_REPO="$repo" TASKER_EXAMPLES="$app" "$@") >"$log" 2>&1 || rc=$?
  grep -E "conformance node |worst event-loop lag|memory:|throughput" "$log" | sed 's/^# //' || true
  local p f
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ $rc = 0 ]; then
    echo "--- ok: $name (${p:-0} passed)"
  else
    [ -n "$f" ] && [ "$f" != 0 ] || failed=$((failed + 1))
    echo "--- FAILED: $name"
    tail -120 "$log"
  fi
}

run_tests "node --test" sh -c 'node --test --test-concurrency=1 --test-reporter=tap test/*.test.js'
if [ -f "$app/tsconfig.json" ]; then
  rc=0
  echo "=== tsc --strict --noEmit (examples and index.d.ts)"
  (cd "$app" && npx tsc --strict --noEmit -p .) >"$work/tsc.log" 2>&1 || rc=$?
  if [ $rc = 0 ]; then passed=$((passed + 1)); echo "--- ok: tsc"; else failed=$((failed + 1)); echo "--- FAILED: tsc"; cat "$work/tsc.log"; fi
fi

echo "=== the README's example (examples/node/greeting.js), from the app"
rc=0
psql "$TASKER_DATABASE_URL" -Xqc "CREATE DATABASE node_greeting" >/dev/null
(cd "$app" && DATABASE_URL=${TASKER_DATABASE_URL/\/tasker\?/\/node_greeting?} node greeting.js) >"$work/greeting.log" 2>&1 || rc=$?
cat "$work/greeting.log"
if [ $rc = 0 ] && grep -qx "Hello, Ada!" "$work/greeting.log"; then
  passed=$((passed + 1)); echo "--- ok: greeting.js"
else
  failed=$((failed + 1)); echo "--- FAILED: greeting.js"
fi

echo
echo "node: $passed passed, $failed failed"
[ "$failed" = 0 ]
