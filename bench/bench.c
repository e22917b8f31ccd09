/*
 * bench.c — tasker-core's benchmarks (issue targets), run by bench/run.sh against a PostgreSQL with
 * durable settings. Every handler does nothing, so what is measured is the engine and the database.
 *
 *   bench resolution   incremental dependency resolution vs get_step_readiness_status (10/100/1000)
 *   bench latency      stage latency in a 20-step chain (handler return → next handler start)
 *   bench throughput   20,000 single-step tasks and 2,000 ten-step DAGs, 2 worker processes,
 *                      batched and unbatched: steps/s, transactions/step, CPU µs/step
 *                      (throughput-batched, throughput-unbatched: half of them; throughput-dag-unbatched,
 *                      throughput-single-unbatched: one row, for back-to-back pairs)
 *   bench create       10-step task creation p50/p99, CPU per task (PostgreSQL, client)
 *   bench transition   one state transition p50/p99
 *   bench memory       worker peak RSS after 10,000 and 100,000 steps
 *   bench floor        the Rails tables' writes alone, without the engine's coordination: the least any
 *                      engine keeping them pays per stage and per step, beside the engine's rows
 *   bench peer         latency, the floor and throughput (the figures bench/peer/compare.py compares)
 *   bench all          every one of the above, then the table
 * Each prints markdown table rows: | benchmark | measured | target | met / NOT MET |.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <libpq-fe.h>

#include "client.h"
#include "progress.h"
#include "queue.h"
#include "tasker.h"

static const char *url(void)
{
	const char *u = getenv("TASKER_DATABASE_URL");
	if (!u) {
		fprintf(stderr, "bench: set TASKER_DATABASE_URL (bench/run.sh does)\n");
		exit(2);
	}
	return u;
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, tasker_error_last()->message);
	exit(1);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct(int64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof *v, cmp_i64);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i];
}

/* $TASKER_BENCH_PLANS=fresh: no VACUUM ANALYZE before the measured runs, so every prepared statement
 * is planned from the statistics a new database has (none, or those autovacuum took on its own);
 * the default ("analyzed") runs VACUUM ANALYZE first, as autovacuum keeps a running system. */
static int fresh_plans(void)
{
	const char *p = getenv("TASKER_BENCH_PLANS");
	return p && strcmp(p, "fresh") == 0;
}

/* Figures other tools compare against (bench/peer): written as JSON to $TASKER_BENCH_SUMMARY. */
static struct {
	double stage_p50_ms, stage_p99_ms;
	double single_steps_per_s[2], single_cpu_us[2]; /* [0] unbatched, [1] batched */
	double single_pg_cpu_us[2];
	double dag_steps_per_s[2], dag_cpu_us[2], dag_tps[2];
	double create_p50_ms, transition_p50_ms, transition_p99_ms;
	double floor_steps_per_s[2], floor_cpu_us[2], floor_pg_cpu_us[2]; /* [0] unbatched, [1] batched */
	double floor_stage_p50_ms, floor_stage_p99_ms;
} summary;

static void write_summary(void)
{
	const char *path = getenv("TASKER_BENCH_SUMMARY");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (!f)
		return;
	fprintf(f, "{\"plans\": \"%s\", \"stage_p50_ms\": %.3f, \"stage_p99_ms\": %.3f, \"unbatched_steps_per_s\": %.1f, "
	        "\"batched_steps_per_s\": %.1f, \"cpu_us_per_step_unbatched\": %.1f, \"cpu_us_per_step_batched\": %.1f, "
	        "\"dag_unbatched_steps_per_s\": %.1f, \"dag_batched_steps_per_s\": %.1f, "
	        "\"dag_cpu_us_per_step_unbatched\": %.1f, \"dag_cpu_us_per_step_batched\": %.1f, "
	        "\"dag_transactions_per_step_unbatched\": %.2f, \"create_p50_ms\": %.3f, "
	        "\"transition_p50_ms\": %.3f, \"transition_p99_ms\": %.3f, \"pg_cpu_us_per_step_unbatched\": %.1f, "
	        "\"floor_steps_per_s\": %.1f, \"floor_cpu_us_per_step\": %.1f, \"floor_pg_cpu_us_per_step\": %.1f, "
	        "\"floor_batched_steps_per_s\": %.1f, \"floor_cpu_us_per_step_batched\": %.1f, "
	        "\"floor_stage_p50_ms\": %.3f, \"floor_stage_p99_ms\": %.3f}\n",
	        fresh_plans() ? "fresh" : "analyzed", summary.stage_p50_ms, summary.stage_p99_ms,
	        summary.single_steps_per_s[0], summary.single_steps_per_s[1], summary.single_cpu_us[0],
	        summary.single_cpu_us[1], summary.dag_steps_per_s[0], summary.dag_steps_per_s[1], summary.dag_cpu_us[0],
	        summary.dag_cpu_us[1], summary.dag_tps[0], summary.create_p50_ms, summary.transition_p50_ms,
	        summary.transition_p99_ms, summary.single_pg_cpu_us[0], summary.floor_steps_per_s[0],
	        summary.floor_cpu_us[0], summary.floor_pg_cpu_us[0], summary.floor_steps_per_s[1], summary.floor_cpu_us[1],
	        summary.floor_stage_p50_ms, summary.floor_stage_p99_ms);
	fclose(f);
}

static void row(const char *name, const char *measured, const char *target, int met)
{
	printf("| %s | %s | %s | %s |\n", name, measured, target, met < 0 ? "—" : met ? "met" : "NOT MET");
	fflush(stdout);
}

