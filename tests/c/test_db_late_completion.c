/* Integration tests of late completions (issue 6): a worker whose lease expired and whose step was
 * recovered — by tasker_step_recover_expired or by another worker — reports its result afterwards.
 * The result must be rejected (status TASKER_ECONFLICT with a clear message), never applied, and
 * must not disturb the attempt that replaced it. A race between a completion and a recovery of the
 * same claim has exactly one winner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"

static testdb db;
static tasker_template_info tpl;

static const char *TEMPLATE =
	"name: late_completion_task\n"
	"namespace_name: reliability\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - name: only_step\n"
	"    handler_class: LateCompletionHandler\n";

static int setup(void **state)
{
	testdb_open_template(&db, "late_completion", TEMPLATE, &tpl);
	*state = &db;
	return 0;
}

static int64_t new_task(void) { return testdb_create_task(db.client, &tpl, NULL); }

/* Claims the ready step of `task` (waiting up to 10 s for a backoff to end) as `worker_id`. */
static tasker_claimed_step *claim(tasker_client *client, int64_t task, const char *worker_id, int lease)
{
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.worker_id = worker_id;
	o.lease_seconds = lease;
	o.max_steps = 8;
	for (int waited = 0; waited < 10000; waited += 50) {
		tasker_claimed_step **steps = NULL;
		size_t n = 0;
		assert_int_equal(tasker_steps_claim(&steps, &n, client, &o), TASKER_OK);
		tasker_claimed_step *mine = NULL;
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(steps[i]->task_id, task); /* every other task of this file is finished */
			mine = steps[i];
		}
		free(steps);
		if (mine)
			return mine;
		testdb_sleep_ms(50);
	}
	fail_msg("the step of task %lld never became claimable", (long long)task);
	return NULL;
}

/* Waits until the lease of `step` has expired by the database's clock. */
static void wait_for_expiry(const tasker_claimed_step *step)
{
	for (int waited = 0; waited < 5000; waited += 50) {
		if (testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims WHERE workflow_step_id = %lld AND "
		                        "lease_expires_at < timezone('UTC', now())", (long long)step->workflow_step_id))
			return;
		testdb_sleep_ms(50);
	}
	fail_msg("the lease of step %lld never expired", (long long)step->workflow_step_id);
}

static tasker_step_result success(const tasker_claimed_step *s, const char *results)
{
	tasker_step_result r = {0};
	r.workflow_step_id = s->workflow_step_id;
	r.claim_id = s->claim_id;
	r.outcome = TASKER_OUTCOME_SUCCESS;
	r.results_json = results;
	r.retry_after = -1;
	return r;
}

/* Reports `r` and expects it to be rejected as a lost claim, with a message naming the step. */
static void expect_rejected(tasker_step_result *r)
{
	assert_int_equal(tasker_steps_complete(db.client, r, 1), TASKER_OK);
	assert_int_equal(r->status, TASKER_ECONFLICT);
	const tasker_error *e = tasker_error_last();
	assert_int_equal(e->code, TASKER_ECONFLICT);
	char id[32];
	snprintf(id, sizeof id, "step %lld", (long long)r->workflow_step_id);
	assert_non_null(strstr(e->message, id));
	assert_non_null(strstr(e->message, "no longer yours"));
	assert_non_null(strstr(e->message, "discarded"));
}

static char *step_value(int64_t step, const char *column)
{
	return testdb_value(db.pg, "SELECT %s FROM tasker_workflow_steps WHERE workflow_step_id = %lld", column,
	                    (long long)step);
}

static long long transitions(int64_t step, const char *to_state)
{
	return testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE workflow_step_id = "
	                           "%lld AND to_state = '%s'", (long long)step, to_state);
}

static void assert_step_state(int64_t step, tasker_state expected)
{
	tasker_state st;
	assert_int_equal(tasker_step_state(&st, db.client, step), TASKER_OK);
	assert_int_equal(st, expected);
}

static void assert_results(int64_t step, const char *expected_json)
{
	char *same = testdb_value(db.pg, "SELECT results = '%s'::jsonb FROM tasker_workflow_steps WHERE "
	                                 "workflow_step_id = %lld", expected_json, (long long)step);
	char *actual = step_value(step, "results::text");
	if (strcmp(same, "t") != 0)
		fail_msg("step %lld results are %s, expected %s", (long long)step, actual, expected_json);
	free(same);
	free(actual);
}

