/*
 * complete.c — records the outcome of claimed steps (tasker_steps_complete) in one transaction:
 * task locks first (task_id order), the claim as compare-and-swap token, step rows and transitions,
 * attempts and backoff for failures, then progress.c makes the children claimable and finalizes
 * tasks in the same transaction. Results that are not valid JSON are refused before anything is
 * written.
 */
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "client.h"
#include "complete.h"
#include "error.h"
#include "events.h"
#include "progress.h"
#include "queue.h"
#include "transition.h"
#include "util.h"


/* The steps' task ids come from the step rows (a primary-key probe per step whatever the statistics
 * say), not from the claims: a queue table's statistics are often those of a few rows while its heap
 * holds many dead ones, and a generic plan made from them scans it. */
static const tdb_stmt Q_LOCK_TASKS = {
	"complete_lock_tasks",
	"SELECT t.task_id FROM tasker_tasks t WHERE t.task_id IN (SELECT s.task_id FROM tasker_workflow_steps s "
	"WHERE s.workflow_step_id = ANY($1::bigint[])) ORDER BY t.task_id FOR NO KEY UPDATE OF t"};
/* Releases the claims presented (the compare-and-swap: a claim id that is no longer there marks a late
 * result) and reads the steps, in one statement run after the task locks are held. */
static const tdb_stmt Q_RELEASE_READ = {
	"complete_release_read",
	"WITH released AS (DELETE FROM tasker_step_claims c USING unnest($1::bigint[], $2::bigint[]) AS u(s, k) "
	"WHERE c.workflow_step_id = u.s AND c.claim_id = u.k RETURNING c.workflow_step_id) "
	"SELECT s.workflow_step_id, s.task_id, ns.name, tr.to_state, tr.sort_key, s.attempts, s.retry_limit, "
	"s.retryable, tt.to_state, s.named_step_id, t.named_task_id, "
	"EXISTS (SELECT 1 FROM released r WHERE r.workflow_step_id = s.workflow_step_id) "
	"FROM tasker_workflow_steps s "
	"JOIN tasker_tasks t ON t.task_id = s.task_id "
	"JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id "
	STEP_STATE_JOIN("tr", "s.workflow_step_id")
	TASK_STATE_JOIN("tt", "s.task_id")
	"WHERE s.workflow_step_id = ANY($1::bigint[])"};
/* The columns of Q_RELEASE_READ: the step's, its task's state, its ids, and whether its claim was released. */
enum {
	RELEASE_STEP_ID, RELEASE_TASK_ID, RELEASE_NAME, RELEASE_STATE, RELEASE_SORT_KEY, RELEASE_ATTEMPTS,
	RELEASE_RETRY_LIMIT, RELEASE_RETRYABLE, RELEASE_TASK_STATE, RELEASE_NAMED_STEP_ID, RELEASE_NAMED_TASK_ID,
	RELEASE_RELEASED
};
static const tdb_stmt Q_SUCCEED = {
	"complete_succeed",
	"UPDATE tasker_workflow_steps s SET processed = true, processed_at = " NOW_UTC ", in_process = false, "
	"attempts = COALESCE(s.attempts, 0) + 1, last_attempted_at = " NOW_UTC ", backoff_request_seconds = NULL, "
	"results = u.r, updated_at = " NOW_UTC " FROM unnest($1::bigint[], $2::jsonb[]) AS u(id, r) "
	"WHERE s.workflow_step_id = u.id"};
static const tdb_stmt Q_RELEASE = {
	"complete_release",
	"UPDATE tasker_workflow_steps SET in_process = false, updated_at = " NOW_UTC
	" WHERE workflow_step_id = ANY($1::bigint[])"};
static const tdb_stmt Q_FAIL = {
	"complete_fail",
	"UPDATE tasker_workflow_steps s SET processed = false, in_process = false, "
	"attempts = COALESCE(s.attempts, 0) + 1, last_attempted_at = " NOW_UTC ", backoff_request_seconds = u.b, "
	"retryable = s.retryable AND u.k, results = CASE WHEN jsonb_typeof(s.results) = 'object' "
	"THEN s.results || u.e ELSE u.e END, updated_at = " NOW_UTC
	" FROM unnest($1::bigint[], $2::jsonb[], $3::int[], $4::bool[]) AS u(id, e, b, k) "
	"WHERE s.workflow_step_id = u.id"};

