/*
 * progress.c — see progress.h. Decides from rows read inside the caller's transaction; never takes
 * locks of its own (the caller holds the task locks) and never commits.
 */
#include "progress.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "events.h"
#include "transition.h"
#include "util.h"


/* Whether step c is queued (rq.x) or claimed (kq.x): a LATERAL probe of at most one row by primary key
 * per step, never a hashed scan of the queue tables (whose heaps hold many dead rows between vacuums,
 * and whose plan, made when they were small, would be kept). */
#define QUEUED_JOIN                                                                                     \
	"LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_ready_steps r WHERE r.workflow_step_id = c.workflow_step_id " \
	"LIMIT 1) rq ON true LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_step_claims k "                     \
	"WHERE k.workflow_step_id = c.workflow_step_id LIMIT 1) kq ON true "

/* One row per (child, parent) of the children of $1. */
static const tdb_stmt Q_CHILDREN = {
	"progress_children",
	/* The children first (materialized: a few rows, then a primary-key probe each), found by one fenced
	 * (OFFSET 0) LATERAL index probe of the edges per completed step. As a semi-join the generic plan
	 * made on a new database walked every step of the table and merged (275 ms at 10,000 steps). */
	"WITH kids AS MATERIALIZED (SELECT DISTINCT e.to_step_id AS id FROM unnest($1::bigint[]) AS p(id) "
	"CROSS JOIN LATERAL (SELECT x.to_step_id FROM tasker_workflow_step_edges x WHERE x.from_step_id = p.id OFFSET 0) e) "
	"SELECT c.workflow_step_id, c.task_id, c.named_step_id, ns.name, ctr.to_state, ctr.sort_key, c.processed, "
	"t.named_task_id, t.bypass_steps::text, tt.to_state, ptr.to_state, "
	"rq.x IS NOT NULL OR kq.x IS NOT NULL, "
	"e.from_step_id FROM kids JOIN tasker_workflow_steps c ON c.workflow_step_id = kids.id "
	"JOIN tasker_named_steps ns ON ns.named_step_id = c.named_step_id " QUEUED_JOIN
	"JOIN tasker_tasks t ON t.task_id = c.task_id "
	TASK_STATE_JOIN("tt", "t.task_id")
	STEP_STATE_JOIN("ctr", "c.workflow_step_id")
	"LEFT JOIN tasker_workflow_step_edges e ON e.to_step_id = c.workflow_step_id "
	STEP_STATE_JOIN("ptr", "e.from_step_id")
	"ORDER BY c.workflow_step_id"};
/* The same shape for every unprocessed step of one task. */
static const tdb_stmt Q_TASK_STEPS = {
	"progress_task_steps",
	"SELECT c.workflow_step_id, c.task_id, c.named_step_id, ns.name, ctr.to_state, ctr.sort_key, c.processed, "
	"t.named_task_id, t.bypass_steps::text, tt.to_state, ptr.to_state, "
	"rq.x IS NOT NULL OR kq.x IS NOT NULL, "
	"e.from_step_id FROM tasker_workflow_steps c "
	"JOIN tasker_named_steps ns ON ns.named_step_id = c.named_step_id " QUEUED_JOIN
	"JOIN tasker_tasks t ON t.task_id = c.task_id "
	TASK_STATE_JOIN("tt", "t.task_id")
	STEP_STATE_JOIN("ctr", "c.workflow_step_id")
	"LEFT JOIN tasker_workflow_step_edges e ON e.to_step_id = c.workflow_step_id "
	STEP_STATE_JOIN("ptr", "e.from_step_id")
	"WHERE c.task_id = $1::bigint AND c.processed = false ORDER BY c.workflow_step_id"};
/* The columns of Q_CHILDREN and Q_TASK_STEPS. */
enum {
	STEP_ID, STEP_TASK_ID, STEP_NAMED_STEP_ID, STEP_NAME, STEP_STATE, STEP_SORT_KEY, STEP_PROCESSED,
	STEP_NAMED_TASK_ID, STEP_BYPASS_STEPS, STEP_TASK_STATE, STEP_PARENT_STATE, STEP_QUEUED_OR_CLAIMED,
	STEP_PARENT_ID
};
static const tdb_stmt Q_RESOLVE_BYPASSED = {
	"progress_resolve_bypassed",
	"UPDATE tasker_workflow_steps SET processed = true, processed_at = " NOW_UTC ", in_process = false, "
	"results = '{\"bypassed\": true}'::jsonb, updated_at = " NOW_UTC " WHERE workflow_step_id = ANY($1::bigint[])"};
