/*
 * test_db_routing.c — routing steps by handler class: a worker claims only the classes it has (counted
 * claims: no claim-then-release churn), and a ready step whose class no running worker has is reported
 * as waiting for a handler (worker presence) until a worker with that class comes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

#define TASKS 5

static const char *ROUTED =
	"name: routed\n"
	"namespace_name: routing\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: start, handler_class: 'Route::A'}\n"
	"  - {name: left, handler_class: 'Route::B', depends_on_step: start}\n"
	"  - {name: right, handler_class: 'Route::A', depends_on_step: start}\n"
	"  - {name: finish, handler_class: 'Route::B', depends_on_steps: [left, right]}\n";

static const char *ORPHAN =
	"name: orphan\n"
	"namespace_name: routing\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: only, handler_class: 'Route::Nobody'}\n";

typedef struct counted {
	const char *handler_class;
	pthread_mutex_t mu;
	int runs;
} counted;

static int count_and_succeed(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)err;
	counted *c = payload;
	assert_string_equal(step->handler_class, c->handler_class);
	pthread_mutex_lock(&c->mu);
	c->runs++;
	pthread_mutex_unlock(&c->mu);
	*out = strdup("{\"ok\": true}");
	return 0;
}

/* The client's tasker_steps_claimed_total counter: every step it ever claimed. */
static long long steps_claimed(tasker_client *client)
{
	char *text = NULL;
	assert_int_equal(tasker_metrics_snapshot(&text, client, 0), TASKER_OK);
	const char *line = strstr(text, "\ntasker_steps_claimed_total ");
	assert_non_null(line);
	long long n = strtoll(line + strlen("\ntasker_steps_claimed_total "), NULL, 10);
	tasker_free(text);
	return n;
}

static tasker_worker *worker_for(tasker_client *client, counted *c)
{
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	assert_int_equal(tasker_worker_new(&w, client, &o), TASKER_OK);
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, c->handler_class, count_and_succeed, NULL, c};
	assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	return w;
}

/* Two workers, each with one class of a diamond whose classes alternate: each claims exactly the steps
 * of its class (its claim counter equals its handler's runs), and no step is claimed and given back or
 * failed for want of a handler (one transition to in_progress per step, none to error). */
static void test_each_worker_claims_only_its_classes(void **state)
{
	testdb *t = *state;
	tasker_client *other = NULL;
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.database_url = t->conninfo;
	assert_int_equal(tasker_client_open(&other, &co), TASKER_OK);
	counted a = {"Route::A", PTHREAD_MUTEX_INITIALIZER, 0}, b = {"Route::B", PTHREAD_MUTEX_INITIALIZER, 0};
	tasker_worker *wa = worker_for(t->client, &a), *wb = worker_for(other, &b);
	long long a0 = steps_claimed(t->client), b0 = steps_claimed(other);

	int64_t first = 0;
	for (int i = 0; i < TASKS; i++) {
		int64_t id = testdb_new_task(t->client, "routing", "routed", NULL);
		first = first ? first : id;
	}
	/* Only Route::B's worker runs while only Route::A's steps are ready: it claims nothing. */
	assert_int_equal(tasker_worker_run_until_idle(wb), TASKER_OK);
	assert_int_equal(steps_claimed(other), b0);
	for (int round = 0; round < 6; round++) {
		assert_int_equal(tasker_worker_run_until_idle(wa), TASKER_OK);
		assert_int_equal(tasker_worker_run_until_idle(wb), TASKER_OK);
	}
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks WHERE task_id >= %lld AND NOT complete",
	                              (long long)first), 0);
	assert_int_equal(a.runs, 2 * TASKS);
	assert_int_equal(b.runs, 2 * TASKS);
	assert_int_equal(steps_claimed(t->client) - a0, 2 * TASKS);
	assert_int_equal(steps_claimed(other) - b0, 2 * TASKS);
	assert_int_equal(testdb_count(t->pg,
	                              "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN tasker_workflow_steps s "
	                              "USING (workflow_step_id) WHERE s.task_id >= %lld AND x.to_state = 'in_progress'",
	                              (long long)first),
	                 4 * TASKS);
	assert_int_equal(testdb_count(t->pg,
	                              "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN tasker_workflow_steps s "
	                              "USING (workflow_step_id) WHERE s.task_id >= %lld AND x.to_state = 'error'",
	                              (long long)first),
	                 0);
	tasker_worker_free(wa);
	tasker_worker_free(wb);
	tasker_client_free(other);
}

static long long health_waiting(tasker_client *client)
{
	char *json = NULL;
	assert_int_equal(tasker_health_counts(&json, client), TASKER_OK);
	const char *key = strstr(json, "\"steps_waiting_for_handler\":");
	assert_non_null(key);
	long long n = strtoll(key + strlen("\"steps_waiting_for_handler\":"), NULL, 10);
	tasker_free(json);
	return n;
}

static size_t waits_of(testdb *t, int64_t task, const char **cls)
{
	tasker_handler_wait *rows = NULL;
	size_t n = 0;
	assert_int_equal(tasker_task_handler_waits(&rows, &n, t->client, task), TASKER_OK);
	static char last[64];
	last[0] = 0;
	if (n)
		snprintf(last, sizeof last, "%s", rows[0].handler_class);
	*cls = last;
	tasker_handler_waits_free(rows, n);
	return n;
}

/* A step nobody runs waits for a handler while only workers of other classes are present; it stops
 * waiting when a worker with its class announces itself, and waits again when that worker withdraws
 * or its presence expires. Waiting is not failing: the step stays pending with no attempt. */
