/*
 * test_db_plans.c — the engine's statements stay index probes whatever the statistics say. Every
 * statement runs as a cached generic plan, made once per connection and again after each ANALYZE; a
 * plan made from skewed statistics (a table analysed while empty, a table never analysed) is kept
 * while the table grows. Each test makes the statistics skewed the way a young database or a
 * benchmark's history makes them, opens a new connection (so its plans are made now) and counts, from
 * the server's own statistics, the scans the engine's statements did.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

static const char *ONE_STEP =
	"name: one\n"
	"namespace_name: plans\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: only, handler_class: 'Plans::Step'}\n";

static tasker_template_info tpl;

static int setup(void **state)
{
	static testdb t;
	testdb_open_template(&t, "plans", ONE_STEP, &tpl);
	*state = &t;
	return 0;
}

/* A client of one connection: its plans are made by its first statements. */
static tasker_client *one_connection(testdb *t)
{
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = t->conninfo;
	o.pool_size = 1;
	tasker_client *c = NULL;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	return c;
}

/* A column of pg_stat_user_tables (seq_scan, idx_scan, idx_tup_fetch...) for `table`, as reported so far. */
static long long table_stat(testdb *t, const char *table, const char *column)
{
	PQclear(testdb_sql(t->pg, "SELECT pg_stat_clear_snapshot()"));
	return testdb_count(t->pg, "SELECT COALESCE(%s, 0) FROM pg_stat_user_tables WHERE relname = '%s'", column, table);
}

/* The scans of `table` (sequential and index) since `seq0` and `idx0`, once at least `at_least` are
 * reported (a closed connection's backend reports its counts as it exits, a moment later). */
static void wait_for_scans(long long *seq, long long *idx, testdb *t, const char *table, long long seq0,
                           long long idx0, long long at_least)
{
	for (int i = 0; i < 100; i++) {
		*seq = table_stat(t, table, "seq_scan") - seq0;
		*idx = table_stat(t, table, "idx_scan") - idx0;
		if (*seq + *idx >= at_least)
			return;
		testdb_sleep_ms(50);
	}
	fail_msg("%s: %lld scans reported, expected at least %lld", table, *seq + *idx, at_least);
}

/* VACUUM ANALYZE, then the scans of each of `tables` (n of them, maybe none) reported so far (the earlier
 * statements' counts in). */
static void analyse_then_count(testdb *t, const char *const *tables, int n, long long *seq0, long long *idx0)
{
	PQclear(testdb_sql(t->pg, "VACUUM ANALYZE"));
	testdb_sleep_ms(1100);
	for (int i = 0; i < n; i++)
		seq0[i] = table_stat(t, tables[i], "seq_scan"), idx0[i] = table_stat(t, tables[i], "idx_scan");
}

/* A manual transition finds a step's current transition row, and takes most_recent off it, by index
 * even when its plans are made while the transition table is analysed and empty (a new database whose
 * tasks have not started yet; the transition benchmark's state after its VACUUM ANALYZE): a sequential
 * scan made then reads every transition row of every step, once per statement, as the table grows. */
static void test_transition_probes_the_current_row_by_index(void **state)
{
	testdb *t = *state;
	static const char *TABLE = "tasker_workflow_step_transitions";
	int64_t task = testdb_create_task(t->client, &tpl, NULL);
	long long step = testdb_count(t->pg, "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id = %lld",
	                              (long long)task);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM %s", TABLE), 0);
	PQclear(testdb_sqlf(t->pg, "ANALYZE %s", TABLE));
	testdb_sleep_ms(1100); /* counts of earlier statements have been reported */
	long long seq0 = table_stat(t, TABLE, "seq_scan"), idx0 = table_stat(t, TABLE, "idx_scan");
	tasker_client *c = one_connection(t);
	static const tasker_state cycle[] = {TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, TASKER_STATE_ERROR};
	int n = 60;
	for (int i = 0; i < n; i++)
		assert_int_equal(tasker_step_transition(c, step, cycle[i % 3], cycle[(i + 1) % 3], NULL), TASKER_OK);
	tasker_client_free(c);
	/* each transition: the current row found, then (after the first) taken off most_recent */
	long long seq, idx;
	wait_for_scans(&seq, &idx, t, TABLE, seq0, idx0, 2 * n - 1);
	assert_int_equal(seq, 0);
	assert_true(idx >= 2 * n - 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM %s WHERE workflow_step_id = %lld AND most_recent",
	                              TABLE, step),
	                 1);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

