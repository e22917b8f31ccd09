/* Unit tests of template loading (template.c) and of YAML/JSON parsing (yamljson.c): every valid fixture
 * in tests/fixtures/templates/ with its fields, defaults, dependencies and order; environment overrides;
 * one test per class of invalid template, checking the code and what the message names. No database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasker.h"
#include "template.h"
#include "testdb.h"
#include "util.h"
#include "yamljson.h"

#define FIXTURES TASKER_SOURCE_DIR "/tests/fixtures/templates/"

/* ------------------------------------------------------------------ helpers */

static ttpl_template *load_env(const char *name, const char *env)
{
	char path[1024];
	snprintf(path, sizeof path, FIXTURES "%s", name);
	ttpl_template *t = NULL;
	ttpl_options o = {env, 0};
	int rc = ttpl_load_file(&t, path, &o);
	if (rc)
		fail_msg("loading %s: %s: %s", name, tasker_error_name(rc), tasker_error_last()->message);
	assert_non_null(t);
	assert_string_equal(t->source, path);
	return t;
}

static ttpl_template *load(const char *name) { return load_env(name, ""); }

static ttpl_template *load_text(const char *yaml, const char *env)
{
	ttpl_template *t = NULL;
	ttpl_options o = {env, 0};
	int rc = ttpl_load_string(&t, yaml, strlen(yaml), NULL, 0, &o);
	if (rc)
		fail_msg("loading text: %s: %s", tasker_error_name(rc), tasker_error_last()->message);
	assert_string_equal(t->source, "<string>");
	return t;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("expected \"%s\" in: %s", needle, haystack);
}

/* Loads an invalid fixture: TASKER_ETEMPLATE, no template, and a message naming the file and each fact. */
static void expect_invalid_opts(const char *name, const char *env, int strict, const char *const *facts)
{
	char path[1024];
	snprintf(path, sizeof path, FIXTURES "invalid/%s", name);
	ttpl_template *t = (ttpl_template *)&t; /* must be reset to NULL */
	ttpl_options o = {env, strict};
	int rc = ttpl_load_file(&t, path, &o);
	if (rc != TASKER_ETEMPLATE)
		fail_msg("%s: expected TASKER_ETEMPLATE, got %s: %s", name, tasker_error_name(rc),
		         tasker_error_last()->message);
	assert_null(t);
	const tasker_error *e = tasker_error_last();
	assert_int_equal(e->code, TASKER_ETEMPLATE);
	assert_contains(e->message, path);
	for (size_t i = 0; facts[i]; i++)
		assert_contains(e->message, facts[i]);
}

static void expect_invalid_env(const char *name, const char *env, const char *const *facts)
{
	expect_invalid_opts(name, env, 0, facts);
}

#define EXPECT_INVALID(name, ...) expect_invalid_opts(name, "", 0, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_INVALID_STRICT(name, ...) expect_invalid_opts(name, "", 1, (const char *const[]){__VA_ARGS__, NULL})

static void expect_text_error(const char *yaml, int is_json, int strict, const char *const *facts)
{
	ttpl_template *t = NULL;
	ttpl_options o = {"", strict};
	int rc = ttpl_load_string(&t, yaml, strlen(yaml), "inline.yaml", is_json, &o);
	if (rc != TASKER_ETEMPLATE)
		fail_msg("expected TASKER_ETEMPLATE, got %s: %s", tasker_error_name(rc), tasker_error_last()->message);
	assert_null(t);
	assert_contains(tasker_error_last()->message, "inline.yaml: ");
	for (size_t i = 0; facts[i]; i++)
		assert_contains(tasker_error_last()->message, facts[i]);
}

#define EXPECT_TEXT_ERROR(yaml, ...) expect_text_error(yaml, 0, 0, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_STRICT_ERROR(yaml, ...) expect_text_error(yaml, 0, 1, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_JSON_ERROR(json, ...) expect_text_error(json, 1, 0, (const char *const[]){__VA_ARGS__, NULL})

static const ttpl_step *step(const ttpl_template *t, const char *name)
{
	int i = ttpl_find_step(t, name);
	if (i < 0)
		fail_msg("no step \"%s\" in %s", name, t->name);
	assert_string_equal(t->steps[i].name, name);
	return &t->steps[i];
}

/* The step's dependencies are exactly `names` (NULL-terminated), in order, and parents match them. */
static void assert_deps(const ttpl_template *t, const char *name, const char *const *names)
{
	const ttpl_step *s = step(t, name);
	size_t n = 0;
	while (names[n])
		n++;
	assert_int_equal(s->ndepends, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(s->depends_on[i], names[i]);
		assert_int_equal(s->parents[i], (size_t)ttpl_find_step(t, names[i]));
	}
}

#define DEPS(t, name, ...) assert_deps(t, name, (const char *const[]){__VA_ARGS__, NULL})
#define ROOT(t, name) assert_int_equal(step(t, name)->ndepends, 0)

