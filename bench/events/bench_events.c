/*
 * bench_events.c — lifecycle event benchmarks (issue 4), run by bench/events/run.sh against a
 * PostgreSQL with durable settings. Prints markdown table rows | benchmark | measured | target | met |.
 *
 *   publish      in-process publish → one synchronous C subscriber (target ≥ 1,000,000 events/s); the same
 *                with nobody listening (the check alone) and to one asynchronous subscriber
 *   engine       a real workflow run (4-step tasks, one worker) with no subscriber, one synchronous
 *                subscriber on "*", and persistence on: steps/s and events/s, i.e. what events cost
 *   remote       cross-process delivery: a forked watcher process (tasker_event_watcher, pattern "*")
 *                receives the persisted events of a workflow run: events/s and delivery latency
 *   all          everything
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "tasker.h"

#define TEMPLATE TASKER_SOURCE_DIR "/tests/fixtures/templates/payments_process_refund.yaml"

static char *base_url, *bench_url, bench_db[64];

static void die(const char *what)
{
	fprintf(stderr, "bench_events: %s: %s\n", what, tasker_error_last()->message);
	exit(1);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void row(const char *name, const char *measured, const char *target, int met)
{
	printf("| %s | %s | %s | %s |\n", name, measured, target, met < 0 ? "—" : met ? "met" : "NOT MET");
	fflush(stdout);
}

static void admin(const char *sql)
{
	PGconn *c = PQconnectdb(base_url);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench_events: %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
	PQfinish(c);
}

/* A fresh database for this run (dropped at exit), so the event log holds only what we produce. */
static void create_database(void)
{
	snprintf(bench_db, sizeof bench_db, "tasker_bench_events_%d", (int)getpid());
	char sql[160];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", bench_db);
	admin(sql);
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(base_url, &err);
	if (!opts) {
		fprintf(stderr, "bench_events: cannot parse TASKER_DATABASE_URL: %s\n", err ? err : "?");
		exit(2);
	}
	size_t cap = 1024, len = 0;
	bench_url = calloc(1, cap);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && *o->val && strcmp(o->keyword, "dbname") != 0)
			len += (size_t)snprintf(bench_url + len, cap - len, "%s='%s' ", o->keyword, o->val);
	snprintf(bench_url + len, cap - len, "dbname='%s'", bench_db);
	PQconninfoFree(opts);
}

static void drop_database(void)
{
	char sql[160];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", bench_db);
	admin(sql);
}

static tasker_client *open_client(void)
{
	tasker_config cfg;
	tasker_config_init(&cfg);
	cfg.backoff.jitter_enabled = 0;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = bench_url;
	o.config = &cfg;
	tasker_client *c = NULL;
	if (tasker_client_open(&c, &o) || tasker_db_apply_migrations(NULL, c) ||
	    tasker_template_register_file(NULL, c, TEMPLATE, NULL))
		die("opening the client");
	tasker_config_clear(&cfg);
	return c;
}

/* ------------------------------------------------------------------ in-process publish */

static atomic_ulong counted;

static int count(const tasker_event *e, void *payload)
{
	(void)payload;
	(void)e;
	atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed);
	return 0;
}

static double publish_rate(tasker_client *c, long n)
{
	static const char payload[] = "{\"task_id\": 123456, \"step_id\": 654321, \"step_name\": \"charge_card\", "
	                              "\"task_name\": \"process_order\", \"namespace\": \"ecommerce\", \"version\": \"1.0.0\", "
	                              "\"attempt\": 1}";
	int64_t t0 = now_us();
	for (long i = 0; i < n; i++)
		if (tasker_event_publish(c, "step.completed", payload))
			die("publish");
	return (double)n / ((double)(now_us() - t0) / 1e6);
}

static void bench_publish(void)
{
	tasker_client *c = open_client();
	char m[128];
	/* nobody listening: the check alone */
	long n = 2000000;
	double idle = publish_rate(c, n);
	snprintf(m, sizeof m, "%.0f ns per publish (%.1f M/s)", 1e9 / idle, idle / 1e6);
	row("publish with nobody listening", m, "a check, no allocation", -1);
	uint64_t id;
	if (tasker_event_subscribe(&id, c, "step.*", count, NULL, NULL))
		die("subscribe");
	publish_rate(c, 200000); /* warm */
	atomic_store(&counted, 0);
	n = 5000000;
	double rate = publish_rate(c, n);
	if (atomic_load(&counted) != (unsigned long)n)
		die("lost events");
	snprintf(m, sizeof m, "%.2f M events/s (%.0f ns/event)", rate / 1e6, 1e9 / rate);
	row("in-process publish → 1 synchronous C subscriber (pattern step.*)", m, "≥ 1,000,000 events/s", rate >= 1e6);
	tasker_event_unsubscribe(c, id);
	tasker_event_subscribe_options o = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	o.delivery = TASKER_EVENT_ASYNC;
	o.queue_capacity = 1 << 20;
	if (tasker_event_subscribe(&id, c, "step.*", count, NULL, &o))
		die("subscribe");
	atomic_store(&counted, 0);
	n = 1000000;
	int64_t t0 = now_us();
	publish_rate(c, n);
	if (tasker_event_flush(c, 60000))
		die("flush");
	double arate = (double)n / ((double)(now_us() - t0) / 1e6);
	tasker_event_stats st;
	tasker_event_stats_get(&st, c, id);
	snprintf(m, sizeof m, "%.2f M events/s delivered (%llu dropped)", arate / 1e6, (unsigned long long)st.dropped);
	row("in-process publish → 1 asynchronous C subscriber (queue 1M)", m, "—", -1);
	tasker_event_unsubscribe(c, id);
	tasker_client_free(c);
}