static PGconn *pg_open(void)
{
	PGconn *c = PQconnectdb(url());
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static void pg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

static long long pg_count(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	long long v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static tasker_client *open_client(unsigned pool)
{
	tasker_client *c = NULL;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.pool_size = pool;
	if (tasker_client_open(&c, &o) || tasker_db_apply_migrations(NULL, c))
		die("connecting");
	return c;
}

/* Empties every table the engine writes, so each benchmark starts from the same state. */
static void reset_data(void)
{
	PGconn *c = pg_open();
	pg_exec(c, "TRUNCATE tasker_workflow_step_transitions, tasker_task_transitions, tasker_workflow_step_edges, "
	           "tasker_workflow_steps, tasker_task_annotations, tasker_tasks, tasker_ready_steps, "
	           "tasker_step_claims");
	PQfinish(c);
}

/* The tables as autovacuum keeps them in a running system: dead row versions removed, statistics
 * current. Plans are prepared once per connection and kept (generic plans); ANALYZE invalidates them,
 * so each connection re-plans with the new statistics. Never run it on empty tables: a plan made for
 * an empty table (seq scans) would then be kept while the table grows. */
static void analyze(void)
{
	if (fresh_plans())
		return;
	PGconn *c = pg_open();
	pg_exec(c, "VACUUM ANALYZE");
	PQfinish(c);
}

/* ------------------------------------------------------------------ profile (bench/profile.sh) */

/* With $TASKER_BENCH_PROFILE set (a directory; the server must load pg_stat_statements with
 * track_planning on), each measured run resets the server's statement statistics before it starts
 * and writes them, per unit of work, to <dir>/<label>.md when it ends. Without it, nothing happens. */
static const char *profile_dir(void) { return getenv("TASKER_BENCH_PROFILE"); }

static char wal_start[32]; /* the measured run's first WAL position (pg_walinspect) */
/* With $TASKER_BENCH_PERF=1 as well, `perf record` samples every process's call graphs (DWARF) for the
 * length of each measured run, into <dir>/<label>.perf.data; <dir>/<label>.units says what one unit of
 * work is, for bench/perf_breakdown.py. */
static pid_t perf_pid;
static int postmaster_pid; /* the server's, when known (find_postmaster) */
static void find_postmaster(PGconn *pg);

static void perf_begin(void)
{
	const char *want = getenv("TASKER_BENCH_PERF");
	if (!want || strcmp(want, "1") != 0)
		return;
	char out[1024];
	snprintf(out, sizeof out, "%s/running.perf.data", profile_dir());
	perf_pid = fork();
	if (perf_pid == 0) {
		execlp("perf", "perf", "record", "-q", "-a", "--call-graph", "dwarf,16384", "-F", "199", "-o", out,
		       (char *)NULL);
		fprintf(stderr, "bench: cannot run perf: %s\n", strerror(errno));
		_exit(127);
	}
	usleep(500000); /* perf has opened its counters */
}

static void perf_end(const char *label, long long units, const char *unit)
{
	if (perf_pid <= 0)
		return;
	int status;
	kill(perf_pid, SIGINT);
	waitpid(perf_pid, &status, 0);
	perf_pid = 0;
	/* perf finishes its file on SIGINT, then ends by that signal */
	int ok = WIFEXITED(status) ? WEXITSTATUS(status) == 0 : WIFSIGNALED(status) && WTERMSIG(status) == SIGINT;
	if (!ok) {
		fprintf(stderr, "bench: perf record failed (status %d)\n", status);
		exit(1);
	}
	char from[1024], to[1024];
	snprintf(from, sizeof from, "%s/running.perf.data", profile_dir());
	snprintf(to, sizeof to, "%s/%s.perf.data", profile_dir(), label);
	if (rename(from, to) != 0) {
		fprintf(stderr, "bench: cannot rename %s: %s\n", from, strerror(errno));
		exit(1);
	}
	snprintf(to, sizeof to, "%s/%s.units", profile_dir(), label);
	FILE *f = fopen(to, "w");
	if (!f) {
		fprintf(stderr, "bench: cannot write %s\n", to);
		exit(1);
	}
	fprintf(f, "%lld %s %d\n", units, unit, postmaster_pid);
	fclose(f);
}

static void profile_begin(void)
{
	if (!profile_dir())
		return;
	PGconn *c = pg_open();
	pg_exec(c, "SELECT pg_stat_statements_reset()");
	pg_exec(c, "SELECT pg_stat_reset_shared('wal')");
	PGresult *r = PQexec(c, "SELECT pg_current_wal_insert_lsn()::text");
	snprintf(wal_start, sizeof wal_start, "%s", PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	if (getenv("TASKER_BENCH_PERF"))
		find_postmaster(c); /* perf_breakdown.py counts this server's processes only */
	PQfinish(c);
	perf_begin();
}

/* The WAL records written since profile_begin, per unit of work, by kind (resource manager and
 * record type: a heap insert, a non-HOT or HOT update, a row lock, a b-tree leaf insert...), when
 * the server has pg_walinspect. The whole server's WAL: other databases' and autovacuum's too. */
static void profile_wal_kinds(FILE *f, PGconn *c, long long units, const char *unit)
{
	PGresult *r = PQexec(c, "SELECT 1 FROM pg_extension WHERE extname = 'pg_walinspect'");
	int have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && wal_start[0];
	PQclear(r);
	if (!have)
		return;
	/* pg_walinspect reads only flushed WAL: a durable commit flushes every record before its own */
	pg_exec(c, "SET synchronous_commit = on");
	pg_exec(c, "SELECT txid_current()");
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "SELECT \"resource_manager/record_type\", round(count::numeric / %lld, 2), "
	         "round((record_size + fpi_size)::numeric / %lld) FROM pg_get_wal_stats('%s', pg_current_wal_flush_lsn(), "
	         "true) WHERE count > 0 ORDER BY count DESC LIMIT 20",
	         units, units, wal_start);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(f, "(pg_walinspect: %s)\n\n", PQerrorMessage(c));
		PQclear(r);
		return;
	}
	fprintf(f, "| WAL record kind (pg_walinspect) | records/%s | bytes/%s |\n|---|---|---|\n", unit, unit);
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(f, "| %s | %s | %s |\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
	fprintf(f, "\n");
	PQclear(r);
}

static void profile_end(const char *label, long long units, const char *unit)
{
	if (!profile_dir())
		return;
	perf_end(label, units, unit);
	char path[1024], sql[2048];
	snprintf(path, sizeof path, "%s/%s.md", profile_dir(), label);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "bench: cannot write %s\n", path);
		exit(1);
	}
	PGconn *c = pg_open();
	pg_exec(c, "SELECT pg_stat_force_next_flush()");
	fprintf(f, "### %s (%lld %ss)\n\n", label, units, unit);
	snprintf(sql, sizeof sql,
	         "SELECT round(sum(calls) FILTER (WHERE toplevel)::numeric / %lld, 2), "
	         "round(COALESCE(sum(calls) FILTER (WHERE NOT toplevel), 0)::numeric / %lld, 2), "
	         "round((sum(total_exec_time) FILTER (WHERE toplevel) * 1000 / %lld)::numeric), "
	         "round((sum(total_plan_time) FILTER (WHERE toplevel) * 1000 / %lld)::numeric), "
	         "round(sum(wal_bytes) FILTER (WHERE toplevel) / %lld), "
	         "round(sum(wal_records) FILTER (WHERE toplevel) / %lld, 1) "
	         "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()",
	         units, units, units, units, units, units);
	PGresult *r = PQexec(c, sql);
	/* with track = all, a function's statements are counted inside its call as well: the totals are the
	 * top-level statements' */
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		fprintf(f, "Per %s: %s statements sent (BEGIN/COMMIT included) and %s nested ones (run by the functions, "
		        "and the foreign-key checks; 0 unless pg_stat_statements.track = all), execution %s µs, "
		        "planning %s µs, WAL %s bytes in %s records.\n\n", unit, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		        PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
	PQclear(r);
	r = PQexec(c, "SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync, round(wal_sync_time) FROM pg_stat_wal");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		fprintf(f, "Whole server (pg_stat_wal): %s WAL records, %s full-page images, %s bytes, %s writes, %s syncs "
		        "(%s ms in sync; 0 unless track_wal_io_timing).\n\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		        PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
	PQclear(r);
	profile_wal_kinds(f, c, units, unit);
	fprintf(f, "| statement | nested | calls/%s | exec µs/call | max exec ms | plan µs/call | rows/call | buffers/call "
	        "| WAL bytes/call | exec+plan µs/%s |\n|---|---|---|---|---|---|---|---|---|---|\n", unit, unit);
	snprintf(sql, sizeof sql,
	         "SELECT regexp_replace(left(regexp_replace(s.query, '\\s+', ' ', 'g'), 160), '[|\\n]', ' ', 'g'), "
	         "CASE WHEN s.toplevel THEN '' ELSE 'yes' END, round(s.calls::numeric / %lld, 2), "
	         "round((s.mean_exec_time * 1000)::numeric), round(s.max_exec_time::numeric, 2), "
	         "round((s.total_plan_time * 1000 / s.calls)::numeric), round(s.rows::numeric / s.calls, 1), "
	         "round((s.shared_blks_hit + s.shared_blks_read)::numeric / s.calls, 1), "
	         "round(s.wal_bytes / s.calls), round(((s.total_exec_time + s.total_plan_time) * 1000 / %lld)::numeric) "
	         "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
	         "WHERE d.datname = current_database() AND s.calls > 0 "
	         "ORDER BY s.total_exec_time + s.total_plan_time DESC LIMIT 60",
	         units, units);
	r = PQexec(c, sql);
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		fprintf(f, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", PQgetvalue(r, i, 0),
		        PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
		        PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8),
		        PQgetvalue(r, i, 9));
	PQclear(r);
	fprintf(f, "\n");
	PQfinish(c);
	fclose(f);
}

/* ------------------------------------------------------------------ templates */

/* A template as YAML text: shape "chain" (each step depends on the one before), "tree" (step i on
 * step (i-1)/2) or "fan" (one root, n-2 in parallel, one join). */
static char *template_text(const char *name, const char *shape, int n)
{
	size_t cap = 256 + (size_t)n * 200 + (strcmp(shape, "fan") == 0 ? (size_t)n * 16 : 0);
	char *t = malloc(cap);
	size_t len = (size_t)snprintf(t, cap, "name: %s\nnamespace_name: bench\nversion: 1.0.0\nstep_templates:\n", name);
	for (int i = 0; i < n; i++) {
		len += (size_t)snprintf(t + len, cap - len, "  - name: s%04d\n    handler_class: Bench::Noop\n", i);
		if (i == 0)
			continue;
		if (strcmp(shape, "chain") == 0) {
			len += (size_t)snprintf(t + len, cap - len, "    depends_on_step: s%04d\n", i - 1);
		} else if (strcmp(shape, "tree") == 0) {
			len += (size_t)snprintf(t + len, cap - len, "    depends_on_step: s%04d\n", (i - 1) / 2);
		} else if (i < n - 1 || n == 2) {
			len += (size_t)snprintf(t + len, cap - len, "    depends_on_step: s0000\n");
		} else {
			len += (size_t)snprintf(t + len, cap - len, "    depends_on_steps: [");
			for (int k = 1; k < n - 1; k++)
				len += (size_t)snprintf(t + len, cap - len, "%ss%04d", k > 1 ? ", " : "", k);
			len += (size_t)snprintf(t + len, cap - len, "]\n");
		}
	}
	return t;
}

static void register_template(tasker_client *c, const char *name, const char *shape, int n)
{
	char *text = template_text(name, shape, n);
	if (tasker_template_register_string(NULL, c, text, 0, name, NULL))
		die("registering a template");
	free(text);
}

static int64_t create_task(tasker_client *c, const char *name)
{
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = name;
	r.namespace_name = "bench";
	r.template_version = "1.0.0";
	r.context_json = "{\"bench\": true}";
	int64_t id = 0;
	if (tasker_task_create(&id, c, &r) < 0)
		die("creating a task");
	return id;
}

/* ------------------------------------------------------------------ handlers */

static _Atomic int64_t last_return_us;  /* when the previous handler returned (latency) */
static int64_t *stage_us;
static atomic_size_t nstages;
static size_t max_stages;

static int noop(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step, (void)err, (void)payload;
	*out = NULL;
	return 0;
}

static int timed(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)err, (void)payload;
	int64_t start = now_us();
	int64_t prev = atomic_load(&last_return_us);
	if (strcmp(step->name, "s0000") != 0 && prev) {
		size_t i = atomic_fetch_add(&nstages, 1);
		if (i < max_stages)
			stage_us[i] = start - prev;
	}
	*out = NULL;
	atomic_store(&last_return_us, now_us());
	return 0;
}