/* Recovered by tasker_step_recover_expired, re-claimed by another worker: the late result is
 * refused before and after the new attempt completes; the new attempt's result stands. */
static void test_late_completion_after_recovery(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_claimed_step *dead = claim(db.client, task, "dead-worker", 1);
	int64_t step = dead->workflow_step_id;
	assert_int_equal(dead->attempts, 0);
	wait_for_expiry(dead);

	int recovered = -1;
	assert_int_equal(tasker_step_recover_expired(&recovered, db.client), TASKER_OK);
	assert_int_equal(recovered, 1);
	assert_step_state(step, TASKER_STATE_ERROR);
	char *attempts = step_value(step, "attempts");
	assert_string_equal(attempts, "1");
	free(attempts);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims"), 0);

	/* Late, while the step waits for its retry: refused, nothing written. */
	tasker_step_result late = success(dead, "{\"by\": \"dead\"}");
	expect_rejected(&late);
	assert_step_state(step, TASKER_STATE_ERROR);
	assert_int_equal(transitions(step, "complete"), 0);

	tasker_claimed_step *live = claim(db.client, task, "live-worker", 30);
	assert_int_equal(live->workflow_step_id, step);
	assert_int_equal(live->attempts, 1);
	assert_true(live->claim_id != dead->claim_id);

	/* Late, while the new attempt runs: refused, and the new claim is untouched. */
	late = success(dead, "{\"by\": \"dead\"}");
	expect_rejected(&late);
	assert_step_state(step, TASKER_STATE_IN_PROGRESS);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims WHERE claim_id = %lld",
	                              (long long)live->claim_id), 1);
	assert_int_equal(tasker_step_extend_lease(db.client, step, dead->claim_id, 30), TASKER_ECONFLICT);
	assert_int_equal(tasker_step_extend_lease(db.client, step, live->claim_id, 30), TASKER_OK);

	tasker_step_result ok = success(live, "{\"by\": \"live\"}");
	assert_int_equal(tasker_steps_complete(db.client, &ok, 1), TASKER_OK);
	assert_int_equal(ok.status, TASKER_OK);
	assert_int_equal(ok.new_state, TASKER_STATE_COMPLETE);

	/* Late, after the new attempt completed: refused; the results stay the live worker's. */
	late = success(dead, "{\"by\": \"dead\"}");
	expect_rejected(&late);
	assert_step_state(step, TASKER_STATE_COMPLETE);
	assert_results(step, "{\"by\": \"live\"}");
	assert_int_equal(transitions(step, "complete"), 1);
	attempts = step_value(step, "attempts");
	assert_string_equal(attempts, "2");
	free(attempts);
	tasker_state ts;
	assert_int_equal(tasker_task_state(&ts, db.client, task), TASKER_OK);
	assert_int_equal(ts, TASKER_STATE_COMPLETE);

	tasker_claimed_step_free(dead);
	tasker_claimed_step_free(live);
}

/* A late *failure* is refused the same way and costs the step no attempt. */
static void test_late_failure_after_recovery(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_claimed_step *dead = claim(db.client, task, "dead-worker", 1);
	int64_t step = dead->workflow_step_id;
	wait_for_expiry(dead);
	int recovered = -1;
	assert_int_equal(tasker_step_recover_expired(&recovered, db.client), TASKER_OK);
	assert_int_equal(recovered, 1);
	long long errors = transitions(step, "error");

	tasker_step_result late = {0};
	late.workflow_step_id = step;
	late.claim_id = dead->claim_id;
	late.outcome = TASKER_OUTCOME_PERMANENT;
	late.error_message = "the late worker's failure";
	late.retry_after = -1;
	expect_rejected(&late);
	char *attempts = step_value(step, "attempts"), *retryable = step_value(step, "retryable");
	assert_string_equal(attempts, "1");
	assert_string_equal(retryable, "t");
	free(attempts);
	free(retryable);
	assert_int_equal(transitions(step, "error"), errors);

	/* The step is still retried and completes. */
	tasker_claimed_step *live = claim(db.client, task, "live-worker", 30);
	tasker_step_result ok = success(live, "{\"by\": \"live\"}");
	assert_int_equal(tasker_steps_complete(db.client, &ok, 1), TASKER_OK);
	assert_int_equal(ok.status, TASKER_OK);
	assert_results(step, "{\"by\": \"live\"}");
	tasker_claimed_step_free(dead);
	tasker_claimed_step_free(live);
}