/* The topological order is exactly `names`. */
static void assert_topo(const ttpl_template *t, const char *const *names)
{
	size_t n = 0;
	while (names[n])
		n++;
	assert_int_equal(t->nsteps, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(t->steps[t->topo[i]].name, names[i]);
}

#define TOPO(t, ...) assert_topo(t, (const char *const[]){__VA_ARGS__, NULL})

/* Every parent of every step comes before it in topo, and topo is a permutation. */
static void assert_topo_valid(const ttpl_template *t)
{
	size_t *rank = calloc(t->nsteps, sizeof *rank);
	int *seen = calloc(t->nsteps, sizeof *seen);
	for (size_t i = 0; i < t->nsteps; i++) {
		assert_true(t->topo[i] < t->nsteps);
		assert_false(seen[t->topo[i]]);
		seen[t->topo[i]] = 1;
		rank[t->topo[i]] = i;
	}
	for (size_t i = 0; i < t->nsteps; i++)
		for (size_t k = 0; k < t->steps[i].ndepends; k++)
			assert_true(rank[t->steps[i].parents[k]] < rank[i]);
	free(rank);
	free(seen);
}

static const cJSON *config(const ttpl_step *s, const char *key)
{
	assert_non_null(s->handler_config);
	return cJSON_GetObjectItemCaseSensitive(s->handler_config, key);
}

static double config_number(const ttpl_step *s, const char *key)
{
	const cJSON *v = config(s, key);
	if (!cJSON_IsNumber(v))
		fail_msg("step %s: handler_config.%s is not a number", s->name, key);
	return v->valuedouble;
}

static const char *config_string(const ttpl_step *s, const char *key)
{
	const cJSON *v = config(s, key);
	if (!cJSON_IsString(v))
		fail_msg("step %s: handler_config.%s is not a string", s->name, key);
	return v->valuestring;
}

static void assert_defaults(const ttpl_step *s)
{
	assert_int_equal(s->default_retryable, 1);
	assert_int_equal(s->default_retry_limit, 3);
	assert_int_equal(s->skippable, 0);
}

/* ------------------------------------------------------------------ the engine's example workflows */

static void test_dummy_task(void **state)
{
	(void)state;
	ttpl_template *t = load("dummy_task.yaml");
	assert_string_equal(t->name, "dummy_task");
	assert_string_equal(t->namespace_name, "default");
	assert_string_equal(t->version, "0.1.0");
	assert_string_equal(t->task_handler_class, "DummyTask");
	assert_null(t->module_namespace);
	assert_null(t->description);
	assert_string_equal(t->default_dependent_system, "dummy-system");
	assert_int_equal(t->concurrent, 1);
	assert_null(t->named_steps);
	assert_int_equal(t->nnamed_steps, 0);
	assert_null(t->custom_events);
	assert_non_null(t->schema);
	assert_non_null(t->compiled_schema);
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(t->schema, "required");
	assert_string_equal(cJSON_GetArrayItem(req, 0)->valuestring, "dummy");
	assert_int_equal(t->nsteps, 4);
	ROOT(t, "step-one");
	ROOT(t, "step-two");
	DEPS(t, "step-three", "step-two");
	DEPS(t, "step-four", "step-three");
	TOPO(t, "step-one", "step-two", "step-three", "step-four");
	for (size_t i = 0; i < t->nsteps; i++) {
		assert_defaults(&t->steps[i]);
		assert_string_equal(t->steps[i].handler_class, "DummyTask::Handler");
		assert_string_equal(t->steps[i].dependent_system, "dummy-system");
		assert_null(t->steps[i].handler_config);
		assert_null(t->steps[i].custom_events);
	}
	assert_string_equal(step(t, "step-three")->description, "Step Three Dependent on Step Two");
	assert_int_equal(ttpl_find_step(t, "step-one"), 0);
	assert_int_equal(ttpl_find_step(t, "step-four"), 3);
	assert_int_equal(ttpl_find_step(t, "step-five"), -1);
	assert_int_equal(ttpl_find_step(t, NULL), -1);
	assert_int_equal(ttpl_find_step(NULL, "step-one"), -1);
	ttpl_free(t);
}

static void test_linear_workflow(void **state)
{
	(void)state;
	ttpl_template *t = load("linear_workflow_task.yaml");
	assert_string_equal(t->name, "linear_workflow_task");
	assert_string_equal(t->default_dependent_system, "default");
	ROOT(t, "initialize_data");
	DEPS(t, "validate_input", "initialize_data");
	DEPS(t, "process_data", "validate_input");
	DEPS(t, "transform_results", "process_data");
	DEPS(t, "validate_output", "transform_results");
	DEPS(t, "finalize_workflow", "validate_output");
	TOPO(t, "initialize_data", "validate_input", "process_data", "transform_results", "validate_output",
	     "finalize_workflow");
	assert_true(config_number(step(t, "process_data"), "failure_count") == 1);
	assert_true(config_number(step(t, "validate_output"), "failure_count") == 0);
	assert_string_equal(step(t, "finalize_workflow")->dependent_system, "default");
	ttpl_free(t);
}

/* The public description: the same steps, fields and order, from a file or a text; errors leave nothing. */
static void test_describe(void **state)
{
	(void)state;
	tasker_template_step *steps = NULL;
	size_t n = 0;
	tasker_template_info info;
	assert_int_equal(tasker_template_describe(&steps, &n, &info, FIXTURES "diamond_workflow_task.yaml", NULL, 0,
	                                          NULL, NULL),
	                 TASKER_OK);
	assert_string_equal(info.name, "diamond_workflow_task");
	assert_int_equal(info.step_count, 7);
	assert_int_equal(n, 7);
	assert_string_equal(steps[0].name, "start_workflow");
	assert_int_equal(steps[0].depends_on_count, 0);
	assert_string_equal(steps[2].name, "branch_two_process");
	assert_string_equal(steps[2].handler_class, "Tasker::Testing::NetworkTimeoutHandler");
	assert_string_equal(steps[5].name, "merge_branches");
	assert_int_equal(steps[5].depends_on_count, 2);
	assert_string_equal(steps[5].depends_on[0], "branch_one_validate");
	assert_string_equal(steps[5].depends_on[1], "branch_two_validate");
	tasker_template_steps_free(steps, n);

	const char *text = "name: t\nstep_templates:\n"
	                   "  - {name: a, handler_class: A, default_retry_limit: 7, default_retryable: false}\n"
	                   "  - {name: b, handler_class: B, depends_on_step: a, skippable: true}\n";
	assert_int_equal(tasker_template_describe(&steps, &n, NULL, NULL, text, 0, "t.yaml", NULL), TASKER_OK);
	assert_int_equal(n, 2);
	assert_int_equal(steps[0].retry_limit, 7);
	assert_int_equal(steps[0].retryable, 0);
	assert_int_equal(steps[0].skippable, 0);
	assert_int_equal(steps[1].retry_limit, 3);
	assert_int_equal(steps[1].retryable, 1);
	assert_int_equal(steps[1].skippable, 1);
	assert_string_equal(steps[1].depends_on[0], "a");
	tasker_template_steps_free(steps, n);

	steps = (tasker_template_step *)&n; /* must be reset on failure */
	assert_int_equal(tasker_template_describe(&steps, &n, NULL, NULL, "name: t\nstep_templates:\n"
	                                          "  - {name: a, handler_class: A, depends_on_step: nope}\n",
	                                          0, "bad.yaml", NULL),
	                 TASKER_ETEMPLATE);
	assert_null(steps);
	assert_int_equal(n, 0);
	assert_non_null(strstr(tasker_error_last()->message, "nope"));
	assert_int_equal(tasker_template_describe(&steps, &n, NULL, NULL, NULL, 0, NULL, NULL), TASKER_EINVAL);
}

static void test_diamond_workflow(void **state)
{
	(void)state;
	ttpl_template *t = load("diamond_workflow_task.yaml");
	ROOT(t, "start_workflow");
	DEPS(t, "branch_one_process", "start_workflow");
	DEPS(t, "branch_two_process", "start_workflow");
	DEPS(t, "branch_one_validate", "branch_one_process");
	DEPS(t, "branch_two_validate", "branch_two_process");
	DEPS(t, "merge_branches", "branch_one_validate", "branch_two_validate");
	DEPS(t, "end_workflow", "merge_branches");
	TOPO(t, "start_workflow", "branch_one_process", "branch_two_process", "branch_one_validate",
	     "branch_two_validate", "merge_branches", "end_workflow");
	assert_string_equal(step(t, "branch_two_process")->handler_class, "Tasker::Testing::NetworkTimeoutHandler");
	assert_true(config_number(step(t, "branch_two_process"), "timeout_count") == 1);
	assert_true(config_number(step(t, "branch_one_process"), "failure_count") == 1);
	ttpl_free(t);
}

static void test_parallel_merge_workflow(void **state)
{
	(void)state;
	ttpl_template *t = load("parallel_merge_workflow_task.yaml");
	ROOT(t, "fetch_user_data");
	ROOT(t, "fetch_order_data");
	ROOT(t, "fetch_inventory_data");
	ROOT(t, "fetch_pricing_data");
	DEPS(t, "process_user_data", "fetch_user_data");
	DEPS(t, "process_order_data", "fetch_order_data");
	DEPS(t, "merge_all_data", "process_user_data", "process_order_data", "fetch_inventory_data",
	     "fetch_pricing_data");
	TOPO(t, "fetch_user_data", "fetch_order_data", "fetch_inventory_data", "fetch_pricing_data",
	     "process_user_data", "process_order_data", "merge_all_data");
	assert_true(config_number(step(t, "merge_all_data"), "failure_count") == 1);
	ttpl_free(t);
}

static void test_tree_workflow(void **state)
{
	(void)state;
	ttpl_template *t = load("tree_workflow_task.yaml");
	ROOT(t, "root_initialization");
	DEPS(t, "branch_a_setup", "root_initialization");
	DEPS(t, "branch_b_setup", "root_initialization");
	DEPS(t, "branch_a_task_one", "branch_a_setup");
	DEPS(t, "branch_a_task_two", "branch_a_setup");
	DEPS(t, "branch_b_task_one", "branch_b_setup");
	DEPS(t, "branch_b_task_two", "branch_b_setup");
	DEPS(t, "aggregate_results", "branch_a_task_one", "branch_a_task_two", "branch_b_task_one",
	     "branch_b_task_two");
	TOPO(t, "root_initialization", "branch_a_setup", "branch_b_setup", "branch_a_task_one", "branch_a_task_two",
	     "branch_b_task_one", "branch_b_task_two", "aggregate_results");
	ttpl_free(t);
}

static void test_mixed_workflow(void **state)
{
	(void)state;
	ttpl_template *t = load("mixed_workflow_task.yaml");
	ROOT(t, "init_auth");
	ROOT(t, "init_config");
	DEPS(t, "validate_permissions", "init_auth");
	DEPS(t, "setup_environment", "init_config");
	DEPS(t, "begin_processing", "validate_permissions", "setup_environment");
	DEPS(t, "process_critical_data", "begin_processing");
	DEPS(t, "process_optional_data", "begin_processing");
	DEPS(t, "cleanup_temp_files", "setup_environment");
	DEPS(t, "finalize_and_report", "process_critical_data", "cleanup_temp_files");
	TOPO(t, "init_auth", "init_config", "validate_permissions", "setup_environment", "begin_processing",
	     "process_critical_data", "process_optional_data", "cleanup_temp_files", "finalize_and_report");
	assert_true(config_number(step(t, "process_critical_data"), "failure_count") == 2);
	assert_string_equal(config_string(step(t, "finalize_and_report"), "step_name"), "finalize_and_report");
	ttpl_free(t);
}

static void test_configurable_failure(void **state)
{
	(void)state;
	ttpl_template *t = load("configurable_failure_task.yaml");
	ROOT(t, "reliable_step");
	DEPS(t, "flaky_step", "reliable_step");
	DEPS(t, "timeout_step", "flaky_step");
	DEPS(t, "idempotent_step", "timeout_step");
	TOPO(t, "reliable_step", "flaky_step", "timeout_step", "idempotent_step");
	assert_true(config_number(step(t, "flaky_step"), "failure_count") == 2);
	assert_true(config_number(step(t, "timeout_step"), "timeout_count") == 1);
	assert_string_equal(step(t, "idempotent_step")->handler_class, "Tasker::Testing::IdempotencyTestHandler");
	ttpl_free(t);
}

static const char *fetch_url(const ttpl_template *t, const char *name) { return config_string(step(t, name), "url"); }

static const cJSON *fetch_param(const ttpl_template *t, const char *name, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(config(step(t, name), "params"), key);
}

static void test_api_integration_example(void **state)
{
	(void)state;
	ttpl_template *t = load("api_integration_yaml_example.yaml");
	assert_string_equal(t->name, "api_task/integration_yaml_example");
	assert_string_equal(t->namespace_name, "api_tests");
	assert_string_equal(t->version, "0.1.0");
	assert_string_equal(t->module_namespace, "ApiTask");
	assert_string_equal(t->task_handler_class, "IntegrationYamlExample");
	assert_string_equal(t->default_dependent_system, "ecommerce_system");
	assert_int_equal(t->nnamed_steps, 5);
	assert_string_equal(t->named_steps[0], "fetch_cart");
	assert_string_equal(t->named_steps[4], "publish_event");
	ROOT(t, "fetch_cart");
	ROOT(t, "fetch_products");
	DEPS(t, "validate_products", "fetch_products", "fetch_cart");
	DEPS(t, "create_order", "validate_products");
	DEPS(t, "publish_event", "create_order");
	TOPO(t, "fetch_cart", "fetch_products", "validate_products", "create_order", "publish_event");
	const cJSON *cart_id = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(t->schema, "properties"), "cart_id");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cart_id, "type")->valuestring, "integer");
	/* No environment: the base configuration. */
	assert_string_equal(config_string(step(t, "fetch_cart"), "type"), "api");
	assert_string_equal(fetch_url(t, "fetch_cart"), "https://api.ecommerce.com/cart");
	assert_true(fetch_param(t, "fetch_cart", "cart_id")->valuedouble == 1);
	assert_null(fetch_param(t, "fetch_cart", "test_mode"));
	assert_null(step(t, "validate_products")->handler_config);
	for (size_t i = 0; i < t->nsteps; i++)
		assert_string_equal(t->steps[i].dependent_system, "ecommerce_system");
	ttpl_free(t);
}

