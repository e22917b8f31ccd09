#!/usr/bin/env bash
# JavaScript handlers vs C handlers on the same no-op workload (bench/ruby/noop_template.yaml: tasks of 100
# independent steps, run by bench/ruby/c_noop.c on the C side), side by side in one run: each round runs C
# then Node, each on a fresh database of a private, durable PostgreSQL (fsync on). Prints every run, the
# medians and the ratio (the round loop: bench/lib/rounds.sh).
#   bench/node/run.sh [TASKS per run (default 100)] [ROUNDS (default 3)] [CONCURRENCY (default 10)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tasks=${1:-100}
rounds=${2:-3}
concurrency=${3:-10}
# shellcheck source=../lib/rounds.sh
source "$repo/bench/lib/rounds.sh"

if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
bench_start build-node-bench -DTASKER_BUILD_BENCH=OFF
(cd "$repo/node-addon" && npm install --no-audit --no-fund --silent >/dev/null)
bench_migrate() { node -e 'new (require(process.argv[1]).Client)().migrate().then(() => process.exit(0))' "$repo/node-addon"; }
bench_side() { node "$here/node_noop.js" "$template" "$tasks" "$concurrency"; }
bench_rounds node=Node
