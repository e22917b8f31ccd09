/*
 * rel_driver.c — runs one multi-process reliability test of tasker-core (see run.sh and issue 6).
 *
 *   A  N worker processes run T tasks of the "mixed" DAG to completion;
 *   B  the same while one worker, chosen at random, is kill -9'ed every few seconds and restarted,
 *      with a short lease: every interrupted step must be recovered within 2 x lease;
 *   C  the same while PostgreSQL is restarted (fast shutdown; --restarts times, default 2) mid-run
 *      by --restart-cmd.
 *
 * The driver creates a fresh database on the server of $TASKER_DATABASE_URL, migrates it, registers
 * the template, starts the workers (rel_worker, next to this program), creates the tasks, waits for
 * every task to finish (or fails after --timeout seconds with what is left), stops the workers with
 * SIGTERM (each must exit 0), then checks the database:
 *   - every task and every step complete, each step completed exactly once;
 *   - each handler ran exactly once per attempt: no duplicate (step, attempt) run; every attempt the
 *     engine counted either ran the handler or was ended by lease recovery; no run the engine did
 *     not count; the stored results are those of the final attempt's run;
 *   - nothing left in tasker_ready_steps or tasker_step_claims;
 *   - B: each recovery happened within 2 x lease of the kill of its worker, and the next attempt
 *     started within that limit + 1 s plus the backoff the recovery set — or later only
 *     because it waited its turn in a busy queue (no newer queue entry was claimed before it).
 * Prints one line "reliability X: ok|FAILED ..." with the numbers; exits 0 only when all holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tasker.h"

#define MAX_WORKERS 64
/* A recovery must happen within 2 x lease of the kill. The next attempt's claim may take this much
 * longer (plus the backoff the recovery set): it waits its turn in the queue behind older entries. */
#define RESTART_SLACK_SECONDS 1.0

typedef struct {
	char test;                 /* 'A', 'B' or 'C' */
	int tasks, workers, concurrency, claim_batch, completion_batch, sleep_ms, lease, timeout, retry_limit;
	int create_rate;           /* tasks per second; 0: all at once */
	int kill_every_ms;         /* B */
	int term_every_ms;         /* rolling restarts (SIGTERM, replace); 0: none */
	int restarts;              /* C */
	const char *restart_cmd;   /* C */
	const char *template_path, *worker_path, *log_path;
	const char *sql_before_checks; /* to test the checks themselves: SQL that breaks a rule */
} options;

typedef struct {
	pid_t pid;
	int stopping;              /* sent SIGTERM mid-run (a rolling restart): must exit 0, then is replaced */
} worker;

static options opt;
static char *server_url, *conninfo;
static char dbname[64];
static worker workers[MAX_WORKERS];
static int failures;

/* ------------------------------------------------------------------ small helpers */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rel_driver %c: ", opt.test);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Records a failed assertion (the test goes on, to report everything wrong at once). */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rel_driver %c: FAIL: ", opt.test);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ------------------------------------------------------------------ database access */

static PGconn *pg;   /* the driver's own connection to the test database (reconnected on loss) */

static PGconn *connect_to(const char *info)
{
	PGconn *c = PQconnectdb(info);
	if (PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(c, "SET TIME ZONE 'UTC'; SET client_min_messages = warning"));
	return c;
}

/* Runs SQL with text parameters (several statements when there are none). NULL on failure, with the
 * message printed unless `quiet`; a broken connection is reopened on the next call. */
static PGresult *sql_try(int quiet, const char *sql, int n, const char *const *params)
{
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		PQfinish(pg);
		if (!(pg = connect_to(conninfo)))
			return NULL;
	}
	PGresult *r = n ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	if (!quiet)
		say("SQL failed: %s  in: %.300s", PQerrorMessage(pg), sql);
	PQclear(r);
	return NULL;
}

static PGresult *sql_must(const char *sql, int n, const char *const *params)
{
	PGresult *r = sql_try(0, sql, n, params);
	if (!r)
		die("cannot continue without the database");
	return r;
}

static long long sql_count(int quiet, const char *sql)
{
	PGresult *r = sql_try(quiet, sql, 0, NULL);
	long long v = r && PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return v;
}

static double sql_double(const char *sql)
{
	PGresult *r = sql_must(sql, 0, NULL);
	double v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atof(PQgetvalue(r, 0, 0)) : 0.0;
	PQclear(r);
	return v;
}

/* A connection string for database `name` on the server of $TASKER_DATABASE_URL. */
static char *conninfo_for(const char *name)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(server_url, &err);
	if (!opts)
		die("cannot parse TASKER_DATABASE_URL: %s", err ? err : "?");
	size_t cap = 64 + strlen(name);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val)
			cap += strlen(o->keyword) + 2 * strlen(o->val) + 8;
	char *buf = malloc(cap), *p = buf;
	*p = '\0';
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? name : o->val;
		if (!v || !*v)
			continue;
		p += sprintf(p, "%s%s='", p == buf ? "" : " ", o->keyword);
		for (; *v; v++) {
			if (*v == '\'' || *v == '\\')
				*p++ = '\\';
			*p++ = *v;
		}
		*p++ = '\'';
		*p = '\0';
	}
	if (!strstr(buf, "dbname="))
		sprintf(p, " dbname='%s'", name);
	PQconninfoFree(opts);
	return buf;
}

