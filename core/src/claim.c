/*
 * claim.c — claims ready steps for a worker: picks rows of the ready queue with FOR UPDATE SKIP
 * LOCKED (with their task rows, also SKIP LOCKED, so a claimer never waits and never deadlocks),
 * re-checks state under those locks, moves each step pending → in_progress (error → pending →
 * in_progress for a retry) and its task pending → in_progress, records the claim (lease), and
 * builds the self-contained payload a handler needs. Decides nothing about readiness.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "complete.h"
#include "error.h"
#include "events.h"
#include "metrics.h"
#include "registry.h"
#include "transition.h"
#include "util.h"


/* The FIFO pick. The LIMIT is a constant in the statement text, one prepared statement per limit
 * (1..PICK_MAX, built once): with a parameter there, a generic plan cannot know the limit is small
 * and sorts the whole queue instead of walking the (ready_at, workflow_step_id) index. */
#define PICK_MAX 256
#define PICK_SQL_FMT                                                                                      \
	"SELECT r.workflow_step_id, r.task_id FROM tasker_ready_steps r "                                 \
	"JOIN tasker_tasks t ON t.task_id = r.task_id "                                                   \
	"WHERE r.ready_at <= " NOW_UTC " AND ($1::text[] IS NULL OR r.handler_class = ANY($1::text[])) " \
	"ORDER BY r.ready_at, r.workflow_step_id LIMIT %u "                                                \
	"FOR UPDATE OF r SKIP LOCKED FOR NO KEY UPDATE OF t SKIP LOCKED"
static tdb_stmt pick_stmts[PICK_MAX];
static char pick_names[PICK_MAX][24];
static char pick_sql[PICK_MAX][sizeof PICK_SQL_FMT + 8];
static pthread_once_t pick_once = PTHREAD_ONCE_INIT;

static void pick_init(void)
{
	for (unsigned i = 0; i < PICK_MAX; i++) {
		snprintf(pick_names[i], sizeof pick_names[i], "claim_pick_%u", i + 1);
		snprintf(pick_sql[i], sizeof pick_sql[i], PICK_SQL_FMT, i + 1);
		pick_stmts[i] = (tdb_stmt){pick_names[i], pick_sql[i]};
	}
}

/* The pick for at most `max` steps (1..PICK_MAX). */
static const tdb_stmt *pick_for(unsigned max)
{
	pthread_once(&pick_once, pick_init);
	if (max < 1)
		max = 1;
	if (max > PICK_MAX)
		max = PICK_MAX;
	return &pick_stmts[max - 1];
}

static const tdb_stmt Q_PICK_ONE = {
	"claim_pick_one",
	"SELECT r.workflow_step_id, r.task_id FROM tasker_ready_steps r "
	"JOIN tasker_tasks t ON t.task_id = r.task_id "
	"WHERE r.workflow_step_id = $1::bigint AND r.ready_at <= " NOW_UTC
	" FOR UPDATE OF r SKIP LOCKED FOR NO KEY UPDATE OF t SKIP LOCKED"};
/* The columns of PICK_SQL_FMT and Q_PICK_ONE. */
enum { PICK_STEP_ID, PICK_TASK_ID };
/* The claimed tasks and all their steps, one row per step in (task, step) order, then the task's
 * columns (READ_NAMED_TASK_ID on); context and tags only on a task's first row, so a large context is sent once per
 * task, not once per step. Driven from the task ids, a primary-key probe each, and the steps per task
 * through a fenced (OFFSET 0) LATERAL: an index probe per task even when the plan is made on a new
 * database's statistics (as a plain join over `= ANY` it was a scan of every step, kept by the plan). */