/* The claim's pick walks the queue's index in order and stops at its limit even when its plan is made
 * while the queue has never been analysed (a new database; the first minute of a backlog, before
 * autovacuum's ANALYZE): the planner, guessing the queue holds a handful of ready rows, read every
 * ready row through a bitmap scan, probed each one's task and sorted them all to take the first few. */
static void test_pick_walks_the_queue_in_order_without_statistics(void **state)
{
	testdb *t = *state;
	int64_t task = testdb_create_task(t->client, &tpl, NULL);
	/* a new queue table (TRUNCATE: never analysed) holding 2,000 ready rows, stale ones: the claim
	 * takes the rows it picks off the queue and claims nothing */
	PQclear(testdb_sql(t->pg, "TRUNCATE tasker_ready_steps"));
	PQclear(testdb_sqlf(t->pg, "INSERT INTO tasker_ready_steps (workflow_step_id, task_id, handler_class, ready_at, "
	                           "enqueued_at) SELECT 1000000000 + g, %lld, 'Plans::Step', timezone('UTC', now()) - "
	                           "interval '1 hour' + g * interval '1 second', timezone('UTC', now()) "
	                           "FROM generate_series(1, 2000) g", (long long)task));
	assert_true(testdb_count(t->pg, "SELECT (reltuples < 0)::int FROM pg_class WHERE relname = 'tasker_ready_steps'"));
	testdb_sleep_ms(1100);
	long long before = testdb_index_reads(t->pg, "tasker_ready_steps_ready_at_index");
	tasker_client *c = one_connection(t);
	assert_int_equal(testdb_claim_count(c, 10, NULL), 0);
	tasker_client_free(c);
	long long read = 0;
	for (int i = 0; i < 100 && (read = testdb_index_reads(t->pg, "tasker_ready_steps_ready_at_index") - before) == 0; i++)
		testdb_sleep_ms(50);
	assert_true(read >= 10);
	assert_true(read <= 20);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps"), 1990);
	PQclear(testdb_sql(t->pg, "DELETE FROM tasker_ready_steps"));
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

static const char *DAG =
	"name: dag\n"
	"namespace_name: plans\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: a, handler_class: 'Plans::Dag'}\n"
	"  - {name: b, handler_class: 'Plans::Dag', depends_on_step: a}\n"
	"  - {name: c, handler_class: 'Plans::Dag', depends_on_step: a}\n"
	"  - {name: d, handler_class: 'Plans::Dag', depends_on_steps: [b, c]}\n";

/* Claims every ready step on `c` and completes them in one batch: the steps of tasks whose position
 * (task id modulo 4) is in `fail_retry` fail with a retry, those in `fail_permanent` fail for good, those
 * in `keep` stay claimed (their claims are left to expire), the rest succeed. A batch that mixes failures
 * and successes is recorded by the engine's statements, not by the completion function. */
static size_t claim_and_complete(tasker_client *c, int fail_retry, int fail_permanent, int keep)
{
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.max_steps = 256;
	tasker_claimed_step **steps = NULL;
	size_t n = 0, k = 0;
	assert_int_equal(tasker_steps_claim(&steps, &n, c, &o), TASKER_OK);
	tasker_step_result *rs = calloc(n + 1, sizeof *rs);
	assert_non_null(rs);
	for (size_t i = 0; i < n; i++) {
		int pos = (int)(steps[i]->task_id % 4);
		if (pos == keep)
			continue;
		tasker_outcome how = pos == fail_retry       ? TASKER_OUTCOME_RETRYABLE
		                     : pos == fail_permanent ? TASKER_OUTCOME_PERMANENT
		                                             : TASKER_OUTCOME_SUCCESS;
		rs[k] = testdb_result_for(steps[i], how, how == TASKER_OUTCOME_SUCCESS ? "{\"ok\": true}" : NULL);
		if (how == TASKER_OUTCOME_RETRYABLE)
			rs[k].retry_after = 0;
		rs[k++].error_message = "planned failure";
	}
	if (k)
		assert_int_equal(tasker_steps_complete(c, rs, k), TASKER_OK);
	for (size_t i = 0; i < k; i++)
		assert_int_equal(rs[i].status, TASKER_OK);
	free(rs);
	testdb_free_claims(steps, n);
	return n;
}

/* Every read of a task's current state the public API offers, on `c`. */
static void read_states(tasker_client *c, const int64_t *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tasker_task_view *v = NULL;
		assert_int_equal(tasker_task_get(&v, c, tasks[i]), TASKER_OK);
		tasker_state st;
		assert_int_equal(tasker_task_state(&st, c, tasks[i]), TASKER_OK);
		assert_int_equal(st, v->state);
		assert_int_equal(tasker_step_state(&st, c, v->steps[v->step_count - 1].workflow_step_id), TASKER_OK);
		assert_int_equal(st, v->steps[v->step_count - 1].state);
		tasker_task_view_free(v);
		char *json = NULL;
		assert_int_equal(tasker_task_record(&json, c, tasks[i]), TASKER_OK);
		tasker_free(json);
		tasker_step_readiness *rows = NULL;
		size_t count = 0;
		assert_int_equal(tasker_task_readiness(&rows, &count, c, tasks[i]), TASKER_OK);
		assert_int_equal(count, 4);
		tasker_readiness_free(rows, count);
		tasker_task_context ctx;
		assert_int_equal(tasker_task_execution_context(&ctx, c, tasks[i]), TASKER_OK);
	}
}