/* ------------------------------------------------------------------ workers */

static void start_worker(int i)
{
	char sleep_arg[16];
	snprintf(sleep_arg, sizeof sleep_arg, "%d", opt.sleep_ms);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphaned workers if the driver dies */
		int fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execl(opt.worker_path, opt.worker_path, "--sleep-ms", sleep_arg, (char *)NULL);
		fprintf(stderr, "rel_driver: cannot run %s: %s\n", opt.worker_path, strerror(errno));
		_exit(127);
	}
	workers[i].pid = pid;
	workers[i].stopping = 0;
}

static int worker_index(pid_t pid)
{
	for (int i = 0; i < opt.workers; i++)
		if (workers[i].pid == pid)
			return i;
	return -1;
}

static void describe_status(char *buf, size_t len, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status %#x", status);
}

/* Reaps workers that exited on their own: any such exit is a failure. */
static void reap_unexpected(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int i = worker_index(pid);
		if (i < 0)
			continue;
		char how[96];
		describe_status(how, sizeof how, status);
		if (workers[i].stopping && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			workers[i].stopping = 0;
			start_worker(i);
			continue;
		}
		fail("worker %d (pid %d) %s (%s); see %s", i, (int)pid,
		     workers[i].stopping ? "did not stop cleanly on SIGTERM" : "ended on its own", how, opt.log_path);
		workers[i].pid = 0;
		workers[i].stopping = 0;
	}
}

/* SIGTERM to every worker; each must exit 0 within `grace` seconds. */
static void stop_workers(int grace)
{
	for (int i = 0; i < opt.workers; i++)
		if (workers[i].pid > 0)
			kill(workers[i].pid, SIGTERM);
	double deadline = now_s() + grace;
	int left = 0;
	for (int i = 0; i < opt.workers; i++)
		left += workers[i].pid > 0;
	while (left > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			int i = worker_index(pid);
			if (i < 0)
				continue;
			left--;
			workers[i].pid = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				char how[96];
				describe_status(how, sizeof how, status);
				fail("worker %d (pid %d) did not stop cleanly on SIGTERM: %s; see %s", i, (int)pid, how,
				     opt.log_path);
			}
			continue;
		}
		if (now_s() > deadline) {
			for (int i = 0; i < opt.workers; i++)
				if (workers[i].pid > 0) {
					fail("worker %d (pid %d) still running %d s after SIGTERM; killed", i,
					     (int)workers[i].pid, grace);
					kill(workers[i].pid, SIGKILL);
					waitpid(workers[i].pid, NULL, 0);
					workers[i].pid = 0;
				}
			break;
		}
		sleep_ms(20);
	}
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rel_driver %c: FATAL: ", opt.test);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	for (int i = 0; i < MAX_WORKERS; i++)
		if (workers[i].pid > 0) {
			kill(workers[i].pid, SIGKILL);
			waitpid(workers[i].pid, NULL, 0);
		}
	printf("reliability %c: FAILED (fatal error, see above)\n", opt.test);
	exit(1);
}

/* ------------------------------------------------------------------ setup */

static const char *SETUP_SQL =
	"CREATE TABLE rel_executions ("
	"  workflow_step_id bigint NOT NULL, attempt int NOT NULL, worker_pid int NOT NULL,"
	"  claim_id bigint NOT NULL, started_at timestamptz NOT NULL,"
	"  PRIMARY KEY (workflow_step_id, attempt));"
	"CREATE TABLE rel_duplicates ("
	"  workflow_step_id bigint NOT NULL, attempt int NOT NULL, worker_pid int NOT NULL,"
	"  claim_id bigint NOT NULL, seen_at timestamptz NOT NULL);"
	"CREATE TABLE rel_kills (worker_pid int NOT NULL, killed_at timestamptz NOT NULL);"
	/* Every entry of the ready queue, to measure how long claimable steps wait. */
	"CREATE TABLE rel_ready_log (workflow_step_id bigint NOT NULL, ready_at timestamp NOT NULL);"
	"CREATE FUNCTION rel_log_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	"  INSERT INTO rel_ready_log VALUES (NEW.workflow_step_id, NEW.ready_at); RETURN NULL; END $$;"
	"CREATE TRIGGER rel_log_ready AFTER INSERT OR UPDATE OF ready_at ON tasker_ready_steps "
	"  FOR EACH ROW EXECUTE FUNCTION rel_log_ready();";

/* The fixture with `default_retry_limit: N` added to every step: a step of test B may be interrupted
 * several times, and running out of attempts is not what these tests are about. The DAG is the
 * fixture's. */
