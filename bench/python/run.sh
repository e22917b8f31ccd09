#!/usr/bin/env bash
# Python handlers (sync and async) vs C handlers on the same no-op workload (bench/ruby/noop_template.yaml:
# tasks of 100 independent steps; the C side is bench/ruby/c_noop.c), side by side in one run: each round
# runs C, Python sync, then Python async, each on a fresh database of a private, durable PostgreSQL
# (fsync on). The package is built and installed into a virtualenv as a user installs it. Prints every
# run, the medians and the ratios (the round loop: bench/lib/rounds.sh).
#   bench/python/run.sh [TASKS per run (default 100)] [ROUNDS (default 3)] [CONCURRENCY (default 10)]
#   PYTHON=python3.13 bench/python/run.sh ...   (default: python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tasks=${1:-100}
rounds=${2:-3}
concurrency=${3:-10}
python=${PYTHON:-python3}
# shellcheck source=../lib/rounds.sh
source "$repo/bench/lib/rounds.sh"

bench_start build-bench-python
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$repo/python-pkg" >/dev/null
py="$work/venv/bin/python"
"$py" --version
bench_migrate() { (cd "$work" && "$py" -c 'import tasker_core; tasker_core.Client().migrate()'); }
bench_side() { # python-sync | python-async
  (cd "$work" && "$py" "$here/python_noop.py" "${1#python-}" "$template" "$tasks" "$concurrency")
}
bench_rounds "python-sync=Python sync" "python-async=Python async"
