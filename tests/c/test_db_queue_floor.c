/*
 * test_db_queue_floor.c — the claim's walk of the ready queue behind a long-running transaction: a
 * connection starts its pick at the floor its previous pick left, so the dead entries that a snapshot
 * held elsewhere keeps at the front of the queue's index are not read again by every claim; and the
 * safety rule, so a row that becomes claimable below a floor is still claimed: by the first pick of a
 * connection, by a pick whose handler filter differs from the last one, and by every connection once
 * its last pick from the front is older than tasker.pick_full_scan_seconds. The same for the recovery
 * of expired leases and its walk of the lease index.
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
	"namespace_name: churn\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: only, handler_class: 'Churn::Step'}\n";

static tasker_template_info tpl;

/* A client of one connection (so every claim runs on it and carries its floor), with `options` (libpq's
 * options: server settings for the connection) when not NULL. */
static tasker_client *one_connection(testdb *t, const char *options)
{
	char url[1024];
	snprintf(url, sizeof url, "%s%s%s%s", t->conninfo, options ? " options='" : "", options ? options : "",
	         options ? "'" : "");
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = url;
	o.pool_size = 1;
	tasker_client *c = NULL;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	return c;
}

/* Makes the backend of `c` report its statistics: a backend reports them when it goes idle after a
 * transaction, at most once a second. */
static void flush_stats(tasker_client *c, int64_t task)
{
	testdb_sleep_ms(1100);
	tasker_state st;
	assert_int_equal(tasker_task_state(&st, c, task), TASKER_OK);
}

/* 2,000 queue rows taken behind a snapshot held open elsewhere: the next pick of the same connection
 * reads a few index entries, a new connection's first pick (from the front) reads them all. The rows
 * are a backlog queued over the last two hours, for steps that do not exist: each pick takes them off
 * the queue as stale (the claim function drops them) and leaves their dead entries in the index. */
