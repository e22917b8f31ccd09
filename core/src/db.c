/*
 * db.c — owns a single libpq connection: lazy per-connection statement preparation, transactions,
 * and turning libpq failures into tasker errors. Knows nothing about tasks or steps.
 */
#include "db.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "error.h"
#include "util.h"

struct tdb {
	PGconn *conn;
	int broken;
	int begin_pending;  /* tdb_begin was called; the BEGIN goes with the next statement */
	int committed;      /* the open transaction's COMMIT went with its last statements (tdb_exec_pipeline_commit);
	                     * what follows a commit (hooks) waits for tdb_commit */
	/* Statements prepared on this connection, keyed by the address of their static tdb_stmt. */
	const tdb_stmt **prepared;
	size_t nprepared, cap;
	struct {
		const tdb_hooks *hooks;  /* registered by a layer above (tdb_add_hooks) */
		void *data;
	} hook[TDB_MAX_HOOKS];
	size_t nhooks;
};

static void set_conn_error(tdb *db, const char *what)
{
	const char *msg = db->conn ? PQerrorMessage(db->conn) : "no connection";
	db->broken = 1;
	tasker_set_error_pg(NULL, msg, what);
}

int tdb_connect(tdb **out, const char *conninfo, const char *application_name)
{
	*out = NULL;
	tdb *db = calloc(1, sizeof *db);
	if (!db)
		return tasker_set_oom();
	const char *keys[] = {"dbname", "application_name", "fallback_application_name", NULL};
	const char *vals[] = {conninfo ? conninfo : "", application_name, "tasker-core", NULL};
	/* expand_dbname=1: `dbname` may hold a full URL or key=value string; empty → libpq PG* env. */
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn) {
		free(db);
		return tasker_set_oom();
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(db->conn);
		int rc = tasker_set_error(TASKER_ECONN, "connecting to PostgreSQL: %s", msg);
		tdb_close(db);
		return rc;
	}
	/* Timestamps are UTC in `timestamp without time zone` columns, as the Rails engine stores them;
	 * NOW() comparisons in the engine's SQL functions assume a UTC session. */
	/* Server NOTICEs (e.g. "relation already exists, skipping") are not the host's business: a
	 * library must not write to stderr behind its caller's back. Warnings and errors still come. */
	/* Generic plans: every statement is prepared once per connection and reused; with custom plans
	 * PostgreSQL re-plans each call, which on these heavily indexed tables costs more than running
	 * the statement (measured: bench/RESULTS.md). The statements are written so one plan fits all
	 * parameters (constant LIMITs, arrays instead of varying IN lists). */
	/* No sequential scans where an index can answer: a generic plan is made once, from the statistics
	 * of that moment, and kept while the tables grow. Made while a transition table was analysed empty
	 * (a new database whose tasks have not started), a read of a step's current state scanned the whole
	 * table once per step; every statement the engine sends probes a few rows by key, as its functions
	 * do (enable_seqscan = off on each since migration 0013). Only the engine's own connections; its
	 * few statements that read whole tables run through tdb_exec_pipeline_scans. No JIT: the penalty
	 * puts a scan that has no index to replace it (worker presence's expiry) above jit_above_cost, and a
	 * generic plan with JIT compiles on every run (52 us -> 75-400 ms a call, measured); JIT never pays
	 * for statements that read a few rows. */
	int rc = tdb_exec_simple(db, "SET TIME ZONE 'UTC'; SET client_min_messages = warning; "
	                         "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET jit = off",
	                         "configuring the session");
	if (rc) {
		tdb_close(db);
		return rc;
	}
	*out = db;
	return TASKER_OK;
}

void tdb_close(tdb *db)
{
	if (!db)
		return;
	if (db->conn)
		PQfinish(db->conn);
	free(db->prepared);
	for (size_t i = 0; i < db->nhooks; i++)
		if (db->hook[i].hooks->on_close)
			db->hook[i].hooks->on_close(db->hook[i].data);
	free(db);
}

PGconn *tdb_pg(tdb *db) { return db->conn; }
int tdb_is_broken(const tdb *db) { return db->broken || PQstatus(db->conn) != CONNECTION_OK; }

