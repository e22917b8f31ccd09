/* Integration tests of host-driven execution (tasker_worker_start/next/fd/finish/wait/claim_step/idle):
 * the worker claims and records, the test plays the host that runs the handlers. A host that finishes
 * out of order; one that never finishes (another worker recovers the step when the lease expires);
 * a stop while steps are out; a descriptor readable exactly when next has an answer; delegation
 * without a started worker; and the errors a host can make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testdb.h"

static testdb db;
static tasker_template_info tpl;

/* Four independent steps: all ready at once. */
static const char *TEMPLATE =
	"name: host_task\n"
	"namespace_name: host\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - name: a\n"
	"    handler_class: HostHandler\n"
	"  - name: b\n"
	"    handler_class: HostHandler\n"
	"  - name: c\n"
	"    handler_class: HostHandler\n"
	"  - name: d\n"
	"    handler_class: HostHandler\n";

static int setup(void **state)
{
	testdb_open_template(&db, "worker_host", TEMPLATE, &tpl);
	*state = &db;
	return 0;
}

static int64_t new_task(void) { return testdb_create_task(db.client, &tpl, NULL); }

/* A client whose configuration sets execution.shutdown_timeout_seconds and execution.concurrency (0:
 * the default). */
static tasker_client *configured_client(int shutdown_timeout_seconds, int concurrency)
{
	tasker_config cfg;
	tasker_config_init(&cfg);
	if (shutdown_timeout_seconds)
		cfg.execution.shutdown_timeout_seconds = shutdown_timeout_seconds;
	if (concurrency)
		cfg.execution.concurrency = concurrency;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = db.conninfo;
	o.config = &cfg;
	tasker_client *c = NULL;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	tasker_config_clear(&cfg);
	return c;
}

/* A client whose workers stop waiting for steps out with the host after one second. */
static tasker_client *quick_shutdown_client(void) { return configured_client(1, 0); }

static tasker_worker *host_worker(tasker_client *client, unsigned concurrency, unsigned claim_batch, int lease)
{
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = concurrency;
	o.claim_batch = claim_batch;
	o.lease_seconds = lease;
	o.poll_interval_ms = 100;
	tasker_worker *w = NULL;
	assert_int_equal(tasker_worker_new(&w, client, &o), TASKER_OK);
	assert_int_equal(tasker_worker_declare(w, "HostHandler"), TASKER_OK);
	return w;
}

static tasker_step_result success(const char *results)
{
	tasker_step_result r = {0};
	r.outcome = TASKER_OUTCOME_SUCCESS;
	r.results_json = results;
	r.retry_after = -1;
	return r;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void wait_task_state(int64_t task, const char *state)
{
	for (int waited = 0; waited < 15000; waited += 20) {
		char *s = testdb_value(db.pg,
		                       "SELECT to_state FROM tasker_task_transitions WHERE task_id = %lld AND most_recent",
		                       (long long)task);
		int done = strcmp(s, state) == 0;
		free(s);
		if (done)
			return;
		testdb_sleep_ms(20);
	}
	fail_msg("task %lld never reached %s", (long long)task, state);
}

/* Steps are finished in the reverse of the order they were handed out; each keeps its own result. */
static void test_finish_out_of_order(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_worker *w = host_worker(db.client, 4, 4, 30);
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	tasker_claimed_step *steps[4];
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tasker_worker_next(&steps[i], w, 10000), TASKER_OK);
		assert_int_equal(steps[i]->task_id, task);
	}
	assert_int_equal(tasker_worker_idle(w), 0); /* steps are out */
	for (int i = 3; i >= 0; i--) {
		char results[64];
		snprintf(results, sizeof results, "{\"step\":\"%s\"}", steps[i]->name);
		tasker_step_result r = success(results);
		assert_int_equal(tasker_worker_finish(w, steps[i], &r), TASKER_OK);
	}
	wait_task_state(task, "complete");
	assert_int_equal(testdb_count(db.pg,
	                              "SELECT count(*) FROM tasker_workflow_steps s JOIN tasker_named_steps n USING "
	                              "(named_step_id) WHERE s.task_id = %lld AND s.processed AND "
	                              "s.results->>'step' = n.name",
	                              (long long)task),
	                 4);
	for (int waited = 0; !tasker_worker_idle(w) && waited < 10000; waited += 20)
		testdb_sleep_ms(20);
	assert_int_equal(tasker_worker_idle(w), 1);
	assert_int_equal(tasker_worker_processed(w), 4);
	tasker_worker_stop(w);
	assert_int_equal(tasker_worker_wait(w, 10000), TASKER_OK);
	tasker_worker_free(w);
}