/* The completion of a batch of successes in one statement (migration 0007): the task locks, the claims'
 * compare-and-swap, the step rows and transitions, the children made claimable (with the wake-up) and the
 * finished tasks, in the order of the path below; its rows say what it did, for the events. */
static const tdb_stmt Q_COMPLETE_SUCCESSES = {
	"complete_successes",
	"SELECT ev_kind, ev_id, ev_task, ev_from, ev_to, ev_info "
	"FROM tasker_core_complete_successes($1::bigint[], $2::bigint[], $3::jsonb[])"};
enum { EV_KIND, EV_ID, EV_TASK, EV_FROM, EV_TO, EV_INFO }; /* the columns of Q_COMPLETE_SUCCESSES */

/* Per result: what we know after the reads. */
typedef struct {
	tasker_step_result *res;
	int64_t task_id;
	const char *name;
	tasker_state state;
	int64_t sort_key;
	int had_row;
	int attempts, retry_limit, retryable;
	int task_open;
	int32_t named_step_id, named_task_id;
	int valid;              /* claim confirmed and state in_progress */
	int retry;              /* failure that will be retried */
	int delay_seconds;
	char *error_json;       /* failures: the object merged into results */
	char *meta;             /* transition metadata */
} item;

static char *id_array_items(const item *it, size_t n, int (*keep)(const item *), int claim)
{
	tbuf b;
	tbuf_init(&b);
	tbuf_puts(&b, "{");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!keep || keep(&it[i]))
			tbuf_printf(&b, "%s%lld", k++ ? "," : "",
			            (long long)(claim ? it[i].res->claim_id : it[i].res->workflow_step_id));
	tbuf_puts(&b, "}");
	return tbuf_take(&b);
}

static int status_ok(const item *i) { return i->res->status == TASKER_OK; }
static int is_success(const item *i) { return i->valid && i->res->outcome == TASKER_OUTCOME_SUCCESS; }
static int is_release(const item *i) { return i->valid && (int)i->res->outcome == TOUTCOME_RELEASE; }
static int is_failure(const item *i)
{
	return i->valid && i->res->outcome != TASKER_OUTCOME_SUCCESS && !is_release(i);
}

/* Checks a result's JSON before any write; builds the error object of failures. */
static int validate(item *it)
{
	tasker_step_result *r = it->res;
	if (r->outcome == TASKER_OUTCOME_SUCCESS) {
		cJSON *doc = r->results_json ? tjson_parse(r->results_json, "step result") : cJSON_CreateNull();
		int ok = doc != NULL;
		cJSON_Delete(doc);
		return ok ? TASKER_OK : TASKER_EJSON;
	}
	if ((int)r->outcome == TOUTCOME_RELEASE)
		return TASKER_OK;
	if (r->outcome != TASKER_OUTCOME_RETRYABLE && r->outcome != TASKER_OUTCOME_PERMANENT &&
	    (int)r->outcome != TOUTCOME_LEASE_EXPIRED)
		return tasker_set_error(TASKER_EINVAL, "step %lld: unknown outcome %d", (long long)r->workflow_step_id,
		                        (int)r->outcome);
	cJSON *details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "error_message", r->error_message ? r->error_message : "step failed");
	cJSON_AddStringToObject(details, "error_class", r->error_class ? r->error_class : "StepError");
	if (r->error_code)
		cJSON_AddStringToObject(details, "error_code", r->error_code);
	if (r->retry_after >= 0)
		cJSON_AddNumberToObject(details, "retry_after", r->retry_after);
	cJSON_AddBoolToObject(details, "permanent", r->outcome == TASKER_OUTCOME_PERMANENT);
	const char *parts[2][2] = {{"error_context", r->error_context_json}, {"backtrace", r->backtrace_json}};
	for (int k = 0; k < 2; k++) {
		if (!parts[k][1])
			continue;
		cJSON *v = tjson_parse(parts[k][1], k ? "step failure backtrace" : "step failure context");
		if (!v) {
			cJSON_Delete(details);
			return TASKER_EJSON;
		}
		cJSON_AddItemToObject(details, parts[k][0], v);
	}
	cJSON *err = cJSON_CreateObject();
	cJSON_AddBoolToObject(err, "error", 1);
	cJSON_AddItemToObject(err, "error_details", details);
	it->error_json = tjson_print(err);
	cJSON_Delete(err);
	return it->error_json ? TASKER_OK : TASKER_ENOMEM;
}

