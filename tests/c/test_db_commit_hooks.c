/* Integration tests of the layers that take part in a connection's transactions through its commit and
 * rollback hooks (db.h): the ready queue's wake-up NOTIFY and the claim counters happen when the
 * transaction commits, and not at all when it rolls back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "metrics.h"
#include "queue.h"
#include "testdb.h"

/* Notifications on the ready queue's channel that reach `pg` (which LISTENs) within wait_ms. */
static int wakeups(PGconn *pg, int wait_ms)
{
	int n = 0;
	for (int waited = 0; waited < wait_ms; waited += 50) {
		struct pollfd p = {PQsocket(pg), POLLIN, 0};
		poll(&p, 1, 50);
		assert_int_equal(PQconsumeInput(pg), 1);
		PGnotify *note;
		while ((note = PQnotifies(pg))) {
			n += strcmp(note->relname, TQUEUE_CHANNEL) == 0;
			PQfreemem(note);
		}
	}
	return n;
}

typedef struct {
	int64_t first_step;
	int64_t delay_ms; /* > 0: the steps are not claimable yet */
	int fail;         /* the transaction ends with an error: rolled back */
} queue_case;

/* Queues two batches of one step each in the caller's transaction. */
static int queue_two(tdb *db, tasker_client *client, void *arg)
{
	(void)client;
	const queue_case *c = arg;
	for (int k = 0; k < 2; k++) {
		tqueue_batch b;
		tqueue_batch_init(&b);
		tqueue_batch_add(&b, c->first_step + k, 1, "Hooks::Probe", c->delay_ms);
		int rc = tqueue_batch_write(db, &b);
		tqueue_batch_free(&b);
		if (rc)
			return rc;
	}
	return c->fail ? tasker_set_error(TASKER_EINVAL, "rolled back on purpose") : TASKER_OK;
}

static void test_queue_wakes_workers_only_when_committed(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "hooks_queue", 1);
	PQclear(testdb_sql(t.pg, "LISTEN " TQUEUE_CHANNEL));

	queue_case rolled_back = {9000, 0, 1};
	assert_int_equal(tclient_in_txn(t.client, queue_two, &rolled_back), TASKER_EINVAL);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_ready_steps"), 0);
	assert_int_equal(wakeups(t.pg, 300), 0);

	queue_case committed = {9100, 0, 0};
	assert_int_equal(tclient_in_txn(t.client, queue_two, &committed), TASKER_OK);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_ready_steps"), 2);
	assert_int_equal(wakeups(t.pg, 500), 1); /* two batches, one NOTIFY */

	queue_case delayed = {9200, 60000, 0};
	assert_int_equal(tclient_in_txn(t.client, queue_two, &delayed), TASKER_OK);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_ready_steps"), 4);
	assert_int_equal(wakeups(t.pg, 300), 0); /* nothing claimable now: nobody to wake */

	/* Outside a transaction the rows and the NOTIFY go at once. */
	tdb *db;
	assert_int_equal(tclient_acquire(t.client, &db), TASKER_OK);
	tqueue_batch b;
	tqueue_batch_init(&b);
	tqueue_batch_add(&b, 9300, 1, "Hooks::Probe", 0);
	assert_int_equal(tqueue_batch_write(db, &b), TASKER_OK);
	tqueue_batch_free(&b);
	tclient_release(t.client, db);
	assert_int_equal(wakeups(t.pg, 500), 1);
	testdb_close(&t);
}

/* The value of an unlabelled sample in the client's metrics text. */
static long long metric(tasker_client *client, const char *name)
{
	char *text = NULL;
	assert_int_equal(tasker_metrics_snapshot(&text, client, 0), TASKER_OK);
	char key[128];
	snprintf(key, sizeof key, "\n%s ", name);
	const char *at = strstr(text, key);
	assert_non_null(at);
	long long v = strtoll(at + strlen(key), NULL, 10);
	tasker_free(text);
	return v;
}

typedef struct {
	size_t claimed;
	int fail;
} claim_case;

static int claim_then(tdb *db, tasker_client *client, void *arg)
{
	(void)client;
	const claim_case *c = arg;
	tmetrics_claim_in_txn(db, 1500, c->claimed);
	return c->fail ? tasker_set_error(TASKER_EINVAL, "rolled back on purpose") : TASKER_OK;
}

