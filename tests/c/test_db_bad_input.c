/*
 * test_db_bad_input.c — bad input gets a clear error and writes nothing: every invalid template
 * fixture, an invalid context, an unknown template, a result that is not JSON, a step whose handler
 * nobody registered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

#define FIXTURES TASKER_SOURCE_DIR "/tests/fixtures/templates"

static const char *GOOD_TEMPLATE =
	"name: order\n"
	"namespace_name: shop\n"
	"version: 1.0.0\n"
	"schema:\n"
	"  type: object\n"
	"  required: [order_id, items]\n"
	"  properties:\n"
	"    order_id: {type: integer, minimum: 1}\n"
	"    items: {type: array, minItems: 1, items: {type: object, required: [sku], properties: {sku: {type: string}}}}\n"
	"step_templates:\n"
	"  - name: charge\n"
	"    handler_class: Shop::Charge\n"
	"  - name: ship\n"
	"    handler_class: Shop::Ship\n"
	"    depends_on_step: charge\n";

static long long rows_written(PGconn *pg)
{
	return testdb_count(pg, "SELECT (SELECT count(*) FROM tasker_task_namespaces) + (SELECT count(*) FROM "
	                        "tasker_named_tasks) + (SELECT count(*) FROM tasker_named_steps) + (SELECT count(*) "
	                        "FROM tasker_dependent_systems) + (SELECT count(*) FROM tasker_named_tasks_named_steps) + "
	                        "(SELECT count(*) FROM tasker_tasks) + (SELECT count(*) FROM tasker_workflow_steps)");
}

/* Every file in fixtures/templates/invalid, read strictly: TASKER_ETEMPLATE naming the file, and no row
 * written. */
static void test_invalid_templates_write_nothing(void **state)
{
	testdb *t = *state;
	tasker_template_options strict = TASKER_TEMPLATE_OPTIONS_INIT;
	strict.strict = 1;
	DIR *d = opendir(FIXTURES "/invalid");
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/invalid/%s", FIXTURES, de->d_name);
		int rc = tasker_template_register_ext(NULL, t->client, path, NULL, 0, NULL, &strict);
		if (rc != TASKER_ETEMPLATE)
			fail_msg("%s: expected TASKER_ETEMPLATE, got %s", de->d_name, tasker_error_name(rc));
		if (!strstr(tasker_error_last()->message, de->d_name))
			fail_msg("%s: the message does not name the file: %s", de->d_name, tasker_error_last()->message);
		assert_int_equal(rows_written(t->pg), 0);
		n++;
	}
	closedir(d);
	assert_true(n >= 20);
}

typedef struct expected_message {
	const char *file;
	const char *parts[3]; /* each must appear in the message */
} expected_message;

