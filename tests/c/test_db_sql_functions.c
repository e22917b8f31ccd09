/* Integration tests of the Rails engine's view and SQL functions (migrations/0002_rails_functions.sql)
 * on hand-built fixtures: every returned column of every function, against the reference's §1–§3 and
 * §11. Each test runs in one transaction that is rolled back, so NOW() is a single instant for the
 * fixtures and the functions alike: times are written as seconds before now() and read back as
 * offsets from it, compared exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_STEPS 64

static testdb db;

/* Named tasks of the base fixtures: 1 = default/order 1.0.0, 2 = default/order 2.0.0,
 * 3 = payments/refund 1.0.0. */
static int group_setup(void **state)
{
	(void)state;
	testdb_open(&db, "sqlfn", 1);
	PQclear(testdb_sql(db.pg,
		"INSERT INTO tasker_task_namespaces (name, created_at, updated_at) "
		"  VALUES ('default', now(), now()), ('payments', now(), now());"
		"INSERT INTO tasker_named_tasks (name, task_namespace_id, version, created_at, updated_at) VALUES "
		"  ('order', 1, '1.0.0', now(), now()), ('order', 1, '2.0.0', now(), now()), "
		"  ('refund', 2, '1.0.0', now(), now());"
		"INSERT INTO tasker_dependent_systems (name, created_at, updated_at) VALUES ('sys', now(), now());"));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	testdb_close(&db);
	return 0;
}

/* A runaway recursion (a cycle, a path explosion) fails the test instead of hanging it. */
static int begin(void **state)
{
	(void)state;
	PQclear(testdb_sql(db.pg, "BEGIN; SET LOCAL statement_timeout = '30s'"));
	return 0;
}

static int rollback(void **state)
{
	(void)state;
	PQclear(testdb_sql(db.pg, "ROLLBACK"));
	return 0;
}

/* ------------------------------------------------------------------ fixtures */

static int word_count(const char *s)
{
	int n = 0;
	for (const char *p = s; *p; p++)
		n += (*p != ' ' && (p == s || p[-1] == ' '));
	return n;
}

/* A task of named task `named_task`, created `age` seconds before now() (NULL = now), with initiator
 * and source_system given as SQL literals (NULL = NULL). `states`: its transitions, oldest first,
 * space-separated, a minute apart; the last is the most recent. */
static long long task_new(int named_task, const char *age, const char *initiator, const char *source,
                          const char *states)
{
	long long id = testdb_count(db.pg,
		"INSERT INTO tasker_tasks (named_task_id, requested_at, identity_hash, initiator, source_system, "
		"  created_at, updated_at) "
		"VALUES (%d, now(), gen_random_uuid()::text, %s, %s, now() - interval '%s seconds', now()) "
		"RETURNING task_id",
		named_task, initiator ? initiator : "NULL", source ? source : "NULL", age ? age : "0");
	if (!states)
		return id;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", states);
	int n = word_count(states);
	char *save = NULL;
	int k = 0;
	for (char *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save), k++)
		PQclear(testdb_sqlf(db.pg,
			"INSERT INTO tasker_task_transitions (to_state, sort_key, most_recent, task_id, created_at, "
			"  updated_at) VALUES ('%s', %d, %s, %lld, now() - interval '%d minutes', now())",
			s, (k + 1) * 10, k == n - 1 ? "true" : "false", id, n - k));
	return id;
}

/* One step of a fixture. Strings are SQL literals; NULL leaves the engine's value for a new step
 * (attempts 0, column defaults otherwise). Ages are seconds before now(). */
typedef struct step_fx {
	const char *name;
	const char *state;         /* most recent transition; NULL = none (reads as pending) */
	const char *state_age;     /* its created_at; NULL = now() */
	const char *history;       /* an earlier transition (an hour ago), no longer most recent */
	const char *attempts, *retry_limit, *retryable, *in_process, *processed;
	const char *attempted_age; /* last_attempted_at; NULL = NULL */
	const char *backoff;       /* backoff_request_seconds */
	const char *parents;       /* names of other steps of the fixture, space-separated */
	const char *created_age;   /* the step's created_at; NULL = now() */
	/* readiness: current_state, dependencies_satisfied, retry_eligible, ready_for_execution,
	 * last_failure_at, next_retry_at, total_parents, completed_parents, attempts, retry_limit,
	 * backoff_request_seconds, last_attempted_at (times as offsets from now(), in seconds) */
	const char *want[12];
} step_fx;

static long long named_step(const char *name)
{
	return testdb_count(db.pg,
		"INSERT INTO tasker_named_steps (dependent_system_id, name, created_at, updated_at) "
		"VALUES (1, '%s', now(), now()) "
		"ON CONFLICT (dependent_system_id, name) DO UPDATE SET updated_at = EXCLUDED.updated_at "
		"RETURNING named_step_id",
		name);
}

static void transition(long long step, const char *state, int sort_key, int most_recent, const char *when)
{
	PQclear(testdb_sqlf(db.pg,
		"INSERT INTO tasker_workflow_step_transitions (to_state, sort_key, most_recent, workflow_step_id, "
		"  created_at, updated_at) VALUES ('%s', %d, %s, %lld, %s, now())",
		state, sort_key, most_recent ? "true" : "false", step, when));
}

static long long find_step(const step_fx *fx, size_t n, const long long *ids, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fx[i].name, name) == 0)
			return ids[i];
	fail_msg("fixture names no step '%s'", name);
	return 0;
}

static void edge(long long from, long long to)
{
	PQclear(testdb_sqlf(db.pg,
		"INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) "
		"VALUES (%lld, %lld, 'provides', now(), now())",
		from, to));
}

/* Creates the steps in order (so ids ascend in fixture order), then their edges, each step's parents
 * in the order listed. */
static void build(long long task, const step_fx *fx, size_t n, long long *ids)
{
	char when[96], attempted[96], created[96];
	assert_true(n <= MAX_STEPS);
	for (size_t i = 0; i < n; i++) {
		const step_fx *s = &fx[i];
		if (s->attempted_age)
			snprintf(attempted, sizeof attempted, "now() - interval '%s seconds'", s->attempted_age);
		else
			snprintf(attempted, sizeof attempted, "NULL");
		snprintf(created, sizeof created, "now() - interval '%s seconds'", s->created_age ? s->created_age : "0");
		ids[i] = testdb_count(db.pg,
			"INSERT INTO tasker_workflow_steps (task_id, named_step_id, attempts, retry_limit, retryable, "
			"  in_process, processed, last_attempted_at, backoff_request_seconds, created_at, updated_at) "
			"VALUES (%lld, %lld, %s, %s, %s, %s, %s, %s, %s, %s, now()) RETURNING workflow_step_id",
			task, named_step(s->name), s->attempts ? s->attempts : "0",
			s->retry_limit ? s->retry_limit : "DEFAULT", s->retryable ? s->retryable : "DEFAULT",
			s->in_process ? s->in_process : "DEFAULT", s->processed ? s->processed : "DEFAULT", attempted,
			s->backoff ? s->backoff : "NULL", created);
		if (s->history)
			transition(ids[i], s->history, 10, 0, "now() - interval '1 hour'");
		if (s->state) {
			snprintf(when, sizeof when, "now() - interval '%s seconds'", s->state_age ? s->state_age : "0");
			transition(ids[i], s->state, 20, 1, when);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!fx[i].parents)
			continue;
		char buf[512], *save = NULL;
		snprintf(buf, sizeof buf, "%s", fx[i].parents);
		for (char *p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save))
			edge(find_step(fx, n, ids, p), ids[i]);
	}
}

/* ------------------------------------------------------------------ assertions */

static const char *cell(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? "NULL" : PQgetvalue(r, row, col);
}

/* Columns first..first+n-1 of `row` equal want[] ("NULL" for SQL NULL), or the failure names the
 * case and the column. */