static const tdb_stmt Q_READ = {
	"claim_read",
	"WITH t AS (SELECT t.task_id, t.named_task_id, t.context::text AS context, t.tags::text AS tags, t.initiator, "
	"t.source_system, t.reason, tt.to_state, tt.sort_key, "
	"(SELECT x.traceparent FROM tasker_task_traces x WHERE x.task_id = t.task_id) AS traceparent "
	"FROM unnest($1::bigint[]) AS u(id) "
	"CROSS JOIN LATERAL (SELECT y.* FROM tasker_tasks y WHERE y.task_id = u.id OFFSET 0) t "
	TASK_STATE_JOIN("tt", "t.task_id") ") "
	"SELECT s.task_id, s.workflow_step_id, s.named_step_id, ns.name, tr.to_state, tr.sort_key, "
	"s.attempts, s.retry_limit, s.retryable, s.processed, s.results::text, "
	"CASE WHEN s.workflow_step_id = ANY($2::bigint[]) THEN s.inputs::text END, "
	"t.named_task_id, CASE WHEN s.workflow_step_id = min(s.workflow_step_id) OVER w THEN t.context END, "
	"CASE WHEN s.workflow_step_id = min(s.workflow_step_id) OVER w THEN t.tags END, "
	"t.initiator, t.source_system, t.reason, t.to_state, t.sort_key, t.traceparent "
	"FROM t CROSS JOIN LATERAL (SELECT x.* FROM tasker_workflow_steps x WHERE x.task_id = t.task_id OFFSET 0) s "
	"JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id " STEP_STATE_JOIN("tr", "s.workflow_step_id")
	"WINDOW w AS (PARTITION BY s.task_id) ORDER BY s.task_id, s.workflow_step_id"};
/* The columns of Q_READ: the step's (inputs only for the steps picked), then its task's (context and tags
 * only on the task's first row). */
enum {
	READ_TASK_ID, READ_STEP_ID, READ_NAMED_STEP_ID, READ_NAME, READ_STATE, READ_SORT_KEY, READ_ATTEMPTS,
	READ_RETRY_LIMIT, READ_RETRYABLE, READ_PROCESSED, READ_RESULTS, READ_INPUTS, READ_NAMED_TASK_ID, READ_CONTEXT,
	READ_TAGS, READ_INITIATOR, READ_SOURCE_SYSTEM, READ_REASON, READ_TASK_STATE, READ_TASK_SORT_KEY,
	READ_TRACEPARENT
};
static const tdb_stmt Q_DEQUEUE = {
	"claim_dequeue", "DELETE FROM tasker_ready_steps WHERE workflow_step_id = ANY($1::bigint[])"};
/* Takes the picked steps off the queue ($6: claimed or stale) and records the claims, in one statement. */
static const tdb_stmt Q_CLAIM_INSERT = {
	"claim_insert",
	"WITH dequeued AS (DELETE FROM tasker_ready_steps WHERE workflow_step_id = ANY($6::bigint[])) "
	"INSERT INTO tasker_step_claims (workflow_step_id, task_id, claim_id, worker_id, claimed_at, "
	"lease_expires_at) SELECT s, t, c, $4, " NOW_UTC ", " NOW_UTC " + $5::int * interval '1 second' "
	"FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(s, t, c) "
	"RETURNING workflow_step_id, lease_expires_at"};
enum { CLAIM_INSERT_STEP_ID, CLAIM_INSERT_LEASE_EXPIRES_AT };
static const tdb_stmt Q_EXTEND = {
	"claim_extend",
	"UPDATE tasker_step_claims SET lease_expires_at = " NOW_UTC " + $3::int * interval '1 second' "
	"WHERE workflow_step_id = $1::bigint AND claim_id = $2::bigint"};

/* One task involved in a claim batch. */
typedef struct {
	int64_t task_id;
	int32_t named_task_id;
	const char *context, *tags, *initiator, *source_system, *reason, *traceparent;
	tasker_state state;
	int64_t sort_key;
	const treg_entry *tpl;
	size_t first_step, nsteps;    /* rows of the step result */
} task_row;

typedef struct {
	PGresult *steps_res;          /* Q_READ: steps with their task's columns */
	task_row *tasks;
	size_t ntasks;
	int64_t *picked;              /* step ids picked from the queue */
	size_t npicked;
} batch;