static void test_environment_overrides(void **state)
{
	(void)state;
	const char *file = "api_integration_yaml_example.yaml";
	ttpl_template *t = load_env(file, "test");
	assert_string_equal(fetch_url(t, "fetch_cart"), "http://test-api.ecommerce.com/cart");
	assert_true(cJSON_IsTrue(fetch_param(t, "fetch_cart", "test_mode")));
	assert_true(fetch_param(t, "fetch_cart", "cart_id")->valuedouble == 1);
	assert_string_equal(config_string(step(t, "fetch_cart"), "type"), "api"); /* deep merge keeps base keys */
	assert_string_equal(fetch_url(t, "fetch_products"), "http://test-api.ecommerce.com/products");
	assert_null(step(t, "create_order")->handler_config);
	ttpl_free(t);

	t = load_env(file, "development");
	assert_string_equal(fetch_url(t, "fetch_cart"), "http://localhost:3000/api/cart");
	assert_true(cJSON_IsTrue(fetch_param(t, "fetch_products", "debug")));
	ttpl_free(t);

	t = load_env(file, "staging"); /* no such environment: the base */
	assert_string_equal(fetch_url(t, "fetch_cart"), "https://api.ecommerce.com/cart");
	ttpl_free(t);

	/* NULL environment: $TASKER_ENV, then $RAILS_ENV; an explicit environment wins over both. */
	setenv("RAILS_ENV", "development", 1);
	unsetenv("TASKER_ENV");
	t = load_env(file, NULL);
	assert_string_equal(fetch_url(t, "fetch_cart"), "http://localhost:3000/api/cart");
	ttpl_free(t);
	setenv("TASKER_ENV", "production", 1);
	t = load_env(file, NULL);
	assert_string_equal(fetch_url(t, "fetch_cart"), "https://api.ecommerce.com/cart");
	assert_string_equal(fetch_param(t, "fetch_cart", "api_key")->valuestring, "${ECOMMERCE_API_KEY}");
	ttpl_free(t);
	t = load_env(file, "test");
	assert_string_equal(fetch_url(t, "fetch_cart"), "http://test-api.ecommerce.com/cart");
	ttpl_free(t);
	t = load_env(file, ""); /* "" means: no environment, whatever the variables say */
	assert_string_equal(fetch_url(t, "fetch_cart"), "https://api.ecommerce.com/cart");
	assert_null(fetch_param(t, "fetch_cart", "api_key"));
	ttpl_free(t);
	unsetenv("TASKER_ENV");
	unsetenv("RAILS_ENV");
}

static void test_environment_merge_rules(void **state)
{
	(void)state;
	const char *yaml = "name: merged\n"
	                   "default_dependent_system: base_system\n"
	                   "step_templates:\n"
	                   "  - name: a\n"
	                   "    handler_class: A\n"
	                   "    handler_config: {keep: 1, nested: {x: 1, y: 2}, list: [1, 2]}\n"
	                   "  - name: b\n"
	                   "    handler_class: B\n"
	                   "    depends_on_step: a\n"
	                   "environments:\n"
	                   "  prod:\n"
	                   "    default_dependent_system: prod_system\n"
	                   "    description: production flavour\n"
	                   "    step_templates:\n"
	                   "      - name: a\n"
	                   "        default_retry_limit: 9\n"
	                   "        handler_config: {nested: {y: 20, z: 30}, list: [3]}\n"
	                   "      - name: b\n"
	                   "        handler_config: {fresh: true}\n"
	                   "        handler_class: B2\n"
	                   "      - name: not_a_step\n"
	                   "        handler_config: {ignored: true}\n"
	                   "  empty:\n";
	ttpl_template *t = load_text(yaml, "prod");
	assert_string_equal(t->default_dependent_system, "prod_system");
	assert_string_equal(t->description, "production flavour");
	const ttpl_step *a = step(t, "a"), *b = step(t, "b");
	assert_string_equal(a->dependent_system, "prod_system");
	assert_int_equal(a->default_retry_limit, 9);
	assert_true(config_number(a, "keep") == 1);
	const cJSON *nested = config(a, "nested");
	assert_true(cJSON_GetObjectItemCaseSensitive(nested, "x")->valuedouble == 1);
	assert_true(cJSON_GetObjectItemCaseSensitive(nested, "y")->valuedouble == 20);
	assert_true(cJSON_GetObjectItemCaseSensitive(nested, "z")->valuedouble == 30);
	assert_int_equal(cJSON_GetArraySize(config(a, "list")), 1); /* lists are replaced, not merged */
	assert_true(cJSON_IsTrue(config(b, "fresh")));
	assert_string_equal(b->handler_class, "B2");
	DEPS(t, "b", "a");
	assert_int_equal(t->nsteps, 2);
	assert_int_equal(ttpl_find_step(t, "not_a_step"), -1);
	ttpl_free(t);

	t = load_text(yaml, "empty");
	assert_string_equal(t->default_dependent_system, "base_system");
	assert_int_equal(step(t, "a")->default_retry_limit, 3);
	assert_int_equal(cJSON_GetArraySize(config(step(t, "a"), "list")), 2);
	ttpl_free(t);
}

static void test_ecommerce_process_order(void **state)
{
	(void)state;
	ttpl_template *t = load("ecommerce_process_order.yaml");
	assert_string_equal(t->name, "process_order");
	assert_string_equal(t->namespace_name, "ecommerce");
	assert_string_equal(t->version, "1.0.0");
	assert_string_equal(t->default_dependent_system, "ecommerce_platform");
	assert_non_null(t->description);
	ROOT(t, "validate_cart");
	DEPS(t, "process_payment", "validate_cart");
	DEPS(t, "update_inventory", "process_payment");
	DEPS(t, "create_order", "update_inventory");
	DEPS(t, "send_confirmation", "create_order");
	TOPO(t, "validate_cart", "process_payment", "update_inventory", "create_order", "send_confirmation");
	const int limits[] = {3, 3, 2, 3, 5};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(t->steps[t->topo[i]].default_retry_limit, limits[i]);
		assert_int_equal(t->steps[i].default_retryable, 1);
	}
	assert_true(config_number(step(t, "process_payment"), "timeout_seconds") == 30);
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(t->schema, "properties");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(props, "payment_info"));
	ttpl_free(t);
}

static void test_blog_workflows(void **state)
{
	(void)state;
	ttpl_template *t = load("customer_analytics.yaml");
	assert_string_equal(t->namespace_name, "blog_examples");
	assert_string_equal(t->version, "1.0.0");
	DEPS(t, "transform_customer_metrics", "extract_orders", "extract_users");
	DEPS(t, "transform_product_metrics", "extract_orders", "extract_products");
	DEPS(t, "generate_insights", "transform_customer_metrics", "transform_product_metrics");
	DEPS(t, "send_notifications", "update_dashboard");
	assert_int_equal(step(t, "extract_users")->default_retry_limit, 5);
	assert_string_equal(config_string(step(t, "extract_orders"), "retry_backoff"), "exponential");
	assert_int_equal(cJSON_GetArraySize(t->custom_events), 2);
	const cJSON *event = cJSON_GetArrayItem(t->custom_events, 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(event, "name")->valuestring, "data_extraction_started");
	assert_topo_valid(t);
	ttpl_free(t);

	t = load("user_registration.yaml");
	DEPS(t, "setup_billing_profile", "create_user_account");
	DEPS(t, "initialize_preferences", "create_user_account");
	DEPS(t, "send_welcome_sequence", "setup_billing_profile", "initialize_preferences");
	DEPS(t, "update_user_status", "send_welcome_sequence");
	TOPO(t, "create_user_account", "setup_billing_profile", "initialize_preferences", "send_welcome_sequence",
	     "update_user_status");
	ttpl_free(t);

	ttpl_template *cs = load("customer_success_process_refund.yaml");
	ttpl_template *pay = load("payments_process_refund.yaml");
	assert_string_equal(cs->name, pay->name);
	assert_string_equal(cs->namespace_name, "customer_success");
	assert_string_equal(cs->version, "1.3.0");
	assert_string_equal(pay->namespace_name, "payments");
	assert_string_equal(pay->version, "2.1.0");
	assert_int_equal(cs->nsteps, 5);
	assert_int_equal(pay->nsteps, 4);
	assert_int_equal(step(cs, "get_manager_approval")->default_retry_limit, 1);
	assert_true(cJSON_IsTrue(config(step(cs, "execute_refund_workflow"), "enable_exponential_backoff")));
	assert_true(config_number(step(cs, "execute_refund_workflow"), "retry_delay") == 2.0);
	DEPS(pay, "notify_customer", "update_payment_records");
	ttpl_free(cs);
	ttpl_free(pay);
}