static void test_claim_counters_settle_at_commit(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "hooks_metrics", 1);
	claim_case rolled_back = {3, 1};
	assert_int_equal(tclient_in_txn(t.client, claim_then, &rolled_back), TASKER_EINVAL);
	assert_int_equal(metric(t.client, "tasker_claims_total"), 1);
	assert_int_equal(metric(t.client, "tasker_claims_failed_total"), 1);
	assert_int_equal(metric(t.client, "tasker_steps_claimed_total"), 0); /* its 3 steps were never claimed */

	claim_case committed = {2, 0};
	assert_int_equal(tclient_in_txn(t.client, claim_then, &committed), TASKER_OK);
	assert_int_equal(metric(t.client, "tasker_claims_total"), 2);
	assert_int_equal(metric(t.client, "tasker_claims_failed_total"), 1);
	assert_int_equal(metric(t.client, "tasker_steps_claimed_total"), 2);

	/* The same through a real claim. */
	tasker_template_info tpl;
	assert_int_equal(tasker_template_register_string(&tpl, t.client,
	                                                 "name: lone\nnamespace_name: hooks\nversion: 1.0.0\n"
	                                                 "step_templates:\n"
	                                                 "  - {name: only, handler_class: 'Hooks::Claimed'}\n",
	                                                 0, "lone.yaml", NULL),
	                 TASKER_OK);
	testdb_create_task(t.client, &tpl, NULL);
	tasker_claimed_step_free(testdb_claim_one(t.client, "Hooks::Claimed"));
	assert_int_equal(metric(t.client, "tasker_claims_total"), 3);
	assert_int_equal(metric(t.client, "tasker_steps_claimed_total"), 3);
	testdb_close(&t);
}

/* A completion that makes steps claimable owes idle workers a wake-up only for the steps its own
 * transaction did not claim: a chain's next step, claimed by the worker that finished the one before
 * it in the same transaction, wakes nobody; a sibling left in the queue does. */
static void test_wakeup_only_for_steps_left_in_the_queue(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "hooks_wake_claimed", 1);
	tasker_template_info tpl;
	assert_int_equal(tasker_template_register_string(&tpl, t.client,
	                                                 "name: fork\nnamespace_name: hooks\nversion: 1.0.0\n"
	                                                 "step_templates:\n"
	                                                 "  - {name: a, handler_class: 'Hooks::Wake'}\n"
	                                                 "  - {name: b, handler_class: 'Hooks::Wake', depends_on_step: a}\n"
	                                                 "  - {name: c, handler_class: 'Hooks::Wake', depends_on_step: b}\n"
	                                                 "  - {name: d, handler_class: 'Hooks::Wake', depends_on_step: b}\n",
	                                                 0, "fork.yaml", NULL),
	                 TASKER_OK);
	testdb_create_task(t.client, &tpl, NULL);
	tasker_claimed_step *a = testdb_claim_one(t.client, "Hooks::Wake");
	PQclear(testdb_sql(t.pg, "LISTEN " TQUEUE_CHANNEL));
	const char *classes[] = {"Hooks::Wake"};
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.handler_classes = classes;
	o.handler_class_count = 1;
	o.max_steps = 1;

	/* a → b: b is made claimable and claimed in the same transaction */
	tasker_step_result r = testdb_result_for(a, TASKER_OUTCOME_SUCCESS, "{\"n\": 1}");
	tasker_claimed_step **got = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_complete_and_claim(&got, &n, t.client, &r, 1, &o), TASKER_OK);
	assert_int_equal(n, 1);
	assert_string_equal(got[0]->name, "b");
	assert_int_equal(wakeups(t.pg, 300), 0);

	/* b → c and d: one of them is claimed, the other stays in the queue and is announced */
	tasker_step_result rb = testdb_result_for(got[0], TASKER_OUTCOME_SUCCESS, "{\"n\": 2}");
	tasker_claimed_step **next = NULL;
	size_t nn = 0;
	assert_int_equal(tasker_steps_complete_and_claim(&next, &nn, t.client, &rb, 1, &o), TASKER_OK);
	assert_int_equal(nn, 1);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_ready_steps"), 1);
	assert_int_equal(wakeups(t.pg, 500), 1);

	/* a completion that claims nothing announces what it made claimable (here: nothing) */
	tasker_step_result rc = testdb_result_for(next[0], TASKER_OUTCOME_SUCCESS, NULL);
	assert_int_equal(tasker_steps_complete(t.client, &rc, 1), TASKER_OK);
	assert_int_equal(wakeups(t.pg, 300), 0);
	testdb_free_claims(next, nn);
	testdb_free_claims(got, n);
	tasker_claimed_step_free(a);
	testdb_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_wakes_workers_only_when_committed),
		cmocka_unit_test(test_claim_counters_settle_at_commit),
		cmocka_unit_test(test_wakeup_only_for_steps_left_in_the_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
