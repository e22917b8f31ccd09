/*
 * test_db_events.c — lifecycle events against a real database: the exact ordered event sequence of
 * conformance workflows (a linear task, a retried step, a cancelled task) with their key payload
 * fields; subscribers that fail or sleep change neither a workflow's outcome nor its timing beyond the
 * documented bound; another process watching by pattern receives every event of a finished task;
 * replay, resume, custom events, log lines with the correlation id, metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"

#define CONF TASKER_SOURCE_DIR "/tests/conformance"
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"

static testdb db;

/* ------------------------------------------------------------------ recording subscriber */

typedef struct {
	char name[64];
	int64_t task_id, step_id, id;
	cJSON *payload;
} ev;

typedef struct {
	pthread_mutex_t mu;
	ev *v;
	size_t n, cap;
} recorder;

static int record(const tasker_event *e, void *p)
{
	recorder *r = p;
	pthread_mutex_lock(&r->mu);
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->v = realloc(r->v, r->cap * sizeof *r->v);
	}
	ev *x = &r->v[r->n++];
	snprintf(x->name, sizeof x->name, "%s", e->name);
	x->task_id = e->task_id;
	x->step_id = e->workflow_step_id;
	x->id = e->id;
	x->payload = cJSON_Parse(e->payload_json);
	pthread_mutex_unlock(&r->mu);
	if (!x->payload)
		fail_msg("event %s: payload is not JSON: %s", e->name, e->payload_json);
	return 0;
}

static void recorder_init(recorder *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
}

static void recorder_free(recorder *r)
{
	for (size_t i = 0; i < r->n; i++)
		cJSON_Delete(r->v[i].payload);
	free(r->v);
	pthread_mutex_destroy(&r->mu);
}

/* The events of one task, in delivery order (pointers into the recorder). */
static size_t task_events(const recorder *r, int64_t task_id, const ev **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n && n < max; i++)
		if (r->v[i].task_id == task_id)
			out[n++] = &r->v[i];
	return n;
}

static const char *str(const ev *e, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->payload, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const ev *e, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->payload, key);
	if (!cJSON_IsNumber(v))
		fail_msg("event %s: no number %s in %s", e->name, key, cJSON_PrintUnformatted(e->payload));
	return v->valuedouble;
}

/* ------------------------------------------------------------------ running a conformance case */

typedef struct {
	cJSON *doc, *behaviours;
	tasker_client *client;
	pthread_mutex_t mu;
	char names[64][130];
	int runs[64];
	int nnames;
	int64_t task_id;
} conf_run;

static int run_number(conf_run *c, const char *name)
{
	pthread_mutex_lock(&c->mu);
	int i = 0;
	while (i < c->nnames && strcmp(c->names[i], name) != 0)
		i++;
	if (i == c->nnames)
		snprintf(c->names[c->nnames++], sizeof c->names[0], "%s", name);
	int n = ++c->runs[i];
	pthread_mutex_unlock(&c->mu);
	return n;
}

static int handle(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	conf_run *c = payload;
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(c->behaviours, step->name);
	int run = run_number(c, step->name);
	const cJSON *sleep_ms = cJSON_GetObjectItemCaseSensitive(b, "sleep_ms");
	if (cJSON_IsNumber(sleep_ms))
		usleep((useconds_t)sleep_ms->valueint * 1000);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "cancel_task")))
		assert_int_equal(tasker_task_cancel(c->client, step->task_id), TASKER_OK);
	const cJSON *fail_times = cJSON_GetObjectItemCaseSensitive(b, "fail_times");
	int permanent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "permanent"));
	if (permanent || (cJSON_IsNumber(fail_times) && run <= fail_times->valueint)) {
		tasker_step_error_set(err, permanent ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE, -1, NULL,
		                      "%s failed (run %d)", step->name, run);
		return 1;
	}
	char buf[200];
	snprintf(buf, sizeof buf, "{\"step\": \"%s\"}", step->name);
	*out = strdup(buf);
	return 0;
}

static tasker_client *open_client(const char *conninfo)
{
	tasker_config cfg;
	tasker_config_init(&cfg);
	if (tasker_config_load_file(&cfg, CONF "/config.yml"))
		fail_msg("config.yml: %s", tasker_error_last()->message);
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = conninfo;
	o.config = &cfg;
	tasker_client *c = NULL;
	assert_int_equal(tasker_client_open(&c, &o), TASKER_OK);
	tasker_config_clear(&cfg);
	return c;
}

/* Runs case `file` on `client`: registers its template, creates the task (with `traceparent`), runs a
 * worker until idle. Returns the task id; *elapsed_ms (may be NULL) the run's duration. */
