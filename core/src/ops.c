/*
 * ops.c — operator actions on tasks and steps: cancel a task, resolve a step by hand, retry a failed
 * task. Each is one transaction that starts by locking the task row, like every state change, and then
 * the task's claims.
 *
 * Why the claims: a worker's successful completion (migration 0008) takes its claim row first (the
 * compare-and-swap), then step rows, and the task row last, only when the task may have finished. An
 * operator holding the task row that waited for such a claim (a cancel deleting the task's claims) or a
 * step row it holds would deadlock with it. So, with the task row held, the operator locks the task's
 * claims with SKIP LOCKED; a claim it cannot lock belongs to a completion in flight. Then it gives the
 * task row back (rolls back, nothing written), waits for that claim alone in a transaction that holds
 * nothing else, and starts again. Once every claim is locked no completion of the task can start, and
 * the steps' states are read by new statements (READ COMMITTED: they see what the completions before
 * committed).
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "progress.h"
#include "transition.h"
#include "util.h"


static const tdb_stmt Q_LOCK_TASK = {
	"ops_lock_task",
	"SELECT t.task_id FROM tasker_tasks t WHERE t.task_id = $1::bigint FOR NO KEY UPDATE"};
/* The task's claims, locked unless a completion holds one: returns one it could not lock, if any. */
static const tdb_stmt Q_LOCK_CLAIMS = {
	"ops_lock_claims",
	"WITH mine AS MATERIALIZED (SELECT c.workflow_step_id FROM tasker_step_claims c WHERE c.task_id = $1::bigint "
	"FOR UPDATE SKIP LOCKED) "
	"SELECT c.workflow_step_id FROM tasker_step_claims c WHERE c.task_id = $1::bigint "
	"AND c.workflow_step_id NOT IN (SELECT m.workflow_step_id FROM mine m) LIMIT 1"};
enum { LOCK_CLAIMS_STEP_ID };
/* Waits for the completion holding one claim (this statement's transaction holds no other lock). */
static const tdb_stmt Q_WAIT_CLAIM = {
	"ops_wait_claim",
	"SELECT 1 FROM tasker_step_claims WHERE workflow_step_id = $1::bigint FOR UPDATE"};
static const tdb_stmt Q_TASK_STATE = {
	"ops_task_state",
	"SELECT tt.to_state, tt.sort_key FROM tasker_task_transitions tt WHERE tt.task_id = $1::bigint "
	"AND tt.most_recent"};
enum { TASK_STATE_STATE, TASK_STATE_SORT_KEY };
static const tdb_stmt Q_STEPS = {
	"ops_steps",
	"SELECT s.workflow_step_id, tr.to_state, tr.sort_key, s.attempts, s.retry_limit, s.retryable "
	"FROM tasker_workflow_steps s " STEP_STATE_JOIN("tr", "s.workflow_step_id")
	"WHERE s.task_id = $1::bigint "
	"ORDER BY s.workflow_step_id"};
enum { STEPS_ID, STEPS_STATE, STEPS_SORT_KEY, STEPS_ATTEMPTS, STEPS_RETRY_LIMIT, STEPS_RETRYABLE };
static const tdb_stmt Q_STEP_TASK = {
	"ops_step_task", "SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1::bigint"};
enum { STEP_TASK_TASK_ID };
static const tdb_stmt Q_DROP_QUEUE = {
	"ops_drop_queue", "DELETE FROM tasker_ready_steps WHERE task_id = $1::bigint"};
static const tdb_stmt Q_DROP_CLAIMS = {
	"ops_drop_claims", "DELETE FROM tasker_step_claims WHERE task_id = $1::bigint"};
static const tdb_stmt Q_DROP_STEP_QUEUE = {
	"ops_drop_step_queue", "DELETE FROM tasker_ready_steps WHERE workflow_step_id = $1::bigint"};
