/*
 * test_db_pipeline.c — the connection layer's pipelines (db.h): several statements in one round trip,
 * results in order, the first failure reported and the rest not run; and the BEGIN that travels with a
 * transaction's first statement (a transaction begun and rolled back leaves nothing, one begun and
 * committed with nothing in it sends nothing); the COMMIT sent with the transaction's last statements.
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

/* A hook that records what the connection layer told it, in the order it was told. */
typedef struct {
	char log[256];
	int busy; /* before_commit has work (so the COMMIT may not go early) */
} probe_hook;

static void note(probe_hook *h, const char *what)
{
	strncat(h->log, what, sizeof h->log - strlen(h->log) - 1);
}

static int probe_before(tdb *db, void *data)
{
	(void)db;
	note(data, "before ");
	return TASKER_OK;
}

static void probe_after(tdb *db, int rc, void *data)
{
	(void)db;
	note(data, rc ? "after-failed " : "after ");
}

static void probe_rollback(tdb *db, void *data)
{
	(void)db;
	note(data, "rollback ");
}

static const char *probe_sql(tdb *db, void *data)
{
	(void)db;
	note(data, "sql ");
	return "INSERT INTO pipeline_probe (v) VALUES (100)";
}

static int probe_idle(tdb *db, void *data)
{
	(void)db;
	return !((probe_hook *)data)->busy;
}

static void probe_free(void *data) { (void)data; }

static const tdb_hooks PROBE = {probe_before, probe_after, probe_rollback, probe_free, probe_sql, probe_idle};

/* Begins a transaction on `db` and runs `calls` with the COMMIT in the pipeline; returns whether it
 * committed. */
static int begin_and_run(tdb *db, const tdb_call *calls, size_t n, int expect_rc)
{
	PGresult *out[2] = {NULL, NULL};
	int committed = -1;
	assert_int_equal(tdb_begin(db), TASKER_OK);
	assert_int_equal(tdb_exec_pipeline_commit(&committed, out, db, calls, n, "probing"), expect_rc);
	for (size_t i = 0; i < n; i++) {
		if (expect_rc)
			assert_null(out[i]);
		PQclear(out[i]);
	}
	return committed;
}

/* The COMMIT in the same round trip as the transaction's last statements: committed when the call
 * returns (another session sees the rows), while the connection still counts as in its transaction and
 * the hooks hear of the commit only at tdb_commit (what follows a commit, then after_commit). A hook
 * with work before the commit keeps the COMMIT for tdb_commit; a failure commits nothing; a rollback
 * after the early COMMIT is too late and runs what follows a commit. */
static void test_commit_in_the_pipeline(void **state)
{
	fixture *f = *state;
	tdb *db = NULL;
	assert_int_equal(tdb_connect(&db, f->t.conninfo, "test-pipeline-commit"), TASKER_OK);
	probe_hook h = {"", 0};
	assert_int_equal(tdb_add_hooks(db, &PROBE, &h), TASKER_OK);
	const char *one[] = {"1"}, *zero[] = {"0"};
	tdb_call calls[] = {{&Q_ADD, 1, one}, {&Q_COUNT, 0, NULL}}, failing[] = {{&Q_ADD, 1, one}, {&Q_FAIL, 1, zero}};

	assert_int_equal(begin_and_run(db, calls, 2, TASKER_OK), 1);
	assert_int_equal(rows(f), 1);                    /* committed */
	assert_int_equal(tdb_in_transaction(db), 1);     /* for the layers above, until tdb_commit */
	assert_int_equal(PQtransactionStatus(tdb_pg(db)), PQTRANS_IDLE);
	assert_string_equal(h.log, "");
	assert_int_equal(tdb_commit(db), TASKER_OK);
	assert_string_equal(h.log, "sql after ");        /* no before_commit: it had nothing to do */
	assert_int_equal(rows(f), 2);                    /* what follows the commit ran */
	assert_int_equal(tdb_in_transaction(db), 0);

	h = (probe_hook){"", 1};
	assert_int_equal(begin_and_run(db, calls, 2, TASKER_OK), 0);
	assert_int_equal(rows(f), 2);                    /* not yet */
	assert_int_equal(tdb_commit(db), TASKER_OK);
	assert_string_equal(h.log, "before sql after ");
	assert_int_equal(rows(f), 4);

	h = (probe_hook){"", 0};
	assert_int_equal(begin_and_run(db, failing, 2, TASKER_EDB), 0);
	tdb_rollback(db);
	assert_string_equal(h.log, "rollback ");
	assert_int_equal(rows(f), 4);
	assert_int_equal(tdb_in_transaction(db), 0);

	h = (probe_hook){"", 0};
	assert_int_equal(begin_and_run(db, calls, 2, TASKER_OK), 1);
	tdb_rollback(db);
	assert_string_equal(h.log, "sql after ");
	assert_int_equal(rows(f), 6);
	assert_int_equal(tdb_in_transaction(db), 0);
	tdb_close(db);
	PQclear(testdb_sql(f->t.pg, "DELETE FROM pipeline_probe"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results_in_order),
		cmocka_unit_test(test_failure_stops_the_rest),
		cmocka_unit_test(test_begin_travels_with_first_statement),
		cmocka_unit_test(test_commit_in_the_pipeline),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
