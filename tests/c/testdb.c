/* testdb.c — see testdb.h. Test support only; never linked into the library. */
#include "testdb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "testdb: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static const char *server_url(void)
{
	const char *url = getenv("TASKER_DATABASE_URL");
	if (!url || !*url)
		die("TASKER_DATABASE_URL is not set; run the tests through ci/test.sh, which starts PostgreSQL");
	return url;
}

/* Appends key='value' with libpq quoting. */
static void append_kv(char **buf, size_t *len, const char *k, const char *v)
{
	size_t need = strlen(k) + 2 * strlen(v) + 8;
	*buf = realloc(*buf, *len + need);
	char *p = *buf + *len;
	p += sprintf(p, "%s%s='", *len ? " " : "", k);
	for (const char *s = v; *s; s++) {
		if (*s == '\'' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	*len = (size_t)(p - *buf);
}

char *testdb_conninfo_for(const char *dbname)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(server_url(), &err);
	if (!opts)
		die("cannot parse TASKER_DATABASE_URL: %s", err ? err : "?");
	char *buf = NULL;
	size_t len = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && *o->val && strcmp(o->keyword, "dbname") != 0)
			append_kv(&buf, &len, o->keyword, o->val);
	append_kv(&buf, &len, "dbname", dbname);
	PQconninfoFree(opts);
	return buf;
}

static PGconn *connect_or_die(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		die("cannot connect (%s): %s", conninfo, PQerrorMessage(pg));
	PGresult *r = PQexec(pg, "SET TIME ZONE 'UTC'; SET client_min_messages = warning");
	PQclear(r);
	return pg;
}

static PGresult *vsql(PGconn *pg, const char *fmt, va_list ap)
{
	char *sql = NULL;
	if (vasprintf(&sql, fmt, ap) < 0)
		die("out of memory");
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die("SQL failed: %s\n  in: %s", PQerrorMessage(pg), sql);
	free(sql);
	return r;
}

PGresult *testdb_sqlf(PGconn *pg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PGresult *r = vsql(pg, fmt, ap);
	va_end(ap);
	return r;
}

PGresult *testdb_sql(PGconn *pg, const char *sql) { return testdb_sqlf(pg, "%s", sql); }