static const tdb_stmt Q_RESOLVE = {
	"ops_resolve",
	"UPDATE tasker_workflow_steps SET processed = true, processed_at = " NOW_UTC ", in_process = false, "
	"results = COALESCE($2::jsonb, results), updated_at = " NOW_UTC " WHERE workflow_step_id = $1::bigint"};
static const tdb_stmt Q_REARM = {
	"ops_rearm",
	"UPDATE tasker_workflow_steps s SET attempts = CASE WHEN $2::bool THEN 0 ELSE s.attempts END, "
	"retryable = CASE WHEN $2::bool THEN COALESCE(l.default_retryable, true) ELSE s.retryable END, "
	"backoff_request_seconds = NULL, updated_at = " NOW_UTC " FROM tasker_tasks t "
	"LEFT JOIN tasker_named_tasks_named_steps l ON l.named_task_id = t.named_task_id "
	"WHERE s.workflow_step_id = ANY($1::bigint[]) AND t.task_id = s.task_id "
	"AND (l.named_step_id IS NULL OR l.named_step_id = s.named_step_id)"};

typedef struct {
	int64_t id;
	tasker_state state;
	int64_t sort_key;
	int had_row;
	int attempts, retry_limit, retryable;
} step_row;

typedef struct {
	tasker_state state;
	int64_t sort_key;
	int had_row;
	step_row *steps;
	size_t nsteps;
} task_snapshot;

/* An operator action: its argument, and the claim it found held by a completion in flight (0: none). */
typedef struct {
	int64_t busy_step;
	void *arg;
} op_call;

/* How often an action gives way to completions of its task before it reports them (each time one
 * completion finished while it waited, so this is only reached while workers keep completing). */
enum { OP_MAX_YIELDS = 1000 };

static int wait_claim_txn(tdb *db, tasker_client *client, void *arg)
{
	(void)client;
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, *(int64_t *)arg)};
	return tdb_exec(NULL, db, &Q_WAIT_CLAIM, 1, p, "waiting for a completion of the task");
}

/* Runs `fn` (which calls lock_and_read) in a transaction; while it finds a claim of its task held by a
 * completion, rolls back, waits for that completion and runs it again. */
static int op_run(tasker_client *client, int (*fn)(tdb *db, tasker_client *client, void *arg), void *arg,
                  const char *what)
{
	op_call call = {0, arg};
	for (int yields = 0;; yields++) {
		call.busy_step = 0;
		int rc = tclient_in_txn(client, fn, &call);
		if (!call.busy_step)
			return rc;
		if (yields == OP_MAX_YIELDS)
			return tasker_set_error(TASKER_ECONFLICT, "%s: steps of the task kept completing (step %lld still "
			                        "is); nothing was changed, try again", what, (long long)call.busy_step);
		if ((rc = tclient_in_txn(client, wait_claim_txn, &call.busy_step)))
			return rc;
	}
}