static char *load_template(void)
{
	FILE *f = fopen(opt.template_path, "r");
	if (!f)
		die("cannot open %s: %s", opt.template_path, strerror(errno));
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap), line[1024];
	while (out && fgets(line, sizeof line, f)) {
		size_t indent = strspn(line, " ");
		char extra[128] = "";
		if (indent > 0 && strncmp(line + indent, "handler_class:", 14) == 0)
			snprintf(extra, sizeof extra, "%*sdefault_retry_limit: %d\n", (int)indent, "", opt.retry_limit);
		size_t need = strlen(line) + strlen(extra) + 1;
		if (len + need > cap && !(out = realloc(out, cap *= 2)))
			break;
		len += (size_t)sprintf(out + len, "%s%s", line, extra);
	}
	fclose(f);
	if (!out)
		die("out of memory reading the template");
	return out;
}

static void create_database(void)
{
	snprintf(dbname, sizeof dbname, "tasker_rel_%c_%d", opt.test + ('a' - 'A'), (int)getpid());
	PGconn *admin = connect_to(server_url);
	if (!admin)
		die("cannot connect to TASKER_DATABASE_URL");
	char sql[160];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", dbname);
	PQclear(PQexec(admin, sql));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
	PGresult *r = PQexec(admin, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("%s: %s", sql, PQerrorMessage(admin));
	PQclear(r);
	PQfinish(admin);
	conninfo = conninfo_for(dbname);
}

static void drop_database(void)
{
	PQfinish(pg);
	pg = NULL;
	PGconn *admin = connect_to(server_url);
	if (!admin)
		return;
	char sql[160];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
	PQclear(PQexec(admin, sql));
	PQfinish(admin);
}

/* Creates tasks number [from, to). */
static void create_tasks(tasker_client *client, const tasker_template_info *tpl, int from, int to)
{
	for (int i = from; i < to; i++) {
		char ctx[128];
		snprintf(ctx, sizeof ctx, "{\"workflow_type\": \"reliability-%c\", \"batch_id\": \"%d\"}", opt.test, i);
		tasker_task_request rq = TASKER_TASK_REQUEST_INIT;
		rq.name = tpl->name;
		rq.namespace_name = tpl->namespace_name;
		rq.template_version = tpl->version;
		rq.context_json = ctx;
		rq.initiator = "rel_driver";
		int64_t id;
		int rc = tasker_task_create(&id, client, &rq);
		if (rc != TASKER_OK)
			die("creating task %d: %s", i, tasker_error_last()->message);
	}
}

/* ------------------------------------------------------------------ the run */

typedef struct {
	long long total_tasks, total_steps;
	int kills, restarts, graceful;
	double elapsed, max_restart_pause;
} run_stats;

static void print_leftovers(void)
{
	PGresult *r = sql_try(1,
		"SELECT 'tasks ' || coalesce(string_agg(s || '=' || n, ' '), '') FROM (SELECT coalesce(tt.to_state, "
		"'pending') s, count(*) n FROM tasker_tasks t LEFT JOIN tasker_task_transitions tt ON "
		"tt.task_id = t.task_id AND tt.most_recent GROUP BY 1 ORDER BY 1) x "
		"UNION ALL SELECT 'steps ' || coalesce(string_agg(s || '=' || n, ' '), '') FROM (SELECT "
		"coalesce(tr.to_state, 'pending') s, count(*) n FROM tasker_workflow_steps w LEFT JOIN "
		"tasker_workflow_step_transitions tr ON tr.workflow_step_id = w.workflow_step_id AND tr.most_recent "
		"GROUP BY 1 ORDER BY 1) y "
		"UNION ALL SELECT 'ready queue rows ' || count(*) || ', claimable now ' || count(*) FILTER (WHERE "
		"ready_at <= timezone('UTC', now())) FROM tasker_ready_steps "
		"UNION ALL SELECT 'claims ' || count(*) || ', expired ' || count(*) FILTER (WHERE lease_expires_at < "
		"timezone('UTC', now())) FROM tasker_step_claims", 0, NULL);
	for (int i = 0; r && i < PQntuples(r); i++)
		say("left: %s", PQgetvalue(r, i, 0));
	PQclear(r);
}

/* A rolling restart: SIGTERM to one worker, which finishes or releases what it holds and exits 0;
 * reap_unexpected starts its replacement. */
static void stop_one(run_stats *st)
{
	int i = rand() % opt.workers;
	if (workers[i].pid <= 0 || workers[i].stopping)
		return;
	kill(workers[i].pid, SIGTERM);
	workers[i].stopping = 1;
	st->graceful++;
}

static void kill_one(run_stats *st)
{
	int i = rand() % opt.workers;
	if (workers[i].pid <= 0 || workers[i].stopping)
		return;
	pid_t pid = workers[i].pid;
	char when[32], who[16];
	snprintf(when, sizeof when, "%.6f", now_s());
	snprintf(who, sizeof who, "%d", (int)pid);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	const char *p[] = {who, when};
	PQclear(sql_must("INSERT INTO rel_kills (worker_pid, killed_at) VALUES ($1, to_timestamp($2::float8))", 2, p));
	st->kills++;
	start_worker(i);
}

static void restart_postgres(run_stats *st)
{
	say("restarting PostgreSQL (%s)", opt.restart_cmd);
	double t0 = now_s();
	int rc = system(opt.restart_cmd);
	double pause = now_s() - t0;
	if (rc != 0)
		die("the restart command failed (status %d): %s", rc, opt.restart_cmd);
	st->restarts++;
	if (pause > st->max_restart_pause)
		st->max_restart_pause = pause;
	say("PostgreSQL is back after %.2f s", pause);
}

/* Waits until every task is finished; false on timeout. */
static int run_until_done(run_stats *st, tasker_client *client, const tasker_template_info *tpl)
{
	double t0 = now_s();
	for (int i = 0; i < opt.workers; i++)
		start_worker(i);
	/* Without a rate, every task is created at once (a deep backlog); with one, tasks arrive steadily
	 * and the workers keep up, so a retry's start measures recovery rather than queueing. */
	int created = opt.create_rate > 0 ? 0 : opt.tasks;
	create_tasks(client, tpl, 0, created);
	st->total_tasks = opt.tasks;
	double next_kill = t0 + opt.kill_every_ms / 1000.0;
	double next_term = t0 + opt.term_every_ms / 1000.0;
	double deadline = t0 + opt.timeout;
	for (;;) {
		reap_unexpected();
		if (created < opt.tasks) {
			int due = (int)((now_s() - t0) * opt.create_rate) + 1;
			due = due < opt.tasks ? due : opt.tasks;
			create_tasks(client, tpl, created, due);
			created = due;
		}
		long long steps = sql_count(1, "SELECT count(*) FROM tasker_workflow_steps");
		if (steps >= 0) /* -1 while PostgreSQL is away (test C) */
			st->total_steps = steps;
		long long finished = sql_count(1,
			"SELECT count(*) FROM tasker_task_transitions WHERE most_recent AND to_state IN "
			"('complete', 'error', 'cancelled')");
		long long steps_done = sql_count(1, "SELECT count(*) FROM tasker_workflow_steps WHERE processed");
		if (created == opt.tasks && finished == st->total_tasks) {
			st->elapsed = now_s() - t0;
			return 1;
		}
		double now = now_s();
		if (now > deadline) {
			st->elapsed = now - t0;
			fail("timeout: %lld of %lld tasks finished, %lld of %lld steps complete after %d s", finished,
			     st->total_tasks, steps_done, st->total_steps, opt.timeout);
			print_leftovers();
			return 0;
		}
		if (opt.test == 'B' && now >= next_kill) {
			kill_one(st);
			next_kill = now + opt.kill_every_ms / 1000.0;
		}
		if (opt.term_every_ms > 0 && now >= next_term) {
			stop_one(st);
			next_term = now + opt.term_every_ms / 1000.0;
		}
		if (opt.test == 'C' && st->restarts < opt.restarts && steps_done >= 0 &&
		    steps_done >= st->total_steps * (st->restarts + 1) / (opt.restarts + 1))
			restart_postgres(st);
		sleep_ms(100);
	}
}

/* ------------------------------------------------------------------ checks */

/* Each query lists the rows that break one rule, as text; none may come back. */
typedef struct {
	const char *rule, *sql;
} check;

static const check CHECKS[] = {
	{"every task is complete (no task left active, failed or cancelled)",
	 "SELECT t.task_id || ' is ' || coalesce(tt.to_state, 'pending') || CASE WHEN t.complete THEN '' "
	 "ELSE ' (complete flag false)' END FROM tasker_tasks t LEFT JOIN tasker_task_transitions tt ON "
	 "tt.task_id = t.task_id AND tt.most_recent WHERE tt.to_state IS DISTINCT FROM 'complete' OR NOT t.complete"},
	{"every step is complete and processed",
	 "SELECT s.workflow_step_id || ' is ' || coalesce(tr.to_state, 'pending') || ' processed=' || s.processed "
	 "|| ' in_process=' || s.in_process FROM tasker_workflow_steps s LEFT JOIN tasker_workflow_step_transitions "
	 "tr ON tr.workflow_step_id = s.workflow_step_id AND tr.most_recent WHERE tr.to_state IS DISTINCT FROM "
	 "'complete' OR NOT s.processed OR s.in_process"},
	{"every step is completed exactly once",
	 "SELECT workflow_step_id || ' completed ' || count(*) || ' times' FROM tasker_workflow_step_transitions "
	 "WHERE to_state = 'complete' GROUP BY workflow_step_id HAVING count(*) <> 1"},
	{"one current transition per step and per task",
	 "SELECT 'step ' || workflow_step_id FROM tasker_workflow_step_transitions WHERE most_recent GROUP BY 1 "
	 "HAVING count(*) > 1 UNION ALL SELECT 'task ' || task_id FROM tasker_task_transitions WHERE most_recent "
	 "GROUP BY 1 HAVING count(*) > 1"},
	{"no (step, attempt) ran twice",
	 "SELECT 'step ' || workflow_step_id || ' attempt ' || attempt || ' ran again in pid ' || worker_pid "
	 "FROM rel_duplicates"},
	{"no handler run the engine did not count as an attempt",
	 "SELECT 'step ' || e.workflow_step_id || ' ran attempt ' || e.attempt || ' but has ' || s.attempts || "
	 "' attempts' FROM rel_executions e JOIN tasker_workflow_steps s USING (workflow_step_id) "
	 "WHERE e.attempt < 1 OR e.attempt > s.attempts"},
	{"every attempt ran its handler once, or was ended by lease recovery",
	 "SELECT 'step ' || s.workflow_step_id || ' attempt ' || k || ': no handler run, no lease recovery' "
	 "FROM tasker_workflow_steps s CROSS JOIN LATERAL generate_series(1, s.attempts) k "
	 "WHERE NOT EXISTS (SELECT 1 FROM rel_executions e WHERE e.workflow_step_id = s.workflow_step_id "
	 "AND e.attempt = k) AND NOT EXISTS (SELECT 1 FROM tasker_workflow_step_transitions tr WHERE "
	 "tr.workflow_step_id = s.workflow_step_id AND tr.to_state = 'error' AND tr.metadata->>'error_class' = "
	 "'LeaseExpired' AND (tr.metadata->>'attempt')::int = k)"},
	{"every attempt but the last was ended by lease recovery (handlers never fail here)",
	 "SELECT 'step ' || s.workflow_step_id || ': ' || s.attempts || ' attempts, ' || count(tr.*) || "
	 "' lease recoveries, failures: ' || coalesce(string_agg(DISTINCT tr2.metadata->>'error_message', '; '), "
	 "'none') FROM tasker_workflow_steps s LEFT JOIN tasker_workflow_step_transitions tr ON "
	 "tr.workflow_step_id = s.workflow_step_id AND tr.to_state = 'error' AND tr.metadata->>'error_class' = "
	 "'LeaseExpired' AND (tr.metadata->>'attempt')::int < s.attempts LEFT JOIN tasker_workflow_step_transitions "
	 "tr2 ON tr2.workflow_step_id = s.workflow_step_id AND tr2.to_state = 'error' AND "
	 "tr2.metadata->>'error_class' <> 'LeaseExpired' GROUP BY s.workflow_step_id, s.attempts "
	 "HAVING s.attempts <> 1 + count(DISTINCT (tr.metadata->>'attempt')) OR count(tr2.*) > 0"},
	{"the recorded results are those of the final attempt's run",
	 "SELECT 'step ' || s.workflow_step_id || ' attempts ' || s.attempts || ' results ' || "
	 "coalesce(s.results::text, 'NULL') || ' final run ' || coalesce(e.claim_id::text, 'none') "
	 "FROM tasker_workflow_steps s LEFT JOIN rel_executions e ON e.workflow_step_id = s.workflow_step_id "
	 "AND e.attempt = s.attempts WHERE e.claim_id IS NULL OR (s.results->>'attempt')::int IS DISTINCT FROM "
	 "s.attempts OR (s.results->>'claim_id')::bigint IS DISTINCT FROM e.claim_id "
	 "OR (s.results->>'pid')::int IS DISTINCT FROM e.worker_pid"},
	{"the ready queue is empty",
	 "SELECT 'step ' || workflow_step_id || ' ready at ' || ready_at FROM tasker_ready_steps"},
	{"no claim is left",
	 "SELECT 'step ' || workflow_step_id || ' claimed by ' || worker_id || ' until ' || lease_expires_at "
	 "FROM tasker_step_claims"},
};

static void run_checks(void)
{
	for (size_t i = 0; i < sizeof CHECKS / sizeof *CHECKS; i++) {
		char sql[4096];
		snprintf(sql, sizeof sql, "SELECT count(*), string_agg(v, E'\\n    ') FILTER (WHERE rn <= 5) FROM "
		                          "(SELECT v, row_number() OVER () rn FROM (%s) q(v)) x", CHECKS[i].sql);
		PGresult *r = sql_try(0, sql, 0, NULL);
		if (!r) {
			fail("%s: the check's query failed", CHECKS[i].rule);
			continue;
		}
		long long n = atoll(PQgetvalue(r, 0, 0));
		if (n > 0)
			fail("%s: %lld violation%s, e.g.\n    %s", CHECKS[i].rule, n, n == 1 ? "" : "s",
			     PQgetvalue(r, 0, 1));
		PQclear(r);
	}
}

/* Every entry of the ready queue (logged by a trigger, see SETUP_SQL) with the time it was claimed:
 * the first claim (pending → in_progress transition) of that step at or after its ready_at. Both
 * times come from the same clock (the transactions' now()). */
static const char *QUEUE_SQL =
	"CREATE TEMP TABLE rel_queue AS SELECT l.workflow_step_id, l.ready_at, (SELECT min(n.created_at) "
	"FROM tasker_workflow_step_transitions n WHERE n.workflow_step_id = l.workflow_step_id AND "
	"n.to_state = 'in_progress' AND n.created_at >= l.ready_at) AS claimed_at FROM rel_ready_log l;"
	"CREATE INDEX ON rel_queue (workflow_step_id, ready_at)";

static const char *QUEUE_WAIT_SQL =
	"SELECT coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY w), 0), coalesce(max(w), 0) FROM "
	"(SELECT extract(epoch FROM claimed_at - ready_at) w FROM rel_queue WHERE claimed_at IS NOT NULL) x";

/* Test B: for every lease recovery, the time from the kill of the worker that held the claim (the
 * one that ran the interrupted attempt, or, if it died before its handler started, the one the
 * recovery message names) to the recovery, and to the start (claim) of the next attempt. A next
 * attempt later than the limit plus its backoff fails the test only if the step was passed over
 * while claimable — newer queue entries claimed before it — rather than waiting its turn in the
 * queue (which CPU contention lengthens). */
static const char *RECOVERY_SQL =
	"WITH rec AS ("
	"  SELECT tr.workflow_step_id, tr.created_at AS recovered_at,"
	"         coalesce((tr.metadata->>'backoff_seconds')::float8, 0) AS backoff,"
	"         coalesce((SELECT e.worker_pid FROM rel_executions e WHERE e.workflow_step_id = tr.workflow_step_id"
	"                     AND e.attempt = (tr.metadata->>'attempt')::int),"
	"                  substring(tr.metadata->>'error_message' from 'worker rel-([0-9]+)')::int) AS pid"
	"  FROM tasker_workflow_step_transitions tr"
	"  WHERE tr.to_state = 'error' AND tr.metadata->>'error_class' = 'LeaseExpired'),"
	" timed AS ("
	"  SELECT rec.*, k.killed_at, q.ready_at, q.claimed_at,"
	"         extract(epoch FROM rec.recovered_at - k.killed_at) AS recovery,"
	"         extract(epoch FROM q.claimed_at - k.killed_at) AS restart,"
	"         extract(epoch FROM q.claimed_at - q.ready_at) AS waited,"
	"         (SELECT count(*) FROM rel_queue o WHERE o.ready_at > q.ready_at + interval '200 ms'"
	"            AND o.claimed_at < q.claimed_at - interval '200 ms') AS passed_over"
	"  FROM rec"
	"  LEFT JOIN LATERAL (SELECT killed_at AT TIME ZONE 'UTC' AS killed_at FROM rel_kills"
	"    WHERE worker_pid = rec.pid AND killed_at AT TIME ZONE 'UTC' <= rec.recovered_at"
	"    ORDER BY killed_at DESC LIMIT 1) k ON true"
	"  LEFT JOIN LATERAL (SELECT ready_at, claimed_at FROM rel_queue WHERE workflow_step_id = rec.workflow_step_id"
	"    AND ready_at >= rec.recovered_at ORDER BY ready_at LIMIT 1) q ON true)"
	" SELECT count(*) FILTER (WHERE killed_at IS NOT NULL),"
	"        count(*) FILTER (WHERE killed_at IS NULL),"
	"        count(DISTINCT pid) FILTER (WHERE killed_at IS NOT NULL),"
	"        coalesce(max(recovery), 0), coalesce(max(restart), 0), coalesce(max(waited), 0),"
	"        count(*) FILTER (WHERE recovery > $1::float8),"
	"        count(*) FILTER (WHERE claimed_at IS NULL OR (restart > $2::float8 + backoff AND passed_over > 0)),"
	"        count(*) FILTER (WHERE restart > $2::float8 + backoff AND passed_over = 0),"
	"        string_agg('step ' || workflow_step_id || ' recovered ' || round(recovery::numeric, 2)"
	"           || ' s after the kill, claimable after '"
	"           || round(extract(epoch FROM ready_at - killed_at)::numeric, 2)"
	"           || ' s (backoff ' || backoff || ' s), claimed after ' || coalesce(round(restart::numeric, 2)::text,"
	"           'never') || ' s; ' || coalesce(passed_over, 0) || ' newer entries claimed first', E'\\n    ')"
	"           FILTER (WHERE recovery > $1::float8 OR claimed_at IS NULL OR restart > $2::float8 + backoff)"
	" FROM timed";

typedef struct {
	long long recovered_killed, recovered_live, killed_mid_step, late_recoveries, starved, queued_late;
	double max_recovery, max_restart, max_waited;
} recovery_stats;

static void check_recovery(recovery_stats *rs)
{
	char limit[32], restart_limit[32];
	snprintf(limit, sizeof limit, "%.3f", 2.0 * opt.lease);
	snprintf(restart_limit, sizeof restart_limit, "%.3f", 2.0 * opt.lease + RESTART_SLACK_SECONDS);
	const char *p[] = {limit, restart_limit};
	PGresult *r = sql_try(0, RECOVERY_SQL, 2, p);
	if (!r) {
		fail("the recovery-time query failed");
		return;
	}
	rs->recovered_killed = atoll(PQgetvalue(r, 0, 0));
	rs->recovered_live = atoll(PQgetvalue(r, 0, 1));
	rs->killed_mid_step = atoll(PQgetvalue(r, 0, 2));
	rs->max_recovery = atof(PQgetvalue(r, 0, 3));
	rs->max_restart = atof(PQgetvalue(r, 0, 4));
	rs->max_waited = atof(PQgetvalue(r, 0, 5));
	rs->late_recoveries = atoll(PQgetvalue(r, 0, 6));
	rs->starved = atoll(PQgetvalue(r, 0, 7));
	rs->queued_late = atoll(PQgetvalue(r, 0, 8));
	const char *details = PQgetvalue(r, 0, 9);
	if (rs->late_recoveries)
		fail("%lld recoveries later than 2 x lease (%d s):\n    %s", rs->late_recoveries, 2 * opt.lease, details);
	else if (rs->starved)
		fail("%lld recovered steps never retried, or retried later than 2 x lease + slack + backoff although "
		     "newer work was claimed first:\n    %s", rs->starved, details);
	else if (rs->queued_late)
		say("note: %lld retries started late only because the queue was busy (FIFO respected):\n    %s",
		    rs->queued_late, details);
	if (rs->killed_mid_step == 0)
		fail("no kill landed mid-step: the test did not exercise recovery");
	PQclear(r);
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr,
		"usage: rel_driver --test A|B|C [--tasks N] [--workers N] [--concurrency N] [--claim-batch N]\n"
		"         [--completion-batch N] [--sleep-ms MAX] [--create-rate TASKS_PER_S] [--lease S] [--timeout S]\n"
		"         [--kill-every-ms MS] [--term-every-ms MS] [--restarts N] [--restart-cmd CMD]\n"
		"         [--retry-limit N] [--template PATH] [--worker PATH] [--log PATH]\n"
		"         [--sql-before-checks SQL]   (tampers with the results, to see the checks fail)\n"
		"Needs TASKER_DATABASE_URL (the server; the driver creates and drops its own database there).\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static char worker_path[PATH_MAX + 16], log_path[PATH_MAX];
	opt = (options){.test = 0, .tasks = 300, .workers = 4, .concurrency = 4, .sleep_ms = -1, .lease = 0,
	                .timeout = 0, .retry_limit = 10, .kill_every_ms = 3000, .restarts = 2, .create_rate = -1,
	                .template_path = TASKER_SOURCE_DIR "/tests/fixtures/templates/mixed_workflow_task.yaml"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--test") && strlen(v) == 1 && strchr("ABC", v[0]))
			opt.test = v[0];
		else if (!strcmp(a, "--tasks"))
			opt.tasks = atoi(v);
		else if (!strcmp(a, "--workers"))
			opt.workers = atoi(v);
		else if (!strcmp(a, "--concurrency"))
			opt.concurrency = atoi(v);
		else if (!strcmp(a, "--claim-batch"))
			opt.claim_batch = atoi(v);
		else if (!strcmp(a, "--completion-batch"))
			opt.completion_batch = atoi(v);
		else if (!strcmp(a, "--sleep-ms"))
			opt.sleep_ms = atoi(v);
		else if (!strcmp(a, "--lease"))
			opt.lease = atoi(v);
		else if (!strcmp(a, "--timeout"))
			opt.timeout = atoi(v);
		else if (!strcmp(a, "--create-rate"))
			opt.create_rate = atoi(v);
		else if (!strcmp(a, "--term-every-ms"))
			opt.term_every_ms = atoi(v);
		else if (!strcmp(a, "--kill-every-ms"))
			opt.kill_every_ms = atoi(v);
		else if (!strcmp(a, "--restarts"))
			opt.restarts = atoi(v);
		else if (!strcmp(a, "--restart-cmd"))
			opt.restart_cmd = v;
		else if (!strcmp(a, "--retry-limit"))
			opt.retry_limit = atoi(v);
		else if (!strcmp(a, "--template"))
			opt.template_path = v;
		else if (!strcmp(a, "--worker"))
			opt.worker_path = v;
		else if (!strcmp(a, "--log"))
			opt.log_path = v;
		else if (!strcmp(a, "--sql-before-checks"))
			opt.sql_before_checks = v;
		else
			usage();
	}
	if (!opt.test || opt.tasks < 1 || opt.workers < 1 || opt.workers > MAX_WORKERS || opt.concurrency < 1)
		usage();
	if (opt.test == 'C' && !opt.restart_cmd) {
		fprintf(stderr, "rel_driver: test C needs --restart-cmd\n");
		exit(2);
	}
	/* Per-test defaults: B uses a short lease and slower handlers, so that kills land mid-step and the
	 * run lasts long enough for a dozen of them. */
	if (opt.sleep_ms < 0)
		opt.sleep_ms = opt.test == 'B' ? 150 : opt.test == 'C' ? 20 : 5;
	if (opt.create_rate < 0)
		opt.create_rate = opt.test == 'B' ? 10 : 0;
	if (!opt.lease)
		opt.lease = opt.test == 'B' ? 2 : 10;
	if (!opt.timeout)
		opt.timeout = opt.test == 'B' ? 150 : 90;
	if (!opt.worker_path) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		self[n > 0 ? n : 0] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(worker_path, sizeof worker_path, "%s/rel_worker", slash ? self : ".");
		opt.worker_path = worker_path;
	}
	if (!opt.log_path) {
		snprintf(log_path, sizeof log_path, "/tmp/rel_workers_%c_%d.log", opt.test, (int)getpid());
		opt.log_path = log_path;
	}
}

