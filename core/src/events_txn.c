/*
 * events_txn.c — events on their way out of the engine: collected on the connection while a
 * transaction runs (the emits), enriched with what the emitting code did not have at hand (task and
 * step names, correlation id, traceparent: caches first, then one read per transaction), turned into
 * payload JSON, persisted in the same transaction when persistence is on, and handed to events.c after
 * the commit. Also the worker's handler events. Decides nothing about the lifecycle itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "events_internal.h"
#include "jsonw.h"
#include "logging.h"
#include "registry.h"
#include "util.h"

static const tdb_stmt Q_ENRICH = {
	"events_enrich",
	"WITH s AS (SELECT workflow_step_id, task_id, named_step_id FROM tasker_workflow_steps "
	"WHERE workflow_step_id = ANY($1::bigint[])) "
	"SELECT 's', s.workflow_step_id, s.task_id, s.named_step_id, NULL, NULL FROM s UNION ALL "
	"SELECT 't', t.task_id, t.task_id, t.named_task_id, t.identity_hash, tr.traceparent FROM tasker_tasks t "
	"LEFT JOIN tasker_task_traces tr ON tr.task_id = t.task_id "
	"WHERE t.task_id = ANY($2::bigint[]) OR t.task_id IN (SELECT task_id FROM s)"};
/* The same on a database without migration 0004. */
static const tdb_stmt Q_ENRICH_NO_TRACES = {
	"events_enrich_no_traces",
	"WITH s AS (SELECT workflow_step_id, task_id, named_step_id FROM tasker_workflow_steps "
	"WHERE workflow_step_id = ANY($1::bigint[])) "
	"SELECT 's', s.workflow_step_id, s.task_id, s.named_step_id, NULL, NULL FROM s UNION ALL "
	"SELECT 't', t.task_id, t.task_id, t.named_task_id, t.identity_hash, NULL FROM tasker_tasks t "
	"WHERE t.task_id = ANY($2::bigint[]) OR t.task_id IN (SELECT task_id FROM s)"};
/* The columns of both: a step row ('s': its id, task, named step) or a task row ('t': its id twice, named
 * task, identity hash, traceparent). */
enum { ENRICH_KIND, ENRICH_ID, ENRICH_TASK_ID, ENRICH_NAMED_ID, ENRICH_IDENTITY_HASH, ENRICH_TRACEPARENT };
static const tdb_stmt Q_PERSIST = {
	"events_persist",
	"WITH ins AS (INSERT INTO tasker_events (name, task_id, step_id, payload, created_at) "
	"SELECT u.n, NULLIF(u.t, 0), NULLIF(u.s, 0), u.p::jsonb, timestamp 'epoch' + u.us * interval '1 microsecond' "
	"FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[]) WITH ORDINALITY "
	"AS u(n, t, s, p, us, o) ORDER BY u.o RETURNING id) "
	"SELECT array_agg(id ORDER BY id)::text, pg_notify('" TASKER_EVENTS_CHANNEL "', max(id)::text) FROM ins"};
enum { PERSIST_IDS, PERSIST_NOTIFIED };
static const tdb_stmt Q_CUSTOM_DECLARED = {
	"events_custom_declared",
	"SELECT EXISTS (SELECT 1 FROM tasker_named_tasks nt WHERE jsonb_typeof(nt.configuration) = 'object' AND "
	"(nt.configuration->'custom_events' @> jsonb_build_array(jsonb_build_object('name', $1::text)) OR EXISTS "
	"(SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(nt.configuration->'step_templates') = 'array' "
	"THEN nt.configuration->'step_templates' ELSE '[]'::jsonb END) st "
	"WHERE st->'custom_events' @> jsonb_build_array(jsonb_build_object('name', $1::text)))))"};
enum { CUSTOM_DECLARED_FOUND };
static const tdb_stmt Q_HAS_TABLE = {"events_has_table", "SELECT to_regclass('tasker_events') IS NOT NULL"};
enum { HAS_TABLE_FOUND };

/* ------------------------------------------------------------------ lists */

tevent *tevents_list_add(tevents_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		tevent *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	tevent *e = &l->v[l->n++];
	memset(e, 0, sizeof *e);
	return e;
}

void tevent_clear(tevent *e)
{
	free(e->custom_name);
	free(e->fields);
	free(e->payload);
	memset(e, 0, sizeof *e);
}