static tasker_worker *new_worker(tasker_client *c, unsigned claim_batch, unsigned completion_batch,
                                 int (*fn)(char **, const tasker_claimed_step *, tasker_step_error *, void *))
{
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.claim_batch = claim_batch;
	o.completion_batch = completion_batch;
	if (tasker_worker_new(&w, c, &o))
		die("creating a worker");
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, "Bench::Noop", fn, NULL, NULL};
	if (tasker_worker_register(w, &h))
		die("registering the handler");
	return w;
}

/* ------------------------------------------------------------------ resolution */

/* Incremental resolution (what the engine runs when a step completes: examine its children) vs the
 * SQL function over the whole task, on the same task state: the root complete, the rest pending. */
static void bench_resolution(void)
{
	static const int sizes[] = {10, 100, 1000};
	static const double targets[] = {10, 0, 100};
	tasker_client *c = open_client(2);
	PGconn *pg = pg_open();
	for (int k = 0; k < 3; k++) {
		int n = sizes[k];
		char name[32];
		snprintf(name, sizeof name, "resolve_%d", n);
		register_template(c, name, "tree", n);
		int64_t task = create_task(c, name);
		char sql[512];
		snprintf(sql, sizeof sql,
		         "WITH root AS (SELECT min(workflow_step_id) id FROM tasker_workflow_steps WHERE task_id = %lld) "
		         "INSERT INTO tasker_workflow_step_transitions (workflow_step_id, to_state, sort_key, most_recent, "
		         "created_at, updated_at) SELECT id, 'complete', 10, true, now(), now() FROM root",
		         (long long)task);
		pg_exec(pg, sql);
		snprintf(sql, sizeof sql, "SELECT min(workflow_step_id) FROM tasker_workflow_steps WHERE task_id = %lld",
		         (long long)task);
		int64_t root = pg_count(pg, sql);
		snprintf(sql, sizeof sql, "DELETE FROM tasker_ready_steps WHERE task_id = %lld", (long long)task);
		pg_exec(pg, sql);
		pg_exec(pg, "ANALYZE");

		int reps = n >= 1000 ? 200 : 1000;
		tdb *db = NULL;
		if (tclient_acquire(c, &db))
			die("acquire");
		int64_t inc = 0;
		for (int i = 0; i < reps; i++) {
			tdb_begin(db);
			tqueue_batch b;
			tqueue_batch_init(&b);
			int64_t t0 = now_us();
			if (tprogress_children(db, tclient_registry(c), &root, 1, &b))
				die("resolving");
			inc += now_us() - t0;
			if (b.count != 2)
				fprintf(stderr, "bench: expected 2 children ready, got %zu\n", b.count);
			tqueue_batch_free(&b);
			tdb_rollback(db);
		}
		tclient_release(c, db);
		snprintf(sql, sizeof sql, "SELECT count(*) FROM get_step_readiness_status(%lld) WHERE ready_for_execution",
		         (long long)task);
		int64_t full = 0;
		for (int i = 0; i < reps; i++) {
			int64_t t0 = now_us();
			long long ready = pg_count(pg, sql);
			full += now_us() - t0;
			if (ready != 2)
				fprintf(stderr, "bench: SQL says %lld ready, expected 2\n", ready);
		}
		double a = (double)inc / reps, b = (double)full / reps, ratio = b / a;
		char m[160], t[64];
		snprintf(m, sizeof m, "incremental %.0f µs vs SQL %.0f µs: **%.1f×**", a, b, ratio);
		if (targets[k] > 0)
			snprintf(t, sizeof t, "≥ %.0f× faster", targets[k]);
		else
			snprintf(t, sizeof t, "(no target)");
		char label[64];
		snprintf(label, sizeof label, "dependency resolution, %d steps", n);
		row(label, m, t, targets[k] > 0 ? ratio >= targets[k] : -1);
	}
	PQfinish(pg);
	tasker_client_free(c);
}

/* ------------------------------------------------------------------ latency */

static double proc_cpu_seconds_of_postgres(void);
static long long commits(PGconn *pg);

/* CPU seconds of this process so far (every thread: the worker's and the task creation's). */
static double self_cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static void bench_latency(void)
{
	tasker_client *c = open_client(4);
	register_template(c, "chain_20", "chain", 20);
	int chains = 30;
	max_stages = (size_t)chains * 19;
	stage_us = calloc(max_stages, sizeof *stage_us);
	atomic_store(&nstages, 0);
	tasker_worker *w = new_worker(c, 0, 0, timed);
	/* History (500 chains, 10,000 steps, run side by side), then statistics: plans made while the
	 * tables hold a few thousand rows still scan them, and a prepared statement keeps its plan until
	 * the next ANALYZE (bench/RESULTS.md). */
	for (int i = 0; i < 500; i++)
		create_task(c, "chain_20");
	if (tasker_worker_run_until_idle(w))
		die("running");
	/* The history's connections close before the count starts: a backend reports its commits up to
	 * 10 s late (at its next transaction a second on, or as it exits), so the history's last second
	 * arrived inside the measured run (1.9-2.0 transactions per stage counted where each stage commits
	 * once) and the measured run's own after it (0.46-0.59). The measured chains run on new
	 * connections, planned after the ANALYZE as the old ones would have re-planned. */
	tasker_worker_free(w);
	tasker_client_free(c);
	usleep(1500000);
	analyze();
	c = open_client(4);
	w = new_worker(c, 0, 0, timed);
	atomic_store(&nstages, 0);
	/* What a stage costs besides its wall time, which a busy machine stretches: transactions and CPU
	 * (this process: the worker and the chains' creation; the server's processes). */
	PGconn *pg = pg_open();
	find_postmaster(pg);
	long long tx0 = commits(pg);
	double pg0 = proc_cpu_seconds_of_postgres(), self0 = self_cpu_seconds();
	profile_begin();
	for (int i = 0; i < chains; i++) {
		atomic_store(&last_return_us, 0);
		create_task(c, "chain_20");
		if (tasker_worker_run_until_idle(w))
			die("running");
	}
	tasker_worker_free(w);
	tasker_client_free(c); /* its backends report their counts as they exit */
	usleep(1500000);
	size_t n = atomic_load(&nstages);
	profile_end("latency", (long long)chains * 19, "stage");
	double stages = (double)chains * 19;
	double self_us = (self_cpu_seconds() - self0) * 1e6 / stages;
	double pg_us = (proc_cpu_seconds_of_postgres() - pg0) * 1e6 / stages;
	double txs = (double)(commits(pg) - tx0) / stages;
	PQfinish(pg);
	if (n > max_stages)
		n = max_stages;
	double p50 = pct(stage_us, n, 0.5) / 1000.0, p99 = pct(stage_us, n, 0.99) / 1000.0;
	summary.stage_p50_ms = p50;
	summary.stage_p99_ms = p99;
	char m[256];
	snprintf(m, sizeof m, "p50 **%.2f ms**, p99 **%.2f ms** (%zu stages); per stage %.2f transactions, CPU %.0f µs "
	         "(worker %.0f + PostgreSQL %.0f)", p50, p99, n, txs, self_us + pg_us, self_us, pg_us);
	row("stage latency, 20-step chain (parent handler return → child handler start)", m, "p50 < 1 ms, p99 < 5 ms",
	    p50 < 1.0 && p99 < 5.0);
	free(stage_us);
}

/* ------------------------------------------------------------------ throughput */


/* The server's postmaster, from postmaster.pid in its data directory: only its processes count
 * (other PostgreSQL servers on the machine must not). */
static void find_postmaster(PGconn *pg)
{
	PGresult *r = PQexec(pg, "SHOW data_directory");
	char path[1024];
	snprintf(path, sizeof path, "%s/postmaster.pid", PQgetvalue(r, 0, 0));
	PQclear(r);
	FILE *f = fopen(path, "r");
	if (!f || fscanf(f, "%d", &postmaster_pid) != 1) {
		fprintf(stderr, "bench: cannot read %s (run the benchmark on the database server's host)\n", path);
		exit(1);
	}
	fclose(f);
}