static void test_pick_starts_at_its_floor(void **state)
{
	testdb *t = *state;
	int64_t task = testdb_create_task(t->client, &tpl, NULL);
	assert_int_equal(testdb_claim_count(t->client, 1, NULL), 1);
	PQclear(testdb_sqlf(t->pg, "INSERT INTO tasker_ready_steps (workflow_step_id, task_id, handler_class, ready_at, "
	                           "enqueued_at) SELECT 1000000000 + g, %lld, 'Churn::Step', timezone('UTC', now()) - "
	                           "interval '2 hours' + g * interval '1 second', timezone('UTC', now()) "
	                           "FROM generate_series(1, 2000) g", (long long)task));
	PQclear(testdb_sql(t->pg, "ANALYZE tasker_ready_steps"));
	tasker_client *c = one_connection(t, "-c tasker.pick_full_scan_seconds=3600");
	PGconn *holder = PQconnectdb(t->conninfo);
	assert_int_equal(PQstatus(holder), CONNECTION_OK);
	PQclear(testdb_sql(holder, "BEGIN ISOLATION LEVEL REPEATABLE READ"));
	PQclear(testdb_sql(holder, "SELECT count(*) FROM tasker_tasks"));
	for (int i = 0; i < 8; i++)
		assert_int_equal(testdb_claim_count(c, 256, NULL), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps"), 0);
	int64_t fresh = testdb_create_task(t->client, &tpl, NULL);
	flush_stats(c, fresh);
	long long before = testdb_index_reads(t->pg, "tasker_ready_steps_ready_at_index");
	testdb_sleep_ms(1100);
	assert_int_equal(testdb_claim_count(c, 10, NULL), 1);
	long long from_floor = testdb_index_reads(t->pg, "tasker_ready_steps_ready_at_index") - before;
	/* Its floor is the oldest row its last pick took (the 1,793rd of the backlog) less a second: the
	 * 208 rows of that pick, then the fresh one. */
	assert_true(from_floor >= 200);
	assert_true(from_floor <= 220);
	/* A new connection's first pick walks from the front: all 2,000 entries, then the fresh row. */
	testdb_create_task(t->client, &tpl, NULL);
	tasker_client *other = one_connection(t, NULL);
	flush_stats(other, fresh);
	before = testdb_index_reads(t->pg, "tasker_ready_steps_ready_at_index");
	testdb_sleep_ms(1100);
	assert_int_equal(testdb_claim_count(other, 10, NULL), 1);
	assert_true(testdb_index_reads(t->pg, "tasker_ready_steps_ready_at_index") - before >= 2000);
	PQclear(testdb_sql(holder, "COMMIT"));
	PQfinish(holder);
	tasker_client_free(other);
	tasker_client_free(c);
}

/* A ready row below a connection's floor (as a row queued by a transaction that committed long after
 * it began, or released by a claim that rolled back, would be). */
static void row_below_floors(testdb *t, int hours)
{
	int64_t task = testdb_create_task(t->client, &tpl, NULL);
	PQclear(testdb_sqlf(t->pg, "UPDATE tasker_ready_steps SET ready_at = ready_at - %d * interval '1 hour' "
	                           "WHERE task_id = %lld", hours, (long long)task));
}

static void test_rows_below_the_floor_are_claimed(void **state)
{
	testdb *t = *state;
	tasker_client *slow = one_connection(t, "-c tasker.pick_full_scan_seconds=3600");
	tasker_client *fast = one_connection(t, "-c tasker.pick_full_scan_seconds=1");
	testdb_create_task(t->client, &tpl, NULL);
	testdb_create_task(t->client, &tpl, NULL);
	assert_int_equal(testdb_claim_count(slow, 1, NULL), 1); /* each connection's first pick: from the front */
	assert_int_equal(testdb_claim_count(fast, 1, NULL), 1);
	row_below_floors(t, 1);
	/* Below the floor: a pick from the floor does not see it... */
	assert_int_equal(testdb_claim_count(slow, 10, NULL), 0);
	/* ...the next pick from the front does, once the last one is older than the period. */
	testdb_sleep_ms(1100);
	assert_int_equal(testdb_claim_count(fast, 10, NULL), 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps"), 0);
	/* A pick with another handler filter than the connection's last one starts from the front. */
	row_below_floors(t, 1);
	assert_int_equal(testdb_claim_count(slow, 10, NULL), 0);
	assert_int_equal(testdb_claim_count(slow, 10, "Churn::Step"), 1);
	/* A floor is the connection's own: a new connection's first pick starts from the front. (The last
	 * pick of `slow` took a row queued an hour ago: its floor is there now.) */
	row_below_floors(t, 2);
	assert_int_equal(testdb_claim_count(slow, 10, "Churn::Step"), 0);
	tasker_client *fresh = one_connection(t, NULL);
	assert_int_equal(testdb_claim_count(fresh, 10, "Churn::Step"), 1);
	tasker_client_free(fresh);
	tasker_client_free(fast);
	tasker_client_free(slow);
}

/* Claims one ready step through `c` with a lease of one second. */
static void claim_leased(tasker_client *c)
{
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.lease_seconds = 1;
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_claim(&steps, &n, c, &o), TASKER_OK);
	assert_int_equal(n, 1);
	testdb_free_claims(steps, n);
}

static int recover(tasker_client *c)
{
	int n = -1;
	assert_int_equal(tasker_step_recover_expired(&n, c), TASKER_OK);
	return n;
}

/* The recovery of expired leases walks the lease index from its own floor (5 s before its last complete
 * sweep); a lease below it is recovered by a sweep from the front. */
static void test_recovery_floor(void **state)
{
	testdb *t = *state;
	PQclear(testdb_sql(t->pg, "DELETE FROM tasker_ready_steps"));
	PQclear(testdb_sql(t->pg, "DELETE FROM tasker_step_claims")); /* the other tests' */
	tasker_client *slow = one_connection(t, "-c tasker.recover_full_scan_seconds=3600");
	tasker_client *fast = one_connection(t, "-c tasker.recover_full_scan_seconds=1");
	assert_int_equal(recover(slow), 0); /* each connection's first sweep: from the front */
	assert_int_equal(recover(fast), 0);
	/* A lease that expires after the floor was set is recovered from the floor. */
	testdb_create_task(t->client, &tpl, NULL);
	claim_leased(t->client);
	testdb_sleep_ms(1100);
	assert_int_equal(recover(slow), 1);
	/* One below the floor (as a lease a rolled-back transaction held locked during the sweeps would be)
	 * is not seen from the floor... */
	testdb_create_task(t->client, &tpl, NULL);
	claim_leased(t->client);
	PQclear(testdb_sql(t->pg, "UPDATE tasker_step_claims SET lease_expires_at = lease_expires_at - interval '1 hour'"));
	assert_int_equal(recover(slow), 0);
	/* ...but by the next sweep from the front, once the last one is older than the period. */
	testdb_sleep_ms(1100);
	assert_int_equal(recover(fast), 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims"), 0);
	tasker_client_free(fast);
	tasker_client_free(slow);
}

static int setup(void **state)
{
	static testdb t;
	testdb_open_template(&t, "queue_floor", ONE_STEP, &tpl);
	*state = &t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_starts_at_its_floor),
		cmocka_unit_test(test_rows_below_the_floor_are_claimed),
		cmocka_unit_test(test_recovery_floor),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