/* A host that never finishes its step: once its worker stops (its shutdown timeout passes) the lease
 * runs out, another worker recovers the step (an attempt counted) and runs it; the first host's late
 * result is refused as a lost claim. */
static void test_never_finished_is_recovered(void **state)
{
	(void)state;
	tasker_client *client = quick_shutdown_client();
	int64_t task = new_task();
	tasker_worker *a = host_worker(client, 4, 4, 1);
	assert_int_equal(tasker_worker_start(a), TASKER_OK);
	tasker_claimed_step *held[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(tasker_worker_next(&held[i], a, 10000), TASKER_OK);
	for (int i = 1; i < 4; i++) {
		tasker_step_result r = success("{}");
		assert_int_equal(tasker_worker_finish(a, held[i], &r), TASKER_OK);
	}
	tasker_worker_stop(a);
	assert_int_equal(tasker_worker_wait(a, 10000), TASKER_OK); /* after the 1 s shutdown timeout */

	tasker_worker *b = host_worker(db.client, 4, 4, 1);
	assert_int_equal(tasker_worker_start(b), TASKER_OK);
	tasker_claimed_step *again = NULL;
	assert_int_equal(tasker_worker_next(&again, b, 20000), TASKER_OK);
	assert_int_equal(again->workflow_step_id, held[0]->workflow_step_id);
	assert_int_equal(again->attempts, 1); /* the lost run counted */
	tasker_step_result r = success("{\"by\":\"b\"}");
	assert_int_equal(tasker_worker_finish(b, again, &r), TASKER_OK);
	wait_task_state(task, "complete");

	tasker_step_result late = success("{\"by\":\"a\"}");
	assert_int_equal(tasker_worker_finish(a, held[0], &late), TASKER_ECONFLICT);
	assert_int_equal(testdb_count(db.pg,
	                              "SELECT count(*) FROM tasker_workflow_steps WHERE task_id = %lld AND "
	                              "results->>'by' = 'b'",
	                              (long long)task),
	                 1);
	tasker_worker_stop(b);
	assert_int_equal(tasker_worker_wait(b, 10000), TASKER_OK);
	tasker_worker_free(b);
	tasker_worker_free(a);
	tasker_client_free(client);
}

/* Stop while two steps are out and two wait: next answers TASKER_ESTOPPED, the waiting two go back to
 * the queue at once (no attempt counted), the two out may still be finished and are recorded. */
static void test_stop_while_out(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_worker *w = host_worker(db.client, 2, 4, 30);
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	tasker_claimed_step *out[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(tasker_worker_next(&out[i], w, 10000), TASKER_OK);
	for (int waited = 0; waited < 10000; waited += 20) { /* the other two are claimed and waiting */
		if (testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims c JOIN tasker_workflow_steps s USING "
		                        "(workflow_step_id) WHERE s.task_id = %lld",
		                 (long long)task) == 4)
			break;
		testdb_sleep_ms(20);
	}
	tasker_claimed_step *none = NULL;
	assert_int_equal(tasker_worker_next(&none, w, 0), TASKER_ETIMEOUT); /* two out = concurrency */
	tasker_worker_stop(w);
	assert_int_equal(tasker_worker_next(&none, w, -1), TASKER_ESTOPPED);
	assert_null(none);
	assert_int_equal(tasker_worker_wait(w, 0), TASKER_ETIMEOUT); /* two steps still out */
	for (int i = 0; i < 2; i++) {
		tasker_step_result r = success("{}");
		assert_int_equal(tasker_worker_finish(w, out[i], &r), TASKER_OK);
	}
	assert_int_equal(tasker_worker_wait(w, 10000), TASKER_OK);
	assert_int_equal(tasker_worker_processed(w), 2);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_steps WHERE task_id = %lld AND processed",
	                              (long long)task),
	                 2);
	assert_int_equal(testdb_count(db.pg,
	                              "SELECT count(*) FROM tasker_workflow_steps s JOIN tasker_ready_steps r USING "
	                              "(workflow_step_id) WHERE s.task_id = %lld AND s.attempts = 0",
	                              (long long)task),
	                 2);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims c JOIN tasker_workflow_steps s "
	                                     "USING (workflow_step_id) WHERE s.task_id = %lld",
	                              (long long)task),
	                 0);
	assert_int_equal(tasker_worker_next(&none, w, 0), TASKER_ESTOPPED);
	tasker_worker_free(w);

	/* The released steps are another worker's at once. */
	tasker_worker *b = host_worker(db.client, 4, 4, 30);
	assert_int_equal(tasker_worker_start(b), TASKER_OK);
	for (int i = 0; i < 2; i++) {
		tasker_claimed_step *s = NULL;
		assert_int_equal(tasker_worker_next(&s, b, 10000), TASKER_OK);
		tasker_step_result r = success("{}");
		assert_int_equal(tasker_worker_finish(b, s, &r), TASKER_OK);
	}
	wait_task_state(task, "complete");
	tasker_worker_stop(b);
	assert_int_equal(tasker_worker_wait(b, 10000), TASKER_OK);
	tasker_worker_free(b);
}

