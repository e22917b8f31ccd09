#!/usr/bin/env bash
# Regression test: a worker asked to stop (SIGTERM → tasker_worker_stop) while PostgreSQL is
# unreachable exits within execution.shutdown_timeout_seconds (5 s here) plus a little, instead of
# retrying its unwritten results forever (the bug this guards against: the result writers retried
# without a deadline and tasker_worker_run joined them). The claims it could not settle are recovered
# by other workers when their leases expire. Exits 0 when the worker stopped in time, 1 when it hung.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$(tests/reliability/run.sh --build) || exit 2
tasker=${REL_BUILD_DIR:-build-rel}/tasker
# shellcheck source=ci/postgres.sh
source ci/postgres.sh
tasker_pg_start fast

"$tasker" migrate >/dev/null
psql -qX "$TASKER_DATABASE_URL" -c "
  CREATE TABLE rel_executions (workflow_step_id bigint, attempt int, worker_pid int, claim_id bigint,
                               started_at timestamptz, PRIMARY KEY (workflow_step_id, attempt));
  CREATE TABLE rel_duplicates (workflow_step_id bigint, attempt int, worker_pid int, claim_id bigint,
                               seen_at timestamptz);"
for _ in 1 2 3 4; do
  "$tasker" task create tests/fixtures/templates/mixed_workflow_task.yaml --context '{}' >/dev/null
done

log=$(mktemp)
# Handlers sleep up to 3 s, so steps are in flight when the database goes away.
TASKER_EXECUTION_SHUTDOWN_TIMEOUT_SECONDS=5 "$bin/rel_worker" --sleep-ms 3000 2>"$log" &
worker=$!
sleep 1.5
echo "steps in flight: $(psql -AtX -c 'SELECT count(*) FROM tasker_step_claims' "$TASKER_DATABASE_URL")"
"${TASKER_PG_AS[@]}" "$TASKER_PG_BIN/pg_ctl" -D "$TASKER_PG_BASE/data" -m fast -w stop >/dev/null
echo "PostgreSQL stopped; SIGTERM to the worker (shutdown timeout 5 s)"
kill -TERM "$worker"
t0=$SECONDS
while kill -0 "$worker" 2>/dev/null && [ $((SECONDS - t0)) -lt 20 ]; do sleep 0.5; done
if kill -0 "$worker" 2>/dev/null; then
  echo "BUG: the worker is still running $((SECONDS - t0)) s after SIGTERM; its last words:"
  tail -3 "$log"
  kill -9 "$worker"
  rc=1
else
  wait "$worker"
  echo "ok: the worker exited with status $? after $((SECONDS - t0)) s"
  rc=0
fi
rm -f "$log"
exit $rc
