/*
 * deprecated.c — the public names of release 0.1, each a thin alias of the name that replaced it (see
 * the "deprecated names" section of tasker.h). Nothing here may hold a rule of its own: an alias only
 * reorders arguments and calls its replacement. The file goes away with the aliases.
 */
#include "tasker.h"

int tasker_db_migrate(tasker_client *client, int *out_applied)
{
	return tasker_db_apply_migrations(out_applied, client);
}

int tasker_recover_expired_claims(tasker_client *client, int *out_recovered)
{
	return tasker_step_recover_expired(out_recovered, client);
}

size_t tasker_events_catalog(const tasker_event_info **out)
{
	return tasker_event_catalog(out);
}

int tasker_events_subscribe(uint64_t *out_id, tasker_client *client, const char *pattern, tasker_event_fn fn,
                            void *payload, const tasker_event_subscribe_options *opts)
{
	return tasker_event_subscribe(out_id, client, pattern, fn, payload, opts);
}

int tasker_events_unsubscribe(tasker_client *client, uint64_t subscription_id)
{
	return tasker_event_unsubscribe(client, subscription_id);
}

int tasker_events_flush(tasker_client *client, int timeout_ms)
{
	return tasker_event_flush(client, timeout_ms);
}

int tasker_events_stats(tasker_event_stats *out, tasker_client *client, uint64_t subscription_id)
{
	return tasker_event_stats_get(out, client, subscription_id);
}

int tasker_events_publish(tasker_client *client, const char *name, const char *payload_json)
{
	return tasker_event_publish(client, name, payload_json);
}

int tasker_events_set_persist(tasker_client *client, int enabled)
{
	return tasker_event_set_persist(client, enabled);
}
