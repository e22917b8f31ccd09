/*
 * test_events.c — unit tests of the event bus without a database: the catalog, pattern matching,
 * synchronous and asynchronous delivery (the overflow policy: drop the oldest, count it), subscribers
 * that fail or remove themselves, the publish path's JSON checks, traceparents, log lines and the
 * Prometheus rendering of metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "jsonw.h"
#include "logging.h"
#include "metrics.h"

/* ------------------------------------------------------------------ helpers */

typedef struct {
	pthread_mutex_t mu;
	char names[64][64];
	char payloads[64][512];
	int n;
	int rc;            /* what the subscriber returns */
} recorder;

static int record(const tasker_event *e, void *payload)
{
	recorder *r = payload;
	pthread_mutex_lock(&r->mu);
	if (r->n < 64) {
		snprintf(r->names[r->n], sizeof r->names[0], "%s", e->name);
		snprintf(r->payloads[r->n], sizeof r->payloads[0], "%s", e->payload_json);
		r->n++;
	}
	pthread_mutex_unlock(&r->mu);
	return r->rc;
}

static void recorder_init(recorder *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
}

static tevents_bus *new_bus(void)
{
	tevents_bus *b = NULL;
	assert_int_equal(tevents_bus_new(&b, NULL, NULL), TASKER_OK);
	return b;
}

static int publish(tevents_bus *b, const char *name, const char *payload)
{
	return tevents_publish_text(b, tasker_event_lookup(name), NULL, payload);
}

/* ------------------------------------------------------------------ the catalog */

static void test_catalog(void **state)
{
	(void)state;
	const tasker_event_info *cat;
	size_t n = tasker_event_catalog(&cat);
	assert_int_equal(n, 65);
	static const struct {
		const char *group;
		int count;
	} groups[] = {{"task", 8}, {"step", 10}, {"workflow", 19}, {"observability", 8}, {"registry", 14}, {"telemetry", 6}};
	for (size_t g = 0; g < 6; g++) {
		int c = 0;
		for (size_t i = 0; i < n; i++)
			c += strcmp(cat[i].group, groups[g].group) == 0;
		assert_int_equal(c, groups[g].count);
	}
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(tasker_event_lookup(cat[i].name), &cat[i]);
		assert_true(cat[i].level >= TASKER_LOG_DEBUG && cat[i].level <= TASKER_LOG_ERROR);
		assert_non_null(cat[i].description);
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(cat[i].name, cat[j].name);
	}
	assert_null(tasker_event_lookup("task.exploded"));
	assert_null(tasker_event_lookup(NULL));
	/* every transition of both state machines fires a cataloged event that is marked fired */
	for (int f = 0; f < TASKER_STATE_COUNT; f++)
		for (int t = 0; t < TASKER_STATE_COUNT; t++) {
			const char *names[2] = {tasker_task_transition_event((tasker_state)f, (tasker_state)t),
			                        tasker_step_transition_event((tasker_state)f, (tasker_state)t)};
			for (int k = 0; k < 2; k++)
				if (names[k]) {
					assert_non_null(tasker_event_lookup(names[k]));
					assert_true(tasker_event_lookup(names[k])->fired);
				}
		}
	assert_string_equal(tasker_event_lookup("observability.step.max_retries_reached")->group, "observability");
	assert_string_equal(tasker_event_lookup("tasker.telemetry.export_failed")->group, "telemetry");
	assert_string_equal(tasker_event_lookup("subscriber.registered")->group, "registry");
}

/* ------------------------------------------------------------------ patterns */