void tevents_list_clear(tevents_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		tevent_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

const char *tevent_name(const tevent *e)
{
	return e->info ? e->info->name : e->custom_name ? e->custom_name : "";
}

/* Appends `src`'s events to `dst` (moving them) and empties `src`. */
static void list_move(tevents_list *dst, tevents_list *src)
{
	if (!dst->n) {
		free(dst->v);
		*dst = *src;
		memset(src, 0, sizeof *src);
		return;
	}
	for (size_t i = 0; i < src->n; i++) {
		tevent *e = tevents_list_add(dst);
		if (e)
			*e = src->v[i];
		else
			tevent_clear(&src->v[i]);
	}
	free(src->v);
	memset(src, 0, sizeof *src);
}

/* ------------------------------------------------------------------ connections */

/* A connection's events live in the data of the hooks this file registers on it (tevents_attach). */
static const tdb_hooks HOOKS;
static struct tevents_conn *conn_of(tdb *db) { return tdb_hook_data(db, &HOOKS); }

static void conn_free(void *data)
{
	struct tevents_conn *c = data;
	tevents_list_clear(&c->pending);
	tevents_list_clear(&c->committed);
	free(c);
}

static int before_commit(tdb *db, void *data);
static void after_commit(tdb *db, int rc, void *data);
static void discard(tdb *db, void *data);

/* before_commit persists events, when enabled: only then does it have work before the COMMIT. */
static int before_commit_idle(tdb *db, void *data)
{
	(void)db;
	return !atomic_load_explicit(&((struct tevents_conn *)data)->bus->persist, memory_order_relaxed);
}

static const tdb_hooks HOOKS = {before_commit, after_commit, discard, conn_free, NULL, before_commit_idle};

void tevents_attach(tdb *db, tevents_bus *bus)
{
	struct tevents_conn *c = conn_of(db);
	if (!c) {
		if (!(c = calloc(1, sizeof *c)))
			return; /* without it this connection's events are not collected */
		if (tdb_add_hooks(db, &HOOKS, c)) {
			free(c);
			return;
		}
	}
	c->bus = bus;
}

tevents_bus *tevents_conn_bus(tdb *db, tasker_log_level level)
{
	struct tevents_conn *c = conn_of(db);
	return c && tevents_wanted(c->bus, level) ? c->bus : NULL;
}

/* Handler events whose step's outcome this client never recorded are persisted after this long. */
#define STALE_DEFERRED_US (10 * 1000000LL)

/* Before COMMIT: enriches and persists (when enabled) the transaction's events. A failure fails the commit. */
static int before_commit(tdb *db, void *data)
{
	struct tevents_conn *c = data;
	if (!atomic_load_explicit(&c->bus->persist, memory_order_relaxed))
		return TASKER_OK;
	tevents_take_stale_deferred(c->bus, STALE_DEFERRED_US, &c->pending);
	if (!c->pending.n)
		return TASKER_OK;
	tevents_build(c->bus, db, &c->pending);
	return tevents_persist(db, &c->pending);
}

/* After COMMIT: on success the events wait for the connection's release; on failure they are dropped. */
static void after_commit(tdb *db, int rc, void *data)
{
	(void)db;
	struct tevents_conn *c = data;
	if (!c->pending.n)
		return;
	if (rc)
		tevents_list_clear(&c->pending);
	else
		list_move(&c->committed, &c->pending);
}

/* On ROLLBACK: the open transaction's events are dropped. */
static void discard(tdb *db, void *data)
{
	(void)db;
	struct tevents_conn *c = data;
	if (c->pending.n)
		tevents_list_clear(&c->pending);
}

tevents_list *tevents_take_committed(tdb *db)
{
	struct tevents_conn *c = conn_of(db);
	if (!c || !c->committed.n)
		return NULL;
	tevents_list *l = malloc(sizeof *l);
	if (!l) {
		tevents_list_clear(&c->committed);
		return NULL;
	}
	*l = c->committed;
	memset(&c->committed, 0, sizeof c->committed);
	tevents_build(c->bus, db, l);
	return l;
}

/* ------------------------------------------------------------------ emits */

/* A new event in the connection's open transaction, or NULL when nothing reads it. */
static tevent *emit(tdb *db, const char *name, int64_t task_id, int64_t step_id)
{
	struct tevents_conn *c = conn_of(db);
	if (!c || !tevents_wanted(c->bus, TASKER_LOG_ERROR)) /* the cheapest test first: anyone at all? */
		return NULL;
	const tasker_event_info *info = tasker_event_lookup(name);
	if (!info || !tevents_wanted(c->bus, (tasker_log_level)info->level))
		return NULL;
	tevent *e = tevents_list_add(&c->pending);
	if (!e)
		return NULL;
	e->info = info;
	e->task_id = task_id;
	e->step_id = step_id;
	e->ts = ttime_now();
	return e;
}

static void set_fields(tevent *e, tjw *w)
{
	if (e)
		e->fields = tjw_take(w);
	else
		tjw_free(w);
}

static const char *const reserved[] = {"task_id",     "step_id",        "step_name",   "task_name",
                                       "namespace",   "version",        "correlation_id", "traceparent",
                                       "from_state",  "to_state",       "timestamp",   NULL};

/* Appends a metadata member unless the payload owns its name; notes "bypassed": true. */
typedef struct {
	tjw *w;
	int bypassed;
} member_ctx;

static int add_member(const char *key, size_t klen, const char *value, size_t vlen, void *arg)
{
	member_ctx *m = arg;
	for (size_t i = 0; reserved[i]; i++)
		if (klen == strlen(reserved[i]) + 2 && memcmp(key + 1, reserved[i], klen - 2) == 0)
			return 0;
	if (m->w->comma)
		tjw_raw(m->w, ",", 1);
	tjw_raw(m->w, key, klen);
	tjw_raw(m->w, ":", 1);
	tjw_raw(m->w, value, vlen);
	m->w->comma = 1;
	if (klen == 10 && memcmp(key, "\"bypassed\"", 10) == 0 && vlen == 4 && memcmp(value, "true", 4) == 0)
		m->bypassed = 1;
	return 0;
}

/* from_state, to_state, then the transition metadata's members (except names the payload owns). Returns
 * 1 when the metadata says the step was bypassed. */
static int transition_fields(tjw *w, tasker_state from, tasker_state to, const char *metadata_json)
{
	tjw_kstr(w, "from_state", tasker_state_name(from));
	tjw_kstr(w, "to_state", tasker_state_name(to));
	member_ctx m = {w, 0};
	if (metadata_json)
		tjson_each_member(metadata_json, add_member, &m);
	return m.bypassed;
}

/* The events of one transition: <kind>.before_transition, the state machine's event, and
 * observability.step.skip for a bypassed step. Returns the main event (to add ids to). */
static tevent *emit_transition(tdb *db, int64_t task_id, int64_t step_id, tasker_state from, tasker_state to,
                               const char *metadata_json)
{
	const char *name = task_id ? tasker_task_transition_event(from, to) : tasker_step_transition_event(from, to);
	if (!name)
		return NULL;
	struct tevents_conn *c = conn_of(db);
	if (step_id && from == TASKER_STATE_IN_PROGRESS && atomic_load_explicit(&c->bus->persist, memory_order_relaxed))
		tevents_take_deferred_step(c->bus, step_id, &c->pending); /* the handler's events come first */
	tjw w;
	tevent *b = emit(db, task_id ? "task.before_transition" : "step.before_transition", task_id, step_id);
	if (b) {
		tjw_init(&w, NULL, 0);
		transition_fields(&w, from, to, NULL);
		set_fields(b, &w);
	}
	tevent *e = emit(db, name, task_id, step_id);
	int bypassed = 0;
	if (e) {
		tjw_init(&w, NULL, 0);
		bypassed = transition_fields(&w, from, to, metadata_json);
		set_fields(e, &w);
	} else if (step_id && to == TASKER_STATE_RESOLVED_MANUALLY && metadata_json) {
		bypassed = strstr(metadata_json, "\"bypassed\"") != NULL;
	}
	if (bypassed && step_id)
		emit(db, "observability.step.skip", 0, step_id);
	return e;
}

void tevents_task_transition(tdb *db, int64_t task_id, tasker_state from, tasker_state to, const char *metadata_json)
{
	if (tevents_conn_bus(db, TASKER_LOG_ERROR))
		emit_transition(db, task_id, 0, from, to, metadata_json);
}

void tevents_step_transition(tdb *db, int64_t step_id, tasker_state from, tasker_state to, const char *metadata_json)
{
	if (tevents_conn_bus(db, TASKER_LOG_ERROR))
		emit_transition(db, 0, step_id, from, to, metadata_json);
}

void tevents_task_started(tdb *db, int64_t task_id) { emit(db, "workflow.task_started", task_id, 0); }

void tevents_steps_enqueued(tdb *db, const int64_t *step_ids, const int64_t *task_ids, const int64_t *delay_ms,
                            size_t n)
{
	if (!n || !tevents_conn_bus(db, TASKER_LOG_ERROR))
		return;
	for (size_t i = 0; i < n; i++) {
		if (delay_ms[i] > 0)
			continue;
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = task_ids[j] == task_ids[i] && delay_ms[j] <= 0;
		if (seen)
			continue;
		tevent *e = emit(db, "workflow.viable_steps_discovered", task_ids[i], 0);
		if (!e)
			return;
		tjw w;
		tjw_init(&w, NULL, 0);
		tjw_key(&w, "step_ids");
		tjw_raw(&w, "[", 1);
		int64_t count = 0;
		for (size_t j = i; j < n; j++) {
			if (task_ids[j] != task_ids[i] || delay_ms[j] > 0)
				continue;
			if (count++)
				tjw_raw(&w, ",", 1);
			tjw_i64(&w, step_ids[j]);
		}
		tjw_raw(&w, "]", 1);
		tjw_ki64(&w, "step_count", count);
		set_fields(e, &w);
	}
}

void tevents_step_backoff(tdb *db, int64_t task_id, int64_t step_id, int attempt, int backoff_seconds)
{
	tevent *e = emit(db, "observability.step.backoff", task_id, step_id);
	if (!e)
		return;
	tjw w;
	tjw_init(&w, NULL, 0);
	tjw_ki64(&w, "attempt", attempt);
	tjw_ki64(&w, "backoff_seconds", backoff_seconds);
	tjw_key(&w, "retry_at");
	tjw_time(&w, e->ts + (int64_t)backoff_seconds * 1000000);
	set_fields(e, &w);
}

void tevents_step_exhausted(tdb *db, int64_t task_id, int64_t step_id, int attempt, int retry_limit)
{
	tevent *e = emit(db, "observability.step.max_retries_reached", task_id, step_id);
	if (!e)
		return;
	tjw w;
	tjw_init(&w, NULL, 0);
	tjw_ki64(&w, "attempt", attempt);
	tjw_ki64(&w, "retry_limit", retry_limit);
	set_fields(e, &w);
}

void tevents_task_finalizing(tdb *db, int64_t task_id) { emit(db, "workflow.task_finalization_started", task_id, 0); }

void tevents_task_finalized(tdb *db, const int64_t *task_ids, size_t n, tasker_state final_state,
                            const char *reason, const char *step_name)
{
	if (!tevents_conn_bus(db, TASKER_LOG_ERROR))
		return;
	int ok = final_state == TASKER_STATE_COMPLETE;
	for (size_t i = 0; i < n; i++) {
		tevent *e = emit(db, ok ? "workflow.task_completed" : "workflow.task_failed", task_ids[i], 0);
		tjw w;
		if (e) {
			tjw_init(&w, NULL, 0);
			tjw_kstr(&w, "final_state", tasker_state_name(final_state));
			if (!ok && reason)
				tjw_kstr(&w, "reason", reason);
			if (!ok && step_name)
				tjw_kstr(&w, "step_name", step_name);
			set_fields(e, &w);
		}
		if ((e = emit(db, "workflow.task_finalization_completed", task_ids[i], 0))) {
			tjw_init(&w, NULL, 0);
			tjw_kstr(&w, "final_state", tasker_state_name(final_state));
			set_fields(e, &w);
		}
	}
}

/* ------------------------------------------------------------------ caches */

static int ensure_caches(tevents_bus *bus)
{
	if (!bus->tasks)
		bus->tasks = calloc(TEVENTS_TASK_SLOTS, sizeof *bus->tasks);
	if (!bus->steps)
		bus->steps = calloc(TEVENTS_STEP_SLOTS, sizeof *bus->steps);
	return bus->tasks && bus->steps;
}

static void correlation_of(char out[65], const char *identity, const char *traceparent)
{
	if (traceparent && strlen(traceparent) >= 35)
		snprintf(out, 65, "%.32s", traceparent + 3); /* the trace-id */
	else
		snprintf(out, 65, "%s", identity ? identity : "");
}

static void cache_task(tevents_bus *bus, int64_t task_id, int32_t named_task_id, const char *identity,
                       const char *traceparent)
{
	pthread_mutex_lock(&bus->cache_mu);
	if (ensure_caches(bus)) {
		task_slot *s = &bus->tasks[(uint64_t)task_id % TEVENTS_TASK_SLOTS];
		s->task_id = task_id;
		s->named_task_id = named_task_id;
		correlation_of(s->correlation_id, identity, traceparent);
		snprintf(s->traceparent, sizeof s->traceparent, "%s", traceparent ? traceparent : "");
	}
	pthread_mutex_unlock(&bus->cache_mu);
}

static void cache_step(tevents_bus *bus, int64_t step_id, int64_t task_id, int32_t named_step_id)
{
	pthread_mutex_lock(&bus->cache_mu);
	if (ensure_caches(bus))
		bus->steps[(uint64_t)step_id % TEVENTS_STEP_SLOTS] = (step_slot){step_id, task_id, named_step_id};
	pthread_mutex_unlock(&bus->cache_mu);
}

int tevents_task_cached(tevents_bus *bus, int64_t task_id, task_slot *out)
{
	int hit = 0;
	pthread_mutex_lock(&bus->cache_mu);
	if (bus->tasks && task_id) {
		task_slot *s = &bus->tasks[(uint64_t)task_id % TEVENTS_TASK_SLOTS];
		if ((hit = s->task_id == task_id))
			*out = *s;
	}
	pthread_mutex_unlock(&bus->cache_mu);
	return hit;
}

static int step_cached(tevents_bus *bus, int64_t step_id, step_slot *out)
{
	int hit = 0;
	pthread_mutex_lock(&bus->cache_mu);
	if (bus->steps && step_id) {
		step_slot *s = &bus->steps[(uint64_t)step_id % TEVENTS_STEP_SLOTS];
		if ((hit = s->step_id == step_id))
			*out = *s;
	}
	pthread_mutex_unlock(&bus->cache_mu);
	return hit;
}

/* ------------------------------------------------------------------ building payloads */

/* A connection for lookups: the caller's, or one borrowed from the pool when first needed. */
typedef struct {
	tevents_bus *bus;
	tdb *db;
	int borrowed, failed;
} lookup_db;

static tdb *lookup_conn(lookup_db *h)
{
	if (!h->db && !h->failed && h->bus->conns.acquire) {
		if (tevents_borrow(h->bus, &h->db) == TASKER_OK)
			h->borrowed = 1;
		else
			h->failed = 1;
	}
	return h->db;
}

static void lookup_done(lookup_db *h)
{
	if (h->borrowed)
		tevents_give_back(h->bus, h->db);
}

static void add_unique(int64_t *ids, size_t *n, int64_t id)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return;
	ids[(*n)++] = id;
}