static void expect_row(const char *ctx, const PGresult *r, int row, int first, const char *const *want, int n)
{
	for (int c = 0; c < n; c++) {
		if (!want[c])
			fail_msg("%s: no expectation for %s", ctx, PQfname(r, first + c));
		const char *got = cell(r, row, first + c);
		if (strcmp(got, want[c]) != 0)
			fail_msg("%s: %s = %s, want %s", ctx, PQfname(r, first + c), got, want[c]);
	}
}

static void expect_rows(const char *ctx, const PGresult *r, int n)
{
	if (PQntuples(r) != n)
		fail_msg("%s: %d rows, want %d", ctx, PQntuples(r), n);
}

/* "ARRAY[1,2]::bigint[]" */
static void id_array(char *buf, size_t size, const long long *ids, size_t n)
{
	size_t len = (size_t)snprintf(buf, size, "ARRAY[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? "," : "", ids[i]);
	snprintf(buf + len, size - len, "]::bigint[]");
}

/* ------------------------------------------------------------------ get_step_readiness_status */

#define READINESS_COLUMNS                                                                                  \
	"r.workflow_step_id, r.task_id, "                                                                      \
	"(SELECT ns.name FROM tasker_named_steps ns WHERE ns.named_step_id = r.named_step_id) AS named_step, " \
	"r.name, r.current_state, r.dependencies_satisfied, r.retry_eligible, r.ready_for_execution, "        \
	"extract(epoch FROM r.last_failure_at - now()::timestamp)::float8 AS last_failure_at, "                \
	"extract(epoch FROM r.next_retry_at - now()::timestamp)::float8 AS next_retry_at, "                    \
	"r.total_parents, r.completed_parents, r.attempts, r.retry_limit, r.backoff_request_seconds, "         \
	"extract(epoch FROM r.last_attempted_at - now()::timestamp)::float8 AS last_attempted_at "

#define PENDING_READY "pending", "t", "t", "t", "NULL", "NULL", "0", "0"

/* Backoff: 2^attempts s (NULL attempts → 1), capped at 30 s, from the error transition; a requested
 * backoff (last_attempted_at + backoff_request_seconds) overrides next_retry_at and also gates. */
static const step_fx readiness_fx[] = {
	{.name = "fresh", .want = {PENDING_READY, "0", "3", "NULL", "NULL"}},
	{.name = "null_counts", .attempts = "NULL", .retry_limit = "NULL",
	 .want = {PENDING_READY, "0", "3", "NULL", "NULL"}},
	{.name = "in_process", .in_process = "true",
	 .want = {"pending", "t", "t", "f", "NULL", "NULL", "0", "0", "0", "3", "NULL", "NULL"}},
	{.name = "processed_pending", .processed = "true",
	 .want = {"pending", "t", "t", "f", "NULL", "NULL", "0", "0", "0", "3", "NULL", "NULL"}},
	{.name = "done", .history = "in_progress", .state = "complete", .state_age = "60", .processed = "true",
	 .attempts = "1", .want = {"complete", "t", "t", "f", "NULL", "NULL", "0", "0", "1", "3", "NULL", "NULL"}},
	{.name = "resolved", .history = "error", .state = "resolved_manually", .state_age = "60", .attempts = "3",
	 .want = {"resolved_manually", "t", "f", "f", "NULL", "NULL", "0", "0", "3", "3", "NULL", "NULL"}},
	{.name = "not_retryable", .retryable = "false",
	 .want = {"pending", "t", "t", "f", "NULL", "NULL", "0", "0", "0", "3", "NULL", "NULL"}},
	/* retry_eligible is A < L only: not retryable does not change it */
	{.name = "not_retryable_err", .retryable = "false", .state = "error", .state_age = "100", .attempts = "1",
	 .want = {"error", "t", "t", "f", "-100", "-98", "0", "0", "1", "3", "NULL", "NULL"}},
	{.name = "at_limit", .state = "error", .state_age = "100", .attempts = "3",
	 .want = {"error", "t", "f", "f", "-100", "-92", "0", "0", "3", "3", "NULL", "NULL"}},
	{.name = "past_limit", .state = "error", .state_age = "100", .attempts = "5",
	 .want = {"error", "t", "f", "f", "-100", "-70", "0", "0", "5", "3", "NULL", "NULL"}},
	{.name = "err1_in", .state = "error", .state_age = "1", .attempts = "1",
	 .want = {"error", "t", "t", "f", "-1", "1", "0", "0", "1", "3", "NULL", "NULL"}},
	{.name = "err1_out", .state = "error", .state_age = "3", .attempts = "1",
	 .want = {"error", "t", "t", "t", "-3", "-1", "0", "0", "1", "3", "NULL", "NULL"}},
	{.name = "err3_in", .state = "error", .state_age = "5", .attempts = "3", .retry_limit = "5",
	 .want = {"error", "t", "t", "f", "-5", "3", "0", "0", "3", "5", "NULL", "NULL"}},
	/* the window ends exactly now(): ready (<=) */
	{.name = "err3_edge", .state = "error", .state_age = "8", .attempts = "3", .retry_limit = "5",
	 .want = {"error", "t", "t", "t", "-8", "0", "0", "0", "3", "5", "NULL", "NULL"}},
	{.name = "err3_out", .state = "error", .state_age = "9", .attempts = "3", .retry_limit = "5",
	 .want = {"error", "t", "t", "t", "-9", "-1", "0", "0", "3", "5", "NULL", "NULL"}},
	/* 2^6 = 64 s, capped at 30 s */
	{.name = "err6_in", .state = "error", .state_age = "29", .attempts = "6", .retry_limit = "10",
	 .want = {"error", "t", "t", "f", "-29", "1", "0", "0", "6", "10", "NULL", "NULL"}},
	{.name = "err6_out", .state = "error", .state_age = "31", .attempts = "6", .retry_limit = "10",
	 .want = {"error", "t", "t", "t", "-31", "-1", "0", "0", "6", "10", "NULL", "NULL"}},
	/* NULL attempts: exponent 1 (2 s), but reported and compared to the limit as 0 */
	{.name = "err_null_attempts", .state = "error", .state_age = "1", .attempts = "NULL",
	 .want = {"error", "t", "t", "f", "-1", "1", "0", "0", "0", "3", "NULL", "NULL"}},
	{.name = "err0", .state = "error", .state_age = "0.5", .attempts = "0",
	 .want = {"error", "t", "t", "f", "-0.5", "0.5", "0", "0", "0", "3", "NULL", "NULL"}},
	{.name = "backoff_in", .state = "error", .state_age = "60", .attempts = "1", .attempted_age = "10",
	 .backoff = "30", .want = {"error", "t", "t", "f", "-60", "20", "0", "0", "1", "3", "30", "-10"}},
	{.name = "backoff_out", .state = "error", .state_age = "60", .attempts = "1", .attempted_age = "40",
	 .backoff = "30", .want = {"error", "t", "t", "t", "-60", "-10", "0", "0", "1", "3", "30", "-40"}},
	/* the requested backoff is over and names next_retry_at, but the SQL backoff still gates */
	{.name = "backoff_vs_sql", .state = "error", .state_age = "1", .attempts = "1", .attempted_age = "100",
	 .backoff = "5", .want = {"error", "t", "t", "f", "-1", "-95", "0", "0", "1", "3", "5", "-100"}},
	{.name = "backoff_unattempted", .backoff = "30",
	 .want = {PENDING_READY, "0", "3", "30", "NULL"}},
	{.name = "backoff_pending", .attempts = "1", .attempted_age = "10", .backoff = "30",
	 .want = {"pending", "t", "t", "f", "NULL", "20", "0", "0", "1", "3", "30", "-10"}},
	{.name = "attempted_only", .attempts = "1", .attempted_age = "10",
	 .want = {PENDING_READY, "1", "3", "NULL", "-10"}},
	/* ⚠ the failure is forgotten once the step left error: no backoff applies */
	{.name = "retried", .history = "error", .state = "pending", .state_age = "1", .attempts = "1",
	 .want = {PENDING_READY, "1", "3", "NULL", "NULL"}},
	{.name = "running", .state = "in_progress", .state_age = "5",
	 .want = {"in_progress", "t", "t", "f", "NULL", "NULL", "0", "0", "0", "3", "NULL", "NULL"}},
	{.name = "cancelled", .state = "cancelled", .state_age = "5",
	 .want = {"cancelled", "t", "t", "f", "NULL", "NULL", "0", "0", "0", "3", "NULL", "NULL"}},
	{.name = "child_all_done", .parents = "resolved done",
	 .want = {"pending", "t", "t", "t", "NULL", "NULL", "2", "2", "0", "3", "NULL", "NULL"}},
	{.name = "child_partial", .parents = "fresh done",
	 .want = {"pending", "f", "t", "f", "NULL", "NULL", "2", "1", "0", "3", "NULL", "NULL"}},
	{.name = "child_of_running", .parents = "running",
	 .want = {"pending", "f", "t", "f", "NULL", "NULL", "1", "0", "0", "3", "NULL", "NULL"}},
	{.name = "child_of_error", .parents = "at_limit",
	 .want = {"pending", "f", "t", "f", "NULL", "NULL", "1", "0", "0", "3", "NULL", "NULL"}},
	{.name = "err_waiting_parent", .state = "error", .state_age = "100", .attempts = "1", .parents = "fresh",
	 .want = {"error", "f", "t", "f", "-100", "-98", "1", "0", "1", "3", "NULL", "NULL"}},
};

/* A second task, to check that tasks do not mix. */
static const step_fx other_fx[] = {
	{.name = "other_root", .want = {PENDING_READY, "0", "3", "NULL", "NULL"}},
	{.name = "other_child", .parents = "other_root",
	 .want = {"pending", "f", "t", "f", "NULL", "NULL", "1", "0", "0", "3", "NULL", "NULL"}},
};

/* Rows of `r` (ordered by workflow_step_id) are exactly the fixture's steps ids[which[k]]. */
static void expect_readiness(const char *ctx, const PGresult *r, long long task, const step_fx *fx,
                             const long long *ids, const size_t *which, size_t n)
{
	char what[160], id[32], tid[32];
	expect_rows(ctx, r, (int)n);
	for (size_t k = 0; k < n; k++) {
		const step_fx *s = &fx[which[k]];
		snprintf(what, sizeof what, "%s, step %s", ctx, s->name);
		snprintf(id, sizeof id, "%lld", ids[which[k]]);
		snprintf(tid, sizeof tid, "%lld", task);
		const char *identity[] = {id, tid, s->name, s->name};
		expect_row(what, r, (int)k, 0, identity, 4);
		expect_row(what, r, (int)k, 4, s->want, 12);
	}
}

static void all_of(size_t *which, size_t n)
{
	for (size_t i = 0; i < n; i++)
		which[i] = i;
}

static void test_readiness_every_rule(void **state)
{
	(void)state;
	long long ids[MAX_STEPS], other_ids[MAX_STEPS];
	size_t which[MAX_STEPS];
	long long task = task_new(1, NULL, NULL, NULL, NULL);
	long long other = task_new(2, NULL, NULL, NULL, NULL);
	build(task, readiness_fx, N(readiness_fx), ids);
	build(other, other_fx, N(other_fx), other_ids);

	all_of(which, N(readiness_fx));
	PGresult *r = testdb_sqlf(db.pg, "SELECT " READINESS_COLUMNS "FROM get_step_readiness_status(%lld) r", task);
	expect_readiness("get_step_readiness_status", r, task, readiness_fx, ids, which, N(readiness_fx));
	PQclear(r);
	r = testdb_sqlf(db.pg, "SELECT " READINESS_COLUMNS "FROM get_step_readiness_status(%lld, NULL) r", task);
	expect_readiness("step_ids NULL", r, task, readiness_fx, ids, which, N(readiness_fx));
	PQclear(r);

	all_of(which, N(other_fx));
	r = testdb_sqlf(db.pg, "SELECT " READINESS_COLUMNS "FROM get_step_readiness_status(%lld) r", other);
	expect_readiness("other task", r, other, other_fx, other_ids, which, N(other_fx));
	PQclear(r);
}

static size_t fx_index(const step_fx *fx, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fx[i].name, name) == 0)
			return i;
	fail_msg("fixture names no step '%s'", name);
	return 0;
}