/* The engine's own statements that read a current state (a task view, a readiness, a completion that
 * records failures, an operator action, a lease recovery) find it by index even when their plans are
 * made while the transition tables are analysed and empty: a new database whose tasks have not started,
 * VACUUM ANALYZE right after migrating. A sequential scan planned then reads every transition row, once
 * per step read, and the connection keeps that plan while the tables grow. */
static void test_state_reads_probe_transitions_by_index(void **state)
{
	(void)state;
	static const char *TABLES[] = {"tasker_workflow_step_transitions", "tasker_task_transitions"};
	testdb t;
	tasker_template_info dag;
	testdb_open_template(&t, "plans_states", DAG, &dag);
	enum { TASKS = 40 };
	int64_t tasks[TASKS];
	for (int i = 0; i < TASKS; i++)
		tasks[i] = testdb_create_task(t.client, &dag, NULL);
	/* the statistics of that moment stay: no ANALYZE of autovacuum's while the test runs */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM %s", TABLES[i]), 0);
		PQclear(testdb_sqlf(t.pg, "ALTER TABLE %s SET (autovacuum_enabled = false)", TABLES[i]));
	}
	long long seq0[2], idx0[2];
	analyse_then_count(&t, TABLES, 2, seq0, idx0);

	tasker_client *c = one_connection(&t);
	/* the roots: a retry, a task failed, successes (their children queued) */
	assert_int_equal(claim_and_complete(c, 0, 1, -1), TASKS);
	read_states(c, tasks, TASKS);
	for (int i = 0; i < TASKS; i++) {
		int pos = (int)(tasks[i] % 4);
		if (pos == 1)
			assert_int_equal(tasker_task_retry(c, tasks[i]), TASKER_OK);
		else if (pos == 3)
			assert_int_equal(tasker_task_cancel(c, tasks[i]), TASKER_OK);
	}
	/* the retried roots and the queued children: the retried tasks' steps are left to expire */
	assert_true(claim_and_complete(c, -1, -1, 1) > 0);
	PQclear(testdb_sql(t.pg, "UPDATE tasker_step_claims SET lease_expires_at = lease_expires_at - interval '1 hour'"));
	int recovered = 0;
	assert_int_equal(tasker_step_recover_expired(&recovered, c), TASKER_OK);
	assert_true(recovered > 0);
	for (int i = 0; i < TASKS; i++)
		if (tasks[i] % 4 == 2) {
			tasker_task_view *v = NULL;
			assert_int_equal(tasker_task_get(&v, c, tasks[i]), TASKER_OK);
			assert_int_equal(tasker_step_resolve(c, v->steps[3].workflow_step_id, NULL), TASKER_OK);
			tasker_task_view_free(v);
		}
	while (claim_and_complete(c, -1, -1, -1) > 0)
		;
	read_states(c, tasks, TASKS);
	tasker_client_free(c);

	for (int i = 0; i < 2; i++) {
		long long seq, idx;
		wait_for_scans(&seq, &idx, &t, TABLES[i], seq0[i], idx0[i], TASKS);
		print_message("%s: %lld sequential scans, %lld index scans, %lld rows\n", TABLES[i], seq, idx,
		              testdb_count(t.pg, "SELECT count(*) FROM %s", TABLES[i]));
		assert_int_equal(seq, 0);
	}
	testdb_close(&t);
}

