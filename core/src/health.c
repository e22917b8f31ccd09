/*
 * health.c — system-wide health counts through the Rails engine's get_system_health_counts_v01.
 */
#include <stdlib.h>

#include "client.h"
#include "error.h"
#include "util.h"

static const tdb_stmt Q_HEALTH = {"health_counts", "SELECT * FROM get_system_health_counts_v01()"};

int tasker_health_counts(char **out, tasker_client *client)
{
	*out = NULL;
	PGresult *res;
	int rc = tclient_exec(&res, client, &Q_HEALTH, 0, NULL, "reading system health counts");
	if (rc)
		return rc;
	cJSON *o = cJSON_CreateObject();
	for (int c = 0; o && PQntuples(res) > 0 && c < PQnfields(res); c++)
		cJSON_AddNumberToObject(o, PQfname(res, c), (double)tdb_get_i64(res, 0, c, 0));
	PQclear(res);
	*out = o ? tjson_print(o) : NULL;
	cJSON_Delete(o);
	return *out ? TASKER_OK : tasker_set_oom();
}