static void test_readiness_step_filter_and_missing_task(void **state)
{
	(void)state;
	long long ids[MAX_STEPS], other_ids[MAX_STEPS];
	long long task = task_new(1, NULL, NULL, NULL, NULL);
	long long other = task_new(1, NULL, NULL, NULL, NULL);
	build(task, readiness_fx, N(readiness_fx), ids);
	build(other, other_fx, N(other_fx), other_ids);

	/* asked in any order, including another task's step: only this task's, in id order */
	size_t fresh = fx_index(readiness_fx, N(readiness_fx), "fresh");
	size_t err = fx_index(readiness_fx, N(readiness_fx), "err1_in");
	size_t child = fx_index(readiness_fx, N(readiness_fx), "child_partial");
	size_t edge_case = fx_index(readiness_fx, N(readiness_fx), "err3_edge");
	assert_true(fresh < err && err < child);
	char filter[256];
	long long asked[] = {ids[err], other_ids[0], ids[fresh], ids[child]};
	id_array(filter, sizeof filter, asked, N(asked));
	size_t which[] = {fresh, err, child};
	PGresult *r = testdb_sqlf(db.pg, "SELECT " READINESS_COLUMNS "FROM get_step_readiness_status(%lld, %s) r",
	                          task, filter);
	expect_readiness("step_ids filter", r, task, readiness_fx, ids, which, N(which));
	PQclear(r);
	r = testdb_sqlf(db.pg, "SELECT " READINESS_COLUMNS
	                "FROM get_step_readiness_status(input_task_id => %lld, step_ids => ARRAY[%lld]) r",
	                task, ids[edge_case]);
	size_t one[] = {edge_case};
	expect_readiness("named arguments", r, task, readiness_fx, ids, one, 1);
	PQclear(r);

	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM get_step_readiness_status(%lld, ARRAY[]::bigint[])", task), 0);
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM get_step_readiness_status(%lld, ARRAY[%lld])", task, other_ids[0]), 0);
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM get_step_readiness_status(%lld)", other + 1000), 0);
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM get_step_readiness_status_batch(ARRAY[%lld])", other + 1000), 0);
}

static void test_readiness_batch(void **state)
{
	(void)state;
	long long ids[MAX_STEPS], other_ids[MAX_STEPS];
	long long first = task_new(1, NULL, NULL, NULL, NULL);
	long long second = task_new(3, NULL, NULL, NULL, NULL);
	/* the later task gets the lower step ids, so (task_id, workflow_step_id) order is visible */
	build(second, readiness_fx, N(readiness_fx), ids);
	build(first, other_fx, N(other_fx), other_ids);
	long long missing = second + 1000;

	PGresult *r = testdb_sqlf(db.pg,
		"SELECT " READINESS_COLUMNS "FROM get_step_readiness_status_batch(ARRAY[%lld, %lld, %lld]) r",
		second, missing, first);
	expect_rows("batch", r, (int)(N(readiness_fx) + N(other_fx)));
	for (size_t k = 0; k < N(other_fx); k++) {
		char what[96], id[32], tid[32];
		snprintf(what, sizeof what, "batch row %zu (%s)", k, other_fx[k].name);
		snprintf(id, sizeof id, "%lld", other_ids[k]);
		snprintf(tid, sizeof tid, "%lld", first);
		const char *identity[] = {id, tid, other_fx[k].name, other_fx[k].name};
		expect_row(what, r, (int)k, 0, identity, 4);
		expect_row(what, r, (int)k, 4, other_fx[k].want, 12);
	}
	for (size_t k = 0; k < N(readiness_fx); k++) {
		char what[96], id[32], tid[32];
		int row = (int)(N(other_fx) + k);
		snprintf(what, sizeof what, "batch row %d (%s)", row, readiness_fx[k].name);
		snprintf(id, sizeof id, "%lld", ids[k]);
		snprintf(tid, sizeof tid, "%lld", second);
		const char *identity[] = {id, tid, readiness_fx[k].name, readiness_fx[k].name};
		expect_row(what, r, row, 0, identity, 4);
		expect_row(what, r, row, 4, readiness_fx[k].want, 12);
	}
	PQclear(r);
	/* and the raw rows are those of the single-task function, column for column */
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM ("
		"  (SELECT * FROM get_step_readiness_status_batch(ARRAY[%lld, %lld]) "
		"   EXCEPT ALL (SELECT * FROM get_step_readiness_status(%lld) "
		"               UNION ALL SELECT * FROM get_step_readiness_status(%lld))) "
		"  UNION ALL "
		"  ((SELECT * FROM get_step_readiness_status(%lld) UNION ALL SELECT * FROM get_step_readiness_status(%lld)) "
		"   EXCEPT ALL SELECT * FROM get_step_readiness_status_batch(ARRAY[%lld, %lld]))) d",
		first, second, first, second, first, second, first, second), 0);
}