/* The engine's few statements that read whole tables (the health counts, the metrics' queue gauges) keep
 * their sequential scans: the sessions' penalty on them (db.c) is for statements that probe a few rows
 * by key, and an index walk of a whole 100,000-row queue took 5 times as long as its scan. */
static void test_whole_table_reads_keep_their_scans(void **state)
{
	(void)state;
	static const char *TABLES[] = {"tasker_ready_steps", "tasker_step_claims", "tasker_tasks"};
	testdb t;
	tasker_template_info dag;
	testdb_open_template(&t, "plans_whole", DAG, &dag);
	for (int i = 0; i < 5; i++)
		testdb_create_task(t.client, &dag, NULL);
	long long seq0[3], idx0[3];
	analyse_then_count(&t, TABLES, 3, seq0, idx0);
	tasker_client *c = one_connection(&t);
	char *text = NULL;
	assert_int_equal(tasker_metrics_snapshot(&text, c, 1), TASKER_OK);
	assert_non_null(strstr(text, "tasker_queue_ready_steps{handler_class=\"Plans::Dag\"} 5"));
	tasker_free(text);
	assert_int_equal(tasker_health_counts(&text, c), TASKER_OK);
	assert_non_null(strstr(text, "\"total_tasks\":5"));
	tasker_free(text);
	tasker_client_free(c);
	/* the queue: the gauges and the health's steps waiting for a handler; the claims: the gauges; the
	 * tasks: the health counts */
	static const long long scans[] = {2, 1, 1};
	for (int i = 0; i < 3; i++) {
		long long seq, idx;
		wait_for_scans(&seq, &idx, &t, TABLES[i], seq0[i], idx0[i], scans[i]);
		print_message("%s: %lld sequential scans, %lld index scans\n", TABLES[i], seq, idx);
		assert_true(seq >= scans[i]);
	}
	testdb_close(&t);
}

/* Rows of `table` read so far, by sequential and index scans together. */
static long long rows_read(testdb *t, const char *table)
{
	return table_stat(t, table, "seq_tup_read") + table_stat(t, table, "idx_tup_fetch");
}

/* The rows of `table` read since `before`, once some are reported (a closed connection's backend
 * reports its counts as it exits, a moment later). */
static long long wait_for_reads(testdb *t, const char *table, long long before)
{
	long long read = 0;
	for (int i = 0; i < 100 && (read = rows_read(t, table) - before) == 0; i++)
		testdb_sleep_ms(50);
	return read;
}

/* Registers a template of `steps` independent steps of class 'Plans::Big' on `c`. */
static void big_template_register(tasker_template_info *out, tasker_client *c, int steps)
{
	size_t cap = 128 + (size_t)steps * 64, len = 0;
	char *yaml = malloc(cap);
	assert_non_null(yaml);
	len += (size_t)snprintf(yaml, cap, "name: big\nnamespace_name: plans\nversion: 1.0.0\nstep_templates:\n");
	for (int i = 0; i < steps; i++)
		len += (size_t)snprintf(yaml + len, cap - len, "  - {name: big_%d, handler_class: 'Plans::Big'}\n", i);
	assert_int_equal(tasker_template_register_string(out, c, yaml, 0, "big", NULL), TASKER_OK);
	free(yaml);
}

enum { NAMED_TASKS = 10, NAMED_STEPS_PER_TASK = 4 };