/* The worker's path, complete-and-claim in one transaction, refuses a late result the same way and
 * still claims what is ready. */
static void test_late_completion_and_claim(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_claimed_step *dead = claim(db.client, task, "dead-worker", 1);
	int64_t step = dead->workflow_step_id;
	wait_for_expiry(dead);
	int recovered = -1;
	assert_int_equal(tasker_step_recover_expired(&recovered, db.client), TASKER_OK);
	assert_int_equal(recovered, 1);
	/* Skip the backoff so the retry is claimable now. */
	PQclear(testdb_sqlf(db.pg, "UPDATE tasker_ready_steps SET ready_at = timezone('UTC', now()) - "
	                           "interval '1 second' WHERE workflow_step_id = %lld", (long long)step));

	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.worker_id = "dead-worker";
	o.lease_seconds = 30;
	o.max_steps = 4;
	tasker_step_result late = success(dead, "{\"by\": \"dead\"}");
	tasker_claimed_step **claimed = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_complete_and_claim(&claimed, &n, db.client, &late, 1, &o), TASKER_OK);
	assert_int_equal(late.status, TASKER_ECONFLICT);
	assert_int_equal(tasker_error_last()->code, TASKER_ECONFLICT);
	assert_non_null(strstr(tasker_error_last()->message, "no longer yours"));
	/* The claim half still works: the retry of the very same step, as a new attempt. */
	assert_int_equal(n, 1);
	assert_int_equal(claimed[0]->workflow_step_id, step);
	assert_int_equal(claimed[0]->attempts, 1);
	assert_true(claimed[0]->claim_id != dead->claim_id);
	assert_int_equal(transitions(step, "complete"), 0);

	tasker_step_result ok = success(claimed[0], "{\"by\": \"retry\"}");
	assert_int_equal(tasker_steps_complete(db.client, &ok, 1), TASKER_OK);
	assert_int_equal(ok.status, TASKER_OK);
	late = success(dead, "{\"by\": \"dead\"}");
	tasker_claimed_step **more = NULL;
	assert_int_equal(tasker_steps_complete_and_claim(&more, &n, db.client, &late, 1, &o), TASKER_OK);
	assert_int_equal(late.status, TASKER_ECONFLICT);
	assert_int_equal(n, 0);
	free(more);
	assert_results(step, "{\"by\": \"retry\"}");
	assert_int_equal(transitions(step, "complete"), 1);
	tasker_claimed_step_free(claimed[0]);
	free(claimed);
	tasker_claimed_step_free(dead);
}

static int live_handler(char **out, const tasker_claimed_step *step, tasker_step_error *error, void *payload)
{
	(void)step;
	(void)error;
	(*(int *)payload)++;
	*out = strdup("{\"by\": \"worker\"}");
	return 0;
}

/* Recovered by another worker's loop (which also runs the retry): the late result is refused. */
static void test_late_completion_recovered_by_worker(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_claimed_step *dead = claim(db.client, task, "dead-worker", 1);
	int64_t step = dead->workflow_step_id;
	wait_for_expiry(dead);

	tasker_client *other;
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.database_url = db.conninfo;
	assert_int_equal(tasker_client_open(&other, &co), TASKER_OK);
	tasker_worker_options wo = TASKER_WORKER_OPTIONS_INIT;
	wo.worker_id = "live-worker";
	wo.concurrency = 1;
	tasker_worker *w;
	assert_int_equal(tasker_worker_new(&w, other, &wo), TASKER_OK);
	int runs = 0;
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, "LateCompletionHandler", live_handler, NULL, &runs};
	assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	assert_int_equal(tasker_worker_run_until_idle(w), TASKER_OK);
	assert_int_equal(runs, 1);
	tasker_worker_free(w);
	tasker_client_free(other);

	assert_step_state(step, TASKER_STATE_COMPLETE);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                     "workflow_step_id = %lld AND metadata->>'error_class' = 'LeaseExpired'",
	                              (long long)step), 1);
	tasker_step_result late = success(dead, "{\"by\": \"dead\"}");
	expect_rejected(&late);
	assert_results(step, "{\"by\": \"worker\"}");
	assert_int_equal(transitions(step, "complete"), 1);
	tasker_claimed_step_free(dead);
}

