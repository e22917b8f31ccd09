/*
 * metrics_api.c — tasker_metrics_snapshot: the client's counters (metrics.c), its event bus's counters
 * (events.c) and, on request, the gauges read from the database, as one Prometheus text. Owns no
 * counter of its own.
 */
#include <stdlib.h>

#include "client.h"
#include "error.h"
#include "events.h"
#include "metrics.h"

int tasker_metrics_snapshot(char **out_text, tasker_client *client, int include_database)
{
	*out_text = NULL;
	if (!client)
		return tasker_set_error(TASKER_EINVAL, "tasker_metrics_snapshot: client is NULL");
	tevents_bus *bus = tclient_events(client);
	tjw w;
	tjw_init(&w, NULL, 0);
	tmetrics_render(tevents_metrics(bus), &w);
	tevents_render_metrics(bus, &w);
	int rc = TASKER_OK;
	if (include_database) {
		tdb *db;
		rc = tclient_acquire(client, &db);
		if (!rc) {
			rc = tmetrics_render_database(&w, db);
			tclient_release(client, db);
		}
	}
	char *text = tjw_take(&w);
	if (!rc && !text)
		rc = tasker_set_oom();
	if (rc) {
		free(text);
		return rc;
	}
	*out_text = text;
	return TASKER_OK;
}