/* Keeps the caller's error: a failed lookup must not replace what the engine call reports. */
typedef struct {
	int code;
	char message[512];
} saved_error;

static void save_error(saved_error *s)
{
	const tasker_error *e = tasker_error_last();
	s->code = e->code;
	snprintf(s->message, sizeof s->message, "%s", e->message);
}

static void restore_error(const saved_error *s)
{
	if (s->code)
		tasker_set_error(s->code, "%s", s->message);
	else
		tasker_error_clear();
}

/* One read for every step and task the caches do not know; fills the caches. */
static void enrich(tevents_bus *bus, lookup_db *h, const int64_t *steps, size_t nsteps, const int64_t *tasks,
                   size_t ntasks)
{
	tdb *db = lookup_conn(h);
	if (!db)
		return;
	atomic_fetch_add_explicit(&bus->lookups, 1, memory_order_relaxed);
	char *sa = tid_array(steps, nsteps), *ta = tid_array(tasks, ntasks);
	const char *p[] = {sa, ta};
	PGresult *res = NULL;
	saved_error saved;
	save_error(&saved);
	int rc = sa && ta ? TASKER_OK : TASKER_ENOMEM;
	int no_traces = atomic_load(&bus->no_traces);
	if (!rc)
		rc = tdb_exec(&res, db, no_traces ? &Q_ENRICH_NO_TRACES : &Q_ENRICH, 2, p, "looking up event details");
	if (rc && !no_traces && strcmp(tasker_error_last()->sqlstate, "42P01") == 0 && !tdb_in_transaction(db)) {
		atomic_store(&bus->no_traces, 1); /* migration 0004 is not applied: no traceparents to read */
		rc = tdb_exec(&res, db, &Q_ENRICH_NO_TRACES, 2, p, "looking up event details");
	}
	restore_error(&saved);
	free(sa);
	free(ta);
	for (int r = 0; !rc && r < PQntuples(res); r++) {
		const char *kind = tdb_get(res, r, ENRICH_KIND);
		int64_t id = tdb_get_i64(res, r, ENRICH_ID, 0);
		int32_t named_id = (int32_t)tdb_get_i64(res, r, ENRICH_NAMED_ID, 0);
		if (kind && kind[0] == 's')
			cache_step(bus, id, tdb_get_i64(res, r, ENRICH_TASK_ID, 0), named_id);
		else
			cache_task(bus, id, named_id, tdb_get(res, r, ENRICH_IDENTITY_HASH), tdb_get(res, r, ENRICH_TRACEPARENT));
	}
	PQclear(res);
}

