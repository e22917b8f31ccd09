/*
 * rel_worker.c — one worker process of the reliability tests (tests/reliability/run.sh).
 *
 * Runs C handlers for every handler class of the "mixed" template until SIGTERM/SIGINT (graceful
 * stop, exit 0). Each handler run records itself in rel_executions (created by rel_driver) through a
 * plain libpq connection of its own thread, *before* doing its "work" (a random sleep, so that a
 * kill -9 lands mid-step), then returns {"attempt": n, "pid": p, "claim_id": c} as the step's results.
 *
 * A second run of the same (step, attempt) violates the table's primary key: it is recorded in
 * rel_duplicates, which the driver requires to be empty. An insert retried after a lost connection
 * may find its own row (same claim_id): that is not a duplicate.
 *
 *   rel_worker [--sleep-ms MAX] [--min-sleep-ms MIN]   each run sleeps a random MIN..MAX ms (default 0)
 *
 * Configuration comes from the environment: TASKER_DATABASE_URL and every TASKER_* variable of
 * docs/configuration.md (TASKER_EXECUTION_LEASE_SECONDS, TASKER_EXECUTION_CONCURRENCY, ...).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tasker.h"

static const char *const HANDLER_CLASSES[] = {
	"Tasker::Testing::ConfigurableFailureHandler",
	"Tasker::Testing::NetworkTimeoutHandler",
	"Tasker::Testing::IdempotencyTestHandler",
};

/* How long a handler keeps trying to record its execution while PostgreSQL is away. */
#define RECORD_GIVE_UP_SECONDS 120

static tasker_worker *volatile running_worker;
static volatile sig_atomic_t stop_signalled;
static const char *conninfo;
static int sleep_ms_min, sleep_ms_max;
static pthread_key_t conn_key;
static atomic_uint_fast64_t recorded, duplicates;

static void on_signal(int sig)
{
	(void)sig;
	stop_signalled = 1;
	if (running_worker)
		tasker_worker_stop(running_worker);
}

static void close_conn(void *conn) { PQfinish(conn); }

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* This thread's connection, (re)opened when needed; NULL if PostgreSQL cannot be reached now. */
static PGconn *thread_conn(void)
{
	PGconn *c = pthread_getspecific(conn_key);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	PQfinish(c);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		c = NULL;
	}
	pthread_setspecific(conn_key, c);
	return c;
}

/* Runs one statement; 1 on success, 0 on a duplicate key, -1 on any other failure (the connection
 * is dropped so the next call reconnects). */
static int exec_params(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 1 : state && !strcmp(state, "23505") ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "rel_worker %d: %s", (int)getpid(), PQerrorMessage(c));
	PQclear(r);
	if (rc < 0) {
		PQfinish(c);
		pthread_setspecific(conn_key, NULL);
	}
	return rc;
}

/* Records this run of (step, attempt). 0 when recorded (or found already recorded by this very claim
 * after a lost connection), 1 when another run already recorded it (a duplicate), -1 on failure. */
static int record_execution(const tasker_claimed_step *s, int attempt)
{
	char step[24], att[16], pid[16], claim[24];
	snprintf(step, sizeof step, "%lld", (long long)s->workflow_step_id);
	snprintf(att, sizeof att, "%d", attempt);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	snprintf(claim, sizeof claim, "%lld", (long long)s->claim_id);
	const char *p[] = {step, att, pid, claim};
	time_t give_up = time(NULL) + RECORD_GIVE_UP_SECONDS;
	int retried = 0;
	for (long delay = 50;; delay = delay < 2000 ? delay * 2 : 2000) {
		PGconn *c = thread_conn();
		int rc = c ? exec_params(c,
			"INSERT INTO rel_executions (workflow_step_id, attempt, worker_pid, claim_id, started_at) "
			"VALUES ($1, $2, $3, $4, clock_timestamp())", 4, p) : -1;
		if (rc == 1)
			return 0;
		if (rc == 0 && retried) {
			/* Our earlier insert may have committed before the connection broke. */
			PGresult *r = PQexecParams(c, "SELECT 1 FROM rel_executions WHERE workflow_step_id = $1 "
			                              "AND attempt = $2 AND claim_id = $4", 4, NULL, p, NULL, NULL, 0);
			int mine = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
			PQclear(r);
			if (mine)
				return 0;
		}
		if (rc == 0) {
			while (time(NULL) < give_up) {
				if ((c = thread_conn()) && exec_params(c,
					"INSERT INTO rel_duplicates (workflow_step_id, attempt, worker_pid, claim_id, seen_at) "
					"VALUES ($1, $2, $3, $4, clock_timestamp())", 4, p) == 1)
					break;
				sleep_ms(200);
			}
			return 1;
		}
		if (time(NULL) >= give_up)
			return -1;
		retried = 1;
		sleep_ms(delay);
	}
}

