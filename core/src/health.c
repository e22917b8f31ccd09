/*
 * health.c — system-wide health counts through the Rails engine's get_system_health_counts_v01, and
 * the ready steps that wait for a handler no running worker has (worker presence, presence.c).
 */
#include <stdlib.h>

#include "client.h"
#include "error.h"
#include "util.h"

static const tdb_stmt Q_HEALTH = {"health_counts", "SELECT * FROM get_system_health_counts_v01()"};
static const tdb_stmt Q_WAITING = {
	"health_waiting_for_handler",
	"SELECT count(*) FROM tasker_ready_steps r WHERE r.ready_at <= " NOW_UTC " AND NOT EXISTS ("
	"SELECT 1 FROM tasker_worker_presence p WHERE p.expires_at > " NOW_UTC " "
	"AND (p.handler_classes IS NULL OR r.handler_class = ANY(p.handler_classes)))"};
enum { WAITING_COUNT };

int tasker_health_counts(char **out, tasker_client *client)
{
	*out = NULL;
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	/* every task, step and queue row: sequential scans are the plans for these */
	const tdb_call calls[] = {{&Q_HEALTH, 0, NULL}, {&Q_WAITING, 0, NULL}};
	PGresult *out_res[2];
	rc = tdb_exec_pipeline_scans(out_res, db, calls, 2, "reading system health counts");
	tclient_release(client, db);
	if (rc)
		return rc;
	PGresult *res = out_res[0], *waiting = out_res[1];
	cJSON *o = cJSON_CreateObject();
	for (int c = 0; o && PQntuples(res) > 0 && c < PQnfields(res); c++)
		cJSON_AddNumberToObject(o, PQfname(res, c), (double)tdb_get_i64(res, 0, c, 0));
	if (o)
		cJSON_AddNumberToObject(o, "steps_waiting_for_handler", (double)tdb_get_i64(waiting, 0, WAITING_COUNT, 0));
	PQclear(res);
	PQclear(waiting);
	*out = o ? tjson_print(o) : NULL;
	cJSON_Delete(o);
	return *out ? TASKER_OK : tasker_set_oom();
}