char *testdb_value(PGconn *pg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PGresult *r = vsql(pg, fmt, ap);
	va_end(ap);
	if (PQntuples(r) < 1)
		die("query returned no rows");
	char *v = strdup(PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

long long testdb_count(PGconn *pg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PGresult *r = vsql(pg, fmt, ap);
	va_end(ap);
	long long n = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

void testdb_open(testdb *t, const char *label, int migrate)
{
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "tasker_test_%s_%d", label, (int)getpid());
	PGconn *admin = connect_or_die(server_url());
	PQclear(testdb_sqlf(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name));
	PQclear(testdb_sqlf(admin, "CREATE DATABASE %s", t->name));
	PQfinish(admin);
	t->conninfo = testdb_conninfo_for(t->name);
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = t->conninfo;
	if (tasker_client_open(&t->client, &o) != 0)
		die("tasker_client_open: %s", tasker_error_last()->message);
	if (migrate && tasker_db_apply_migrations(NULL, t->client) != 0)
		die("tasker_db_apply_migrations: %s", tasker_error_last()->message);
	t->pg = connect_or_die(t->conninfo);
}

void testdb_close(testdb *t)
{
	if (t->pg)
		PQfinish(t->pg);
	tasker_client_free(t->client);
	PGconn *admin = connect_or_die(server_url());
	PQclear(testdb_sqlf(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name));
	PQfinish(admin);
	free(t->conninfo);
	memset(t, 0, sizeof *t);
}

void testdb_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

void testdb_open_template(testdb *t, const char *label, const char *template_yaml, tasker_template_info *out)
{
	testdb_open(t, label, 1);
	if (tasker_template_register_string(out, t->client, template_yaml, 0, label, NULL) != TASKER_OK)
		die("registering the template of %s: %s", label, tasker_error_last()->message);
}

int testdb_teardown(void **state)
{
	testdb_close(*state);
	return 0;
}

static int64_t create_task(tasker_client *client, const char *ns, const char *name, const char *version,
                           const char *context_json)
{
	tasker_task_request rq = TASKER_TASK_REQUEST_INIT;
	rq.name = name;
	rq.namespace_name = ns;
	rq.template_version = version;
	rq.context_json = context_json ? context_json : "{}";
	int64_t id = 0;
	int rc = tasker_task_create(&id, client, &rq);
	if (rc != TASKER_OK)
		die("creating a task of %s.%s@%s: %s", ns, name, version, tasker_error_last()->message);
	return id;
}

int64_t testdb_create_task(tasker_client *client, const tasker_template_info *tpl, const char *context_json)
{
	return create_task(client, tpl->namespace_name, tpl->name, tpl->version, context_json);
}

int64_t testdb_new_task(tasker_client *client, const char *namespace_name, const char *name, const char *context_json)
{
	return create_task(client, namespace_name, name, "1.0.0", context_json);
}

/* Claim options filtering on `handler_class` (NULL: any class; `only` holds the filter) for up to `max`
 * steps (0: the default). */
static tasker_claim_options claim_options(const char **only, const char *handler_class, unsigned max)
{
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	if (max)
		o.max_steps = max;
	if (handler_class) {
		only[0] = handler_class;
		o.handler_classes = only;
		o.handler_class_count = 1;
	}
	return o;
}

tasker_claimed_step *testdb_claim_one(tasker_client *client, const char *handler_class)
{
	const char *only[1];
	tasker_claim_options o = claim_options(only, handler_class, 0);
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	int rc = tasker_steps_claim(&steps, &n, client, &o);
	if (rc != TASKER_OK)
		die("claiming a step of %s: %s", handler_class ? handler_class : "any class", tasker_error_last()->message);
	if (n != 1)
		die("claiming a step of %s: %zu claimed, expected 1", handler_class ? handler_class : "any class", n);
	tasker_claimed_step *s = steps[0];
	tasker_free(steps);
	return s;
}

size_t testdb_claim_count(tasker_client *client, unsigned max, const char *handler_class)
{
	const char *only[1];
	tasker_claim_options o = claim_options(only, handler_class, max);
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	if (tasker_steps_claim(&steps, &n, client, &o) != TASKER_OK)
		die("claiming up to %u steps: %s", max, tasker_error_last()->message);
	testdb_free_claims(steps, n);
	return n;
}

long long testdb_index_reads(PGconn *pg, const char *index)
{
	PQclear(testdb_sql(pg, "SELECT pg_stat_clear_snapshot()"));
	return testdb_count(pg, "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = '%s'", index);
}

void testdb_free_claims(tasker_claimed_step **steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tasker_claimed_step_free(steps[i]);
	tasker_free(steps);
}

tasker_step_result testdb_result_for(const tasker_claimed_step *step, tasker_outcome outcome, const char *results_json)
{
	return (tasker_step_result){step->workflow_step_id, step->claim_id, outcome, results_json, NULL, NULL, NULL,
	                            NULL, NULL, -1, 0, TASKER_STATE_PENDING};
}

char *testdb_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = n >= 0 ? calloc(1, (size_t)n + 1) : NULL;
	if (!s || fread(s, 1, (size_t)n, f) != (size_t)n)
		die("cannot read %s", path);
	fclose(f);
	return s;
}

static void testlog_line(tasker_log_level level, const char *line, void *payload)
{
	testlog *log = payload;
	char event[160];
	(void)level;
	snprintf(event, sizeof event, "\"event\":\"%s\"", log->event);
	if (strstr(line, event) && log->n < 16)
		snprintf(log->lines[log->n++], sizeof log->lines[0], "%s", line);
}

void testlog_start(testlog *log, const char *event)
{
	log->n = 0;
	log->event = event;
	tasker_log_set_handler(TASKER_LOG_WARN, testlog_line, log);
}

void testlog_stop(void)
{
	tasker_log_set_handler(TASKER_LOG_OFF, NULL, NULL);
}
