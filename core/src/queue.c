/*
 * queue.c — writes rows into the ready queue and sends the wake-up hint. Never reads step state.
 */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "events.h"
#include "util.h"

/* The rows. The wake-up hint is not sent here but just after the transaction's COMMIT (the hooks
 * below). */
static const tdb_stmt Q_ENQUEUE = {
	"queue_enqueue",
	"INSERT INTO tasker_ready_steps (workflow_step_id, task_id, handler_class, ready_at, enqueued_at) "
	"SELECT s, t, h, timezone('UTC', now()) + d * interval '1 millisecond', timezone('UTC', now()) "
	"FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) AS u(s, t, h, d)"};

/* ------------------------------------------------------------------ the wake-up, on the connection's hooks */

/* What the open transaction of one connection owes idle workers: a wake-up for every step it made
 * claimable now, unless the transaction claimed that step itself (the next stage of a chain, claimed
 * by the worker that finished the stage before it in the same transaction, concerns nobody else). */
typedef struct {
	int wake;        /* a wake-up is owed whatever is claimed (tqueue_wake) */
	int64_t *steps;  /* steps made claimable now and not claimed in this transaction */
	size_t n, cap;
} queue_conn;

static void forget(tdb *db, void *data)
{
	(void)db;
	queue_conn *q = data;
	q->wake = 0;
	q->n = 0;
}

static void committed(tdb *db, int rc, void *data)
{
	(void)rc;
	forget(db, data);
}

static const char *wake_sql(tdb *db, void *data)
{
	(void)db;
	const queue_conn *q = data;
	return q->wake || q->n ? "NOTIFY " TQUEUE_CHANNEL : NULL;
}

static void conn_free(void *data)
{
	queue_conn *q = data;
	free(q->steps);
	free(q);
}

/* Registered on a connection the first time it queues a step. A rolled-back transaction wakes nobody;
 * a transaction that queues many batches sends one NOTIFY. */
static const tdb_hooks HOOKS = {NULL, committed, forget, conn_free, wake_sql, NULL};

static queue_conn *conn_of(tdb *db)
{
	queue_conn *q = tdb_hook_data(db, &HOOKS);
	if (q)
		return q;
	if (!(q = calloc(1, sizeof *q)))
		return NULL;
	if (tdb_add_hooks(db, &HOOKS, q)) {
		free(q);
		return NULL;
	}
	return q;
}

int tqueue_wake(tdb *db)
{
	if (!tdb_in_transaction(db)) /* nothing will commit: wake them now */
		return tdb_exec_simple(db, "NOTIFY " TQUEUE_CHANNEL, "waking idle workers");
	queue_conn *q = conn_of(db);
	if (!q)
		return tasker_set_oom();
	q->wake = 1;
	return TASKER_OK;
}

int tqueue_wake_for(tdb *db, const int64_t *step_ids, size_t n)
{
	if (n == 0)
		return TASKER_OK;
	if (!tdb_in_transaction(db))
		return tqueue_wake(db);
	queue_conn *q = conn_of(db);
	if (!q)
		return tasker_set_oom();
	if (q->n + n > q->cap) {
		size_t cap = (q->n + n) * 2;
		int64_t *s = realloc(q->steps, cap * sizeof *s);
		if (!s) { /* cannot tell them apart: owe the wake-up whatever is claimed */
			q->wake = 1;
			return TASKER_OK;
		}
		q->steps = s;
		q->cap = cap;
	}
	memcpy(q->steps + q->n, step_ids, n * sizeof *step_ids);
	q->n += n;
	return TASKER_OK;
}

void tqueue_claimed(tdb *db, const int64_t *step_ids, size_t n)
{
	queue_conn *q = tdb_hook_data(db, &HOOKS);
	for (size_t i = 0; q && i < n; i++)
		for (size_t k = 0; k < q->n; k++)
			if (q->steps[k] == step_ids[i]) {
				q->steps[k] = q->steps[--q->n];
				break;
			}
}