/* ------------------------------------------------------------------ get_task_execution_context */

typedef struct context_case {
	const char *label;
	int named_task;
	const char *task_states;   /* task transitions, oldest first; NULL = none (pending) */
	step_fx steps[4];          /* .want unused here */
	size_t nsteps;
	/* status, total_steps, pending_steps, in_progress_steps, completed_steps, failed_steps,
	 * ready_steps, execution_status, recommended_action, completion_percentage, health_status */
	const char *want[11];
} context_case;

#define FRESH(n) {.name = n}
#define ERROR_AT_LIMIT(n) {.name = n, .state = "error", .state_age = "100", .attempts = "3"}

/* health_status 'unknown' is unreachable: with failed > 0 and nothing ready, blocked is either > 0
 * (blocked) or 0 (recovering), and every count is non-NULL. */
static const context_case context_cases[] = {
	{"ready", 1, NULL, {FRESH("c_ready")}, 1,
	 {"pending", "1", "1", "0", "0", "0", "1", "has_ready_steps", "execute_ready_steps", "0.00", "healthy"}},
	{"processing", 2, "pending in_progress",
	 {{.name = "c_run", .state = "in_progress", .in_process = "true"}, {.name = "c_run_child", .parents = "c_run"}},
	 2, {"in_progress", "2", "1", "1", "0", "0", "0", "processing", "wait_for_completion", "0.00", "healthy"}},
	{"blocked", 3, "in_progress error", {ERROR_AT_LIMIT("c_blk"), {.name = "c_blk_child", .parents = "c_blk"}}, 2,
	 {"error", "2", "1", "0", "0", "1", "0", "blocked_by_failures", "handle_failures", "0.00", "blocked"}},
	/* a NULL retry_limit counts as 3 for "blocked" too */
	{"blocked, default limit", 1, NULL,
	 {{.name = "c_blk_null", .state = "error", .state_age = "100", .attempts = "4", .retry_limit = "NULL"}}, 1,
	 {"pending", "1", "0", "0", "0", "1", "0", "blocked_by_failures", "handle_failures", "0.00", "blocked"}},
	{"all complete", 1, "pending in_progress complete",
	 {{.name = "c_done", .state = "complete", .processed = "true"},
	  {.name = "c_resolved", .state = "resolved_manually", .parents = "c_done"}},
	 2, {"complete", "2", "0", "0", "2", "0", "0", "all_complete", "finalize_task", "100.00", "healthy"}},
	/* in error, inside its backoff: recovering although nothing can run now */
	{"waiting on a backoff", 2, "pending",
	 {{.name = "c_wait", .state = "error", .state_age = "1", .attempts = "1"},
	  {.name = "c_wait_child", .parents = "c_wait"}},
	 2, {"pending", "2", "1", "0", "0", "1", "0", "waiting_for_dependencies", "wait_for_dependencies", "0.00",
	     "recovering"}},
	{"recovering with a ready retry", 1, NULL,
	 {{.name = "c_retry", .state = "error", .state_age = "3", .attempts = "1"},
	  {.name = "c_retry_child", .parents = "c_retry"}},
	 2, {"pending", "2", "1", "0", "0", "1", "1", "has_ready_steps", "execute_ready_steps", "0.00", "recovering"}},
	/* ⚠ not retryable, attempts < limit: neither ready nor blocked, so the task waits forever */
	{"error not retryable", 1, NULL,
	 {{.name = "c_nr", .state = "error", .state_age = "100", .attempts = "1", .retryable = "false"},
	  {.name = "c_nr_child", .parents = "c_nr"}},
	 2, {"pending", "2", "1", "0", "0", "1", "0", "waiting_for_dependencies", "wait_for_dependencies", "0.00",
	     "recovering"}},
	{"ready beats blocked", 1, NULL, {ERROR_AT_LIMIT("c_rb_err"), FRESH("c_rb_ready")}, 2,
	 {"pending", "2", "1", "0", "0", "1", "1", "has_ready_steps", "execute_ready_steps", "0.00", "recovering"}},
	{"processing beats blocked", 1, NULL,
	 {ERROR_AT_LIMIT("c_pb_err"), {.name = "c_pb_run", .state = "in_progress"}}, 2,
	 {"pending", "2", "0", "1", "0", "1", "0", "processing", "wait_for_completion", "0.00", "blocked"}},
	{"one of three", 1, NULL,
	 {{.name = "c_13_done", .state = "complete"}, {.name = "c_13_run", .state = "in_progress"},
	  {.name = "c_13_next", .parents = "c_13_run"}},
	 3, {"pending", "3", "1", "1", "1", "0", "0", "processing", "wait_for_completion", "33.33", "healthy"}},
	{"two of three", 1, NULL,
	 {{.name = "c_23_done", .state = "complete"}, {.name = "c_23_resolved", .state = "resolved_manually"},
	  {.name = "c_23_run", .state = "in_progress"}},
	 3, {"pending", "3", "0", "1", "2", "0", "0", "processing", "wait_for_completion", "66.67", "healthy"}},
	/* a cancelled step counts in total_steps only */
	{"cancelled step", 1, NULL,
	 {{.name = "c_cx_done", .state = "complete"}, {.name = "c_cx_cancel", .state = "cancelled"}}, 2,
	 {"pending", "2", "0", "0", "1", "0", "0", "waiting_for_dependencies", "wait_for_dependencies", "50.00",
	  "healthy"}},
	{"no steps", 3, NULL, {{0}}, 0,
	 {"pending", "0", "0", "0", "0", "0", "0", "waiting_for_dependencies", "wait_for_dependencies", "0.0",
	  "healthy"}},
};

#define CONTEXT_COLUMNS                                                                                  \
	"c.task_id, c.named_task_id, c.status, c.total_steps, c.pending_steps, c.in_progress_steps, "        \
	"c.completed_steps, c.failed_steps, c.ready_steps, c.execution_status, c.recommended_action, "      \
	"c.completion_percentage, c.health_status "

static void expect_context(const char *ctx, const PGresult *r, int row, long long task, const context_case *k)
{
	char tid[32], ntid[16];
	snprintf(tid, sizeof tid, "%lld", task);
	snprintf(ntid, sizeof ntid, "%d", k->named_task);
	const char *identity[] = {tid, ntid};
	expect_row(ctx, r, row, 0, identity, 2);
	expect_row(ctx, r, row, 2, k->want, 11);
}

static void build_context_cases(long long *tasks)
{
	long long ids[MAX_STEPS];
	for (size_t i = 0; i < N(context_cases); i++) {
		const context_case *k = &context_cases[i];
		tasks[i] = task_new(k->named_task, NULL, NULL, NULL, k->task_states);
		build(tasks[i], k->steps, k->nsteps, ids);
	}
}