static void batch_free(batch *b)
{
	PQclear(b->steps_res);
	free(b->tasks);
	free(b->picked);
}


static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Reads the tasks and all their steps in one statement (after the locks were taken: a new statement
 * sees the latest committed state). */
static int read_batch(batch *b, tdb *db, treg *reg, const int64_t *task_ids, size_t ntask_ids)
{
	char *tasks = tid_array(task_ids, ntask_ids), *steps = tid_array(b->picked, b->npicked);
	const char *p[] = {tasks, steps};
	int rc = (tasks && steps) ? tdb_exec(&b->steps_res, db, &Q_READ, 2, p, "reading claimed tasks and their steps")
	                          : TASKER_ENOMEM;
	free(tasks);
	free(steps);
	if (rc)
		return rc;
	PGresult *s = b->steps_res;
	int nsrows = PQntuples(s);
	if (!(b->tasks = calloc(ntask_ids + 1, sizeof *b->tasks)))
		return tasker_set_oom();
	for (int srow = 0; srow < nsrows && b->ntasks < ntask_ids;) {
		task_row *tr = &b->tasks[b->ntasks++];
		tr->task_id = tdb_get_i64(s, srow, READ_TASK_ID, 0);
		tr->named_task_id = (int32_t)tdb_get_i64(s, srow, READ_NAMED_TASK_ID, 0);
		tr->context = tdb_get(s, srow, READ_CONTEXT);
		tr->tags = tdb_get(s, srow, READ_TAGS);
		tr->initiator = tdb_get(s, srow, READ_INITIATOR);
		tr->source_system = tdb_get(s, srow, READ_SOURCE_SYSTEM);
		tr->reason = tdb_get(s, srow, READ_REASON);
		tr->state = TASKER_STATE_PENDING;
		if (tdb_get(s, srow, READ_TASK_STATE))
			tasker_state_parse(&tr->state, tdb_get(s, srow, READ_TASK_STATE));
		tr->sort_key = tdb_get_i64(s, srow, READ_TASK_SORT_KEY, 0);
		tr->traceparent = tdb_get(s, srow, READ_TRACEPARENT);
		tr->first_step = (size_t)srow;
		while (srow < nsrows && tdb_get_i64(s, srow, READ_TASK_ID, 0) == tr->task_id)
			srow++;
		tr->nsteps = (size_t)srow - tr->first_step;
		if ((rc = treg_lookup_id(&tr->tpl, reg, db, tr->named_task_id)))
			return rc;
	}
	return TASKER_OK;
}

static task_row *find_task(batch *b, int64_t task_id)
{
	for (size_t i = 0; i < b->ntasks; i++)
		if (b->tasks[i].task_id == task_id)
			return &b->tasks[i];
	return NULL;
}

static int find_step_row(const batch *b, const task_row *t, int64_t step_id)
{
	for (size_t k = 0; k < t->nsteps; k++) {
		int r = (int)(t->first_step + k);
		if (tdb_get_i64(b->steps_res, r, READ_STEP_ID, 0) == step_id)
			return r;
	}
	return -1;
}

static tasker_state row_state(PGresult *s, int r)
{
	tasker_state st = TASKER_STATE_PENDING;
	if (tdb_get(s, r, READ_STATE))
		tasker_state_parse(&st, tdb_get(s, r, READ_STATE));
	return st;
}

void tasker_claimed_step_free(tasker_claimed_step *c)
{
	if (!c)
		return;
	const char *strs[] = {c->name, c->handler_class, c->handler_config_json, c->inputs_json, c->results_json,
	                      c->namespace_name, c->task_name, c->task_version, c->context_json, c->tags_json,
	                      c->initiator, c->source_system, c->reason, c->traceparent};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		free((void *)strs[i]);
	for (size_t i = 0; i < c->sequence_count; i++) {
		free((void *)c->sequence[i].name);
		free((void *)c->sequence[i].results_json);
	}
	free((void *)c->sequence);
	free(c);
}