static double proc_cpu_seconds_of_postgres(void)
{
	/* utime + stime of the postmaster and its children (backends, walwriter, checkpointer, …),
	 * including children that exited (cutime, cstime of the postmaster). */
	double total = 0;
	long hz = sysconf(_SC_CLK_TCK);
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = 0;
		char *close = strrchr(buf, ')');
		if (!close)
			continue;
		int pid = atoi(buf), ppid = 0;
		unsigned long ut = 0, st = 0;
		long cut = 0, cst = 0;
		/* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime */
		if (sscanf(close + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ppid, &ut, &st, &cut,
		           &cst) != 5)
			continue;
		if (pid == postmaster_pid)
			total += (double)(ut + st + (unsigned long)cut + (unsigned long)cst) / (double)hz;
		else if (ppid == postmaster_pid)
			total += (double)(ut + st) / (double)hz;
	}
	if (d)
		closedir(d);
	return total;
}

static long long commits(PGconn *pg)
{
	pg_exec(pg, "SELECT pg_stat_force_next_flush()");
	pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
	return pg_count(pg, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()");
}

/* Copies a worker's count of recorded steps into *slot every 100 ms (a page shared with the parent),
 * until *stop. */
typedef struct {
	tasker_worker *w;
	_Atomic long long *slot;
	atomic_int stop;
} counter_copy;

static void *copy_count(void *arg)
{
	counter_copy *cc = arg;
	while (!atomic_load(&cc->stop)) {
		atomic_store(cc->slot, (long long)tasker_worker_processed(cc->w));
		usleep(100000);
	}
	atomic_store(cc->slot, (long long)tasker_worker_processed(cc->w));
	return NULL;
}

/* A worker process: runs until no work is left, reports nothing (the parent measures) except, with
 * `slot`, how many steps it has recorded so far. */
static void worker_process(unsigned claim_batch, unsigned completion_batch, _Atomic long long *slot)
{
	tasker_client *c = open_client(4);
	tasker_worker *w = new_worker(c, claim_batch, completion_batch, noop);
	counter_copy cc = {w, slot, 0};
	pthread_t th;
	if (slot && pthread_create(&th, NULL, copy_count, &cc))
		die("starting the step counter");
	if (tasker_worker_run_until_idle(w))
		die("worker");
	if (slot) {
		atomic_store(&cc.stop, 1);
		pthread_join(th, NULL);
	}
	tasker_worker_free(w);
	tasker_client_free(c);
	_exit(0);
}

/* Waits for the two worker processes; their CPU seconds (user + system). Exits if one failed. */
static double wait_for_workers(const pid_t kids[2], const char *what)
{
	double cpu = 0;
	for (int k = 0; k < 2; k++) {
		int status;
		struct rusage ru;
		wait4(kids[k], &status, 0, &ru);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench: a %s process failed\n", what);
			exit(1);
		}
		cpu += (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		       (double)ru.ru_stime.tv_usec / 1e6;
	}
	return cpu;
}

/* Where a measured run starts: after a checkpoint (no flush of the set-up's pages inside it), with the
 * server's commits and CPU so far and the profile begun (bench/profile.sh). */
typedef struct {
	long long commits;
	double pg_cpu;
	int64_t t0;
} run_clock;

static run_clock run_start(PGconn *pg)
{
	find_postmaster(pg);
	pg_exec(pg, "CHECKPOINT");
	profile_begin();
	run_clock rc = {commits(pg), proc_cpu_seconds_of_postgres(), now_us()};
	return rc;
}

/* What a measured run of two worker processes cost, from run_start to their exit. */
typedef struct {
	double secs, worker_cpu, pg_cpu;
	long long xacts;
} run_cost;

/* Waits for the run's two processes (`what` names them if one fails), lets their backends report
 * their statistics, ends the profile (`label`, `units` steps) and reads the server's commits and CPU. */
static run_cost run_end(PGconn *pg, const run_clock *rc, const pid_t kids[2], const char *what, const char *label,
                        long long units)
{
	run_cost r;
	r.worker_cpu = wait_for_workers(kids, what);
	r.secs = (double)(now_us() - rc->t0) / 1e6;
	usleep(1500000); /* the workers' backends flush their statistics as they exit */
	profile_end(label, units, "step");
	r.pg_cpu = proc_cpu_seconds_of_postgres() - rc->pg_cpu;
	r.xacts = commits(pg) - rc->commits - 2; /* the two stats queries themselves */
	return r;
}

/* A new backlog as the throughput rows run it: `tasks` tasks of template `tpl` (one step, or a tree of
 * `steps_per_task`), after a tenth as many run to completion by the engine. History first, as in a
 * running system: with the transition tables empty when statistics are taken, every current-state join
 * is planned as a scan of the whole table, and that plan is kept while the table grows
 * (bench/RESULTS.md). The set-up's client is closed: its backends report their commits as they exit,
 * before a count starts. Returns the id of the history's last task. */
static long long backlog(const char *tpl, int steps_per_task, int tasks)
{
	reset_data();
	tasker_client *c = open_client(4);
	register_template(c, tpl, steps_per_task == 1 ? "chain" : "tree", steps_per_task);
	for (int i = 0; i < tasks / 10; i++)
		create_task(c, tpl);
	tasker_worker *hw = new_worker(c, 0, 0, noop);
	if (tasker_worker_run_until_idle(hw))
		die("running the history");
	tasker_worker_free(hw);
	PGconn *pg = pg_open();
	long long after = pg_count(pg, "SELECT COALESCE(max(task_id), 0) FROM tasker_tasks");
	PQfinish(pg);
	for (int i = 0; i < tasks; i++)
		create_task(c, tpl);
	tasker_client_free(c);
	return after;
}

static void bench_throughput_one(const char *label, const char *tpl, int steps_per_task, int tasks, int batched)
{
	backlog(tpl, steps_per_task, tasks);
	int history = tasks / 10; /* the backlog's history, complete before the run */
	analyze();
	PGconn *pg = pg_open();
	run_clock rc = run_start(pg);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0)
			worker_process(batched ? 0 : 1, batched ? 0 : 1, NULL);
	}
	char plabel[64];
	snprintf(plabel, sizeof plabel, "throughput-%s-%s", steps_per_task == 1 ? "single" : "dag10",
	         batched ? "batched" : "unbatched");
	run_cost cost = run_end(pg, &rc, kids, "worker", plabel, (long long)tasks * steps_per_task);
	long long steps = (long long)tasks * steps_per_task;
	long long done = pg_count(pg, "SELECT count(*) FROM tasker_tasks WHERE complete");
	if (done != tasks + history)
		fprintf(stderr, "bench: only %lld of %d tasks completed\n", done - history, tasks);
	double rate = (double)steps / cost.secs, tps = (double)cost.xacts / (double)steps;
	double cpu_us = (cost.worker_cpu + cost.pg_cpu) * 1e6 / (double)steps;
	if (steps_per_task == 1) {
		summary.single_steps_per_s[batched] = rate;
		summary.single_cpu_us[batched] = cpu_us;
		summary.single_pg_cpu_us[batched] = cost.pg_cpu * 1e6 / (double)steps;
	} else {
		summary.dag_steps_per_s[batched] = rate;
		summary.dag_cpu_us[batched] = cpu_us;
		summary.dag_tps[batched] = tps;
	}
	char m[512], name[512], t[160];
	snprintf(name, sizeof name, "throughput, %s, %s", label, batched ? "batched" : "unbatched");
	snprintf(m, sizeof m, "**%.0f steps/s** (%lld steps in %.2f s), %.2f transactions/step, CPU %.0f µs/step "
	         "(worker %.0f + PostgreSQL %.0f)", rate, steps, cost.secs, tps, cpu_us,
	         cost.worker_cpu * 1e6 / (double)steps, cost.pg_cpu * 1e6 / (double)steps);
	int met = batched ? rate >= 10000 && tps <= 2 && cpu_us <= 150 : rate >= 2000 && tps <= 2;
	snprintf(t, sizeof t, batched ? "≥ 10,000 steps/s, ≤ 2 transactions/step, ≤ 150 µs CPU/step"
	                              : "≥ 2,000 steps/s, ≤ 2 transactions/step");
	row(name, m, t, met);
	PQfinish(pg);
}

/* which: 1 batched rows, 2 unbatched rows, 3 both */
static void bench_throughput(int which)
{
	for (int batched = 1; batched >= 0; batched--)
		if (which & (batched ? 1 : 2))
			bench_throughput_one("20,000 single-step tasks, 2 workers", "single", 1, 20000, batched);
	for (int batched = 1; batched >= 0; batched--)
		if (which & (batched ? 1 : 2))
			bench_throughput_one("2,000 ten-step DAGs, 2 workers", "dag10", 10, 2000, batched);
}