static void test_execution_context(void **state)
{
	(void)state;
	long long tasks[N(context_cases)];
	build_context_cases(tasks);
	for (size_t i = 0; i < N(context_cases); i++) {
		PGresult *r = testdb_sqlf(db.pg, "SELECT " CONTEXT_COLUMNS "FROM get_task_execution_context(%lld) c",
		                          tasks[i]);
		expect_rows(context_cases[i].label, r, 1);
		expect_context(context_cases[i].label, r, 0, tasks[i], &context_cases[i]);
		PQclear(r);
	}
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM get_task_execution_context(%lld)",
	                              tasks[N(context_cases) - 1] + 1000), 0);
}

static void test_execution_contexts_batch(void **state)
{
	(void)state;
	long long tasks[N(context_cases)];
	build_context_cases(tasks);
	/* newest first, with an id that names no task in the middle */
	long long asked[N(context_cases) + 1];
	size_t n = 0;
	for (size_t i = N(context_cases); i-- > 0;) {
		asked[n++] = tasks[i];
		if (i == N(context_cases) / 2)
			asked[n++] = tasks[N(context_cases) - 1] + 1000;
	}
	char ids[1024];
	id_array(ids, sizeof ids, asked, n);
	PGresult *r = testdb_sqlf(db.pg, "SELECT " CONTEXT_COLUMNS "FROM get_task_execution_contexts_batch(%s) c", ids);
	expect_rows("batch", r, (int)N(context_cases));
	for (size_t i = 0; i < N(context_cases); i++) {
		char what[96];
		snprintf(what, sizeof what, "batch, %s", context_cases[i].label);
		expect_context(what, r, (int)i, tasks[i], &context_cases[i]);
	}
	PQclear(r);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM get_task_execution_contexts_batch(ARRAY[%lld])",
	                              tasks[N(context_cases) - 1] + 1000), 0);
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM get_task_execution_contexts_batch(ARRAY[]::bigint[])"), 0);
}

/* ------------------------------------------------------------------ DAG: the view and dependency levels */

typedef struct dag_expect {
	const char *name;
	const char *parents, *children;  /* names, space-separated */
	const char *min_depth;           /* view; "NULL" when unreachable */
	const char *level;               /* calculate_dependency_levels; NULL = no row */
} dag_expect;

/* Inserted d first so that ids do not follow depth, and d's parents in descending id order. */
static const step_fx diamond_fx[] = {
	{.name = "d", .parents = "b c f"}, {.name = "f", .parents = "e"}, {.name = "e", .parents = "a"},
	{.name = "c", .parents = "a"},     {.name = "b", .parents = "a"}, {.name = "a"},
	{.name = "g"},
};
/* d is 2 from the root by b or c, 3 by e, f: the view takes the shortest, levels the longest. */
static const dag_expect diamond_expect[] = {
	{"d", "b c f", "", "2", "3"}, {"f", "e", "d", "2", "2"}, {"e", "a", "f", "1", "1"},
	{"c", "a", "d", "1", "1"},    {"b", "a", "d", "1", "1"}, {"a", "", "b c e", "0", "0"},
	{"g", "", "", "0", "0"},
};
/* levels ordered by (level, id): a, g at 0; e, c, b (ascending ids) at 1; f; d */
static const char *const diamond_level_order[] = {"a", "g", "e", "c", "b", "f", "d"};

static const step_fx chain_fx[] = {
	{.name = "h1"}, {.name = "h2", .parents = "h1"}, {.name = "h3", .parents = "h2"}, {.name = "h4", .parents = "h3"},
};
static const dag_expect chain_expect[] = {
	{"h1", "", "h2", "0", "0"}, {"h2", "h1", "h3", "1", "1"}, {"h3", "h2", "h4", "2", "2"}, {"h4", "h3", "", "3", "3"},
};

/* r → x ⇄ y, and z ⇄ w reachable from no root. */
static const step_fx cycle_fx[] = {
	{.name = "r"}, {.name = "x", .parents = "r y"}, {.name = "y", .parents = "x"},
	{.name = "z", .parents = "w"}, {.name = "w", .parents = "z"},
};
static const dag_expect cycle_expect[] = {
	{"r", "", "x", "0", "0"}, {"x", "r y", "y", "1", NULL}, {"y", "x", "x", "2", NULL},
	{"z", "w", "w", "NULL", NULL}, {"w", "z", "z", "NULL", NULL},
};

/* "[3, 4, 5]": the ids of the named steps, ascending, as jsonb prints an array. */
static void json_ids(char *buf, size_t size, const char *names, const step_fx *fx, size_t n, const long long *ids)
{
	long long v[MAX_STEPS];
	size_t count = 0;
	char copy[256], *save = NULL;
	snprintf(copy, sizeof copy, "%s", names);
	for (char *p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save))
		v[count++] = find_step(fx, n, ids, p);
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			long long t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	size_t len = (size_t)snprintf(buf, size, "[");
	for (size_t i = 0; i < count; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", v[i]);
	snprintf(buf + len, size - len, "]");
}

static void expect_view(const char *ctx, long long task, const step_fx *fx, size_t n, const long long *ids,
                        const dag_expect *want)
{
	PGresult *r = testdb_sqlf(db.pg,
		"SELECT v.workflow_step_id, v.task_id, "
		"       (SELECT ns.name FROM tasker_named_steps ns WHERE ns.named_step_id = v.named_step_id) AS named_step, "
		"       v.parent_step_ids, v.child_step_ids, v.parent_count, v.child_count, v.is_root_step, "
		"       v.is_leaf_step, v.min_depth_from_root "
		"FROM tasker_step_dag_relationships v WHERE v.task_id = %lld ORDER BY v.workflow_step_id",
		task);
	expect_rows(ctx, r, (int)n);
	for (size_t i = 0; i < n; i++) {
		const dag_expect *e = &want[i];
		char what[96], id[32], tid[32], parents[512], children[512], np[16], nc[16];
		snprintf(what, sizeof what, "%s, step %s", ctx, e->name);
		snprintf(id, sizeof id, "%lld", find_step(fx, n, ids, e->name));
		snprintf(tid, sizeof tid, "%lld", task);
		json_ids(parents, sizeof parents, e->parents, fx, n, ids);
		json_ids(children, sizeof children, e->children, fx, n, ids);
		snprintf(np, sizeof np, "%d", word_count(e->parents));
		snprintf(nc, sizeof nc, "%d", word_count(e->children));
		const char *row[] = {id, tid, e->name, parents, children, np, nc,
		                     word_count(e->parents) ? "f" : "t", word_count(e->children) ? "f" : "t",
		                     e->min_depth};
		expect_row(what, r, (int)i, 0, row, 10);
	}
	PQclear(r);
}

static void test_dag_view(void **state)
{
	(void)state;
	long long d_ids[MAX_STEPS], h_ids[MAX_STEPS], y_ids[MAX_STEPS];
	long long diamond = task_new(1, NULL, NULL, NULL, NULL);
	long long chain = task_new(1, NULL, NULL, NULL, NULL);
	long long cycle = task_new(1, NULL, NULL, NULL, NULL);
	build(diamond, diamond_fx, N(diamond_fx), d_ids);
	build(chain, chain_fx, N(chain_fx), h_ids);
	build(cycle, cycle_fx, N(cycle_fx), y_ids);
	expect_view("diamond", diamond, diamond_fx, N(diamond_fx), d_ids, diamond_expect);
	expect_view("chain", chain, chain_fx, N(chain_fx), h_ids, chain_expect);
	expect_view("cycle", cycle, cycle_fx, N(cycle_fx), y_ids, cycle_expect);
}

static void expect_levels(const char *ctx, long long task, const step_fx *fx, size_t n, const long long *ids,
                          const dag_expect *want, const char *const *order)
{
	PGresult *r = testdb_sqlf(db.pg,
		"SELECT l.workflow_step_id, l.dependency_level FROM calculate_dependency_levels(%lld) l", task);
	expect_rows(ctx, r, (int)n);
	for (size_t i = 0; i < n; i++) {
		const dag_expect *e = NULL;
		for (size_t k = 0; k < n; k++)
			if (strcmp(want[k].name, order[i]) == 0)
				e = &want[k];
		assert_non_null(e);
		char what[96], id[32];
		snprintf(what, sizeof what, "%s, row %zu (%s)", ctx, i, e->name);
		snprintf(id, sizeof id, "%lld", find_step(fx, n, ids, e->name));
		const char *row[] = {id, e->level};
		expect_row(what, r, (int)i, 0, row, 2);
	}
	PQclear(r);
}

