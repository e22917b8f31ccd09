/* Integration tests of the migration runner: 4 `tasker migrate` processes at once apply each
 * migration exactly once; a second run is a no-op; a failing migration is named and rolled back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testdb.h"

static pid_t spawn_migrate(const char *conninfo, const char *out_path)
{
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(out_path, "w", stdout);
		(void)f;
		execl(TASKER_CLI_PATH, "tasker", "--database-url", conninfo, "migrate", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_concurrent_cli(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "migrate", 0);
	pid_t pids[4];
	char paths[4][64];
	for (int i = 0; i < 4; i++) {
		snprintf(paths[i], sizeof paths[i], "/tmp/tasker-migrate-%d-%d.out", (int)getpid(), i);
		pids[i] = spawn_migrate(t.conninfo, paths[i]);
	}
	int applied_total = 0;
	for (int i = 0; i < 4; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		FILE *f = fopen(paths[i], "r");
		char line[128] = "";
		assert_non_null(fgets(line, sizeof line, f));
		fclose(f);
		unlink(paths[i]);
		int n = 0;
		if (sscanf(line, "applied %d", &n) == 1)
			applied_total += n;
		else
			assert_non_null(strstr(line, "up to date"));
	}
	tasker_migration_status *st;
	size_t n;
	assert_int_equal(tasker_db_migration_status(&st, &n, t.client), TASKER_OK);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++)
		assert_true(st[i].applied);
	tasker_free(st);
	/* each migration applied exactly once, by one of the four processes */
	assert_int_equal(applied_total, (int)n);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_core_schema_migrations"), (long long)n);
	int again = -1;
	assert_int_equal(tasker_db_apply_migrations(&again, t.client), TASKER_OK);
	assert_int_equal(again, 0);
	testdb_close(&t);
}

static void test_failure_names_migration(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "migratefail", 0);
	/* An object in the way makes the queue migration fail after the Rails schema applied. */
	PQclear(testdb_sql(t.pg, "CREATE TABLE tasker_ready_steps (x int)"));
	int applied = 0;
	int rc = tasker_db_apply_migrations(&applied, t.client);
	assert_int_equal(rc, TASKER_EMIGRATION);
	const char *msg = tasker_error_last()->message;
	assert_non_null(strstr(msg, "0003_tasker_core_queue"));
	assert_non_null(strstr(msg, "already exists"));
	assert_non_null(strstr(msg, "42P07"));
	assert_int_equal(applied, 2);
	/* nothing of the failed migration remains, and it is not recorded */
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM pg_class WHERE relname = 'tasker_step_claims'"), 0);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_core_schema_migrations WHERE version = 3"), 0);
	/* once the obstacle is gone, migrating resumes where it stopped */
	PQclear(testdb_sql(t.pg, "DROP TABLE tasker_ready_steps"));
	assert_int_equal(tasker_db_apply_migrations(&applied, t.client), TASKER_OK);
	assert_true(applied >= 1);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM pg_class WHERE relname = 'tasker_step_claims'"), 1);
	testdb_close(&t);
}

static void test_cli_status(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "migratestatus", 1);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s --database-url \"%s\" status", TASKER_CLI_PATH, t.conninfo);
	FILE *p = popen(cmd, "r");
	char buf[4096] = "";
	size_t len = fread(buf, 1, sizeof buf - 1, p);
	buf[len] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(buf, "applied  0001_rails_schema"));
	assert_non_null(strstr(buf, ", 0 pending"));
	testdb_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_cli),
		cmocka_unit_test(test_failure_names_migration),
		cmocka_unit_test(test_cli_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
