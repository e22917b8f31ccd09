/* Integration tests of bounded and interruptible calls: a wait for a pooled connection that runs out
 * (TASKER_ETIMEOUT naming the pool size), cancel tokens ending a running statement, a pool wait, a
 * NOTIFY wait and the host waits, and tasker_client_close while other threads are inside calls. A call
 * is kept busy by a table lock the test holds on its own connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testdb.h"

static testdb db;
static int64_t task_id;

static int setup(void **state)
{
	tasker_template_info tpl;
	testdb_open_template(&db, "client_close",
	                     "name: close_task\nnamespace_name: close\nversion: 1.0.0\n"
	                     "step_templates:\n  - name: only\n    handler_class: CloseHandler\n",
	                     &tpl);
	task_id = testdb_create_task(db.client, &tpl, NULL);
	*state = &db;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tasker_client *open_client(unsigned pool, int pool_timeout_ms)
{
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = db.conninfo;
	o.pool_size = pool;
	o.pool_timeout_ms = pool_timeout_ms;
	tasker_client *c = NULL;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	return c;
}

/* The test's connection locks tasker_tasks: a call reading a task waits until unlock(). */
static void lock_tasks(void)
{
	PQclear(testdb_sql(db.pg, "BEGIN"));
	PQclear(testdb_sql(db.pg, "LOCK TABLE tasker_tasks IN ACCESS EXCLUSIVE MODE"));
}

static void unlock_tasks(void) { PQclear(testdb_sql(db.pg, "COMMIT")); }

static void wait_blocked(long waiting)
{
	for (int waited = 0; waited < 10000; waited += 10) {
		if (testdb_count(db.pg, "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
		                        "'tasker_tasks'::regclass") >= waiting)
			return;
		testdb_sleep_ms(10);
	}
	fail_msg("no call came to wait for the lock");
}

/* One call on another thread: reads the task (or, with `what` 'n'/'q', waits for a step or an event). */
typedef struct {
	tasker_client *client;
	tasker_cancel *token;
	char what;
	tasker_worker *worker;
	tasker_event_queue *queue;
	int rc;
	char message[512];
	atomic_int done;
	pthread_t th;
} call;

static void *call_main(void *arg)
{
	call *c = arg;
	tasker_cancel_set_current(c->token);
	if (c->what == 'n') {
		tasker_claimed_step *s = NULL;
		c->rc = tasker_worker_next(&s, c->worker, -1);
	} else if (c->what == 'q') {
		tasker_event *e = NULL;
		c->rc = tasker_event_queue_next(&e, c->queue, -1);
		tasker_event_free(e);
	} else {
		tasker_task_view *v = NULL;
		c->rc = tasker_task_get(&v, c->client, task_id);
		tasker_task_view_free(v);
	}
	snprintf(c->message, sizeof c->message, "%s", c->rc ? tasker_error_last()->message : "");
	tasker_cancel_set_current(NULL);
	atomic_store(&c->done, 1);
	return NULL;
}

static void start_call(call *c, tasker_client *client, tasker_cancel *token)
{
	c->client = client;
	c->token = token;
	atomic_store(&c->done, 0);
	assert_int_equal(pthread_create(&c->th, NULL, call_main, c), 0);
}

static int finish_call(call *c)
{
	pthread_join(c->th, NULL);
	return c->rc;
}

static void test_pool_timeout_names_the_pool(void **state)
{
	(void)state;
	tasker_client *client = open_client(1, 300);
	lock_tasks();
	call busy = {0};
	start_call(&busy, client, NULL); /* holds the only connection */
	wait_blocked(1);
	tasker_task_view *v = NULL;
	int64_t t0 = now_ms();
	assert_int_equal(tasker_task_get(&v, client, task_id), TASKER_ETIMEOUT);
	int64_t took = now_ms() - t0;
	assert_true(took >= 250 && took < 3000);
	assert_non_null(strstr(tasker_error_last()->message, "within 300 ms"));
	assert_non_null(strstr(tasker_error_last()->message, "all 1 are in use"));
	unlock_tasks();
	assert_int_equal(finish_call(&busy), TASKER_OK);
	assert_int_equal(tasker_task_get(&v, client, task_id), TASKER_OK); /* the pool works on */
	tasker_task_view_free(v);
	tasker_client_free(client);

	tasker_client_options bad = TASKER_CLIENT_OPTIONS_INIT;
	bad.database_url = db.conninfo;
	bad.pool_timeout_ms = -2;
	tasker_client *none = NULL;
	assert_int_equal(tasker_client_open(&none, &bad), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "pool_timeout_ms"));
	/* A caller built against version 1 of the options (no pool_timeout_ms) is still served. */
	tasker_client_options v1 = TASKER_CLIENT_OPTIONS_INIT;
	v1.version = 1;
	v1.database_url = db.conninfo;
	assert_int_equal(tasker_client_open(&none, &v1), TASKER_OK);
	tasker_client_free(none);
}