static void test_dependency_levels(void **state)
{
	(void)state;
	long long d_ids[MAX_STEPS], h_ids[MAX_STEPS], y_ids[MAX_STEPS];
	long long diamond = task_new(1, NULL, NULL, NULL, NULL);
	long long chain = task_new(1, NULL, NULL, NULL, NULL);
	long long cycle = task_new(1, NULL, NULL, NULL, NULL);
	build(diamond, diamond_fx, N(diamond_fx), d_ids);
	build(chain, chain_fx, N(chain_fx), h_ids);
	build(cycle, cycle_fx, N(cycle_fx), y_ids);
	expect_levels("diamond levels", diamond, diamond_fx, N(diamond_fx), d_ids, diamond_expect, diamond_level_order);
	static const char *const chain_order[] = {"h1", "h2", "h3", "h4"};
	expect_levels("chain levels", chain, chain_fx, N(chain_fx), h_ids, chain_expect, chain_order);
	/* a cycle has no longest path; the function still ends, and only reachable steps have a level */
	PGresult *r = testdb_sqlf(db.pg,
		"SELECT l.workflow_step_id, l.dependency_level FROM calculate_dependency_levels(%lld) l", cycle);
	expect_rows("cycle levels", r, 3);
	char rid[32];
	snprintf(rid, sizeof rid, "%lld", y_ids[0]);
	const char *root[] = {rid, "0"};
	expect_row("cycle levels, r", r, 0, 0, root, 2);
	PQclear(r);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM calculate_dependency_levels(%lld)", cycle + 1000), 0);
}

/* A chain of 53: the view's depth stops at 50 (farther is NULL), levels do not stop. */
static void test_depth_cap(void **state)
{
	(void)state;
	long long task = task_new(1, NULL, NULL, NULL, NULL);
	long long prev = 0, ids[53];
	long long ns = named_step("chain_link");
	for (int i = 0; i < 53; i++) {
		ids[i] = testdb_count(db.pg,
			"INSERT INTO tasker_workflow_steps (task_id, named_step_id, attempts, created_at, updated_at) "
			"VALUES (%lld, %lld, 0, now(), now()) RETURNING workflow_step_id", task, ns);
		if (i)
			edge(prev, ids[i]);
		prev = ids[i];
	}
	static const struct { int index; const char *depth, *level; } want[] = {
		{0, "0", "0"}, {49, "49", "49"}, {50, "50", "50"}, {51, "NULL", "51"}, {52, "NULL", "52"},
	};
	for (size_t i = 0; i < N(want); i++) {
		char what[64];
		snprintf(what, sizeof what, "chain of 53, step %d", want[i].index);
		PGresult *r = testdb_sqlf(db.pg,
			"SELECT (SELECT v.min_depth_from_root FROM tasker_step_dag_relationships v "
			"        WHERE v.workflow_step_id = %lld) AS min_depth_from_root, "
			"       (SELECT l.dependency_level FROM calculate_dependency_levels(%lld) l "
			"        WHERE l.workflow_step_id = %lld) AS dependency_level",
			ids[want[i].index], task, ids[want[i].index]);
		const char *row[] = {want[i].depth, want[i].level};
		expect_row(what, r, 0, 0, row, 2);
		PQclear(r);
	}
}

/* 20 layers of 8 steps, each joined to every step of the next: 8^19 paths from the root to the last
 * layer. Counting paths would never end; the functions must finish well within the timeout. */
static void test_wide_diamond_does_not_explode(void **state)
{
	(void)state;
	long long task = task_new(1, NULL, NULL, NULL, NULL);
	long long ns = named_step("wide");
	PQclear(testdb_sql(db.pg, "SET LOCAL statement_timeout = '20s'"));
	PQclear(testdb_sqlf(db.pg,
		"INSERT INTO tasker_workflow_steps (task_id, named_step_id, attempts, inputs, created_at, updated_at) "
		"SELECT %lld, %lld, 0, jsonb_build_object('layer', l, 'pos', p), now(), now() "
		"FROM (SELECT -1 AS l, 0 AS p UNION ALL SELECT 99, 0 "
		"      UNION ALL SELECT l, p FROM generate_series(0, 19) l, generate_series(0, 7) p) s",
		task, ns));
	PQclear(testdb_sqlf(db.pg,
		"WITH s AS (SELECT workflow_step_id AS id, (inputs->>'layer')::int AS layer FROM tasker_workflow_steps "
		"           WHERE task_id = %lld) "
		"INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) "
		"SELECT a.id, b.id, 'provides', now(), now() FROM s a JOIN s b "
		"  ON (b.layer = a.layer + 1 AND b.layer <= 19) "
		"  OR (b.layer = 99 AND (a.layer = -1 OR a.layer = 19))",
		task));
	/* layer L is L+1 from the root; the sink hangs off the root (depth 1) and off layer 19 (level 21) */
	PGresult *r = testdb_sqlf(db.pg,
		"SELECT string_agg(DISTINCT x.label, ' ' ORDER BY x.label) "
		"         FILTER (WHERE x.layer IN ('-1', '0', '19', '99')) AS depths, "
		"       count(*) AS steps "
		"FROM (SELECT s.inputs->>'layer' AS layer, "
		"             (s.inputs->>'layer') || ':' || v.min_depth_from_root || '/' || l.dependency_level AS label "
		"      FROM tasker_workflow_steps s "
		"      JOIN tasker_step_dag_relationships v ON v.workflow_step_id = s.workflow_step_id "
		"      JOIN calculate_dependency_levels(%lld) l ON l.workflow_step_id = s.workflow_step_id "
		"      WHERE s.task_id = %lld) x",
		task, task);
	const char *want[] = {"-1:0/0 0:1/1 19:20/20 99:1/21", "162"};
	expect_row("wide layered DAG", r, 0, 0, want, 2);
	PQclear(r);
}

/* ------------------------------------------------------------------ get_system_health_counts_v01 */

static void test_system_health_counts(void **state)
{
	(void)state;
	long long t = task_new(1, NULL, NULL, NULL, NULL);
	task_new(1, NULL, NULL, NULL, "pending");
	task_new(1, NULL, NULL, NULL, "pending in_progress");
	task_new(2, NULL, NULL, NULL, "pending in_progress complete");
	task_new(2, NULL, NULL, NULL, "in_progress error");
	task_new(3, NULL, NULL, NULL, "cancelled");
	static const step_fx steps[] = {
		{.name = "hc_none"},
		{.name = "hc_pending", .state = "pending"},
		{.name = "hc_running", .state = "in_progress"},
		{.name = "hc_done", .history = "in_progress", .state = "complete"},
		{.name = "hc_resolved", .state = "resolved_manually"},
		{.name = "hc_cancelled", .state = "cancelled"},
		/* retryable errors: under the limit and retryable; in backoff when attempted */
		{.name = "hc_retry", .state = "error", .attempts = "1"},
		{.name = "hc_backoff", .state = "error", .attempts = "2", .attempted_age = "5"},
		{.name = "hc_null", .state = "error", .attempts = "NULL", .retry_limit = "NULL"},
		/* not retryable: neither retryable nor exhausted nor in backoff */
		{.name = "hc_not_retryable", .state = "error", .attempts = "1", .retryable = "false",
		 .attempted_age = "5"},
		/* exhausted: attempts >= limit, whatever else */
		{.name = "hc_exhausted", .state = "error", .attempts = "3", .attempted_age = "5"},
		{.name = "hc_exhausted_nr", .state = "error", .attempts = "5", .retryable = "false"},
		/* attempted but no longer in error */
		{.name = "hc_attempted_pending", .history = "error", .state = "pending", .attempts = "1",
		 .attempted_age = "5"},
	};
	long long ids[MAX_STEPS];
	build(t, steps, N(steps), ids);
	PGresult *r = testdb_sql(db.pg, "SELECT * FROM get_system_health_counts_v01()");
	expect_rows("health counts", r, 1);
	const char *want[] = {"6", "2", "1", "1", "1", "1", "13", "3", "1", "1", "6", "3", "2", "1"};
	expect_row("health counts", r, 0, 0, want, 14);
	for (int c = 0; c < PQnfields(r); c++)
		if (PQftype(r, c) != 20) /* int8 */
			fail_msg("health counts: %s is not bigint (type oid %u)", PQfname(r, c), PQftype(r, c));
	assert_int_equal(PQnfields(r), 16);
	long long active = atoll(PQgetvalue(r, 0, 14)), max = atoll(PQgetvalue(r, 0, 15));
	PQclear(r);
	/* this very statement runs on an active connection */
	assert_true(active >= 1);
	assert_true(active <= max);
	assert_int_equal(max, testdb_count(db.pg, "SELECT current_setting('max_connections')::bigint"));
}