/* A new database where a template of 2,000 steps was registered before the DAG (every template's step
 * names stay in tasker_named_steps) and one task of it created (so the statistics say a task has many
 * steps), holding NAMED_TASKS tasks of the DAG, analysed. The big task's steps have a handler class of
 * their own, which the tests' claims leave alone. The fixture's statements run on a client closed before
 * the test counts (a backend that stays open may report its last counts up to ten seconds later). */
static void open_with_many_step_names(testdb *t, const char *label)
{
	testdb_open(t, label, 1);
	tasker_client *f = one_connection(t);
	tasker_template_info big, dag;
	big_template_register(&big, f, 2000);
	assert_int_equal(tasker_template_register_string(&dag, f, DAG, 0, label, NULL), TASKER_OK);
	for (int i = 0; i < NAMED_TASKS; i++)
		testdb_create_task(f, &dag, NULL);
	testdb_create_task(f, &big, NULL);
	tasker_client_free(f);
	analyse_then_count(t, NULL, 0, NULL, NULL);
}

/* A claim returns its tasks' steps with their names by probing tasker_named_steps once per step: with
 * many step names registered, the statistics made the claim function's last read hash the whole table
 * on every claim, a cost that grew with every template ever registered. */
static void test_claim_reads_only_its_steps_names(void **state)
{
	(void)state;
	testdb t;
	open_with_many_step_names(&t, "plans_claim_names");
	long long before = rows_read(&t, "tasker_named_steps");
	tasker_client *c = one_connection(&t);
	for (int i = 0; i < NAMED_TASKS; i++)
		assert_int_equal(testdb_claim_count(c, 1, "Plans::Dag"), 1);
	tasker_client_free(c);
	long long read = wait_for_reads(&t, "tasker_named_steps", before);
	print_message("tasker_named_steps: %lld rows read by %d claims of a %d-step task\n", read, NAMED_TASKS,
	              NAMED_STEPS_PER_TASK);
	/* a name per step of each payload, and the new client's look-up of its template's step ids; a hash of
	 * the table read all 2,000 names on every claim */
	assert_true(read >= NAMED_TASKS * NAMED_STEPS_PER_TASK);
	assert_true(read <= 2 * NAMED_TASKS * NAMED_STEPS_PER_TASK);
	testdb_close(&t);
}

/* A completion reads the names of the children it examines by probing tasker_named_steps once per
 * child, whatever the number of step names registered. */
static void test_completion_reads_only_its_children_names(void **state)
{
	(void)state;
	testdb t;
	open_with_many_step_names(&t, "plans_complete_names");
	tasker_claimed_step *roots[NAMED_TASKS];
	tasker_client *claimer = one_connection(&t);
	for (int i = 0; i < NAMED_TASKS; i++)
		roots[i] = testdb_claim_one(claimer, "Plans::Dag");
	tasker_client_free(claimer);
	testdb_sleep_ms(1100);
	long long before = rows_read(&t, "tasker_named_steps");
	tasker_client *c = one_connection(&t);
	for (int i = 0; i < NAMED_TASKS; i++) {
		tasker_step_result r = testdb_result_for(roots[i], TASKER_OUTCOME_SUCCESS, "{}");
		assert_int_equal(tasker_steps_complete(c, &r, 1), TASKER_OK);
		assert_int_equal(r.status, TASKER_OK);
		tasker_claimed_step_free(roots[i]);
	}
	tasker_client_free(c);
	long long read = wait_for_reads(&t, "tasker_named_steps", before);
	print_message("tasker_named_steps: %lld rows read by %d completions of a root with 2 children\n", read,
	              NAMED_TASKS);
	assert_true(read >= NAMED_TASKS * 2);
	assert_true(read <= 2 * NAMED_TASKS * NAMED_STEPS_PER_TASK);
	testdb_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_probes_the_current_row_by_index),
		cmocka_unit_test(test_pick_walks_the_queue_in_order_without_statistics),
		cmocka_unit_test(test_state_reads_probe_transitions_by_index),
		cmocka_unit_test(test_whole_table_reads_keep_their_scans),
		cmocka_unit_test(test_claim_reads_only_its_steps_names),
		cmocka_unit_test(test_completion_reads_only_its_children_names),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