/* Releases the claims and reads the steps (Q_RELEASE_READ); an item whose claim was released is valid. */
static int release_and_read(tdb *db, item *items, size_t n)
{
	char *ids = id_array_items(items, n, status_ok, 0), *claims = id_array_items(items, n, status_ok, 1);
	const char *p[] = {ids, claims};
	PGresult *res = NULL;
	int rc = (ids && claims) ? tdb_exec(&res, db, &Q_RELEASE_READ, 2, p, "releasing claims and reading the steps")
	                         : TASKER_ENOMEM;
	free(ids);
	free(claims);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t sid = tdb_get_i64(res, r, RELEASE_STEP_ID, 0);
		for (size_t i = 0; i < n; i++) {
			item *it = &items[i];
			if (it->res->workflow_step_id != sid || it->res->status != TASKER_OK)
				continue;
			it->task_id = tdb_get_i64(res, r, RELEASE_TASK_ID, 0);
			it->name = tdb_get(res, r, RELEASE_NAME);
			it->state = TASKER_STATE_PENDING;
			if (tdb_get(res, r, RELEASE_STATE))
				tasker_state_parse(&it->state, tdb_get(res, r, RELEASE_STATE));
			it->had_row = !tdb_is_null(res, r, RELEASE_SORT_KEY);
			it->sort_key = tdb_get_i64(res, r, RELEASE_SORT_KEY, 0);
			it->attempts = (int)tdb_get_i64(res, r, RELEASE_ATTEMPTS, 0);
			it->retry_limit = (int)tdb_get_i64(res, r, RELEASE_RETRY_LIMIT, 3);
			it->retryable = tdb_get_bool(res, r, RELEASE_RETRYABLE, 1);
			const char *ts = tdb_get(res, r, RELEASE_TASK_STATE);
			it->task_open = !ts || !strcmp(ts, "pending") || !strcmp(ts, "in_progress");
			it->named_step_id = (int32_t)tdb_get_i64(res, r, RELEASE_NAMED_STEP_ID, 0);
			it->named_task_id = (int32_t)tdb_get_i64(res, r, RELEASE_NAMED_TASK_ID, 0);
			it->valid = tdb_get_bool(res, r, RELEASE_RELEASED, 0);
			it->name = tstrdup(it->name);
		}
	}
	PQclear(res);
	return TASKER_OK;
}

/* Decides retry or not for each failure and builds transition metadata. */
static void plan_items(item *items, size_t n, const tasker_config *cfg, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++) {
		item *it = &items[i];
		if (!it->valid)
			continue;
		tasker_step_result *r = it->res;
		int attempt = it->attempts + 1;
		cJSON *m = cJSON_CreateObject();
		cJSON_AddNumberToObject(m, "attempt", attempt);
		if (r->outcome == TASKER_OUTCOME_SUCCESS) {
			r->new_state = TASKER_STATE_COMPLETE;
		} else if ((int)r->outcome == TOUTCOME_RELEASE) {
			/* in_progress → error → pending: the step is waiting again, not failed (a step may not
			 * go back to pending directly, and a Rails reader must not see a failure) */
			r->new_state = TASKER_STATE_PENDING;
			it->retry = 1;
			it->delay_seconds = 0;
			cJSON_ReplaceItemInObject(m, "attempt", cJSON_CreateNumber(it->attempts));
			cJSON_AddStringToObject(m, "reason", "released by a stopping worker; no attempt counted");
		} else {
			r->new_state = TASKER_STATE_ERROR;
			/* retry_limit counts total attempts; a permanent error or a non-retryable step never retries */
			it->retry = r->outcome != TASKER_OUTCOME_PERMANENT && it->retryable && attempt < it->retry_limit;
			if (it->retry)
				it->delay_seconds = tbackoff_for_failure(cfg, attempt, r->retry_after, rng);
			cJSON_AddStringToObject(m, "error_class", r->error_class ? r->error_class : "StepError");
			cJSON_AddStringToObject(m, "error_message", r->error_message ? r->error_message : "step failed");
			cJSON_AddBoolToObject(m, "will_retry", it->retry);
			if (it->retry)
				cJSON_AddNumberToObject(m, "backoff_seconds", it->delay_seconds);
		}
		it->meta = tjson_print(m);
		cJSON_Delete(m);
	}
}