/* ------------------------------------------------------------------ batches */

void tqueue_batch_init(tqueue_batch *b) { *b = (tqueue_batch){0}; }

void tqueue_batch_free(tqueue_batch *b)
{
	free(b->step_ids);
	free(b->task_ids);
	free(b->delay_ms);
	free(b->handlers);
	tqueue_batch_init(b);
}

void tqueue_batch_add(tqueue_batch *b, int64_t step_id, int64_t task_id, const char *handler_class,
                      int64_t delay_ms)
{
	if (b->oom)
		return;
	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		int64_t *s = realloc(b->step_ids, cap * sizeof *s);
		if (s)
			b->step_ids = s;
		int64_t *t = realloc(b->task_ids, cap * sizeof *t);
		if (t)
			b->task_ids = t;
		int64_t *r = realloc(b->delay_ms, cap * sizeof *r);
		if (r)
			b->delay_ms = r;
		const char **h = realloc(b->handlers, cap * sizeof *h);
		if (h)
			b->handlers = h;
		if (!s || !t || !r || !h) {
			b->oom = 1;
			return;
		}
		b->cap = cap;
	}
	b->step_ids[b->count] = step_id;
	b->task_ids[b->count] = task_id;
	b->handlers[b->count] = handler_class;
	b->delay_ms[b->count] = delay_ms;
	if (delay_ms <= 0)
		b->any_now = 1;
	b->count++;
}

int tqueue_batch_write(tdb *db, tqueue_batch *b)
{
	if (b->oom)
		return tasker_set_oom();
	if (b->count == 0)
		return TASKER_OK;
	tbuf s, t, h, r;
	tbuf *all[] = {&s, &t, &h, &r};
	for (int i = 0; i < 4; i++) {
		tbuf_init(all[i]);
		tbuf_puts(all[i], "{");
	}
	for (size_t i = 0; i < b->count; i++) {
		const char *sep = i ? "," : "";
		tbuf_printf(&s, "%s%lld", sep, (long long)b->step_ids[i]);
		tbuf_printf(&t, "%s%lld", sep, (long long)b->task_ids[i]);
		tbuf_puts(&h, sep);
		tbuf_array_elem(&h, b->handlers[i]);
		tbuf_printf(&r, "%s%lld", sep, (long long)(b->delay_ms[i] > 0 ? b->delay_ms[i] : 0));
	}
	int rc = TASKER_OK;
	for (int i = 0; i < 4; i++) {
		tbuf_puts(all[i], "}");
		if (all[i]->oom)
			rc = tasker_set_oom();
	}
	const char *p[] = {s.data, t.data, h.data, r.data};
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_ENQUEUE, 4, p, "making steps claimable");
	if (!rc && b->any_now && !tdb_in_transaction(db))
		rc = tqueue_wake(db);
	for (size_t i = 0; !rc && b->any_now && tdb_in_transaction(db) && i < b->count; i++)
		if (b->delay_ms[i] <= 0)
			rc = tqueue_wake_for(db, &b->step_ids[i], 1);
	if (!rc)
		tevents_steps_enqueued(db, b->step_ids, b->task_ids, b->delay_ms, b->count); /* viable_steps_discovered */
	for (int i = 0; i < 4; i++)
		tbuf_free(all[i]);
	return rc;
}


/* The first ready_at this worker may claim. It walks the queue's index from the floor the connection's
 * last claim left (core/src/claim.c: the oldest row that claim took, less a second, for the same handler
 * filter), not from the front, where a long-running transaction elsewhere keeps the entry of every row
 * ever claimed; only when nothing lies above the floor does it look from the front (an empty answer
 * lets the worker report idle, so it must be the whole queue's). */
