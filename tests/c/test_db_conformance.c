/*
 * test_db_conformance.c — the C runner of the conformance suite (tests/conformance/README.md): every
 * case file is a workflow described as data; this runner executes it with C step handlers against a
 * fresh database and checks the expected task and step outcomes. One CMocka test per case file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"
#include "util.h"

#define CONF_DIR TASKER_SOURCE_DIR "/tests/conformance"
#define MAX_STEPS 256

typedef struct run_count {
	char name[129];
	int runs;
} run_count;

typedef struct conf_case {
	char path[512];
	cJSON *doc;
	cJSON *behaviours;
	tasker_client *client;
	int64_t task_id;
	pthread_mutex_t mu;
	run_count counts[MAX_STEPS];
	size_t ncounts;
	int passed; /* run_case reached its end: every expectation held */
} conf_case;

/* Counts one more run of `name`'s handler; returns the run number (1 for the first). */
static int count_run(conf_case *c, const char *name)
{
	pthread_mutex_lock(&c->mu);
	size_t i = 0;
	while (i < c->ncounts && strcmp(c->counts[i].name, name) != 0)
		i++;
	if (i == c->ncounts && c->ncounts < MAX_STEPS)
		snprintf(c->counts[c->ncounts++].name, sizeof c->counts[0].name, "%s", name);
	int n = i < MAX_STEPS ? ++c->counts[i].runs : 0;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static int runs_of(conf_case *c, const char *name)
{
	int n = 0;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->ncounts; i++)
		if (strcmp(c->counts[i].name, name) == 0)
			n = c->counts[i].runs;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static const cJSON *behaviour_of(const conf_case *c, const char *step)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(c->behaviours, step);
	return b ? b : cJSON_GetObjectItemCaseSensitive(c->behaviours, "*");
}

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static const char *str_or_null(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The JSON text of a member of a case document, numbers exactly as the case wrote them (malloc'd), or
 * NULL when the member is absent. */
static char *json_or_null(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return v ? tjson_print(v) : NULL;
}

static const tasker_sequence_step *seq_find(const tasker_claimed_step *step, const char *name)
{
	for (size_t i = 0; i < step->sequence_count; i++)
		if (strcmp(step->sequence[i].name, name) == 0)
			return &step->sequence[i];
	return NULL;
}

/* Whether a parsed number is an integer, and its value. A long integer keeps its text (tjson_parse);
 * a shorter one is an integral double (this runner cannot tell 2 from 2.0 there, and need not). */
static int integer_of(const cJSON *v, long long *out, int *overflow)
{
	if (!cJSON_IsNumber(v))
		return 0;
	if (v->valuestring) {
		if (strpbrk(v->valuestring, ".eE"))
			return 0;
		errno = 0;
		*out = strtoll(v->valuestring, NULL, 10);
		*overflow |= errno == ERANGE;
		return 1;
	}
	if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9007199254740991.0)
		return 0;
	*out = (long long)v->valuedouble;
	return 1;
}

/* {"value": add + Σ results.value of the `from` steps of the sequence} (a missing value counts 0):
 * exact 64-bit integer arithmetic while every term is an integer, a double otherwise. */
static char *add_from(const tasker_claimed_step *step, const cJSON *add, const cJSON *from)
{
	long long isum = 0, term = 0;
	double dsum = add->valuedouble;
	int overflow = 0, exact = integer_of(add, &isum, &overflow);
	const cJSON *name;
	cJSON_ArrayForEach(name, from) {
		const tasker_sequence_step *q = seq_find(step, name->valuestring);
		cJSON *r = q ? tjson_parse(q->results_json, "results") : NULL;
		const cJSON *v = get(r, "value");
		if (cJSON_IsNumber(v)) {
			dsum += v->valuedouble;
			exact = exact && integer_of(v, &term, &overflow);
			if (exact)
				overflow |= __builtin_add_overflow(isum, term, &isum);
		}
		cJSON_Delete(r);
	}
	if (exact && overflow)
		fail_msg("step %s: the sum does not fit 64 bits (keep `add` cases within them)", step->name);
	cJSON *o = cJSON_CreateObject();
	char digits[32];
	snprintf(digits, sizeof digits, "%lld", isum);
	if (exact)
		cJSON_AddRawToObject(o, "value", digits);
	else
		cJSON_AddNumberToObject(o, "value", dsum);
	char *out = tjson_print(o);
	cJSON_Delete(o);
	return out;
}

/* What the handler saw of the task, the step and the sequence (the `report` behaviour). */
static char *report(const conf_case *c, const tasker_claimed_step *s, const cJSON *from)
{
	cJSON *r = cJSON_CreateObject(), *task = cJSON_AddObjectToObject(r, "task");
	cJSON_AddBoolToObject(task, "task_id_matches", s->task_id == c->task_id);
	cJSON_AddStringToObject(task, "name", s->task_name);
	cJSON_AddStringToObject(task, "namespace", s->namespace_name);
	cJSON_AddStringToObject(task, "version", s->task_version);
	cJSON_AddRawToObject(task, "context", s->context_json);
	cJSON_AddRawToObject(task, "tags", s->tags_json);
	cJSON_AddStringToObject(task, "initiator", s->initiator);
	cJSON_AddStringToObject(task, "source_system", s->source_system);
	cJSON_AddStringToObject(task, "reason", s->reason);
	cJSON *st = cJSON_AddObjectToObject(r, "step");
	const tasker_sequence_step *self = seq_find(s, s->name);
	cJSON_AddBoolToObject(st, "id_matches", self && self->workflow_step_id == s->workflow_step_id);
	cJSON_AddStringToObject(st, "name", s->name);
	cJSON_AddNumberToObject(st, "attempts", s->attempts);
	cJSON_AddNumberToObject(st, "retry_limit", s->retry_limit);
	cJSON_AddRawToObject(st, "handler_config", s->handler_config_json);
	cJSON_AddRawToObject(st, "inputs", s->inputs_json);
	cJSON *seq = cJSON_AddArrayToObject(r, "sequence");
	for (size_t i = 0; i < s->sequence_count; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", s->sequence[i].name);
		cJSON_AddStringToObject(e, "state", tasker_state_name(s->sequence[i].state));
		cJSON_AddNumberToObject(e, "attempts", s->sequence[i].attempts);
		cJSON_AddItemToArray(seq, e);
	}
	cJSON *deps = cJSON_AddObjectToObject(r, "dependencies");
	const cJSON *name;
	cJSON_ArrayForEach(name, from) {
		const tasker_sequence_step *q = seq_find(s, name->valuestring);
		cJSON_AddRawToObject(deps, name->valuestring, q ? q->results_json : "null");
	}
	cJSON_AddRawToObject(r, "missing", seq_find(s, "no_such_step") ? "\"found\"" : "null");
	char *out = tjson_print(r);
	cJSON_Delete(r);
	return out;
}

/* This thread's stack as a JSON array of strings: C's backtrace for an unexpected failure. */
static char *stack_json(void)
{
	void *frames[32];
	int n = backtrace(frames, 32);
	char **names = backtrace_symbols(frames, n);
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; names && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
	free(names);
	char *out = tjson_print(a);
	cJSON_Delete(a);
	return out;
}

/* Fails this run as the behaviour's `raise` says, when it applies to `where` ("process" or
 * "process_results") and to this run. Returns 1 when it failed the run. */
static int raise_if(const cJSON *b, const char *where, const tasker_claimed_step *step, int run,
                    tasker_step_error *err)
{
	const cJSON *r = get(b, "raise"), *times = get(r, "times"), *after = get(r, "retry_after");
	const char *in = str_or_null(b, "raise_in"), *kind = str_or_null(r, "error");
	if (!r || strcmp(in ? in : "process", where) != 0 || (cJSON_IsNumber(times) && run > times->valueint))
		return 0;
	char message[512];
	if (str_or_null(r, "message"))
		snprintf(message, sizeof message, "%s", str_or_null(r, "message"));
	else
		snprintf(message, sizeof message, "%s failed (run %d)", step->name, run);
	if (strcmp(kind, "other") == 0) { /* no outcome set: the default, retryable */
		snprintf(err->message, sizeof err->message, "%s", message);
		err->backtrace_json = stack_json();
		return 1;
	}
	int permanent = strcmp(kind, "permanent") == 0;
	/* A handler's retry_after is whole seconds for the core: a fraction waits the next whole second. */
	tasker_step_error_set(err, permanent ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE,
	                      !permanent && cJSON_IsNumber(after) ? (int)ceil(after->valuedouble) : -1,
	                      permanent ? str_or_null(r, "error_code") : NULL, "%s", message);
	snprintf(err->error_class, sizeof err->error_class, "%s", permanent ? "PermanentError" : "RetryableError");
	if (get(r, "context"))
		err->context_json = json_or_null(r, "context");
	return 1;
}

/* The legacy failure words: fail_times (retryable), permanent, retry_after, error_code. */
static int fail_if(const cJSON *b, const tasker_claimed_step *step, int run, tasker_step_error *err)
{
	const cJSON *fail_times = get(b, "fail_times");
	int permanent = cJSON_IsTrue(get(b, "permanent"));
	if (!permanent && !(cJSON_IsNumber(fail_times) && run <= fail_times->valueint))
		return 0;
	const cJSON *after = get(b, "retry_after");
	tasker_step_error_set(err, permanent ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE,
	                      cJSON_IsNumber(after) ? after->valueint : -1, str_or_null(b, "error_code"),
	                      "%s failed (run %d)", step->name, run);
	return 1;
}

/* What process returns, as JSON text (or, for return_invalid, text that is not JSON). */
static char *output_of(const conf_case *c, const cJSON *b, const tasker_claimed_step *step)
{
	const char *invalid = str_or_null(b, "return_invalid"), *copy = str_or_null(b, "copy_from");
	if (invalid) /* C's results are text: a number JSON has no word for, or no JSON at all */
		return strdup(strcmp(invalid, "number") == 0 ? "{\"value\": NaN}" : "an object with no JSON form");
	if (cJSON_IsTrue(get(b, "report")))
		return report(c, step, get(b, "from"));
	if (cJSON_IsTrue(get(b, "echo_context")))
		return strdup(step->context_json);
	if (copy) {
		const tasker_sequence_step *q = seq_find(step, copy);
		return strdup(q ? q->results_json : "null");
	}
	if (cJSON_IsNumber(get(b, "add")))
		return add_from(step, get(b, "add"), get(b, "from"));
	if (get(b, "result"))
		return json_or_null(b, "result");
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "step", step->name);
	char *out = tjson_print(r);
	cJSON_Delete(r);
	return out;
}