/* The error classes the orchestration issue names, each with the words a reader needs. */
static void test_template_messages(void **state)
{
	(void)state;
	static const expected_message cases[] = {
		{"unknown_dependency.yaml", {"step \"charge\"", "unknown step \"paymnt\"", NULL}},
		{"dependency_cycle.yaml", {"dependency cycle", "b → c → a → b", NULL}},
		{"duplicate_step.yaml", {"step \"fetch\"", "duplicate step name", NULL}},
		{"malformed_version.yaml", {"version \"1.0.beta\"", "malformed", NULL}},
		{"missing_handler_class.yaml", {"step \"broken\"", "handler_class", NULL}},
		{"syntax_error.yaml", {"YAML syntax error", "line 5", "column 4"}},
		{"syntax_error.json", {"JSON syntax error", "line 5", "column 5"}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/invalid/%s", FIXTURES, cases[i].file);
		assert_int_equal(tasker_template_validate_file(NULL, path, NULL), TASKER_ETEMPLATE);
		const char *msg = tasker_error_last()->message;
		for (int k = 0; k < 3 && cases[i].parts[k]; k++)
			if (!strstr(msg, cases[i].parts[k]))
				fail_msg("%s: message lacks \"%s\": %s", cases[i].file, cases[i].parts[k], msg);
	}
}

/* What the Rails engine accepts registers: keys tasker-core does not use are ignored, each logged once as a
 * warning through the host's log handler; the task-level handler_config is stored with the template. */
static void test_unused_keys_register_with_warnings(void **state)
{
	testdb *t = *state;
	testlog log;
	tasker_template_info info;
	testlog_start(&log, "log.template");
	int rc = tasker_template_register_file(&info, t->client, FIXTURES "/rails_engine_extras.yaml", NULL);
	testlog_stop();
	assert_int_equal(rc, TASKER_OK);
	assert_string_equal(info.name, "monthly_invoice");
	assert_int_equal(log.n, 3);
	assert_non_null(strstr(log.lines[0], "key \\\"owner_team\\\" is ignored: tasker-core does not use it"));
	assert_non_null(strstr(log.lines[1], "step \\\"compute_totals\\\": key \\\"timeout\\\" is ignored"));
	assert_non_null(strstr(log.lines[1], "and 1 more time"));
	assert_non_null(strstr(log.lines[2], "schema: unknown keyword \\\"x-ui-widget\\\""));
	char *stored = testdb_value(t->pg, "SELECT configuration->'handler_config' = '{\"currency\": \"EUR\", "
	                                   "\"dry_run\": false}'::jsonb FROM tasker_named_tasks WHERE name = "
	                                   "'monthly_invoice'");
	assert_string_equal(stored, "t");
	free(stored);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_named_tasks WHERE name = 'monthly_invoice' "
	                                     "AND configuration ? 'owner_team'"), 0);
	/* the files refused only when strict load, with their warning */
	static const char *const lenient[] = {"unknown_top_key.yaml", "unknown_step_key.yaml", "duplicate_key.yaml",
	                                      "unknown_schema_keyword.yaml"};
	for (size_t i = 0; i < sizeof lenient / sizeof lenient[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/invalid/%s", FIXTURES, lenient[i]);
		testlog_start(&log, "log.template");
		rc = tasker_template_register_file(NULL, t->client, path, NULL);
		testlog_stop();
		if (rc != TASKER_OK)
			fail_msg("%s: %s", lenient[i], tasker_error_last()->message);
		assert_int_equal(log.n, 1);
		assert_non_null(strstr(log.lines[0], lenient[i]));
	}
}

/* engine.strict_templates makes a client refuse them by default; a call can still choose. */
static void test_strict_templates_option(void **state)
{
	testdb *t = *state;
	tasker_config cfg;
	tasker_config_init(&cfg);
	assert_int_equal(tasker_config_load_string(&cfg, "engine:\n  strict_templates: true\n", NULL), TASKER_OK);
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.database_url = t->conninfo;
	co.config = &cfg;
	tasker_client *strict_client;
	assert_int_equal(tasker_client_open(&strict_client, &co), TASKER_OK);
	long long before = rows_written(t->pg);
	assert_int_equal(tasker_template_register_file(NULL, strict_client, FIXTURES "/invalid/unknown_step_key.yaml", NULL),
	                 TASKER_ETEMPLATE);
	assert_non_null(strstr(tasker_error_last()->message, "unknown key \"retry_limit\" (did you mean"));
	assert_int_equal(rows_written(t->pg), before);
	tasker_template_options lenient = TASKER_TEMPLATE_OPTIONS_INIT;
	lenient.strict = 0;
	assert_int_equal(tasker_template_register_ext(NULL, strict_client, FIXTURES "/invalid/unknown_step_key.yaml",
	                                              NULL, 0, NULL, &lenient),
	                 TASKER_OK);
	tasker_template_options bad = TASKER_TEMPLATE_OPTIONS_INIT;
	bad.version = 99;
	assert_int_equal(tasker_template_register_ext(NULL, strict_client, NULL, "name: x", 0, NULL, &bad), TASKER_EINVAL);
	assert_int_equal(tasker_template_register_ext(NULL, strict_client, NULL, NULL, 0, NULL, NULL), TASKER_EINVAL);
	tasker_client_free(strict_client);
	tasker_config_clear(&cfg);
}

