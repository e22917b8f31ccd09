/*
 * testdb.h — test support: a fresh, migrated database per test program on the server named by
 * $TASKER_DATABASE_URL (started by ci/postgres.sh). Integration tests fail, loudly, without it.
 */
#ifndef TASKER_TESTDB_H
#define TASKER_TESTDB_H

#include <libpq-fe.h>

#include "tasker.h"

typedef struct testdb {
	char name[64];      /* database name, e.g. tasker_test_schema_1234 */
	char *conninfo;     /* key=value connection string for that database (owned) */
	tasker_client *client;
	PGconn *pg;         /* a plain libpq connection for fixtures and assertions */
} testdb;

/* Creates database tasker_test_<label>_<pid>, migrates it (unless migrate == 0) and opens a client
 * and a libpq connection. Aborts the test program with a clear message when anything fails. */
void testdb_open(testdb *t, const char *label, int migrate);
/* Closes everything and drops the database. */
void testdb_close(testdb *t);
/* testdb_open (migrated) and registers `template_yaml` (its info in *out); exits the test program with
 * the reason when the template is refused. */
void testdb_open_template(testdb *t, const char *label, const char *template_yaml, tasker_template_info *out);
/* A CMocka group teardown for a setup that set *state to its testdb: testdb_close. */
int testdb_teardown(void **state);

/* Connection string for another database on the same server (malloc'd). */
char *testdb_conninfo_for(const char *dbname);

/* Runs SQL (no parameters) and aborts on error; returns the result (PQclear it) . */
PGresult *testdb_sql(PGconn *pg, const char *sql);
/* Runs SQL with printf-style formatting of *trusted test literals* and aborts on error. */
PGresult *testdb_sqlf(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* First column of first row as a malloc'd string ("NULL" for SQL NULL). */
char *testdb_value(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long long testdb_count(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sleeps `ms` milliseconds. */
void testdb_sleep_ms(long ms);
/* Creates a task of a registered template with `context_json` (NULL → {}); exits the test program on error. */
int64_t testdb_create_task(tasker_client *client, const tasker_template_info *tpl, const char *context_json);
/* The same for the template namespace_name.name@1.0.0. */
int64_t testdb_new_task(tasker_client *client, const char *namespace_name, const char *name, const char *context_json);
/* Claims exactly one ready step of `handler_class` (NULL: of any class); exits the test program unless
 * exactly one was claimed. Free it with tasker_claimed_step_free. */
tasker_claimed_step *testdb_claim_one(tasker_client *client, const char *handler_class);
/* Claims up to `max` steps of `handler_class` (NULL: of any class) on `client`, frees them and returns
 * how many were claimed; exits the test program when the claim fails. */
size_t testdb_claim_count(tasker_client *client, unsigned max, const char *handler_class);
/* Entries of index `index` read so far, as the server's statistics count them (a backend reports its
 * counts at the end of a transaction at most once a second; what a second's wait held back arrives
 * when it next ends one, after 10 s idle, or as it exits: close a client to have its counts now). */
long long testdb_index_reads(PGconn *pg, const char *index);
/* Frees what tasker_steps_claim returned. */
void testdb_free_claims(tasker_claimed_step **steps, size_t n);
/* A result for the claimed step with this outcome and results (no error fields, no retry_after), ready
 * for tasker_steps_complete. */
tasker_step_result testdb_result_for(const tasker_claimed_step *step, tasker_outcome outcome, const char *results_json);
/* The whole file as a NUL-terminated string (malloc'd); aborts when it cannot be read. */
char *testdb_read_file(const char *path);

/* The library's log lines (TASKER_LOG_WARN and above) whose "event" is `event`, kept while capturing. */
typedef struct testlog {
	char lines[16][1024];
	int n;
	const char *event;
} testlog;

/* Installs a log handler that fills *log (emptied first); testlog_stop removes it. */
void testlog_start(testlog *log, const char *event);
void testlog_stop(void);

#endif