static int process(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	conf_case *c = payload;
	const cJSON *b = behaviour_of(c, step->name);
	int run = count_run(c, step->name);
	const cJSON *sleep_ms = get(b, "sleep_ms");
	if (cJSON_IsNumber(sleep_ms))
		usleep((useconds_t)sleep_ms->valueint * 1000);
	if (cJSON_IsTrue(get(b, "cancel_task")))
		assert_int_equal(tasker_task_cancel(c->client, step->task_id), TASKER_OK);
	if (fail_if(b, step, run, err) || raise_if(b, "process", step, run, err))
		return 1;
	*out = output_of(c, b, step);
	return 0;
}

/* C has no step object to assign results to: what process_results returns is what is stored. So
 * `assign` is returned here (it wins over process's output), `wrap` returns {output, initial}, and
 * `return_only` (an override that assigns nothing) returns the results the step had before process. */
static int process_results(char **out, const tasker_claimed_step *step, const char *output,
                           tasker_step_error *err, void *payload)
{
	conf_case *c = payload;
	const cJSON *b = behaviour_of(c, step->name);
	const char *mode = str_or_null(b, "process_results");
	if (raise_if(b, "process_results", step, runs_of(c, step->name), err))
		return 1;
	if (mode && strcmp(mode, "wrap") == 0) {
		cJSON *w = cJSON_CreateObject();
		cJSON_AddRawToObject(w, "output", output);
		cJSON_AddRawToObject(w, "initial", step->results_json);
		*out = tjson_print(w);
		cJSON_Delete(w);
	} else if (get(b, "assign")) {
		*out = json_or_null(b, "assign");
	} else {
		*out = strdup(mode && strcmp(mode, "return_only") == 0 ? step->results_json : output);
	}
	return 0;
}