static int create(int64_t *id, testdb *t, const char *name, const char *context)
{
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = name;
	r.namespace_name = "shop";
	r.template_version = "1.0.0";
	r.context_json = context;
	return tasker_task_create(id, t->client, &r);
}

static void test_bad_requests_write_nothing(void **state)
{
	testdb *t = *state;
	assert_int_equal(tasker_template_register_string(NULL, t->client, GOOD_TEMPLATE, 0, "order.yaml", NULL),
	                 TASKER_OK);
	long long before = rows_written(t->pg);
	int64_t id = 0;
	static const struct {
		const char *name, *context;
		int code;
		const char *says;
	} cases[] = {
		{"order", "{\"order_id\": 0, \"items\": [{\"sku\": \"a\"}]}", TASKER_ECONTEXT, "$.order_id"},
		{"order", "{\"order_id\": 3, \"items\": [{\"sku\": 7}]}", TASKER_ECONTEXT, "$.items[0].sku"},
		{"order", "{\"order_id\": 3}", TASKER_ECONTEXT, "\"items\""},
		{"order", "{\"order_id\": 3, ", TASKER_EJSON, "not valid JSON"},
		/* what jsonb cannot store is refused before the database, naming the path */
		{"order", "{\"order_id\": 3, \"items\": [{\"sku\": \"a\\u0000b\"}]}", TASKER_EJSON,
		 "context: $.items[0].sku: the string holds \\u0000"},
		{"order", "{\"order_id\": 3, \"items\": [{\"sku\": \"a\"}], \"big\": 1e999999}", TASKER_EJSON,
		 "context: $.big: the number is beyond what PostgreSQL's numeric can store: 1e999999"},
		{"order", "{\"order_id\": 3, \"items\": [{\"sku\": \"a\", \"q\": [1, -1e-999999]}]}", TASKER_EJSON,
		 "context: $.items[0].q[1]: the number"},
		{"order", "{\"order_id\": 3, \"items\": [{\"sku\": \"a\"}], \"k\\u0000\": 1}", TASKER_EJSON,
		 "context: $: a key holds \\u0000"},
		{"order", "[1, 2]", TASKER_ECONTEXT, "object"},
		{"no_such_template", "{}", TASKER_ENOTFOUND, "no_such_template"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = create(&id, t, cases[i].name, cases[i].context);
		if (rc != cases[i].code)
			fail_msg("case %zu: expected %s, got %s (%s)", i, tasker_error_name(cases[i].code),
			         tasker_error_name(rc), tasker_error_last()->message);
		if (!strstr(tasker_error_last()->message, cases[i].says))
			fail_msg("case %zu: message lacks \"%s\": %s", i, cases[i].says, tasker_error_last()->message);
		assert_int_equal(rows_written(t->pg), before);
	}
	/* a bypass step that is not skippable, and one that does not exist */
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = "order";
	r.namespace_name = "shop";
	r.template_version = "1.0.0";
	r.context_json = "{\"order_id\": 3, \"items\": [{\"sku\": \"a\"}]}";
	r.bypass_steps_json = "[\"charge\"]";
	assert_int_equal(tasker_task_create(&id, t->client, &r), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "charge"));
	r.bypass_steps_json = "[\"refund\"]";
	assert_int_equal(tasker_task_create(&id, t->client, &r), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "refund"));
	/* a field longer than its column: an error naming it, never a silent truncation */
	char initiator[130];
	memset(initiator, 'x', 129);
	initiator[129] = 0;
	r.bypass_steps_json = NULL;
	r.initiator = initiator;
	assert_int_equal(tasker_task_create(&id, t->client, &r), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "initiator is 129 characters"));
	r.initiator = NULL;
	char ns[66];
	memset(ns, 'n', 65);
	ns[65] = 0;
	r.namespace_name = ns;
	assert_int_equal(tasker_task_create(&id, t->client, &r), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "namespace is 65 characters"));
	assert_int_equal(rows_written(t->pg), before);
}