static int64_t run_case(tasker_client *client, PGconn *pg, const char *file, const char *traceparent,
                        int64_t *elapsed_ms)
{
	char path[512];
	snprintf(path, sizeof path, "%s/cases/%s", CONF, file);
	char *text = testdb_read_file(path);
	conf_run c;
	memset(&c, 0, sizeof c);
	pthread_mutex_init(&c.mu, NULL);
	c.doc = cJSON_Parse(text);
	free(text);
	assert_non_null(c.doc);
	c.behaviours = cJSON_GetObjectItemCaseSensitive(c.doc, "behaviours");
	c.client = client;
	char tpl[1024];
	snprintf(tpl, sizeof tpl, "%s/cases/%s", CONF,
	         cJSON_GetObjectItemCaseSensitive(c.doc, "template")->valuestring);
	tasker_template_info info;
	if (tasker_template_register_file(&info, client, tpl, NULL))
		fail_msg("%s: %s", tpl, tasker_error_last()->message);
	char *context = cJSON_PrintUnformatted(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c.doc, "request"), "context"));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tasker_task_request req = TASKER_TASK_REQUEST_INIT;
	req.name = info.name;
	req.namespace_name = info.namespace_name;
	req.template_version = info.version;
	req.context_json = context;
	req.traceparent = traceparent;
	if (tasker_task_create(&c.task_id, client, &req))
		fail_msg("%s: create: %s", file, tasker_error_last()->message);
	free(context);
	tasker_worker *w = NULL;
	tasker_worker_options wo = TASKER_WORKER_OPTIONS_INIT;
	assert_int_equal(tasker_worker_new(&w, client, &wo), TASKER_OK);
	PGresult *r = testdb_sqlf(pg,
	                          "SELECT DISTINCT s->>'handler_class' FROM tasker_named_tasks nt "
	                          "JOIN tasker_task_namespaces ns USING (task_namespace_id), "
	                          "jsonb_array_elements(nt.configuration->'step_templates') s "
	                          "WHERE ns.name = '%s' AND nt.name = '%s' AND nt.version = '%s'",
	                          info.namespace_name, info.name, info.version);
	for (int i = 0; i < PQntuples(r); i++) {
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, PQgetvalue(r, i, 0), handle, NULL, &c};
		assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	}
	PQclear(r);
	if (tasker_worker_run_until_idle(w))
		fail_msg("%s: worker: %s", file, tasker_error_last()->message);
	tasker_worker_free(w);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (elapsed_ms)
		*elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cJSON_Delete(c.doc);
	pthread_mutex_destroy(&c.mu);
	return c.task_id;
}

/* ------------------------------------------------------------------ expected sequences */

typedef struct {
	const char *name;
	const char *step; /* step_name the event must carry; NULL: none checked */
} want;

typedef struct {
	want v[256];
	size_t n;
} seq;

static void add(seq *s, const char *name, const char *step)
{
	assert_true(s->n < 256);
	s->v[s->n++] = (want){name, step};
}

static void claim(seq *s, const char *step, int first)
{
	add(s, "step.before_transition", step);
	add(s, "step.execution_requested", step);
	if (first) {
		add(s, "task.before_transition", NULL);
		add(s, "task.start_requested", NULL);
		add(s, "workflow.task_started", NULL);
	}
}

static void run_ok(seq *s, const char *step, int last)
{
	add(s, "step.before_handle", step);
	add(s, "step.handle", step);
	add(s, "step.before_transition", step);
	add(s, "step.completed", step);
	if (!last)
		add(s, "workflow.viable_steps_discovered", NULL);
}

static void finalize_complete(seq *s)
{
	add(s, "workflow.task_finalization_started", NULL);
	add(s, "task.before_transition", NULL);
	add(s, "task.completed", NULL);
	add(s, "workflow.task_completed", NULL);
	add(s, "workflow.task_finalization_completed", NULL);
}

/* Compares names and step names; every event of the task carries the task's names and correlation id. */
static void expect_sequence(const ev **got, size_t n, const seq *s, const char *task_name, const char *correlation)
{
	size_t k = n < s->n ? n : s->n;
	for (size_t i = 0; i < k; i++) {
		const char *step = str(got[i], "step_name");
		if (strcmp(got[i]->name, s->v[i].name) != 0 || (s->v[i].step && (!step || strcmp(step, s->v[i].step) != 0))) {
			for (size_t j = 0; j < n || j < s->n; j++)
				fprintf(stderr, "  %3zu got %-40s %-20s want %-40s %s\n", j, j < n ? got[j]->name : "-",
				        j < n && str(got[j], "step_name") ? str(got[j], "step_name") : "",
				        j < s->n ? s->v[j].name : "-", j < s->n && s->v[j].step ? s->v[j].step : "");
			fail_msg("event %zu: got %s (%s), expected %s (%s)", i, got[i]->name, step ? step : "-", s->v[i].name,
			         s->v[i].step ? s->v[i].step : "-");
		}
		assert_string_equal(str(got[i], "task_name"), task_name);
		assert_non_null(str(got[i], "namespace"));
		assert_non_null(str(got[i], "version"));
		assert_non_null(str(got[i], "timestamp"));
		if (correlation)
			assert_string_equal(str(got[i], "correlation_id"), correlation);
		else
			assert_non_null(str(got[i], "correlation_id"));
	}
	if (n != s->n)
		fail_msg("%zu events, expected %zu", n, s->n);
}