static char *dup_or(const char *s, const char *dflt) { return tstrdup(s ? s : dflt); }

/* Builds the payload of one claimed step. */
static tasker_claimed_step *build_claimed(const batch *b, const task_row *t, int r, int64_t claim_id,
                                          int64_t lease_expires)
{
	PGresult *s = b->steps_res;
	tasker_claimed_step *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	const ttpl_template *tpl = t->tpl->tpl;
	int idx = treg_step_index(t->tpl, (int32_t)tdb_get_i64(s, r, READ_NAMED_STEP_ID, 0));
	const ttpl_step *st = idx >= 0 ? &tpl->steps[idx] : NULL;
	c->workflow_step_id = tdb_get_i64(s, r, READ_STEP_ID, 0);
	c->claim_id = claim_id;
	c->task_id = t->task_id;
	c->attempts = (int)tdb_get_i64(s, r, READ_ATTEMPTS, 0);
	c->retry_limit = (int)tdb_get_i64(s, r, READ_RETRY_LIMIT, 3);
	c->retryable = tdb_get_bool(s, r, READ_RETRYABLE, 1);
	c->lease_expires_at = lease_expires;
	c->name = dup_or(tdb_get(s, r, READ_NAME), "");
	c->handler_class = dup_or(st ? st->handler_class : NULL, "");
	c->handler_config_json = st && st->handler_config ? tjson_print(st->handler_config) : tstrdup("null");
	c->inputs_json = dup_or(tdb_get(s, r, READ_INPUTS), "null");
	c->results_json = dup_or(tdb_get(s, r, READ_RESULTS), "null");
	c->namespace_name = tstrdup(tpl->namespace_name);
	c->task_name = tstrdup(tpl->name);
	c->task_version = tstrdup(tpl->version);
	c->context_json = dup_or(t->context, "{}");
	c->tags_json = dup_or(t->tags, "[]");
	c->initiator = dup_or(t->initiator, "unknown");
	c->source_system = dup_or(t->source_system, "unknown");
	c->reason = dup_or(t->reason, "unknown");
	c->traceparent = t->traceparent ? tstrdup(t->traceparent) : NULL;
	tasker_sequence_step *seq = calloc(t->nsteps + 1, sizeof *seq);
	c->sequence = seq;
	c->sequence_count = seq ? t->nsteps : 0;
	int ok = seq && c->name && c->handler_class && c->handler_config_json && c->inputs_json &&
	         c->results_json && c->namespace_name && c->task_name && c->task_version && c->context_json &&
	         c->tags_json && c->initiator && c->source_system && c->reason && (c->traceparent || !t->traceparent);
	for (size_t k = 0; ok && k < t->nsteps; k++) {
		int sr = (int)(t->first_step + k);
		seq[k].workflow_step_id = tdb_get_i64(s, sr, READ_STEP_ID, 0);
		seq[k].state = row_state(s, sr);
		seq[k].attempts = (int)tdb_get_i64(s, sr, READ_ATTEMPTS, 0);
		seq[k].name = tstrdup(tdb_get(s, sr, READ_NAME));
		seq[k].results_json = dup_or(tdb_get(s, sr, READ_RESULTS), "null");
		ok = seq[k].name && seq[k].results_json;
	}
	if (!ok) {
		tasker_claimed_step_free(c);
		tasker_set_oom();
		return NULL;
	}
	return c;
}

typedef struct {
	int64_t *step_ids, *task_ids, *claim_ids;
	int *rows;                    /* step result rows */
	size_t n;
	ttrans_row *step_trans;
	size_t nstep_trans;
	int64_t *cleared;             /* steps whose current transition row must be cleared */
	size_t ncleared;
} plan;

static void plan_free(plan *p)
{
	free(p->step_ids);
	free(p->task_ids);
	free(p->claim_ids);
	free(p->rows);
	free(p->step_trans);
	free(p->cleared);
}