static int lock_and_read(task_snapshot *s, tdb *db, op_call *call, int64_t task_id)
{
	memset(s, 0, sizeof *s);
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, task_id)};
	PGresult *res;
	int rc = tdb_exec(&res, db, &Q_LOCK_TASK, 1, p, "locking the task");
	if (rc)
		return rc;
	int found = PQntuples(res) > 0;
	PQclear(res);
	if (!found)
		return tasker_set_error(TASKER_ENOTFOUND, "task %lld does not exist", (long long)task_id);
	if ((rc = tdb_exec(&res, db, &Q_LOCK_CLAIMS, 1, p, "locking the task's claims")))
		return rc;
	call->busy_step = PQntuples(res) > 0 ? tdb_get_i64(res, 0, LOCK_CLAIMS_STEP_ID, 0) : 0;
	PQclear(res);
	if (call->busy_step) /* rolled back by op_run, which waits for that completion and starts again */
		return tasker_set_error(TASKER_ECONFLICT, "task %lld: step %lld is being completed",
		                        (long long)task_id, (long long)call->busy_step);
	if ((rc = tdb_exec(&res, db, &Q_TASK_STATE, 1, p, "reading the task's state")))
		return rc;
	s->state = TASKER_STATE_PENDING;
	s->had_row = PQntuples(res) > 0;
	if (s->had_row) {
		tasker_state_parse(&s->state, tdb_get(res, 0, TASK_STATE_STATE));
		s->sort_key = tdb_get_i64(res, 0, TASK_STATE_SORT_KEY, 0);
	}
	PQclear(res);
	if ((rc = tdb_exec(&res, db, &Q_STEPS, 1, p, "reading the task's steps")))
		return rc;
	s->nsteps = (size_t)PQntuples(res);
	s->steps = calloc(s->nsteps + 1, sizeof *s->steps);
	if (!s->steps) {
		PQclear(res);
		return tasker_set_oom();
	}
	for (size_t i = 0; i < s->nsteps; i++) {
		step_row *r = &s->steps[i];
		int k = (int)i;
		r->id = tdb_get_i64(res, k, STEPS_ID, 0);
		r->state = TASKER_STATE_PENDING;
		if (tdb_get(res, k, STEPS_STATE))
			tasker_state_parse(&r->state, tdb_get(res, k, STEPS_STATE));
		r->had_row = !tdb_is_null(res, k, STEPS_SORT_KEY);
		r->sort_key = tdb_get_i64(res, k, STEPS_SORT_KEY, 0);
		r->attempts = (int)tdb_get_i64(res, k, STEPS_ATTEMPTS, 0);
		r->retry_limit = (int)tdb_get_i64(res, k, STEPS_RETRY_LIMIT, 3);
		r->retryable = tdb_get_bool(res, k, STEPS_RETRYABLE, 1);
	}
	PQclear(res);
	return TASKER_OK;
}

/* Writes a one-row task transition from the snapshot's state. */
static int move_task(tdb *db, int64_t task_id, task_snapshot *s, tasker_state to, const char *meta)
{
	ttrans_row row = {task_id, s->state, to, s->sort_key + 10, 1, meta};
	int rc = ttrans_bulk_write(db, TTRANS_TASK, &task_id, s->had_row ? 1 : 0, &row, 1);
	if (!rc) {
		s->state = to;
		s->sort_key += 10;
		s->had_row = 1;
	}
	return rc;
}

/* ---- cancel */

static int cancel_txn(tdb *db, tasker_client *client, void *arg)
{
	(void)client;
	op_call *call = arg;
	int64_t task_id = *(int64_t *)call->arg;
	task_snapshot s;
	int rc = lock_and_read(&s, db, call, task_id);
	if (!rc && !tasker_task_transition_event(s.state, TASKER_STATE_CANCELLED))
		rc = tasker_set_error(TASKER_ETRANSITION, "task %lld: transition %s → cancelled is not allowed",
		                      (long long)task_id, tasker_state_name(s.state));
	ttrans_row *rows = rc ? NULL : calloc(s.nsteps + 1, sizeof *rows);
	int64_t *cleared = rc ? NULL : calloc(s.nsteps + 1, sizeof *cleared);
	size_t n = 0, nc = 0;
	if (!rc && (!rows || !cleared))
		rc = tasker_set_oom();
	for (size_t i = 0; !rc && i < s.nsteps; i++) {
		step_row *r = &s.steps[i];
		/* pending and running steps are cancelled; failed steps keep their error (error → cancelled
		 * is not a transition of the step machine), finished ones their result */
		if (r->state != TASKER_STATE_PENDING && r->state != TASKER_STATE_IN_PROGRESS)
			continue;
		if (r->had_row)
			cleared[nc++] = r->id;
		rows[n++] = (ttrans_row){r->id, r->state, TASKER_STATE_CANCELLED, r->sort_key + 10, 1,
		                         "{\"reason\": \"task_cancelled\"}"};
	}
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, task_id)};
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_DROP_QUEUE, 1, p, "removing queued steps");
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_DROP_CLAIMS, 1, p, "revoking claims");
	if (!rc)
		rc = ttrans_bulk_write(db, TTRANS_STEP, cleared, nc, rows, n);
	if (!rc)
		rc = move_task(db, task_id, &s, TASKER_STATE_CANCELLED, "{\"reason\": \"cancelled\"}");
	free(rows);
	free(cleared);
	free(s.steps);
	return rc;
}