/* The events of one case run with a recorder on "*". */
static size_t recorded_run(recorder *r, const char *file, const char *traceparent, int64_t *task_id, const ev **out,
                           size_t max)
{
	tasker_client *c = open_client(db.conninfo);
	recorder_init(r);
	uint64_t sub;
	assert_int_equal(tasker_event_subscribe(&sub, c, "*", record, r, NULL), TASKER_OK);
	*task_id = run_case(c, db.pg, file, traceparent, NULL);
	assert_int_equal(tasker_event_unsubscribe(c, sub), TASKER_OK);
	tasker_client_free(c);
	return task_events(r, *task_id, out, max);
}

/* ------------------------------------------------------------------ the ordered sequences */

static void test_linear_sequence(void **state)
{
	(void)state;
	static const char *const steps[] = {"validate_payment_eligibility", "process_gateway_refund",
	                                    "update_payment_records", "notify_customer"};
	recorder r;
	int64_t task;
	const ev *got[512];
	size_t n = recorded_run(&r, "13_blog_refund_payments.json", TRACEPARENT, &task, got, 512);
	seq s = {.n = 0};
	add(&s, "task.start_requested", NULL);
	add(&s, "workflow.viable_steps_discovered", NULL);
	for (size_t i = 0; i < 4; i++) {
		claim(&s, steps[i], i == 0);
		run_ok(&s, steps[i], i == 3);
	}
	finalize_complete(&s);
	expect_sequence(got, n, &s, "process_refund", TRACE_ID);
	/* key payload fields */
	assert_int_equal(num(got[0], "step_count"), 4);
	assert_null(str(got[0], "from_state"));
	assert_string_equal(str(got[0], "traceparent"), TRACEPARENT);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(got[1]->payload, "step_ids")), 1);
	for (size_t i = 0; i < n; i++) {
		const ev *e = got[i];
		assert_int_equal(num(e, "task_id"), task);
		if (!strncmp(e->name, "step.", 5)) {
			assert_true(e->step_id > 0);
			assert_int_equal(num(e, "step_id"), e->step_id);
		}
		if (!strcmp(e->name, "step.execution_requested") || !strcmp(e->name, "task.start_requested")) {
			if (i > 0) {
				assert_string_equal(str(e, "from_state"), "pending");
				assert_string_equal(str(e, "to_state"), "in_progress");
			}
		}
		if (!strcmp(e->name, "step.completed")) {
			assert_string_equal(str(e, "from_state"), "in_progress");
			assert_string_equal(str(e, "to_state"), "complete");
			assert_int_equal(num(e, "attempt"), 1);
		}
		if (!strcmp(e->name, "step.handle")) {
			assert_string_equal(str(e, "outcome"), "success");
			assert_int_equal(num(e, "attempt"), 1);
			assert_true(num(e, "duration_ms") >= 0);
			assert_non_null(str(e, "handler_class"));
			assert_non_null(str(e, "worker_id"));
		}
		if (!strcmp(e->name, "workflow.viable_steps_discovered") && i > 1) {
			/* the next step of the chain, which the next claim takes */
			const cJSON *ids = cJSON_GetObjectItem(e->payload, "step_ids");
			assert_int_equal(cJSON_GetArraySize(ids), 1);
			assert_int_equal(cJSON_GetArrayItem(ids, 0)->valuedouble, got[i + 1]->step_id);
		}
		if (!strcmp(e->name, "task.completed"))
			assert_string_equal(str(e, "to_state"), "complete");
		if (!strcmp(e->name, "workflow.task_finalization_completed"))
			assert_string_equal(str(e, "final_state"), "complete");
	}
	recorder_free(&r);
}

