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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_probes_the_current_row_by_index),
		cmocka_unit_test(test_pick_walks_the_queue_in_order_without_statistics),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