static void test_json_template(void **state)
{
	(void)state;
	ttpl_template *t = load("json_format_example.json");
	assert_string_equal(t->name, "json_format_example");
	assert_string_equal(t->namespace_name, "formats");
	assert_string_equal(t->version, "2.0.1");
	assert_int_equal(t->concurrent, 0);
	const ttpl_step *left = step(t, "left"), *right = step(t, "right"), *join = step(t, "join");
	assert_string_equal(step(t, "begin")->dependent_system, "json_system");
	assert_string_equal(left->dependent_system, "left_system");
	assert_int_equal(left->default_retry_limit, 0);
	assert_int_equal(left->default_retryable, 0);
	assert_int_equal(right->skippable, 1);
	assert_string_equal(left->description, "left"); /* description defaults to the name */
	/* depends_on_step first, then depends_on_steps, duplicates dropped */
	DEPS(t, "join", "right", "left");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(config(right, "nested"), "list");
	assert_int_equal(cJSON_GetArraySize(list), 5);
	assert_true(cJSON_IsNull(cJSON_GetArrayItem(list, 3)));
	assert_non_null(join->custom_events);
	const cJSON *event = cJSON_GetArrayItem(join->custom_events, 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(event, "name")->valuestring, "formats.joined");
	TOPO(t, "begin", "left", "right", "join");
	ttpl_free(t);
}

static const cJSON *feature(const ttpl_step *s, const char *key)
{
	const cJSON *v = config(s, key);
	if (!v)
		fail_msg("handler_config.%s missing", key);
	return v;
}

static void test_yaml_features(void **state)
{
	(void)state;
	ttpl_template *t = load("yaml_features.yaml");
	assert_string_equal(t->version, "3.2.1");
	assert_string_equal(t->description, "Folded text that spans two lines\n");
	const ttpl_step *first = step(t, "first"), *second = step(t, "second"), *third = step(t, "third");
	assert_true(cJSON_IsTrue(feature(first, "plain_true")));
	assert_true(cJSON_IsFalse(feature(first, "upper_false")));
	assert_true(cJSON_IsNull(feature(first, "tilde")));
	assert_true(cJSON_IsNull(feature(first, "empty")));
	assert_true(cJSON_IsNull(feature(first, "word_null")));
	assert_true(feature(first, "integer")->valuedouble == -42);
	assert_true(feature(first, "plus_integer")->valuedouble == 7);
	assert_true(feature(first, "float")->valuedouble == 2.5);
	assert_true(feature(first, "exponent")->valuedouble == 1500);
	assert_string_equal(feature(first, "unsigned_exponent")->valuestring, "1.5e3");
	assert_string_equal(feature(first, "version_like")->valuestring, "1.2.3");
	assert_true(cJSON_IsTrue(feature(first, "yes_is_true")));
	assert_true(cJSON_IsFalse(feature(first, "off_is_false")));
	assert_true(feature(first, "octal")->valuedouble == 15);
	assert_true(feature(first, "hex")->valuedouble == 31);
	assert_true(feature(first, "grouped")->valuedouble == 1000);
	assert_true(feature(first, "base_60")->valuedouble == 5415);
	assert_string_equal(feature(first, "date")->valuestring, "2024-01-31");
	assert_string_equal(feature(first, "symbol")->valuestring, ":fast");
	assert_string_equal(feature(first, "quoted_number")->valuestring, "42");
	assert_string_equal(feature(first, "single_quoted_bool")->valuestring, "true");
	assert_string_equal(feature(first, "tagged_string")->valuestring, "123");
	assert_true(cJSON_IsNumber(feature(first, "tagged_float")));
	assert_string_equal(feature(first, "literal")->valuestring, "line one\nline two\n");
	assert_int_equal(cJSON_GetArraySize(feature(first, "list_flow")), 4);
	/* `<<: *base_step` copies the anchored step; explicit keys win. */
	assert_string_equal(second->handler_class, "Formats::Shared");
	assert_int_equal(second->default_retry_limit, 7);
	assert_true(config_number(second, "timeout_seconds") == 60);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(feature(second, "retries"), "backoff")->valuestring,
	                    "exponential");
	assert_int_equal(third->default_retry_limit, 1);
	assert_true(config_number(third, "timeout_seconds") == 30);
	DEPS(t, "second", "first");
	DEPS(t, "third", "first", "second");
	ttpl_free(t);
}

static void test_topological_order(void **state)
{
	(void)state;
	/* Declared children-first: parents still come first, ties broken by declaration. */
	ttpl_template *t = load_text("name: backwards\n"
	                             "step_templates:\n"
	                             "  - {name: last, handler_class: H, depends_on_steps: [middle, other]}\n"
	                             "  - {name: other, handler_class: H}\n"
	                             "  - {name: middle, handler_class: H, depends_on_step: first}\n"
	                             "  - {name: first, handler_class: H}\n"
	                             "  - {name: lonely, handler_class: H}\n",
	                             "");
	TOPO(t, "other", "first", "middle", "last", "lonely");
	assert_int_equal(t->topo[0], 1);
	DEPS(t, "last", "middle", "other");
	assert_topo_valid(t);
	ttpl_free(t);
}

static void test_every_fixture_round_trips(void **state)
{
	(void)state;
	DIR *d = opendir(FIXTURES);
	assert_non_null(d);
	int count = 0;
	const char *envs[] = {"", "test", "production", "development"};
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n < 5 || (strcmp(e->d_name + n - 5, ".yaml") != 0 && strcmp(e->d_name + n - 5, ".json") != 0))
			continue;
		for (size_t k = 0; k < sizeof envs / sizeof *envs; k++) {
			ttpl_template *t = load_env(e->d_name, envs[k]);
			assert_topo_valid(t);
			char *json = ttpl_to_json(t);
			assert_non_null(json);
			/* ttpl_from_json(canonical) and loading the canonical text give the same canonical JSON. */
			cJSON *doc = cJSON_Parse(json);
			char *before = cJSON_PrintUnformatted(doc);
			ttpl_template *t2 = NULL, *t3 = NULL;
			assert_int_equal(ttpl_from_json(&t2, doc, "canonical", NULL), TASKER_OK);
			char *after = cJSON_PrintUnformatted(doc);
			assert_string_equal(before, after); /* the caller's document is not modified */
			ttpl_options none = {"", 0};
			assert_int_equal(ttpl_load_string(&t3, json, strlen(json), "canonical.json", 1, &none), TASKER_OK);
			char *json2 = ttpl_to_json(t2), *json3 = ttpl_to_json(t3);
			assert_string_equal(json, json2);
			assert_string_equal(json, json3);
			assert_null(cJSON_GetObjectItemCaseSensitive(doc, "environments"));
			assert_int_equal(t2->nsteps, t->nsteps);
			for (size_t i = 0; i < t->nsteps; i++)
				assert_int_equal(t2->topo[i], t->topo[i]);
			free(json);
			free(json2);
			free(json3);
			free(before);
			free(after);
			cJSON_Delete(doc);
			ttpl_free(t);
			ttpl_free(t2);
			ttpl_free(t3);
		}
		count++;
	}
	closedir(d);
	assert_true(count >= 15);
}

static void test_canonical_json(void **state)
{
	(void)state;
	ttpl_template *t = load_text("name: t\nstep_templates:\n  - name: s\n    handler_class: H\n", "");
	char *json = ttpl_to_json(t);
	assert_string_equal(json, "{\"name\":\"t\",\"namespace_name\":\"default\",\"version\":\"0.1.0\","
	                          "\"concurrent\":true,\"default_dependent_system\":\"default\","
	                          "\"step_templates\":[{\"name\":\"s\",\"description\":\"s\",\"handler_class\":\"H\","
	                          "\"dependent_system\":\"default\",\"default_retryable\":true,"
	                          "\"default_retry_limit\":3,\"skippable\":false,\"depends_on_steps\":[]}]}");
	assert_null(t->schema);
	assert_null(t->compiled_schema);
	tasker_free(json);
	ttpl_free(t);
	ttpl_free(NULL);
}