/* ---- a completion racing a recovery of the same expired claim: exactly one wins */

typedef struct {
	tasker_client *client;
	pthread_barrier_t *start;
	tasker_step_result result;
	int rc, recovered;
} racer;

static void *complete_thread(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = tasker_steps_complete(r->client, &r->result, 1);
	return NULL;
}

static void *recover_thread(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = tasker_step_recover_expired(&r->recovered, r->client);
	return NULL;
}

static void test_completion_races_recovery(void **state)
{
	(void)state;
	const char *env = getenv("TASKER_RACE_ROUNDS");
	int rounds = env && atoi(env) > 0 ? atoi(env) : 30;
	tasker_client *a, *b;
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.database_url = db.conninfo;
	assert_int_equal(tasker_client_open(&a, &co), TASKER_OK);
	assert_int_equal(tasker_client_open(&b, &co), TASKER_OK);
	int completed = 0, recovered = 0;
	for (int round = 0; round < rounds; round++) {
		int64_t task = new_task();
		tasker_claimed_step *s = claim(db.client, task, "slow-worker", 30);
		/* Expire the lease now rather than waiting a second per round. */
		PQclear(testdb_sqlf(db.pg, "UPDATE tasker_step_claims SET lease_expires_at = timezone('UTC', now()) - "
		                           "interval '1 second' WHERE workflow_step_id = %lld",
		                    (long long)s->workflow_step_id));
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, 2);
		racer c = {a, &start, success(s, "{\"by\": \"slow\"}"), -1, 0};
		racer r = {b, &start, {0}, -1, 0};
		pthread_t tc, tr;
		pthread_create(&tc, NULL, complete_thread, &c);
		pthread_create(&tr, NULL, recover_thread, &r);
		pthread_join(tc, NULL);
		pthread_join(tr, NULL);
		pthread_barrier_destroy(&start);
		assert_int_equal(c.rc, TASKER_OK);
		assert_int_equal(r.rc, TASKER_OK);
		int won_completion = c.result.status == TASKER_OK;
		if (!won_completion)
			assert_int_equal(c.result.status, TASKER_ECONFLICT);
		if (won_completion == (r.recovered == 1))
			fail_msg("round %d: completion %s and recovery %s the same claim", round,
			         won_completion ? "won" : "lost", r.recovered ? "won" : "lost");
		int64_t step = s->workflow_step_id;
		assert_step_state(step, won_completion ? TASKER_STATE_COMPLETE : TASKER_STATE_ERROR);
		char *attempts = step_value(step, "attempts");
		assert_string_equal(attempts, "1");
		free(attempts);
		assert_int_equal(transitions(step, "complete"), won_completion);
		assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims"), 0);
		completed += won_completion;
		recovered += !won_completion;
		if (!won_completion) { /* finish the task (skipping the backoff) so later claims see only their own */
			PQclear(testdb_sqlf(db.pg, "UPDATE tasker_ready_steps SET ready_at = timezone('UTC', now()) - "
			                           "interval '1 second' WHERE workflow_step_id = %lld", (long long)step));
			tasker_claimed_step *again = claim(db.client, task, "live-worker", 30);
			tasker_step_result ok = success(again, "{\"by\": \"live\"}");
			assert_int_equal(tasker_steps_complete(db.client, &ok, 1), TASKER_OK);
			assert_int_equal(ok.status, TASKER_OK);
			tasker_claimed_step_free(again);
		}
		tasker_claimed_step_free(s);
	}
	print_message("completion won %d, recovery won %d of %d rounds\n", completed, recovered, rounds);
	tasker_client_free(a);
	tasker_client_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_completion_after_recovery),
		cmocka_unit_test(test_late_failure_after_recovery),
		cmocka_unit_test(test_late_completion_and_claim),
		cmocka_unit_test(test_late_completion_recovered_by_worker),
		cmocka_unit_test(test_completion_races_recovery),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
