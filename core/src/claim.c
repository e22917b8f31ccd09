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
#include "queue.h"
#include "registry.h"
#include "transition.h"
#include "util.h"


/* The claim, one statement: the FIFO pick (tasker_core_pick, migration 0017: the walk of the queue's
 * (ready_at, workflow_step_id) index whatever the statistics say) locks the ready-queue rows and their
 * task rows (SKIP LOCKED: a claimer never waits and never deadlocks) and hands them to
 * tasker_core_claim_steps (migration 0009), which re-reads them under those locks, writes the
 * transitions and the claims and returns the claimed tasks with all their steps. The limit is a
 * constant in the statement text, one prepared statement per limit (1..PICK_MAX, built once).
 * $2 the worker id, $3 the lease in seconds. */
#define PICK_MAX 256
#define CLAIM_COLUMNS                                                                                      \
	"SELECT c_task_id, c_step_id, c_named_step_id, c_name, c_state, c_attempts, c_retry_limit, c_retryable, " \
	"c_results, c_inputs, c_named_task_id, c_context, c_tags, c_initiator, c_source_system, c_reason, "       \
	"c_traceparent, c_claim_id, c_claimed_from, c_pick_order, c_lease_expires_at, c_task_started FROM "
#define CLAIM_FUNCTION_SQL                                                                                 \
	"tasker_core_claim_steps(ARRAY(SELECT workflow_step_id FROM p), ARRAY(SELECT task_id FROM p), $2::text, " \
	"$3::int)"
#define CLAIM_CALL_SQL(pick) "WITH p AS MATERIALIZED (" pick ") " CLAIM_COLUMNS CLAIM_FUNCTION_SQL
/* The FIFO pick starts its walk of the queue's index at a floor its connection carries from its previous
 * pick (session settings, so a rolled-back claim leaves the floor as it was): the oldest ready_at that
 * pick took, less a margin of one second. Behind a long-running transaction elsewhere, every row ever
 * claimed keeps a dead entry at the front of that index until the transaction ends (nothing may mark it
 * dead while an old snapshot can still see it), and a pick from the front walks all of them: after
 * 30,000 steps, 30,000 entries for one row (bench/RESULTS.md). From the floor it walks the rows claimed
 * in the margin. Rows that become claimable below the floor — queued by a transaction that started more
 * than the margin before it committed (ready_at is its start time), or released by a claim that rolled
 * back — are taken by the safety rule: a pick from the front of the queue when the last one is older
 * than tasker.pick_full_scan_seconds (default 30), the first pick of a connection, and the first after
 * its handler filter ($1) changed. So no row waits more than that period beyond its turn. */
#define PICK_FLOOR_MARGIN "interval '1 second'"
#define PICK_SQL_FMT                                                                                      \
	"WITH f AS MATERIALIZED (SELECT CASE WHEN g.filter = COALESCE($1::text[]::text, '*') AND g.full_at > "  \
	NOW_UTC " - COALESCE(NULLIF(g.period, '')::int, 30) * interval '1 second' THEN g.floor - "            \
	PICK_FLOOR_MARGIN " END AS lo, g.filter = COALESCE($1::text[]::text, '*') AS same, g.floor "           \
	"FROM (SELECT current_setting('tasker.pick_filter', true) AS filter, "                                 \
	"timezone('UTC', to_timestamp(NULLIF(current_setting('tasker.pick_full_at', true), '')::float8)) AS full_at, " \
	"timezone('UTC', to_timestamp(NULLIF(current_setting('tasker.pick_floor', true), '')::float8)) AS floor, " \
	"current_setting('tasker.pick_full_scan_seconds', true) AS period) g), "                               \
	"p AS MATERIALIZED (SELECT k_step_id AS workflow_step_id, k_task_id AS task_id, k_ready_at AS ready_at " \
	"FROM tasker_core_pick((SELECT lo FROM f), $1::text[], %u)), "                                         \
	"s AS MATERIALIZED (SELECT set_config('tasker.pick_floor', COALESCE(extract(epoch FROM m.first)::text, " \
	"CASE WHEN f.same THEN extract(epoch FROM f.floor)::text END, ''), false), "                           \
	"CASE WHEN f.lo IS NULL THEN set_config('tasker.pick_full_at', extract(epoch FROM " NOW_UTC ")::text, " \
	"false) END, set_config('tasker.pick_filter', COALESCE($1::text[]::text, '*'), false) "               \
	"FROM f, (SELECT min(ready_at) AS first FROM p) m) "                                                   \
	CLAIM_COLUMNS CLAIM_FUNCTION_SQL " WHERE (SELECT true FROM s)"
