/*
 * events_internal.h — what the events*.c files share and nobody else sees: the bus's definition, a
 * collected event, the per-connection lists, the enrichment caches, and the functions between those
 * files. ci/check-layers.sh fails when a file other than core/src/events*.c includes it; everyone else
 * uses events.h, where the bus is opaque.
 */
#ifndef TASKER_CORE_EVENTS_INTERNAL_H
#define TASKER_CORE_EVENTS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

/* One collected event. */
typedef struct tevent {
	const tasker_event_info *info; /* catalog entry; NULL for a custom event */
	char *custom_name;             /* owned; custom events */
	int64_t task_id, step_id;
	int32_t named_task_id, named_step_id; /* 0 = unknown (looked up when the payload is built) */
	int names_given;               /* `fields` already names the step and task (worker events) */
	int delivered;                 /* already delivered in-process; only persisted with this transaction */
	int64_t ts;                    /* µs since the epoch */
	char *fields;                  /* extra payload members without braces; owned; NULL = none */
	char *payload;                 /* the complete payload, once built; owned */
	int64_t id;                    /* tasker_events.id once persisted */
} tevent;

typedef struct tevents_list {
	tevent *v;
	size_t n, cap;
} tevents_list;

struct tevents_conn {
	tevents_bus *bus;
	tevents_list pending;    /* the open transaction's */
	tevents_list committed;  /* committed, waiting for the release */
};

typedef struct tsub tsub;

typedef struct tsnapshot {
	atomic_int refs;
	size_t n;
	tsub *subs[];
} tsnapshot;

typedef struct task_slot {
	int64_t task_id;
	int32_t named_task_id;
	char correlation_id[65];
	char traceparent[56];
} task_slot;

typedef struct step_slot {
	int64_t step_id, task_id;
	int32_t named_step_id;
} step_slot;

#define TEVENTS_TASK_SLOTS 1024
#define TEVENTS_STEP_SLOTS 4096

struct tevents_bus {
	tevents_conns conns;         /* conns.acquire NULL: no database */
	struct treg *reg;
	tmetrics *metrics;
	pthread_mutex_t mu;          /* subscriptions: the snapshot pointer and ids */
	tsnapshot *snap;             /* current subscriptions; the bus holds one reference */
	uint64_t next_id;
	atomic_int nsubs;
	atomic_int persist;
	atomic_int async_threads;    /* asynchronous subscription threads still running */
	atomic_uint_fast64_t published, delivered, failed, dropped;
	atomic_uint_fast64_t lookups;   /* enrichment reads (caches missed) */
	pthread_mutex_t cache_mu;    /* the enrichment caches */
	task_slot *tasks;            /* TEVENTS_TASK_SLOTS, direct-mapped by task id; allocated on first use */
	step_slot *steps;            /* TEVENTS_STEP_SLOTS */
	atomic_int no_traces;        /* tasker_task_traces is missing (migration 0004 not applied) */
	pthread_mutex_t pending_mu;  /* handler events waiting for a commit to be persisted */
	tevents_list pending;
	atomic_int npending;
	pthread_mutex_t custom_mu;   /* custom event names found declared */
	char **custom;
	size_t ncustom;
};

/* The bus of a connection when it wants events of this level, else NULL. */
tevents_bus *tevents_conn_bus(tdb *db, tasker_log_level level);

tevent *tevents_list_add(tevents_list *l);
void tevents_list_clear(tevents_list *l);
void tevent_clear(tevent *e);
const char *tevent_name(const tevent *e);

/* Delivers one built event (payload set) to the subscriptions and the log. */
void tevents_dispatch(tevents_bus *bus, const tevent *e);
/* Builds the payloads of a list (enrichment through `db` when given and needed, else through a pooled
 * connection). Never fails: what cannot be looked up is left out. */
void tevents_build(tevents_bus *bus, tdb *db, tevents_list *l);
/* Inserts the events into tasker_events (and NOTIFY) on `db`, inside the caller's transaction or as
 * its own statement; fills their ids. */
int tevents_persist(tdb *db, tevents_list *l);
/* The task cache: fills *out (correlation id, traceparent) when the task is known. */
int tevents_task_cached(tevents_bus *bus, int64_t task_id, task_slot *out);
/* Handler events (delivered at once) wait to be persisted with the transaction that records their step's
 * outcome, which holds the task's lock: so their ids follow the task's order. */
void tevents_defer_persist(tevents_bus *bus, const tevent *e);
/* Appends the deferred events of `step_id` to `l`. */
void tevents_take_deferred_step(tevents_bus *bus, int64_t step_id, tevents_list *l);
/* Moves deferred events older than `max_age_us` (their step's outcome was never recorded here: a lost
 * claim, a cancelled task) in front of `l`'s events. */
void tevents_take_stale_deferred(tevents_bus *bus, int64_t max_age_us, tevents_list *l);
/* Whether `name` is a custom event declared by a registered template (asks the database once). */
int tevents_custom_declared(tevents_bus *bus, const char *name);
/* A connection from the bus's source (TASKER_ECLOSED when the bus has none), and giving it back. */
int tevents_borrow(tevents_bus *bus, tdb **out);
void tevents_give_back(tevents_bus *bus, tdb *db);

#endif