/* Fills task_id / named_step_id of step events from the step cache; returns 0 when a step is unknown. */
static int resolve_step(tevents_bus *bus, tevent *e)
{
	if (!e->step_id || e->names_given || (e->task_id && e->named_step_id))
		return 1;
	step_slot s;
	if (!step_cached(bus, e->step_id, &s))
		return 0;
	if (!e->task_id)
		e->task_id = s.task_id;
	e->named_step_id = s.named_step_id;
	return 1;
}

static void build_one(tevent *e, const treg_entry *entry, const task_slot *ts)
{
	char stack[1024];
	tjw w;
	tjw_init(&w, stack, sizeof stack);
	tjw_open(&w);
	if (e->task_id)
		tjw_ki64(&w, "task_id", e->task_id);
	if (e->step_id)
		tjw_ki64(&w, "step_id", e->step_id);
	if (entry && !e->names_given) {
		int idx = e->step_id ? treg_step_index(entry, e->named_step_id) : -1;
		if (idx >= 0)
			tjw_kstr(&w, "step_name", entry->tpl->steps[idx].name);
		tjw_kstr(&w, "task_name", entry->tpl->name);
		tjw_kstr(&w, "namespace", entry->tpl->namespace_name);
		tjw_kstr(&w, "version", entry->tpl->version);
	}
	if (ts) {
		tjw_kstr(&w, "correlation_id", ts->correlation_id);
		if (ts->traceparent[0])
			tjw_kstr(&w, "traceparent", ts->traceparent);
	}
	if (e->fields && *e->fields) {
		if (w.comma)
			tjw_raw(&w, ",", 1);
		tjw_puts(&w, e->fields);
		w.comma = 1;
	}
	tjw_key(&w, "timestamp");
	tjw_time(&w, e->ts);
	tjw_close(&w);
	e->payload = tjw_take(&w);
}