/* ------------------------------------------------------------------ get_analytics_metrics_v01 */

#define METRICS_COLUMNS                                                                                 \
	"m.active_tasks_count, m.total_namespaces_count, m.unique_task_types_count, m.system_health_score, " \
	"m.task_throughput, m.completion_count, m.error_count, m.completion_rate, m.error_rate, "          \
	"m.avg_task_duration, m.avg_step_duration, m.step_throughput, "

static void analytics_fixtures(void)
{
	long long ids[MAX_STEPS];
	/* in the last hour: A complete after 600 s, B in error, C still running */
	long long a = task_new(1, "1800", NULL, NULL, NULL);
	PQclear(testdb_sqlf(db.pg,
		"INSERT INTO tasker_task_transitions (to_state, sort_key, most_recent, task_id, created_at, updated_at) "
		"VALUES ('in_progress', 10, false, %lld, now() - interval '1790 seconds', now()), "
		"       ('complete', 20, true, %lld, now() - interval '1200 seconds', now())", a, a));
	static const step_fx a_steps[] = {
		{.name = "an_a1", .created_age = "1800", .state = "complete", .state_age = "1500"},
		{.name = "an_a2", .created_age = "1800", .state = "complete", .state_age = "1259.5"},
	};
	build(a, a_steps, N(a_steps), ids);
	long long b = task_new(2, "2400", NULL, NULL, NULL);
	PQclear(testdb_sqlf(db.pg,
		"INSERT INTO tasker_task_transitions (to_state, sort_key, most_recent, task_id, created_at, updated_at) "
		"VALUES ('error', 10, true, %lld, now() - interval '600 seconds', now())", b));
	static const step_fx b_steps[] = {
		{.name = "an_b1", .created_age = "2400", .state = "error", .state_age = "600", .attempts = "3"},
	};
	build(b, b_steps, N(b_steps), ids);
	long long c = task_new(3, "600", NULL, NULL, "in_progress");
	static const step_fx c_steps[] = {
		{.name = "an_c1", .created_age = "600", .state = "complete", .state_age = "540"},
		{.name = "an_c2", .created_age = "600"},
	};
	build(c, c_steps, N(c_steps), ids);
	/* two hours ago: D complete after 1800 s */
	long long d = task_new(1, "7200", NULL, NULL, NULL);
	PQclear(testdb_sqlf(db.pg,
		"INSERT INTO tasker_task_transitions (to_state, sort_key, most_recent, task_id, created_at, updated_at) "
		"VALUES ('complete', 10, true, %lld, now() - interval '5400 seconds', now())", d));
	static const step_fx d_steps[] = {
		{.name = "an_d1", .created_age = "7200", .state = "complete", .state_age = "6000"},
		{.name = "an_d2", .created_age = "7200", .state = "error", .state_age = "5700"},
		{.name = "an_d3", .created_age = "7200", .state = "resolved_manually", .state_age = "5500"},
	};
	build(d, d_steps, N(d_steps), ids);
	/* five hours ago, still running: active, but in no window below */
	long long e = task_new(2, "18000", NULL, NULL, NULL);
	static const step_fx e_steps[] = {
		{.name = "an_e1", .created_age = "18000", .state = "in_progress", .state_age = "17000"},
	};
	build(e, e_steps, N(e_steps), ids);
}

static void test_analytics_metrics(void **state)
{
	(void)state;
	analytics_fixtures();
	static const struct {
		const char *label, *args, *period_start;
		const char *want[12];
	} cases[] = {
		/* last hour: tasks A B C (1 complete, 1 error), steps a1 a2 b1 c1 c2; step outcomes 3 complete,
		 * 1 error; durations 600 s; (300 + 540.5 + 60) / 3 s */
		{"default window", "", "now() - interval '1 hour'",
		 {"2", "2", "2", "0.750", "3", "1", "1", "33.33", "33.33", "600.000", "300.167", "5"}},
		{"explicit NULL", "NULL", "now() - interval '1 hour'",
		 {"2", "2", "2", "0.750", "3", "1", "1", "33.33", "33.33", "600.000", "300.167", "5"}},
		/* three hours: + D; outcomes 4 complete, 2 error; (600 + 1800) / 2; (300 + 540.5 + 60 + 1200) / 4 */
		{"three hours", "now() - interval '3 hours'", "now() - interval '3 hours'",
		 {"2", "2", "2", "0.667", "4", "2", "1", "50.00", "25.00", "1200.000", "525.125", "8"}},
		{"named argument", "since_timestamp => now() - interval '3 hours'", "now() - interval '3 hours'",
		 {"2", "2", "2", "0.667", "4", "2", "1", "50.00", "25.00", "1200.000", "525.125", "8"}},
		/* nothing in the window */
		{"empty window", "now() + interval '1 hour'", "now() + interval '1 hour'",
		 {"2", "2", "2", "1.0", "0", "0", "0", "0.0", "0.0", "0.0", "0.0", "0"}},
	};
	for (size_t i = 0; i < N(cases); i++) {
		PGresult *r = testdb_sqlf(db.pg,
			"SELECT " METRICS_COLUMNS "m.analysis_period_start = (%s) AS analysis_period_start, "
			"       m.calculated_at = now() AS calculated_at "
			"FROM get_analytics_metrics_v01(%s) m",
			cases[i].period_start, cases[i].args);
		expect_rows(cases[i].label, r, 1);
		expect_row(cases[i].label, r, 0, 0, cases[i].want, 12);
		const char *times[] = {"t", "t"};
		expect_row(cases[i].label, r, 0, 12, times, 2);
		PQclear(r);
	}
}

/* ------------------------------------------------------------------ get_slowest_steps_v01 / tasks_v01 */

typedef struct slow_step {
	const char *name;
	int task;                  /* index into the slow tasks */
	/* step_name, task_name, namespace_name, version, duration_seconds, attempts, created_at,
	 * completed_at (offsets from now()), retryable, step_status */
	const char *want[10];
} slow_step;

static const slow_step slow_steps[] = {
	{"p1a", 0, {"p1a", "order", "default", "1.0.0", "100.000", "1", "-7200", "-7100", "t", "complete"}},
	{"p1b", 0, {"p1b", "order", "default", "1.0.0", "50.000", "2", "-7200", "-7150", "f", "complete"}},
	{"p2a", 1, {"p2a", "order", "default", "2.0.0", "300.000", "0", "-3600", "-3300", "t", "complete"}},
	{"p3a", 2, {"p3a", "refund", "payments", "1.0.0", "10.000", "0", "-1800", "-1790", "t", "complete"}},
	{"p4a", 3, {"p4a", "order", "default", "1.0.0", "1000.000", "0", "-108000", "-107000", "t", "complete"}},
};

/* task_name, namespace_name, version, duration_seconds, step_count, completed_steps, error_steps,
 * created_at, completed_at (offsets), initiator, source_system */