/* Registers one handler per handler_class of the template (read back from the named task). */
static void register_handlers(tasker_worker *w, conf_case *c, PGconn *pg, const tasker_template_info *info)
{
	PGresult *r = testdb_sqlf(pg,
	                          "SELECT DISTINCT s->>'handler_class' FROM tasker_named_tasks nt "
	                          "JOIN tasker_task_namespaces ns USING (task_namespace_id), "
	                          "jsonb_array_elements(nt.configuration->'step_templates') s "
	                          "WHERE ns.name = '%s' AND nt.name = '%s' AND nt.version = '%s'",
	                          info->namespace_name, info->name, info->version);
	assert_true(PQntuples(r) > 0);
	for (int i = 0; i < PQntuples(r); i++) {
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, PQgetvalue(r, i, 0), process, process_results, c};
		assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	}
	PQclear(r);
}

static void run_worker(conf_case *c, PGconn *pg, const tasker_template_info *info)
{
	tasker_worker *w = NULL;
	tasker_worker_options wo = TASKER_WORKER_OPTIONS_INIT;
	assert_int_equal(tasker_worker_new(&w, c->client, &wo), TASKER_OK);
	register_handlers(w, c, pg, info);
	int rc = tasker_worker_run_until_idle(w);
	if (rc)
		fail_msg("%s: worker: %s", c->path, tasker_error_last()->message);
	tasker_worker_free(w);
}

