/*
 * events_api.c — the public events API (tasker_event_*) on a client: finds the client's event bus and
 * hands the call to it (events.c, events_txn.c). Owns no rule of its own; it is the one events file
 * that sees the client, so the bus below it never does.
 */
#include "client.h"
#include "error.h"
#include "events.h"

/* The client's bus, or NULL with TASKER_EINVAL set naming the call. */
static tevents_bus *bus_of(tasker_client *client, const char *call)
{
	if (!client) {
		tasker_set_error(TASKER_EINVAL, "events %s: client is NULL", call);
		return NULL;
	}
	return tclient_events(client);
}

int tasker_event_subscribe(uint64_t *out_id, tasker_client *client, const char *pattern, tasker_event_fn fn,
                           void *payload, const tasker_event_subscribe_options *opts)
{
	tevents_bus *bus = bus_of(client, "subscribe");
	return bus ? tevents_subscribe(out_id, bus, pattern, fn, payload, opts) : TASKER_EINVAL;
}

int tasker_event_unsubscribe(tasker_client *client, uint64_t id)
{
	tevents_bus *bus = bus_of(client, "unsubscribe");
	return bus ? tevents_unsubscribe(bus, id) : TASKER_EINVAL;
}

int tasker_event_flush(tasker_client *client, int timeout_ms)
{
	tevents_bus *bus = bus_of(client, "flush");
	return bus ? tevents_flush(bus, timeout_ms) : TASKER_EINVAL;
}

int tasker_event_stats_get(tasker_event_stats *out, tasker_client *client, uint64_t subscription_id)
{
	tevents_bus *bus = bus_of(client, "stats");
	return bus ? tevents_stats(out, bus, subscription_id) : TASKER_EINVAL;
}

int tasker_event_publish(tasker_client *client, const char *name, const char *payload_json)
{
	tevents_bus *bus = bus_of(client, "publish");
	return bus ? tevents_publish(bus, name, payload_json) : TASKER_EINVAL;
}

int tasker_event_publish_custom(tasker_client *client, const char *name, const char *payload_json)
{
	tevents_bus *bus = bus_of(client, "publish");
	return bus ? tevents_publish_custom(bus, name, payload_json) : TASKER_EINVAL;
}

int tasker_event_set_persist(tasker_client *client, int enabled)
{
	tevents_bus *bus = bus_of(client, "persist");
	return bus ? tevents_set_persist(bus, enabled) : TASKER_EINVAL;
}