int tdb_alive(tdb *db)
{
	/* Reads whatever the server sent meanwhile without waiting: a terminated backend's last message
	 * and the closed socket mark the connection bad here instead of failing the next statement. */
	for (int i = 0; i < 2 && !db->broken; i++) /* the second read sees the EOF after a last message */
		if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK)
			db->broken = 1;
	return !db->broken;
}

static int is_prepared(const tdb *db, const tdb_stmt *stmt)
{
	for (size_t i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == stmt)
			return 1;
	return 0;
}

static int remember_prepared(tdb *db, const tdb_stmt *stmt)
{
	if (db->nprepared == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 32;
		const tdb_stmt **p = realloc(db->prepared, cap * sizeof *p);
		if (!p)
			return tasker_set_oom();
		db->prepared = p;
		db->cap = cap;
	}
	db->prepared[db->nprepared++] = stmt;
	return TASKER_OK;
}

/* Checks a result; on failure sets the error (and broken flag) and clears it. A statement that failed
 * because the calling thread's cancel token fired is TASKER_ECANCELED. */
static int check_result(tdb *db, PGresult *res, const char *what)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return TASKER_OK;
	int rc;
	if (res && PQstatus(db->conn) == CONNECTION_OK && tcancel_fired()) {
		rc = tcancel_error(what);
	} else if (!res || PQstatus(db->conn) != CONNECTION_OK) {
		/* The connection is gone: report it as such whatever the result says. */
		db->broken = 1;
		rc = tasker_set_error_pg(NULL, PQerrorMessage(db->conn), what);
	} else {
		rc = tasker_set_error_pg(res, PQerrorMessage(db->conn), what);
		if (rc == TASKER_ECONN)
			db->broken = 1;
	}
	PQclear(res);
	return rc;
}

/* Prepares (once per connection) and runs `stmt`; returns the result, NULL after an error. */
static PGresult *run_prepared(tdb *db, const tdb_stmt *stmt, int n, const char *const *params, const char *what,
                              int *rc)
{
	if (!is_prepared(db, stmt)) {
		PGresult *p = PQprepare(db->conn, stmt->name, stmt->sql, 0, NULL);
		if ((*rc = check_result(db, p, what)))
			return NULL;
		PQclear(p);
		if ((*rc = remember_prepared(db, stmt)))
			return NULL;
	}
	PGresult *res = PQexecPrepared(db->conn, stmt->name, n, params, NULL, NULL, 0);
	*rc = check_result(db, res, what);
	return *rc ? NULL : res;
}

/* TASKER_OK unless the connection is known dead or the calling thread's cancel token fired. */
static int can_send(tdb *db, const char *what)
{
	if (db->broken) {
		set_conn_error(db, what);
		return TASKER_ECONN;
	}
	return tcancel_fired() ? tcancel_error(what) : TASKER_OK;
}

/* A result of a pipeline: the one result of the query just sent, then the NULL that ends it. */
static PGresult *next_result(PGconn *conn)
{
	PGresult *res = PQgetResult(conn), *extra;
	while (res && (extra = PQgetResult(conn))) /* a query of a pipeline ends with NULL */
		PQclear(extra);
	return res;
}

/* Sends the calls (after the pending BEGIN, if any, and the preparations they need) with one sync,
 * then reads every result. */