static const tdb_stmt Q_FINISHED_TASKS = {
	"progress_finished_tasks",
	"SELECT t.task_id, tt.to_state, tt.sort_key FROM tasker_tasks t " TASK_STATE_JOIN("tt", "t.task_id")
	"WHERE t.task_id = ANY($1::bigint[]) AND NOT t.complete "
	"AND NOT EXISTS (SELECT 1 FROM tasker_workflow_steps s WHERE s.task_id = t.task_id AND s.processed = false)"};
enum { FINISHED_TASK_ID, FINISHED_STATE, FINISHED_SORT_KEY };
static const tdb_stmt Q_MARK_COMPLETE = {
	"progress_mark_complete",
	"UPDATE tasker_tasks SET complete = true, updated_at = " NOW_UTC " WHERE task_id = ANY($1::bigint[])"};
static const tdb_stmt Q_TASK_STATE = {
	"progress_task_state",
	"SELECT tt.to_state, tt.sort_key FROM tasker_tasks t " TASK_STATE_JOIN("tt", "t.task_id")
	"WHERE t.task_id = $1::bigint"};
enum { TASK_STATE, TASK_SORT_KEY };
static const tdb_stmt Q_UNQUEUE_TASK = {
	"progress_unqueue_task", "DELETE FROM tasker_ready_steps WHERE task_id = $1::bigint"};


static int is_done(const char *state)
{
	return state && (strcmp(state, "complete") == 0 || strcmp(state, "resolved_manually") == 0);
}

static int bypass_listed(const char *bypass_json, const char *name)
{
	if (!bypass_json)
		return 0;
	cJSON *arr = cJSON_Parse(bypass_json);
	int found = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0) found = 1;
	cJSON_Delete(arr);
	return found;
}

typedef struct {
	int64_t *ids;
	ttrans_row *trans;
	int64_t *cleared;
	size_t n, ncleared;
} bypass_set;

/* Walks candidate rows (one per child and parent, ordered by child): enqueues children whose
 * parents are all done, collects bypassed ones into `byp`. */
static int decide(PGresult *res, tdb *db, treg *reg, tqueue_batch *ready, bypass_set *byp)
{
	int n = PQntuples(res);
	for (int r = 0; r < n;) {
		int first = r;
		int64_t child = tdb_get_i64(res, r, STEP_ID, 0);
		int all_done = 1;
		/* one row per parent; a root has one row with no parent */
		for (; r < n && tdb_get_i64(res, r, STEP_ID, 0) == child; r++)
			if (!tdb_is_null(res, r, STEP_PARENT_ID))
				all_done &= is_done(tdb_get(res, r, STEP_PARENT_STATE));
		const char *cstate = tdb_get(res, first, STEP_STATE);
		const char *tstate = tdb_get(res, first, STEP_TASK_STATE);
		int task_open = !tstate || strcmp(tstate, "pending") == 0 || strcmp(tstate, "in_progress") == 0;
		int pending = !cstate || strcmp(cstate, "pending") == 0;
		if (!all_done || !pending || !task_open || tdb_get_bool(res, first, STEP_PROCESSED, 0) ||
		    tdb_get_bool(res, first, STEP_QUEUED_OR_CLAIMED, 0))
			continue;
		for (size_t k = 0; k < ready->count; k++)
			if (ready->step_ids[k] == child)
				all_done = 0;
		for (size_t k = 0; k < byp->n; k++)
			if (byp->ids[k] == child)
				all_done = 0;
		if (!all_done)
			continue;
		const char *name = tdb_get(res, first, STEP_NAME);
		if (bypass_listed(tdb_get(res, first, STEP_BYPASS_STEPS), name)) {
			int64_t sort_key = tdb_get_i64(res, first, STEP_SORT_KEY, 0);
			if (!tdb_is_null(res, first, STEP_SORT_KEY))
				byp->cleared[byp->ncleared++] = child;
			byp->trans[byp->n] = (ttrans_row){child, TASKER_STATE_PENDING, TASKER_STATE_RESOLVED_MANUALLY,
			                                  sort_key + 10, 1, "{\"bypassed\": true}"};
			byp->ids[byp->n++] = child;
			continue;
		}
		const treg_entry *e;
		int rc = treg_lookup_id(&e, reg, db, (int32_t)tdb_get_i64(res, first, STEP_NAMED_TASK_ID, 0));
		if (rc)
			return rc;
		int idx = treg_step_index(e, (int32_t)tdb_get_i64(res, first, STEP_NAMED_STEP_ID, 0));
		if (idx < 0)
			return tasker_set_error(TASKER_ETEMPLATE, "step \"%s\" of task %lld is not in template %s", name,
			                        (long long)tdb_get_i64(res, first, STEP_TASK_ID, 0), e->full_name);
		tqueue_batch_add(ready, child, tdb_get_i64(res, first, STEP_TASK_ID, 0), e->tpl->steps[idx].handler_class, 0);
	}
	return ready->oom ? tasker_set_oom() : TASKER_OK;
}

