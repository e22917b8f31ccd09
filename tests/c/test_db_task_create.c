/* Integration tests of task creation as one statement (tasker_core_create_task, migration 0013): the rows
 * a created task has (steps in topological order, edges, bypass transitions, ready-queue rows, trace),
 * the function's refusals of arguments that do not fit together (named, nothing written), a failure
 * half-way through its writes leaving nothing behind, a database migrated before 0013 upgrading, and
 * the foreign-key checks of its step rows probing tasker_tasks by key on a small, analysed table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

/* A diamond whose root may be bypassed: root -> {left, right} -> join. */
static const char *DIAMOND = "name: diamond\n"
                             "namespace_name: creation\n"
                             "version: 1.0.0\n"
                             "step_templates:\n"
                             "  - {name: root, handler_class: 'Create::Root', skippable: true}\n"
                             "  - {name: left, handler_class: 'Create::Left', depends_on_step: root}\n"
                             "  - {name: right, handler_class: 'Create::Right', depends_on_step: root, "
                             "default_retry_limit: 7}\n"
                             "  - {name: join, handler_class: 'Create::Join', depends_on_steps: [left, right]}\n";

static const char *TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

static int setup(void **state)
{
	static testdb t;
	static tasker_template_info info;
	testdb_open_template(&t, "task_create", DIAMOND, &info);
	*state = &t;
	return 0;
}

static tasker_task_request diamond(void)
{
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = "diamond";
	r.namespace_name = "creation";
	r.template_version = "1.0.0";
	r.context_json = "{\"order\": 12}";
	return r;
}

static long long step_id(testdb *t, int64_t task, const char *name)
{
	return testdb_count(t->pg,
	                    "SELECT s.workflow_step_id FROM tasker_workflow_steps s JOIN tasker_named_steps n "
	                    "USING (named_step_id) WHERE s.task_id = %lld AND n.name = '%s'",
	                    (long long)task, name);
}

/* Every row of a new task, written by the one statement. */
static void test_rows_of_a_new_task(void **state)
{
	testdb *t = *state;
	tasker_task_request r = diamond();
	int64_t task = 0;
	assert_int_equal(tasker_task_create(&task, t->client, &r), TASKER_OK);
	long long root = step_id(t, task, "root"), left = step_id(t, task, "left"), right = step_id(t, task, "right"),
	          join = step_id(t, task, "join");
	/* ids ascend in topological order (parents first, then declaration order) */
	assert_true(root < left && left < right && right < join);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_steps WHERE task_id = %lld AND "
	                                     "attempts = 0 AND NOT processed AND NOT in_process AND results = '{}' AND "
	                                     "inputs = '{\"order\": 12}'", (long long)task),
	                 4);
	assert_int_equal(testdb_count(t->pg, "SELECT retry_limit FROM tasker_workflow_steps WHERE workflow_step_id = %lld",
	                              right),
	                 7);
	/* the edges, parent to child */
	char *edges = testdb_value(t->pg,
	                           "SELECT string_agg(format('%%s>%%s', f.name, c.name), ' ' ORDER BY f.name, c.name) "
	                           "FROM tasker_workflow_step_edges e "
	                           "JOIN tasker_workflow_steps fs ON fs.workflow_step_id = e.from_step_id "
	                           "JOIN tasker_named_steps f ON f.named_step_id = fs.named_step_id "
	                           "JOIN tasker_workflow_steps cs ON cs.workflow_step_id = e.to_step_id "
	                           "JOIN tasker_named_steps c ON c.named_step_id = cs.named_step_id "
	                           "WHERE fs.task_id = %lld AND e.name = 'provides'", (long long)task);
	assert_string_equal(edges, "left>join right>join root>left root>right");
	free(edges);
	/* only the root is claimable, with its handler; no transition rows; no trace */
	char *queued = testdb_value(t->pg, "SELECT string_agg(format('%%s:%%s', workflow_step_id, handler_class), ' ') "
	                                   "FROM tasker_ready_steps WHERE task_id = %lld", (long long)task);
	char want[64];
	snprintf(want, sizeof want, "%lld:Create::Root", root);
	assert_string_equal(queued, want);
	free(queued);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN "
	                                     "tasker_workflow_steps s USING (workflow_step_id) WHERE s.task_id = %lld",
	                              (long long)task),
	                 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_task_traces WHERE task_id = %lld",
	                              (long long)task),
	                 0);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