void tevents_build(tevents_bus *bus, tdb *db, tevents_list *l)
{
	size_t todo = 0;
	for (size_t i = 0; i < l->n; i++)
		todo += !l->v[i].payload;
	if (!todo)
		return;
	lookup_db h = {bus, db, 0, 0};
	int64_t *steps = calloc(todo, sizeof *steps), *tasks = calloc(todo, sizeof *tasks);
	size_t nsteps = 0, ntasks = 0;
	task_slot ts;
	for (size_t i = 0; steps && tasks && i < l->n; i++) {
		tevent *e = &l->v[i];
		if (e->payload)
			continue;
		if (!resolve_step(bus, e))
			add_unique(steps, &nsteps, e->step_id);
		else if (e->task_id && !tevents_task_cached(bus, e->task_id, &ts))
			add_unique(tasks, &ntasks, e->task_id);
	}
	if (nsteps || ntasks)
		enrich(bus, &h, steps, nsteps, tasks, ntasks);
	free(steps);
	free(tasks);
	const treg_entry *entry = NULL;
	for (size_t i = 0; i < l->n; i++) {
		tevent *e = &l->v[i];
		if (e->payload)
			continue;
		resolve_step(bus, e);
		int have_task = e->task_id && tevents_task_cached(bus, e->task_id, &ts);
		if (have_task && !e->named_task_id)
			e->named_task_id = ts.named_task_id;
		if (e->named_task_id && !e->names_given && (!entry || entry->named_task_id != e->named_task_id)) {
			tdb *conn = lookup_conn(&h);
			saved_error saved;
			save_error(&saved);
			if (!conn || treg_lookup_id(&entry, bus->reg, conn, e->named_task_id) != TASKER_OK)
				entry = NULL;
			restore_error(&saved);
		}
		build_one(e, e->named_task_id && !e->names_given ? entry : NULL, have_task ? &ts : NULL);
	}
	lookup_done(&h);
}