static void test_patterns(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *name;
		int match;
	} cases[] = {
		{"*", "task.completed", 1},
		{"step.*", "step.completed", 1},
		{"step.*", "step.", 1},
		{"step.*", "task.completed", 0},
		{"step.*", "stepx.completed", 0},
		{"step.completed", "step.completed", 1},
		{"step.completed", "step.completed2", 0},
		{"step.completed", "step.complete", 0},
		{"*.failed", "task.failed", 1},
		{"*.failed", "step.failed", 1},
		{"*.failed", "workflow.task_failed", 0},
		{"*failed", "workflow.task_failed", 1},
		{"observability.*", "observability.step.backoff", 1},
		{"observability.*.backoff", "observability.step.backoff", 1},
		{"observability.*.backoff", "observability.step.skip", 0},
		{"*.*.*", "observability.step.skip", 1},
		{"*.*.*", "task.completed", 0},
		{"a*b*c", "axxbyyc", 1},
		{"a*b*c", "axxbyy", 0},
		{"**", "anything", 1},
		{"task.*", "task", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (tevents_pattern_match(cases[i].pattern, cases[i].name) != cases[i].match ||
		    tasker_event_name_matches(cases[i].pattern, cases[i].name) != cases[i].match)
			fail_msg("pattern %s vs %s: expected %d", cases[i].pattern, cases[i].name, cases[i].match);
	assert_int_equal(tasker_event_name_matches(NULL, "step.completed"), 0);
	assert_int_equal(tasker_event_name_matches("*", NULL), 0);
	assert_true(tevents_pattern_valid("step.*"));
	assert_true(tevents_pattern_valid("custom-event_1.done"));
	assert_false(tevents_pattern_valid(""));
	assert_false(tevents_pattern_valid(NULL));
	assert_false(tevents_pattern_valid("step completed"));
	assert_false(tevents_pattern_valid("step.[a-z]"));
	char long_pattern[200];
	memset(long_pattern, 'a', sizeof long_pattern - 1);
	long_pattern[sizeof long_pattern - 1] = '\0';
	assert_false(tevents_pattern_valid(long_pattern));
}

/* Subscriptions of each pattern kind receive exactly their events, in publication order. */
static void test_subscribe_by_pattern(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	recorder all, steps, exact, glob;
	recorder_init(&all);
	recorder_init(&steps);
	recorder_init(&exact);
	recorder_init(&glob);
	uint64_t ids[4];
	assert_int_equal(tevents_subscribe(&ids[0], b, "*", record, &all, NULL), TASKER_OK);
	assert_int_equal(tevents_subscribe(&ids[1], b, "step.*", record, &steps, NULL), TASKER_OK);
	assert_int_equal(tevents_subscribe(&ids[2], b, "task.completed", record, &exact, NULL), TASKER_OK);
	assert_int_equal(tevents_subscribe(&ids[3], b, "*.failed", record, &glob, NULL), TASKER_OK);
	/* the catch-all saw its own registration and the three after it */
	assert_int_equal(all.n, 4);
	assert_string_equal(all.names[0], "subscriber.registered");
	all.n = 0;
	const char *names[] = {"task.start_requested", "step.completed", "step.failed", "task.completed", "task.failed"};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(publish(b, names[i], "{\"task_id\": 7}"), TASKER_OK);
	assert_int_equal(all.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(all.names[i], names[i]);
	assert_int_equal(steps.n, 2);
	assert_string_equal(steps.names[0], "step.completed");
	assert_string_equal(steps.names[1], "step.failed");
	assert_int_equal(exact.n, 1);
	assert_string_equal(exact.names[0], "task.completed");
	assert_int_equal(glob.n, 2);
	assert_string_equal(glob.names[1], "task.failed");
	/* a timestamp is added to a payload without one */
	cJSON *p = cJSON_Parse(all.payloads[0]);
	assert_non_null(p);
	assert_int_equal(cJSON_GetObjectItem(p, "task_id")->valueint, 7);
	assert_true(cJSON_IsString(cJSON_GetObjectItem(p, "timestamp")));
	assert_int_equal(strlen(cJSON_GetObjectItem(p, "timestamp")->valuestring), 27);
	cJSON_Delete(p);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tevents_unsubscribe(b, ids[i]), TASKER_OK);
	assert_int_equal(tevents_unsubscribe(b, ids[0]), TASKER_ENOTFOUND);
	tevents_bus_free(b);
}

static void test_publish_checks(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	recorder r;
	recorder_init(&r);
	assert_int_equal(tevents_subscribe(NULL, b, "task.*", record, &r, NULL), TASKER_OK);
	assert_int_equal(publish(b, "task.completed", "{\"a\": [1, 2, {\"b\": null}], \"timestamp\": \"mine\"}"),
	                 TASKER_OK);
	assert_string_equal(r.payloads[0], "{\"a\": [1, 2, {\"b\": null}], \"timestamp\": \"mine\"}");
	assert_int_equal(publish(b, "task.completed", NULL), TASKER_OK);
	assert_non_null(strstr(r.payloads[1], "{\"timestamp\":\""));
	assert_int_equal(publish(b, "task.completed", "  { }  "), TASKER_OK);
	assert_int_equal(strncmp(r.payloads[2], "  { \"timestamp\":", 16), 0);
	static const char *const bad[] = {"[1]", "\"x\"", "{", "{\"a\" 1}", "{\"a\": 1,}", "{} {}", "{\"a\": tru}",
	                                  "{\"a\": \"\x01\"}", "{\"a\": 01}", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(publish(b, "task.completed", bad[i]), TASKER_EJSON);
	assert_int_equal(r.n, 3);
	tevents_bus_free(b);
}

/* Nobody listening: publishing is a check and publishes nothing (the payload is not even looked at). */
static void test_nobody_listening(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(publish(b, "step.completed", "{\"step_id\": 1}"), TASKER_OK);
	assert_int_equal(publish(b, "step.completed", "{"), TASKER_OK);
	tasker_event_stats st;
	assert_int_equal(tevents_stats(&st, b, 0), TASKER_OK);
	assert_int_equal(st.published, 0);
	assert_false(tevents_wanted(b, TASKER_LOG_ERROR));
	tevents_bus_free(b);
}

/* ------------------------------------------------------------------ failures and removal */

static void test_failing_subscriber_is_counted(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	recorder bad, good;
	recorder_init(&bad);
	recorder_init(&good);
	bad.rc = -1;
	uint64_t bad_id, good_id;
	assert_int_equal(tevents_subscribe(&bad_id, b, "step.*", record, &bad, NULL), TASKER_OK);
	assert_int_equal(tevents_subscribe(&good_id, b, "step.*", record, &good, NULL), TASKER_OK);
	for (int i = 0; i < 10; i++)
		assert_int_equal(publish(b, "step.completed", "{}"), TASKER_OK);
	assert_int_equal(good.n, 10);
	tasker_event_stats st;
	assert_int_equal(tevents_stats(&st, b, bad_id), TASKER_OK);
	assert_int_equal(st.delivered, 10);
	assert_int_equal(st.failed, 10);
	assert_int_equal(tevents_stats(&st, b, good_id), TASKER_OK);
	assert_int_equal(st.failed, 0);
	assert_int_equal(tevents_stats(&st, b, 0), TASKER_OK);
	assert_int_equal(st.failed, 10);
	assert_int_equal(st.delivered, 20);
	assert_int_equal(tevents_stats(&st, b, 999), TASKER_ENOTFOUND);
	tevents_bus_free(b);
}

static void test_bad_subscriptions(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	recorder r;
	recorder_init(&r);
	assert_int_equal(tevents_subscribe(NULL, b, "subscriber.*", record, &r, NULL), TASKER_OK);
	r.n = 0;
	uint64_t id = 5;
	assert_int_equal(tevents_subscribe(&id, b, "bad pattern", record, &r, NULL), TASKER_EINVAL);
	assert_int_equal(id, 0);
	assert_non_null(strstr(tasker_error_last()->message, "bad pattern"));
	assert_int_equal(tevents_subscribe(NULL, b, "ok", NULL, &r, NULL), TASKER_EINVAL);
	tasker_event_subscribe_options o = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	o.version = 99;
	assert_int_equal(tevents_subscribe(NULL, b, "ok", record, &r, &o), TASKER_EINVAL);
	/* each refusal is an event too */
	assert_int_equal(r.n, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(r.names[i], "subscriber.validation_failed");
	tevents_bus_free(b);
}

typedef struct {
	tevents_bus *bus;
	uint64_t id;
	int calls;
} self_remover;

static int remove_self(const tasker_event *e, void *payload)
{
	(void)e;
	self_remover *s = payload;
	s->calls++;
	assert_int_equal(tevents_unsubscribe(s->bus, s->id), TASKER_OK);
	return 0;
}

static void test_unsubscribe_from_callback(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	self_remover s = {b, 0, 0};
	assert_int_equal(tevents_subscribe(&s.id, b, "task.*", remove_self, &s, NULL), TASKER_OK);
	assert_int_equal(publish(b, "task.completed", "{}"), TASKER_OK);
	assert_int_equal(publish(b, "task.completed", "{}"), TASKER_OK);
	assert_int_equal(s.calls, 1);
	/* the same from an asynchronous subscription's own thread */
	self_remover a = {b, 0, 0};
	tasker_event_subscribe_options o = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	o.delivery = TASKER_EVENT_ASYNC;
	assert_int_equal(tevents_subscribe(&a.id, b, "task.*", remove_self, &a, &o), TASKER_OK);
	assert_int_equal(publish(b, "task.completed", "{}"), TASKER_OK);
	for (int i = 0; i < 2000 && a.calls == 0; i++)
		usleep(1000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(publish(b, "task.completed", "{}"), TASKER_OK);
	usleep(20000);
	assert_int_equal(a.calls, 1);
	tevents_bus_free(b);
}

/* ------------------------------------------------------------------ asynchronous delivery */

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered, release;
	int seen[32];
	int nseen;
} gate;

static int gated(const tasker_event *e, void *payload)
{
	gate *g = payload;
	cJSON *p = cJSON_Parse(e->payload_json);
	int n = cJSON_GetObjectItem(p, "n")->valueint;
	cJSON_Delete(p);
	pthread_mutex_lock(&g->mu);
	g->seen[g->nseen++] = n;
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->release)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

/* A full queue drops its oldest event, counts it, and never blocks the publisher. */
static void test_async_overflow_drops_oldest(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}, 0};
	tasker_event_subscribe_options o = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	o.delivery = TASKER_EVENT_ASYNC;
	o.queue_capacity = 4;
	uint64_t id;
	assert_int_equal(tevents_subscribe(&id, b, "step.*", gated, &g, &o), TASKER_OK);
	char payload[32];
	snprintf(payload, sizeof payload, "{\"n\": 0}");
	assert_int_equal(publish(b, "step.completed", payload), TASKER_OK);
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	/* the subscriber is stuck in event 0: events 1..9 go to a queue of 4 */
	for (int i = 1; i < 10; i++) {
		snprintf(payload, sizeof payload, "{\"n\": %d}", i);
		assert_int_equal(publish(b, "step.completed", payload), TASKER_OK);
	}
	tasker_event_stats st;
	assert_int_equal(tevents_stats(&st, b, id), TASKER_OK);
	assert_int_equal(st.dropped, 5);
	assert_int_equal(st.queued, 4);
	assert_int_equal(tevents_flush(b, 50), TASKER_ERROR); /* still stuck */
	pthread_mutex_lock(&g.mu);
	g.release = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	assert_int_equal(tevents_flush(b, 5000), TASKER_OK);
	static const int expected[] = {0, 6, 7, 8, 9};
	assert_int_equal(g.nseen, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(g.seen[i], expected[i]);
	assert_int_equal(tevents_stats(&st, b, 0), TASKER_OK);
	assert_int_equal(st.dropped, 5);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.delivered, 5);
	assert_int_equal(tevents_unsubscribe(b, id), TASKER_OK);
	tevents_bus_free(b);
}

typedef struct {
	tevents_bus *bus;
	const char *name;
	int count;
} publisher_arg;

static void *publisher(void *p)
{
	publisher_arg *a = p;
	for (int i = 0; i < a->count; i++)
		publish(a->bus, a->name, "{}");
	return NULL;
}

static int count_calls(const tasker_event *e, void *payload)
{
	(void)e;
	__atomic_fetch_add((int *)payload, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Several publishing threads, sync and async subscribers, subscriptions coming and going meanwhile. */
static void test_concurrent_publishers(void **state)
{
	(void)state;
	tevents_bus *b = new_bus();
	int sync_calls = 0, async_calls = 0, churn = 0;
	tasker_event_subscribe_options o = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	o.delivery = TASKER_EVENT_ASYNC;
	o.queue_capacity = 100000;
	assert_int_equal(tevents_subscribe(NULL, b, "step.*", count_calls, &sync_calls, NULL), TASKER_OK);
	assert_int_equal(tevents_subscribe(NULL, b, "step.*", count_calls, &async_calls, &o), TASKER_OK);
	pthread_t th[4];
	publisher_arg a = {b, "step.completed", 2000};
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, publisher, &a), 0);
	for (int i = 0; i < 50; i++) {
		uint64_t id;
		assert_int_equal(tevents_subscribe(&id, b, "step.completed", count_calls, &churn, NULL), TASKER_OK);
		assert_int_equal(tevents_unsubscribe(b, id), TASKER_OK);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(tevents_flush(b, 10000), TASKER_OK);
	assert_int_equal(sync_calls, 8000);
	assert_int_equal(async_calls, 8000);
	tevents_bus_free(b);
}

/* ------------------------------------------------------------------ traceparent, JSON, logs, metrics */

static void test_traceparent(void **state)
{
	(void)state;
	assert_int_equal(tevents_check_traceparent(NULL), TASKER_OK);
	assert_int_equal(tevents_check_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), TASKER_OK);
	static const char *const bad[] = {
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(tevents_check_traceparent(bad[i]), TASKER_EINVAL);
		assert_non_null(strstr(tasker_error_last()->message, "traceparent"));
	}
}

static void test_json_writer_and_scan(void **state)
{
	(void)state;
	char small[8];
	tjw w;
	tjw_init(&w, small, sizeof small); /* grows onto the heap */
	tjw_open(&w);
	tjw_kstr(&w, "s", "q\"\\\n\t\x01é");
	tjw_ki64(&w, "n", -9223372036854775807LL - 1);
	tjw_key(&w, "t");
	tjw_time(&w, 1700000000123456LL);
	tjw_members(&w, " { \"x\" : 1 , \"y\": [2] } ");
	tjw_members(&w, "{}");
	tjw_close(&w);
	assert_string_equal(tjw_text(&w), "{\"s\":\"q\\\"\\\\\\n\\t\\u0001é\",\"n\":-9223372036854775808,"
	                                  "\"t\":\"2023-11-14T22:13:20.123456Z\",\"x\" : 1 , \"y\": [2]}");
	cJSON *p = cJSON_Parse(tjw_text(&w));
	assert_non_null(p);
	cJSON_Delete(p);
	char *copy = tjw_take(&w);
	assert_non_null(copy);
	free(copy);
	tjson_scan sc;
	assert_true(tjson_scan_object("{\"task_id\": 12, \"workflow_step_id\": 34, \"timestamp\": 1}", &sc));
	assert_int_equal(sc.task_id, 12);
	assert_int_equal(sc.step_id, 34);
	assert_true(sc.has_timestamp);
	assert_true(tjson_scan_object("{\"task_id\": \"12\", \"step_id\": -3, \"x\": {\"task_id\": 5}}", &sc));
	assert_int_equal(sc.task_id, 0);
	assert_int_equal(sc.step_id, 0);
	assert_true(tjson_scan_object("{\"u\": \"\\u00e9\\n\", \"e\": 1.5e-3, \"z\": -0}", &sc));
	assert_false(tjson_scan_object("{\"u\": \"\\x\"}", &sc));
	char deep[300];
	memset(deep, '[', sizeof deep);
	memcpy(deep, "{\"a\":", 5);
	deep[sizeof deep - 1] = '\0';
	assert_false(tjson_scan_object(deep, &sc));
}

typedef struct {
	char lines[16][1024];
	int n;
} log_sink;

static void sink(tasker_log_level level, const char *line, void *payload)
{
	(void)level;
	log_sink *s = payload;
	if (s->n < 16)
		snprintf(s->lines[s->n++], sizeof s->lines[0], "%s", line);
}

static void test_log_lines(void **state)
{
	(void)state;
	log_sink s = {{{0}}, 0};
	tlog_message(TASKER_LOG_ERROR, "log.test", 1, 2, "nobody hears this");
	tasker_log_set_handler(TASKER_LOG_INFO, sink, &s);
	tlog_message(TASKER_LOG_DEBUG, "log.test", 0, 0, "below the level");
	tlog_message(TASKER_LOG_WARN, "log.test", 5, 6, "a \"quoted\" %s", "word");
	assert_int_equal(s.n, 1);
	cJSON *p = cJSON_Parse(s.lines[0]);
	assert_non_null(p);
	assert_string_equal(cJSON_GetObjectItem(p, "level")->valuestring, "warn");
	assert_string_equal(cJSON_GetObjectItem(p, "event")->valuestring, "log.test");
	assert_int_equal(cJSON_GetObjectItem(p, "task_id")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(p, "step_id")->valueint, 6);
	assert_string_equal(cJSON_GetObjectItem(p, "message")->valuestring, "a \"quoted\" word");
	assert_non_null(cJSON_GetObjectItem(p, "timestamp"));
	cJSON_Delete(p);
	/* an event is logged at its catalog level with its payload; nothing else needed to listen */
	tevents_bus *b = new_bus();
	assert_true(tevents_wanted(b, TASKER_LOG_INFO));
	assert_false(tevents_wanted(b, TASKER_LOG_DEBUG));
	assert_int_equal(publish(b, "task.completed", "{\"task_id\": 3, \"correlation_id\": \"c-1\"}"), TASKER_OK);
	assert_int_equal(publish(b, "step.completed", "{\"task_id\": 3}"), TASKER_OK); /* debug: not logged */
	assert_int_equal(s.n, 2);
	p = cJSON_Parse(s.lines[1]);
	assert_non_null(p);
	assert_string_equal(cJSON_GetObjectItem(p, "level")->valuestring, "info");
	assert_string_equal(cJSON_GetObjectItem(p, "event")->valuestring, "task.completed");
	assert_string_equal(cJSON_GetObjectItem(p, "correlation_id")->valuestring, "c-1");
	cJSON_Delete(p);
	tasker_log_set_handler(TASKER_LOG_OFF, NULL, NULL);
	tlog_message(TASKER_LOG_ERROR, "log.test", 0, 0, "off again");
	assert_int_equal(s.n, 2);
	tevents_bus_free(b);
	tasker_log_level l;
	assert_int_equal(tasker_log_level_parse(&l, "warning"), TASKER_OK);
	assert_int_equal(l, TASKER_LOG_WARN);
	assert_int_equal(tasker_log_level_parse(&l, "loud"), TASKER_EINVAL);
	assert_string_equal(tasker_log_level_name(TASKER_LOG_ERROR), "error");
	assert_null(tasker_log_level_name((tasker_log_level)9));
}

static void test_metrics_render(void **state)
{
	(void)state;
	tmetrics *m = tmetrics_new();
	assert_non_null(m);
	tmetrics_handler_started(m, "Pay", 0);
	tmetrics_handler_finished(m, "Pay", TASKER_OUTCOME_RETRYABLE, 700);
	tmetrics_handler_started(m, "Pay", 1);
	tmetrics_handler_finished(m, "Pay", TASKER_OUTCOME_SUCCESS, 3000000);
	tmetrics_handler_started(m, "Odd \"name\"\\", 0);
	tmetrics_handler_finished(m, "Odd \"name\"\\", TASKER_OUTCOME_PERMANENT, 10);
	/* more handler classes than slots end up in one overflow series */
	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof name, "H%d", i);
		tmetrics_handler_started(m, name, 0);
	}
	tmetrics_claim(m, 1500, 3, 0);
	tmetrics_claim(m, 90000000, 0, 1);
	tjw w;
	tjw_init(&w, NULL, 0);
	tmetrics_render(m, &w);
	const char *t = tjw_text(&w);
	static const char *const want[] = {
		"# TYPE tasker_steps_started_total counter\n",
		"tasker_steps_started_total{handler_class=\"Pay\"} 2\n",
		"tasker_steps_completed_total{handler_class=\"Pay\"} 1\n",
		"tasker_steps_failed_total{handler_class=\"Pay\"} 1\n",
		"tasker_steps_retried_total{handler_class=\"Pay\"} 1\n",
		"tasker_steps_failed_permanently_total{handler_class=\"Odd \\\"name\\\"\\\\\"} 1\n",
		"tasker_step_duration_seconds_bucket{handler_class=\"Pay\",le=\"0.001\"} 1\n",
		"tasker_step_duration_seconds_bucket{handler_class=\"Pay\",le=\"2.5\"} 1\n",
		"tasker_step_duration_seconds_bucket{handler_class=\"Pay\",le=\"5\"} 2\n",
		"tasker_step_duration_seconds_bucket{handler_class=\"Pay\",le=\"+Inf\"} 2\n",
		"tasker_step_duration_seconds_sum{handler_class=\"Pay\"} 3.000700\n",
		"tasker_step_duration_seconds_count{handler_class=\"Pay\"} 2\n",
		"tasker_steps_started_total{handler_class=\"_other\"} ",
		"tasker_claim_duration_seconds_bucket{le=\"0.0025\"} 1\n",
		"tasker_claim_duration_seconds_bucket{le=\"60\"} 1\n",
		"tasker_claim_duration_seconds_bucket{le=\"+Inf\"} 2\n",
		"tasker_claims_total 2\n",
		"tasker_claims_failed_total 1\n",
		"tasker_steps_claimed_total 3\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(t, want[i]))
			fail_msg("metrics lack %s", want[i]);
	tjw_free(&w);
	tmetrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_subscribe_by_pattern),
		cmocka_unit_test(test_publish_checks),
		cmocka_unit_test(test_nobody_listening),
		cmocka_unit_test(test_failing_subscriber_is_counted),
		cmocka_unit_test(test_bad_subscriptions),
		cmocka_unit_test(test_unsubscribe_from_callback),
		cmocka_unit_test(test_async_overflow_drops_oldest),
		cmocka_unit_test(test_concurrent_publishers),
		cmocka_unit_test(test_traceparent),
		cmocka_unit_test(test_json_writer_and_scan),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_metrics_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