static void test_limits_count_characters(void **state)
{
	(void)state;
	/* 128 two-byte characters fit a varchar(128); 64-character namespace and name fit varchar(64). */
	char name[2 * 128 + 1] = "", ns[65], yaml[1024];
	for (int i = 0; i < 128; i++)
		strcat(name, "\xc3\xa9");
	memset(ns, 'n', 64);
	ns[64] = '\0';
	snprintf(yaml, sizeof yaml,
	         "name: %s\nnamespace_name: %s\nversion: \"123456.1234567.1\"\nstep_templates:\n"
	         "  - name: %s\n    handler_class: H\n    dependent_system: %s\n",
	         ns, ns, name, ns);
	ttpl_template *t = load_text(yaml, "");
	assert_string_equal(t->steps[0].name, name);
	assert_int_equal(strlen(t->version), 16);
	ttpl_free(t);
}

/* ------------------------------------------------------------------ invalid templates */

static void test_unknown_dependency(void **state)
{
	(void)state;
	EXPECT_INVALID("unknown_dependency.yaml", "step \"charge\"", "depends on unknown step \"paymnt\"",
	               "did you mean \"payment\"", "(line 5)");
}

static void test_dependency_cycle(void **state)
{
	(void)state;
	/* b depends on a, c on b, a on c: the cycle is named from the step declared first. */
	EXPECT_INVALID("dependency_cycle.yaml", "step \"b\"", "dependency cycle: b → c → a → b");
	EXPECT_TEXT_ERROR("name: two\nstep_templates:\n"
	                  "  - {name: x, handler_class: H, depends_on_step: y}\n"
	                  "  - {name: y, handler_class: H, depends_on_step: x}\n",
	                  "step \"x\"", "dependency cycle: x → y → x");
}

static void test_self_dependency(void **state)
{
	(void)state;
	EXPECT_INVALID("self_dependency.yaml", "step \"loner\"", "depends on itself", "(line 5)");
	EXPECT_TEXT_ERROR("name: s\nstep_templates:\n  - {name: me, handler_class: H, depends_on_step: me}\n",
	                  "step \"me\": depends on itself");
}

static void test_duplicate_step(void **state)
{
	(void)state;
	EXPECT_INVALID("duplicate_step.yaml", "step \"fetch\"", "duplicate step name", "step_templates[0]", "(line 8)");
}

static void test_malformed_version(void **state)
{
	(void)state;
	EXPECT_INVALID("malformed_version.yaml", "version \"1.0.beta\"", "malformed", "(line 2)");
	EXPECT_INVALID("numeric_version.yaml", "version must be a string", "(line 2)");
	EXPECT_TEXT_ERROR("name: v\nversion: \"1.2\"\nstep_templates: [{name: a, handler_class: H}]\n",
	                  "version \"1.2\" is malformed");
	EXPECT_TEXT_ERROR("name: v\nversion: \"1.2.3-rc1\"\nstep_templates: [{name: a, handler_class: H}]\n",
	                  "version \"1.2.3-rc1\" is malformed");
	EXPECT_TEXT_ERROR("name: v\nversion: \"\"\nstep_templates: [{name: a, handler_class: H}]\n",
	                  "version must not be empty");
}

static void test_missing_keys(void **state)
{
	(void)state;
	EXPECT_INVALID("missing_name.yaml", "missing required key \"name\"");
	EXPECT_INVALID("missing_handler_class.yaml", "step \"broken\"", "missing required key \"handler_class\"",
	               "(line 5)");
	EXPECT_INVALID("missing_step_templates.yaml", "missing required key \"step_templates\"");
	EXPECT_TEXT_ERROR("name: n\nstep_templates:\n  - handler_class: H\n", "step_templates[0]",
	                  "missing required key \"name\"", "(line 3)");
	EXPECT_TEXT_ERROR("name: n\nstep_templates:\n  - name: a\n    handler_class: \"\"\n", "step \"a\"",
	                  "handler_class must not be empty");
}

static void test_empty_step_list(void **state)
{
	(void)state;
	EXPECT_INVALID("empty_step_templates.yaml", "step_templates is empty");
	EXPECT_TEXT_ERROR("name: n\nstep_templates:\n", "missing required key \"step_templates\"");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: {a: 1}\n", "step_templates must be a list");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [just_a_name]\n", "step_templates[0]: must be a mapping",
	                  "string \"just_a_name\"");
}

static void test_too_long(void **state)
{
	(void)state;
	EXPECT_INVALID("long_step_name.yaml", "step \"sss", "129 characters long, more than the 128 allowed");
	EXPECT_INVALID("long_namespace.yaml", "namespace_name", "65 characters long, more than the 64 allowed");
	EXPECT_INVALID("long_task_name.yaml", "name \"ttt", "65 characters long, more than the 64 allowed");
	EXPECT_INVALID("long_dependent_system.yaml", "step \"only\"", "dependent_system",
	               "65 characters long, more than the 64 allowed");
	EXPECT_INVALID("long_version.yaml", "version \"1234567.1234567.12\"", "16 characters");
}

static void test_wrong_types(void **state)
{
	(void)state;
	EXPECT_INVALID("wrong_type_retry_limit.yaml", "step \"charge\"", "default_retry_limit must be an integer",
	               "string \"three\"", "(line 5)");
	EXPECT_INVALID("negative_retry_limit.yaml", "step \"charge\"", "default_retry_limit must be >= 0", "-1");
	EXPECT_INVALID("wrong_type_retryable.yaml", "step \"charge\"", "default_retryable must be true or false",
	               "string \"yes\"");
	EXPECT_INVALID("wrong_type_depends_on_steps.yaml", "step \"charge\"", "depends_on_steps must be a list",
	               "string \"first\"");
	EXPECT_INVALID("not_a_mapping.yaml", "must be a mapping at the top level", "a list");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H, default_retry_limit: 2.5}]\n",
	                  "default_retry_limit must be an integer", "number 2.5");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H, handler_config: [1]}]\n",
	                  "step \"a\": handler_config must be a mapping");
	EXPECT_TEXT_ERROR("name: 5\nstep_templates: [{name: a, handler_class: H}]\n", "name must be a string",
	                  "number 5");
	EXPECT_TEXT_ERROR("name: n\nconcurrent: maybe\nstep_templates: [{name: a, handler_class: H}]\n",
	                  "concurrent must be true or false");
	EXPECT_TEXT_ERROR("name: n\nschema: [1]\nstep_templates: [{name: a, handler_class: H}]\n",
	                  "schema must be a mapping");
	EXPECT_TEXT_ERROR("name: n\nnamed_steps: [a, 7]\nstep_templates: [{name: a, handler_class: H}]\n",
	                  "named_steps[1] must be a string");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H, custom_events: [{description: d}]}]\n",
	                  "step \"a\": custom_events[0]", "missing required key \"name\"");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H, depends_on_step: [b]}]\n",
	                  "depends_on_step must be a string");
}

/* Read strictly, a key tasker-core does not use is refused, with a hint for a likely typo. */
static void test_unknown_keys_strict(void **state)
{
	(void)state;
	EXPECT_INVALID_STRICT("unknown_top_key.yaml", "unknown key \"step_template\"",
	                      "did you mean \"step_templates\"", "(line 2)");
	EXPECT_INVALID_STRICT("unknown_step_key.yaml", "step \"charge\"", "unknown key \"retry_limit\"",
	                      "did you mean \"default_retry_limit\"", "(line 7)");
	EXPECT_STRICT_ERROR("name: n\n"
	                    "step_templates: [{name: a, handler_class: H, custom_events: [{name: e, when: now}]}]\n",
	                    "custom_events[0]", "unknown key \"when\"");
	EXPECT_STRICT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H}]\n"
	                    "environments:\n  test:\n    step_templates:\n"
	                    "      - name: ghost\n        handler_confg: {}\n",
	                    "environments.test: step \"ghost\"", "unknown key \"handler_confg\"",
	                    "did you mean \"handler_config\"");
	EXPECT_STRICT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H}]\n"
	                    "environments:\n  test:\n    environments: {}\n",
	                    "environments.test", "unknown key \"environments\"");
	EXPECT_INVALID_STRICT("duplicate_key.yaml", "duplicate key \"default_retry_limit\" at line 6, column 5",
	                      "first defined at line 5, column 5");
	EXPECT_INVALID_STRICT("unknown_schema_keyword.yaml",
	                      "schema: unknown keyword \"dependentRequired\" at #/properties/id is ignored",
	                      "refused", "(line 2)");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H}]\nenvironments: [test]\n",
	                  "environments must be a mapping");
	EXPECT_TEXT_ERROR("name: n\nstep_templates: [{name: a, handler_class: H}]\nenvironments: {test: [1]}\n",
	                  "environments.test must be a mapping");
}

static void assert_warning(const ttpl_template *t, size_t i, const char *text)
{
	if (i >= t->nwarnings)
		fail_msg("expected a warning %zu: %s (there are %zu)", i, text, t->nwarnings);
	if (strcmp(t->warnings[i], text) != 0)
		fail_msg("warning %zu:\n  expected: %s\n  got:      %s", i, text, t->warnings[i]);
}

/* By default a template the Rails engine accepts loads: what tasker-core does not use is ignored, one
 * warning per key, naming where it was first seen; the task-level handler_config is kept. */