/* The root bypassed: it is resolved at creation, its children are claimable, the traceparent is kept. */
static void test_bypass_and_trace(void **state)
{
	testdb *t = *state;
	tasker_task_request r = diamond();
	r.bypass_steps_json = "[\"root\"]";
	r.traceparent = TRACE;
	int64_t task = 0;
	assert_int_equal(tasker_task_create(&task, t->client, &r), TASKER_OK);
	long long root = step_id(t, task, "root");
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                     "workflow_step_id = %lld AND to_state = 'resolved_manually' AND most_recent "
	                                     "AND sort_key = 10 AND metadata = '{\"bypassed\": true}'", root),
	                 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_steps WHERE workflow_step_id = %lld "
	                                     "AND processed AND processed_at IS NOT NULL", root),
	                 1);
	char *queued = testdb_value(t->pg, "SELECT string_agg(handler_class, ' ' ORDER BY workflow_step_id) "
	                                   "FROM tasker_ready_steps WHERE task_id = %lld", (long long)task);
	assert_string_equal(queued, "Create::Left Create::Right");
	free(queued);
	char *trace = testdb_value(t->pg, "SELECT traceparent FROM tasker_task_traces WHERE task_id = %lld",
	                           (long long)task);
	assert_string_equal(trace, TRACE);
	free(trace);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

static const char *const GOOD_TASK_ARGS = "(SELECT named_task_id FROM tasker_named_tasks WHERE name = 'diamond'), "
                                          "timestamp '2026-01-01 00:00:00', 'tests', 'tests', 'tests', "
                                          "'[]'::json, '[]'::jsonb, '{}'::jsonb, '%s', NULL";

/* The function refuses arguments that do not fit together, naming them, with nothing written. */
static void test_function_refuses_bad_input(void **state)
{
	testdb *t = *state;
	long long before = testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks");
	static const struct {
		const char *steps, *message;
	} bad[] = {
		{"ARRAY[1, 2], ARRAY[true], ARRAY[3, 3], ARRAY[false, false], ARRAY[false, false], ARRAY['H', NULL], "
		 "'{}', '{}'",
		 "2 named steps but 1 retryable, 2 retry limits, 2 bypassed, 2 skippable and 2 enqueue flags"},
		{"ARRAY[1, 2], ARRAY[true, true], ARRAY[3, 3], ARRAY[false, false], ARRAY[false, false], "
		 "ARRAY['H', NULL], ARRAY[1], '{}'",
		 "1 edge parents but 0 edge children"},
		{"ARRAY[1, 2], ARRAY[true, true], ARRAY[3, 3], ARRAY[false, false], ARRAY[false, false], "
		 "ARRAY['H', NULL], ARRAY[1], ARRAY[3]",
		 "edges {1} -> {3} name a position outside the 2 steps"},
		{"ARRAY[1, 1], ARRAY[true, true], ARRAY[3, 3], ARRAY[false, false], ARRAY[false, false], "
		 "ARRAY['H', NULL], ARRAY[1], ARRAY[2]",
		 "named steps {1,1} must be distinct"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char task[512], sql[1536];
		snprintf(task, sizeof task, GOOD_TASK_ARGS, "refused");
		snprintf(sql, sizeof sql, "SELECT * FROM tasker_core_create_task(%s, %s)", task, bad[i].steps);
		PGresult *r = PQexec(t->pg, sql);
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		if (!strstr(PQresultErrorMessage(r), bad[i].message))
			fail_msg("expected \"%s\" in: %s", bad[i].message, PQresultErrorMessage(r));
		assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22023");
		PQclear(r);
	}
	PGresult *r = PQexec(t->pg, "SELECT * FROM tasker_core_create_task(NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
	                            "NULL, NULL, NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')");
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_non_null(strstr(PQresultErrorMessage(r), "named task NULL, identity NULL, requested_at NULL and "
	                                                 "context are required"));
	PQclear(r);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks"), before);
}

/* A failure after the task row went in (a named step that does not exist) leaves no row of it. */
static void test_failure_midway_writes_nothing(void **state)
{
	testdb *t = *state;
	long long before = testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks");
	char task[512], sql[1536];
	snprintf(task, sizeof task, GOOD_TASK_ARGS, "midway");
	snprintf(sql, sizeof sql,
	         "SELECT * FROM tasker_core_create_task(%s, ARRAY[2147483000], ARRAY[true], ARRAY[3], ARRAY[false], "
	         "ARRAY[false], ARRAY['H'], '{}', '{}')",
	         task);
	PGresult *r = PQexec(t->pg, sql);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23503"); /* the step's named step */
	PQclear(r);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks"), before);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks WHERE identity_hash = 'midway'"), 0);
}

