#!/usr/bin/env bash
# One workflow, several languages: the diamond of tests/polyglot/ run by a C worker and a Ruby worker
# (and a Python and a Node worker when those packages are in the repository), each a process of its
# own, all at once, on a private PostgreSQL. Python and Node run with OpenTelemetry's SDK and its
# in-memory exporter; the Ruby worker with the gem tests' stand-in of the OpenTelemetry API.
#   1. builds the C worker and the CLI (build/), installs the gem into a temporary directory (and the
#      Python wheel and the npm package, when present)
#   2. creates POLYGLOT_TASKS tasks (default 100) of the diamond: start (C) → one branch per language
#      (each fails its first attempt and is retried) → finish (Ruby), the fan-in of every branch
#   3. starts one worker per language; once the POLYGLOT_KILL worker (default ruby) has run
#      POLYGLOT_TASKS / 2 handlers and is in the middle of one, kill -9's it and starts a new one
#   4. waits for every task, stops the workers (SIGTERM), and checks the database against the
#      workers' run logs and the spans their OpenTelemetry exporters wrote: right values, every
#      attempt run once except those the kill cut, one trace id per task (tests/polyglot/driver.rb)
# Prints one line "polyglot: ..." with the numbers and exits non-zero on any failure.
# POLYGLOT_KEEP=1 keeps the workers' logs (the path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tasks=${POLYGLOT_TASKS:-100}
killed=${POLYGLOT_KILL:-ruby}

bash ci/install-deps.sh ruby ruby-dev ruby-pg
if [ ! -x build/tests/polyglot/polyglot_c_worker ] || [ ! -x build/tasker ]; then
  bash ci/build.sh build
else
  cmake --build build -j2 --target polyglot_c_worker tasker_cli >/dev/null
fi

work=$(mktemp -d /tmp/tasker-polyglot.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${POLYGLOT_KEEP:-}" ] && echo "polyglot: logs kept in $work" || rm -rf "$work"
}
# A server of its own: the checks read every task in the database.
# shellcheck source=ci/postgres.sh
source ci/postgres.sh
tasker_pg_start fast
trap 'cleanup; tasker_pg_stop' EXIT

