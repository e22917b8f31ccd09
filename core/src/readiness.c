/*
 * readiness.c — decides which steps may run (tasker_task_readiness) and what a task needs
 * (tasker_task_execution_context), in C, from rows read in one query. Never writes.
 */
#include "readiness.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "transition.h"
#include "util.h"

#define SEC 1000000LL

static const tdb_stmt Q_LOAD = {
	"readiness_load",
	"SELECT s.workflow_step_id, s.task_id, s.named_step_id, ns.name, tr.to_state, tr.created_at, "
	"s.processed, s.in_process, s.retryable, s.attempts, s.retry_limit, s.backoff_request_seconds, "
	"s.last_attempted_at, (SELECT array_agg(e.from_step_id ORDER BY e.from_step_id) "
	"FROM tasker_workflow_step_edges e WHERE e.to_step_id = s.workflow_step_id), "
	NOW_UTC ", t.named_task_id, tt.to_state "
	"FROM tasker_tasks t JOIN tasker_workflow_steps s ON s.task_id = t.task_id "
	"JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id "
	STEP_STATE_JOIN("tr", "s.workflow_step_id") TASK_STATE_JOIN("tt", "t.task_id")
	"WHERE t.task_id = $1::bigint ORDER BY s.workflow_step_id"};
enum {
	LOAD_STEP_ID, LOAD_TASK_ID, LOAD_NAMED_STEP_ID, LOAD_NAME, LOAD_STATE, LOAD_STATE_CHANGED_AT, LOAD_PROCESSED,
	LOAD_IN_PROCESS, LOAD_RETRYABLE, LOAD_ATTEMPTS, LOAD_RETRY_LIMIT, LOAD_BACKOFF_REQUEST_SECONDS,
	LOAD_LAST_ATTEMPTED_AT, LOAD_PARENT_IDS, LOAD_NOW, LOAD_NAMED_TASK_ID, LOAD_TASK_STATE
};
static const tdb_stmt Q_TASK = {
	"readiness_task",
	"SELECT t.named_task_id, tt.to_state FROM tasker_tasks t " TASK_STATE_JOIN("tt", "t.task_id")
	"WHERE t.task_id = $1::bigint"};
enum { TASK_NAMED_TASK_ID, TASK_STATE };

static int done_state(tasker_state s)
{
	return s == TASKER_STATE_COMPLETE || s == TASKER_STATE_RESOLVED_MANUALLY;
}

/* The SQL function's fixed backoff: min(2^attempts, 30) seconds after the error (attempts NULL → 1). */
static int64_t sql_backoff(int attempts)
{
	int e = attempts < 0 ? 1 : attempts;
	return (e >= 5 ? 30 : (1LL << e)) * SEC;
}

void treadiness_compute(tasker_step_readiness *out, const treadiness_input *in, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		const treadiness_input *s = &in[i];
		tasker_step_readiness *r = &out[i];
		memset(r, 0, sizeof *r);
		r->workflow_step_id = s->workflow_step_id;
		r->task_id = s->task_id;
		r->named_step_id = s->named_step_id;
		r->name = s->name;
		r->current_state = s->state;
		r->total_parents = (int)s->nparents;
		for (size_t j = 0; j < s->nparents; j++)
			r->completed_parents += done_state(in[s->parents[j]].state);
		r->dependencies_satisfied = r->completed_parents == r->total_parents;
		r->attempts = s->attempts < 0 ? 0 : s->attempts;
		r->retry_limit = s->retry_limit < 0 ? 3 : s->retry_limit;
		/* CORRECTION: retry_limit counts total attempts and the first attempt is always allowed
		 * (the SQL function says A < L, so retry_limit 0 could never run). */
		r->retry_eligible = r->attempts == 0 || r->attempts < r->retry_limit;
		r->backoff_request_seconds = s->backoff_request_seconds;
		r->last_attempted_at = s->last_attempted_at;
		r->last_failure_at = s->state == TASKER_STATE_ERROR ? s->state_changed_at : TASKER_NULL_TIME;

		int has_request = s->backoff_request_seconds >= 0 && s->last_attempted_at != TASKER_NULL_TIME;
		int64_t requested_end = has_request ? s->last_attempted_at + s->backoff_request_seconds * SEC : 0;
		int64_t sql_end = r->last_failure_at != TASKER_NULL_TIME ? r->last_failure_at + sql_backoff(s->attempts) : 0;
		r->next_retry_at = has_request ? requested_end
		                 : r->last_failure_at != TASKER_NULL_TIME ? sql_end : TASKER_NULL_TIME;
		/* CORRECTION: the backoff the engine computed (backoff_request_seconds) alone decides when a
		 * failed step may run again; the SQL function also waits min(2^attempts, 30) s after the error
		 * even when a shorter backoff was configured. Without a requested backoff both agree. */
		int backoff_over = has_request ? requested_end <= now : (sql_end == 0 || sql_end <= now);

		r->ready_for_execution = (s->state == TASKER_STATE_PENDING || s->state == TASKER_STATE_ERROR) &&
		                         !s->processed && r->dependencies_satisfied && r->retry_eligible &&
		                         s->retryable && !s->in_process && backoff_over;
	}
}

