/*
 * presence.c — which workers are running and which handler classes they run (table
 * tasker_worker_presence): the heartbeat upsert a worker sends, its removal when the worker stops, and
 * the question "which ready steps wait for a handler no running worker has". Decides nothing about
 * claiming: a worker's claim is filtered by its own handler classes (claim.c), presence only reports.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "util.h"


/* Rows of workers gone for an hour are removed by the next heartbeat of any worker: the table holds
 * the workers of the last hour, however many came and went. */
static const tdb_stmt Q_ANNOUNCE = {
	"presence_announce",
	"WITH gone AS (DELETE FROM tasker_worker_presence WHERE expires_at < " NOW_UTC " - interval '1 hour') "
	"INSERT INTO tasker_worker_presence (worker_id, handler_classes, started_at, last_seen_at, expires_at) "
	"VALUES ($1, $2::varchar[], " NOW_UTC ", " NOW_UTC ", " NOW_UTC " + $3::int * interval '1 second') "
	"ON CONFLICT (worker_id) DO UPDATE SET handler_classes = EXCLUDED.handler_classes, "
	"last_seen_at = EXCLUDED.last_seen_at, expires_at = EXCLUDED.expires_at"};
static const tdb_stmt Q_WITHDRAW = {"presence_withdraw",
                                    "DELETE FROM tasker_worker_presence WHERE worker_id = $1"};
static const tdb_stmt Q_WAITS = {
	"presence_waits",
	"SELECT r.workflow_step_id, r.handler_class, "
	"(extract(epoch FROM r.ready_at) * 1000000)::bigint FROM tasker_ready_steps r "
	"WHERE r.task_id = $1::bigint AND r.ready_at <= " NOW_UTC " AND NOT EXISTS ("
	"SELECT 1 FROM tasker_worker_presence p WHERE p.expires_at > " NOW_UTC
	" AND (p.handler_classes IS NULL OR r.handler_class = ANY(p.handler_classes))) "
	"ORDER BY r.workflow_step_id"};
enum { WAITS_STEP_ID, WAITS_HANDLER_CLASS, WAITS_READY_SINCE_US };

int tasker_worker_presence_announce(tasker_client *client, const char *worker_id,
                                    const char *const *handler_classes, size_t count, int ttl_seconds)
{
	if (!worker_id || !*worker_id || strlen(worker_id) > 255)
		return tasker_set_error(TASKER_EINVAL, "worker presence: worker_id must have 1 to 255 characters");
	if (ttl_seconds <= 0)
		return tasker_set_error(TASKER_EINVAL, "worker presence: ttl_seconds must be positive, got %d",
		                        ttl_seconds);
	for (size_t i = 0; handler_classes && i < count; i++)
		if (!handler_classes[i] || !*handler_classes[i])
			return tasker_set_error(TASKER_EINVAL, "worker presence: handler class %zu of worker %s is empty",
			                        i, worker_id);
	char *classes = NULL, ttl[24];
	if (handler_classes && !(classes = ttext_array(handler_classes, count)))
		return TASKER_ENOMEM;
	const char *p[] = {worker_id, classes, tdb_fmt_i64(ttl, ttl_seconds)};
	int rc = tclient_exec(NULL, client, &Q_ANNOUNCE, 3, p, "recording the worker's presence");
	free(classes);
	return rc;
}

int tasker_worker_presence_withdraw(tasker_client *client, const char *worker_id)
{
	if (!worker_id || !*worker_id)
		return tasker_set_error(TASKER_EINVAL, "worker presence: worker_id is empty");
	const char *p[] = {worker_id};
	return tclient_exec(NULL, client, &Q_WITHDRAW, 1, p, "removing the worker's presence");
}

void tasker_handler_waits_free(tasker_handler_wait *rows, size_t count)
{
	for (size_t i = 0; rows && i < count; i++)
		free((void *)rows[i].handler_class);
	free(rows);
}

int tasker_task_handler_waits(tasker_handler_wait **out, size_t *out_count, tasker_client *client, int64_t task_id)
{
	*out = NULL;
	*out_count = 0;
	char id[24];
	const char *p[] = {tdb_fmt_i64(id, task_id)};
	PGresult *res;
	int rc = tclient_exec(&res, client, &Q_WAITS, 1, p, "reading the steps waiting for a handler");
	if (rc)
		return rc;
	size_t n = (size_t)PQntuples(res);
	tasker_handler_wait *rows = n ? calloc(n, sizeof *rows) : NULL;
	if (n && !rows) {
		PQclear(res);
		return tasker_set_oom();
	}
	for (size_t i = 0; i < n; i++) {
		rows[i].workflow_step_id = tdb_get_i64(res, (int)i, WAITS_STEP_ID, 0);
		rows[i].ready_since = tdb_get_i64(res, (int)i, WAITS_READY_SINCE_US, 0);
		if (!(rows[i].handler_class = tstrdup(tdb_get(res, (int)i, WAITS_HANDLER_CLASS)))) {
			tasker_handler_waits_free(rows, n);
			PQclear(res);
			return TASKER_ENOMEM;
		}
	}
	PQclear(res);
	*out = rows;
	*out_count = n;
	return TASKER_OK;
}