static void test_retried_step_sequence(void **state)
{
	(void)state;
	static const char *const steps[] = {"initialize_data", "validate_input",  "process_data",
	                                    "transform_results", "validate_output", "finalize_workflow"};
	recorder r;
	int64_t task;
	const ev *got[512];
	size_t n = recorded_run(&r, "02_linear_workflow.json", NULL, &task, got, 512);
	seq s = {.n = 0};
	add(&s, "task.start_requested", NULL);
	add(&s, "workflow.viable_steps_discovered", NULL);
	for (size_t i = 0; i < 6; i++) {
		claim(&s, steps[i], i == 0);
		if (i == 2) { /* process_data fails once, is retried at once (no backoff in config.yml) */
			add(&s, "step.before_handle", steps[i]);
			add(&s, "step.handle", steps[i]);
			add(&s, "step.before_transition", steps[i]);
			add(&s, "step.failed", steps[i]);
			add(&s, "observability.step.backoff", steps[i]);
			add(&s, "workflow.viable_steps_discovered", NULL);
			add(&s, "step.before_transition", steps[i]);
			add(&s, "step.retry_requested", steps[i]);
			claim(&s, steps[i], 0);
		}
		run_ok(&s, steps[i], i == 5);
	}
	finalize_complete(&s);
	/* without a traceparent the correlation id is the task's identity */
	char *identity = testdb_value(db.pg, "SELECT identity_hash FROM tasker_tasks WHERE task_id = %lld", (long long)task);
	expect_sequence(got, n, &s, "linear_workflow_task", identity);
	free(identity);
	int handles = 0;
	for (size_t i = 0; i < n; i++) {
		const ev *e = got[i];
		const char *step = str(e, "step_name");
		if (!step || strcmp(step, "process_data") != 0)
			continue;
		if (!strcmp(e->name, "step.handle")) {
			handles++;
			assert_int_equal(num(e, "attempt"), handles);
			assert_string_equal(str(e, "outcome"), handles == 1 ? "retryable" : "success");
			if (handles == 1) {
				assert_string_equal(str(e, "error_message"), "process_data failed (run 1)");
				assert_string_equal(str(e, "error_class"), "StepError");
			}
		} else if (!strcmp(e->name, "step.failed")) {
			assert_string_equal(str(e, "from_state"), "in_progress");
			assert_string_equal(str(e, "to_state"), "error");
			assert_int_equal(num(e, "attempt"), 1);
			assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e->payload, "will_retry")));
			assert_int_equal(num(e, "backoff_seconds"), 0);
			assert_string_equal(str(e, "error_message"), "process_data failed (run 1)");
		} else if (!strcmp(e->name, "observability.step.backoff")) {
			assert_int_equal(num(e, "attempt"), 1);
			assert_int_equal(num(e, "backoff_seconds"), 0);
			assert_non_null(str(e, "retry_at"));
		} else if (!strcmp(e->name, "step.retry_requested")) {
			assert_string_equal(str(e, "from_state"), "error");
			assert_string_equal(str(e, "to_state"), "pending");
		} else if (!strcmp(e->name, "step.completed")) {
			assert_int_equal(num(e, "attempt"), 2);
		}
	}
	assert_int_equal(handles, 2);
	recorder_free(&r);
}

static void test_cancelled_sequence(void **state)
{
	(void)state;
	static const char *const steps[] = {"initialize_data", "validate_input",  "process_data",
	                                    "transform_results", "validate_output", "finalize_workflow"};
	recorder r;
	int64_t task;
	const ev *got[512];
	size_t n = recorded_run(&r, "18_cancel_mid_run.json", NULL, &task, got, 512);
	seq s = {.n = 0};
	add(&s, "task.start_requested", NULL);
	add(&s, "workflow.viable_steps_discovered", NULL);
	for (size_t i = 0; i < 2; i++) {
		claim(&s, steps[i], i == 0);
		run_ok(&s, steps[i], 0);
	}
	claim(&s, "process_data", 0);
	add(&s, "step.before_handle", "process_data");
	/* the handler cancels its task: the running step and the pending ones, then the task */
	for (size_t i = 2; i < 6; i++) {
		add(&s, "step.before_transition", steps[i]);
		add(&s, "step.cancelled", steps[i]);
	}
	add(&s, "task.before_transition", NULL);
	add(&s, "task.cancelled", NULL);
	add(&s, "step.handle", "process_data"); /* its late result is discarded: nothing more */
	expect_sequence(got, n, &s, "linear_workflow_task", NULL);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(got[i]->name, "step.cancelled")) {
			const char *step = str(got[i], "step_name");
			assert_string_equal(str(got[i], "from_state"), !strcmp(step, "process_data") ? "in_progress" : "pending");
			assert_string_equal(str(got[i], "to_state"), "cancelled");
			assert_string_equal(str(got[i], "reason"), "task_cancelled");
		}
		if (!strcmp(got[i]->name, "task.cancelled")) {
			assert_string_equal(str(got[i], "from_state"), "in_progress");
			assert_string_equal(str(got[i], "reason"), "cancelled");
		}
	}
	recorder_free(&r);
}