static void test_waiting_for_a_handler(void **state)
{
	testdb *t = *state;
	const char *only_a[] = {"Route::A"}, *nobody[] = {"Route::Nobody"}, *cls = NULL;
	assert_int_equal(tasker_worker_presence_announce(t->client, "routing-a", only_a, 1, 60), TASKER_OK);
	long long before = health_waiting(t->client);
	int64_t task = testdb_new_task(t->client, "routing", "orphan", NULL);
	assert_int_equal(waits_of(t, task, &cls), 1);
	assert_string_equal(cls, "Route::Nobody");
	assert_int_equal(health_waiting(t->client), before + 1);

	assert_int_equal(tasker_worker_presence_announce(t->client, "routing-nobody", nobody, 1, 60), TASKER_OK);
	assert_int_equal(waits_of(t, task, &cls), 0);
	assert_int_equal(health_waiting(t->client), before);
	assert_int_equal(tasker_worker_presence_withdraw(t->client, "routing-nobody"), TASKER_OK);
	assert_int_equal(waits_of(t, task, &cls), 1);

	assert_int_equal(tasker_worker_presence_announce(t->client, "routing-nobody", nobody, 1, 1), TASKER_OK);
	assert_int_equal(waits_of(t, task, &cls), 0);
	usleep(1200 * 1000); /* the presence expires: a worker that died without withdrawing */
	assert_int_equal(waits_of(t, task, &cls), 1);

	char *state_name = testdb_value(t->pg,
	                                "SELECT COALESCE((SELECT to_state FROM tasker_workflow_step_transitions x "
	                                "WHERE x.workflow_step_id = s.workflow_step_id AND most_recent), 'pending') || '/' "
	                                "|| s.attempts FROM tasker_workflow_steps s WHERE s.task_id = %lld",
	                                (long long)task);
	assert_string_equal(state_name, "pending/0");
	free(state_name);

	/* a worker that may run any class (handler_classes NULL) leaves nothing waiting */
	assert_int_equal(tasker_worker_presence_announce(t->client, "routing-any", NULL, 0, 60), TASKER_OK);
	assert_int_equal(waits_of(t, task, &cls), 0);
	assert_int_equal(tasker_worker_presence_withdraw(t->client, "routing-any"), TASKER_OK);
	assert_int_equal(tasker_worker_presence_withdraw(t->client, "routing-a"), TASKER_OK);
}

static void *run_worker(void *w)
{
	assert_int_equal(tasker_worker_run(w), TASKER_OK);
	return NULL;
}

/* The steps of a task that are not complete yet. */
static long long unfinished(testdb *t, int64_t task)
{
	return testdb_count(t->pg,
	                    "SELECT count(*) FROM tasker_workflow_steps s WHERE s.task_id = %lld AND NOT EXISTS ("
	                    "SELECT 1 FROM tasker_workflow_step_transitions x WHERE x.workflow_step_id = "
	                    "s.workflow_step_id AND x.most_recent AND x.to_state = 'complete')",
	                    (long long)task);
}

/* A step waits for a handler until a worker with its class starts; that worker takes it at once,
 * announces itself while it runs (so nothing of its classes is reported waiting), and withdraws when
 * it stops. */
static void test_a_starting_worker_takes_the_waiting_step(void **state)
{
	testdb *t = *state;
	const char *cls = NULL;
	int64_t task = testdb_new_task(t->client, "routing", "orphan", NULL);
	assert_int_equal(waits_of(t, task, &cls), 1);
	counted nobody = {"Route::Nobody", PTHREAD_MUTEX_INITIALIZER, 0};
	tasker_worker *w = worker_for(t->client, &nobody);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, run_worker, w), 0);
	int waited_ms = 0;
	while (unfinished(t, task) > 0 && waited_ms < 5000) {
		usleep(20 * 1000);
		waited_ms += 20;
	}
	assert_int_equal(unfinished(t, task), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_worker_presence WHERE 'Route::Nobody' = "
	                                     "ANY(handler_classes) AND expires_at > timezone('UTC', now())"),
	                 1);
	tasker_worker_stop(w);
	assert_int_equal(pthread_join(th, NULL), 0);
	tasker_worker_free(w);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_worker_presence WHERE 'Route::Nobody' = "
	                                     "ANY(handler_classes) AND expires_at > timezone('UTC', now())"),
	                 0);
}

static void test_presence_refuses_bad_input(void **state)
{
	testdb *t = *state;
	const char *empty[] = {""};
	assert_int_equal(tasker_worker_presence_announce(t->client, "", NULL, 0, 10), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "worker_id"));
	assert_int_equal(tasker_worker_presence_announce(t->client, "w", NULL, 0, 0), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "ttl_seconds"));
	assert_int_equal(tasker_worker_presence_announce(t->client, "w", empty, 1, 10), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "handler class 0"));
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_worker_presence WHERE worker_id = 'w'"), 0);
}

static int setup(void **state)
{
	static testdb t;
	testdb_open(&t, "routing", 1);
	assert_int_equal(tasker_template_register_string(NULL, t.client, ROUTED, 0, "routed.yaml", NULL), TASKER_OK);
	assert_int_equal(tasker_template_register_string(NULL, t.client, ORPHAN, 0, "orphan.yaml", NULL), TASKER_OK);
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	testdb_close(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_worker_claims_only_its_classes),
		cmocka_unit_test(test_waiting_for_a_handler),
		cmocka_unit_test(test_a_starting_worker_takes_the_waiting_step),
		cmocka_unit_test(test_presence_refuses_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