static int write_steps(tdb *db, item *items, size_t n)
{
	tbuf sid, res, fid, err, bo, keep;
	tbuf *all[] = {&sid, &res, &fid, &err, &bo, &keep};
	for (int k = 0; k < 6; k++) {
		tbuf_init(all[k]);
		tbuf_puts(all[k], "{");
	}
	size_t ns = 0, nf = 0;
	for (size_t i = 0; i < n; i++) {
		item *it = &items[i];
		if (is_success(it)) {
			const char *sep = ns++ ? "," : "";
			tbuf_printf(&sid, "%s%lld", sep, (long long)it->res->workflow_step_id);
			tbuf_puts(&res, sep);
			tbuf_array_elem(&res, it->res->results_json ? it->res->results_json : "null");
		} else if (is_failure(it)) {
			const char *sep = nf++ ? "," : "";
			tbuf_printf(&fid, "%s%lld", sep, (long long)it->res->workflow_step_id);
			tbuf_puts(&err, sep);
			tbuf_array_elem(&err, it->error_json);
			if (it->retry)
				tbuf_printf(&bo, "%s%d", sep, it->delay_seconds);
			else
				tbuf_printf(&bo, "%sNULL", sep);
			tbuf_printf(&keep, "%s%s", sep, it->res->outcome == TASKER_OUTCOME_PERMANENT ? "f" : "t");
		}
	}
	int rc = TASKER_OK;
	for (int k = 0; k < 6; k++) {
		tbuf_puts(all[k], "}");
		if (all[k]->oom)
			rc = tasker_set_oom();
	}
	char *rel = id_array_items(items, n, is_release, 0);
	if (!rc && !rel)
		rc = TASKER_ENOMEM;
	const char *rp[] = {rel};
	if (!rc && strcmp(rel, "{}") != 0)
		rc = tdb_exec(NULL, db, &Q_RELEASE, 1, rp, "releasing claimed steps");
	free(rel);
	const char *sp[] = {sid.data, res.data};
	const char *fp[] = {fid.data, err.data, bo.data, keep.data};
	if (!rc && ns)
		rc = tdb_exec(NULL, db, &Q_SUCCEED, 2, sp, "recording step results");
	if (!rc && nf)
		rc = tdb_exec(NULL, db, &Q_FAIL, 4, fp, "recording step failures");
	for (int k = 0; k < 6; k++)
		tbuf_free(all[k]);
	return rc;
}

static int write_transitions(tdb *db, item *items, size_t n)
{
	ttrans_row *rows = calloc(2 * n + 1, sizeof *rows);
	int64_t *cleared = calloc(n + 1, sizeof *cleared);
	size_t nr = 0, nc = 0;
	if (!rows || !cleared) {
		free(rows);
		free(cleared);
		return tasker_set_oom();
	}
	for (size_t i = 0; i < n; i++) {
		item *it = &items[i];
		if (!it->valid)
			continue;
		if (it->had_row)
			cleared[nc++] = it->res->workflow_step_id;
		if (is_release(it)) {
			rows[nr++] = (ttrans_row){it->res->workflow_step_id, TASKER_STATE_IN_PROGRESS, TASKER_STATE_ERROR,
			                          it->sort_key + 10, 0, it->meta};
			rows[nr++] = (ttrans_row){it->res->workflow_step_id, TASKER_STATE_ERROR, TASKER_STATE_PENDING,
			                          it->sort_key + 20, 1, it->meta};
			continue;
		}
		rows[nr++] = (ttrans_row){it->res->workflow_step_id, TASKER_STATE_IN_PROGRESS, it->res->new_state,
		                          it->sort_key + 10, 1, it->meta};
	}
	int rc = ttrans_bulk_write(db, TTRANS_STEP, cleared, nc, rows, nr);
	free(rows);
	free(cleared);
	return rc;
}