/* Retries exhausted: observability.step.max_retries_reached, then the task fails through finalization. */
static void test_exhausted_sequence_tail(void **state)
{
	(void)state;
	recorder r;
	int64_t task;
	const ev *got[512];
	size_t n = recorded_run(&r, "16_retry_exhaustion.json", NULL, &task, got, 512);
	static const char *const tail[] = {"step.before_transition", "step.failed", "observability.step.max_retries_reached",
	                                   "workflow.task_finalization_started", "task.before_transition", "task.failed",
	                                   "workflow.task_failed", "workflow.task_finalization_completed"};
	assert_true(n > 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(got[n - 8 + i]->name, tail[i]);
	const ev *max = got[n - 6], *failed = got[n - 3], *wf = got[n - 2];
	assert_string_equal(str(max, "step_name"), "process_data");
	assert_int_equal(num(max, "attempt"), 3);
	assert_int_equal(num(max, "retry_limit"), 3);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(got[n - 7]->payload, "will_retry")));
	assert_string_equal(str(failed, "to_state"), "error");
	assert_string_equal(str(failed, "reason"), "steps_in_error_state");
	assert_string_equal(str(wf, "final_state"), "error");
	assert_string_equal(str(wf, "step_name"), "process_data");
	int backoffs = 0;
	for (size_t i = 0; i < n; i++)
		backoffs += !strcmp(got[i]->name, "observability.step.backoff");
	assert_int_equal(backoffs, 2);
	recorder_free(&r);
}

/* ------------------------------------------------------------------ robust against bad subscribers */

static int always_fail(const tasker_event *e, void *p)
{
	(void)e;
	(void)p;
	return -1;
}

static int sleep_ms(const tasker_event *e, void *p)
{
	(void)e;
	usleep((useconds_t)(*(int *)p) * 1000);
	return 0;
}

/* task state and every step's state and attempts, as one string */
static char *outcome(tasker_client *c, int64_t task)
{
	tasker_task_view *v = NULL;
	assert_int_equal(tasker_task_get(&v, c, task), TASKER_OK);
	char *s = calloc(1, 4096);
	size_t len = (size_t)snprintf(s, 4096, "%s", tasker_state_name(v->state));
	for (size_t i = 0; i < v->step_count; i++)
		len += (size_t)snprintf(s + len, 4096 - len, " %s:%s/%d", v->steps[i].name, tasker_state_name(v->steps[i].state),
		                        v->steps[i].attempts);
	tasker_task_view_free(v);
	return s;
}

static void test_bad_subscribers_change_nothing(void **state)
{
	(void)state;
	const char *file = "07_configurable_failure.json";
	tasker_client *c = open_client(db.conninfo);
	int64_t base_ms, bad_ms, slow_ms;
	run_case(c, db.pg, file, NULL, NULL); /* warm: templates, prepared statements */
	int64_t t0 = run_case(c, db.pg, file, NULL, &base_ms);
	char *want = outcome(c, t0);
	/* a synchronous subscriber failing on every event and an asynchronous one sleeping 5 ms per event
	 * behind a queue of 8 */
	int five = 5, one = 1;
	uint64_t fail_id, slow_id, sync_slow_id;
	tasker_event_subscribe_options ao = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	ao.delivery = TASKER_EVENT_ASYNC;
	ao.queue_capacity = 8;
	assert_int_equal(tasker_event_subscribe(&fail_id, c, "*", always_fail, NULL, NULL), TASKER_OK);
	assert_int_equal(tasker_event_subscribe(&slow_id, c, "*", sleep_ms, &five, &ao), TASKER_OK);
	int64_t t1 = run_case(c, db.pg, file, NULL, &bad_ms);
	char *got = outcome(c, t1);
	assert_string_equal(got, want);
	free(got);
	tasker_event_stats st;
	assert_int_equal(tasker_event_stats_get(&st, c, fail_id), TASKER_OK);
	assert_true(st.failed > 40);
	assert_int_equal(st.failed, st.delivered);
	assert_int_equal(tasker_event_stats_get(&st, c, slow_id), TASKER_OK);
	assert_true(st.dropped > 0); /* the slow one lost its oldest events instead of stalling the engine */
	uint64_t events = st.delivered + st.dropped + st.queued;
	assert_int_equal(tasker_event_unsubscribe(c, slow_id), TASKER_OK);
	assert_int_equal(tasker_event_unsubscribe(c, fail_id), TASKER_OK);
	/* documented bound: asynchronous and failing subscribers add no wait; the cost of producing events
	 * (one lookup read per transaction at most) stays within the baseline again plus one second */
	if (bad_ms > 2 * base_ms + 1000)
		fail_msg("with a failing and a slow async subscriber the run took %lld ms, baseline %lld ms",
		         (long long)bad_ms, (long long)base_ms);
	/* a slow synchronous subscriber (1 ms per event) delays by its own run time, and nothing else */
	assert_int_equal(tasker_event_subscribe(&sync_slow_id, c, "*", sleep_ms, &one, NULL), TASKER_OK);
	int64_t t2 = run_case(c, db.pg, file, NULL, &slow_ms);
	got = outcome(c, t2);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(tasker_event_stats_get(&st, c, sync_slow_id), TASKER_OK);
	assert_int_equal(tasker_event_unsubscribe(c, sync_slow_id), TASKER_OK);
	if (slow_ms > 2 * base_ms + (int64_t)st.delivered * 2 + 1000)
		fail_msg("with a 1 ms synchronous subscriber (%llu calls) the run took %lld ms, baseline %lld ms",
		         (unsigned long long)st.delivered, (long long)slow_ms, (long long)base_ms);
	print_message("baseline %lld ms; failing sync + slow async %lld ms (%llu events); 1 ms sync %lld ms\n",
	              (long long)base_ms, (long long)bad_ms, (unsigned long long)events, (long long)slow_ms);
	free(want);
	tasker_client_free(c);
}