static int run_pipeline(PGresult **out, tdb *db, const tdb_call *calls, size_t n, int commit, const char *what)
{
	PGconn *conn = db->conn;
	int begin = db->begin_pending, sent = PQenterPipelineMode(conn);
	unsigned char *prep = calloc(n + 1, 1); /* calls whose statement is prepared in this pipeline */
	if (!prep) {
		PQexitPipelineMode(conn);
		return tasker_set_oom();
	}
	db->begin_pending = 0;
	if (sent && begin)
		sent = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
	for (size_t i = 0; sent && i < n; i++) {
		const tdb_stmt *st = calls[i].stmt;
		int again = 0; /* a statement twice in one pipeline is prepared once */
		for (size_t k = 0; k < i && !again; k++)
			again = prep[k] && calls[k].stmt == st;
		if (!again && !is_prepared(db, st)) {
			prep[i] = 1;
			sent = PQsendPrepare(conn, st->name, st->sql, 0, NULL);
		}
		sent = sent && PQsendQueryPrepared(conn, st->name, calls[i].n, calls[i].params, NULL, NULL, 0);
	}
	if (sent && commit)
		sent = PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
	if (!sent || !PQpipelineSync(conn)) {
		free(prep);
		set_conn_error(db, what);
		return TASKER_ECONN;
	}
	/* After a failure the server skips the rest (PGRES_PIPELINE_ABORTED): read and drop them. */
	int rc = TASKER_OK;
	PGresult *res;
	if (begin && !(rc = check_result(db, res = next_result(conn), what)))
		PQclear(res);
	for (size_t i = 0; i < n; i++) {
		if (prep[i]) {
			res = next_result(conn);
			if (rc)
				PQclear(res);
			else if (!(rc = check_result(db, res, what))) {
				PQclear(res);
				rc = remember_prepared(db, calls[i].stmt);
			}
		}
		res = next_result(conn);
		if (rc)
			PQclear(res);
		else if (!(rc = check_result(db, res, what)))
			out[i] = res;
	}
	if (commit) {
		res = next_result(conn);
		if (rc) {
			PQclear(res);
		} else if (!(rc = check_result(db, res, what))) {
			if (strcmp(PQcmdStatus(res), "COMMIT") == 0)
				db->committed = 1;
			else
				rc = tasker_set_error(TASKER_ERROR, "%s: the transaction was rolled back (%s)", what,
				                      PQcmdStatus(res));
			PQclear(res);
		}
	}
	while ((res = PQgetResult(conn)) && PQresultStatus(res) != PGRES_PIPELINE_SYNC)
		PQclear(res);
	PQclear(res);
	if (!PQexitPipelineMode(conn) && !rc) {
		set_conn_error(db, what);
		rc = TASKER_ECONN;
	}
	free(prep);
	return rc;
}

/* Whether every hook's before_commit has nothing to do now, so the COMMIT may go before the caller has
 * seen the transaction's last results. */
static int before_commit_idle(tdb *db)
{
	for (size_t i = 0; i < db->nhooks; i++) {
		const tdb_hooks *h = db->hook[i].hooks;
		if (h->before_commit && !(h->before_commit_idle && h->before_commit_idle(db, db->hook[i].data)))
			return 0;
	}
	return 1;
}

static int exec_pipeline(PGresult **out, tdb *db, const tdb_call *calls, size_t n, int commit, const char *what)
{
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	int rc = can_send(db, what);
	if (rc)
		return rc;
	tcancel_attach(db->conn);
	rc = run_pipeline(out, db, calls, n, commit, what);
	tcancel_detach();
	if (rc)
		for (size_t i = 0; i < n; i++) {
			PQclear(out[i]);
			out[i] = NULL;
		}
	return rc;
}

int tdb_exec_pipeline(PGresult **out, tdb *db, const tdb_call *calls, size_t n, const char *what)
{
	return exec_pipeline(out, db, calls, n, 0, what);
}

/* set_config(..., true) lasts to the end of the transaction: the pipeline's own, or the caller's open one,
 * where the second puts the sessions' setting back. */
static const tdb_stmt Q_SCANS_ON = {"db_scans_on", "SELECT set_config('enable_seqscan', 'on', true)"};
static const tdb_stmt Q_SCANS_OFF = {"db_scans_off", "SELECT set_config('enable_seqscan', 'off', true)"};

int tdb_exec_pipeline_scans(PGresult **out, tdb *db, const tdb_call *calls, size_t n, const char *what)
{
	enum { MAX_SCANS = 8 };
	tdb_call all[MAX_SCANS + 2];
	PGresult *res[MAX_SCANS + 2];
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	if (n > MAX_SCANS)
		return tasker_set_error(TASKER_EINVAL, "%s: %zu statements, at most %d", what, n, MAX_SCANS);
	all[0] = (tdb_call){&Q_SCANS_ON, 0, NULL};
	memcpy(all + 1, calls, n * sizeof *calls);
	all[n + 1] = (tdb_call){&Q_SCANS_OFF, 0, NULL};
	int rc = exec_pipeline(res, db, all, n + 2, 0, what);
	PQclear(res[0]);
	PQclear(res[n + 1]);
	for (size_t i = 0; i < n; i++)
		out[i] = res[i + 1];
	return rc;
}