/* A client of its own with one connection: its statements are prepared (and planned) afresh. */
static tasker_client *one_connection(testdb *t)
{
	tasker_client *c = NULL;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = t->conninfo;
	o.pool_size = 1;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	return c;
}

/* A database migrated before 0013 (no creation function) cannot create tasks until it is migrated;
 * migrating applies 0013 alone and leaves its tasks as they were. */
static void test_database_before_0013_upgrades(void **state)
{
	testdb *t = *state;
	tasker_task_request r = diamond();
	int64_t old = 0, task = 0;
	assert_int_equal(tasker_task_create(&old, t->client, &r), TASKER_OK);
	PQclear(testdb_sql(t->pg, "DROP FUNCTION tasker_core_create_task; "
	                          "DELETE FROM tasker_core_schema_migrations WHERE version = 13"));
	tasker_migration_status *st;
	size_t n;
	assert_int_equal(tasker_db_migration_status(&st, &n, t->client), TASKER_OK);
	int pending = 0;
	for (size_t i = 0; i < n; i++)
		pending += !st[i].applied;
	tasker_free(st);
	assert_int_equal(pending, 1);
	/* a new connection: the statement the client prepared still names the dropped function */
	tasker_client *fresh = one_connection(t);
	assert_int_not_equal(tasker_task_create(&task, fresh, &r), TASKER_OK);
	assert_non_null(strstr(tasker_error_last()->message, "tasker_core_create_task"));
	int applied = 0;
	assert_int_equal(tasker_db_apply_migrations(&applied, fresh), TASKER_OK);
	assert_int_equal(applied, 1);
	assert_int_equal(tasker_task_create(&task, fresh, &r), TASKER_OK);
	assert_true(task > old);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_steps WHERE task_id IN (%lld, %lld)",
	                              (long long)old, (long long)task),
	                 8);
	assert_int_equal(tasker_task_cancel(fresh, task), TASKER_OK);
	assert_int_equal(tasker_task_cancel(fresh, old), TASKER_OK);
	tasker_client_free(fresh);
}

static long long tasks_scans(testdb *t, const char *column)
{
	PQclear(testdb_sql(t->pg, "SELECT pg_stat_clear_snapshot()"));
	return testdb_count(t->pg, "SELECT %s FROM pg_stat_user_tables WHERE relname = 'tasker_tasks'", column);
}

/* The step rows' foreign-key checks find their task by primary key even when their plan is made while
 * tasker_tasks is a page or two (a new database, after ANALYZE): a plan made then is kept by the
 * connection while the table grows, and a sequential scan would read the whole table once per step. */
static void test_foreign_key_checks_probe_the_task_by_key(void **state)
{
	testdb *t = *state;
	tasker_task_request r = diamond();
	PQclear(testdb_sql(t->pg, "ANALYZE tasker_tasks"));
	testdb_sleep_ms(1500); /* other backends' counts (earlier tests) have been reported */
	assert_true(testdb_count(t->pg, "SELECT relpages FROM pg_class WHERE relname = 'tasker_tasks'") <= 2);
	long long seq0 = tasks_scans(t, "seq_scan"), idx0 = tasks_scans(t, "idx_scan");
	/* a new connection plans the checks now; closing it makes its backend report its scans */
	tasker_client *fresh = one_connection(t);
	int64_t ids[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(tasker_task_create(&ids[i], fresh, &r), TASKER_OK);
	tasker_client_free(fresh);
	/* 5 tasks of 4 steps: at least 20 checks, each one index probe */
	for (int i = 0; i < 100 && tasks_scans(t, "idx_scan") - idx0 < 20; i++)
		testdb_sleep_ms(50);
	assert_true(tasks_scans(t, "idx_scan") - idx0 >= 20);
	assert_int_equal(tasks_scans(t, "seq_scan") - seq0, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(tasker_task_cancel(t->client, ids[i]), TASKER_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_of_a_new_task),
		cmocka_unit_test(test_bypass_and_trace),
		cmocka_unit_test(test_function_refuses_bad_input),
		cmocka_unit_test(test_failure_midway_writes_nothing),
		cmocka_unit_test(test_database_before_0013_upgrades),
		cmocka_unit_test(test_foreign_key_checks_probe_the_task_by_key),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
