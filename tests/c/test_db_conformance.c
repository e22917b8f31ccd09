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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testdb.h"

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
	for (size_t i = 0; i < c->ncounts; i++)
		if (strcmp(c->counts[i].name, name) == 0)
			return c->counts[i].runs;
	return 0;
}

static const cJSON *behaviour_of(const conf_case *c, const char *step)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(c->behaviours, step);
	return b ? b : cJSON_GetObjectItemCaseSensitive(c->behaviours, "*");
}

/* Σ results.value of the named steps of the sequence. */
static double sum_from(const tasker_claimed_step *step, const cJSON *from)
{
	double sum = 0;
	const cJSON *name;
	cJSON_ArrayForEach(name, from) {
		for (size_t i = 0; i < step->sequence_count; i++) {
			if (strcmp(step->sequence[i].name, name->valuestring) != 0)
				continue;
			cJSON *r = cJSON_Parse(step->sequence[i].results_json);
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
			if (cJSON_IsNumber(v))
				sum += v->valuedouble;
			cJSON_Delete(r);
		}
	}
	return sum;
}

static int handle(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	conf_case *c = payload;
	const cJSON *b = behaviour_of(c, step->name);
	int run = count_run(c, step->name);
	const cJSON *sleep_ms = cJSON_GetObjectItemCaseSensitive(b, "sleep_ms");
	if (cJSON_IsNumber(sleep_ms))
		usleep((useconds_t)sleep_ms->valueint * 1000);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "cancel_task")))
		assert_int_equal(tasker_task_cancel(c->client, step->task_id), TASKER_OK);
	const cJSON *fail_times = cJSON_GetObjectItemCaseSensitive(b, "fail_times");
	int permanent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "permanent"));
	if (permanent || (cJSON_IsNumber(fail_times) && run <= fail_times->valueint)) {
		const cJSON *after = cJSON_GetObjectItemCaseSensitive(b, "retry_after");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(b, "error_code");
		tasker_step_error_set(err, permanent ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE,
		                      cJSON_IsNumber(after) ? after->valueint : -1,
		                      cJSON_IsString(code) ? code->valuestring : NULL, "%s failed (run %d)", step->name,
		                      run);
		return 1;
	}
	const cJSON *add = cJSON_GetObjectItemCaseSensitive(b, "add");
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(b, "result");
	cJSON *r;
	if (cJSON_IsNumber(add)) {
		r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "value",
		                        add->valuedouble + sum_from(step, cJSON_GetObjectItemCaseSensitive(b, "from")));
	} else if (result) {
		r = cJSON_Duplicate(result, 1);
	} else {
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "step", step->name);
	}
	*out = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
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
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, PQgetvalue(r, i, 0), handle, NULL, c};
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

static const char *str_or_null(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *json_or_null(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return v ? cJSON_PrintUnformatted(v) : NULL;
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

static void expect_json(const char *path, const char *step, const char *what, const cJSON *want,
                        const char *got_text)
{
	cJSON *got = cJSON_Parse(got_text);
	if (!cJSON_Compare(want, got, 1)) {
		char *w = cJSON_PrintUnformatted(want);
		fail_msg("%s: step %s: %s: expected %s, got %s", path, step, what, w, got_text);
	}
	cJSON_Delete(got);
}

static void check_step(const char *path, const tasker_step_view *s, const cJSON *e)
{
	const char *state = str_or_null(e, "state");
	if (state && strcmp(state, tasker_state_name(s->state)) != 0)
		fail_msg("%s: step %s: state %s, expected %s", path, s->name, tasker_state_name(s->state), state);
	const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(e, "attempts");
	if (attempts && attempts->valueint != s->attempts)
		fail_msg("%s: step %s: attempts %d, expected %d", path, s->name, s->attempts, attempts->valueint);
	const cJSON *processed = cJSON_GetObjectItemCaseSensitive(e, "processed");
	if (processed && cJSON_IsTrue(processed) != (s->processed != 0))
		fail_msg("%s: step %s: processed %d", path, s->name, s->processed);
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(e, "results");
	if (results)
		expect_json(path, s->name, "results", results, s->results_json);
	const cJSON *inc = cJSON_GetObjectItemCaseSensitive(e, "results_include");
	if (inc) {
		cJSON *got = cJSON_Parse(s->results_json);
		const cJSON *kv;
		cJSON_ArrayForEach(kv, inc) {
			if (!cJSON_Compare(kv, cJSON_GetObjectItemCaseSensitive(got, kv->string), 1))
				fail_msg("%s: step %s: results lack %s as expected: %s", path, s->name, kv->string,
				         s->results_json);
		}
		cJSON_Delete(got);
	}
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
			check_step(c->path, &v->steps[i], se ? se : all);
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
	c->doc = cJSON_Parse(text);
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
		tests[n] = (struct CMUnitTest){strrchr(c->path, '/') + 1, run_case, NULL, NULL, c};
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