void treadiness_context(tasker_task_context *c, const tasker_step_readiness *rows, size_t n, const int *retryable)
{
	int64_t blocked = 0;
	c->next_ready_at = TASKER_NULL_TIME;
	c->total_steps = (int64_t)n;
	for (size_t i = 0; i < n; i++) {
		const tasker_step_readiness *r = &rows[i];
		switch (r->current_state) {
		case TASKER_STATE_PENDING: c->pending_steps++; break;
		case TASKER_STATE_IN_PROGRESS: c->in_progress_steps++; break;
		case TASKER_STATE_COMPLETE:
		case TASKER_STATE_RESOLVED_MANUALLY: c->completed_steps++; break;
		case TASKER_STATE_ERROR:
			c->failed_steps++;
			/* CORRECTION: a non-retryable failed step blocks the task too (the SQL only counts
			 * attempts >= retry_limit, so a permanent failure left the task waiting forever). */
			if (!r->retry_eligible || !retryable[i])
				blocked++;
			else if (!r->ready_for_execution && r->next_retry_at != TASKER_NULL_TIME &&
			         (c->next_ready_at == TASKER_NULL_TIME || r->next_retry_at < c->next_ready_at))
				c->next_ready_at = r->next_retry_at;
			break;
		default: break;
		}
		c->ready_steps += r->ready_for_execution;
	}
	/* CORRECTION: blocked_by_failures wins over has_ready_steps (and over processing). */
	if (blocked > 0) {
		c->execution_status = "blocked_by_failures";
		c->recommended_action = "handle_failures";
	} else if (c->ready_steps > 0) {
		c->execution_status = "has_ready_steps";
		c->recommended_action = "execute_ready_steps";
	} else if (c->in_progress_steps > 0) {
		c->execution_status = "processing";
		c->recommended_action = "wait_for_completion";
	} else if (c->total_steps > 0 && c->completed_steps == c->total_steps) {
		c->execution_status = "all_complete";
		c->recommended_action = "finalize_task";
	} else {
		c->execution_status = "waiting_for_dependencies";
		c->recommended_action = "wait_for_dependencies";
	}
	c->completion_percentage =
		n ? (double)((int64_t)((double)c->completed_steps * 10000.0 / (double)n + 0.5)) / 100.0 : 0.0;
	if (c->failed_steps == 0)
		c->health_status = "healthy";
	else if (blocked > 0)
		c->health_status = "blocked";
	else
		c->health_status = "recovering";
}

/* Parses "{1,2,3}" into step indexes (ids looked up in the id-sorted input). */
static size_t *parse_parents(const char *text, const treadiness_input *in, size_t n, size_t *count)
{
	*count = 0;
	if (!text || text[0] != '{' || text[1] == '}')
		return NULL;
	size_t cap = 1;
	for (const char *p = text; *p; p++)
		cap += *p == ',';
	size_t *out = malloc(cap * sizeof *out);
	if (!out)
		return NULL;
	const char *p = text + 1;
	while (*p && *p != '}') {
		char *end;
		int64_t id = strtoll(p, &end, 10);
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (in[mid].workflow_step_id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && in[lo].workflow_step_id == id)
			out[(*count)++] = lo;
		p = *end == ',' ? end + 1 : end;
	}
	return out;
}

typedef struct {
	PGresult *res;
	treadiness_input *in;
	size_t n;
	int64_t now;
	int32_t named_task_id;
	tasker_state task_state;
	int found;
} loaded;

static void loaded_free(loaded *l)
{
	for (size_t i = 0; l->in && i < l->n; i++)
		free((void *)l->in[i].parents);
	free(l->in);
	PQclear(l->res);
}