/* ------------------------------------------------------------------ persistence */

int tevents_persist(tdb *db, tevents_list *l)
{
	if (!l->n)
		return TASKER_OK;
	tbuf n, t, s, p, us;
	tbuf *all[] = {&n, &t, &s, &p, &us};
	for (int k = 0; k < 5; k++) {
		tbuf_init(all[k]);
		tbuf_puts(all[k], "{");
	}
	for (size_t i = 0; i < l->n; i++) {
		const tevent *e = &l->v[i];
		const char *sep = i ? "," : "";
		tbuf_puts(&n, sep);
		tbuf_array_elem(&n, tevent_name(e));
		tbuf_printf(&t, "%s%lld", sep, (long long)e->task_id);
		tbuf_printf(&s, "%s%lld", sep, (long long)e->step_id);
		tbuf_puts(&p, sep);
		tbuf_array_elem(&p, e->payload ? e->payload : "{}");
		tbuf_printf(&us, "%s%lld", sep, (long long)e->ts);
	}
	int rc = TASKER_OK;
	for (int k = 0; k < 5; k++) {
		tbuf_puts(all[k], "}");
		if (all[k]->oom)
			rc = tasker_set_oom();
	}
	const char *params[] = {n.data, t.data, s.data, p.data, us.data};
	PGresult *res = NULL;
	if (!rc)
		rc = tdb_exec(&res, db, &Q_PERSIST, 5, params, "recording lifecycle events (tasker_events)");
	if (!rc && PQntuples(res) == 1 && tdb_get(res, 0, PERSIST_IDS)) {
		const char *ids = tdb_get(res, 0, PERSIST_IDS) + 1;
		for (size_t i = 0; i < l->n && *ids && *ids != '}'; i++) {
			char *end;
			l->v[i].id = strtoll(ids, &end, 10);
			ids = *end == ',' ? end + 1 : end;
		}
	}
	PQclear(res);
	for (int k = 0; k < 5; k++)
		tbuf_free(all[k]);
	return rc;
}

void tevents_defer_persist(tevents_bus *bus, const tevent *src)
{
	char *payload = src->payload ? strdup(src->payload) : NULL;
	char *custom = src->custom_name ? strdup(src->custom_name) : NULL;
	pthread_mutex_lock(&bus->pending_mu);
	tevent *e = payload && (custom || !src->custom_name) ? tevents_list_add(&bus->pending) : NULL;
	if (e) {
		*e = *src;
		e->fields = NULL;
		e->payload = payload;
		e->custom_name = custom;
		e->delivered = 1;
		atomic_fetch_add(&bus->npending, 1);
	}
	pthread_mutex_unlock(&bus->pending_mu);
	if (!e) {
		free(payload);
		free(custom);
	}
}