/* The workers read their configuration from the environment (docs/configuration.md). */
static void set_worker_env(void)
{
	char v[32];
	setenv("TASKER_DATABASE_URL", conninfo, 1);
	snprintf(v, sizeof v, "%d", opt.lease);
	setenv("TASKER_EXECUTION_LEASE_SECONDS", v, 1);
	snprintf(v, sizeof v, "%d", opt.concurrency);
	setenv("TASKER_EXECUTION_CONCURRENCY", v, 1);
	/* By default claim no more than can run: a killed worker then loses only the steps it was running. */
	snprintf(v, sizeof v, "%d", opt.claim_batch > 0 ? opt.claim_batch : opt.concurrency);
	setenv("TASKER_EXECUTION_CLAIM_BATCH_SIZE", v, 1);
	if (opt.completion_batch > 0) {
		snprintf(v, sizeof v, "%d", opt.completion_batch);
		setenv("TASKER_EXECUTION_COMPLETION_BATCH_SIZE", v, 1);
	}
	setenv("TASKER_EXECUTION_SHUTDOWN_TIMEOUT_SECONDS", "10", 1);
}

/* A fresh, migrated database with the template registered and the tables the checks use. */
static tasker_client *prepare(tasker_template_info *tpl)
{
	create_database();
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.database_url = conninfo;
	co.application_name = "rel_driver";
	tasker_client *client;
	if (tasker_client_open(&client, &co) != TASKER_OK || tasker_db_apply_migrations(NULL, client) != TASKER_OK)
		die("preparing database %s: %s", dbname, tasker_error_last()->message);
	PQclear(sql_must(SETUP_SQL, 0, NULL));
	char *yaml = load_template();
	if (tasker_template_register_string(tpl, client, yaml, 0, opt.template_path, NULL) != TASKER_OK)
		die("registering %s: %s", opt.template_path, tasker_error_last()->message);
	free(yaml);
	return client;
}