static int resolve_bypassed(tdb *db, bypass_set *b)
{
	char *ids = tid_array(b->ids, b->n);
	if (!ids)
		return TASKER_ENOMEM;
	const char *p[] = {ids};
	int rc = tdb_exec(NULL, db, &Q_RESOLVE_BYPASSED, 1, p, "resolving bypassed steps");
	free(ids);
	if (!rc)
		rc = ttrans_bulk_write(db, TTRANS_STEP, b->cleared, b->ncleared, b->trans, b->n);
	return rc;
}

/* Runs a candidate query, then repeats on the children of bypassed steps until none are left. */
static int run(tdb *db, treg *reg, const tdb_stmt *first_q, const char *first_param, tqueue_batch *ready)
{
	const tdb_stmt *q = first_q;
	char *param = tstrdup(first_param);
	int rc = param ? TASKER_OK : TASKER_ENOMEM;
	while (!rc) {
		PGresult *res;
		const char *p[] = {param};
		if ((rc = tdb_exec(&res, db, q, 1, p, "examining steps that may have become ready")))
			break;
		size_t cap = (size_t)PQntuples(res) + 1;
		bypass_set b = {calloc(cap, sizeof(int64_t)), calloc(cap, sizeof(ttrans_row)), calloc(cap, sizeof(int64_t)),
		                0, 0};
		rc = (b.ids && b.trans && b.cleared) ? decide(res, db, reg, ready, &b) : tasker_set_oom();
		PQclear(res);
		if (!rc && b.n)
			rc = resolve_bypassed(db, &b);
		free(param);
		param = NULL;
		if (!rc && b.n) {
			param = tid_array(b.ids, b.n);
			q = &Q_CHILDREN;
			if (!param)
				rc = TASKER_ENOMEM;
		}
		free(b.ids);
		free(b.trans);
		free(b.cleared);
		if (!param)
			break;
	}
	free(param);
	return rc;
}

int tprogress_children(tdb *db, treg *reg, const int64_t *done, size_t n, tqueue_batch *ready)
{
	if (n == 0)
		return TASKER_OK;
	char *ids = tid_array(done, n);
	if (!ids)
		return TASKER_ENOMEM;
	int rc = run(db, reg, &Q_CHILDREN, ids, ready);
	free(ids);
	return rc;
}

int tprogress_enqueue_task(tdb *db, treg *reg, int64_t task_id, tqueue_batch *ready)
{
	char b[24];
	return run(db, reg, &Q_TASK_STEPS, tdb_fmt_i64(b, task_id), ready);
}

/* Appends the transitions that take a task from `from` to complete along allowed edges
 * (error → pending → in_progress → complete); returns how many. */
static size_t complete_path(ttrans_row *rows, int64_t task_id, tasker_state from, int64_t sort_key)
{
	tasker_state chain[4];
	size_t n = 0;
	chain[n++] = from;
	if (from == TASKER_STATE_ERROR)
		chain[n++] = TASKER_STATE_PENDING;
	if (from != TASKER_STATE_IN_PROGRESS)
		chain[n++] = TASKER_STATE_IN_PROGRESS;
	chain[n++] = TASKER_STATE_COMPLETE;
	for (size_t i = 1; i < n; i++)
		rows[i - 1] = (ttrans_row){task_id, chain[i - 1], chain[i], sort_key + 10 * (int64_t)i, i == n - 1, NULL};
	return n - 1;
}