static const char *const slow_task_want[][11] = {
	{"order", "default", "1.0.0", "200.000", "3", "2", "1", "-7200", "-7000", "alice", "web"},
	{"order", "default", "2.0.0", "300.000", "2", "1", "0", "-3600", "-3300", "bob", "NULL"},
	{"refund", "payments", "1.0.0", "10.000", "2", "2", "0", "-1800", "-1790", "NULL", "api"},
	{"order", "default", "1.0.0", "1000.000", "1", "1", "0", "-108000", "-107000", "carol", "web"},
};

static void slowest_fixtures(long long *tasks, long long *step_ids)
{
	long long ids[MAX_STEPS];
	/* P1: two completed steps and one in error (the latest to end, at 200 s) */
	tasks[0] = task_new(1, "7200", "'alice'", "'web'", NULL);
	static const step_fx p1[] = {
		{.name = "p1a", .created_age = "7200", .state = "complete", .state_age = "7100", .attempts = "1"},
		{.name = "p1b", .created_age = "7200", .state = "complete", .state_age = "7150", .attempts = "2",
		 .retryable = "false"},
		{.name = "p1c", .created_age = "7200", .state = "error", .state_age = "7000", .attempts = "3"},
	};
	build(tasks[0], p1, N(p1), ids);
	step_ids[0] = ids[0];
	step_ids[1] = ids[1];
	tasks[1] = task_new(2, "3600", "'bob'", NULL, NULL);
	static const step_fx p2[] = {
		{.name = "p2a", .created_age = "3600", .state = "complete", .state_age = "3300"},
		{.name = "p2b", .created_age = "3600"},
	};
	build(tasks[1], p2, N(p2), ids);
	step_ids[2] = ids[0];
	/* P3: p3b completed in no time, so it is not a "slow step" (duration must be > 0) */
	tasks[2] = task_new(3, "1800", NULL, "'api'", NULL);
	static const step_fx p3[] = {
		{.name = "p3a", .created_age = "1800", .state = "complete", .state_age = "1790"},
		{.name = "p3b", .created_age = "1800", .state = "complete", .state_age = "1800"},
	};
	build(tasks[2], p3, N(p3), ids);
	step_ids[3] = ids[0];
	/* P4: 30 hours ago, outside the default 24 h */
	tasks[3] = task_new(1, "108000", "'carol'", "'web'", NULL);
	static const step_fx p4[] = {
		{.name = "p4a", .created_age = "108000", .state = "complete", .state_age = "107000"},
	};
	build(tasks[3], p4, N(p4), ids);
	step_ids[4] = ids[0];
	/* P5: nothing ended yet, so it is in neither list */
	tasks[4] = task_new(1, "600", NULL, NULL, NULL);
	static const step_fx p5[] = {{.name = "p5a", .created_age = "600"}};
	build(tasks[4], p5, N(p5), ids);
}

typedef struct slow_case {
	const char *label, *args;
	const char *order[6]; /* expected step names (or task indexes "0".."3"), NULL-terminated */
} slow_case;

static const slow_case slow_step_cases[] = {
	{"defaults", "", {"p2a", "p1a", "p1b", "p3a"}},
	{"limit 2", "NULL, 2", {"p2a", "p1a"}},
	{"namespace", "NULL, 10, 'payments'", {"p3a"}},
	{"task name", "NULL, 10, NULL, 'order'", {"p2a", "p1a", "p1b"}},
	{"version", "NULL, 10, NULL, NULL, '2.0.0'", {"p2a"}},
	{"all filters", "NULL, 10, 'default', 'order', '1.0.0'", {"p1a", "p1b"}},
	{"no match", "NULL, 10, 'nope'", {NULL}},
	{"48 hours", "now() - interval '48 hours'", {"p4a", "p2a", "p1a", "p1b", "p3a"}},
	{"named arguments", "limit_count => 1, namespace_filter => 'default', version_filter => '1.0.0'", {"p1a"}},
};

static const slow_case slow_task_cases[] = {
	{"defaults", "", {"1", "0", "2"}},
	{"limit 1", "NULL, 1", {"1"}},
	{"namespace", "NULL, 10, 'payments'", {"2"}},
	{"task name", "NULL, 10, NULL, 'order'", {"1", "0"}},
	{"version", "NULL, 10, NULL, NULL, '1.0.0'", {"0", "2"}},
	{"all filters", "NULL, 10, 'default', 'order', '1.0.0'", {"0"}},
	{"no match", "NULL, 10, NULL, 'nope'", {NULL}},
	{"48 hours", "now() - interval '48 hours'", {"3", "1", "0", "2"}},
	{"48 hours, filtered", "now() - interval '48 hours', 10, 'default', NULL, '1.0.0'", {"3", "0"}},
};

static void test_slowest_steps(void **state)
{
	(void)state;
	long long tasks[5], step_ids[N(slow_steps)];
	slowest_fixtures(tasks, step_ids);
	for (size_t i = 0; i < N(slow_step_cases); i++) {
		const slow_case *k = &slow_step_cases[i];
		PGresult *r = testdb_sqlf(db.pg,
			"SELECT s.workflow_step_id, s.task_id, s.step_name, s.task_name, s.namespace_name, s.version, "
			"       s.duration_seconds, s.attempts, "
			"       extract(epoch FROM s.created_at - now())::float8 AS created_at, "
			"       extract(epoch FROM s.completed_at - now())::float8 AS completed_at, "
			"       s.retryable, s.step_status "
			"FROM get_slowest_steps_v01(%s) s",
			k->args);
		int n = 0;
		while (n < 6 && k->order[n])
			n++;
		expect_rows(k->label, r, n);
		for (int row = 0; row < n; row++) {
			size_t s = 0;
			while (strcmp(slow_steps[s].name, k->order[row]) != 0)
				s++;
			char what[96], id[32], tid[32];
			snprintf(what, sizeof what, "slowest steps, %s, row %d (%s)", k->label, row, slow_steps[s].name);
			snprintf(id, sizeof id, "%lld", step_ids[s]);
			snprintf(tid, sizeof tid, "%lld", tasks[slow_steps[s].task]);
			const char *identity[] = {id, tid};
			expect_row(what, r, row, 0, identity, 2);
			expect_row(what, r, row, 2, slow_steps[s].want, 10);
		}
		PQclear(r);
	}
}

static void test_slowest_tasks(void **state)
{
	(void)state;
	long long tasks[5], step_ids[N(slow_steps)];
	slowest_fixtures(tasks, step_ids);
	for (size_t i = 0; i < N(slow_task_cases); i++) {
		const slow_case *k = &slow_task_cases[i];
		PGresult *r = testdb_sqlf(db.pg,
			"SELECT t.task_id, t.task_name, t.namespace_name, t.version, t.duration_seconds, t.step_count, "
			"       t.completed_steps, t.error_steps, "
			"       extract(epoch FROM t.created_at - now())::float8 AS created_at, "
			"       extract(epoch FROM t.completed_at - now())::float8 AS completed_at, "
			"       t.initiator, t.source_system "
			"FROM get_slowest_tasks_v01(%s) t",
			k->args);
		int n = 0;
		while (n < 6 && k->order[n])
			n++;
		expect_rows(k->label, r, n);
		for (int row = 0; row < n; row++) {
			int t = atoi(k->order[row]);
			char what[96], tid[32];
			snprintf(what, sizeof what, "slowest tasks, %s, row %d (P%d)", k->label, row, t + 1);
			snprintf(tid, sizeof tid, "%lld", tasks[t]);
			const char *identity[] = {tid};
			expect_row(what, r, row, 0, identity, 1);
			expect_row(what, r, row, 1, slow_task_want[t], 11);
		}
		PQclear(r);
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, begin, rollback)
	const struct CMUnitTest tests[] = {
		T(test_readiness_every_rule),
		T(test_readiness_step_filter_and_missing_task),
		T(test_readiness_batch),
		T(test_execution_context),
		T(test_execution_contexts_batch),
		T(test_dag_view),
		T(test_dependency_levels),
		T(test_depth_cap),
		T(test_wide_diamond_does_not_explode),
		T(test_system_health_counts),
		T(test_analytics_metrics),
		T(test_slowest_steps),
		T(test_slowest_tasks),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