/* A result that is not JSON is refused (TASKER_EJSON) and nothing is recorded: the claim stays valid,
 * so the caller may send a correct result. */
static void test_invalid_result_json(void **state)
{
	testdb *t = *state;
	int64_t task = 0;
	assert_int_equal(create(&task, t, "order", "{\"order_id\": 9, \"items\": [{\"sku\": \"a\"}]}"), TASKER_OK);
	tasker_claimed_step *s = testdb_claim_one(t->client, NULL);
	int64_t step = s->workflow_step_id;
	tasker_step_result r = testdb_result_for(s, TASKER_OUTCOME_SUCCESS, "{\"paid\": tru");
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_EJSON);
	assert_int_equal(r.new_state, TASKER_STATE_IN_PROGRESS);
	tasker_state st;
	assert_int_equal(tasker_step_state(&st, t->client, step), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_IN_PROGRESS);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims WHERE workflow_step_id = %lld",
	                              (long long)step), 1);
	assert_int_equal(testdb_count(t->pg, "SELECT attempts FROM tasker_workflow_steps WHERE workflow_step_id = %lld",
	                              (long long)step), 0);
	/* the same claim with a valid result is recorded */
	r.results_json = "{\"paid\": true}";
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	assert_int_equal(r.new_state, TASKER_STATE_COMPLETE);
	tasker_claimed_step_free(s);
	/* a failure whose context is not JSON is refused the same way */
	s = testdb_claim_one(t->client, NULL);
	step = s->workflow_step_id;
	tasker_step_result f = testdb_result_for(s, TASKER_OUTCOME_RETRYABLE, NULL);
	f.error_message = "boom";
	f.error_context_json = "{oops";
	assert_int_equal(tasker_steps_complete(t->client, &f, 1), TASKER_OK);
	assert_int_equal(f.status, TASKER_EJSON);
	assert_int_equal(tasker_step_state(&st, t->client, step), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_IN_PROGRESS);
	tasker_claimed_step_free(s);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

static int bad_json_handler(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step, (void)err, (void)payload;
	*out = strdup("{not json");
	return 0;
}

static int nul_handler(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step, (void)err, (void)payload;
	*out = strdup("{\"text\": \"a\\u0000b\"}"); /* valid JSON that jsonb cannot store */
	return 0;
}

static int ok_handler(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step, (void)err, (void)payload;
	*out = strdup("{}");
	return 0;
}

/* A C handler returning text that is not JSON fails its step permanently, naming the problem. */
static void test_handler_returning_invalid_json(void **state)
{
	testdb *t = *state;
	int64_t task = 0;
	assert_int_equal(create(&task, t, "order", "{\"order_id\": 10, \"items\": [{\"sku\": \"a\"}]}"), TASKER_OK);
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	assert_int_equal(tasker_worker_new(&w, t->client, &o), TASKER_OK);
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, "Shop::Charge", bad_json_handler, NULL, NULL};
	assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	assert_int_equal(tasker_worker_run_until_idle(w), TASKER_OK);
	tasker_worker_free(w);
	tasker_state st;
	assert_int_equal(tasker_task_state(&st, t->client, task), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_ERROR);
	char *msg = testdb_value(t->pg, "SELECT results->'error_details'->>'error_code' FROM tasker_workflow_steps "
	                                "WHERE task_id = %lld ORDER BY workflow_step_id LIMIT 1", (long long)task);
	assert_string_equal(msg, "INVALID_RESULT");
	free(msg);
}

/* A result jsonb cannot store (it holds no NUL character) fails its step permanently, saying why and
 * where, before the database sees it: never retried forever, never holding up the rest of its batch. */