/* ------------------------------------------------------------------ custom events, logs, metrics */

static void test_custom_events(void **state)
{
	(void)state;
	tasker_client *c = open_client(db.conninfo);
	assert_int_equal(tasker_template_register_file(NULL, c, TASKER_SOURCE_DIR "/tests/fixtures/templates/customer_analytics.yaml",
	                                               NULL),
	                 TASKER_OK);
	assert_int_equal(tasker_template_register_string(NULL, c,
	                                                 "name: custom_step_events\nnamespace_name: events_test\n"
	                                                 "task_handler_class: T\nstep_templates:\n"
	                                                 "  - name: only\n    handler_class: H\n"
	                                                 "    custom_events: [{name: only.checkpoint, description: d}]\n",
	                                                 0, "inline", NULL),
	                 TASKER_OK);
	recorder r;
	recorder_init(&r);
	uint64_t sub;
	assert_int_equal(tasker_event_subscribe(&sub, c, "*", record, &r, NULL), TASKER_OK);
	assert_string_equal(r.v[0].name, "subscriber.registered");
	cJSON_Delete(r.v[0].payload);
	r.n = 0;
	assert_int_equal(tasker_event_publish_custom(c, "data_extraction_started", "{\"task_id\": 42, \"rows\": 10}"),
	                 TASKER_OK);
	assert_int_equal(tasker_event_publish_custom(c, "only.checkpoint", NULL), TASKER_OK);
	assert_int_equal(tasker_event_publish_custom(c, "never.declared", "{}"), TASKER_ENOTFOUND);
	assert_non_null(strstr(tasker_error_last()->message, "never.declared"));
	assert_int_equal(tasker_event_publish_custom(c, "task.completed", "{}"), TASKER_EINVAL);
	assert_int_equal(tasker_event_publish_custom(c, "bad name", "{}"), TASKER_EINVAL);
	assert_int_equal(tasker_event_publish_custom(c, "data_extraction_started", "[1]"), TASKER_EJSON);
	assert_int_equal(tasker_event_publish(c, "not.in.catalog", "{}"), TASKER_EINVAL);
	assert_int_equal(tasker_event_publish(c, "tasker.telemetry.export_completed", "{\"exporter\": \"otlp\"}"),
	                 TASKER_OK);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.v[0].name, "data_extraction_started");
	assert_int_equal(r.v[0].task_id, 42);
	assert_int_equal(num(&r.v[0], "rows"), 10);
	assert_non_null(str(&r.v[0], "timestamp"));
	assert_string_equal(r.v[1].name, "only.checkpoint");
	assert_string_equal(r.v[2].name, "tasker.telemetry.export_completed");
	assert_int_equal(tasker_event_unsubscribe(c, sub), TASKER_OK);
	recorder_free(&r);
	tasker_client_free(c);
}

typedef struct {
	pthread_mutex_t mu;
	char **lines;
	size_t n, cap;
} log_sink;

static void sink(tasker_log_level level, const char *line, void *p)
{
	(void)level;
	log_sink *s = p;
	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->lines = realloc(s->lines, s->cap * sizeof *s->lines);
	}
	s->lines[s->n++] = strdup(line);
	pthread_mutex_unlock(&s->mu);
}

/* With only a log handler installed (no subscriber), every line is a JSON object with level, event and
 * the task's correlation id (the traceparent's trace-id). */
static void test_log_lines_carry_correlation(void **state)
{
	(void)state;
	log_sink s = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};
	tasker_log_set_handler(TASKER_LOG_DEBUG, sink, &s);
	tasker_client *c = open_client(db.conninfo);
	int64_t task = run_case(c, db.pg, "02_linear_workflow.json", TRACEPARENT, NULL);
	tasker_client_free(c);
	tasker_log_set_handler(TASKER_LOG_OFF, NULL, NULL);
	size_t of_task = 0, failed = 0;
	for (size_t i = 0; i < s.n; i++) {
		cJSON *p = cJSON_Parse(s.lines[i]);
		if (!p)
			fail_msg("log line is not JSON: %s", s.lines[i]);
		assert_non_null(cJSON_GetObjectItem(p, "level"));
		assert_non_null(cJSON_GetObjectItem(p, "event"));
		assert_non_null(cJSON_GetObjectItem(p, "timestamp"));
		const cJSON *tid = cJSON_GetObjectItem(p, "task_id");
		if (cJSON_IsNumber(tid) && tid->valuedouble == (double)task) {
			of_task++;
			assert_string_equal(cJSON_GetObjectItem(p, "correlation_id")->valuestring, TRACE_ID);
			if (!strcmp(cJSON_GetObjectItem(p, "event")->valuestring, "step.failed")) {
				failed++;
				assert_string_equal(cJSON_GetObjectItem(p, "level")->valuestring, "warn");
			}
		}
		cJSON_Delete(p);
		free(s.lines[i]);
	}
	free(s.lines);
	assert_true(of_task > 50);
	assert_int_equal(failed, 1);
}