/* ------------------------------------------------------------------ floor */

/* The floor: what writing the Rails tables truthfully costs by itself, with none of the engine's
 * coordination (no ready queue, no claims or leases, no locks, no pick, no payload read, no events).
 * A step is started by one transaction (its `in_progress` transition, and the task's when it is the
 * task's first) and finished by another (the step row, the `most_recent` flip and the `complete`
 * transition; for the task's last step the task's flip, transition and `complete` flag): the least a
 * reader of the Rails tables must see, a step shown running while it runs and finished when it is.
 * Each transaction is one pipeline of prepared statements (one round trip), generic plans as the
 * engine makes them. Any engine that keeps the Rails tables as this one does pays at least this per
 * step; what the engine pays above it is its coordination. The batched floor writes the same rows
 * for 32 steps per statement (the engine's default claim and completion batch). */

#define FLOOR_NOW "timezone('UTC', now())"
#define FLOOR_STEP_TRANSITION(from, to, meta, key)                                                              \
	"INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, sort_key, " \
	"most_recent, created_at, updated_at) SELECT id, '" from "', '" to "', '" meta "', " key ", true, " FLOOR_NOW \
	", " FLOOR_NOW " FROM unnest($1::bigint[]) id"
#define FLOOR_TASK_TRANSITION(from, to, key)                                                                     \
	"INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, most_recent, "      \
	"created_at, updated_at) SELECT id, '" from "', '" to "', '{}', " key ", true, " FLOOR_NOW ", " FLOOR_NOW     \
	" FROM unnest($2::bigint[]) id"

/* Each statement takes the steps as $1 and the tasks as $2 (arrays: one element unbatched). */
static const struct {
	const char *name, *sql;
} floor_statements[] = {
	{"step_start", FLOOR_STEP_TRANSITION("pending", "in_progress", "{}", "10")},
	{"task_start", FLOOR_TASK_TRANSITION("pending", "in_progress", "10")},
	{"step_row", "UPDATE tasker_workflow_steps SET processed = true, processed_at = " FLOOR_NOW ", in_process = false, "
	             "attempts = COALESCE(attempts, 0) + 1, last_attempted_at = " FLOOR_NOW ", backoff_request_seconds = "
	             "NULL, results = '{}', updated_at = " FLOOR_NOW " WHERE workflow_step_id = ANY($1::bigint[])"},
	{"step_flip", "UPDATE tasker_workflow_step_transitions SET most_recent = false, updated_at = " FLOOR_NOW
	              " WHERE workflow_step_id = ANY($1::bigint[]) AND most_recent"},
	{"step_done", FLOOR_STEP_TRANSITION("in_progress", "complete", "{\"attempt\": 1}", "20")},
	{"task_flip", "UPDATE tasker_task_transitions SET most_recent = false, updated_at = " FLOOR_NOW
	              " WHERE task_id = ANY($2::bigint[]) AND most_recent"},
	{"task_done", FLOOR_TASK_TRANSITION("in_progress", "complete", "20")},
	{"task_row", "UPDATE tasker_tasks SET complete = true, updated_at = " FLOOR_NOW " WHERE task_id = ANY($2::bigint[])"},
};

static PGconn *floor_open(void)
{
	PGconn *c = pg_open();
	/* the session the engine's connections have (core/src/db.c) */
	pg_exec(c, "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; "
	           "SET jit = off");
	static const Oid types[2] = {1016, 1016}; /* int8[]: the steps and the tasks */
	for (size_t i = 0; i < sizeof floor_statements / sizeof floor_statements[0]; i++) {
		PGresult *r = PQprepare(c, floor_statements[i].name, floor_statements[i].sql, 2, types);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench: preparing %s: %s", floor_statements[i].name, PQerrorMessage(c));
			exit(1);
		}
		PQclear(r);
	}
	if (!PQenterPipelineMode(c)) {
		fprintf(stderr, "bench: pipeline mode: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

/* An array literal of ids. */
static char *floor_ids(const int64_t *ids, size_t n)
{
	char *s = malloc(n * 21 + 3);
	size_t len = 0;
	s[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(s + len, "%s%lld", i ? "," : "", (long long)ids[i]);
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

/* One transaction, one round trip: BEGIN, the named statements, COMMIT. Statement i gets
 * ($1, $2) = (steps[i], tasks) and must write rows[i] rows. */
static void floor_txn(PGconn *c, const char *tasks, const char *const *names, const char *const *steps,
                      const int *rows, int n)
{
	int ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
	for (int i = 0; i < n && ok; i++) {
		const char *params[2] = {steps[i], tasks};
		ok = PQsendQueryPrepared(c, names[i], 2, params, NULL, NULL, 0);
	}
	ok = ok && PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c);
	if (!ok) {
		fprintf(stderr, "bench: sending the floor's transaction: %s", PQerrorMessage(c));
		exit(1);
	}
	for (int i = 0; i < n + 2; i++) { /* BEGIN, each statement, COMMIT: a result, then the NULL that ends it */
		PGresult *r = PQgetResult(c);
		ExecStatusType st = PQresultStatus(r);
		if (st != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench: the floor's statement %d (tasks %s): %s", i, tasks, PQresultErrorMessage(r));
			exit(1);
		}
		if (i > 0 && i <= n && atoi(PQcmdTuples(r)) != rows[i - 1]) {
			fprintf(stderr, "bench: the floor's %s wrote %s rows, not %d (tasks %s)\n", names[i - 1], PQcmdTuples(r),
			        rows[i - 1], tasks);
			exit(1);
		}
		PQclear(r);
		if (PQgetResult(c) != NULL) {
			fprintf(stderr, "bench: the floor's pipeline out of step\n");
			exit(1);
		}
	}
	PGresult *r = PQgetResult(c);
	if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		fprintf(stderr, "bench: the floor's pipeline: no sync\n");
		exit(1);
	}
	PQclear(r);
}

static const char *const FLOOR_START[] = {"step_start", "task_start"};
static const char *const FLOOR_FINISH[] = {"step_row", "step_flip", "step_done", "task_flip", "task_done", "task_row"};

/* The steps and tasks (one step each) of the tasks after task `after`, in task order. */
static void floor_steps(PGconn *pg, long long after, int64_t **steps, int64_t **tasks, size_t *n)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT workflow_step_id, task_id FROM tasker_workflow_steps WHERE task_id > %lld "
	         "ORDER BY task_id, workflow_step_id", after);
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench: %s", PQerrorMessage(pg));
		exit(1);
	}
	*n = (size_t)PQntuples(r);
	*steps = malloc(*n * sizeof **steps);
	*tasks = malloc(*n * sizeof **tasks);
	for (size_t i = 0; i < *n; i++) {
		(*steps)[i] = atoll(PQgetvalue(r, (int)i, 0));
		(*tasks)[i] = atoll(PQgetvalue(r, (int)i, 1));
	}
	PQclear(r);
}

/* Single-step tasks as the throughput rows run them (20,000 after a tenth as many run by the engine as
 * history, statistics taken, two processes), each step started and finished by the floor's two
 * transactions, `batch` steps per statement; the processes take alternate batches, so they never wait
 * on each other. */
