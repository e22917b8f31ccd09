/*
 * c_worker.c — the C worker process of the polyglot test (ci/test-polyglot.sh): runs the diamond's
 * C steps until SIGTERM/SIGINT (graceful stop, exit 0).
 *   Polyglot::C::Start   {"value": seed + 1}, seed from the task's context
 *   Polyglot::C::Branch  fails its first attempt (retryable), then {"value": start's value × 2}
 * Every handler run appends "start TASK STEP ATTEMPT PID", "trace TASK STEP ATTEMPT PID TRACE_ID" (the
 * trace id of the traceparent the claimed step carries) and, when the handler returns,
 * "done TASK STEP ATTEMPT PID OUTCOME" to RUNS_DIR/c.PID.log, each line one write(2) to a file opened
 * with O_APPEND, so the checker sees every run, also of a process killed mid-step.
 *
 *   c_worker RUNS_DIR [SLEEP_MS]     (the database and the engine settings come from TASKER_* variables)
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tasker.h"

static tasker_worker *volatile running_worker;
static int runs_fd = -1;
static long sleep_ms;

static void on_signal(int sig)
{
	(void)sig;
	if (running_worker)
		tasker_worker_stop(running_worker);
}

static void record(const char *what, const tasker_claimed_step *s, const char *outcome)
{
	char line[256];
	int n = snprintf(line, sizeof line, "%s %lld %s %d %d%s%s\n", what, (long long)s->task_id, s->name,
	                 s->attempts, (int)getpid(), outcome ? " " : "", outcome ? outcome : "");
	if (write(runs_fd, line, (size_t)n) != n)
		perror("c_worker: writing the runs log");
}

/* The integer member `key` of the JSON object `json`, or -1. */
static long long json_int(const char *json, const char *key)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	long long n = cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
	cJSON_Delete(o);
	return n;
}

static char *value_result(long long value)
{
	char *out = malloc(48);
	if (out)
		snprintf(out, 48, "{\"value\": %lld}", value);
	return out;
}

/* The run's line and the trace it belongs to ("-" when the task has no traceparent). */
static void record_start(const tasker_claimed_step *s)
{
	char trace[33] = "-";
	if (s->traceparent && strlen(s->traceparent) >= 35)
		snprintf(trace, sizeof trace, "%.32s", s->traceparent + 3);
	record("start", s, NULL);
	record("trace", s, trace);
}

static int start(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)err, (void)payload;
	record_start(s);
	*out = value_result(json_int(s->context_json, "seed") + 1);
	record("done", s, "ok");
	return 0;
}

static int branch(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	record_start(s);
	struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	if (s->attempts == 0) {
		tasker_step_error_set(err, TASKER_OUTCOME_RETRYABLE, -1, "PLANNED", "planned failure of %s", s->name);
		record("done", s, "failed");
		return 1;
	}
	long long start_value = -1;
	for (size_t i = 0; i < s->sequence_count; i++)
		if (strcmp(s->sequence[i].name, "start") == 0)
			start_value = json_int(s->sequence[i].results_json, "value");
	if (start_value < 0) {
		tasker_step_error_set(err, TASKER_OUTCOME_PERMANENT, -1, "NO_INPUT", "start has no value");
		record("done", s, "failed");
		return 1;
	}
	*out = value_result(start_value * 2);
	record("done", s, "ok");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: c_worker RUNS_DIR [SLEEP_MS]\n");
		return 2;
	}
	sleep_ms = argc > 2 ? atol(argv[2]) : 0;
	char path[1024];
	snprintf(path, sizeof path, "%s/c.%d.log", argv[1], (int)getpid());
	if ((runs_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0) {
		perror(path);
		return 1;
	}
	tasker_client *client = NULL;
	tasker_worker *w = NULL;
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	tasker_worker_options wo = TASKER_WORKER_OPTIONS_INIT;
	tasker_step_handler hs[] = {
		{TASKER_STEP_HANDLER_VERSION, "Polyglot::C::Start", start, NULL, NULL},
		{TASKER_STEP_HANDLER_VERSION, "Polyglot::C::Branch", branch, NULL, NULL},
	};
	int rc = tasker_client_open(&client, &co);
	if (!rc)
		rc = tasker_worker_new(&w, client, &wo);
	for (size_t i = 0; !rc && i < sizeof hs / sizeof hs[0]; i++)
		rc = tasker_worker_register(w, &hs[i]);
	if (!rc) {
		running_worker = w;
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		rc = tasker_worker_run(w);
	}
	if (rc)
		fprintf(stderr, "c_worker: %s\n", tasker_error_last()->message);
	tasker_worker_free(w);
	tasker_client_free(client);
	close(runs_fd);
	return rc ? 1 : 0;
}