int tasker_task_cancel(tasker_client *client, int64_t task_id)
{
	return op_run(client, cancel_txn, &task_id, "cancelling the task");
}

/* ---- re-opening a failed task (retry, or a manual resolution that removed the last blocker) */

/* Failed steps go error → pending (attempts reset when `fresh`), the task error → pending, and every
 * step whose parents are done becomes claimable. */
static int reopen(tdb *db, treg *reg, int64_t task_id, task_snapshot *s, int fresh, const char *reason)
{
	ttrans_row *rows = calloc(s->nsteps + 1, sizeof *rows);
	int64_t *ids = calloc(s->nsteps + 1, sizeof *ids);
	size_t n = 0;
	int rc = (rows && ids) ? TASKER_OK : tasker_set_oom();
	tbuf arr;
	tbuf_init(&arr);
	tbuf_puts(&arr, "{");
	for (size_t i = 0; !rc && i < s->nsteps; i++) {
		step_row *r = &s->steps[i];
		if (r->state != TASKER_STATE_ERROR)
			continue;
		if (!fresh && (!r->retryable || (r->attempts > 0 && r->attempts >= r->retry_limit)))
			continue;
		tbuf_printf(&arr, "%s%lld", n ? "," : "", (long long)r->id);
		ids[n] = r->id;
		rows[n++] = (ttrans_row){r->id, TASKER_STATE_ERROR, TASKER_STATE_PENDING, r->sort_key + 10, 1, reason};
	}
	tbuf_puts(&arr, "}");
	char *a = rc ? NULL : tbuf_take(&arr);
	const char *p[] = {a, fresh ? "t" : "f"};
	if (!rc && !a)
		rc = TASKER_ENOMEM;
	if (!rc && n) {
		rc = tdb_exec(NULL, db, &Q_REARM, 2, p, "re-arming failed steps");
		if (!rc)
			rc = ttrans_bulk_write(db, TTRANS_STEP, ids, n, rows, n);
	}
	if (!rc)
		rc = move_task(db, task_id, s, TASKER_STATE_PENDING, reason);
	tqueue_batch ready;
	tqueue_batch_init(&ready);
	if (!rc)
		rc = tprogress_enqueue_task(db, reg, task_id, &ready);
	if (!rc)
		rc = tqueue_batch_write(db, &ready);
	if (!rc)
		rc = tprogress_finalize(db, &task_id, 1, NULL);
	tqueue_batch_free(&ready);
	tbuf_free(&arr);
	free(a);
	free(rows);
	free(ids);
	return rc;
}

static int retry_txn(tdb *db, tasker_client *client, void *arg)
{
	op_call *call = arg;
	int64_t task_id = *(int64_t *)call->arg;
	task_snapshot s;
	int rc = lock_and_read(&s, db, call, task_id);
	if (!rc && s.state != TASKER_STATE_ERROR)
		rc = tasker_set_error(TASKER_ETRANSITION, "task %lld is %s; only a task in error can be retried "
		                                          "(transition %s → pending is not allowed)",
		                      (long long)task_id, tasker_state_name(s.state), tasker_state_name(s.state));
	if (!rc)
		rc = reopen(db, tclient_registry(client), task_id, &s, 1, "{\"reason\": \"retry_requested\"}");
	free(s.steps);
	return rc;
}

