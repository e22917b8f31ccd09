/* Integration tests of pull-style event queues (tasker_event_queue_*): only matching events arrive, in
 * order, as owned copies; the descriptor is readable exactly while an event waits; a full queue drops
 * its oldest event and counts it; a thread waiting in next is woken by a publish; engine events (a
 * task's lifecycle) arrive too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testdb.h"

static testdb db;

static int setup(void **state)
{
	(void)state;
	testdb_open(&db, "event_queue", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testdb_close(&db);
	return 0;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void publish_seq(const char *name, int seq)
{
	char payload[64];
	snprintf(payload, sizeof payload, "{\"seq\":%d}", seq);
	assert_int_equal(tasker_event_publish(db.client, name, payload), TASKER_OK);
}

static int seq_of(const tasker_event *e)
{
	const char *p = strstr(e->payload_json, "\"seq\":");
	assert_non_null(p);
	return atoi(p + 6);
}

static void test_next_fd_and_pattern(void **state)
{
	(void)state;
	tasker_event_queue *q = NULL;
	assert_int_equal(tasker_event_queue_open(&q, db.client, "step.*", 0), TASKER_OK);
	int fd = tasker_event_queue_fd(q);
	tasker_event *e = NULL;
	assert_false(readable(fd, 0));
	assert_int_equal(tasker_event_queue_next(&e, q, 0), TASKER_ETIMEOUT);
	assert_null(e);

	publish_seq("task.completed", 1); /* does not match */
	assert_false(readable(fd, 0));
	publish_seq("step.completed", 2);
	publish_seq("step.failed", 3);
	assert_true(readable(fd, 0));
	assert_int_equal(tasker_event_queue_next(&e, q, 0), TASKER_OK);
	assert_string_equal(e->name, "step.completed");
	assert_int_equal(seq_of(e), 2);
	tasker_event_free(e);
	assert_true(readable(fd, 0)); /* one more waits */
	assert_int_equal(tasker_event_queue_next(&e, q, 0), TASKER_OK);
	assert_string_equal(e->name, "step.failed");
	assert_int_equal(seq_of(e), 3);
	assert_non_null(strstr(e->payload_json, "\"timestamp\""));
	tasker_event_free(e);
	assert_false(readable(fd, 0));
	assert_int_equal(tasker_event_queue_next(&e, q, 50), TASKER_ETIMEOUT);
	assert_int_equal(tasker_event_queue_dropped(q), 0);
	tasker_event_queue_close(q);

	assert_int_equal(tasker_event_queue_open(&q, db.client, "bad pattern!", 0), TASKER_EINVAL);
	assert_null(q);
}

/* A full queue keeps the newest events and counts what it dropped. */
static void test_full_queue_drops_oldest(void **state)
{
	(void)state;
	tasker_event_queue *q = NULL;
	assert_int_equal(tasker_event_queue_open(&q, db.client, "step.*", 3), TASKER_OK);
	for (int i = 1; i <= 5; i++)
		publish_seq("step.completed", i);
	assert_int_equal(tasker_event_queue_dropped(q), 2);
	assert_int_equal(tasker_event_queue_length(q), 3);
	for (int i = 3; i <= 5; i++) {
		tasker_event *e = NULL;
		assert_int_equal(tasker_event_queue_next(&e, q, 0), TASKER_OK);
		assert_int_equal(seq_of(e), i);
		tasker_event_free(e);
	}
	assert_false(readable(tasker_event_queue_fd(q), 0));
	/* Events still queued at close are dropped with the queue (nothing leaks). */
	publish_seq("step.completed", 6);
	tasker_event_queue_close(q);
	tasker_event_queue_close(NULL);
}

typedef struct {
	tasker_event_queue *q;
	int rc, seq;
} waiter;

static void *wait_one(void *arg)
{
	waiter *w = arg;
	tasker_event *e = NULL;
	w->rc = tasker_event_queue_next(&e, w->q, -1);
	if (e)
		w->seq = seq_of(e);
	tasker_event_free(e);
	return NULL;
}

static void test_waiting_thread_is_woken(void **state)
{
	(void)state;
	waiter w = {NULL, 1, 0};
	assert_int_equal(tasker_event_queue_open(&w.q, db.client, "step.completed", 0), TASKER_OK);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, wait_one, &w), 0);
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	publish_seq("step.completed", 42);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, TASKER_OK);
	assert_int_equal(w.seq, 42);
	tasker_event_queue_close(w.q);
}

/* The engine's own events reach a queue: a task created from a template publishes task events. */
static void test_engine_events_arrive(void **state)
{
	(void)state;
	tasker_template_info tpl;
	assert_int_equal(tasker_template_register_string(&tpl, db.client,
	                                                 "name: queue_task\nnamespace_name: q\nversion: 1.0.0\n"
	                                                 "step_templates:\n  - name: only\n    handler_class: Q\n",
	                                                 0, "queue_task", NULL),
	                 TASKER_OK);
	tasker_event_queue *q = NULL;
	assert_int_equal(tasker_event_queue_open(&q, db.client, "task.*", 0), TASKER_OK);
	int64_t id = testdb_create_task(db.client, &tpl, NULL);
	assert_true(readable(tasker_event_queue_fd(q), 5000));
	tasker_event *e = NULL;
	assert_int_equal(tasker_event_queue_next(&e, q, 0), TASKER_OK);
	assert_int_equal(strncmp(e->name, "task.", 5), 0);
	assert_int_equal(e->task_id, id);
	tasker_event_free(e);
	tasker_event_queue_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_fd_and_pattern),
		cmocka_unit_test(test_full_queue_drops_oldest),
		cmocka_unit_test(test_waiting_thread_is_woken),
		cmocka_unit_test(test_engine_events_arrive),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