static void bench_floor_throughput(int batch)
{
	int tasks = 20000;
	long long after = backlog("single", 1, tasks);
	PGconn *pg = pg_open();
	pg_exec(pg, "DELETE FROM tasker_ready_steps"); /* the floor has no queue */
	analyze();
	size_t n;
	int64_t *steps, *task_ids;
	floor_steps(pg, after, &steps, &task_ids, &n);
	if (n != (size_t)tasks) {
		fprintf(stderr, "bench: the floor found %zu steps to run, expected %d\n", n, tasks);
		exit(1);
	}
	run_clock rc = run_start(pg);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] != 0)
			continue;
		PGconn *w = floor_open();
		for (size_t i = (size_t)k * (size_t)batch; i < n; i += 2 * (size_t)batch) {
			size_t m = n - i < (size_t)batch ? n - i : (size_t)batch;
			char *s = floor_ids(steps + i, m), *t = floor_ids(task_ids + i, m);
			const char *ss[6] = {s, s, s, s, s, s};
			const int r[6] = {(int)m, (int)m, (int)m, (int)m, (int)m, (int)m};
			floor_txn(w, t, FLOOR_START, ss, r, 2);
			floor_txn(w, t, FLOOR_FINISH, ss, r, 6);
			free(s);
			free(t);
		}
		PQfinish(w);
		_exit(0);
	}
	run_cost cost = run_end(pg, &rc, kids, "floor", batch > 1 ? "floor-single-batched" : "floor-single-unbatched",
	                        tasks);
	long long done = pg_count(pg, "SELECT count(*) FROM tasker_tasks WHERE complete");
	if (done != tasks + tasks / 10) {
		fprintf(stderr, "bench: the floor completed %lld of %d tasks\n", done - tasks / 10, tasks);
		exit(1);
	}
	free(steps);
	free(task_ids);
	PQfinish(pg);
	int b = batch > 1;
	double engine = summary.single_steps_per_s[b];
	summary.floor_steps_per_s[b] = (double)tasks / cost.secs;
	summary.floor_pg_cpu_us[b] = cost.pg_cpu * 1e6 / tasks;
	summary.floor_cpu_us[b] = (cost.pg_cpu + cost.worker_cpu) * 1e6 / tasks;
	char m[320], name[160];
	snprintf(m, sizeof m, "**%.0f steps/s** (%d steps in %.2f s), %.2f transactions/step, CPU %.0f µs/step (client "
	         "%.0f + PostgreSQL %.0f); the engine's row (above, same run): %.2f× this rate",
	         summary.floor_steps_per_s[b], tasks, cost.secs, (double)cost.xacts / tasks, summary.floor_cpu_us[b],
	         cost.worker_cpu * 1e6 / tasks, summary.floor_pg_cpu_us[b],
	         engine > 0 ? engine / summary.floor_steps_per_s[b] : 0.0);
	char how[64];
	snprintf(how, sizeof how, b ? "batched (%d steps per statement)" : "unbatched (one step per transaction pair)",
	         batch);
	snprintf(name, sizeof name, "floor: the Rails tables' writes alone, 20,000 single-step tasks, 2 processes, %s",
	         how);
	row(name, m, "(a bound, no target)", -1);
}

/* A stage of the 20-step chain with nothing but its writes: one transaction finishes step i (its row,
 * flip, `complete` transition) and starts step i + 1 (its `in_progress` transition), as the engine's
 * stage does in one round trip; timed from sending it to its commit's reply, one connection. Thirty
 * chains created by the engine after the latency row's history (run before this, same database). */
static void bench_floor_stages(void)
{
	tasker_client *c = open_client(2);
	register_template(c, "chain_20", "chain", 20);
	int chains = 30;
	PGconn *pg = pg_open();
	long long after = pg_count(pg, "SELECT COALESCE(max(task_id), 0) FROM tasker_tasks");
	for (int i = 0; i < chains; i++)
		create_task(c, "chain_20");
	tasker_client_free(c);
	char sql[128];
	snprintf(sql, sizeof sql, "DELETE FROM tasker_ready_steps WHERE task_id > %lld", after);
	pg_exec(pg, sql); /* the floor has no queue */
	size_t n;
	int64_t *steps, *task_ids;
	floor_steps(pg, after, &steps, &task_ids, &n);
	PQfinish(pg);
	if (n != (size_t)chains * 20) {
		fprintf(stderr, "bench: the floor found %zu chain steps, expected %d\n", n, chains * 20);
		exit(1);
	}
	static const char *const STAGE[] = {"step_row", "step_flip", "step_done", "step_start"};
	static const int ONE[6] = {1, 1, 1, 1, 1, 1};
	int64_t *t = calloc((size_t)chains * 19, sizeof *t);
	size_t k = 0;
	PGconn *w = floor_open();
	for (int ch = 0; ch < chains; ch++) {
		char *id[20], *task = floor_ids(task_ids + (size_t)ch * 20, 1);
		for (int i = 0; i < 20; i++)
			id[i] = floor_ids(steps + (size_t)ch * 20 + (size_t)i, 1);
		const char *first[2] = {id[0], id[0]};
		floor_txn(w, task, FLOOR_START, first, ONE, 2);
		for (int i = 0; i < 19; i++) {
			const char *ids[4] = {id[i], id[i], id[i], id[i + 1]}; /* finish step i, start step i + 1 */
			int64_t t0 = now_us();
			floor_txn(w, task, STAGE, ids, ONE, 4);
			t[k++] = now_us() - t0;
		}
		const char *last[6] = {id[19], id[19], id[19], id[19], id[19], id[19]};
		floor_txn(w, task, FLOOR_FINISH, last, ONE, 6);
		for (int i = 0; i < 20; i++)
			free(id[i]);
		free(task);
	}
	PQfinish(w);
	free(steps);
	free(task_ids);
	summary.floor_stage_p50_ms = pct(t, k, 0.5) / 1000.0;
	summary.floor_stage_p99_ms = pct(t, k, 0.99) / 1000.0;
	free(t);
	char m[256];
	snprintf(m, sizeof m, "p50 **%.2f ms**, p99 **%.2f ms** (%zu stages, one connection); the engine's stage (above, "
	         "same run): %.2f× this p50", summary.floor_stage_p50_ms, summary.floor_stage_p99_ms, k,
	         summary.stage_p50_ms > 0 ? summary.stage_p50_ms / summary.floor_stage_p50_ms : 0.0);
	row("floor: one stage's writes alone, 20-step chain (finish a step, start the next, one commit)", m,
	    "(a bound, no target)", -1);
}

/* ------------------------------------------------------------------ create, transition */

static void bench_create(void)
{
	reset_data();
	tasker_client *c = open_client(2);
	register_template(c, "create10", "tree", 10);
	int n = 2000;
	int64_t *t = calloc((size_t)n, sizeof *t);
	for (int i = 0; i < 200; i++)
		create_task(c, "create10"); /* warm the prepared statements and the cache */
	analyze();
	PGconn *pg = pg_open();
	find_postmaster(pg);
	PQfinish(pg);
	profile_begin();
	/* CPU per task beside the latency: on a shared machine the latency carries the other tenants' load,
	 * the CPU much less of it */
	double pg0 = proc_cpu_seconds_of_postgres(), me0 = self_cpu_seconds();
	for (int i = 0; i < n; i++) {
		int64_t t0 = now_us();
		create_task(c, "create10");
		t[i] = now_us() - t0;
	}
	double pg_us = (proc_cpu_seconds_of_postgres() - pg0) * 1e6 / n, me_us = (self_cpu_seconds() - me0) * 1e6 / n;
	profile_end("create", n, "task");
	double p50 = pct(t, (size_t)n, 0.5) / 1000.0, p99 = pct(t, (size_t)n, 0.99) / 1000.0;
	char m[192];
	summary.create_p50_ms = p50;
	snprintf(m, sizeof m, "p50 **%.2f ms**, p99 %.2f ms (%d tasks); CPU per task: PostgreSQL %.0f µs, client %.0f µs",
	         p50, p99, n, pg_us, me_us);
	row("task creation, 10 steps", m, "p50 < 2 ms", p50 < 2.0);
	free(t);
	tasker_client_free(c);
}

static void bench_transition(void)
{
	reset_data();
	tasker_client *c = open_client(2);
	register_template(c, "single", "chain", 1);
	for (int i = 0; i < 200; i++)
		create_task(c, "single");
	analyze();
	/* 3,000 transitions over 1,000 steps, three each (pending → in_progress → error → pending: a retry's
	 * cycle), so each step's history is as long as a real step's; one step cycled 3,000 times would make
	 * each lookup of its current row read a history no real step has. */
	enum { STEPS = 1000, PER_STEP = 3 };
	int64_t *steps = calloc(STEPS, sizeof *steps);
	for (int i = 0; i < STEPS; i++)
		create_task(c, "single");
	PGconn *pg = pg_open();
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT workflow_step_id FROM tasker_workflow_steps ORDER BY workflow_step_id DESC "
	                          "LIMIT %d", STEPS);
	PGresult *res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != STEPS)
		die("reading the steps to transition");
	for (int i = 0; i < STEPS; i++)
		steps[i] = atoll(PQgetvalue(res, i, 0));
	PQclear(res);
	find_postmaster(pg);
	PQfinish(pg);
	static const tasker_state cycle[] = {TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, TASKER_STATE_ERROR};
	int n = STEPS * PER_STEP - 30; /* the first 30 warm the connection and are not counted */
	int64_t *t = calloc((size_t)n, sizeof *t);
	profile_begin();
	/* CPU per transition beside the latency, which a busy machine stretches more */
	double pg0 = proc_cpu_seconds_of_postgres(), me0 = self_cpu_seconds();
	for (int i = 0; i < n + 30; i++) {
		tasker_state from = cycle[i % PER_STEP], to = cycle[(i + 1) % PER_STEP];
		int64_t t0 = now_us();
		if (tasker_step_transition(c, steps[i / PER_STEP], from, to, NULL))
			die("transition");
		if (i >= 30)
			t[i - 30] = now_us() - t0;
	}
	profile_end("transition", n + 30, "transition");
	double pg_us = (proc_cpu_seconds_of_postgres() - pg0) * 1e6 / (n + 30);
	double me_us = (self_cpu_seconds() - me0) * 1e6 / (n + 30);
	double p50 = pct(t, (size_t)n, 0.5) / 1000.0, p99 = pct(t, (size_t)n, 0.99) / 1000.0;
	char m[192];
	summary.transition_p50_ms = p50;
	summary.transition_p99_ms = p99;
	snprintf(m, sizeof m, "p50 %.3f ms, p99 **%.3f ms** (%d transitions); CPU per transition: PostgreSQL %.0f µs, "
	         "client %.0f µs", p50, p99, n, pg_us, me_us);
	row("state transition (one transaction)", m, "p99 < 1 ms", p99 < 1.0);
	free(t);
	free(steps);
	tasker_client_free(c);
}