typedef struct dup_arg {
	const char *conninfo;
	const tasker_task_request *req;
	pthread_barrier_t *barrier;
	int rc;
	int64_t id;
} dup_arg;

static void *dup_create(void *p)
{
	dup_arg *a = p;
	tasker_client *cl = NULL;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = a->conninfo;
	o.pool_size = 1;
	a->rc = tasker_client_open(&cl, &o);
	pthread_barrier_wait(a->barrier);
	if (a->rc == TASKER_OK)
		a->rc = tasker_task_create(&a->id, cl, a->req);
	tasker_client_free(cl);
	return NULL;
}

/* Sends the same request from n connections at once: exactly one creates, the others find it. */
static int64_t create_duplicates(const char *conninfo, const tasker_task_request *req, int n)
{
	pthread_t th[64];
	dup_arg args[64];
	pthread_barrier_t barrier;
	assert_true(n > 1 && n <= 64);
	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		args[i] = (dup_arg){conninfo, req, &barrier, 0, 0};
		assert_int_equal(pthread_create(&th[i], NULL, dup_create, &args[i]), 0);
	}
	int created = 0, existed = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (args[i].rc == TASKER_OK)
			created++;
		else if (args[i].rc == TASKER_EXISTS)
			existed++;
		assert_int_equal(args[i].id, args[0].id);
	}
	pthread_barrier_destroy(&barrier);
	assert_int_equal(created, 1);
	assert_int_equal(existed, n - 1);
	return args[0].id;
}