static int process(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	int attempt = s->attempts + 1;
	int rc = record_execution(s, attempt);
	if (rc < 0) {
		tasker_step_error_set(err, TASKER_OUTCOME_RETRYABLE, -1, "REL_RECORD",
		                      "could not record the execution of step %lld attempt %d",
		                      (long long)s->workflow_step_id, attempt);
		return 1;
	}
	if (rc == 0)
		atomic_fetch_add(&recorded, 1);
	else
		atomic_fetch_add(&duplicates, 1);
	if (sleep_ms_max > sleep_ms_min)
		sleep_ms(sleep_ms_min + (long)((unsigned)rand() % (unsigned)(sleep_ms_max - sleep_ms_min + 1)));
	else if (sleep_ms_min > 0)
		sleep_ms(sleep_ms_min);
	char buf[160];
	snprintf(buf, sizeof buf, "{\"attempt\": %d, \"pid\": %d, \"claim_id\": %lld}", attempt, (int)getpid(),
	         (long long)s->claim_id);
	*out = strdup(buf);
	return *out ? 0 : 1;
}

static int fail(const char *what)
{
	fprintf(stderr, "rel_worker %d: %s: %s\n", (int)getpid(), what, tasker_error_last()->message);
	return 1;
}

/* A client configured from the environment and a worker with the recording handlers. */
static int open_worker(tasker_client **out_client, tasker_worker **out_worker)
{
	tasker_config cfg;
	tasker_config_init(&cfg);
	if (tasker_config_apply_env(&cfg) != TASKER_OK) {
		tasker_config_clear(&cfg);
		return fail("configuration");
	}
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.application_name = "rel_worker";
	co.config = &cfg;
	int rc = tasker_client_open(out_client, &co);
	tasker_config_clear(&cfg);
	if (rc)
		return fail("opening the client");

	char id[64];
	snprintf(id, sizeof id, "rel-%d", (int)getpid()); /* rel_driver finds the pid in recovery messages */
	tasker_worker_options wo = TASKER_WORKER_OPTIONS_INIT;
	wo.worker_id = id;
	if ((rc = tasker_worker_new(out_worker, *out_client, &wo))) {
		tasker_client_free(*out_client);
		return fail("creating the worker");
	}
	for (size_t i = 0; !rc && i < sizeof HANDLER_CLASSES / sizeof *HANDLER_CLASSES; i++) {
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, HANDLER_CLASSES[i], process, NULL, NULL};
		rc = tasker_worker_register(*out_worker, &h);
	}
	if (rc) {
		tasker_worker_free(*out_worker);
		tasker_client_free(*out_client);
		return fail("registering handlers");
	}
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sleep-ms") && i + 1 < argc) {
			sleep_ms_max = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--min-sleep-ms") && i + 1 < argc) {
			sleep_ms_min = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: rel_worker [--sleep-ms MAX] [--min-sleep-ms MIN]\n");
			return 2;
		}
	}
	conninfo = getenv("TASKER_DATABASE_URL");
	if (!conninfo || !*conninfo) {
		fprintf(stderr, "rel_worker: TASKER_DATABASE_URL is not set\n");
		return 2;
	}
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	pthread_key_create(&conn_key, close_conn);
	/* First thing: a SIGTERM during start-up must still mean "stop gracefully, exit 0". */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	tasker_client *client;
	tasker_worker *w;
	if (open_worker(&client, &w))
		return 1;
	running_worker = w;
	if (stop_signalled) /* a stop asked for while starting up */
		tasker_worker_stop(w);
	int rc = tasker_worker_run(w);
	running_worker = NULL;
	if (rc)
		fail("running");
	fprintf(stderr, "rel_worker %d: stopped; %llu steps processed, %llu runs recorded, %llu duplicates\n",
	        (int)getpid(), (unsigned long long)tasker_worker_processed(w), (unsigned long long)recorded,
	        (unsigned long long)duplicates);
	tasker_worker_free(w);
	tasker_client_free(client);
	PQfinish(pthread_getspecific(conn_key));
	pthread_setspecific(conn_key, NULL);
	return rc ? 1 : 0;
}