/* Children of successes, retries of failures, failed tasks, finished tasks. */
static int progress(tdb *db, tasker_client *client, item *items, size_t n)
{
	tqueue_batch ready;
	tqueue_batch_init(&ready);
	int64_t *done = calloc(n + 1, sizeof *done), *tasks = calloc(n + 1, sizeof *tasks);
	size_t nd = 0, nt = 0;
	int rc = (done && tasks) ? TASKER_OK : tasker_set_oom();
	for (size_t i = 0; !rc && i < n; i++) {
		item *it = &items[i];
		if (is_success(it) && it->task_open) {
			done[nd++] = it->res->workflow_step_id;
			tasks[nt++] = it->task_id;
		} else if ((is_failure(it) || is_release(it)) && it->retry && it->task_open) {
			const treg_entry *e;
			rc = treg_lookup_id(&e, tclient_registry(client), db, it->named_task_id);
			int idx = rc ? -1 : treg_step_index(e, it->named_step_id);
			if (!rc && idx < 0)
				rc = tasker_set_error(TASKER_ETEMPLATE, "step \"%s\" is not in template %s", it->name,
				                      e->full_name);
			if (!rc)
				tqueue_batch_add(&ready, it->res->workflow_step_id, it->task_id, e->tpl->steps[idx].handler_class,
				                 (int64_t)it->delay_seconds * 1000);
			if (!rc && is_failure(it))
				tevents_step_backoff(db, it->task_id, it->res->workflow_step_id, it->attempts + 1, it->delay_seconds);
		} else if (is_failure(it) && !it->retry) {
			if (it->retryable && it->res->outcome != TASKER_OUTCOME_PERMANENT) /* attempts used up */
				tevents_step_exhausted(db, it->task_id, it->res->workflow_step_id, it->attempts + 1, it->retry_limit);
			rc = tprogress_fail_task(db, it->task_id, it->name, "steps_in_error_state");
		}
	}
	if (!rc)
		rc = tprogress_children(db, tclient_registry(client), done, nd, &ready);
	if (!rc)
		rc = tqueue_batch_write(db, &ready);
	if (!rc)
		rc = tprogress_finalize(db, tasks, nt, NULL);
	tqueue_batch_free(&ready);
	free(done);
	free(tasks);
	return rc;
}

static int complete_in_txn(tdb *db, tasker_client *client, item *items, size_t n)
{
	char *ids = id_array_items(items, n, status_ok, 0);
	int rc = ids ? TASKER_OK : TASKER_ENOMEM;
	const char *lp[] = {ids};
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_LOCK_TASKS, 1, lp, "locking the steps' tasks");
	free(ids);
	if (!rc) /* a new statement: it sees what the lock holders before us committed */
		rc = release_and_read(db, items, n);
	for (size_t i = 0; !rc && i < n; i++) {
		item *it = &items[i];
		if (it->res->status != TASKER_OK)
			continue;
		if (!it->valid || it->state != TASKER_STATE_IN_PROGRESS) {
			it->valid = 0;
			it->res->status = TASKER_ECONFLICT;
		}
	}
	if (!rc) {
		uint64_t rng = tbackoff_rng_seed();
		plan_items(items, n, tclient_config(client), &rng);
	}
	if (!rc)
		rc = write_steps(db, items, n);
	if (!rc)
		rc = write_transitions(db, items, n);
	if (!rc)
		rc = progress(db, client, items, n);
	return rc;
}

static int all_successes(const item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].res->status == TASKER_OK && items[i].res->outcome != TASKER_OUTCOME_SUCCESS)
			return 0;
	return 1;
}

static tasker_state state_of(const PGresult *res, int r, int col)
{
	tasker_state st = TASKER_STATE_PENDING;
	if (tdb_get(res, r, col))
		tasker_state_parse(&st, tdb_get(res, r, col));
	return st;
}