/* Decides which picked steps are still claimable under the locks and what to write for them. */
static int plan_claims(plan *p, batch *b)
{
	size_t n = b->npicked;
	p->step_ids = calloc(n + 1, sizeof(int64_t));
	p->task_ids = calloc(n + 1, sizeof(int64_t));
	p->claim_ids = calloc(n + 1, sizeof(int64_t));
	p->rows = calloc(n + 1, sizeof(int));
	p->step_trans = calloc(2 * n + 1, sizeof(ttrans_row));
	p->cleared = calloc(n + 1, sizeof(int64_t));
	if (!p->step_ids || !p->task_ids || !p->claim_ids || !p->rows || !p->step_trans || !p->cleared)
		return tasker_set_oom();
	PGresult *s = b->steps_res;
	for (size_t i = 0; i < n; i++) {
		int64_t sid = b->picked[i];
		task_row *t = NULL;
		int r = -1;
		for (size_t k = 0; k < b->ntasks && r < 0; k++) {
			r = find_step_row(b, &b->tasks[k], sid);
			t = &b->tasks[k];
		}
		if (r < 0 || !t)
			continue;
		tasker_state st = row_state(s, r);
		int task_open = t->state == TASKER_STATE_PENDING || t->state == TASKER_STATE_IN_PROGRESS;
		/* A stale queue row (state moved on, or the task is finished/cancelled/failed): drop it. */
		if (!task_open || tdb_get_bool(s, r, READ_PROCESSED, 0) ||
		    (st != TASKER_STATE_PENDING && st != TASKER_STATE_ERROR))
			continue;
		int64_t sort_key = tdb_get_i64(s, r, READ_SORT_KEY, 0);
		if (!tdb_is_null(s, r, READ_SORT_KEY))
			p->cleared[p->ncleared++] = sid;
		if (st == TASKER_STATE_ERROR) {
			sort_key += 10;
			p->step_trans[p->nstep_trans++] = (ttrans_row){sid, TASKER_STATE_ERROR, TASKER_STATE_PENDING,
			                                              sort_key, 0, "{\"reason\": \"retry\"}"};
		}
		p->step_trans[p->nstep_trans++] = (ttrans_row){sid, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS,
		                                              sort_key + 10, 1, NULL};
		p->step_ids[p->n] = sid;
		p->task_ids[p->n] = t->task_id;
		p->claim_ids[p->n] = trand_i63();
		p->rows[p->n] = r;
		p->n++;
	}
	return TASKER_OK;
}

/* Moves pending tasks that got their first claim to in_progress. */
static int start_tasks(tdb *db, batch *b, const plan *p)
{
	ttrans_row *rows = calloc(b->ntasks + 1, sizeof *rows);
	int64_t *cleared = calloc(b->ntasks + 1, sizeof *cleared);
	size_t n = 0, nc = 0;
	int rc = (rows && cleared) ? TASKER_OK : tasker_set_oom();
	for (size_t i = 0; !rc && i < b->ntasks; i++) {
		task_row *t = &b->tasks[i];
		if (t->state != TASKER_STATE_PENDING)
			continue;
		int claimed = 0;
		for (size_t k = 0; k < p->n && !claimed; k++)
			claimed = p->task_ids[k] == t->task_id;
		if (!claimed)
			continue;
		if (t->sort_key)
			cleared[nc++] = t->task_id;
		rows[n++] = (ttrans_row){t->task_id, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, t->sort_key + 10, 1,
		                         NULL};
		t->state = TASKER_STATE_IN_PROGRESS;
	}
	if (!rc)
		rc = ttrans_bulk_write(db, TTRANS_TASK, cleared, nc, rows, n);
	if (!rc)
		for (size_t i = 0; i < n; i++)
			tevents_task_started(db, rows[i].owner_id); /* workflow.task_started */
	free(rows);
	free(cleared);
	return rc;
}