static tdb_stmt pick_stmts[PICK_MAX];
static char pick_names[PICK_MAX][24];
static char pick_sql[PICK_MAX][sizeof PICK_SQL_FMT + 8];
static pthread_once_t pick_once = PTHREAD_ONCE_INIT;

static void pick_init(void)
{
	for (unsigned i = 0; i < PICK_MAX; i++) {
		snprintf(pick_names[i], sizeof pick_names[i], "claim_%u", i + 1);
		snprintf(pick_sql[i], sizeof pick_sql[i], PICK_SQL_FMT, i + 1);
		pick_stmts[i] = (tdb_stmt){pick_names[i], pick_sql[i]};
	}
}

/* The claim of at most `max` steps (1..PICK_MAX). */
static const tdb_stmt *pick_for(unsigned max)
{
	pthread_once(&pick_once, pick_init);
	if (max < 1)
		max = 1;
	if (max > PICK_MAX)
		max = PICK_MAX;
	return &pick_stmts[max - 1];
}

/* The claim of one named step ($1). */
static const tdb_stmt Q_PICK_ONE = {
	"claim_one",
	CLAIM_CALL_SQL("SELECT r.workflow_step_id, r.task_id FROM tasker_ready_steps r "
	               "JOIN tasker_tasks t ON t.task_id = r.task_id "
	               "WHERE r.workflow_step_id = $1::bigint AND r.ready_at <= " NOW_UTC
	               " FOR UPDATE OF r SKIP LOCKED FOR NO KEY UPDATE OF t SKIP LOCKED")};
/* The columns of CLAIM_CALL_SQL: one row per step of each claimed task in (task, step) order; the claim
 * columns (and inputs) on the claimed steps only, context and tags on a task's first row only. */
enum {
	CLAIM_TASK_ID, CLAIM_STEP_ID, CLAIM_NAMED_STEP_ID, CLAIM_NAME, CLAIM_STATE, CLAIM_ATTEMPTS, CLAIM_RETRY_LIMIT,
	CLAIM_RETRYABLE, CLAIM_RESULTS, CLAIM_INPUTS, CLAIM_NAMED_TASK_ID, CLAIM_CONTEXT, CLAIM_TAGS, CLAIM_INITIATOR,
	CLAIM_SOURCE_SYSTEM, CLAIM_REASON, CLAIM_TRACEPARENT, CLAIM_CLAIM_ID, CLAIM_CLAIMED_FROM, CLAIM_PICK_ORDER,
	CLAIM_LEASE_EXPIRES_AT, CLAIM_TASK_STARTED
};
static const tdb_stmt Q_EXTEND = {
	"claim_extend",
	"UPDATE tasker_step_claims SET lease_expires_at = " NOW_UTC " + $3::int * interval '1 second' "
	"WHERE workflow_step_id = $1::bigint AND claim_id = $2::bigint"};

/* One claimed task: its rows of the claim's result. */
typedef struct {
	int first, nsteps;
	const treg_entry *tpl;
} task_rows;