static void test_cancel_running_statement(void **state)
{
	(void)state;
	tasker_client *client = open_client(2, 0);
	tasker_cancel *token = NULL;
	assert_int_equal(tasker_cancel_new(&token), TASKER_OK);
	lock_tasks();
	call c = {0};
	start_call(&c, client, token);
	wait_blocked(1);
	int64_t t0 = now_ms();
	tasker_cancel_fire(token);
	assert_int_equal(finish_call(&c), TASKER_ECANCELED);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(c.message, "cancelled"));
	unlock_tasks();

	/* Fired before the call: it returns at once; after a reset the same token lets calls through. */
	tasker_cancel_set_current(token);
	tasker_task_view *v = NULL;
	assert_int_equal(tasker_task_get(&v, client, task_id), TASKER_ECANCELED);
	tasker_cancel_reset(token);
	assert_int_equal(tasker_task_get(&v, client, task_id), TASKER_OK);
	tasker_task_view_free(v);
	tasker_cancel_set_current(NULL);
	tasker_cancel_free(token);
	tasker_client_free(client);
}

static void test_cancel_pool_wait(void **state)
{
	(void)state;
	tasker_client *client = open_client(1, -1); /* no limit: only the token ends the wait */
	tasker_cancel *token = NULL;
	assert_int_equal(tasker_cancel_new(&token), TASKER_OK);
	lock_tasks();
	call busy = {0}, waiting = {0};
	start_call(&busy, client, NULL);
	wait_blocked(1);
	start_call(&waiting, client, token);
	testdb_sleep_ms(100);
	assert_int_equal(atomic_load(&waiting.done), 0);
	tasker_cancel_fire(token);
	assert_int_equal(finish_call(&waiting), TASKER_ECANCELED);
	assert_non_null(strstr(waiting.message, "pooled connection"));
	assert_int_equal(atomic_load(&busy.done), 0); /* the other call is untouched */
	unlock_tasks();
	assert_int_equal(finish_call(&busy), TASKER_OK);
	tasker_cancel_free(token);
	tasker_client_free(client);
}

static int count_event(const tasker_event *e, void *payload)
{
	(void)e;
	(void)payload;
	return 0;
}

/* Waits of a host: for a step, for an event, for a NOTIFY. */
static void test_cancel_host_waits(void **state)
{
	(void)state;
	tasker_cancel *token = NULL;
	assert_int_equal(tasker_cancel_new(&token), TASKER_OK);
	tasker_worker *w = NULL;
	assert_int_equal(tasker_worker_new(&w, db.client, NULL), TASKER_OK);
	assert_int_equal(tasker_worker_declare(w, "NothingRunsThis"), TASKER_OK);
	assert_int_equal(tasker_worker_start(w), TASKER_OK);
	call next = {0};
	next.what = 'n';
	next.worker = w;
	start_call(&next, db.client, token);
	call ev = {0};
	ev.what = 'q';
	assert_int_equal(tasker_event_queue_open(&ev.queue, db.client, "nothing.*", 0), TASKER_OK);
	start_call(&ev, db.client, token);
	testdb_sleep_ms(100);
	assert_int_equal(atomic_load(&next.done) + atomic_load(&ev.done), 0);
	tasker_cancel_fire(token);
	assert_int_equal(finish_call(&next), TASKER_ECANCELED);
	assert_int_equal(finish_call(&ev), TASKER_ECANCELED);
	tasker_event_queue_close(ev.queue);
	tasker_worker_stop(w);
	assert_int_equal(tasker_worker_wait(w, 10000), TASKER_OK);
	tasker_worker_free(w);

	tasker_event_watcher *watcher = NULL;
	assert_int_equal(tasker_event_watcher_open(&watcher, db.client, NULL), TASKER_OK);
	tasker_cancel_reset(token);
	tasker_cancel_set_current(token);
	tasker_cancel_fire(token); /* from this thread: a signal handler would do the same */
	int64_t t0 = now_ms();
	size_t n = 0;
	int rc = tasker_event_watcher_poll(&n, watcher, 10000, NULL, NULL);
	assert_int_equal(rc, TASKER_EINVAL); /* no function: refused before anything */
	rc = tasker_event_watcher_poll(&n, watcher, 10000, count_event, NULL);
	assert_int_equal(rc, TASKER_ECANCELED);
	assert_true(now_ms() - t0 < 2000);
	tasker_cancel_set_current(NULL);
	tasker_event_watcher_free(watcher);
	tasker_cancel_free(token);
}