/* Replays what the completion function did as the engine's events, in its order, and sets each
 * result's status and new state. */
static int replay_completion(tdb *db, item *items, size_t n, PGresult *res)
{
	tqueue_batch ready, woken; /* woken: the steps made claimable, idle workers to wake after the commit */
	tqueue_batch_init(&ready);
	tqueue_batch_init(&woken);
	int rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		const char *kind = tdb_get(res, r, EV_KIND);
		int64_t id = tdb_get_i64(res, r, EV_ID, 0), task = tdb_get_i64(res, r, EV_TASK, 0);
		if (ready.count && strcmp(kind, "enqueue") != 0) {
			tevents_steps_enqueued(db, ready.step_ids, ready.task_ids, ready.delay_ms, ready.count);
			tqueue_batch_free(&ready);
		}
		if (!strcmp(kind, "result")) {
			int ok = !strcmp(tdb_get(res, r, EV_INFO), "ok");
			for (size_t i = 0; i < n; i++) {
				item *it = &items[i];
				if (it->res->workflow_step_id != id || it->res->status != TASKER_OK)
					continue;
				it->valid = ok;
				if (ok)
					it->res->new_state = TASKER_STATE_COMPLETE;
				else
					it->res->status = TASKER_ECONFLICT;
			}
		} else if (!strcmp(kind, "step")) {
			tevents_step_transition(db, id, state_of(res, r, EV_FROM), state_of(res, r, EV_TO),
			                   tdb_get(res, r, EV_INFO));
		} else if (!strcmp(kind, "enqueue")) {
			tqueue_batch_add(&ready, id, task, tdb_get(res, r, EV_INFO), 0);
			tqueue_batch_add(&woken, id, task, NULL, 0);
		} else if (!strcmp(kind, "finalizing")) {
			tevents_task_finalizing(db, task);
		} else if (!strcmp(kind, "task")) {
			tevents_task_transition(db, task, state_of(res, r, EV_FROM), state_of(res, r, EV_TO), NULL);
		} else if (!strcmp(kind, "finalized")) {
			tevents_task_finalized(db, &task, 1, TASKER_STATE_COMPLETE, NULL, NULL);
		}
	}
	if (ready.count) /* workflow.viable_steps_discovered */
		tevents_steps_enqueued(db, ready.step_ids, ready.task_ids, ready.delay_ms, ready.count);
	int rc = ready.oom || woken.oom ? tasker_set_oom() : tqueue_wake_for(db, woken.step_ids, woken.count);
	tqueue_batch_free(&ready);
	tqueue_batch_free(&woken);
	return rc;
}

/* The one-statement completion of a batch of successes, ready to be sent (alone or in a pipeline). */
struct tcomplete_call {
	item *items;
	size_t count;
	char *ids, *claims;
	tbuf res;
	const char *params[3];
};

static void call_free(tcomplete_call *c)
{
	if (!c)
		return;
	free(c->ids);
	free(c->claims);
	tbuf_free(&c->res);
	free(c);
}

/* The statement and parameters for `items` (successes only). */
static int call_build(tcomplete_call **out, tdb_call *call, item *items, size_t n)
{
	*out = NULL;
	tcomplete_call *c = calloc(1, sizeof *c);
	if (!c)
		return tasker_set_oom();
	tbuf_init(&c->res);
	tbuf_puts(&c->res, "{");
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (items[i].res->status != TASKER_OK)
			continue;
		tbuf_puts(&c->res, k++ ? "," : "");
		tbuf_array_elem(&c->res, items[i].res->results_json ? items[i].res->results_json : "null");
	}
	tbuf_puts(&c->res, "}");
	c->ids = id_array_items(items, n, status_ok, 0);
	c->claims = id_array_items(items, n, status_ok, 1);
	if (!c->ids || !c->claims || c->res.oom) {
		call_free(c);
		return tasker_set_oom();
	}
	c->items = items;
	c->count = n;
	c->params[0] = c->ids;
	c->params[1] = c->claims;
	c->params[2] = c->res.data;
	*call = (tdb_call){&Q_COMPLETE_SUCCESSES, 3, c->params};
	*out = c;
	return TASKER_OK;
}