static const tdb_stmt Q_NEXT_READY = {
	"queue_next_ready",
	/* No GREATEST here: it ignores NULL, and NULL (an empty queue) must stay NULL. */
	"SELECT CEIL(EXTRACT(EPOCH FROM (COALESCE("
	"(SELECT ready_at FROM tasker_ready_steps WHERE ready_at >= CASE WHEN current_setting('tasker.pick_filter', "
	"true) = COALESCE($1::text[]::text, '*') THEN timezone('UTC', to_timestamp(NULLIF(current_setting("
	"'tasker.pick_floor', true), '')::float8)) - interval '1 second' END "
	"AND ($1::text[] IS NULL OR handler_class = ANY($1::text[])) ORDER BY ready_at LIMIT 1), "
	"(SELECT ready_at FROM tasker_ready_steps WHERE $1::text[] IS NULL OR handler_class = ANY($1::text[]) "
	"ORDER BY ready_at LIMIT 1)) - timezone('UTC', now()))) * 1000)::bigint"};
enum { NEXT_READY_MS };
/* The template (the named task's configuration) is the one place a step's handler_class is kept. */
static const tdb_stmt Q_STEP_HANDLER = {
	"queue_step_handler",
	"SELECT st->>'handler_class' FROM tasker_workflow_steps s "
	"JOIN tasker_tasks t ON t.task_id = s.task_id "
	"JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id "
	"JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id "
	"LEFT JOIN LATERAL (SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(nt.configuration->'step_templates') "
	"= 'array' THEN nt.configuration->'step_templates' ELSE '[]'::jsonb END) x WHERE x->>'name' = ns.name LIMIT 1) "
	"AS l(st) ON true WHERE s.workflow_step_id = $1::bigint"};
enum { STEP_HANDLER_CLASS };
static const tdb_stmt Q_HANDLER_OF = {
	"queue_handler_of", "SELECT handler_class FROM tasker_ready_steps WHERE workflow_step_id = $1::bigint"};
enum { HANDLER_OF_CLASS };

int tqueue_next_ready_ms(int64_t *out, tasker_client *client, const char *const *handlers, size_t n)
{
	*out = -1;
	char *arr = NULL;
	if (handlers && !(arr = ttext_array(handlers, n)))
		return TASKER_ENOMEM;
	PGresult *res = NULL;
	const char *p[] = {arr};
	int rc = tclient_exec(&res, client, &Q_NEXT_READY, 1, p, "looking for the next ready step");
	if (!rc)
		*out = tdb_get_i64(res, 0, NEXT_READY_MS, -1);
	if (!rc && *out < 0 && !PQgetisnull(res, 0, NEXT_READY_MS))
		*out = 0; /* already due */
	PQclear(res);
	free(arr);
	return rc;
}

int tqueue_handler_of(char **out, tasker_client *client, int64_t step_id)
{
	*out = NULL;
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, step_id)};
	PGresult *res;
	int rc = tclient_exec(&res, client, &Q_HANDLER_OF, 1, p, "finding the step's handler");
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = tasker_set_error(TASKER_ENOTFOUND, "step %lld is not claimable now (not ready yet, already claimed, "
		                                        "or finished)", (long long)step_id);
	else if (!(*out = tstrdup(tdb_get(res, 0, HANDLER_OF_CLASS))))
		rc = TASKER_ENOMEM;
	PQclear(res);
	return rc;
}

int tasker_step_handler_class(char **out, tasker_client *client, int64_t step_id)
{
	*out = NULL;
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, step_id)};
	PGresult *res = NULL;
	int rc = tclient_exec(&res, client, &Q_STEP_HANDLER, 1, p, "finding the step's handler");
	if (!rc && PQntuples(res) == 0)
		rc = tasker_set_error(TASKER_ENOTFOUND, "step %lld does not exist", (long long)step_id);
	if (!rc && !tdb_get(res, 0, STEP_HANDLER_CLASS))
		rc = tasker_set_error(TASKER_ENOTFOUND, "step %lld: its task's template names no handler_class for it "
		                      "(the task was not created from a template registered here)", (long long)step_id);
	if (!rc && !(*out = tstrdup(tdb_get(res, 0, STEP_HANDLER_CLASS))))
		rc = TASKER_ENOMEM;
	PQclear(res);
	return rc;
}