static void test_unknown_keys_ignored(void **state)
{
	(void)state;
	char path[1024];
	ttpl_template *t = load("rails_engine_extras.yaml");
	snprintf(path, sizeof path, "%s", t->source);
	assert_int_equal(t->nwarnings, 3);
	char expected[1400];
	snprintf(expected, sizeof expected, "%s: key \"owner_team\" is ignored: tasker-core does not use it (line 10)",
	         path);
	assert_warning(t, 0, expected);
	snprintf(expected, sizeof expected, "%s: step \"compute_totals\": key \"timeout\" is ignored: tasker-core "
	                                    "does not use it (line 26), and 1 more time", path);
	assert_warning(t, 1, expected);
	snprintf(expected, sizeof expected, "%s: schema: unknown keyword \"x-ui-widget\" at #/properties/notify is "
	                                    "ignored (line 14)", path);
	assert_warning(t, 2, expected);
	assert_string_equal(t->description, "Bill every customer once a month");
	assert_non_null(t->handler_config);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(t->handler_config, "currency")->valuestring, "EUR");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(t->handler_config, "dry_run")));
	assert_int_equal(step(t, "send_invoice")->default_retryable, 1);
	assert_int_equal(step(t, "send_invoice")->default_retry_limit, 5);
	char *json = ttpl_to_json(t);
	assert_non_null(strstr(json, "\"handler_config\":{\"currency\":\"EUR\",\"dry_run\":false}"));
	assert_null(strstr(json, "owner_team"));
	assert_null(strstr(json, "\"timeout\""));
	free(json);
	ttpl_free(t);

	t = load("../templates/invalid/unknown_top_key.yaml");
	assert_int_equal(t->nwarnings, 1);
	assert_contains(t->warnings[0], "key \"step_template\" is ignored: tasker-core does not use it (did you mean "
	                                "\"step_templates\"?) (line 2)");
	ttpl_free(t);
	t = load("../templates/invalid/duplicate_key.yaml");
	assert_int_equal(step(t, "first")->default_retry_limit, 3);
	assert_int_equal(t->nwarnings, 1);
	assert_contains(t->warnings[0], "key \"default_retry_limit\" is written twice (lines 5 and 6): the later value "
	                                "is used, as Ruby's YAML reads it");
	ttpl_free(t);
	t = load("../templates/invalid/unknown_schema_keyword.yaml");
	assert_int_equal(t->nwarnings, 1);
	ttpl_free(t);
	t = load_text("name: n\nstep_templates: [{name: a, handler_class: H, custom_events: [{name: e, when: now}]}]\n",
	              "");
	assert_int_equal(t->nwarnings, 1);
	assert_contains(t->warnings[0], "<string>: step \"a\": custom_events[0]: key \"when\" is ignored");
	ttpl_free(t);
	/* a template without such keys has no warnings */
	t = load("dummy_task.yaml");
	assert_int_equal(t->nwarnings, 0);
	assert_null(t->warnings);
	ttpl_free(t);
}

static void test_named_steps(void **state)
{
	(void)state;
	EXPECT_INVALID("named_steps_incomplete.yaml", "step \"store\"", "not listed in named_steps", "(line 7)");
	EXPECT_TEXT_ERROR("name: n\nnamed_steps: [b]\nstep_templates:\n"
	                  "  - {name: a, handler_class: H}\n  - {name: b, handler_class: H, depends_on_step: a}\n",
	                  "step \"a\": not listed in named_steps");
	/* named_steps may list more names than there are steps, as in the engine. */
	ttpl_template *t =
		load_text("name: n\nnamed_steps: [a, extra]\nstep_templates: [{name: a, handler_class: H}]\n", "");
	assert_int_equal(t->nnamed_steps, 2);
	assert_string_equal(t->named_steps[1], "extra");
	ttpl_free(t);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	EXPECT_INVALID("syntax_error.yaml", "YAML syntax error at line 5, column 4");
	EXPECT_INVALID("syntax_error.json", "JSON syntax error at line 5, column 5", "near '{\"name\": \"second\"");
	EXPECT_TEXT_ERROR("name: [unclosed\n", "YAML syntax error at line 2, column 1");
	EXPECT_TEXT_ERROR("", "template is empty");
	EXPECT_TEXT_ERROR("# only a comment\n", "template is empty");
	EXPECT_JSON_ERROR("", "JSON syntax error at line 1, column 1", "unexpected end of input");
	EXPECT_JSON_ERROR("{\"name\": \"x\"} trailing", "JSON syntax error at line 1, column 15", "near 'trailing'");
	EXPECT_JSON_ERROR("{\"name\": \"x\",\n \"name\": \"y\"}", "duplicate key \"name\" in object at $");
	EXPECT_JSON_ERROR("{\"a\":\n  \"\xff\"}", "line 2, column 4", "invalid UTF-8");
}

static void test_schema_errors(void **state)
{
	(void)state;
	EXPECT_TEXT_ERROR("name: n\nschema:\n  type: object\n  properties:\n    day: {type: string, format: 5}\n"
	                  "step_templates: [{name: a, handler_class: H}]\n",
	                  "inline.yaml: schema: ", "format", "#/properties/day", "(line 2)");
	EXPECT_TEXT_ERROR("name: n\nschema: {properties: {a: {minLength: x}}}\n"
	                  "step_templates: [{name: a, handler_class: H}]\n",
	                  "schema: ", "minLength");
	EXPECT_TEXT_ERROR("name: n\nschema: {properties: {a: {$ref: 'https://example.com/a.json'}}}\n"
	                  "step_templates: [{name: a, handler_class: H}]\n",
	                  "schema: ", "remote schemas are not fetched");
	EXPECT_STRICT_ERROR("name: n\nschema: {properties: {to: {format: idn-email}}}\n"
	                    "step_templates: [{name: a, handler_class: H}]\n",
	                    "schema: format \"idn-email\" at #/properties/to is not checked", "refused");
}

static void test_bad_environment_override(void **state)
{
	(void)state;
	/* Found whatever environment is loaded, so production mistakes fail in test too. */
	EXPECT_INVALID("bad_environment_override.yaml", "environments.production: step \"fetch\"",
	               "default_retry_limit must be an integer", "string \"many\"");
	expect_invalid_env("bad_environment_override.yaml", "test",
	                   (const char *const[]){"environments.production", "\"many\"", NULL});
	/* Loaded as production, the line of the override is known. */
	expect_invalid_env("bad_environment_override.yaml", "production",
	                   (const char *const[]){"step \"fetch\"", "\"many\"", "(line 15)", NULL});
}

static void test_file_errors(void **state)
{
	(void)state;
	ttpl_template *t = NULL;
	const ttpl_options none = {"", 0};
	assert_int_equal(ttpl_load_file(&t, FIXTURES "no_such_template.yaml", &none), TASKER_ENOTFOUND);
	assert_null(t);
	assert_contains(tasker_error_last()->message, "no_such_template.yaml");
	assert_int_equal(ttpl_load_file(&t, FIXTURES "dummy_task.txt", &none), TASKER_ETEMPLATE);
	assert_contains(tasker_error_last()->message, ".yaml, .yml or .json");
	assert_int_equal(ttpl_load_file(&t, FIXTURES, &none), TASKER_ETEMPLATE);
	assert_int_equal(ttpl_load_file(&t, NULL, &none), TASKER_EINVAL);
	assert_int_equal(ttpl_from_json(&t, NULL, NULL, NULL), TASKER_EINVAL);
	assert_int_equal(ttpl_load_string(&t, NULL, 0, NULL, 0, NULL), TASKER_EINVAL);
	assert_null(t);
}

/* ------------------------------------------------------------------ yamljson */

static cJSON *yaml(const char *text)
{
	cJSON *doc = NULL;
	int rc = tyj_parse_yaml(&doc, NULL, text, strlen(text), "t.yaml");
	if (rc)
		fail_msg("%s: %s", tasker_error_name(rc), tasker_error_last()->message);
	return doc;
}

static void expect_yaml_error(const char *text, const char *fact)
{
	cJSON *doc = (cJSON *)&doc;
	int rc = tyj_parse_yaml(&doc, NULL, text, strlen(text), "t.yaml");
	if (rc != TASKER_EINVAL)
		fail_msg("expected TASKER_EINVAL for %s, got %s", text, tasker_error_name(rc));
	assert_null(doc);
	assert_contains(tasker_error_last()->message, "t.yaml: ");
	assert_contains(tasker_error_last()->message, fact);
}

static char *yaml_as_json(const char *text)
{
	cJSON *doc = yaml(text);
	char *s = tjson_print(doc);
	cJSON_Delete(doc);
	return s;
}

static void assert_yaml_json(const char *text, const char *json)
{
	char *s = yaml_as_json(text);
	if (strcmp(s, json) != 0)
		fail_msg("YAML %s gave %s, expected %s", text, s, json);
	free(s);
}

/* Plain scalars mean what Ruby's YAML (Psych) makes of them: the typing a Rails application's files get.
 * The Ruby gem's tests compare this reader with Psych itself on the same scalars. */