/* A batch of successes only: the whole completion in one statement. */
static int complete_successes(tdb *db, item *items, size_t n)
{
	tcomplete_call *c;
	tdb_call call;
	int rc = call_build(&c, &call, items, n);
	PGresult *out = NULL;
	if (!rc)
		rc = tdb_exec(&out, db, call.stmt, call.n, call.params, "recording step results");
	if (!rc)
		rc = replay_completion(db, items, n, out);
	PQclear(out);
	call_free(c);
	return rc;
}

static void items_free(item *items, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(items[i].error_json);
		free(items[i].meta);
		free((void *)items[i].name);
	}
	free(items);
}

/* The results as items, each checked (its status set); *nvalid: how many may be recorded. */
static item *items_for(tasker_step_result *results, size_t count, size_t *nvalid)
{
	item *items = calloc(count + 1, sizeof *items);
	if (!items) {
		tasker_set_oom();
		return NULL;
	}
	*nvalid = 0;
	for (size_t i = 0; i < count; i++) {
		items[i].res = &results[i];
		results[i].status = validate(&items[i]);
		results[i].new_state = TASKER_STATE_IN_PROGRESS;
		*nvalid += results[i].status == TASKER_OK;
	}
	return items;
}

int tcomplete_locked(tdb *db, tasker_client *client, tasker_step_result *results, size_t count)
{
	size_t nvalid;
	item *items = items_for(results, count, &nvalid);
	if (!items)
		return TASKER_ENOMEM;
	int rc = !nvalid                      ? TASKER_OK
	         : all_successes(items, count) ? complete_successes(db, items, count)
	                                       : complete_in_txn(db, client, items, count);
	items_free(items, count);
	return rc;
}

int tcomplete_prepare(tcomplete_call **out, tdb_call *call, tasker_step_result *results, size_t count)
{
	*out = NULL;
	size_t nvalid;
	item *items = items_for(results, count, &nvalid);
	if (!items)
		return TASKER_ENOMEM;
	int rc = TASKER_OK;
	if (nvalid && all_successes(items, count))
		rc = call_build(out, call, items, count);
	if (!*out)
		items_free(items, count);
	return rc;
}

int tcomplete_replay(tdb *db, tcomplete_call *c, PGresult *res)
{
	return replay_completion(db, c->items, c->count, res);
}

void tcomplete_call_free(tcomplete_call *c)
{
	if (c)
		items_free(c->items, c->count);
	call_free(c);
}

void tcomplete_report_conflicts(const tasker_step_result *results, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (results[i].status == TASKER_ECONFLICT)
			tasker_set_error(TASKER_ECONFLICT,
			                 "step %lld: the claim is no longer yours (its lease expired and the step was "
			                 "recovered, or the task was cancelled); the result was discarded",
			                 (long long)results[i].workflow_step_id);
}

typedef struct {
	tasker_step_result *results;
	size_t count;
} complete_args;

static int complete_txn(tdb *db, tasker_client *client, void *arg)
{
	complete_args *a = arg;
	return tcomplete_locked(db, client, a->results, a->count);
}

int tcomplete_check_public(const tasker_step_result *results, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (results[i].outcome != TASKER_OUTCOME_SUCCESS && results[i].outcome != TASKER_OUTCOME_RETRYABLE &&
		    results[i].outcome != TASKER_OUTCOME_PERMANENT)
			return tasker_set_error(TASKER_EINVAL, "step %lld: outcome %d is not a tasker_outcome; nothing was "
			                        "recorded", (long long)results[i].workflow_step_id, (int)results[i].outcome);
	return TASKER_OK;
}

int tasker_steps_complete(tasker_client *client, tasker_step_result *results, size_t count)
{
	int rc = tcomplete_check_public(results, count);
	return rc ? rc : tcomplete(client, results, count);
}

int tcomplete(tasker_client *client, tasker_step_result *results, size_t count)
{
	complete_args a = {results, count};
	int rc = tclient_in_txn(client, complete_txn, &a);
	if (rc == TASKER_OK)
		tcomplete_report_conflicts(results, count);
	return rc;
}