/* A stop while a writer of results is claiming more in the same transaction (a reservation made
 * before the stop): what that transaction claims is given back, and the worker stops at once after the
 * host was told no more steps come, instead of keeping those claims until the shutdown timeout. The
 * write is held back by a lock on the finished step's row. */
static void test_stop_while_writer_claims(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_worker *w = host_worker(db.client, 1, 1, 30); /* capacity 1: nothing else is queued */
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	tasker_claimed_step *a = NULL;
	assert_int_equal(tasker_worker_next(&a, w, 10000), TASKER_OK);
	PQclear(testdb_sql(db.pg, "BEGIN"));
	PQclear(testdb_sqlf(db.pg, "SELECT 1 FROM tasker_workflow_steps WHERE workflow_step_id = %lld FOR UPDATE",
	                    (long long)a->workflow_step_id));
	tasker_step_result r = success("{}");
	assert_int_equal(tasker_worker_finish(w, a, &r), TASKER_OK); /* the writer claims one more, then waits */
	int waited = 0;
	while (testdb_count(db.pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
	                           "wait_event_type = 'Lock'") == 0 && waited < 10000) {
		testdb_sleep_ms(10);
		waited += 10;
	}
	assert_true(waited < 10000);
	tasker_worker_stop(w);
	tasker_claimed_step *none = NULL;
	assert_int_equal(tasker_worker_next(&none, w, 10000), TASKER_ESTOPPED); /* the host stops asking */
	PQclear(testdb_sql(db.pg, "COMMIT"));
	assert_int_equal(tasker_worker_wait(w, 5000), TASKER_OK);
	assert_int_equal(tasker_worker_processed(w), 1);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims c JOIN tasker_workflow_steps s "
	                                     "USING (workflow_step_id) WHERE s.task_id = %lld",
	                              (long long)task),
	                 0);
	assert_int_equal(testdb_count(db.pg,
	                              "SELECT count(*) FROM tasker_workflow_steps s JOIN tasker_ready_steps r USING "
	                              "(workflow_step_id) WHERE s.task_id = %lld AND s.attempts = 0",
	                              (long long)task),
	                 3);
	tasker_worker_free(w);
	assert_int_equal(tasker_task_cancel(db.client, task), TASKER_OK); /* the next tests' workers take none */
}

/* What the worker's wake-up connection last ran (LISTEN or UNLISTEN), waiting up to 10 s for `want`. */
static int listener_reaches(const char *want)
{
	for (int waited = 0; waited < 10000; waited += 20) {
		char *q = testdb_value(db.pg, "SELECT COALESCE(max(query), '') FROM pg_stat_activity WHERE datname = "
		                              "current_database() AND application_name = 'tasker-worker-listen'");
		int hit = strncmp(q, want, strlen(want)) == 0;
		free(q);
		if (hit)
			return 1;
		testdb_sleep_ms(20);
	}
	return 0;
}