static void *close_main(void *client)
{
	tasker_client_close(client);
	return NULL;
}

/* Close while one thread runs a statement and another waits for the pool: the waiter gets
 * TASKER_ECLOSED at once, the close waits for the running statement, later calls get TASKER_ECLOSED. */
static void test_close_with_calls_in_flight(void **state)
{
	(void)state;
	tasker_client *client = open_client(1, -1);
	lock_tasks();
	call running = {0}, waiting = {0};
	start_call(&running, client, NULL);
	wait_blocked(1);
	start_call(&waiting, client, NULL);
	testdb_sleep_ms(100);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, close_main, client), 0);
	assert_int_equal(finish_call(&waiting), TASKER_ECLOSED);
	assert_non_null(strstr(waiting.message, "closed"));
	testdb_sleep_ms(200);
	assert_int_equal(atomic_load(&running.done), 0);
	tasker_task_view *v = NULL;
	assert_int_equal(tasker_task_get(&v, client, task_id), TASKER_ECLOSED);
	unlock_tasks();
	assert_int_equal(finish_call(&running), TASKER_OK);
	pthread_join(th, NULL);
	assert_int_equal(tasker_task_get(&v, client, task_id), TASKER_ECLOSED);
	assert_int_equal(tasker_client_close(client), TASKER_OK); /* idempotent */
	tasker_client_free(client);
}

/* Close while a thread waits for an event with no time limit: the waiter gets TASKER_ECLOSED at once
 * (nothing can be published on a closed client's engine calls any more, so it would wait forever),
 * an event queued before the close is still taken, and a queue opened after the close answers
 * TASKER_ECLOSED instead of waiting. */
static void test_close_wakes_event_waiters(void **state)
{
	(void)state;
	tasker_client *client = open_client(2, -1);
	call ev = {0};
	ev.what = 'q';
	assert_int_equal(tasker_event_queue_open(&ev.queue, client, "step.*", 0), TASKER_OK);
	start_call(&ev, client, NULL);
	testdb_sleep_ms(100);
	assert_int_equal(atomic_load(&ev.done), 0);
	int64_t t0 = now_ms();
	assert_int_equal(tasker_client_close(client), TASKER_OK);
	assert_int_equal(finish_call(&ev), TASKER_ECLOSED);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(ev.message, "closed"));

	tasker_event_queue *queued = NULL;
	assert_int_equal(tasker_event_queue_open(&queued, client, "step.*", 0), TASKER_OK);
	assert_int_equal(tasker_event_publish(client, "step.completed", "{\"step_id\": 7}"), TASKER_OK);
	tasker_event *e = NULL;
	assert_int_equal(tasker_event_queue_next(&e, queued, -1), TASKER_OK); /* queued: still taken */
	assert_string_equal(e->name, "step.completed");
	tasker_event_free(e);
	e = NULL;
	t0 = now_ms();
	assert_int_equal(tasker_event_queue_next(&e, queued, -1), TASKER_ECLOSED); /* then: no wait */
	assert_int_equal(tasker_event_queue_next(&e, queued, 5000), TASKER_ECLOSED);
	assert_true(now_ms() - t0 < 2000);
	assert_null(e);
	tasker_event_queue_close(queued);
	tasker_event_queue_close(ev.queue);
	tasker_client_free(client);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_timeout_names_the_pool),
		cmocka_unit_test(test_cancel_running_statement),
		cmocka_unit_test(test_cancel_pool_wait),
		cmocka_unit_test(test_cancel_host_waits),
		cmocka_unit_test(test_close_with_calls_in_flight),
		cmocka_unit_test(test_close_wakes_event_waiters),
	};
	return cmocka_run_group_tests(tests, setup, testdb_teardown);
}