static int write_claims(tdb *db, const plan *p, const char *picked, const char *worker_id, int lease_seconds,
                        PGresult **out)
{
	char *s = tid_array(p->step_ids, p->n), *t = tid_array(p->task_ids, p->n), *c = tid_array(p->claim_ids, p->n);
	char lease[24];
	int rc = (s && t && c) ? TASKER_OK : TASKER_ENOMEM;
	const char *cp[] = {s, t, c, worker_id, tdb_fmt_i64(lease, lease_seconds), picked};
	if (!rc)
		rc = tdb_exec(out, db, &Q_CLAIM_INSERT, 6, cp, "recording claims");
	free(s);
	free(t);
	free(c);
	return rc;
}

static void default_worker_id(char *buf, size_t len)
{
	char host[128] = "host";
	gethostname(host, sizeof host - 1);
	snprintf(buf, len, "%s:%d", host, (int)getpid());
}

/* The whole claim transaction on `db` after the pick: reads, decides, writes, builds payloads. */
static int claim_picked(tasker_claimed_step ***out, size_t *out_count, tdb *db, treg *reg, batch *b,
                        const int64_t *task_ids, size_t ntasks, const tasker_claim_options *o)
{
	plan p = {0};
	PGresult *claims = NULL;
	char wid[192];
	const char *worker_id = o->worker_id;
	if (!worker_id) {
		default_worker_id(wid, sizeof wid);
		worker_id = wid;
	}
	int lease = o->lease_seconds > 0 ? o->lease_seconds : 30;
	char *picked = tid_array(b->picked, b->npicked);
	const char *dp[] = {picked};
	int rc = picked ? TASKER_OK : TASKER_ENOMEM;
	if (!rc)
		rc = read_batch(b, db, reg, task_ids, ntasks);
	if (!rc)
		rc = plan_claims(&p, b);
	if (!rc && !p.n) /* only stale rows were picked */
		rc = tdb_exec(NULL, db, &Q_DEQUEUE, 1, dp, "taking steps off the ready queue");
	if (!rc && p.n) {
		rc = ttrans_bulk_write(db, TTRANS_STEP, p.cleared, p.ncleared, p.step_trans, p.nstep_trans);
		if (!rc)
			rc = start_tasks(db, b, &p);
		if (!rc)
			rc = write_claims(db, &p, picked, worker_id, lease, &claims);
	}
	free(picked);
	tasker_claimed_step **arr = NULL;
	if (!rc && !(arr = calloc(p.n + 1, sizeof *arr)))
		rc = tasker_set_oom();
	for (size_t i = 0; !rc && i < p.n; i++) {
		task_row *t = find_task(b, p.task_ids[i]);
		int64_t lease_at = TASKER_NULL_TIME;
		for (int r = 0; claims && r < PQntuples(claims); r++)
			if (tdb_get_i64(claims, r, CLAIM_INSERT_STEP_ID, 0) == p.step_ids[i])
				lease_at = ttime_parse(tdb_get(claims, r, CLAIM_INSERT_LEASE_EXPIRES_AT));
		if (!(arr[i] = build_claimed(b, t, p.rows[i], p.claim_ids[i], lease_at)))
			rc = tasker_error_last()->code ? tasker_error_last()->code : TASKER_ENOMEM;
		else /* the payload shows the state this claim wrote */
			for (size_t k = 0; k < arr[i]->sequence_count; k++)
				if (arr[i]->sequence[k].workflow_step_id == p.step_ids[i])
					((tasker_sequence_step *)arr[i]->sequence)[k].state = TASKER_STATE_IN_PROGRESS;
	}
	if (rc) {
		for (size_t i = 0; arr && i < p.n; i++)
			tasker_claimed_step_free(arr[i]);
		free(arr);
	} else {
		*out = arr;
		*out_count = p.n;
	}
	PQclear(claims);
	plan_free(&p);
	return rc;
}