void tevents_take_deferred_step(tevents_bus *bus, int64_t step_id, tevents_list *l)
{
	if (!atomic_load_explicit(&bus->npending, memory_order_relaxed))
		return;
	pthread_mutex_lock(&bus->pending_mu);
	size_t keep = 0;
	for (size_t i = 0; i < bus->pending.n; i++) {
		tevent *e = &bus->pending.v[i];
		tevent *dst = e->step_id == step_id ? tevents_list_add(l) : NULL;
		if (dst) {
			*dst = *e;
			atomic_fetch_sub(&bus->npending, 1);
		} else {
			bus->pending.v[keep++] = *e;
		}
	}
	bus->pending.n = keep;
	pthread_mutex_unlock(&bus->pending_mu);
}

void tevents_take_stale_deferred(tevents_bus *bus, int64_t max_age_us, tevents_list *l)
{
	if (!atomic_load_explicit(&bus->npending, memory_order_relaxed))
		return;
	int64_t before = ttime_now() - max_age_us;
	tevents_list stale = {0};
	pthread_mutex_lock(&bus->pending_mu);
	size_t keep = 0;
	for (size_t i = 0; i < bus->pending.n; i++) {
		tevent *e = &bus->pending.v[i];
		tevent *dst = e->ts < before ? tevents_list_add(&stale) : NULL;
		if (dst) {
			*dst = *e;
			atomic_fetch_sub(&bus->npending, 1);
		} else {
			bus->pending.v[keep++] = *e;
		}
	}
	bus->pending.n = keep;
	pthread_mutex_unlock(&bus->pending_mu);
	if (!stale.n)
		return;
	list_move(&stale, l); /* the stale events happened first */
	*l = stale;
}

int tevents_borrow(tevents_bus *bus, tdb **out)
{
	*out = NULL;
	if (!bus->conns.acquire)
		return tasker_set_error(TASKER_ECLOSED, "events: this event bus has no database");
	return bus->conns.acquire(bus->conns.source, out);
}

void tevents_give_back(tevents_bus *bus, tdb *db)
{
	if (db)
		bus->conns.release(bus->conns.source, db);
}

/* One statement on a borrowed connection, outside any transaction. */
static int bus_exec(PGresult **out, tevents_bus *bus, const tdb_stmt *stmt, int n, const char *const *params,
                    const char *what)
{
	*out = NULL;
	tdb *db;
	int rc = tevents_borrow(bus, &db);
	if (!rc)
		rc = tdb_exec(out, db, stmt, n, params, what);
	tevents_give_back(bus, db);
	return rc;
}

int tevents_set_persist(tevents_bus *bus, int enabled)
{
	if (!enabled) {
		atomic_store(&bus->persist, 0);
		return TASKER_OK;
	}
	PGresult *res = NULL;
	int rc = bus_exec(&res, bus, &Q_HAS_TABLE, 0, NULL, "looking for tasker_events");
	if (!rc && !tdb_get_bool(res, 0, HAS_TABLE_FOUND, 0))
		rc = tasker_set_error(TASKER_ENOTFOUND, "events persist: the table tasker_events does not exist; apply "
		                                        "the migrations first (tasker migrate: 0004_tasker_events)");
	PQclear(res);
	if (!rc)
		atomic_store(&bus->persist, 1);
	return rc;
}

/* ------------------------------------------------------------------ task creation */

static int hex_run(const char *s, size_t n)
{
	int nonzero = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		nonzero |= c != '0';
	}
	return nonzero;
}

int tevents_check_traceparent(const char *tp)
{
	if (!tp)
		return TASKER_OK;
	/* version "-" trace-id (32 hex, not all zero) "-" parent-id (16 hex, not all zero) "-" flags (2 hex) */
	int ok = strlen(tp) == 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' && hex_run(tp, 2) >= 0 &&
	         strncmp(tp, "ff", 2) != 0 && hex_run(tp + 3, 32) == 1 && hex_run(tp + 36, 16) == 1 &&
	         hex_run(tp + 53, 2) >= 0;
	if (!ok)
		return tasker_set_error(TASKER_EINVAL,
		                        "task request: traceparent \"%.80s\" is not a W3C traceparent "
		                        "(00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>, lowercase)",
		                        tp);
	return TASKER_OK;
}

int tevents_task_created(tdb *db, const tevents_creation *c)
{
	tevents_bus *bus = tevents_conn_bus(db, TASKER_LOG_ERROR);
	if (!bus)
		return TASKER_OK;
	const treg_entry *en = c->entry;
	cache_task(bus, c->task_id, en->named_task_id, c->identity_hash, c->traceparent);
	for (size_t i = 0; i < en->tpl->nsteps; i++)
		cache_step(bus, c->step_ids[i], c->task_id, en->named_step_ids[i]);
	tevent *e = emit(db, "task.start_requested", c->task_id, 0);
	if (e) {
		e->named_task_id = en->named_task_id;
		tjw w;
		tjw_init(&w, NULL, 0);
		tjw_ki64(&w, "step_count", (int64_t)en->tpl->nsteps);
		tjw_kstr(&w, "initiator", c->initiator);
		tjw_kstr(&w, "source_system", c->source_system);
		tjw_kstr(&w, "reason", c->reason);
		set_fields(e, &w);
	}
	for (size_t i = 0; i < en->tpl->nsteps; i++)
		if (c->bypassed[i])
			emit_transition(db, 0, c->step_ids[i], TASKER_STATE_PENDING, TASKER_STATE_RESOLVED_MANUALLY,
			                "{\"bypassed\": true}");
	return TASKER_OK;
}