static tasker_state row_state(const PGresult *s, int r)
{
	tasker_state st = TASKER_STATE_PENDING;
	if (tdb_get(s, r, CLAIM_STATE))
		tasker_state_parse(&st, tdb_get(s, r, CLAIM_STATE));
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

/* Builds the payload of the claimed step on row `r` of task `t`. */
static tasker_claimed_step *build_claimed(const PGresult *s, const task_rows *t, int r)
{
	tasker_claimed_step *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	const ttpl_template *tpl = t->tpl->tpl;
	int idx = treg_step_index(t->tpl, (int32_t)tdb_get_i64(s, r, CLAIM_NAMED_STEP_ID, 0));
	const ttpl_step *st = idx >= 0 ? &tpl->steps[idx] : NULL;
	int f = t->first; /* the task's columns that come once per task */
	const char *traceparent = tdb_get(s, f, CLAIM_TRACEPARENT);
	c->workflow_step_id = tdb_get_i64(s, r, CLAIM_STEP_ID, 0);
	c->claim_id = tdb_get_i64(s, r, CLAIM_CLAIM_ID, 0);
	c->task_id = tdb_get_i64(s, r, CLAIM_TASK_ID, 0);
	c->attempts = (int)tdb_get_i64(s, r, CLAIM_ATTEMPTS, 0);
	c->retry_limit = (int)tdb_get_i64(s, r, CLAIM_RETRY_LIMIT, 3);
	c->retryable = tdb_get_bool(s, r, CLAIM_RETRYABLE, 1);
	c->lease_expires_at = ttime_parse(tdb_get(s, r, CLAIM_LEASE_EXPIRES_AT));
	c->name = dup_or(tdb_get(s, r, CLAIM_NAME), "");
	c->handler_class = dup_or(st ? st->handler_class : NULL, "");
	c->handler_config_json = st && st->handler_config ? tjson_print(st->handler_config) : tstrdup("null");
	c->inputs_json = dup_or(tdb_get(s, r, CLAIM_INPUTS), "null");
	c->results_json = dup_or(tdb_get(s, r, CLAIM_RESULTS), "null");
	c->namespace_name = tstrdup(tpl->namespace_name);
	c->task_name = tstrdup(tpl->name);
	c->task_version = tstrdup(tpl->version);
	c->context_json = dup_or(tdb_get(s, f, CLAIM_CONTEXT), "{}");
	c->tags_json = dup_or(tdb_get(s, f, CLAIM_TAGS), "[]");
	c->initiator = dup_or(tdb_get(s, f, CLAIM_INITIATOR), "unknown");
	c->source_system = dup_or(tdb_get(s, f, CLAIM_SOURCE_SYSTEM), "unknown");
	c->reason = dup_or(tdb_get(s, f, CLAIM_REASON), "unknown");
	c->traceparent = traceparent ? tstrdup(traceparent) : NULL;
	tasker_sequence_step *seq = calloc((size_t)t->nsteps + 1, sizeof *seq);
	c->sequence = seq;
	c->sequence_count = seq ? (size_t)t->nsteps : 0;
	int ok = seq && c->name && c->handler_class && c->handler_config_json && c->inputs_json &&
	         c->results_json && c->namespace_name && c->task_name && c->task_version && c->context_json &&
	         c->tags_json && c->initiator && c->source_system && c->reason && (c->traceparent || !traceparent);
	for (int k = 0; ok && k < t->nsteps; k++) {
		int sr = t->first + k;
		seq[k].workflow_step_id = tdb_get_i64(s, sr, CLAIM_STEP_ID, 0);
		seq[k].state = row_state(s, sr);
		seq[k].attempts = (int)tdb_get_i64(s, sr, CLAIM_ATTEMPTS, 0);
		seq[k].name = tstrdup(tdb_get(s, sr, CLAIM_NAME));
		seq[k].results_json = dup_or(tdb_get(s, sr, CLAIM_RESULTS), "null");
		ok = seq[k].name && seq[k].results_json;
	}
	if (!ok) {
		tasker_claimed_step_free(c);
		tasker_set_oom();
		return NULL;
	}
	return c;
}

/* The events of what the claim wrote (published after the commit): each claimed step's transitions
 * (error → pending first for a retry), then each started task's transition and its start. */
static void claim_events(tdb *db, const PGresult *s)
{
	int n = PQntuples(s);
	for (int r = 0; r < n; r++) {
		if (tdb_is_null(s, r, CLAIM_CLAIM_ID))
			continue;
		int64_t id = tdb_get_i64(s, r, CLAIM_STEP_ID, 0);
		const char *from = tdb_get(s, r, CLAIM_CLAIMED_FROM);
		if (from && strcmp(from, "error") == 0)
			tevents_step_transition(db, id, TASKER_STATE_ERROR, TASKER_STATE_PENDING, "{\"reason\": \"retry\"}");
		tevents_step_transition(db, id, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, NULL);
	}
	for (int pass = 0; pass < 2; pass++)
		for (int r = 0; r < n; r++) {
			int64_t task = tdb_get_i64(s, r, CLAIM_TASK_ID, 0);
			if (!tdb_get_bool(s, r, CLAIM_TASK_STARTED, 0) || (r > 0 && tdb_get_i64(s, r - 1, CLAIM_TASK_ID, 0) == task))
				continue;
			if (pass == 0)
				tevents_task_transition(db, task, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, NULL);
			else
				tevents_task_started(db, task); /* workflow.task_started */
		}
}

/* Splits the claim's rows by task and finds each task's template. */
static int claim_tasks(task_rows **out, int *out_count, tdb *db, treg *reg, const PGresult *s)
{
	int n = PQntuples(s), nt = 0;
	task_rows *tasks = calloc((size_t)n + 1, sizeof *tasks);
	if (!tasks)
		return tasker_set_oom();
	int rc = TASKER_OK;
	for (int r = 0; r < n && !rc; nt++) {
		int64_t task = tdb_get_i64(s, r, CLAIM_TASK_ID, 0);
		tasks[nt].first = r;
		while (r < n && tdb_get_i64(s, r, CLAIM_TASK_ID, 0) == task)
			r++;
		tasks[nt].nsteps = r - tasks[nt].first;
		rc = treg_lookup_id(&tasks[nt].tpl, reg, db, (int32_t)tdb_get_i64(s, tasks[nt].first, CLAIM_NAMED_TASK_ID, 0));
	}
	if (rc) {
		free(tasks);
		return rc;
	}
	*out = tasks;
	*out_count = nt;
	return TASKER_OK;
}

/* A claimed step's row of the claim's result, and its place in the pick. */
typedef struct {
	int64_t order;
	int task, row;
} claimed_row;

static int cmp_order(const void *a, const void *b)
{
	int64_t x = ((const claimed_row *)a)->order, y = ((const claimed_row *)b)->order;
	return (x > y) - (x < y);
}

/* The payloads of the claimed steps, in the order they were picked. */
static int build_all(tasker_claimed_step ***out, size_t *out_count, const PGresult *s, const task_rows *tasks,
                     int ntasks)
{
	claimed_row *rows = calloc((size_t)PQntuples(s) + 1, sizeof *rows);
	if (!rows)
		return tasker_set_oom();
	size_t n = 0;
	for (int t = 0; t < ntasks; t++)
		for (int r = tasks[t].first; r < tasks[t].first + tasks[t].nsteps; r++)
			if (!tdb_is_null(s, r, CLAIM_CLAIM_ID))
				rows[n++] = (claimed_row){tdb_get_i64(s, r, CLAIM_PICK_ORDER, 0), t, r};
	qsort(rows, n, sizeof *rows, cmp_order);
	tasker_claimed_step **arr = calloc(n + 1, sizeof *arr);
	int rc = arr ? TASKER_OK : tasker_set_oom();
	for (size_t i = 0; i < n && !rc; i++)
		if (!(arr[i] = build_claimed(s, &tasks[rows[i].task], rows[i].row)))
			rc = tasker_error_last()->code ? tasker_error_last()->code : TASKER_ENOMEM;
	free(rows);
	if (rc) {
		for (size_t i = 0; arr && i < n; i++)
			tasker_claimed_step_free(arr[i]);
		free(arr);
		return rc;
	}
	*out = arr;
	*out_count = n;
	return TASKER_OK;
}

static int check_options(const tasker_claim_options *o)
{
	if (!o || o->version != TASKER_CLAIM_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_claim_options.version must be TASKER_CLAIM_OPTIONS_VERSION");
	if (o->worker_id && strlen(o->worker_id) > 255)
		return tasker_set_error(TASKER_EINVAL, "worker_id is longer than 255 characters");
	return TASKER_OK;
}

static void default_worker_id(char *buf, size_t len)
{
	char host[128] = "host";
	gethostname(host, sizeof host - 1);
	snprintf(buf, len, "%s:%d", host, (int)getpid());
}

/* The claim statement's parameters (its first one `param`), in `buf`. */
typedef struct {
	char wid[192], lease[24];
	const char *p[3];
} claim_params;

static void claim_params_set(claim_params *cp, const char *param, const tasker_claim_options *o)
{
	const char *worker_id = o->worker_id;
	if (!worker_id) {
		default_worker_id(cp->wid, sizeof cp->wid);
		worker_id = cp->wid;
	}
	cp->p[0] = param;
	cp->p[1] = worker_id;
	cp->p[2] = tdb_fmt_i64(cp->lease, o->lease_seconds > 0 ? o->lease_seconds : 30);
}

/* The payloads and events of what the claim statement returned (`rc`: how it went; `res` is freed). */
static int claim_result(tasker_claimed_step ***out, size_t *out_count, tdb *db, tasker_client *client, int rc,
                        PGresult *res, int64_t started)
{
	*out = NULL;
	*out_count = 0;
	task_rows *tasks = NULL;
	int ntasks = 0;
	if (!rc && PQntuples(res) > 0) {
		rc = claim_tasks(&tasks, &ntasks, db, tclient_registry(client), res);
		if (!rc)
			rc = build_all(out, out_count, res, tasks, ntasks);
		if (!rc)
			claim_events(db, res);
		for (size_t i = 0; !rc && i < *out_count; i++) /* made claimable and taken in this transaction */
			tqueue_claimed(db, &(*out)[i]->workflow_step_id, 1);
	}
	PQclear(res);
	free(tasks);
	tmetrics_claim_in_txn(db, tevents_clock() - started, rc ? 0 : *out_count); /* settled at commit or rollback */
	return rc;
}

/* Runs the claim statement `pick` (its first parameter `param`) inside the caller's open transaction on
 * `db`, then builds the payloads. */
static int claim_in_txn(tasker_claimed_step ***out, size_t *out_count, tdb *db, tasker_client *client,
                        const tdb_stmt *pick, const char *param, const tasker_claim_options *o)
{
	claim_params cp;
	claim_params_set(&cp, param, o);
	PGresult *res = NULL;
	int64_t started = tevents_clock(); /* claim latency metric */
	int rc = tdb_exec(&res, db, pick, 3, cp.p, "claiming ready steps");
	return claim_result(out, out_count, db, client, rc, res, started);
}

/* Successes recorded and the next steps claimed in one round trip: the transaction's BEGIN, the
 * completion statement, the claim statement and (when no commit hook has work before it: events are not
 * persisted) the COMMIT go in one pipeline. The claim runs in a snapshot taken after the completion's
 * writes, so it sees the steps the completion made claimable. A failed statement skips the rest and
 * nothing is committed. After the COMMIT only reading is left: the events and the wake-up still wait
 * for the caller's tdb_commit, as without it. (Should building the payloads fail after that COMMIT, the
 * claims it recorded are recovered when their leases expire, as a worker's that died.) */
static int complete_and_claim_pipelined(tasker_claimed_step ***out, size_t *out_count, tdb *db,
                                        tasker_client *client, tcomplete_call *cc, const tdb_call *complete,
                                        const tdb_stmt *pick, const char *param, const tasker_claim_options *o)
{
	claim_params cp;
	claim_params_set(&cp, param, o);
	tdb_call calls[2] = {*complete, {pick, 3, cp.p}};
	PGresult *res[2] = {NULL, NULL};
	int64_t started = tevents_clock();
	int committed;
	int rc = tdb_exec_pipeline_commit(&committed, res, db, calls, 2, "recording step results and claiming ready "
	                                                                 "steps");
	if (rc) /* nothing to report: the transaction is rolled back */
		return rc;
	rc = tcomplete_replay(db, cc, res[0]); /* its wake-ups first: the claim takes its own off */
	PQclear(res[0]);
	return claim_result(out, out_count, db, client, rc, res[1], started);
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
	if (a->count && a->pick) {
		tcomplete_call *cc = NULL;
		tdb_call complete;
		int rc = tcomplete_prepare(&cc, &complete, a->results, a->count);
		if (!rc && cc)
			rc = complete_and_claim_pipelined(a->out, a->out_count, db, client, cc, &complete, a->pick, a->param,
			                                  a->o);
		tcomplete_call_free(cc);
		if (rc || cc)
			return rc;
	}
	int rc = a->count ? tcomplete_locked(db, client, a->results, a->count) : TASKER_OK;
	if (!rc && a->pick) {
		rc = claim_in_txn(a->out, a->out_count, db, client, a->pick, a->param, a->o);
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
