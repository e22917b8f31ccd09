/*
 * db.h — one PostgreSQL connection and the only way core/ talks to it.
 *
 * Every statement that carries a value is a named, prepared statement (tdb_stmt) executed with text
 * parameters: SQL text is never built from data. Statements are prepared lazily, once per connection.
 * A failed call sets tasker_error_last() (SQLSTATE included) and marks a dead connection as broken so
 * the pool replaces it; nothing here crashes on a lost connection.
 */
#ifndef TASKER_CORE_DB_H
#define TASKER_CORE_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "tasker.h"

typedef struct tdb tdb;

/* A statement: its unique name and SQL text with $1..$n placeholders. Define them `static const`. */
typedef struct tdb_stmt {
	const char *name;
	const char *sql;
} tdb_stmt;

/* The current time in SQL for the schema's `timestamp without time zone` columns, which hold UTC as the
 * Rails engine writes them; independent of the session's time zone. */
#define NOW_UTC "timezone('UTC', now())"

int tdb_connect(tdb **out, const char *conninfo, const char *application_name);
void tdb_close(tdb *db);
PGconn *tdb_pg(tdb *db);
/* 1 once a call found the connection dead; the pool then discards it. */
int tdb_is_broken(const tdb *db);
/* 1 unless the server closed an idle connection (checked without blocking); for the pool, before reuse. */
int tdb_alive(tdb *db);

/* Runs `stmt` with `n` text parameters (NULL element = SQL NULL). On success *out is the result (free
 * with PQclear; may be NULL if `out` is NULL, then the result is discarded). `what` names the action
 * for the error message ("finding namespace"). */
int tdb_exec(PGresult **out, tdb *db, const tdb_stmt *stmt, int n, const char *const *params,
             const char *what);
/* One statement of a pipeline: what tdb_exec takes. */
typedef struct tdb_call {
	const tdb_stmt *stmt;
	int n;
	const char *const *params;
} tdb_call;
/* Runs `n` statements in one round trip (libpq pipeline mode), in order, each in its own snapshot as
 * if run one after the other: for statements that do not need each other's results. out[i] receives
 * the result of calls[i] (free each with PQclear). The first failure sets the error (`what` names the
 * action) and is returned; the statements after it are not run, and every out[i] is NULL. Inside a
 * transaction a failure leaves it aborted (roll it back); outside one, the statements form one implicit
 * transaction. */
int tdb_exec_pipeline(PGresult **out, tdb *db, const tdb_call *calls, size_t n, const char *what);
/* tdb_exec_pipeline for statements that read whole tables (counts, gauges), at most 8: they are planned
 * with sequential scans allowed, which the engine's sessions otherwise penalise (tdb_connect); the
 * setting is back as it was for whatever follows on the connection. */
int tdb_exec_pipeline_scans(PGresult **out, tdb *db, const tdb_call *calls, size_t n, const char *what);
/* The same inside the open transaction, its COMMIT sent last in the same round trip when no commit hook
 * has work to do before it (tdb_hooks.before_commit_idle); *committed says whether it was. After a
 * COMMIT that succeeded, the caller's tdb_commit (or tdb_rollback: it is too late to roll back) runs
 * only what follows a commit: the hooks' commit_sql and after_commit, so the layers above publish their
 * events and send their wake-up after a real commit, as with tdb_commit alone. Until then the connection
 * still counts as in its transaction (tdb_in_transaction); statements sent meanwhile run outside it.
 * A failed statement or COMMIT returns its error with nothing committed. */
int tdb_exec_pipeline_commit(int *committed, PGresult **out, tdb *db, const tdb_call *calls, size_t n,
                             const char *what);
/* Runs parameterless SQL through the simple protocol (may hold several statements). */
int tdb_exec_simple(tdb *db, const char *sql, const char *what);

/* The one LISTEN/NOTIFY wait of the core (workers' wake-ups, event watchers): sleeps until a
 * notification arrives on `db` (NULL: none), `wake_fd` becomes readable (-1: none; not read here),
 * the calling thread's cancel token fires, or timeout_ms passes (-1: no limit); then consumes the
 * notifications. Returns how many arrived, or TASKER_ECONN when the connection was lost (it is then
 * marked broken). The connection must have run LISTEN (tdb_exec_simple). */
int tdb_wait_notify(tdb *db, int wake_fd, int timeout_ms);

/* Opens a transaction block. The BEGIN is not sent on its own: it goes with the transaction's first
 * statement, in the same round trip. */
int tdb_begin(tdb *db);
int tdb_commit(tdb *db);
/* Rolls back if a transaction is open; keeps the current error message. Safe on a dead connection. */
void tdb_rollback(tdb *db);
/* 1 while a transaction block is open on this connection (or begun, its BEGIN not yet sent). */
int tdb_in_transaction(tdb *db);
/* Commit and rollback hooks (SQLite's sqlite3_commit_hook is the model): the layers above register
 * them on a connection (the event bus, the metrics, the ready queue), each with its own per-connection
 * state, and this file calls them in the order they were registered without knowing what they do.
 * Each may be NULL. */
typedef struct tdb_hooks {
	int (*before_commit)(tdb *db, void *data);          /* non-zero fails the commit (rolled back) */
	void (*after_commit)(tdb *db, int rc, void *data);  /* rc: how the COMMIT went */
	void (*on_rollback)(tdb *db, void *data);           /* also on a release with no transaction open */
	void (*on_close)(void *data);                       /* the connection closes: free `data` */
	/* Parameterless SQL (static text) to run in the COMMIT's own round trip, just after it and only if
	 * it succeeded, in a transaction of its own, or NULL: what must follow a commit without being part
	 * of it (one NOTIFY: inside the transaction it would take a database-wide lock through the commit's
	 * WAL flush). Best effort: its failure does not fail the commit. */
	const char *(*commit_sql)(tdb *db, void *data);
	/* Non-zero when before_commit has nothing to do now (NULL: it may always have): the COMMIT may then
	 * go in the same round trip as the transaction's last statements (tdb_exec_pipeline_commit). */
	int (*before_commit_idle)(tdb *db, void *data);
} tdb_hooks;
/* At most this many registrants per connection. */
#define TDB_MAX_HOOKS 4
/* Registers the hooks (static storage) with their data; the same hooks again replace the data.
 * TASKER_ENOMEM when TDB_MAX_HOOKS sets are already registered. */
int tdb_add_hooks(tdb *db, const tdb_hooks *hooks, void *data);
/* The data registered with these hooks on this connection, or NULL. */
void *tdb_hook_data(const tdb *db, const tdb_hooks *hooks);

/* Result helpers: NULL-safe text access; the int forms return `dflt` for SQL NULL. */
const char *tdb_get(const PGresult *res, int row, int col);
int tdb_is_null(const PGresult *res, int row, int col);
int64_t tdb_get_i64(const PGresult *res, int row, int col, int64_t dflt);
int tdb_get_bool(const PGresult *res, int row, int col, int dflt);

/* Formats an integer / bool into a caller buffer for use as a text parameter. */
const char *tdb_fmt_i64(char buf[24], int64_t v);
const char *tdb_fmt_bool(int v);

#endif