static int64_t create_task(conf_case *c, testdb *t, const tasker_template_info *info)
{
	const cJSON *rq = cJSON_GetObjectItemCaseSensitive(c->doc, "request");
	char *context = json_or_null(rq, "context");
	char *tags = json_or_null(rq, "tags");
	char *bypass = json_or_null(rq, "bypass_steps");
	tasker_task_request req = TASKER_TASK_REQUEST_INIT;
	req.name = info->name;
	req.namespace_name = info->namespace_name;
	req.template_version = info->version;
	req.context_json = context;
	req.tags_json = tags;
	req.bypass_steps_json = bypass;
	req.initiator = str_or_null(rq, "initiator");
	req.source_system = str_or_null(rq, "source_system");
	req.reason = str_or_null(rq, "reason");
	req.requested_at = str_or_null(rq, "requested_at");
	const char *identity = str_or_null(rq, "identity_strategy");
	req.identity_strategy = identity && strcmp(identity, "hash") == 0 ? TASKER_IDENTITY_HASH : TASKER_IDENTITY_UNIQUE;
	const cJSON *dups = cJSON_GetObjectItemCaseSensitive(rq, "duplicates");
	int64_t id = 0;
	if (cJSON_IsNumber(dups)) {
		id = create_duplicates(t->conninfo, &req, dups->valueint);
	} else {
		int rc = tasker_task_create(&id, c->client, &req);
		if (rc != TASKER_OK)
			fail_msg("%s: task create: %s", c->path, tasker_error_last()->message);
	}
	free(context);
	free(tags);
	free(bypass);
	return id;
}

static const tasker_step_view *step_named(const tasker_task_view *v, const char *name)
{
	for (size_t i = 0; i < v->step_count; i++)
		if (strcmp(v->steps[i].name, name) == 0)
			return &v->steps[i];
	fail_msg("no step named %s", name);
	return NULL;
}

/* Asks PostgreSQL a yes/no question about JSON values ($1, $2, ...): jsonb compares numbers by value,
 * exactly, so integers of any size are compared without rounding. */
static int json_sql_true(PGconn *pg, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	int yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return yes;
}

/* Each member of `want` against the object text `got`: "*" must be present and not empty, null must
 * be absent, anything else equal. */
static void expect_members(PGconn *pg, const char *where, const cJSON *want, const char *got)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, want) {
		char *w = tjson_print(m);
		const char *p[] = {got, m->string, w};
		const char *what = cJSON_IsNull(m) ? "must be absent" : "expected";
		int ok;
		if (cJSON_IsNull(m))
			ok = !json_sql_true(pg, "SELECT $1::jsonb ? $2", 2, p);
		else if (cJSON_IsString(m) && strcmp(m->valuestring, "*") == 0)
			ok = json_sql_true(pg, "SELECT coalesce(($1::jsonb -> $2) NOT IN "
			                       "('null', '\"\"', '[]', '{}'), false)", 2, p);
		else
			ok = json_sql_true(pg, "SELECT coalesce(($1::jsonb -> $2) = $3::jsonb, false)", 3, p);
		if (!ok)
			fail_msg("%s: %s %s %s, got %s", where, m->string, what, w, got);
		free(w);
	}
}

