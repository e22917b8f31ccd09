/*
 * c_noop.c — the C side of the Ruby-vs-C benchmark: runs TASKS tasks of bench/ruby/noop_template.yaml
 * (100 independent steps each) with a C no-op handler on the core's worker, and prints steps/s.
 * Usage: c_noop TEMPLATE TASKS CONCURRENCY   (database: $TASKER_DATABASE_URL, already migrated)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tasker.h"

static int noop(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step;
	(void)err;
	(void)payload;
	*out = strdup("{\"ok\":true}");
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
	fprintf(stderr, "c_noop: %s: %s\n", what, tasker_error_last()->message);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: c_noop TEMPLATE TASKS CONCURRENCY\n");
		return 2;
	}
	int tasks = atoi(argv[2]);
	tasker_client *c;
	if (tasker_client_open(&c, NULL))
		return fail("open");
	tasker_template_info info;
	if (tasker_template_register_file(&info, c, argv[1], NULL))
		return fail("template");
	for (int i = 0; i < tasks; i++) {
		tasker_task_request q = TASKER_TASK_REQUEST_INIT;
		int64_t id;
		q.name = info.name;
		q.namespace_name = info.namespace_name;
		q.template_version = info.version;
		q.context_json = "{\"n\":1}";
		if (tasker_task_create(&id, c, &q) < 0)
			return fail("create");
	}
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = (unsigned)atoi(argv[3]);
	tasker_worker *w;
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, "Bench::Noop", noop, NULL, NULL};
	if (tasker_worker_new(&w, c, &o) || tasker_worker_register(w, &h))
		return fail("worker");
	double t0 = now();
	if (tasker_worker_run_until_idle(w))
		return fail("run");
	double dt = now() - t0;
	unsigned long long n = (unsigned long long)tasker_worker_processed(w);
	printf("c: %llu steps in %.2f s = %.0f steps/s\n", n, dt, n / dt);
	tasker_worker_free(w);
	tasker_client_free(c);
	return 0;
}