static void test_yaml_scalars(void **state)
{
	(void)state;
	assert_yaml_json("[true, True, TRUE, tRuE, false, False, FALSE]", "[true,true,true,true,false,false,false]");
	assert_yaml_json("[yes, Yes, YES, on, On, ON, no, No, NO, off, Off, OFF]",
	                 "[true,true,true,true,true,true,false,false,false,false,false,false]");
	assert_yaml_json("[y, n, Y, N, yes!, true_, onion]", "[\"y\",\"n\",\"Y\",\"N\",\"yes!\",\"true_\",\"onion\"]");
	assert_yaml_json("[null, Null, NULL, nuLL, ~, ]", "[null,null,null,null,null]");
	assert_yaml_json("a:\nb: ~\n", "{\"a\":null,\"b\":null}");
	assert_yaml_json("[0, -12, +5, 12345678901, 00, -0]", "[0,-12,5,12345678901,0,0]");
	assert_yaml_json("[017, -017, 08, 0x1F, -0x1a, 0b101, 0o17, 0x_]",
	                 "[15,-15,\"08\",31,-26,5,\"0o17\",\"0x_\"]");
	assert_yaml_json("[1_000, 1__0, 1_]", "[1000,\"1__0\",\"1_\"]");
	assert_yaml_json("a: 1,000\nb: 1,5\nc: 1,000.5\n", "{\"a\":1000,\"b\":15,\"c\":1000.5}");
	assert_yaml_json("[1.5, -0.25, .5, 5., +.5, 1_0.5, 1.0e+3, 2.5E-1]", "[1.5,-0.25,0.5,5,0.5,10.5,1000,0.25]");
	assert_yaml_json("[1e3, 1.0e3, 6.02e23, ., +., 1.2.3, 12abc]",
	                 "[\"1e3\",\"1.0e3\",\"6.02e23\",\".\",\"+.\",\"1.2.3\",\"12abc\"]");
	assert_yaml_json("[1:30, 1:30:15, -1:30, 1:30.5, 1:60]", "[5400,5415,-1800,5430,\"1:60\"]");
	assert_yaml_json("- 2024-01-31\n- 2024-01-31 12:00:00\n- 12:00:00Z\n- :sym\n- ':q'\n",
	                 "[\"2024-01-31\",\"2024-01-31 12:00:00\",\"12:00:00Z\",\":sym\",\":q\"]");
	assert_yaml_json("['1', \"true\", 'yes', \"~\"]", "[\"1\",\"true\",\"yes\",\"~\"]");
	assert_yaml_json("[!!str 1, !!int 2, !!float 3, !!bool yes, !!null null, ! 4, !!int 0x10]",
	                 "[\"1\",2,3,true,null,\"4\",16]");
	assert_yaml_json("{1: a, true: b, null: c}", "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\"}");
	assert_yaml_json("\"tab\\there\"", "\"tab\\there\"");
	assert_yaml_json("", "null");
	expect_yaml_error("!!int abc", "\"abc\" is not a valid int");
	expect_yaml_error("!!int 1.5", "\"1.5\" is not a valid int");
	expect_yaml_error("a: !ruby/object:Foo {}", "unsupported tag \"!ruby/object:Foo\"");
	expect_yaml_error("a: !custom x", "unsupported tag");
	expect_yaml_error("a: \"x\\0y\"", "NUL character");
	expect_yaml_error("a: .inf", "line 1, column 4: \".inf\" is a YAML number that JSON cannot hold");
	expect_yaml_error("a: [-.Inf]", "\"-.Inf\" is a YAML number that JSON cannot hold");
	expect_yaml_error("a: .NaN", "quote it to keep the text");
	char big[700] = "a: 1";
	memset(big + 4, '0', 400);
	strcpy(big + 404, ".5");
	expect_yaml_error(big, "is a YAML number that JSON cannot hold");
	assert_yaml_json("a: '.inf'", "{\"a\":\".inf\"}");
	/* integers keep every digit, in any base; a float tag makes a double of one */
	assert_yaml_json("a: 0x1_0000_0000_0000_0001\nb: -1,000,000,000,000,000,001\nc: !!float 9007199254740993\n",
	                 "{\"a\":18446744073709551617,\"b\":-1000000000000000001,\"c\":9007199254740992}");
	char many[1200] = "a: 0x";
	memset(many + 5, 'f', 1025);
	expect_yaml_error(many, "is a YAML number that JSON cannot hold");
	memset(big + 4, '9', 400);
	big[404] = '\0';
	cJSON *doc = NULL;
	assert_int_equal(tyj_parse_yaml(&doc, NULL, big, strlen(big), "t.yaml"), TASKER_OK);
	char *printed = tjson_print(doc);
	assert_int_equal(strlen(printed), strlen("{\"a\":}") + 401);
	free(printed);
	cJSON_Delete(doc);
}

/* Equal numbers, integers beyond a double compared digit by digit. */
static int same_number(const cJSON *a, const cJSON *b)
{
	char *x = tjson_print(a), *y = tjson_print(b);
	int same = x && y && strcmp(x, y) == 0 && a->valuedouble == b->valuedouble;
	free(x);
	free(y);
	return same;
}

/* tests/fixtures/yaml/psych_scalars.json lists plain scalars with what Ruby's YAML makes of them (the gem's
 * tests check that list against Psych itself); this reader must agree on every one. */
static void test_yaml_matches_psych(void **state)
{
	(void)state;
	char *text = testdb_read_file(TASKER_SOURCE_DIR "/tests/fixtures/yaml/psych_scalars.json");
	cJSON *cases = tjson_parse(text, "psych_scalars.json"); /* integers with every digit */
	free(text);
	assert_true(cJSON_IsArray(cases));
	int checked = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cases)
	{
		const char *scalar = cJSON_GetArrayItem(c, 0)->valuestring, *kind = cJSON_GetArrayItem(c, 1)->valuestring;
		const cJSON *want = cJSON_GetArrayItem(c, 2);
		char yaml_text[256];
		snprintf(yaml_text, sizeof yaml_text, "k: %s\n", scalar);
		cJSON *doc = NULL;
		int rc = tyj_parse_yaml(&doc, NULL, yaml_text, strlen(yaml_text), "t.yaml");
		const cJSON *got = rc ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "k");
		int ok = strcmp(kind, "refused") == 0 ? rc == TASKER_EINVAL
		         : strcmp(kind, "null") == 0  ? cJSON_IsNull(got)
		         : strcmp(kind, "boolean") == 0 ? cJSON_IsBool(got) && cJSON_IsTrue(got) == cJSON_IsTrue(want)
		         : strcmp(kind, "number") == 0  ? cJSON_IsNumber(got) && same_number(got, want)
		                                        : cJSON_IsString(got) && strcmp(got->valuestring, want->valuestring) == 0;
		if (!ok) {
			char *shown = got ? cJSON_PrintUnformatted(got) : NULL;
			fail_msg("plain scalar \"%s\": Ruby's YAML gives %s, this reader %s", scalar, kind,
			         shown ? shown : tasker_error_last()->message);
		}
		cJSON_Delete(doc);
		checked++;
	}
	cJSON_Delete(cases);
	assert_true(checked > 100);
}

static void test_yaml_anchors_and_merges(void **state)
{
	(void)state;
	assert_yaml_json("a: &x [1, 2]\nb: *x\n", "{\"a\":[1,2],\"b\":[1,2]}");
	assert_yaml_json("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n",
	                 "{\"base\":{\"x\":1,\"y\":2},\"m\":{\"y\":3,\"x\":1}}");
	/* In a merge sequence the earlier mapping wins; explicit keys win over both, wherever written. */
	assert_yaml_json("a: &a {k: a, only_a: 1}\nb: &b {k: b, only_b: 2}\nm: {k: mine, <<: [*a, *b]}\n",
	                 "{\"a\":{\"k\":\"a\",\"only_a\":1},\"b\":{\"k\":\"b\",\"only_b\":2},"
	                 "\"m\":{\"k\":\"mine\",\"only_a\":1,\"only_b\":2}}");
	assert_yaml_json("m: {<<: {x: 1}, x: 2}\n", "{\"m\":{\"x\":2}}");
	assert_yaml_json("k: &key name\n*key : v\n", "{\"k\":\"name\",\"name\":\"v\"}");
	assert_yaml_json("a: &x 1\nb: &x 2\nc: *x\n", "{\"a\":1,\"b\":2,\"c\":2}");
	assert_yaml_json("\"<<\": literal\n", "{\"<<\":\"literal\"}");
	expect_yaml_error("a: *nowhere\n", "unknown anchor \"nowhere\"");
	expect_yaml_error("a: &r [*r]\n", "unknown anchor \"r\"");
	expect_yaml_error("m:\n  <<: 5\n", "line 2, column 3");
	expect_yaml_error("m:\n  <<: [1]\n", "may only hold mappings");
	expect_yaml_error("a: &x [1]\n*x : v\n", "must refer to a string");
}

