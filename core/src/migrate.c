/*
 * migrate.c — applies the embedded migrations, each once, in order, under a session advisory lock,
 * recording them in tasker_core_schema_migrations. Never alters a migration's SQL.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "migrations.h"

/* 'tasker' in ASCII: the advisory lock every migrating process takes. */
#define MIGRATION_LOCK_KEY "127970394916210"

static const tdb_stmt Q_LOCK = {"migrate_lock", "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")"};
static const tdb_stmt Q_UNLOCK = {"migrate_unlock",
                                  "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"};
static const tdb_stmt Q_APPLIED = {"migrate_applied",
                                   "SELECT version FROM tasker_core_schema_migrations ORDER BY version"};
static const tdb_stmt Q_LEDGER_EXISTS = {
	"migrate_ledger_exists", "SELECT to_regclass('tasker_core_schema_migrations') IS NOT NULL"};
enum { APPLIED_VERSION = 0, LEDGER_EXISTS = 0 }; /* the one column of Q_APPLIED and Q_LEDGER_EXISTS */
static const tdb_stmt Q_RECORD = {
	"migrate_record",
	"INSERT INTO tasker_core_schema_migrations (version, name, applied_at) "
	"VALUES ($1::int, $2, " NOW_UTC ")"};

static const char LEDGER_DDL[] =
	"CREATE TABLE IF NOT EXISTS tasker_core_schema_migrations ("
	" version integer PRIMARY KEY,"
	" name varchar NOT NULL,"
	" applied_at timestamp(6) without time zone NOT NULL)";

/* Fills applied[i] = 1 for every embedded migration recorded in the ledger. */
static int read_ledger(tdb *db, int *applied)
{
	PGresult *res;
	int rc = tdb_exec(&res, db, &Q_LEDGER_EXISTS, 0, NULL, "reading the migration ledger");
	if (rc)
		return rc;
	int exists = tdb_get_bool(res, 0, LEDGER_EXISTS, 0);
	PQclear(res);
	if (!exists)
		return TASKER_OK;
	if ((rc = tdb_exec(&res, db, &Q_APPLIED, 0, NULL, "reading the migration ledger")))
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		int v = (int)tdb_get_i64(res, r, APPLIED_VERSION, -1);
		for (size_t i = 0; i < tasker_migrations_count; i++)
			if (tasker_migrations[i].version == v)
				applied[i] = 1;
	}
	PQclear(res);
	return TASKER_OK;
}

static int apply_one(tdb *db, const tasker_migration *m)
{
	char vbuf[24];
	const char *params[] = {tdb_fmt_i64(vbuf, m->version), m->name};
	int rc = tdb_begin(db);
	if (!rc)
		rc = tdb_exec_simple(db, m->sql, "running migration");
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_RECORD, 2, params, "recording migration");
	if (!rc)
		rc = tdb_commit(db);
	if (rc) {
		const tasker_error *e = tasker_error_last();
		char cause[1600];
		strncpy(cause, e->message, sizeof cause - 1);
		cause[sizeof cause - 1] = '\0';
		tdb_rollback(db);
		rc = tasker_set_error(TASKER_EMIGRATION, "migration %s failed and was rolled back: %s",
		                      m->name, cause);
	}
	return rc;
}

static int migrate_locked(tdb *db, int *out_applied)
{
	int *applied = calloc(tasker_migrations_count + 1, sizeof *applied);
	if (!applied)
		return tasker_set_oom();
	int rc = tdb_exec_simple(db, LEDGER_DDL, "creating the migration ledger");
	if (!rc)
		rc = read_ledger(db, applied);
	for (size_t i = 0; !rc && i < tasker_migrations_count; i++) {
		if (applied[i])
			continue;
		rc = apply_one(db, &tasker_migrations[i]);
		if (!rc && out_applied)
			(*out_applied)++;
	}
	free(applied);
	return rc;
}

int tasker_db_apply_migrations(int *out_applied, tasker_client *client)
{
	tdb *db;
	if (out_applied)
		*out_applied = 0;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	rc = tdb_exec(NULL, db, &Q_LOCK, 0, NULL, "taking the migration lock");
	if (!rc) {
		rc = migrate_locked(db, out_applied);
		/* Unlock even after a failure; keep the failure's message. */
		if (!tdb_is_broken(db)) {
			int urc = tdb_exec(NULL, db, &Q_UNLOCK, 0, NULL, "releasing the migration lock");
			if (!rc)
				rc = urc;
		}
	}
	tclient_release(client, db);
	return rc;
}

int tasker_db_migration_status(tasker_migration_status **out, size_t *out_count,
                               tasker_client *client)
{
	*out = NULL;
	*out_count = 0;
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	int *applied = calloc(tasker_migrations_count + 1, sizeof *applied);
	tasker_migration_status *st = calloc(tasker_migrations_count + 1, sizeof *st);
	if (!applied || !st) {
		rc = tasker_set_oom();
	} else {
		rc = read_ledger(db, applied);
	}
	tclient_release(client, db);
	if (!rc) {
		for (size_t i = 0; i < tasker_migrations_count; i++) {
			st[i].version = tasker_migrations[i].version;
			st[i].name = tasker_migrations[i].name;
			st[i].applied = applied[i];
		}
		*out = st;
		*out_count = tasker_migrations_count;
	} else {
		free(st);
	}
	free(applied);
	return rc;
}