static int check_options(const tasker_claim_options *o)
{
	if (!o || o->version != TASKER_CLAIM_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_claim_options.version must be TASKER_CLAIM_OPTIONS_VERSION");
	if (o->worker_id && strlen(o->worker_id) > 255)
		return tasker_set_error(TASKER_EINVAL, "worker_id is longer than 255 characters");
	return TASKER_OK;
}

/* Runs a pick statement, then the claim, inside the caller's open transaction on `db`. */
static int claim_in_txn(tasker_claimed_step ***out, size_t *out_count, tdb *db, tasker_client *client,
                        const tdb_stmt *pick, int nparams, const char *const *params, const tasker_claim_options *o)
{
	*out = NULL;
	*out_count = 0;
	batch b = {0};
	PGresult *res = NULL;
	int64_t *task_ids = NULL;
	size_t ntasks = 0;
	int64_t started = tevents_clock(); /* claim latency metric */
	int rc = tdb_exec(&res, db, pick, nparams, params, "picking ready steps");
	if (!rc && PQntuples(res) > 0) {
		size_t n = (size_t)PQntuples(res);
		b.picked = calloc(n, sizeof *b.picked);
		task_ids = calloc(n, sizeof *task_ids);
		if (!b.picked || !task_ids)
			rc = tasker_set_oom();
		for (size_t i = 0; !rc && i < n; i++) {
			b.picked[b.npicked++] = tdb_get_i64(res, (int)i, PICK_STEP_ID, 0);
			task_ids[i] = tdb_get_i64(res, (int)i, PICK_TASK_ID, 0);
		}
		if (!rc) {
			qsort(task_ids, n, sizeof *task_ids, cmp_i64);
			for (size_t i = 0; i < n; i++)
				if (ntasks == 0 || task_ids[ntasks - 1] != task_ids[i])
					task_ids[ntasks++] = task_ids[i];
			rc = claim_picked(out, out_count, db, tclient_registry(client), &b, task_ids, ntasks, o);
		}
	}
	PQclear(res);
	free(task_ids);
	batch_free(&b);
	tmetrics_claim_in_txn(db, tevents_clock() - started, rc ? 0 : *out_count); /* settled at commit or rollback */
	return rc;
}

static void claimed_free_all(tasker_claimed_step ***out, size_t *out_count)
{
	for (size_t i = 0; *out && i < *out_count; i++)
		tasker_claimed_step_free((*out)[i]);
	free(*out);
	*out = NULL;
	*out_count = 0;
}

/* One claiming transaction: record `results` (if any), then claim with `pick` (if any). */
typedef struct {
	tasker_claimed_step ***out;
	size_t *out_count;
	tasker_step_result *results;
	size_t count;
	const tdb_stmt *pick;
	const char *param;             /* the pick's one parameter */
	const tasker_claim_options *o;
} claim_args;

static int claim_txn(tdb *db, tasker_client *client, void *arg)
{
	claim_args *a = arg;
	int rc = a->count ? tcomplete_locked(db, client, a->results, a->count) : TASKER_OK;
	if (!rc && a->pick) {
		const char *p[] = {a->param};
		rc = claim_in_txn(a->out, a->out_count, db, client, a->pick, 1, p, a->o);
	}
	return rc;
}

static int claim_with(claim_args *a, tasker_client *client)
{
	*a->out = NULL;
	*a->out_count = 0;
	int rc = tclient_in_txn(client, claim_txn, a);
	if (rc)
		claimed_free_all(a->out, a->out_count);
	return rc;
}

/* The handler-class array parameter of the pick (NULL when any handler may be claimed). */
static int handler_param(char **out, const tasker_claim_options *o)
{
	*out = NULL;
	if (!o->handler_classes)
		return TASKER_OK;
	*out = ttext_array(o->handler_classes, o->handler_class_count);
	return *out ? TASKER_OK : TASKER_ENOMEM;
}

int tasker_steps_claim(tasker_claimed_step ***out, size_t *out_count, tasker_client *client,
                       const tasker_claim_options *o)
{
	*out = NULL;
	*out_count = 0;
	char *handlers = NULL;
	int rc = check_options(o);
	if (!rc)
		rc = handler_param(&handlers, o);
	if (rc)
		return rc;
	claim_args a = {out, out_count, NULL, 0, pick_for(o->max_steps ? o->max_steps : 1), handlers, o};
	rc = claim_with(&a, client);
	free(handlers);
	return rc;
}

int tasker_steps_complete_and_claim(tasker_claimed_step ***out, size_t *out_count, tasker_client *client,
                                    tasker_step_result *results, size_t count, const tasker_claim_options *o)
{
	*out = NULL;
	*out_count = 0;
	char *handlers = NULL;
	int rc = check_options(o);
	if (!rc)
		rc = tcomplete_check_public(results, count);
	if (!rc)
		rc = handler_param(&handlers, o);
	if (rc)
		return rc;
	claim_args a = {out, out_count, results, count, o->max_steps > 0 ? pick_for(o->max_steps) : NULL, handlers, o};
	rc = claim_with(&a, client);
	free(handlers);
	if (!rc)
		tcomplete_report_conflicts(results, count);
	return rc;
}

int tasker_step_claim(tasker_claimed_step **out, tasker_client *client, int64_t step_id,
                      const tasker_claim_options *o)
{
	*out = NULL;
	int rc = check_options(o);
	if (rc)
		return rc;
	char b[24];
	tasker_claimed_step **arr = NULL;
	size_t n = 0;
	claim_args a = {&arr, &n, NULL, 0, &Q_PICK_ONE, tdb_fmt_i64(b, step_id), o};
	rc = claim_with(&a, client);
	if (!rc && n == 0)
		rc = tasker_set_error(TASKER_ENOTFOUND, "step %lld is not claimable now (not ready yet, already "
		                                        "claimed, or finished)", (long long)step_id);
	if (!rc)
		*out = arr[0];
	free(arr);
	return rc;
}

int tasker_step_extend_lease(tasker_client *client, int64_t step_id, int64_t claim_id, int lease_seconds)
{
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	char a[24], b[24], c[24];
	const char *p[] = {tdb_fmt_i64(a, step_id), tdb_fmt_i64(b, claim_id),
	                   tdb_fmt_i64(c, lease_seconds > 0 ? lease_seconds : 30)};
	PGresult *res;
	rc = tdb_exec(&res, db, &Q_EXTEND, 3, p, "extending a lease");
	if (!rc) {
		if (strcmp(PQcmdTuples(res), "1") != 0)
			rc = tasker_set_error(TASKER_ECONFLICT, "step %lld: the claim is no longer yours (its lease expired "
			                                        "and the step was recovered, or the task was cancelled)",
			                      (long long)step_id);
		PQclear(res);
	}
	tclient_release(client, db);
	return rc;
}

static const tdb_stmt Q_EXTEND_MANY = {
	"claim_extend_many",
	"UPDATE tasker_step_claims c SET lease_expires_at = " NOW_UTC " + $3::int * interval '1 second' "
	"FROM unnest($1::bigint[], $2::bigint[]) AS u(s, k) WHERE c.workflow_step_id = u.s AND c.claim_id = u.k"};

int tclaims_extend(tasker_client *client, const int64_t *step_ids, const int64_t *claim_ids, size_t n,
                   int lease_seconds)
{
	if (n == 0)
		return TASKER_OK;
	char *s = tid_array(step_ids, n), *c = tid_array(claim_ids, n);
	char l[24];
	int rc = (s && c) ? TASKER_OK : TASKER_ENOMEM;
	tdb *db = NULL;
	if (!rc)
		rc = tclient_acquire(client, &db);
	const char *p[] = {s, c, tdb_fmt_i64(l, lease_seconds)};
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_EXTEND_MANY, 3, p, "extending leases");
	if (db)
		tclient_release(client, db);
	free(s);
	free(c);
	return rc;
}