static int load(loaded *l, tdb *db, int64_t task_id)
{
	memset(l, 0, sizeof *l);
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, task_id)};
	int rc = tdb_exec(&l->res, db, &Q_LOAD, 1, p, "reading the task's steps");
	if (rc)
		return rc;
	PGresult *res = l->res;
	l->n = (size_t)PQntuples(res);
	if (l->n == 0) {
		PGresult *t;
		if ((rc = tdb_exec(&t, db, &Q_TASK, 1, p, "reading the task")))
			return rc;
		l->found = PQntuples(t) > 0;
		if (l->found) {
			l->named_task_id = (int32_t)tdb_get_i64(t, 0, TASK_NAMED_TASK_ID, 0);
			tasker_state_parse(&l->task_state, tdb_get(t, 0, TASK_STATE) ? tdb_get(t, 0, TASK_STATE) : "pending");
		}
		PQclear(t);
		l->now = ttime_now();
		return l->found ? TASKER_OK
		                : tasker_set_error(TASKER_ENOTFOUND, "task %lld does not exist", (long long)task_id);
	}
	l->found = 1;
	l->in = calloc(l->n, sizeof *l->in);
	if (!l->in)
		return tasker_set_oom();
	for (size_t i = 0; i < l->n; i++) {
		int r = (int)i;
		treadiness_input *s = &l->in[i];
		s->workflow_step_id = tdb_get_i64(res, r, LOAD_STEP_ID, 0);
		s->task_id = tdb_get_i64(res, r, LOAD_TASK_ID, 0);
		s->named_step_id = (int32_t)tdb_get_i64(res, r, LOAD_NAMED_STEP_ID, 0);
		s->name = tdb_get(res, r, LOAD_NAME);
		s->state = TASKER_STATE_PENDING;
		if (tdb_get(res, r, LOAD_STATE) && tasker_state_parse(&s->state, tdb_get(res, r, LOAD_STATE)))
			return tasker_set_error(TASKER_EDB, "step %lld has unknown state \"%s\"",
			                        (long long)s->workflow_step_id, tdb_get(res, r, LOAD_STATE));
		s->state_changed_at = ttime_parse(tdb_get(res, r, LOAD_STATE_CHANGED_AT));
		s->processed = tdb_get_bool(res, r, LOAD_PROCESSED, 0);
		s->in_process = tdb_get_bool(res, r, LOAD_IN_PROCESS, 0);
		s->retryable = tdb_get_bool(res, r, LOAD_RETRYABLE, 1);
		s->attempts = (int)tdb_get_i64(res, r, LOAD_ATTEMPTS, -1);
		s->retry_limit = (int)tdb_get_i64(res, r, LOAD_RETRY_LIMIT, -1);
		s->backoff_request_seconds = (int)tdb_get_i64(res, r, LOAD_BACKOFF_REQUEST_SECONDS, -1);
		s->last_attempted_at = ttime_parse(tdb_get(res, r, LOAD_LAST_ATTEMPTED_AT));
	}
	for (size_t i = 0; i < l->n; i++) {
		l->in[i].parents = parse_parents(tdb_get(res, (int)i, LOAD_PARENT_IDS), l->in, l->n, &l->in[i].nparents);
		if (tdb_get(res, (int)i, LOAD_PARENT_IDS) && !l->in[i].parents && strcmp(tdb_get(res, (int)i, LOAD_PARENT_IDS), "{}"))
			return tasker_set_oom();
	}
	l->now = ttime_parse(tdb_get(res, 0, LOAD_NOW));
	l->named_task_id = (int32_t)tdb_get_i64(res, 0, LOAD_NAMED_TASK_ID, 0);
	l->task_state = TASKER_STATE_PENDING;
	if (tdb_get(res, 0, LOAD_TASK_STATE))
		tasker_state_parse(&l->task_state, tdb_get(res, 0, LOAD_TASK_STATE));
	return TASKER_OK;
}

void tasker_readiness_free(tasker_step_readiness *rows, size_t count)
{
	for (size_t i = 0; rows && i < count; i++)
		free((void *)rows[i].name);
	free(rows);
}

int tasker_task_readiness(tasker_step_readiness **out, size_t *out_count, tasker_client *client, int64_t task_id)
{
	*out = NULL;
	*out_count = 0;
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	loaded l;
	rc = load(&l, db, task_id);
	tclient_release(client, db);
	tasker_step_readiness *rows = NULL;
	if (!rc && !(rows = calloc(l.n + 1, sizeof *rows)))
		rc = tasker_set_oom();
	if (!rc) {
		treadiness_compute(rows, l.in, l.n, l.now);
		for (size_t i = 0; i < l.n && !rc; i++)
			if (!(rows[i].name = tstrdup(l.in[i].name)))
				rc = TASKER_ENOMEM;
	}
	if (!rc) {
		*out = rows;
		*out_count = l.n;
	} else {
		tasker_readiness_free(rows, l.n);
	}
	loaded_free(&l);
	return rc;
}

int tasker_task_execution_context(tasker_task_context *out, tasker_client *client, int64_t task_id)
{
	memset(out, 0, sizeof *out);
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	loaded l;
	rc = load(&l, db, task_id);
	tclient_release(client, db);
	tasker_step_readiness *rows = NULL;
	int *retryable = NULL;
	if (!rc && (!(rows = calloc(l.n + 1, sizeof *rows)) || !(retryable = calloc(l.n + 1, sizeof(int)))))
		rc = tasker_set_oom();
	if (!rc) {
		treadiness_compute(rows, l.in, l.n, l.now);
		for (size_t i = 0; i < l.n; i++)
			retryable[i] = l.in[i].retryable;
		treadiness_context(out, rows, l.n, retryable);
		out->task_id = task_id;
		out->named_task_id = l.named_task_id;
		out->status = l.task_state;
	}
	free(rows);
	free(retryable);
	loaded_free(&l);
	return rc;
}