static void test_invalid_traceparent(void **state)
{
	(void)state;
	tasker_task_request req = TASKER_TASK_REQUEST_INIT;
	req.name = "linear_workflow_task";
	req.context_json = "{}";
	req.traceparent = "00-xyz";
	int64_t id = 0;
	assert_int_equal(tasker_task_create(&id, db.client, &req), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "traceparent"));
}

/* ------------------------------------------------------------------ across processes */

static pid_t spawn_watch(const char *conninfo, const char *pattern, const char *out_path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(null, 2);
		setenv("TASKER_LOG_LEVEL", "off", 1);
		unsetenv("TASKER_EVENTS_PERSIST");
		execl(TASKER_CLI_PATH, "tasker", "--database-url", conninfo, "events", "watch", pattern, "--from-start",
		      "--until", "workflow.task_finalization_completed", "--timeout", "120", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int wait_child(pid_t pid, int seconds)
{
	for (int i = 0; i < seconds * 100; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

typedef struct {
	int64_t id[1024];
	char name[1024][64];
	size_t n;
} idlist;

static void read_watch_output(idlist *l, const char *path, int64_t task)
{
	char *text = testdb_read_file(path);
	l->n = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *p = cJSON_Parse(line);
		if (!p)
			fail_msg("watch output is not JSON: %s", line);
		if (cJSON_GetObjectItem(p, "task_id")->valuedouble == (double)task && l->n < 1024) {
			l->id[l->n] = (int64_t)cJSON_GetObjectItem(p, "id")->valuedouble;
			snprintf(l->name[l->n], sizeof l->name[0], "%s", cJSON_GetObjectItem(p, "name")->valuestring);
			assert_true(cJSON_IsObject(cJSON_GetObjectItem(p, "payload")));
			l->n++;
		}
		cJSON_Delete(p);
	}
	free(text);
}

static void read_stored(idlist *l, PGconn *pg, int64_t task, const char *like)
{
	PGresult *r = testdb_sqlf(pg, "SELECT id, name FROM tasker_events WHERE task_id = %lld AND name LIKE '%s' ORDER BY id",
	                          (long long)task, like);
	l->n = 0;
	for (int i = 0; i < PQntuples(r) && i < 1024; i++) {
		l->id[l->n] = atoll(PQgetvalue(r, i, 0));
		snprintf(l->name[l->n++], sizeof l->name[0], "%s", PQgetvalue(r, i, 1));
	}
	PQclear(r);
}

static void expect_same(const idlist *got, const idlist *want, const char *what)
{
	if (got->n != want->n)
		fail_msg("%s: %zu events, expected %zu", what, got->n, want->n);
	for (size_t i = 0; i < got->n; i++)
		if (got->id[i] != want->id[i] || strcmp(got->name[i], want->name[i]) != 0)
			fail_msg("%s: event %zu is %lld %s, expected %lld %s", what, i, (long long)got->id[i], got->name[i],
			         (long long)want->id[i], want->name[i]);
}

static int replayed(const tasker_event *e, void *p)
{
	idlist *l = p;
	l->id[l->n] = e->id;
	snprintf(l->name[l->n++], sizeof l->name[0], "%s", e->name);
	return 0;
}

/* Two other processes (the CLI) watch "*" and "step.*" while this one runs a workflow with retries:
 * each receives every event of the task its pattern selects, in order, and so does a resumed watcher. */
static void test_other_processes_receive_everything(void **state)
{
	(void)state;
	testdb x;
	testdb_open(&x, "events_x", 1);
	char all_path[] = "/tmp/tasker-watch-all-XXXXXX", step_path[] = "/tmp/tasker-watch-step-XXXXXX";
	close(mkstemp(all_path));
	close(mkstemp(step_path));
	pid_t all = spawn_watch(x.conninfo, "*", all_path), steps = spawn_watch(x.conninfo, "step.*", step_path);
	tasker_client *c = open_client(x.conninfo);
	assert_int_equal(tasker_event_set_persist(c, 1), TASKER_OK);
	recorder r;
	recorder_init(&r);
	uint64_t sub;
	assert_int_equal(tasker_event_subscribe(&sub, c, "*", record, &r, NULL), TASKER_OK);
	int64_t task = run_case(c, x.pg, "02_linear_workflow.json", NULL, NULL);
	assert_int_equal(wait_child(all, 120), 0);
	assert_int_equal(wait_child(steps, 120), 0);
	idlist *got = calloc(1, sizeof *got), *want = calloc(1, sizeof *want);
	read_stored(want, x.pg, task, "%");
	assert_true(want->n > 60);
	read_watch_output(got, all_path, task);
	expect_same(got, want, "watcher *");
	read_stored(want, x.pg, task, "step.%");
	read_watch_output(got, step_path, task);
	expect_same(got, want, "watcher step.*");
	/* what this process delivered in-process is the same history */
	read_stored(want, x.pg, task, "%");
	const ev *mine[1024];
	size_t n = task_events(&r, task, mine, 1024);
	assert_int_equal(n, want->n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(mine[i]->name, want->name[i]);
		if (mine[i]->id) /* handler events are written with the next commit: their ids come later */
			assert_int_equal(mine[i]->id, want->id[i]);
	}
	/* replay */
	got->n = 0;
	assert_int_equal(tasker_task_events(c, task, replayed, got), TASKER_OK);
	expect_same(got, want, "replay");
	/* a watcher resuming after the 10th event gets everything after it (at least once) */
	tasker_event_watch_options o = TASKER_EVENT_WATCH_OPTIONS_INIT;
	o.after_id = want->id[9];
	o.task_id = task;
	o.batch_size = 7;
	tasker_event_watcher *w = NULL;
	assert_int_equal(tasker_event_watcher_open(&w, c, &o), TASKER_OK);
	got->n = 0;
	size_t delivered;
	do
		assert_int_equal(tasker_event_watcher_poll(&delivered, w, 300, replayed, got), TASKER_OK);
	while (delivered);
	assert_int_equal(tasker_event_watcher_last_id(w), want->id[want->n - 1]);
	tasker_event_watcher_free(w);
	for (size_t i = 10; i < want->n; i++) {
		int found = 0;
		for (size_t k = 0; k < got->n && !found; k++)
			found = got->id[k] == want->id[i];
		if (!found)
			fail_msg("resumed watcher missed event %lld", (long long)want->id[i]);
	}
	/* the metrics of the process that ran the handlers: 6 steps, one failure and its retry */
	char *m = NULL;
	assert_int_equal(tasker_metrics_snapshot(&m, c, 1), TASKER_OK);
	static const char *const lines[] = {
		"tasker_steps_started_total{handler_class=\"Tasker::Testing::ConfigurableFailureHandler\"} 7\n",
		"tasker_steps_completed_total{handler_class=\"Tasker::Testing::ConfigurableFailureHandler\"} 6\n",
		"tasker_steps_failed_total{handler_class=\"Tasker::Testing::ConfigurableFailureHandler\"} 1\n",
		"tasker_steps_retried_total{handler_class=\"Tasker::Testing::ConfigurableFailureHandler\"} 1\n",
		"tasker_step_duration_seconds_count{handler_class=\"Tasker::Testing::ConfigurableFailureHandler\"} 7\n",
		"# TYPE tasker_queue_ready_steps gauge\n",
		"tasker_steps_in_flight 0\n",
		"tasker_event_subscriber_failures_total 0\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (!strstr(m, lines[i]))
			fail_msg("metrics lack %s:\n%s", lines[i], m);
	assert_non_null(strstr(m, "tasker_claims_total "));
	tasker_free(m);
	assert_int_equal(tasker_event_unsubscribe(c, sub), TASKER_OK);
	tasker_client_free(c);
	recorder_free(&r);
	free(got);
	free(want);
	unlink(all_path);
	unlink(step_path);
	testdb_close(&x);
}

static void test_persist_needs_migration(void **state)
{
	(void)state;
	testdb bare;
	testdb_open(&bare, "events_bare", 0);
	assert_int_equal(tasker_event_set_persist(bare.client, 1), TASKER_ENOTFOUND);
	assert_non_null(strstr(tasker_error_last()->message, "migrate"));
	assert_int_equal(tasker_event_set_persist(bare.client, 0), TASKER_OK);
	testdb_close(&bare);
}

static int setup(void **state)
{
	(void)state;
	testdb_open(&db, "events", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testdb_close(&db);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linear_sequence),
		cmocka_unit_test(test_retried_step_sequence),
		cmocka_unit_test(test_cancelled_sequence),
		cmocka_unit_test(test_exhausted_sequence_tail),
		cmocka_unit_test(test_bad_subscribers_change_nothing),
		cmocka_unit_test(test_custom_events),
		cmocka_unit_test(test_log_lines_carry_correlation),
		cmocka_unit_test(test_invalid_traceparent),
		cmocka_unit_test(test_other_processes_receive_everything),
		cmocka_unit_test(test_persist_needs_migration),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