/* The step's transitions to each named state, in order: as many as listed, each matching its members. */
static void expect_transitions(PGconn *pg, const char *where, const tasker_step_view *s, const cJSON *want)
{
	const cJSON *state;
	cJSON_ArrayForEach(state, want) {
		char id[24];
		snprintf(id, sizeof id, "%lld", (long long)s->workflow_step_id);
		const char *p[] = {id, state->string};
		PGresult *r = PQexecParams(pg, "SELECT metadata::text FROM tasker_workflow_step_transitions "
		                               "WHERE workflow_step_id = $1 AND to_state = $2 ORDER BY sort_key",
		                           2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s: transitions: %s", where, PQerrorMessage(pg));
		if (PQntuples(r) != cJSON_GetArraySize(state))
			fail_msg("%s: %d transitions to %s, expected %d", where, PQntuples(r), state->string,
			         cJSON_GetArraySize(state));
		for (int i = 0; i < PQntuples(r); i++) {
			char label[700];
			snprintf(label, sizeof label, "%s: transition %d to %s", where, i + 1, state->string);
			expect_members(pg, label, cJSON_GetArrayItem(state, i), PQgetvalue(r, i, 0));
		}
		PQclear(r);
	}
}

/* results_keys: the results are an object with exactly these top-level keys. */
static void expect_keys(PGconn *pg, const char *where, const cJSON *want, const char *got)
{
	char *w = tjson_print(want);
	const char *p[] = {got, w};
	if (!json_sql_true(pg, "SELECT jsonb_typeof($1::jsonb) = 'object' AND (SELECT coalesce(jsonb_agg(k ORDER BY k), "
	                       "'[]') FROM jsonb_object_keys($1::jsonb) k) = (SELECT coalesce(jsonb_agg(e ORDER BY e), "
	                       "'[]') FROM jsonb_array_elements_text($2::jsonb) e)", 2, p))
		fail_msg("%s: results keys expected %s: %s", where, w, got);
	free(w);
}

static void check_step(const char *path, PGconn *pg, const tasker_step_view *s, const cJSON *e)
{
	char where[600];
	snprintf(where, sizeof where, "%s: step %s", path, s->name);
	const char *state = str_or_null(e, "state");
	if (state && strcmp(state, tasker_state_name(s->state)) != 0)
		fail_msg("%s: state %s, expected %s", where, tasker_state_name(s->state), state);
	const cJSON *attempts = get(e, "attempts"), *processed = get(e, "processed"), *retryable = get(e, "retryable");
	if (attempts && attempts->valueint != s->attempts)
		fail_msg("%s: attempts %d, expected %d", where, s->attempts, attempts->valueint);
	if (processed && cJSON_IsTrue(processed) != (s->processed != 0))
		fail_msg("%s: processed %d", where, s->processed);
	if (retryable && cJSON_IsTrue(retryable) != (s->retryable != 0))
		fail_msg("%s: retryable %d", where, s->retryable);
	char *results = json_or_null(e, "results"), *inc = json_or_null(e, "results_include");
	const char *p[] = {s->results_json, results ? results : inc};
	if (results && !json_sql_true(pg, "SELECT $1::jsonb = $2::jsonb", 2, p))
		fail_msg("%s: results: expected %s, got %s", where, results, s->results_json);
	p[1] = inc;
	if (inc && !json_sql_true(pg, "SELECT $1::jsonb @> $2::jsonb", 2, p))
		fail_msg("%s: results do not contain %s: %s", where, inc, s->results_json);
	free(results);
	free(inc);
	if (get(e, "results_keys"))
		expect_keys(pg, where, get(e, "results_keys"), s->results_json);
	if (get(e, "error")) {
		const char *q[] = {s->results_json};
		PGresult *r = PQexecParams(pg, "SELECT coalesce(($1::jsonb -> 'error_details')::text, '{}')", 1, NULL, q,
		                           NULL, NULL, 0);
		expect_members(pg, where, get(e, "error"), PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	if (get(e, "transitions"))
		expect_transitions(pg, where, s, get(e, "transitions"));
}

/* a finished (complete / resolved) before b was started: compared by transition ids. */
static void check_order(const char *path, PGconn *pg, const tasker_task_view *v, const cJSON *pair)
{
	const char *a = cJSON_GetArrayItem(pair, 0)->valuestring, *b = cJSON_GetArrayItem(pair, 1)->valuestring;
	long long ok = testdb_count(pg,
	                            "SELECT count(*) FROM (SELECT "
	                            " (SELECT max(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = %lld "
	                            "   AND to_state IN ('complete', 'resolved_manually')) AS done, "
	                            " (SELECT min(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = %lld "
	                            "   AND to_state = 'in_progress') AS started) x WHERE done < started",
	                            (long long)step_named(v, a)->workflow_step_id,
	                            (long long)step_named(v, b)->workflow_step_id);
	if (ok != 1)
		fail_msg("%s: expected %s to finish before %s started", path, a, b);
}

static void check_expectations(conf_case *c, testdb *t, int64_t elapsed_ms)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(c->doc, "expect");
	tasker_task_view *v = NULL;
	assert_int_equal(tasker_task_get(&v, c->client, c->task_id), TASKER_OK);
	const char *want = str_or_null(e, "task_state");
	if (want && strcmp(want, tasker_state_name(v->state)) != 0)
		fail_msg("%s: task state %s, expected %s", c->path, tasker_state_name(v->state), want);
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(e, "steps");
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(steps, "*");
	for (size_t i = 0; i < v->step_count; i++) {
		const cJSON *se = cJSON_GetObjectItemCaseSensitive(steps, v->steps[i].name);
		if (se || all)
			check_step(c->path, t->pg, &v->steps[i], se ? se : all);
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, steps) {
		if (strcmp(it->string, "*") != 0)
			step_named(v, it->string); /* a misspelt name fails the case */
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(e, "order")) check_order(c->path, t->pg, v, it);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(e, "handler_runs")) {
		step_named(v, it->string);
		if (runs_of(c, it->string) != it->valueint)
			fail_msg("%s: handler of %s ran %d times, expected %d", c->path, it->string, runs_of(c, it->string),
			         it->valueint);
	}
	const cJSON *min_ms = cJSON_GetObjectItemCaseSensitive(e, "min_elapsed_ms");
	if (min_ms && elapsed_ms < min_ms->valueint)
		fail_msg("%s: finished after %lld ms, expected at least %d", c->path, (long long)elapsed_ms,
		         min_ms->valueint);
	/* Whatever the outcome, nothing may be left claimed; a finished task leaves nothing queued. */
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims"), 0);
	if (v->state == TASKER_STATE_COMPLETE || v->state == TASKER_STATE_CANCELLED)
		assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps"), 0);
	tasker_task_view_free(v);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void do_actions(conf_case *c, testdb *t, const tasker_template_info *info)
{
	const cJSON *actions = cJSON_GetObjectItemCaseSensitive(c->doc, "actions");
	if (!actions) {
		run_worker(c, t->pg, info);
		return;
	}
	const cJSON *a;
	cJSON_ArrayForEach(a, actions) {
		const char *resolve = str_or_null(a, "resolve");
		const char *want = str_or_null(a, "expect_task_state");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "run"))) {
			run_worker(c, t->pg, info);
		} else if (resolve) {
			tasker_task_view *v = NULL;
			assert_int_equal(tasker_task_get(&v, c->client, c->task_id), TASKER_OK);
			char *results = json_or_null(a, "results");
			int rc = tasker_step_resolve(c->client, step_named(v, resolve)->workflow_step_id, results);
			if (rc)
				fail_msg("%s: resolve %s: %s", c->path, resolve, tasker_error_last()->message);
			free(results);
			tasker_task_view_free(v);
		} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "retry_task"))) {
			if (tasker_task_retry(c->client, c->task_id))
				fail_msg("%s: retry: %s", c->path, tasker_error_last()->message);
		} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "cancel_task"))) {
			if (tasker_task_cancel(c->client, c->task_id))
				fail_msg("%s: cancel: %s", c->path, tasker_error_last()->message);
		} else if (want) {
			tasker_state s;
			assert_int_equal(tasker_task_state(&s, c->client, c->task_id), TASKER_OK);
			if (strcmp(tasker_state_name(s), want) != 0)
				fail_msg("%s: task is %s, expected %s", c->path, tasker_state_name(s), want);
		} else {
			fail_msg("%s: unknown action", c->path);
		}
	}
}

