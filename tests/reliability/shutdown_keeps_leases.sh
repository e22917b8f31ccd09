#!/usr/bin/env bash
# Regression test: while a stopping worker waits for its running handlers (up to
# execution.shutdown_timeout_seconds) it goes on extending their leases, so a handler that needs
# longer than what is left of its lease keeps its claim (the bug this guards against: leases were
# extended only by the dispatcher loop, which had returned; another worker recovered the step, ran it
# again, and the stopping worker's result was discarded).
#
# Here: lease 2 s, handlers that take 6 s, SIGTERM 1 s into them, a second worker running.
# Expected: the stopping worker finishes both root steps and records them (attempts = 1, no
# LeaseExpired). Exits 0 when that holds, 1 when the claims were lost (the bug).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$(tests/reliability/run.sh --build) || exit 2
tasker=${REL_BUILD_DIR:-build-rel}/tasker
# shellcheck source=ci/postgres.sh
source ci/postgres.sh
tasker_pg_start fast
sql() { psql -qAtX "$TASKER_DATABASE_URL" -c "$1"; }

"$tasker" migrate >/dev/null
sql "CREATE TABLE rel_executions (workflow_step_id bigint, attempt int, worker_pid int, claim_id bigint,
                                  started_at timestamptz, PRIMARY KEY (workflow_step_id, attempt));
     CREATE TABLE rel_duplicates (workflow_step_id bigint, attempt int, worker_pid int, claim_id bigint,
                                  seen_at timestamptz);"
"$tasker" task create tests/fixtures/templates/mixed_workflow_task.yaml --context '{}' >/dev/null

export TASKER_EXECUTION_LEASE_SECONDS=2 TASKER_EXECUTION_SHUTDOWN_TIMEOUT_SECONDS=30
log1=$(mktemp) log2=$(mktemp)
"$bin/rel_worker" --min-sleep-ms 6000 --sleep-ms 6000 2>"$log1" &
stopping=$!
for _ in $(seq 100); do [ "$(sql 'SELECT count(*) FROM rel_executions')" -lt 2 ] || break; sleep 0.1; done
sleep 1
echo "the first worker runs both root steps (6 s each); SIGTERM to it, and a second worker starts"
kill -TERM "$stopping"
"$bin/rel_worker" 2>"$log2" &
other=$!
wait "$stopping"
echo "the stopping worker exited with status $?"
kill -TERM "$other"
wait "$other"

lost=$(sql "SELECT count(*) FROM tasker_workflow_step_transitions WHERE metadata->>'error_class' = 'LeaseExpired'")
sql "SELECT 'step ' || workflow_step_id || ' attempt ' || attempt || ' ran in pid ' || worker_pid || ' at ' ||
            to_char(started_at, 'HH24:MI:SS.MS') FROM rel_executions ORDER BY started_at"
grep -h "discarded\|recovered" "$log1" "$log2"
rm -f "$log1" "$log2"
if [ "$lost" != 0 ]; then
  echo "BUG: $lost claim(s) of the stopping worker expired while it was finishing them; the steps ran twice"
  exit 1
fi
echo "ok: the stopping worker kept its claims and recorded its results"
