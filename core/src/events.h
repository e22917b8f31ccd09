/*
 * events.h — lifecycle events inside the engine (docs/events.md).
 *
 * Each client owns an event bus (subscriptions, enrichment caches, metrics). The engine emits events
 * while a transaction runs; they are collected on the connection (tdb) and published only after the
 * commit, once the connection is back in the pool, so subscriber code never runs while a transaction,
 * a lock or a pooled connection is held. A rolled-back transaction publishes nothing. When nothing
 * listens (no subscription, no persistence, no log handler for the event's level) an emit is one check.
 *
 * Files: events_catalog.c (the names), events.c (bus, subscriptions, delivery), events_txn.c
 * (collection, enrichment, payloads, persistence). Above the client: events_api.c (the public
 * tasker_event_* functions) and events_watch.c (other processes' events). The bus never sees the client:
 * it borrows connections through the callbacks it was created with (tevents_conns).
 */
#ifndef TASKER_CORE_EVENTS_H
#define TASKER_CORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "metrics.h"
#include "tasker.h"

struct treg;
struct treg_entry;
struct tevents_list;

/* Opaque: only the events*.c files see its definition (events_internal.h). */
typedef struct tevents_bus tevents_bus;

/* ------------------------------------------------------------------ the bus (client.c) */

/* Where the bus borrows a connection when it must read (enrichment, declared custom events) or write
 * (persisting a directly published event) outside the engine's transactions: the client's pool. The
 * bus never sees the client itself. */
typedef struct tevents_conns {
	int (*acquire)(void *source, tdb **out);
	void (*release)(void *source, tdb *db);
	void *source;
} tevents_conns;

/* `conns` is copied; NULL: the bus has no database (the unit tests). */
int tevents_bus_new(tevents_bus **out, const tevents_conns *conns, struct treg *reg);
/* Stops async subscribers (their queued events are dropped) and frees everything. NULL is fine. */
void tevents_bus_free(tevents_bus *bus);
tmetrics *tevents_metrics(tevents_bus *bus);
/* Appends the bus's counters (published, delivered, failed, dropped, queued, lookups) as Prometheus text. */
void tevents_render_metrics(tevents_bus *bus, tjw *w);
/* Turns persistence into tasker_events on or off; on, it first checks the table exists (TASKER_ENOTFOUND
 * naming the migration otherwise). */
int tevents_set_persist(tevents_bus *bus, int enabled);

/* ------------------------------------------------------------------ the connection layer (client.c) */

/* Binds a pooled connection to its client's bus (once, when the pool opens it): registers the commit
 * and rollback hooks (tdb_add_hooks) that collect, persist and drop the transaction's events. */
void tevents_attach(tdb *db, tevents_bus *bus);
/* On release, before the connection goes back to the pool: takes the committed events (enriching them
 * on this connection when needed). NULL when there are none (the common case, no allocation). */
struct tevents_list *tevents_take_committed(tdb *db);
/* After the connection is back in the pool: delivers and frees the list. NULL is fine. */
void tevents_deliver(tevents_bus *bus, struct tevents_list *list);

/* ------------------------------------------------------------------ emits (the engine) */

/* Every emit is a no-op unless the event is wanted; all copy what they need. */
/* A task's or a step's state changed (metadata_json: the transition's metadata object, or NULL). */
void tevents_task_transition(tdb *db, int64_t task_id, tasker_state from, tasker_state to,
                             const char *metadata_json);
void tevents_step_transition(tdb *db, int64_t step_id, tasker_state from, tasker_state to,
                             const char *metadata_json);
/* workflow.task_started (a claim moved the task pending → in_progress). */
void tevents_task_started(tdb *db, int64_t task_id);
/* workflow.viable_steps_discovered per task for the steps claimable now (delay_ms[i] <= 0) of the n
 * queued: step_ids[i] of task_ids[i]. */
void tevents_steps_enqueued(tdb *db, const int64_t *step_ids, const int64_t *task_ids, const int64_t *delay_ms,
                            size_t n);
void tevents_step_backoff(tdb *db, int64_t task_id, int64_t step_id, int attempt, int backoff_seconds);
void tevents_step_exhausted(tdb *db, int64_t task_id, int64_t step_id, int attempt, int retry_limit);
void tevents_task_finalizing(tdb *db, int64_t task_id);
void tevents_task_finalized(tdb *db, const int64_t *task_ids, size_t n, tasker_state final_state,
                            const char *reason, const char *step_name);

/* A task just created (inside its transaction). */
typedef struct tevents_creation {
	int64_t task_id;
	const struct treg_entry *entry;
	const char *identity_hash, *traceparent, *initiator, *source_system, *reason;
	const int64_t *step_ids; /* per template step */
	const int *bypassed;     /* per template step: resolved at creation */
} tevents_creation;
/* Emits task.start_requested and the bypass events, and remembers the task's traceparent for its later
 * events (the creation statement stores it in tasker_task_traces). */
int tevents_task_created(tdb *db, const tevents_creation *c);
/* TASKER_EINVAL naming `traceparent` unless NULL or a valid W3C traceparent. */
int tevents_check_traceparent(const char *traceparent);

/* The worker around a handler run: step.before_handle / step.handle, and the handler metrics. */
int64_t tevents_handler_begin(tevents_bus *bus, const tasker_claimed_step *step, const char *worker_id);
void tevents_handler_end(tevents_bus *bus, const tasker_claimed_step *step, const char *worker_id,
                         int64_t started_us, int rc, const tasker_step_error *error);
/* Monotonic microseconds. */
int64_t tevents_clock(void);

/* 1 when an event of this level has a reader: a subscription, persistence or a log handler. */
int tevents_wanted(tevents_bus *bus, tasker_log_level level);

/* Pattern matching: `*` matches any run of characters (dots included); everything else is literal. */
int tevents_pattern_valid(const char *pattern);
int tevents_pattern_match(const char *pattern, const char *name);

/* Internal subscribe (the unit tests use it without a client). */
int tevents_subscribe(uint64_t *out_id, tevents_bus *bus, const char *pattern, tasker_event_fn fn, void *payload,
                      const tasker_event_subscribe_options *opts);
int tevents_unsubscribe(tevents_bus *bus, uint64_t id);
int tevents_flush(tevents_bus *bus, int timeout_ms);
int tevents_stats(tasker_event_stats *out, tevents_bus *bus, uint64_t id);
/* Publishes a catalog or custom event whose payload is JSON object text (a "timestamp" is added when
 * it has none). The path of tasker_event_publish. */
int tevents_publish_text(tevents_bus *bus, const tasker_event_info *info, const char *custom_name,
                         const char *payload_json);
/* tasker_event_publish: an event of the catalog (TASKER_EINVAL naming any other name). */
int tevents_publish(tevents_bus *bus, const char *name, const char *payload_json);
/* tasker_event_publish_custom: a valid name, not of the catalog, declared by a registered template. */
int tevents_publish_custom(tevents_bus *bus, const char *name, const char *payload_json);

#endif
