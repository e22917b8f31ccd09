#!/usr/bin/env bash
# Runs graphile-worker side by side with tasker-core's benchmarks on the PostgreSQL server that
# $TASKER_DATABASE_URL points at (in a database of its own, graphile_bench, recreated each run) and prints
# one JSON object on stdout (progress on stderr). Installs the pinned npm packages (package-lock.json)
# into bench/peer/node_modules when they are missing or out of date.
# Usage: TASKER_DATABASE_URL=... bash bench/peer/run.sh [> peer.json]
set -euo pipefail
cd "$(dirname "$0")"
die() { echo "bench/peer: $*" >&2; exit 1; }

[ -n "${TASKER_DATABASE_URL:-}" ] || die "set TASKER_DATABASE_URL (bench/run.sh does, or: source ci/postgres.sh && tasker_pg_start)"
command -v node >/dev/null || die "node is not installed (Node.js 18 or later is needed)"
command -v npm >/dev/null || die "npm is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "Node.js 18 or later is needed, found $(node --version)"

# npm writes node_modules/.package-lock.json on every install: missing or older than package-lock.json
# means the installed tree is not the pinned one.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -d node_modules/graphile-worker ] || [ ! -d node_modules/pg ]; then
  echo "bench/peer: installing the pinned npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed (is the npm registry reachable?)"
fi

node graphile_bench.js || die "graphile_bench.js failed (see above)"