/* The result line: "reliability X: ok|FAILED" and the numbers. */
static void report(const run_stats *st, const recovery_stats *rs)
{
	PGresult *qw = sql_must(QUEUE_WAIT_SQL, 0, NULL);
	double wait_p95 = atof(PQgetvalue(qw, 0, 0)), wait_max = atof(PQgetvalue(qw, 0, 1));
	PQclear(qw);
	long long executions = sql_count(0, "SELECT count(*) FROM rel_executions");
	long long attempts = sql_count(0, "SELECT coalesce(sum(attempts), 0) FROM tasker_workflow_steps");
	long long expiries = sql_count(0, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                  "metadata->>'error_class' = 'LeaseExpired'");
	long long released = sql_count(0, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                  "metadata->>'reason' LIKE 'released%'");
	double run_seconds = sql_double("SELECT extract(epoch FROM max(started_at) - min(started_at)) "
	                                "FROM rel_executions");
	if (opt.test == 'A' && expiries > 0)
		fail("%lld lease expiries although no worker was killed", expiries);

	printf("reliability %c: %s  tasks=%lld steps=%lld executions=%lld attempts=%lld lease_recoveries=%lld",
	       opt.test, failures ? "FAILED" : "ok", st->total_tasks, st->total_steps, executions, attempts, expiries);
	double limit = 2.0 * opt.lease, restart_limit = limit + RESTART_SLACK_SECONDS;
	if (opt.test == 'B')
		printf(" kills=%d (mid-step %lld) recovered_from_kills=%lld recovered_live=%lld lease=%ds "
		       "max_recovery=%.2fs (limit %.1fs) max_next_attempt=%.2fs (limit %.1fs + backoff; "
		       "max wait once claimable %.2fs; late only from queueing %lld)",
		       st->kills, rs->killed_mid_step, rs->recovered_killed, rs->recovered_live, opt.lease,
		       rs->max_recovery, limit, rs->max_restart, restart_limit, rs->max_waited, rs->queued_late);
	if (st->graceful)
		printf(" graceful_restarts=%d released=%lld", st->graceful, released);
	if (opt.test == 'C')
		printf(" pg_restarts=%d max_pg_restart=%.2fs", st->restarts, st->max_restart_pause);
	printf(" queue_wait_p95=%.3fs max=%.2fs workers=%d elapsed=%.1fs (first to last run %.1fs)\n", wait_p95,
	       wait_max, opt.workers, st->elapsed, run_seconds);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *url = getenv("TASKER_DATABASE_URL");
	if (!url || !*url)
		die("TASKER_DATABASE_URL is not set (run through tests/reliability/run.sh)");
	server_url = strdup(url);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	signal(SIGPIPE, SIG_IGN);
	FILE *log = fopen(opt.log_path, "w");
	if (log)
		fclose(log);

	tasker_template_info tpl;
	tasker_client *client = prepare(&tpl);
	set_worker_env();
	run_stats st = {0};
	int done = run_until_done(&st, client, &tpl);
	stop_workers(30);
	tasker_client_free(client);

	if (opt.sql_before_checks)
		PQclear(sql_must(opt.sql_before_checks, 0, NULL));
	PQclear(sql_must(QUEUE_SQL, 0, NULL));
	recovery_stats rs = {0};
	if (done) {
		run_checks();
		if (opt.test == 'B')
			check_recovery(&rs);
	}
	report(&st, &rs);
	if (failures)
		say("worker logs: %s; database %s kept", opt.log_path, dbname);
	else
		drop_database();
	return failures ? 1 : 0;
}