/* ------------------------------------------------------------------ memory */

static long vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static long vm_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void bench_memory(void)
{
	reset_data();
	tasker_client *c = open_client(4);
	register_template(c, "single", "chain", 1);
	tasker_worker *w = new_worker(c, 0, 0, noop);
	long at10k = 0;
	for (int round = 1; round <= 10; round++) {
		for (int i = 0; i < 10000; i++)
			create_task(c, "single");
		if (tasker_worker_run_until_idle(w))
			die("running");
		if (round == 1)
			at10k = vm_rss_kb();
	}
	long at100k = vm_rss_kb();
	unsigned long long processed = (unsigned long long)tasker_worker_processed(w);
	tasker_worker_free(w);
	tasker_client_free(c);
	char m[200];
	snprintf(m, sizeof m, "RSS %ld kB after 10,000 steps, %ld kB after %llu (peak %ld kB): growth %+ld kB", at10k,
	         at100k, processed, vm_hwm_kb(), at100k - at10k);
	row("worker memory, 10k → 100k steps", m, "no growth (< 1 MB)", at100k - at10k < 1024);
}

/* ------------------------------------------------------------------ soak (churn of the queue tables) */

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* The index entries a statement reads in the queue tables' indexes (this transaction's own counts, so
 * they do not depend on the machine's load) and the buffers its plan touched, from EXPLAIN (ANALYZE,
 * BUFFERS), run in a transaction that is rolled back (the pick locks rows). Printed to stderr, the plan
 * with it when $TASKER_BENCH_SOAK_PLANS is set. */
#define QUEUE_INDEX_READS                                                                                       \
	"SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index WHERE indrelid IN "           \
	"('tasker_ready_steps'::regclass, 'tasker_step_claims'::regclass)"
static void probe(PGconn *pg, const char *name, const char *setup, const char *sql)
{
	pg_exec(pg, "BEGIN");
	/* planned as the engine's connections plan (core/src/db.c) */
	pg_exec(pg, "SET LOCAL enable_seqscan = off; SET LOCAL jit = off");
	if (setup)
		pg_exec(pg, setup);
	long long before = pg_count(pg, QUEUE_INDEX_READS);
	char explain[4096];
	snprintf(explain, sizeof explain, "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) %s", sql);
	PGresult *r = PQexec(pg, explain);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench: %s: %s", explain, PQerrorMessage(pg));
		exit(1);
	}
	long long after = pg_count(pg, QUEUE_INDEX_READS);
	pg_exec(pg, "ROLLBACK");
	const char *buffers = "?", *rows = "?";
	for (int i = 0; i < PQntuples(r); i++) {
		const char *l = PQgetvalue(r, i, 0);
		if (i == 0 && strstr(l, "actual rows="))
			rows = strstr(l, "actual rows=") + 7;
		if (strstr(l, "Buffers:") && *buffers == '?')
			buffers = strstr(l, "Buffers:") + 9;
	}
	fprintf(stderr, "soak probe, %s: %lld queue index entries read; buffers %s; actual %s\n", name, after - before,
	        buffers, rows);
	if (getenv("TASKER_BENCH_SOAK_PLANS"))
		for (int i = 0; i < PQntuples(r); i++)
			fprintf(stderr, "    %s\n", PQgetvalue(r, i, 0));
	PQclear(r);
}

/* Scans of the queue's two ordered indexes (the pick's and the recovery's) and the index entries they
 * read, and the queue tables' buffers hit or read, as the server counts them for every backend (the
 * workers' backends have exited, and so flushed their counts, when the second sample is taken). */
typedef struct {
	long long pick_scans, pick_entries, lease_scans, lease_entries, blocks;
} queue_reads;

static queue_reads queue_reads_now(PGconn *pg)
{
	pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
	queue_reads q;
	q.pick_scans = pg_count(pg, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = "
	                            "'tasker_ready_steps_ready_at_index'");
	q.pick_entries = pg_count(pg, "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = "
	                              "'tasker_ready_steps_ready_at_index'");
	q.lease_scans = pg_count(pg, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = "
	                             "'tasker_step_claims_lease_index'");
	q.lease_entries = pg_count(pg, "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = "
	                               "'tasker_step_claims_lease_index'");
	q.blocks = pg_count(pg, "SELECT sum(heap_blks_hit + heap_blks_read + COALESCE(idx_blks_hit, 0) + "
	                        "COALESCE(idx_blks_read, 0)) FROM pg_statio_user_tables WHERE relname IN "
	                        "('tasker_ready_steps', 'tasker_step_claims')");
	return q;
}

/* What the queue's statements cost after the soak, behind the snapshot if one is held: the claim's
 * pick (as core/src/claim.c sends it, batch of 64: from the front of the queue, as its periodic full
 * pick does, and from a floor as the others do) with one fresh ready step at the end of the queue, the recovery's probe for expired leases (core/src/recover.c), the look-ahead for the
 * next ready step (core/src/queue.c) and a claim's lookup by step id. */
static void soak_probes(PGconn *pg)
{
	tasker_client *c = open_client(1);
	create_task(c, "soak10");
	tasker_client_free(c);
#define SOAK_PICK(lo)                                                                                          \
	"SELECT r.workflow_step_id, r.task_id FROM tasker_ready_steps r JOIN tasker_tasks t ON t.task_id = r.task_id " \
	"WHERE r.ready_at >= " lo " AND r.ready_at <= timezone('UTC', now()) ORDER BY r.ready_at, r.workflow_step_id " \
	"LIMIT 64 FOR UPDATE OF r SKIP LOCKED FOR NO KEY UPDATE OF t SKIP LOCKED"
	probe(pg, "claim pick (64) from the front of the queue", NULL, SOAK_PICK("'-infinity'"));
	/* The floor a connection carries: the oldest row its last pick took (here the fresh one) less 1 s. */
	probe(pg, "claim pick (64) from its floor", NULL,
	      SOAK_PICK("(SELECT max(ready_at) - interval '1 second' FROM tasker_ready_steps)"));
#define SOAK_RECOVERY(lo)                                                                                      \
	"SELECT c.workflow_step_id, c.claim_id, c.worker_id FROM tasker_step_claims c "                         \
	"JOIN tasker_tasks t ON t.task_id = c.task_id WHERE c.lease_expires_at >= " lo " AND c.lease_expires_at < " \
	"timezone('UTC', now()) ORDER BY c.lease_expires_at LIMIT 100 FOR UPDATE OF c SKIP LOCKED FOR NO KEY "      \
	"UPDATE OF t SKIP LOCKED"
	probe(pg, "recovery sweep from the front of the lease index", NULL, SOAK_RECOVERY("'-infinity'"));
	/* The floor a sweep 15 s ago left (half the default lease): 5 s before it. */
	probe(pg, "recovery sweep from its floor", NULL, SOAK_RECOVERY("timezone('UTC', now()) - interval '20 seconds'"));
	probe(pg, "next-ready look-ahead from the front", NULL,
	      "SELECT ready_at FROM tasker_ready_steps ORDER BY ready_at LIMIT 1");
	probe(pg, "next-ready look-ahead from its floor", NULL,
	      "SELECT ready_at FROM tasker_ready_steps WHERE ready_at >= (SELECT max(ready_at) - interval '1 second' FROM "
	      "tasker_ready_steps) ORDER BY ready_at LIMIT 1");
	probe(pg, "claim by step id", NULL,
	      "SELECT claim_id FROM tasker_step_claims WHERE workflow_step_id = (SELECT max(workflow_step_id) - 5 FROM "
	      "tasker_workflow_steps)");
}

/* A backlog of ten-step DAGs ($TASKER_BENCH_SOAK_TASKS, default 20,000 = 200,000 steps) created by two
 * processes, then two batched workers run it to the end while the completion rate is sampled every
 * 10 s. With $TASKER_BENCH_SOAK_HOLD (default 1) another connection holds a snapshot open for the
 * whole run, as a long reporting query does: no dead row version of the queue tables can be removed
 * until it ends. Target: the last minute's rate within 10 % of the first minute's. */
