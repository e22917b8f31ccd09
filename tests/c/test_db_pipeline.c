/*
 * test_db_pipeline.c — the connection layer's pipelines (db.h): several statements in one round trip,
 * results in order, the first failure reported and the rest not run; and the BEGIN that travels with a
 * transaction's first statement (a transaction begun and rolled back leaves nothing, one begun and
 * committed with nothing in it sends nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "error.h"
#include "testdb.h"

static const tdb_stmt Q_ADD = {"pipeline_add", "INSERT INTO pipeline_probe (v) VALUES ($1::int) RETURNING v * 2"};
static const tdb_stmt Q_COUNT = {"pipeline_count", "SELECT count(*) FROM pipeline_probe"};
static const tdb_stmt Q_FAIL = {"pipeline_fail", "SELECT 1 / $1::int"};

typedef struct {
	testdb t;
	tdb *db;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	testdb_open(&f->t, "pipeline", 1);
	assert_int_equal(tdb_connect(&f->db, f->t.conninfo, "test-pipeline"), TASKER_OK);
	PQclear(testdb_sql(f->t.pg, "CREATE TABLE pipeline_probe (v int NOT NULL)"));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	tdb_close(f->db);
	testdb_close(&f->t);
	free(f);
	return 0;
}

static long long rows(fixture *f) { return testdb_count(f->t.pg, "SELECT count(*) FROM pipeline_probe"); }

/* Three statements, one of them twice, prepared on first use: each result in its place, each statement
 * seeing the ones before it; a second pipeline reuses the preparations. */
static void test_results_in_order(void **state)
{
	fixture *f = *state;
	for (int round = 0; round < 2; round++) {
		const char *one[] = {"1"}, *two[] = {"2"};
		tdb_call calls[] = {{&Q_ADD, 1, one}, {&Q_COUNT, 0, NULL}, {&Q_ADD, 1, two}, {&Q_COUNT, 0, NULL}};
		PGresult *out[4];
		assert_int_equal(tdb_exec_pipeline(out, f->db, calls, 4, "probing"), TASKER_OK);
		assert_string_equal(PQgetvalue(out[0], 0, 0), "2");
		assert_int_equal(atoi(PQgetvalue(out[1], 0, 0)), 1 + 2 * round);
		assert_string_equal(PQgetvalue(out[2], 0, 0), "4");
		assert_int_equal(atoi(PQgetvalue(out[3], 0, 0)), 2 + 2 * round);
		for (int i = 0; i < 4; i++)
			PQclear(out[i]);
	}
	assert_int_equal(rows(f), 4);
	assert_int_equal(tdb_in_transaction(f->db), 0);
	PQclear(testdb_sql(f->t.pg, "DELETE FROM pipeline_probe"));
}

/* A failure in the middle: its error (with the action and the SQLSTATE), no results, nothing after it
 * run, and what ran before it not committed — in a transaction (rolled back) and outside one (the
 * pipeline is one implicit transaction). The connection stays usable. */
static void test_failure_stops_the_rest(void **state)
{
	fixture *f = *state;
	const char *one[] = {"1"}, *zero[] = {"0"};
	tdb_call calls[] = {{&Q_ADD, 1, one}, {&Q_FAIL, 1, zero}, {&Q_ADD, 1, one}};
	PGresult *out[3] = {(PGresult *)1, (PGresult *)1, (PGresult *)1};
	for (int in_txn = 0; in_txn < 2; in_txn++) {
		if (in_txn)
			assert_int_equal(tdb_begin(f->db), TASKER_OK);
		assert_int_equal(tdb_exec_pipeline(out, f->db, calls, 3, "probing a failure"), TASKER_EDB);
		assert_string_equal(tasker_error_last()->sqlstate, "22012");
		assert_non_null(strstr(tasker_error_last()->message, "probing a failure"));
		for (int i = 0; i < 3; i++)
			assert_null(out[i]);
		if (in_txn)
			tdb_rollback(f->db);
		assert_int_equal(tdb_in_transaction(f->db), 0);
		assert_int_equal(rows(f), 0);
	}
	PGresult *res = NULL;
	assert_int_equal(tdb_exec(&res, f->db, &Q_COUNT, 0, NULL, "counting"), TASKER_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "0");
	PQclear(res);
}

/* The BEGIN goes with the first statement: what that statement writes is inside the transaction (not
 * visible elsewhere until the commit, gone after a rollback); a transaction with nothing in it commits
 * without a word to the server; a statement run by the simple protocol first opens it the same way. */
static void test_begin_travels_with_first_statement(void **state)
{
	fixture *f = *state;
	const char *one[] = {"1"};
	assert_int_equal(tdb_begin(f->db), TASKER_OK);
	assert_int_equal(tdb_in_transaction(f->db), 1);
	assert_int_equal(tdb_exec(NULL, f->db, &Q_ADD, 1, one, "adding"), TASKER_OK);
	assert_int_equal(PQtransactionStatus(tdb_pg(f->db)), PQTRANS_INTRANS);
	assert_int_equal(rows(f), 0);
	tdb_rollback(f->db);
	assert_int_equal(rows(f), 0);

	assert_int_equal(tdb_begin(f->db), TASKER_OK);
	assert_int_equal(tdb_exec(NULL, f->db, &Q_ADD, 1, one, "adding"), TASKER_OK);
	assert_int_equal(tdb_commit(f->db), TASKER_OK);
	assert_int_equal(rows(f), 1);

	assert_int_equal(tdb_begin(f->db), TASKER_OK);
	assert_int_equal(tdb_commit(f->db), TASKER_OK);
	assert_int_equal(PQtransactionStatus(tdb_pg(f->db)), PQTRANS_IDLE);
	assert_int_equal(tdb_in_transaction(f->db), 0);

	assert_int_equal(tdb_begin(f->db), TASKER_OK);
	assert_int_equal(tdb_exec_simple(f->db, "INSERT INTO pipeline_probe (v) VALUES (3)", "adding"), TASKER_OK);
	assert_int_equal(PQtransactionStatus(tdb_pg(f->db)), PQTRANS_INTRANS);
	tdb_rollback(f->db);
	assert_int_equal(rows(f), 1);
	PQclear(testdb_sql(f->t.pg, "DELETE FROM pipeline_probe"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results_in_order),
		cmocka_unit_test(test_failure_stops_the_rest),
		cmocka_unit_test(test_begin_travels_with_first_statement),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