/* ------------------------------------------------------------------ the worker's handler events */

int64_t tevents_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void step_event(tevents_bus *bus, const char *name, const tasker_claimed_step *s, const char *worker_id,
                       tjw *extra)
{
	const tasker_event_info *info = tasker_event_lookup(name);
	tevent e = {0};
	e.info = info;
	e.task_id = s->task_id;
	e.step_id = s->workflow_step_id;
	e.ts = ttime_now();
	e.names_given = 1;
	tjw w;
	tjw_init(&w, NULL, 0);
	tjw_kstr(&w, "step_name", s->name);
	tjw_kstr(&w, "task_name", s->task_name);
	tjw_kstr(&w, "namespace", s->namespace_name);
	tjw_kstr(&w, "version", s->task_version);
	tjw_kstr(&w, "handler_class", s->handler_class);
	tjw_ki64(&w, "attempt", s->attempts + 1);
	tjw_kstr(&w, "worker_id", worker_id);
	if (extra && extra->b.len) {
		tjw_raw(&w, ",", 1);
		tjw_raw(&w, tjw_text(extra), extra->b.len);
	}
	e.fields = tjw_take(&w);
	tevents_list one = {&e, 1, 1};
	tevents_build(bus, NULL, &one);
	if (e.payload) {
		if (atomic_load(&bus->persist))
			tevents_defer_persist(bus, &e);
		tevents_dispatch(bus, &e);
	}
	free(e.fields);
	free(e.payload);
}

int64_t tevents_handler_begin(tevents_bus *bus, const tasker_claimed_step *s, const char *worker_id)
{
	tmetrics_handler_started(bus->metrics, s->handler_class, s->attempts > 0);
	if (tevents_wanted(bus, TASKER_LOG_DEBUG))
		step_event(bus, "step.before_handle", s, worker_id, NULL);
	return tevents_clock();
}

void tevents_handler_end(tevents_bus *bus, const tasker_claimed_step *s, const char *worker_id,
                         int64_t started_us, int rc, const tasker_step_error *err)
{
	int64_t us = tevents_clock() - started_us;
	tasker_outcome outcome = rc == 0 ? TASKER_OUTCOME_SUCCESS
	                       : err && err->outcome == TASKER_OUTCOME_PERMANENT ? TASKER_OUTCOME_PERMANENT
	                                                                          : TASKER_OUTCOME_RETRYABLE;
	tmetrics_handler_finished(bus->metrics, s->handler_class, outcome, us);
	if (!tevents_wanted(bus, TASKER_LOG_DEBUG))
		return;
	static const char *const names[] = {"success", "retryable", "permanent"};
	char ms[32];
	snprintf(ms, sizeof ms, "%.3f", (double)us / 1000.0);
	tjw x;
	tjw_init(&x, NULL, 0);
	tjw_kstr(&x, "outcome", names[outcome]);
	tjw_key(&x, "duration_ms");
	tjw_puts(&x, ms);
	if (rc && err) {
		tjw_kstr(&x, "error_class", err->error_class[0] ? err->error_class : "StepError");
		tjw_kstr(&x, "error_message", err->message);
		if (err->error_code[0])
			tjw_kstr(&x, "error_code", err->error_code);
	}
	step_event(bus, "step.handle", s, worker_id, &x);
	tjw_free(&x);
}

/* ------------------------------------------------------------------ custom events */

int tevents_custom_declared(tevents_bus *bus, const char *name)
{
	pthread_mutex_lock(&bus->custom_mu);
	int found = 0;
	for (size_t i = 0; i < bus->ncustom && !found; i++)
		found = strcmp(bus->custom[i], name) == 0;
	pthread_mutex_unlock(&bus->custom_mu);
	if (found || !bus->conns.acquire)
		return found;
	const char *p[] = {name};
	PGresult *res = NULL;
	int rc = bus_exec(&res, bus, &Q_CUSTOM_DECLARED, 1, p, "looking for the custom event's declaration");
	if (rc)
		return rc;
	found = tdb_get_bool(res, 0, CUSTOM_DECLARED_FOUND, 0);
	PQclear(res);
	if (found) {
		pthread_mutex_lock(&bus->custom_mu);
		char **v = realloc(bus->custom, (bus->ncustom + 1) * sizeof *v);
		if (v) {
			bus->custom = v;
			if ((v[bus->ncustom] = strdup(name)))
				bus->ncustom++;
		}
		pthread_mutex_unlock(&bus->custom_mu);
	}
	return found;
}