/* A worker that holds all the steps it may hold, woken for nothing, stops listening (each notification
 * a listening backend receives costs the server a transaction, and the worker could claim nothing
 * anyway); its own completions claim its next steps. It listens again when a claim
 * finds nothing, and a step made ready while it sleeps then reaches it through the wake-up alone (the
 * poll interval here is a minute). */
static void test_full_worker_stops_listening(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = 1;
	o.claim_batch = 1;
	o.lease_seconds = 30;
	o.poll_interval_ms = 60000;
	tasker_worker *w = NULL;
	assert_int_equal(tasker_worker_new(&w, db.client, &o), TASKER_OK);
	assert_int_equal(tasker_worker_declare(w, "HostHandler"), TASKER_OK);
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	tasker_claimed_step *s = NULL;
	assert_int_equal(tasker_worker_next(&s, w, 10000), TASKER_OK); /* capacity 1: full */
	int64_t other = new_task(); /* its NOTIFY wakes the worker for nothing */
	assert_true(listener_reaches("UNLISTEN"));
	assert_int_equal(tasker_task_cancel(db.client, other), TASKER_OK);
	for (int i = 0; i < 4; i++) {
		tasker_step_result r = success("{}");
		assert_int_equal(tasker_worker_finish(w, s, &r), TASKER_OK);
		if (i < 3)
			assert_int_equal(tasker_worker_next(&s, w, 10000), TASKER_OK);
	}
	wait_task_state(task, "complete");
	assert_true(listener_reaches("LISTEN")); /* the queue is empty: asleep, listening */
	int64_t next = new_task();
	assert_int_equal(tasker_worker_next(&s, w, 10000), TASKER_OK); /* woken by the NOTIFY */
	tasker_worker_stop(w);
	tasker_step_result r = success("{}");
	assert_int_equal(tasker_worker_finish(w, s, &r), TASKER_OK);
	assert_int_equal(tasker_worker_wait(w, 10000), TASKER_OK);
	tasker_worker_free(w);
	assert_int_equal(tasker_task_cancel(db.client, next), TASKER_OK); /* the next tests' workers take none */
}

/* The descriptor is readable exactly while next(…, 0) has an answer: a step (within the concurrency),
 * or TASKER_ESTOPPED. */
static void test_fd_readable_exactly_when_next_answers(void **state)
{
	(void)state;
	tasker_worker *w = host_worker(db.client, 1, 4, 30);
	int fd = tasker_worker_fd(w);
	tasker_claimed_step *s = NULL;
	assert_true(readable(fd, 0)); /* not started: next answers TASKER_ESTOPPED */
	assert_int_equal(tasker_worker_next(&s, w, 0), TASKER_ESTOPPED);
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	assert_false(readable(fd, 300)); /* nothing to run yet */
	assert_int_equal(tasker_worker_next(&s, w, 0), TASKER_ETIMEOUT);

	int64_t task = new_task();
	for (int i = 0; i < 4; i++) {
		assert_true(readable(fd, 10000));
		assert_int_equal(tasker_worker_next(&s, w, 0), TASKER_OK);
		assert_int_equal(s->task_id, task);
		/* One out = the concurrency: nothing more until it is finished, though steps wait. */
		assert_false(readable(fd, i < 3 ? 100 : 300));
		tasker_claimed_step *more = NULL;
		assert_int_equal(tasker_worker_next(&more, w, 0), TASKER_ETIMEOUT);
		tasker_step_result r = success("{}");
		assert_int_equal(tasker_worker_finish(w, s, &r), TASKER_OK);
	}
	wait_task_state(task, "complete");
	assert_false(readable(fd, 300));
	tasker_worker_stop(w);
	assert_true(readable(fd, 10000));
	assert_int_equal(tasker_worker_next(&s, w, 0), TASKER_ESTOPPED);
	assert_int_equal(tasker_worker_wait(w, 10000), TASKER_OK);
	assert_true(readable(fd, 0));
	tasker_worker_free(w);
}

/* Delegation without a started worker: the host claims one step and finishes it; the result is
 * written on the spot. An undeclared class is not this worker's to claim. */