static void test_result_the_database_refuses(void **state)
{
	testdb *t = *state;
	int64_t task = 0;
	assert_int_equal(create(&task, t, "order", "{\"order_id\": 12, \"items\": [{\"sku\": \"a\"}]}"), TASKER_OK);
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	assert_int_equal(tasker_worker_new(&w, t->client, &o), TASKER_OK);
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, "Shop::Charge", nul_handler, NULL, NULL};
	assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	assert_int_equal(tasker_worker_run_until_idle(w), TASKER_OK);
	tasker_worker_free(w);
	tasker_state st;
	assert_int_equal(tasker_task_state(&st, t->client, task), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_ERROR);
	char *code = testdb_value(t->pg, "SELECT results->'error_details'->>'error_code' FROM tasker_workflow_steps "
	                                 "WHERE task_id = %lld ORDER BY workflow_step_id LIMIT 1", (long long)task);
	assert_string_equal(code, "INVALID_RESULT");
	free(code);
	char *msg = testdb_value(t->pg, "SELECT results->'error_details'->>'error_message' FROM tasker_workflow_steps "
	                                "WHERE task_id = %lld ORDER BY workflow_step_id LIMIT 1", (long long)task);
	if (!strstr(msg, "result: $.text: the string holds \\u0000"))
		fail_msg("the failure does not say where the \\u0000 is: %s", msg);
	free(msg);
}

/* Registering a handler without a name or a process function, or twice, is refused; running a step
 * whose handler nobody registered is TASKER_ENOTFOUND and leaves the step claimable. */
static void test_missing_handlers(void **state)
{
	testdb *t = *state;
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	assert_int_equal(tasker_worker_new(&w, t->client, &o), TASKER_OK);
	assert_int_equal(tasker_worker_run_until_idle(w), TASKER_EINVAL); /* no handlers at all */
	tasker_step_handler nameless = {TASKER_STEP_HANDLER_VERSION, NULL, ok_handler, NULL, NULL};
	assert_int_equal(tasker_worker_register(w, &nameless), TASKER_EINVAL);
	tasker_step_handler noproc = {TASKER_STEP_HANDLER_VERSION, "Shop::Charge", NULL, NULL, NULL};
	assert_int_equal(tasker_worker_register(w, &noproc), TASKER_EINVAL);
	tasker_step_handler ship = {TASKER_STEP_HANDLER_VERSION, "Shop::Ship", ok_handler, NULL, NULL};
	assert_int_equal(tasker_worker_register(w, &ship), TASKER_OK);
	assert_int_equal(tasker_worker_register(w, &ship), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "Shop::Ship"));

	int64_t task = 0;
	assert_int_equal(create(&task, t, "order", "{\"order_id\": 11, \"items\": [{\"sku\": \"a\"}]}"), TASKER_OK);
	long long step = testdb_count(t->pg, "SELECT min(workflow_step_id) FROM tasker_workflow_steps WHERE task_id = %lld",
	                              (long long)task);
	assert_int_equal(tasker_worker_execute_step(w, step), TASKER_ENOTFOUND);
	assert_non_null(strstr(tasker_error_last()->message, "Shop::Charge"));
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE workflow_step_id = %lld", step),
	                 1);
	tasker_state st;
	assert_int_equal(tasker_step_state(&st, t->client, step), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_PENDING);
	/* a worker without the handler does not claim the step either */
	assert_int_equal(tasker_worker_run_until_idle(w), TASKER_OK);
	assert_int_equal(tasker_worker_processed(w), 0);
	assert_int_equal(tasker_step_state(&st, t->client, step), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_PENDING);
	tasker_worker_free(w);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

static int setup(void **state)
{
	static testdb t;
	testdb_open(&t, "badinput", 1);
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	testdb_close(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_templates_write_nothing),
		cmocka_unit_test(test_template_messages),
		cmocka_unit_test(test_unused_keys_register_with_warnings),
		cmocka_unit_test(test_strict_templates_option),
		cmocka_unit_test(test_bad_requests_write_nothing),
		cmocka_unit_test(test_invalid_result_json),
		cmocka_unit_test(test_handler_returning_invalid_json),
		cmocka_unit_test(test_result_the_database_refuses),
		cmocka_unit_test(test_missing_handlers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
