/*
 * recover.c — lease recovery: a claim whose lease expired belongs to a worker that died or hung.
 * Any live worker takes such claims (FOR UPDATE SKIP LOCKED, with their task rows, so recoverers
 * never wait on each other) and records a failed attempt through the normal completion path, so the
 * step is retried after its backoff or fails its task when no attempt is left. A late result from
 * the original worker then finds no claim and is rejected.
 */
#include <stdlib.h>

#include "client.h"
#include "complete.h"
#include "error.h"

/* Expired leases, oldest first. The walk of the lease index starts at a floor the connection carries
 * from its previous sweep (session settings; a rolled-back sweep leaves them as they were): a sweep that
 * took fewer than its LIMIT took every expired lease it could lock, so the next one starts 5 s before
 * that sweep's time. Behind a long-running transaction elsewhere, every claim ever completed keeps its
 * entry in that index, and from the front a sweep reads all of them (after 300,000 steps, ~270,000
 * entries for nothing: bench/RESULTS.md). A lease below the floor — one held locked by a transaction
 * that then rolled back, or one committed more than 5 s after its transaction began — is taken by the
 * sweep from the front: the first of a connection, and any whose last one is older than
 * tasker.recover_full_scan_seconds (default 300). The one-time filter on `s` runs the settings' update
 * whether or not anything expired. */
static const tdb_stmt Q_EXPIRED = {
	"recover_expired",
	"WITH f AS MATERIALIZED (SELECT CASE WHEN g.full_at > " NOW_UTC " - COALESCE(NULLIF(g.period, '')::int, 300) "
	"* interval '1 second' THEN g.floor END AS lo FROM (SELECT "
	"timezone('UTC', to_timestamp(NULLIF(current_setting('tasker.recover_full_at', true), '')::float8)) AS full_at, "
	"timezone('UTC', to_timestamp(NULLIF(current_setting('tasker.recover_floor', true), '')::float8)) AS floor, "
	"current_setting('tasker.recover_full_scan_seconds', true) AS period) g), "
	"e AS MATERIALIZED (SELECT c.workflow_step_id, c.claim_id, c.worker_id, c.lease_expires_at "
	"FROM tasker_step_claims c JOIN tasker_tasks t ON t.task_id = c.task_id "
	"WHERE c.lease_expires_at >= COALESCE((SELECT lo FROM f), '-infinity') AND c.lease_expires_at < " NOW_UTC
	" ORDER BY c.lease_expires_at LIMIT 100 FOR UPDATE OF c SKIP LOCKED FOR NO KEY UPDATE OF t SKIP LOCKED), "
	"s AS MATERIALIZED (SELECT set_config('tasker.recover_floor', COALESCE(CASE WHEN n.k < 100 THEN "
	"extract(epoch FROM " NOW_UTC " - interval '5 seconds') ELSE extract(epoch FROM f.lo) END::text, ''), false), "
	"CASE WHEN f.lo IS NULL THEN set_config('tasker.recover_full_at', extract(epoch FROM " NOW_UTC ")::text, false) "
	"END FROM f, (SELECT count(*) AS k FROM e) n) "
	"SELECT workflow_step_id, claim_id, worker_id FROM e WHERE (SELECT true FROM s) ORDER BY lease_expires_at"};
enum { EXPIRED_STEP_ID, EXPIRED_CLAIM_ID, EXPIRED_WORKER_ID };

int tasker_step_recover_expired(int *out_recovered, tasker_client *client)
{
	if (out_recovered)
		*out_recovered = 0;
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	PGresult *res = NULL;
	tasker_step_result *rs = NULL;
	char **msgs = NULL;
	int n = 0;
	rc = tdb_begin(db);
	if (!rc)
		rc = tdb_exec(&res, db, &Q_EXPIRED, 0, NULL, "finding expired leases");
	if (!rc && (n = PQntuples(res)) > 0) {
		rs = calloc((size_t)n, sizeof *rs);
		msgs = calloc((size_t)n, sizeof *msgs);
		if (!rs || !msgs)
			rc = tasker_set_oom();
		for (int i = 0; !rc && i < n; i++) {
			const char *who = tdb_get(res, i, EXPIRED_WORKER_ID);
			if (asprintf(&msgs[i], "worker %s stopped renewing its lease (it died, hung, or lost the "
			                       "database); the attempt counts as failed", who ? who : "?") < 0) {
				msgs[i] = NULL;
				rc = tasker_set_oom();
				break;
			}
			rs[i].workflow_step_id = tdb_get_i64(res, i, EXPIRED_STEP_ID, 0);
			rs[i].claim_id = tdb_get_i64(res, i, EXPIRED_CLAIM_ID, 0);
			rs[i].outcome = (tasker_outcome)TOUTCOME_LEASE_EXPIRED;
			rs[i].error_message = msgs[i];
			rs[i].error_class = "LeaseExpired";
			rs[i].error_code = "LEASE_EXPIRED";
			rs[i].retry_after = -1;
		}
		if (!rc)
			rc = tcomplete_locked(db, client, rs, (size_t)n);
	}
	if (!rc)
		rc = tdb_commit(db);
	if (!rc && out_recovered)
		for (int i = 0; i < n; i++)
			*out_recovered += rs[i].status == TASKER_OK;
	for (int i = 0; msgs && i < n; i++)
		free(msgs[i]);
	free(msgs);
	free(rs);
	PQclear(res);
	tclient_release(client, db);
	return rc;
}