/* ------------------------------------------------------------------ a real workflow run */

static int noop(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step;
	(void)err;
	(void)payload;
	*out = NULL;
	return 0;
}

/* CPU time of this process (user + system), µs. */
static int64_t cpu_us(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static double last_cpu_us_per_step;

/* Creates `tasks` tasks of the 4-step template and runs one worker until idle; returns seconds. */
static double run_workflows(tasker_client *c, int tasks)
{
	for (int i = 0; i < tasks; i++) {
		tasker_task_request r = TASKER_TASK_REQUEST_INIT;
		r.name = "process_refund";
		r.namespace_name = "payments";
		r.template_version = "2.1.0";
		r.context_json = "{\"payment_id\": \"p-1\", \"refund_amount\": 10, \"reason\": \"x\"}";
		int64_t id;
		if (tasker_task_create(&id, c, &r))
			die("task create");
	}
	tasker_worker *w;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	if (tasker_worker_new(&w, c, &o))
		die("worker");
	static const char *const classes[] = {
		"BlogExamples::Post04::StepHandlers::ValidatePaymentEligibilityHandler",
		"BlogExamples::Post04::StepHandlers::ProcessGatewayRefundHandler",
		"BlogExamples::Post04::StepHandlers::UpdatePaymentRecordsHandler",
		"BlogExamples::Post04::StepHandlers::NotifyCustomerHandler"};
	for (int i = 0; i < 4; i++) {
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, classes[i], noop, NULL, NULL};
		if (tasker_worker_register(w, &h))
			die("register");
	}
	int64_t t0 = now_us(), c0 = cpu_us();
	if (tasker_worker_run_until_idle(w))
		die("run");
	double s = (double)(now_us() - t0) / 1e6;
	last_cpu_us_per_step = (double)(cpu_us() - c0) / (4.0 * tasks);
	tasker_worker_free(w);
	return s;
}

/* Three configurations, run alternately three times each, in rotating order (the best run of each is
 * reported: this machine is shared and noisy): no subscriber, one synchronous subscriber on "*",
 * persistence on. */
static void bench_engine(void)
{
	tasker_client *c = open_client();
	const int tasks = 200;
	double best[3] = {1e9, 1e9, 1e9}, cpu[3] = {0, 0, 0};
	unsigned long events = 0;
	run_workflows(c, 20); /* warm */
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 3; k++) {
			int mode = (round + k) % 3; /* each configuration goes first once: the tables grow */
			uint64_t id = 0;
			if (mode == 1 && tasker_event_subscribe(&id, c, "*", count, NULL, NULL))
				die("subscribe");
			if (mode == 2 && tasker_event_set_persist(c, 1))
				die("persist");
			atomic_store(&counted, 0);
			double t = run_workflows(c, tasks);
			if (mode == 1) {
				events = atomic_load(&counted);
				tasker_event_unsubscribe(c, id);
			}
			if (mode == 2)
				tasker_event_set_persist(c, 0);
			if (t < best[mode]) {
				best[mode] = t;
				cpu[mode] = last_cpu_us_per_step;
			}
		}
	}
	char m[200];
	double steps = 4.0 * tasks;
	snprintf(m, sizeof m, "%.0f steps/s, worker CPU %.0f µs/step", steps / best[0], cpu[0]);
	row("engine, 4-step tasks, 1 worker: nothing listening (best of 3)", m, "—", -1);
	snprintf(m, sizeof m, "%.0f steps/s (%+.0f%% time), %.1f events/step, worker CPU %.0f µs/step (%+.1f µs/event)",
	         steps / best[1], 100.0 * (best[1] - best[0]) / best[0], (double)events / steps, cpu[1],
	         (cpu[1] - cpu[0]) * steps / (double)(events ? events : 1));
	row("engine, same: one synchronous subscriber on * (best of 3)", m, "—", -1);
	snprintf(m, sizeof m, "%.0f steps/s (%+.0f%% time), worker CPU %.0f µs/step", steps / best[2],
	         100.0 * (best[2] - best[0]) / best[0], cpu[2]);
	row("engine, same: events persisted, tasker_events + NOTIFY (best of 3)", m, "—", -1);
	tasker_client_free(c);
}