# The packages, each installed the way its phase script installs it, all three at once (most of the
# wait is the compilers' and the package registries'): the gem into a temporary GEM_HOME; a wheel built
# with python-pkg/requirements/build.txt, in a fresh virtualenv; the npm tarball in a copy of
# examples/node (whose lock file holds the OpenTelemetry SDK). Python and Node join when their packages
# (with their workers) are in the repository and the examples app pins the OpenTelemetry SDK.
setup_ruby() {
  local gem_file
  gem_file=$(bash ruby-gem/build.sh) && gem install --local --no-document --install-dir "$work/gems" "$gem_file"
  local rc=$?
  rm -f ruby-gem/tasker-core-*.gem
  return $rc
}
setup_python() {
  local py
  py=$(command -v python3)
  pipq() { "$1/bin/pip" install -q --disable-pip-version-check --no-deps "${@:2}"; }
  "$py" -m venv "$work/py-build" && "$py" -m venv "$work/py" \
    && pipq "$work/py-build" -r python-pkg/requirements/build.txt \
    && "$work/py-build/bin/python" -m build --wheel -o "$work/dist" python-pkg \
    && pipq "$work/py" -r tests/polyglot/requirements-python.txt "$work"/dist/*.whl
}
setup_node() {
  if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
  export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
  mkdir -p "$work/node-app"
  cp examples/node/package.json examples/node/package-lock.json "$work/node-app/"
  (cd node-addon && npm pack --silent --pack-destination "$work") \
    && (cd "$work/node-app" && npm ci --silent && npm install --no-save --silent "$work"/tasker-core-*.tgz)
}

langs=(c ruby)
[ -f python-pkg/pyproject.toml ] && langs+=(python)
[ -f node-addon/lib/worker.js ] && grep -q '"@opentelemetry/sdk-trace-base"' examples/node/package.json 2>/dev/null \
  && langs+=(node)
setup_started=$(date +%s)
declare -A setup_pid
for l in "${langs[@]}"; do
  [ "$l" = c ] && continue
  "setup_$l" >"$work/setup-$l.log" 2>&1 &
  setup_pid[$l]=$!
done
for l in "${!setup_pid[@]}"; do
  wait "${setup_pid[$l]}" || { echo "polyglot: FAIL installing the $l package:" >&2; tail -n 40 "$work/setup-$l.log" >&2; exit 1; }
done
echo "polyglot: packages for ${langs[*]} installed in $(($(date +%s) - setup_started)) s"
export GEM_HOME="$work/gems"
GEM_PATH="$work/gems:$(ruby -e 'print Gem.default_path.join(":")')"
export GEM_PATH

# Every worker reads these (docs/configuration.md): retries at once, and a short lease so the killed
# worker's steps are recovered within seconds.
export TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS=0 TASKER_BACKOFF_JITTER_ENABLED=false
export TASKER_EXECUTION_LEASE_SECONDS=3 TASKER_EXECUTION_POLL_INTERVAL_MS=200
mkdir -p "$work/runs"
sleep_ms=30

start_worker() { # language; sets $worker_pid
  case $1 in
    c) build/tests/polyglot/polyglot_c_worker "$work/runs" "$sleep_ms" >>"$work/c.out" 2>&1 & ;;
    ruby) ruby tests/polyglot/ruby_worker.rb "$work/runs" "$sleep_ms" >>"$work/ruby.out" 2>&1 & ;;
    python) "$work/py/bin/python" tests/polyglot/python_worker.py "$work/runs" "$sleep_ms" >>"$work/python.out" 2>&1 & ;;
    node) NODE_PATH="$work/node-app/node_modules" node tests/polyglot/node_worker.js "$work/runs" "$sleep_ms" \
            >>"$work/node.out" 2>&1 & ;;
  esac
  worker_pid=$!
  pids+=("$worker_pid")
}

# Fails the run when a worker (the current one of its language) has exited on its own.
check_alive() {
  local l
  for l in "${langs[@]}"; do
    if ! kill -0 "${worker_of[$l]}" 2>/dev/null; then
      echo "polyglot: FAIL the $l worker (pid ${worker_of[$l]}) exited:" >&2
      tail -n 30 "$work/$l.out" >&2
      exit 1
    fi
  done
}
complete_tasks() { psql "$TASKER_DATABASE_URL" -XAtqc "SELECT count(*) FROM tasker_tasks WHERE complete"; }
# Succeeds when the worker (language, pid) has finished at least $3 handler runs and is in one now.
busy_after() {
  local log=$work/runs/$1.$2.log starts ends
  [ -f "$log" ] || return 1
  starts=$(grep -c '^start ' "$log" || true)
  ends=$(grep -c '^done ' "$log" || true)
  [ "$ends" -ge "$3" ] && [ "$starts" -gt "$ends" ]
}

ruby tests/polyglot/driver.rb setup "$tasks" "${langs[@]}"
started=$(date +%s)
declare -A worker_of
for l in "${langs[@]}"; do
  start_worker "$l"
  worker_of[$l]=$worker_pid
done

victim=${worker_of[$killed]:-}
[ -n "$victim" ] || { echo "polyglot: POLYGLOT_KILL=$killed is not one of: ${langs[*]}" >&2; exit 2; }
deadline=$((started + 240))
while :; do
  done_now=$(complete_tasks)
  if busy_after "$killed" "$victim" $((tasks / 2)); then
    kill -9 "$victim"
    echo "polyglot: kill -9 of the $killed worker (pid $victim) with $done_now of $tasks tasks complete"
    start_worker "$killed"
    worker_of[$killed]=$worker_pid
    break
  fi
  check_alive
  if [ "$done_now" -ge "$tasks" ] || [ "$(date +%s)" -gt "$deadline" ]; then
    echo "polyglot: FAIL the $killed worker was never caught in a handler before the run ended" >&2
    exit 1
  fi
  sleep 0.05
done

while [ "$(complete_tasks)" -lt "$tasks" ]; do
  check_alive
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "polyglot: FAIL only $(complete_tasks) of $tasks tasks complete after 240 s" >&2
    tail -n 20 "$work"/*.out >&2
    exit 1
  fi
  sleep 0.2
done
elapsed=$(($(date +%s) - started))
# Graceful stop. An idle Ruby worker of this gem version may not see SIGTERM until a step arrives
# (its dispatcher waits without the GVL): a worker still there after 10 s is killed, which changes
# nothing now that every task is complete, and is said.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    echo "polyglot: note: worker pid $p did not stop within 10 s of SIGTERM; killed"
    kill -9 "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
done
pids=()

rc=0
ruby tests/polyglot/driver.rb check "$tasks" "$work/runs" "$killed" "$victim" "${langs[@]}" || rc=$?
echo "polyglot: $tasks tasks in ${elapsed} s with workers in ${langs[*]}"
if [ $rc != 0 ]; then
  tail -n 20 "$work"/*.out >&2
fi
exit $rc