static void bench_soak(void)
{
	long tasks = env_long("TASKER_BENCH_SOAK_TASKS", 20000), hold = env_long("TASKER_BENCH_SOAK_HOLD", 1);
	reset_data();
	tasker_client *c = open_client(2);
	register_template(c, "soak10", "tree", 10);
	/* History first, as in the throughput rows: with the transition tables empty when the statistics
	 * are taken, the current-state joins plan as scans of the whole table until autovacuum analyzes
	 * them again (the first minute of an earlier soak ran at a tenth of the rate of the second). */
	long history = tasks / 10 < 2000 ? tasks / 10 : 2000;
	for (long i = 0; i < history; i++)
		create_task(c, "soak10");
	tasker_worker *hw = new_worker(c, 0, 0, noop);
	if (tasker_worker_run_until_idle(hw))
		die("running the history");
	tasker_worker_free(hw);
	tasker_client_free(c);
	pid_t makers[2];
	for (int k = 0; k < 2; k++)
		if ((makers[k] = fork()) == 0) {
			tasker_client *mc = open_client(1);
			for (long i = k; i < tasks; i += 2)
				create_task(mc, "soak10");
			tasker_client_free(mc);
			_exit(0);
		}
	for (int k = 0; k < 2; k++) {
		int status;
		if (waitpid(makers[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			die("creating the soak backlog");
	}
	analyze();
	PGconn *pg = pg_open(), *holder = NULL;
	if (hold) {
		holder = pg_open();
		pg_exec(holder, "BEGIN ISOLATION LEVEL REPEATABLE READ");
		pg_exec(holder, "SELECT count(*) FROM tasker_tasks");
	}
	/* Steps completed so far, as each worker counts the results it wrote (a page shared with them).
	 * Not the server's statistics counters: a busy backend that cannot take the lock of a table's
	 * shared counters at once keeps its counts for up to a minute, so they arrive late, in bursts. */
	_Atomic long long *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		die("mapping the step counters");
	long long total = tasks * 10LL;
	queue_reads q0 = queue_reads_now(pg);
	int64_t t0 = now_us();
	pid_t kids[2];
	for (int k = 0; k < 2; k++)
		if ((kids[k] = fork()) == 0)
			worker_process(0, 0, &counts[k]);
	enum { MAX_SAMPLES = 4096 };
	static double rate[MAX_SAMPLES], reads[MAX_SAMPLES]; /* steps/s; queue index entries read per step */
	long long prev_reads = q0.pick_entries + q0.lease_entries;
	int n = 0, running = 2;
	long long prev = 0;
	while (running > 0) {
		for (int slept = 0; slept < 100 && running > 0; slept++) {
			usleep(100000);
			for (int k = 0; k < 2; k++)
				if (kids[k] > 0 && waitpid(kids[k], NULL, WNOHANG) == kids[k]) {
					kids[k] = 0;
					running--;
				}
		}
		long long done = atomic_load(&counts[0]) + atomic_load(&counts[1]);
		queue_reads q = queue_reads_now(pg);
		if (running == 2 && n < MAX_SAMPLES) { /* not the drain at the end, when one worker has left */
			reads[n] = done > prev ? (double)(q.pick_entries + q.lease_entries - prev_reads) / (double)(done - prev) : 0;
			rate[n++] = (double)(done - prev) / 10.0;
		}
		prev_reads = q.pick_entries + q.lease_entries;
		prev = done;
	}
	double secs = (double)(now_us() - t0) / 1e6;
	if (prev < total)
		fprintf(stderr, "bench: the soak completed %lld of %lld steps (a worker failed?)\n", prev, total);
	sleep(1); /* the workers' backends report their counts as they exit */
	queue_reads q1 = queue_reads_now(pg);
	fprintf(stderr,
	        "soak reads: the pick's index (ready_at): %lld scans, %lld entries read (%.1f per scan); the lease "
	        "index: %lld scans, %lld entries read; queue tables: %.1f buffers per step\n",
	        q1.pick_scans - q0.pick_scans, q1.pick_entries - q0.pick_entries,
	        q1.pick_scans > q0.pick_scans ? (double)(q1.pick_entries - q0.pick_entries) / (double)(q1.pick_scans - q0.pick_scans) : 0.0,
	        q1.lease_scans - q0.lease_scans, q1.lease_entries - q0.lease_entries,
	        (double)(q1.blocks - q0.blocks) / (double)total);
	soak_probes(pg);
	if (holder) {
		pg_exec(holder, "COMMIT");
		PQfinish(holder);
	}
	long long dead = pg_count(pg, "SELECT sum(n_dead_tup) FROM pg_stat_user_tables WHERE relname IN "
	                              "('tasker_ready_steps', 'tasker_step_claims')");
	long long kb = pg_count(pg, "SELECT (pg_total_relation_size('tasker_ready_steps') + "
	                            "pg_total_relation_size('tasker_step_claims')) / 1024");
	PQfinish(pg);
	int w = n >= 12 ? 6 : (n + 2) / 3; /* a minute of samples at each end, or a third of a shorter run */
	double first = 0, last = 0;
	for (int i = 0; i < w; i++) {
		first += rate[i] / w;
		last += rate[n - 1 - i] / w;
	}
	static char samples[8192];
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof samples - 16; i++)
		len += (size_t)snprintf(samples + len, sizeof samples - len, "%s%.0f", i ? " " : "", rate[i]);
	fprintf(stderr, "soak reads: entries of the pick's and the lease's indexes read per step, every 10 s:");
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %.0f", reads[i]);
	fprintf(stderr, "\n");
	static char m[8704];
	snprintf(m, sizeof m,
	         "%lld steps in %.0f s (%.0f steps/s)%s: first %s **%.0f** steps/s, last **%.0f** (%+.1f %%); queue "
	         "tables at the end: %lld dead rows, %lld kB with their indexes; every 10 s: %s",
	         total, secs, (double)total / secs, hold ? ", a snapshot held open throughout" : "",
	         n >= 12 ? "minute" : "third", first, last, first > 0 ? (last - first) * 100.0 / first : 0.0, dead, kb,
	         samples);
	row("soak: ten-step DAGs, 2 workers, batched", m, "last minute ≥ 90 % of the first", w > 0 && last >= 0.9 * first);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "all";
	int all = strcmp(what, "all") == 0;
	int peer = strcmp(what, "peer") == 0; /* latency + throughput: what bench/peer/compare.py needs */
	int speed = strcmp(what, "speed") == 0; /* every row of the speed targets: peer + creation + transition */
	int floor_only = strcmp(what, "floor") == 0; /* the floor rows beside the engine's rows they bound */
	peer |= speed;
	tasker_client_free(open_client(1)); /* migrates */
	printf("plans: %s\n\n| benchmark | measured | target | |\n|---|---|---|---|\n",
	       fresh_plans() ? "fresh (no ANALYZE before the measured runs)" : "after VACUUM ANALYZE");
	if (all || strcmp(what, "resolution") == 0)
		bench_resolution();
	if (all || peer || floor_only || strcmp(what, "latency") == 0)
		bench_latency();
	if (all || peer || floor_only)
		bench_floor_stages();
	if (all || speed || strcmp(what, "create") == 0)
		bench_create();
	if (all || speed || strcmp(what, "transition") == 0)
		bench_transition();
	if (all || peer || strcmp(what, "throughput") == 0)
		bench_throughput(3);
	else if (strcmp(what, "throughput-batched") == 0 || strcmp(what, "throughput-unbatched") == 0)
		bench_throughput(strcmp(what, "throughput-batched") == 0 ? 1 : 2);
	else if (strcmp(what, "throughput-dag-unbatched") == 0) /* one row, for back-to-back pairs */
		bench_throughput_one("2,000 ten-step DAGs, 2 workers", "dag10", 10, 2000, 0);
	else if (strcmp(what, "throughput-single-unbatched") == 0)
		bench_throughput_one("20,000 single-step tasks, 2 workers", "single", 1, 20000, 0);
	else if (floor_only) { /* the engine's single-step rows the floor rows bound */
		bench_throughput_one("20,000 single-step tasks, 2 workers", "single", 1, 20000, 1);
		bench_throughput_one("20,000 single-step tasks, 2 workers", "single", 1, 20000, 0);
	}
	if (all || peer || floor_only) {
		const char *fb = getenv("TASKER_BENCH_FLOOR_BATCH"); /* steps per statement, batched floor */
		bench_floor_throughput(fb && atoi(fb) > 1 ? atoi(fb) : 32);
		bench_floor_throughput(1);
	}
	if (all || strcmp(what, "memory") == 0)
		bench_memory();
	if (strcmp(what, "soak") == 0) /* long: only on request */
		bench_soak();
	write_summary();
	return 0;
}