static void test_yaml_structure_errors(void **state)
{
	(void)state;
	expect_yaml_error("? [a, b]\n: 1\n", "a sequence cannot be a mapping key");
	expect_yaml_error("a: 1\n---\nb: 2\n", "line 2, column 1: expected one YAML document, found a second");
	expect_yaml_error("a: \"\xc3\x28\"\n", "line 1, column 6: invalid trailing UTF-8 octet");
	expect_yaml_error("a:\n\tb: 1\n", "line 2, column 1");
	/* Nesting is bounded, so deep documents cannot exhaust the stack. */
	char deep[1201];
	memset(deep, '[', 600);
	memset(deep + 600, ']', 600);
	deep[1200] = '\0';
	expect_yaml_error(deep, "nesting deeper than 256 levels");
	/* An alias bomb stops at the node limit instead of exhausting memory. */
	expect_yaml_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	                  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	                  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	                  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	                  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	                  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
	                  "more than 1000000 nodes");
	/* Nor can aliases stack shallow anchors into nesting deeper than the limit: each line below wraps the
	 * previous anchor in 60 more levels. */
	char chain[2048] = "", open[61], close[61];
	memset(open, '[', 60);
	memset(close, ']', 60);
	open[60] = close[60] = '\0';
	for (int i = 0; i < 5; i++) {
		char line[200], inner[8] = "1";
		if (i)
			snprintf(inner, sizeof inner, "*a%d", i - 1);
		snprintf(line, sizeof line, "a%d: &a%d %s%s%s\n", i, i, open, inner, close);
		strcat(chain, line);
	}
	expect_yaml_error(chain, "line 5, column");
	expect_yaml_error(chain, "alias \"*a3\" nests deeper than 256 levels");
}

/* As in Ruby, a key written twice keeps the later value, in the earlier one's place; the duplicate is
 * reported, with both positions. */
static void test_yaml_duplicate_keys(void **state)
{
	(void)state;
	const char *text = "a: 1\nb: 2\na: [3, 4]\nx: {k: 1, k: 2}\n";
	cJSON *doc = NULL;
	tyj_positions *pos = NULL;
	assert_int_equal(tyj_parse_yaml(&doc, &pos, text, strlen(text), NULL), TASKER_OK);
	char *json = cJSON_PrintUnformatted(doc);
	assert_string_equal(json, "{\"a\":[3,4],\"b\":2,\"x\":{\"k\":2}}");
	free(json);
	assert_int_equal(tyj_duplicate_count(pos), 2);
	tyj_pos kept, replaced;
	assert_string_equal(tyj_duplicate(pos, 0, &kept, &replaced), "a");
	assert_int_equal(kept.line, 3);
	assert_int_equal(replaced.line, 1);
	assert_string_equal(tyj_duplicate(pos, 1, &kept, &replaced), "k");
	assert_int_equal(kept.column, 11);
	assert_int_equal(replaced.column, 5);
	assert_null(tyj_duplicate(pos, 2, &kept, &replaced));
	/* the value that won has the later key's position */
	assert_int_equal(tyj_position(pos, cJSON_GetObjectItemCaseSensitive(doc, "a")).line, 3);
	cJSON_Delete(doc);
	tyj_positions_free(pos);
	assert_int_equal(tyj_duplicate_count(NULL), 0);
	/* a key written again after others keeps its first place (found by fuzzing: the later value was
	 * lost, and leaked, when the first one had members after it) */
	assert_yaml_json("b: 1\na: 5\nc: 2\na: 6\nd: 3\n", "{\"b\":1,\"a\":6,\"c\":2,\"d\":3}");
	assert_yaml_json("x: {p: 0, k: 1, q: 9, k: 2, k: 3}\n", "{\"x\":{\"p\":0,\"k\":3,\"q\":9}}");
	assert_yaml_json("b: 0.2\na:\nc: false\na:\n", "{\"b\":0.2,\"a\":null,\"c\":false}");
	/* ... also when the later value is an alias of the earlier one (its copy's key was leaked) */
	assert_yaml_json("m: &c {t: 1}\nn: 0\nm: *c\n", "{\"m\":{\"t\":1},\"n\":0}");
	/* merge keys still lose to explicit keys, duplicated or not */
	assert_yaml_json("base: &b {x: 1}\nm: {x: 2, <<: *b, x: 3}\n", "{\"base\":{\"x\":1},\"m\":{\"x\":3}}");
}

static void test_yaml_positions(void **state)
{
	(void)state;
	const char *text = "top:\n  list:\n    - first\n    -   second: 2\n  flow: {x: [1, 2]}\n";
	cJSON *doc = NULL;
	tyj_positions *pos = NULL;
	assert_int_equal(tyj_parse_yaml(&doc, &pos, text, strlen(text), NULL), TASKER_OK);
	const cJSON *top = cJSON_GetObjectItemCaseSensitive(doc, "top");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(top, "list");
	const cJSON *second = cJSON_GetArrayItem(list, 1);
	const cJSON *flow_x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(top, "flow"), "x");
	tyj_pos p = tyj_position(pos, top);
	assert_int_equal(p.line, 1); /* a member is found at its key */
	assert_int_equal(p.column, 1);
	p = tyj_position(pos, list);
	assert_int_equal(p.line, 2);
	assert_int_equal(p.column, 3);
	p = tyj_position(pos, cJSON_GetArrayItem(list, 0)); /* a sequence item at its own start */
	assert_int_equal(p.line, 3);
	assert_int_equal(p.column, 7);
	p = tyj_position(pos, second);
	assert_int_equal(p.line, 4);
	assert_int_equal(p.column, 9);
	p = tyj_position(pos, cJSON_GetArrayItem(flow_x, 1));
	assert_int_equal(p.line, 5);
	assert_int_equal(p.column, 17);
	p = tyj_position(pos, doc);
	assert_int_equal(p.line, 1);
	cJSON *other = cJSON_CreateNull();
	assert_int_equal(tyj_position(pos, other).line, 0);
	assert_int_equal(tyj_position(NULL, top).line, 0);
	cJSON_Delete(other);
	tyj_positions_free(pos);
	cJSON_Delete(doc);
	tyj_positions_free(NULL);
}

static void test_json_parsing(void **state)
{
	(void)state;
	cJSON *doc = NULL;
	const char *ok = "\xef\xbb\xbf{\"a\": [1, {\"b\": \"\xc3\xa9\"}]}";
	assert_int_equal(tyj_parse_json(&doc, ok, strlen(ok), "j.json"), TASKER_OK);
	const cJSON *inner = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "a"), 1);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(inner, "b")->valuestring, "\xc3\xa9");
	cJSON_Delete(doc);
	const char *dup = "{\"a\": [1, {\"b\": 1, \"c\": 2, \"b\": 3}]}";
	assert_int_equal(tyj_parse_json(&doc, dup, strlen(dup), "j.json"), TASKER_EJSON);
	assert_null(doc);
	assert_contains(tasker_error_last()->message, "j.json: duplicate key \"b\" in object at $.a[1]");
	const char *nul = "{\"a\": 1}\0{}";
	assert_int_equal(tyj_parse_json(&doc, nul, 11, "j.json"), TASKER_EJSON);
	assert_contains(tasker_error_last()->message, "line 1, column 9: NUL byte");
	const char *multi = "{\n  \"a\": 1,\n  \"b\": ]\n}";
	assert_int_equal(tyj_parse_json(&doc, multi, strlen(multi), "j.json"), TASKER_EJSON);
	assert_contains(tasker_error_last()->message, "line 3, column 8");
	const char *surrogate = "\"\xed\xa0\x80\"";
	assert_int_equal(tyj_parse_json(&doc, surrogate, strlen(surrogate), NULL), TASKER_EJSON);
	assert_contains(tasker_error_last()->message, "<string>: JSON syntax error at line 1, column 2: invalid UTF-8");
}

int main(void)
{
	unsetenv("TASKER_ENV");
	unsetenv("RAILS_ENV");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dummy_task),
		cmocka_unit_test(test_linear_workflow),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_diamond_workflow),
		cmocka_unit_test(test_parallel_merge_workflow),
		cmocka_unit_test(test_tree_workflow),
		cmocka_unit_test(test_mixed_workflow),
		cmocka_unit_test(test_configurable_failure),
		cmocka_unit_test(test_api_integration_example),
		cmocka_unit_test(test_environment_overrides),
		cmocka_unit_test(test_environment_merge_rules),
		cmocka_unit_test(test_ecommerce_process_order),
		cmocka_unit_test(test_blog_workflows),
		cmocka_unit_test(test_json_template),
		cmocka_unit_test(test_yaml_features),
		cmocka_unit_test(test_topological_order),
		cmocka_unit_test(test_every_fixture_round_trips),
		cmocka_unit_test(test_canonical_json),
		cmocka_unit_test(test_limits_count_characters),
		cmocka_unit_test(test_unknown_dependency),
		cmocka_unit_test(test_dependency_cycle),
		cmocka_unit_test(test_self_dependency),
		cmocka_unit_test(test_duplicate_step),
		cmocka_unit_test(test_malformed_version),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_empty_step_list),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_unknown_keys_strict),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_named_steps),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_schema_errors),
		cmocka_unit_test(test_bad_environment_override),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_yaml_matches_psych),
		cmocka_unit_test(test_yaml_anchors_and_merges),
		cmocka_unit_test(test_yaml_structure_errors),
		cmocka_unit_test(test_yaml_duplicate_keys),
		cmocka_unit_test(test_yaml_positions),
		cmocka_unit_test(test_json_parsing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