/* ------------------------------------------------------------------ across processes */

typedef struct {
	long n, finalized, want_tasks;
	int64_t *lat;
	long cap;
	int64_t first_us, last_us;
} watch_state;

static int watched(const tasker_event *e, void *payload)
{
	watch_state *s = payload;
	int64_t now = wall_us();
	if (!s->n)
		s->first_us = now;
	s->last_us = now;
	if (s->n < s->cap)
		s->lat[s->n] = now - e->timestamp;
	s->n++;
	if (!strcmp(e->name, "workflow.task_finalization_completed"))
		s->finalized++;
	return 0;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The child: watches "*" from now on until `tasks` tasks finished; reports
 * "events seconds p50_us p99_us" on fd `out`. */
static void watcher_child(int out, long tasks)
{
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = bench_url;
	o.pool_size = 1;
	tasker_client *c = NULL;
	if (tasker_client_open(&c, &o))
		die("watcher client");
	tasker_event_watch_options wo = TASKER_EVENT_WATCH_OPTIONS_INIT;
	wo.after_id = TASKER_EVENTS_FROM_NOW; /* the parent starts producing once this process is ready */
	wo.batch_size = 2000;
	tasker_event_watcher *w;
	if (tasker_event_watcher_open(&w, c, &wo))
		die("watcher");
	tasker_client_free(c);
	watch_state s = {0, 0, tasks, calloc(1000000, sizeof(int64_t)), 1000000, 0, 0};
	if (write(out, "R", 1) != 1)
		_exit(1);
	int64_t deadline = now_us() + 300 * 1000000LL;
	while (s.finalized < tasks && now_us() < deadline)
		if (tasker_event_watcher_poll(NULL, w, 1000, watched, &s))
			die("poll");
	tasker_event_watcher_free(w);
	long k = s.n < s.cap ? s.n : s.cap;
	qsort(s.lat, (size_t)k, sizeof *s.lat, cmp64);
	char buf[128];
	int len = snprintf(buf, sizeof buf, "%ld %.6f %lld %lld\n", s.n, (double)(s.last_us - s.first_us) / 1e6,
	                   k ? (long long)s.lat[k / 2] : 0, k ? (long long)s.lat[(size_t)((double)k * 0.99)] : 0);
	if (write(out, buf, (size_t)len) != len)
		_exit(1);
	_exit(s.finalized >= tasks ? 0 : 1);
}

static void bench_remote(void)
{
	tasker_client *c = open_client();
	if (tasker_event_set_persist(c, 1))
		die("persist");
	const long tasks = 300;
	int fds[2];
	if (pipe(fds))
		die("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		watcher_child(fds[1], tasks);
	}
	close(fds[1]);
	char ready;
	if (read(fds[0], &ready, 1) != 1)
		die("watcher did not start");
	double s = run_workflows(c, (int)tasks);
	char buf[128] = {0};
	ssize_t got = 0, r;
	while ((r = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
		got += r;
	int status = 0;
	waitpid(pid, &status, 0);
	close(fds[0]);
	long n = 0;
	double secs = 0;
	long long p50 = 0, p99 = 0;
	char m[200];
	if (sscanf(buf, "%ld %lf %lld %lld", &n, &secs, &p50, &p99) != 4 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		row("cross-process delivery (watcher process, pattern *)", "watcher failed", "—", 0);
	} else {
		snprintf(m, sizeof m, "%.0f events/s received (%ld events; producer ran %.0f steps/s)",
		         (double)n / (secs > 0 ? secs : 1e-6), n, 4.0 * (double)tasks / s);
		row("cross-process delivery: events/s to a watcher process", m, "reported", -1);
		snprintf(m, sizeof m, "p50 %.2f ms, p99 %.2f ms", (double)p50 / 1000, (double)p99 / 1000);
		row("cross-process delivery latency (event time → watcher callback)", m, "reported", -1);
	}
	tasker_client_free(c);
}

int main(int argc, char **argv)
{
	base_url = getenv("TASKER_DATABASE_URL");
	if (!base_url) {
		fprintf(stderr, "bench_events: set TASKER_DATABASE_URL (bench/events/run.sh does)\n");
		return 2;
	}
	const char *which = argc > 1 ? argv[1] : "all";
	create_database();
	printf("| benchmark | measured | target | met |\n|---|---|---|---|\n");
	if (!strcmp(which, "all") || !strcmp(which, "publish"))
		bench_publish();
	if (!strcmp(which, "all") || !strcmp(which, "engine"))
		bench_engine();
	if (!strcmp(which, "all") || !strcmp(which, "remote"))
		bench_remote();
	drop_database();
	free(bench_url);
	return 0;
}