static void test_claim_step_without_start(void **state)
{
	(void)state;
	int64_t task = new_task();
	tasker_worker *w = host_worker(db.client, 4, 4, 30);
	PGresult *ids = testdb_sqlf(db.pg, "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id = %lld "
	                                   "ORDER BY workflow_step_id",
	                            (long long)task);
	assert_int_equal(PQntuples(ids), 4);
	for (int i = 0; i < 4; i++) {
		int64_t id = strtoll(PQgetvalue(ids, i, 0), NULL, 10);
		tasker_claimed_step *s = NULL;
		assert_int_equal(tasker_worker_claim_step(&s, w, id), TASKER_OK);
		assert_int_equal(s->workflow_step_id, id);
		tasker_claimed_step *twice = NULL;
		assert_int_equal(tasker_worker_claim_step(&twice, w, id), TASKER_ENOTFOUND);
		tasker_step_result r = success("{\"delegated\":true}");
		assert_int_equal(tasker_worker_finish(w, s, &r), TASKER_OK);
	}
	PQclear(ids);
	wait_task_state(task, "complete");
	assert_int_equal(tasker_worker_processed(w), 4);
	tasker_worker_free(w);

	tasker_worker *other = NULL;
	assert_int_equal(tasker_worker_new(&other, db.client, NULL), TASKER_OK);
	assert_int_equal(tasker_worker_declare(other, "SomethingElse"), TASKER_OK);
	int64_t t2 = new_task();
	char *first = testdb_value(db.pg, "SELECT min(workflow_step_id) FROM tasker_workflow_steps WHERE task_id = %lld",
	                           (long long)t2);
	tasker_claimed_step *s = NULL;
	assert_int_equal(tasker_worker_claim_step(&s, other, strtoll(first, NULL, 10)), TASKER_ENOTFOUND);
	assert_non_null(strstr(tasker_error_last()->message, "HostHandler"));
	free(first);
	tasker_worker_free(other);
	assert_int_equal(tasker_task_cancel(db.client, t2), TASKER_OK);
}

/* What a host can get wrong: a step that is not out, an outcome out of range, a result that is not
 * JSON, declaring after the start, starting twice or with nothing declared. */
static void test_host_errors(void **state)
{
	(void)state;
	tasker_worker *empty = NULL;
	assert_int_equal(tasker_worker_new(&empty, db.client, NULL), TASKER_OK);
	assert_int_equal(tasker_worker_start(empty), TASKER_EINVAL);
	assert_int_equal(tasker_worker_declare(empty, ""), TASKER_EINVAL);
	assert_int_equal(tasker_worker_wait(empty, 0), TASKER_OK); /* not running */
	tasker_worker_free(empty);

	int64_t task = new_task();
	tasker_worker *w = host_worker(db.client, 4, 4, 30);
	assert_int_equal(tasker_worker_declare(w, "HostHandler"), TASKER_EINVAL); /* twice */
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	assert_int_equal(tasker_worker_start(w), TASKER_EINVAL);
	assert_int_equal(tasker_worker_declare(w, "Late"), TASKER_EINVAL);
	/* The engine's internal outcomes (give back, lease expired) are not for outside callers. */
	tasker_step_result internal = success(NULL);
	internal.workflow_step_id = 1;
	internal.outcome = (tasker_outcome)100;
	assert_int_equal(tasker_steps_complete(db.client, &internal, 1), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "not a tasker_outcome"));
	tasker_claimed_step **none = NULL;
	size_t nnone = 0;
	tasker_claim_options co = TASKER_CLAIM_OPTIONS_INIT;
	assert_int_equal(tasker_steps_complete_and_claim(&none, &nnone, db.client, &internal, 1, &co), TASKER_EINVAL);
	internal.outcome = (tasker_outcome)101;
	assert_int_equal(tasker_steps_complete(db.client, &internal, 1), TASKER_EINVAL);

	tasker_claimed_step fake = {0};
	tasker_step_result r = success("{}");
	assert_int_equal(tasker_worker_finish(w, &fake, &r), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "not handed out"));

	tasker_claimed_step *s = NULL, *bad = NULL;
	assert_int_equal(tasker_worker_next(&s, w, 10000), TASKER_OK);
	assert_int_equal(tasker_worker_next(&bad, w, 10000), TASKER_OK);
	tasker_step_result weird = success("{}");
	weird.outcome = (tasker_outcome)42;
	assert_int_equal(tasker_worker_finish(w, s, &weird), TASKER_EINVAL); /* the step stays out */
	int64_t bad_id = bad->workflow_step_id;
	tasker_step_result not_json = success("{not json");
	assert_int_equal(tasker_worker_finish(w, bad, &not_json), TASKER_OK);
	tasker_step_result failed = {0};
	failed.outcome = TASKER_OUTCOME_PERMANENT;
	failed.error_message = "the host says no";
	failed.error_class = "HostError";
	failed.error_code = "NO";
	failed.retry_after = -1;
	int64_t failed_id = s->workflow_step_id;
	assert_int_equal(tasker_worker_finish(w, s, &failed), TASKER_OK);
	wait_task_state(task, "error");
	char *msg = testdb_value(db.pg, "SELECT results->'error_details'->>'error_code' FROM tasker_workflow_steps WHERE "
	                                "workflow_step_id = %lld",
	                         (long long)bad_id);
	assert_string_equal(msg, "INVALID_RESULT");
	free(msg);
	msg = testdb_value(db.pg, "SELECT results->'error_details'->>'error_message' FROM tasker_workflow_steps WHERE "
	                          "workflow_step_id = %lld",
	                   (long long)failed_id);
	assert_string_equal(msg, "the host says no");
	free(msg);
	tasker_worker_stop(w);
	assert_int_equal(tasker_worker_wait(w, 10000), TASKER_OK);
	tasker_worker_free(w);
}