int tasker_task_retry(tasker_client *client, int64_t task_id)
{
	return op_run(client, retry_txn, &task_id, "retrying the task");
}

/* ---- manual resolution */

typedef struct {
	int64_t step_id;
	const char *results_json;
} resolve_arg;

static int resolve_txn(tdb *db, tasker_client *client, void *arg)
{
	op_call *call = arg;
	resolve_arg *a = call->arg;
	char b[24];
	const char *sp[] = {tdb_fmt_i64(b, a->step_id)};
	PGresult *res;
	int rc = tdb_exec(&res, db, &Q_STEP_TASK, 1, sp, "finding the step's task");
	if (rc)
		return rc;
	int found = PQntuples(res) > 0;
	int64_t task_id = found ? tdb_get_i64(res, 0, STEP_TASK_TASK_ID, 0) : 0;
	PQclear(res);
	if (!found)
		return tasker_set_error(TASKER_ENOTFOUND, "workflow step %lld does not exist", (long long)a->step_id);
	task_snapshot s;
	rc = lock_and_read(&s, db, call, task_id);
	step_row *r = NULL;
	for (size_t i = 0; !rc && i < s.nsteps; i++)
		if (s.steps[i].id == a->step_id)
			r = &s.steps[i];
	if (!rc && !r)
		rc = tasker_set_error(TASKER_ENOTFOUND, "workflow step %lld does not exist", (long long)a->step_id);
	if (!rc && !tasker_step_transition_event(r->state, TASKER_STATE_RESOLVED_MANUALLY))
		rc = tasker_set_error(TASKER_ETRANSITION, "workflow step %lld: transition %s → resolved_manually is not "
		                                          "allowed", (long long)a->step_id, tasker_state_name(r->state));
	const char *rp[] = {sp[0], a->results_json};
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_RESOLVE, 2, rp, "resolving the step");
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_DROP_STEP_QUEUE, 1, sp, "removing the step from the queue");
	ttrans_row row = {a->step_id, r ? r->state : TASKER_STATE_PENDING, TASKER_STATE_RESOLVED_MANUALLY,
	                  r ? r->sort_key + 10 : 10, 1, "{\"reason\": \"resolved_manually\"}"};
	if (!rc)
		rc = ttrans_bulk_write(db, TTRANS_STEP, &a->step_id, r->had_row ? 1 : 0, &row, 1);
	if (!rc) {
		r->state = TASKER_STATE_RESOLVED_MANUALLY;
		int blocked = 0;
		for (size_t i = 0; i < s.nsteps; i++) {
			step_row *o = &s.steps[i];
			blocked += o->state == TASKER_STATE_ERROR &&
			           (!o->retryable || (o->attempts > 0 && o->attempts >= o->retry_limit));
		}
		treg *reg = tclient_registry(client);
		if (s.state == TASKER_STATE_ERROR && !blocked) {
			rc = reopen(db, reg, task_id, &s, 0, "{\"reason\": \"step_resolved_manually\"}");
		} else if (s.state == TASKER_STATE_PENDING || s.state == TASKER_STATE_IN_PROGRESS) {
			tqueue_batch ready;
			tqueue_batch_init(&ready);
			rc = tprogress_children(db, reg, &a->step_id, 1, &ready);
			if (!rc)
				rc = tqueue_batch_write(db, &ready);
			if (!rc)
				rc = tprogress_finalize(db, &task_id, 1, NULL);
			tqueue_batch_free(&ready);
		}
	}
	free(s.steps);
	return rc;
}

int tasker_step_resolve(tasker_client *client, int64_t step_id, const char *results_json)
{
	if (results_json) {
		cJSON *doc = tjson_parse(results_json, "resolution results");
		if (!doc)
			return TASKER_EJSON;
		cJSON_Delete(doc);
	}
	resolve_arg a = {step_id, results_json};
	return op_run(client, resolve_txn, &a, "resolving the step");
}