int tdb_exec_pipeline_commit(int *committed, PGresult **out, tdb *db, const tdb_call *calls, size_t n,
                             const char *what)
{
	int commit = !db->committed && (db->begin_pending || tdb_in_transaction(db)) && before_commit_idle(db);
	int rc = exec_pipeline(out, db, calls, n, commit, what);
	*committed = db->committed;
	return rc;
}

int tdb_exec(PGresult **out, tdb *db, const tdb_stmt *stmt, int n, const char *const *params,
             const char *what)
{
	if (out)
		*out = NULL;
	if (db->begin_pending) { /* the BEGIN and this statement in one round trip */
		PGresult *res = NULL;
		tdb_call call = {stmt, n, params};
		int rc = tdb_exec_pipeline(&res, db, &call, 1, what);
		if (out)
			*out = res;
		else
			PQclear(res);
		return rc;
	}
	int rc = can_send(db, what);
	if (rc)
		return rc;
	tcancel_attach(db->conn); /* preparing waits for locks too */
	PGresult *res = run_prepared(db, stmt, n, params, what, &rc);
	tcancel_detach();
	if (out)
		*out = res;
	else
		PQclear(res);
	return rc;
}

/* Sends `sql` by the simple protocol, after the pending BEGIN if any. */
static PGresult *exec_simple(tdb *db, const char *sql)
{
	if (!db->begin_pending)
		return PQexec(db->conn, sql);
	db->begin_pending = 0;
	size_t len = strlen(sql);
	char *both = malloc(len + 8);
	if (!both)
		return NULL;
	memcpy(both, "BEGIN; ", 7);
	memcpy(both + 7, sql, len + 1);
	PGresult *res = PQexec(db->conn, both);
	free(both);
	return res;
}

int tdb_exec_simple(tdb *db, const char *sql, const char *what)
{
	int rc = can_send(db, what);
	if (rc)
		return rc;
	tcancel_attach(db->conn);
	PGresult *res = exec_simple(db, sql);
	tcancel_detach();
	rc = check_result(db, res, what);
	if (rc == TASKER_OK)
		PQclear(res);
	return rc;
}

