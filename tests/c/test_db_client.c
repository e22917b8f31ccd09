/* Integration tests of connections: options and environment, SQLSTATE and server messages surfaced
 * through tasker_error_last(), lost connections reported and replaced, pool use from many threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

static void test_bad_url_is_reported(void **state)
{
	(void)state;
	tasker_client *c = NULL;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = "postgresql://nobody@/no_such_db?host=/nonexistent-socket-dir";
	assert_int_equal(tasker_client_open(&c, &o), TASKER_ECONN);
	assert_null(c);
	assert_non_null(strstr(tasker_error_last()->message, "connecting to PostgreSQL"));
	o.database_url = "not a url ===";
	assert_int_equal(tasker_client_open(&c, &o), TASKER_ECONN);
	o.version = 99;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_EINVAL);
}

static void test_env_url_is_used(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "clientenv", 0);
	char *saved = strdup(getenv("TASKER_DATABASE_URL"));
	setenv("TASKER_DATABASE_URL", t.conninfo, 1);
	tasker_client *c = NULL;
	assert_int_equal(tasker_client_open(&c, NULL), TASKER_OK);
	int applied = 0;
	assert_int_equal(tasker_db_apply_migrations(&applied, c), TASKER_OK);
	assert_true(applied >= 3);
	/* the migrations landed in the database the environment named */
	assert_true(testdb_count(t.pg, "SELECT count(*) FROM tasker_core_schema_migrations") >= 3);
	tasker_client_free(c);
	setenv("TASKER_DATABASE_URL", saved, 1);
	free(saved);
	testdb_close(&t);
}

static void test_sqlstate_surfaces(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "clientsql", 0); /* not migrated: the tables do not exist */
	tasker_state s;
	assert_int_equal(tasker_task_state(&s, t.client, 1), TASKER_EDB);
	assert_string_equal(tasker_error_last()->sqlstate, "42P01");
	assert_non_null(strstr(tasker_error_last()->message, "tasker_task"));
	testdb_close(&t);
}

static void test_lost_connection(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "clientlost", 1);
	tasker_state s;
	assert_int_equal(tasker_task_state(&s, t.client, 1), TASKER_ENOTFOUND);
	/* kill every backend of this database except the fixture connection */
	PQclear(testdb_sqlf(t.pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
	usleep(100 * 1000);
	/* the pooled connection died while idle (as in a server restart): it is replaced before use, so
	 * the call does not fail */
	assert_int_equal(tasker_task_state(&s, t.client, 1), TASKER_ENOTFOUND);
	/* dead again, and no new connection possible: reported, not crashed on; then it recovers */
	char *admin_info = testdb_conninfo_for("postgres");
	PGconn *admin = PQconnectdb(admin_info);
	free(admin_info);
	assert_int_equal(PQstatus(admin), CONNECTION_OK);
	PQclear(testdb_sqlf(admin, "ALTER DATABASE %s ALLOW_CONNECTIONS false", t.name));
	PQclear(testdb_sqlf(t.pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
	usleep(100 * 1000);
	assert_int_equal(tasker_task_state(&s, t.client, 1), TASKER_ECONN);
	assert_string_not_equal(tasker_error_last()->message, "");
	PQclear(testdb_sqlf(admin, "ALTER DATABASE %s ALLOW_CONNECTIONS true", t.name));
	PQfinish(admin);
	assert_int_equal(tasker_task_state(&s, t.client, 1), TASKER_ENOTFOUND);
	testdb_close(&t);
}

typedef struct {
	tasker_client *c;
	int failures;
} worker_arg;

static void *hammer(void *p)
{
	worker_arg *w = p;
	for (int i = 0; i < 200; i++) {
		tasker_state s;
		if (tasker_task_state(&s, w->c, 1) != TASKER_ENOTFOUND)
			w->failures++;
	}
	return NULL;
}

static void test_pool_threads(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "clientpool", 1);
	tasker_client *c;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = t.conninfo;
	o.pool_size = 3;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	pthread_t th[8];
	worker_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (worker_arg){c, 0};
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_true(testdb_count(t.pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()") <=
	            1 + 1 + 3);
	tasker_client_free(c);
	testdb_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_url_is_reported),
		cmocka_unit_test(test_env_url_is_used),
		cmocka_unit_test(test_sqlstate_surfaces),
		cmocka_unit_test(test_lost_connection),
		cmocka_unit_test(test_pool_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