int tprogress_finalize(tdb *db, const int64_t *task_ids, size_t n, int *out_completed)
{
	if (out_completed)
		*out_completed = 0;
	if (n == 0)
		return TASKER_OK;
	char *ids = tid_array(task_ids, n);
	if (!ids)
		return TASKER_ENOMEM;
	const char *p[] = {ids};
	PGresult *res;
	int rc = tdb_exec(&res, db, &Q_FINISHED_TASKS, 1, p, "finding finished tasks");
	free(ids);
	if (rc)
		return rc;
	size_t m = (size_t)PQntuples(res);
	ttrans_row *rows = calloc(3 * m + 1, sizeof *rows);
	int64_t *done = calloc(m + 1, sizeof *done), *cleared = calloc(m + 1, sizeof *cleared);
	size_t nrows = 0, ndone = 0, ncleared = 0;
	rc = (rows && done && cleared) ? TASKER_OK : tasker_set_oom();
	for (size_t i = 0; !rc && i < m; i++) {
		tasker_state st = TASKER_STATE_PENDING;
		if (tdb_get(res, (int)i, FINISHED_STATE))
			tasker_state_parse(&st, tdb_get(res, (int)i, FINISHED_STATE));
		if (st != TASKER_STATE_PENDING && st != TASKER_STATE_IN_PROGRESS && st != TASKER_STATE_ERROR)
			continue;
		int64_t id = tdb_get_i64(res, (int)i, FINISHED_TASK_ID, 0);
		if (!tdb_is_null(res, (int)i, 2))
			cleared[ncleared++] = id;
		nrows += complete_path(rows + nrows, id, st, tdb_get_i64(res, (int)i, FINISHED_SORT_KEY, 0));
		done[ndone++] = id;
		tevents_task_finalizing(db, id);
	}
	PQclear(res);
	char *dids = rc ? NULL : tid_array(done, ndone);
	const char *dp[] = {dids};
	if (!rc && ndone) {
		rc = dids ? ttrans_bulk_write(db, TTRANS_TASK, cleared, ncleared, rows, nrows) : TASKER_ENOMEM;
		if (!rc)
			rc = tdb_exec(NULL, db, &Q_MARK_COMPLETE, 1, dp, "marking tasks complete");
		if (!rc)
			tevents_task_finalized(db, done, ndone, TASKER_STATE_COMPLETE, NULL, NULL);
	}
	if (!rc && out_completed)
		*out_completed = (int)ndone;
	free(dids);
	free(rows);
	free(done);
	free(cleared);
	return rc;
}

int tprogress_fail_task(tdb *db, int64_t task_id, const char *step_name, const char *reason)
{
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, task_id)};
	PGresult *res;
	int rc = tdb_exec(&res, db, &Q_TASK_STATE, 1, p, "reading the task's state");
	if (rc)
		return rc;
	tasker_state st = TASKER_STATE_PENDING;
	if (PQntuples(res) && tdb_get(res, 0, TASK_STATE))
		tasker_state_parse(&st, tdb_get(res, 0, TASK_STATE));
	int had_row = PQntuples(res) && !tdb_is_null(res, 0, TASK_SORT_KEY);
	int64_t sort_key = PQntuples(res) ? tdb_get_i64(res, 0, TASK_SORT_KEY, 0) : 0;
	PQclear(res);
	if (st != TASKER_STATE_PENDING && st != TASKER_STATE_IN_PROGRESS)
		return TASKER_OK; /* already failed, finished or cancelled */
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "reason", reason);
	if (step_name)
		cJSON_AddStringToObject(meta, "step", step_name);
	char *m = tjson_print(meta);
	cJSON_Delete(meta);
	if (!m)
		return TASKER_ENOMEM;
	ttrans_row row = {task_id, st, TASKER_STATE_ERROR, sort_key + 10, 1, m};
	tevents_task_finalizing(db, task_id);
	rc = ttrans_bulk_write(db, TTRANS_TASK, &task_id, had_row ? 1 : 0, &row, 1);
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_UNQUEUE_TASK, 1, p, "removing the failed task's queued steps");
	if (!rc)
		tevents_task_finalized(db, &task_id, 1, TASKER_STATE_ERROR, reason, step_name);
	free(m);
	return rc;
}