/* A worker's concurrency: the option when given, else the client's execution.concurrency. */
static void test_concurrency_comes_from_the_option_or_the_config(void **state)
{
	(void)state;
	tasker_client *c = configured_client(0, 7);
	tasker_worker *from_config = NULL, *given = NULL;
	assert_int_equal(tasker_worker_new(&from_config, c, NULL), TASKER_OK);
	assert_int_equal(tasker_worker_concurrency(from_config), 7);
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = 3;
	assert_int_equal(tasker_worker_new(&given, c, &o), TASKER_OK);
	assert_int_equal(tasker_worker_concurrency(given), 3);
	tasker_worker_free(given);
	tasker_worker_free(from_config);
	assert_int_equal(tasker_worker_new(&from_config, db.client, NULL), TASKER_OK);
	assert_int_equal(tasker_worker_concurrency(from_config), 10); /* the default configuration */
	tasker_worker_free(from_config);
	tasker_client_free(c);
}

/* A concurrency beyond what one process can run is refused by name, from the options and from the
 * configuration alike, before anything is allocated for it; a huge claim batch sizes nothing. */
static void test_sizes_beyond_the_limit_are_refused(void **state)
{
	(void)state;
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = TASKER_WORKER_MAX_CONCURRENCY + 1;
	assert_int_equal(tasker_worker_new(&w, db.client, &o), TASKER_EINVAL);
	assert_null(w);
	assert_non_null(strstr(tasker_error_last()->message, "concurrency 4097"));
	o = (tasker_worker_options)TASKER_WORKER_OPTIONS_INIT;
	o.claim_batch = 4000000000u; /* a claim takes at most 256 steps: nothing is sized by this */
	assert_int_equal(tasker_worker_new(&w, db.client, &o), TASKER_OK);
	tasker_worker_free(w);
	tasker_client *c = configured_client(0, 100000);
	assert_int_equal(tasker_worker_new(&w, c, NULL), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "execution.concurrency 100000"));
	tasker_client_free(c);
	o = (tasker_worker_options)TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = TASKER_WORKER_MAX_CONCURRENCY; /* the limit itself is allowed */
	assert_int_equal(tasker_worker_new(&w, db.client, &o), TASKER_OK);
	assert_int_equal(tasker_worker_concurrency(w), TASKER_WORKER_MAX_CONCURRENCY);
	tasker_worker_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finish_out_of_order),
		cmocka_unit_test(test_never_finished_is_recovered),
		cmocka_unit_test(test_stop_while_out),
		cmocka_unit_test(test_stop_while_writer_claims),
		cmocka_unit_test(test_full_worker_stops_listening),
		cmocka_unit_test(test_fd_readable_exactly_when_next_answers),
		cmocka_unit_test(test_claim_step_without_start),
		cmocka_unit_test(test_host_errors),
		cmocka_unit_test(test_concurrency_comes_from_the_option_or_the_config),
		cmocka_unit_test(test_sizes_beyond_the_limit_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