static void run_case(void **state)
{
	conf_case *c = *state;
	char *text = testdb_read_file(c->path);
	assert_non_null(text);
	c->doc = tjson_parse(text, c->path); /* numbers keep the text the case wrote */
	free(text);
	if (!c->doc)
		fail_msg("%s: not valid JSON", c->path);
	c->behaviours = cJSON_GetObjectItemCaseSensitive(c->doc, "behaviours");

	testdb t;
	testdb_open(&t, "conformance", 1);
	tasker_config cfg;
	tasker_config_init(&cfg);
	if (tasker_config_load_file(&cfg, CONF_DIR "/config.yml"))
		fail_msg("config.yml: %s", tasker_error_last()->message);
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = t.conninfo;
	o.config = &cfg;
	assert_int_equal(tasker_client_open(&c->client, &o), TASKER_OK);
	tasker_config_clear(&cfg);

	char tpl[1024];
	const char *slash = strrchr(c->path, '/');
	snprintf(tpl, sizeof tpl, "%.*s/%s", (int)(slash - c->path), c->path,
	         str_or_null(c->doc, "template"));
	tasker_template_info info;
	if (tasker_template_register_file(&info, c->client, tpl, NULL))
		fail_msg("%s: template: %s", c->path, tasker_error_last()->message);
	int64_t started = now_ms();
	c->task_id = create_task(c, &t, &info);
	do_actions(c, &t, &info);
	if (getenv("TASKER_CONFORMANCE_TRACE")) { /* every transition, for whoever debugs a case */
		PGresult *r = testdb_sql(t.pg, "SELECT to_char(x.created_at, 'HH24:MI:SS.US'), s.name, x.from_state, x.to_state "
		                                "FROM tasker_workflow_step_transitions x JOIN tasker_workflow_steps w "
		                                "USING (workflow_step_id) JOIN tasker_named_steps s USING (named_step_id) "
		                                "ORDER BY x.id");
		for (int i = 0; i < PQntuples(r); i++)
			printf("  %s %-24s %s -> %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			       PQgetvalue(r, i, 3));
		PQclear(r);
	}
	check_expectations(c, &t, now_ms() - started);

	tasker_client_free(c->client);
	cJSON_Delete(c->doc);
	testdb_close(&t);
	c->passed = 1;
}

/* One line per case in the form every language's runner prints (ci/conformance-table.sh reads them).
 * CMocka runs a teardown also after a failed test, whose body never reached `passed = 1`. */
static int report_case(void **state)
{
	const conf_case *c = *state;
	const char *file = strrchr(c->path, '/') + 1;
	printf("conformance c %.*s %s\n", (int)(strlen(file) - 5), file, c->passed ? "ok" : "FAIL");
	fflush(stdout);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

int main(void)
{
	DIR *d = opendir(CONF_DIR "/cases");
	if (!d) {
		fprintf(stderr, "cannot open %s/cases\n", CONF_DIR);
		return 1;
	}
	struct CMUnitTest tests[128];
	conf_case *cases = calloc(128, sizeof *cases);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 128) {
		size_t len = strlen(de->d_name);
		const char *only = getenv("TASKER_CONFORMANCE_CASE"); /* run one case: a substring of its file name */
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 || (only && !strstr(de->d_name, only)))
			continue;
		conf_case *c = &cases[n];
		snprintf(c->path, sizeof c->path, "%s/cases/%s", CONF_DIR, de->d_name);
		pthread_mutex_init(&c->mu, NULL);
		tests[n] = (struct CMUnitTest){strrchr(c->path, '/') + 1, run_case, NULL, report_case, c};
		n++;
	}
	closedir(d);
	qsort(tests, n, sizeof tests[0], by_name);
	printf("conformance: %zu cases\n", n);
	int failed = _cmocka_run_group_tests("conformance", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		pthread_mutex_destroy(&cases[i].mu);
	free(cases);
	return failed;
}