int tdb_wait_notify(tdb *db, int wake_fd, int timeout_ms)
{
	int sock = db && !db->broken ? PQsocket(db->conn) : -1;
	struct pollfd fds[3] = {{sock, POLLIN, 0}, {wake_fd, POLLIN, 0}, {tcancel_fd(), POLLIN, 0}};
	int n = poll(fds, 3, timeout_ms); /* poll skips the negative descriptors */
	if (sock < 0)
		return 0;
	if (n > 0 && !(fds[0].revents & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	if (!PQconsumeInput(db->conn)) {
		set_conn_error(db, "waiting for a notification");
		return TASKER_ECONN;
	}
	int got = 0;
	PGnotify *note;
	while ((note = PQnotifies(db->conn))) {
		PQfreemem(note);
		got++;
	}
	return got;
}

int tdb_begin(tdb *db)
{
	if (db->broken) {
		set_conn_error(db, "beginning a transaction");
		return TASKER_ECONN;
	}
	if (!tdb_in_transaction(db)) /* as PostgreSQL: BEGIN inside a transaction changes nothing */
		db->begin_pending = 1;
	return TASKER_OK;
}
/* COMMIT, followed in the same round trip by what the hooks ask for ("COMMIT; NOTIFY x"): that SQL runs
 * in a transaction of its own once the COMMIT has succeeded (a failed COMMIT stops the string there).
 * The COMMIT's own result decides; what follows it is best effort (a wake-up is a hint). */
static int commit(tdb *db)
{
	const char *what = "committing a transaction";
	char stack[256];
	tbuf extra;
	tbuf_init_stack(&extra, stack, sizeof stack);
	for (size_t i = 0; i < db->nhooks; i++) {
		const char *(*sql)(tdb *, void *) = db->hook[i].hooks->commit_sql;
		const char *text = sql ? sql(db, db->hook[i].data) : NULL;
		if (text) {
			tbuf_puts(&extra, "; ");
			tbuf_puts(&extra, text);
		}
	}
	int committed = db->committed; /* done already: only what follows it is left (a hint, best effort) */
	int rc = extra.oom && !committed ? tasker_set_oom() : TASKER_OK;
	db->committed = 0;
	if (!rc && (db->begin_pending || committed)) { /* nothing to commit (now), only what follows */
		db->begin_pending = 0;
		if (extra.len && !extra.oom)
			(void)tdb_exec_simple(db, extra.data + 2, what); /* best effort, as below */
	} else if (!rc && !extra.len) {
		rc = tdb_exec_simple(db, "COMMIT", what);
	} else if (!rc && !(rc = can_send(db, what))) {
		tbuf sql;
		tbuf_init(&sql);
		tbuf_puts(&sql, "COMMIT");
		tbuf_puts(&sql, extra.data);
		tcancel_attach(db->conn);
		PGresult *res, *first = NULL;
		if (!sql.oom && PQsendQuery(db->conn, sql.data))
			for (int n = 0; (res = PQgetResult(db->conn)); n++) {
				if (n == 0)
					first = res;
				else
					PQclear(res);
			}
		tcancel_detach();
		if (sql.oom) {
			rc = tasker_set_oom();
		} else if (first && PQresultStatus(first) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(first), "COMMIT") != 0) {
			rc = tasker_set_error(TASKER_ERROR, "%s: the transaction was rolled back (%s)", what, PQcmdStatus(first));
			PQclear(first);
		} else if ((rc = check_result(db, first, what)) == TASKER_OK) { /* check_result clears a failure */
			PQclear(first);
		}
		tbuf_free(&sql);
	}
	tbuf_free(&extra);
	return rc;
}

int tdb_commit(tdb *db)
{
	int rc = TASKER_OK;
	for (size_t i = 0; i < db->nhooks && !rc && !db->committed; i++) /* committed: they had nothing to do */
		if (db->hook[i].hooks->before_commit)
			rc = db->hook[i].hooks->before_commit(db, db->hook[i].data);
	if (!rc)
		rc = commit(db);
	for (size_t i = 0; i < db->nhooks; i++)
		if (db->hook[i].hooks->after_commit)
			db->hook[i].hooks->after_commit(db, rc, db->hook[i].data);
	return rc;
}

int tdb_add_hooks(tdb *db, const tdb_hooks *hooks, void *data)
{
	for (size_t i = 0; i < db->nhooks; i++)
		if (db->hook[i].hooks == hooks) {
			db->hook[i].data = data;
			return TASKER_OK;
		}
	if (db->nhooks == TDB_MAX_HOOKS)
		return tasker_set_error(TASKER_ENOMEM, "a connection takes at most %d sets of commit hooks", TDB_MAX_HOOKS);
	db->hook[db->nhooks].hooks = hooks;
	db->hook[db->nhooks++].data = data;
	return TASKER_OK;
}

void *tdb_hook_data(const tdb *db, const tdb_hooks *hooks)
{
	for (size_t i = 0; db && i < db->nhooks; i++)
		if (db->hook[i].hooks == hooks)
			return db->hook[i].data;
	return NULL;
}

int tdb_in_transaction(tdb *db)
{
	if (db->begin_pending || db->committed)
		return 1;
	PGTransactionStatusType st = PQtransactionStatus(db->conn);
	return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

void tdb_rollback(tdb *db)
{
	if (db->committed) { /* too late to roll back: what it wrote stays, and what follows a commit happens */
		(void)tdb_commit(db);
		return;
	}
	for (size_t i = 0; i < db->nhooks; i++)
		if (db->hook[i].hooks->on_rollback)
			db->hook[i].hooks->on_rollback(db, db->hook[i].data);
	db->begin_pending = 0;
	if (db->broken || !tdb_in_transaction(db))
		return;
	PGresult *res = PQexec(db->conn, "ROLLBACK");
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		db->broken = 1;
	PQclear(res);
}

const char *tdb_get(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

int tdb_is_null(const PGresult *res, int row, int col) { return PQgetisnull(res, row, col); }

int64_t tdb_get_i64(const PGresult *res, int row, int col, int64_t dflt)
{
	if (PQgetisnull(res, row, col))
		return dflt;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int tdb_get_bool(const PGresult *res, int row, int col, int dflt)
{
	if (PQgetisnull(res, row, col))
		return dflt;
	return PQgetvalue(res, row, col)[0] == 't';
}

const char *tdb_fmt_i64(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

const char *tdb_fmt_bool(int v) { return v ? "t" : "f"; }
