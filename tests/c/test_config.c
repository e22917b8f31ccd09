/*
 * test_config.c — tasker_config: defaults, YAML files (flat and Rails-style), environment
 * overrides, every class of error with the key (and file:line) named, atomicity on failure, and the
 * YAML dump read back. No database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testdb.h"

#define FIXTURE(name) TASKER_SOURCE_DIR "/tests/fixtures/config/" name

/* Every environment variable the loader reads, so each test starts from a clean environment. */
static const char *const ENV_VARS[] = {
	"TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS", "TASKER_BACKOFF_MAX_BACKOFF_SECONDS",
	"TASKER_BACKOFF_BACKOFF_MULTIPLIER", "TASKER_BACKOFF_JITTER_ENABLED",
	"TASKER_BACKOFF_JITTER_MAX_PERCENTAGE", "TASKER_BACKOFF_REENQUEUE_DELAYS_HAS_READY_STEPS",
	"TASKER_BACKOFF_REENQUEUE_DELAYS_WAITING_FOR_DEPENDENCIES",
	"TASKER_BACKOFF_REENQUEUE_DELAYS_PROCESSING", "TASKER_BACKOFF_DEFAULT_REENQUEUE_DELAY",
	"TASKER_BACKOFF_BUFFER_SECONDS", "TASKER_EXECUTION_CONCURRENCY", "TASKER_EXECUTION_LEASE_SECONDS",
	"TASKER_EXECUTION_CLAIM_BATCH_SIZE", "TASKER_EXECUTION_COMPLETION_BATCH_SIZE",
	"TASKER_EXECUTION_COMPLETION_FLUSH_MS", "TASKER_EXECUTION_POLL_INTERVAL_MS",
	"TASKER_EXECUTION_STEP_TIMEOUT_SECONDS", "TASKER_EXECUTION_SHUTDOWN_TIMEOUT_SECONDS",
	"TASKER_ENGINE_IDENTITY_STRATEGY", "TASKER_ENGINE_TASK_TEMPLATE_DIRECTORIES",
	"TASKER_ENGINE_ENVIRONMENT", "TASKER_ENGINE_STRICT_TEMPLATES", "TASKER_DATABASE_URL",
	"TASKER_DATABASE_POOL_SIZE", NULL};

static int clean_env(void **state)
{
	(void)state;
	for (int i = 0; ENV_VARS[i]; i++)
		unsetenv(ENV_VARS[i]);
	return 0;
}

static void assert_table(const tasker_config *c, const int *expected, size_t n)
{
	assert_int_equal(c->backoff.default_backoff_seconds_count, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(c->backoff.default_backoff_seconds[i], expected[i]);
}

static void assert_error(int rc, int code, const char *message)
{
	assert_int_equal(rc, code);
	assert_int_equal(tasker_error_last()->code, code);
	assert_string_equal(tasker_error_last()->message, message);
}

static void test_defaults(void **state)
{
	(void)state;
	static const int table[] = {1, 2, 4, 8, 16, 32};
	tasker_config c;
	tasker_config_init(&c);
	assert_int_equal(c.version, TASKER_CONFIG_VERSION);
	assert_table(&c, table, 6);
	assert_int_equal(c.backoff.max_backoff_seconds, 300);
	assert_true(c.backoff.backoff_multiplier == 2.0);
	assert_int_equal(c.backoff.jitter_enabled, 1);
	assert_true(c.backoff.jitter_max_percentage == 0.1);
	assert_int_equal(c.backoff.reenqueue_delays.has_ready_steps, 0);
	assert_int_equal(c.backoff.reenqueue_delays.waiting_for_dependencies, 45);
	assert_int_equal(c.backoff.reenqueue_delays.processing, 10);
	assert_int_equal(c.backoff.default_reenqueue_delay, 30);
	assert_int_equal(c.backoff.buffer_seconds, 5);
	assert_int_equal(c.execution.concurrency, 10);
	assert_int_equal(c.execution.lease_seconds, 30);
	assert_int_equal(c.execution.claim_batch_size, 32);
	assert_int_equal(c.execution.completion_batch_size, 32);
	assert_int_equal(c.execution.completion_flush_ms, 2);
	assert_int_equal(c.execution.poll_interval_ms, 1000);
	assert_int_equal(c.execution.step_timeout_seconds, 0);
	assert_int_equal(c.execution.shutdown_timeout_seconds, 30);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_UNIQUE);
	assert_null(c.engine.task_template_directories);
	assert_int_equal(c.engine.task_template_directories_count, 0);
	assert_null(c.engine.environment);
	assert_null(c.database.url);
	assert_int_equal(c.database.pool_size, 8);
	assert_int_equal(tasker_config_validate(&c), TASKER_OK);
	tasker_config_clear(&c);
}

static void test_rails_style_file(void **state)
{
	(void)state;
	static const int table[] = {2, 4, 8, 16};
	tasker_config c;
	tasker_config_init(&c);
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("rails_full.yml")), TASKER_OK);
	assert_table(&c, table, 4);
	assert_int_equal(c.backoff.max_backoff_seconds, 600);
	assert_true(c.backoff.backoff_multiplier == 1.5);
	assert_int_equal(c.backoff.jitter_enabled, 0);
	assert_true(c.backoff.jitter_max_percentage == 0.2);
	assert_int_equal(c.backoff.reenqueue_delays.has_ready_steps, 1);
	assert_int_equal(c.backoff.reenqueue_delays.waiting_for_dependencies, 60);
	assert_int_equal(c.backoff.reenqueue_delays.processing, 15);
	assert_int_equal(c.backoff.default_reenqueue_delay, 40);
	assert_int_equal(c.backoff.buffer_seconds, 10);
	assert_int_equal(c.execution.concurrency, 24); /* via max_concurrent_steps_limit */
	assert_int_equal(c.execution.lease_seconds, 90);
	assert_int_equal(c.execution.claim_batch_size, 64);
	assert_int_equal(c.execution.completion_batch_size, 16);
	assert_int_equal(c.execution.completion_flush_ms, 5);
	assert_int_equal(c.execution.poll_interval_ms, 250);
	assert_int_equal(c.execution.step_timeout_seconds, 120);
	assert_int_equal(c.execution.shutdown_timeout_seconds, 45);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_HASH);
	assert_int_equal(c.engine.task_template_directories_count, 1); /* via task_config_directory */
	assert_string_equal(c.engine.task_template_directories[0], "config/tasker/tasks");
	assert_string_equal(c.engine.environment, "production");
	assert_string_equal(c.database.url,
	                    "postgres://tasker@db.internal:5432/tasker_production?sslmode=require");
	assert_int_equal(c.database.pool_size, 20);
	assert_int_equal(tasker_config_validate(&c), TASKER_OK);
	tasker_config_clear(&c);
}

static void test_flat_file_overrides_only_present_keys(void **state)
{
	(void)state;
	static const int table[] = {1, 2, 4, 8, 16, 32};
	tasker_config c;
	tasker_config_init(&c);
	c.backoff.max_backoff_seconds = 77; /* not in the file: must survive */
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("flat_partial.yml")), TASKER_OK);
	assert_int_equal(c.execution.concurrency, 4);
	assert_int_equal(c.engine.task_template_directories_count, 2);
	assert_string_equal(c.engine.task_template_directories[0], "config/tasks");
	assert_string_equal(c.engine.task_template_directories[1], "vendor/tasks");
	assert_int_equal(c.backoff.max_backoff_seconds, 77);
	assert_int_equal(c.execution.lease_seconds, 30);
	assert_table(&c, table, 6);
	assert_int_equal(c.database.pool_size, 8); /* `database:` with no value changes nothing */
	assert_null(c.database.url);
	tasker_config_clear(&c);
}

static void test_yaml_forms(void **state)
{
	(void)state;
	tasker_config c;
	tasker_config_init(&c);
	/* YAML 1.1 booleans, a Ruby symbol, null for a string, a flow mapping, null sections. */
	const char *yaml = "backoff: {jitter_enabled: off, backoff_multiplier: 3}\n"
	                   "engine:\n  identity_strategy: ':hash'\n  environment: ~\n"
	                   "  task_template_directories: one/dir\n"
	                   "execution:\n"
	                   "tasker:\n";
	assert_int_equal(tasker_config_load_string(&c, yaml, "forms"), TASKER_OK);
	assert_int_equal(c.backoff.jitter_enabled, 0);
	assert_true(c.backoff.backoff_multiplier == 3.0);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_HASH);
	assert_null(c.engine.environment);
	assert_int_equal(c.engine.task_template_directories_count, 1);
	assert_string_equal(c.engine.task_template_directories[0], "one/dir");
	assert_int_equal(tasker_config_load_string(&c, "backoff:\n  jitter_enabled: Yes\n", NULL), TASKER_OK);
	assert_int_equal(c.backoff.jitter_enabled, 1);
	/* A null list of directories empties it; an empty document changes nothing. */
	assert_int_equal(tasker_config_load_string(&c, "engine:\n  task_template_directories: null\n", NULL),
	                 TASKER_OK);
	assert_int_equal(c.engine.task_template_directories_count, 0);
	assert_null(c.engine.task_template_directories);
	assert_int_equal(tasker_config_load_string(&c, "", NULL), TASKER_OK);
	assert_int_equal(tasker_config_load_string(&c, "# only a comment\n", NULL), TASKER_OK);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_HASH);
	tasker_config_clear(&c);
}

static void assert_logged(const testlog *c, int i, const char *text)
{
	assert_true(i < c->n);
	if (!strstr(c->lines[i], text))
		fail_msg("log line %d lacks \"%s\": %s", i, text, c->lines[i]);
}

/* A Rails application's file loads: the engine's own keys are ignored with one warning each, Ruby's YAML
 * booleans apply, a key written twice keeps its later value (warned). */
static void test_rails_engine_keys_are_ignored(void **state)
{
	(void)state;
	testlog log;
	tasker_config c;
	tasker_config_init(&c);
	testlog_start(&log, "log.config");
	int rc = tasker_config_load_file(&c, FIXTURE("rails_engine_keys.yml"));
	testlog_stop();
	assert_int_equal(rc, TASKER_OK);
	assert_int_equal(c.execution.concurrency, 12);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_UNIQUE);
	assert_int_equal(c.backoff.jitter_enabled, 0);
	assert_int_equal(log.n, 10);
	assert_logged(&log, 0, "rails_engine_keys.yml:19: identity_strategy: written twice (lines 18 and 19): the "
	                       "later value is used, as Ruby's YAML reads it");
	assert_logged(&log, 1, "rails_engine_keys.yml:5: auth.authentication_enabled: ignored: only the Rails engine "
	                       "uses it");
	assert_logged(&log, 2, ":6: auth.authenticator_class: ignored");
	assert_logged(&log, 3, ":8: telemetry.enabled: ignored");
	assert_logged(&log, 4, ":9: telemetry.config: ignored");
	assert_logged(&log, 5, ":11: health: ignored: a section only the Rails engine uses");
	assert_logged(&log, 6, ":13: execution.min_concurrent_steps: ignored: only the Rails engine uses it");
	assert_logged(&log, 7, ":15: execution.batch_timeout_base_seconds: ignored");
	assert_logged(&log, 8, ":17: engine.task_handler_directory: ignored");
	assert_logged(&log, 9, ":23: database.enable_secondary_database: ignored");
	/* warnings are logged only when the whole file applies */
	testlog_start(&log, "log.config");
	rc = tasker_config_load_string(&c, "cache:\n  default_ttl: 60\nexecution:\n  concurrency: none\n", "bad.yml");
	testlog_stop();
	assert_int_equal(rc, TASKER_ECONFIG);
	assert_int_equal(log.n, 0);
	assert_int_equal(c.execution.concurrency, 12);
	tasker_config_clear(&c);
}

/* The same settings as JSON (what a Ruby Hash of settings becomes), and the strict template option. */
static void test_json_form_and_strict_templates(void **state)
{
	(void)state;
	tasker_config c;
	tasker_config_init(&c);
	assert_int_equal(c.engine.strict_templates, 0);
	const char *json = "{\"execution\": {\"concurrency\": 3}, \"engine\": {\"strict_templates\": true, "
	                   "\"identity_strategy\": \"hash\"}, \"backoff\": {\"default_backoff_seconds\": [1, 5]}}";
	assert_int_equal(tasker_config_load_string(&c, json, "settings"), TASKER_OK);
	assert_int_equal(c.execution.concurrency, 3);
	assert_int_equal(c.engine.strict_templates, 1);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_HASH);
	assert_int_equal(c.backoff.default_backoff_seconds_count, 2);
	char *dump = tasker_config_to_yaml(&c);
	assert_non_null(strstr(dump, "  strict_templates: true\n"));
	free(dump);
	setenv("TASKER_ENGINE_STRICT_TEMPLATES", "0", 1);
	assert_int_equal(tasker_config_apply_env(&c), TASKER_OK);
	unsetenv("TASKER_ENGINE_STRICT_TEMPLATES");
	assert_int_equal(c.engine.strict_templates, 0);
	tasker_config_clear(&c);
}

static void test_env_overrides_file(void **state)
{
	(void)state;
	static const int table[] = {1, 2, 3};
	tasker_config c;
	tasker_config_init(&c);
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("rails_full.yml")), TASKER_OK);
	setenv("TASKER_EXECUTION_CONCURRENCY", "4", 1);
	setenv("TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS", "1,2,3", 1);
	setenv("TASKER_DATABASE_URL", "postgresql:///override", 1);
	setenv("TASKER_BACKOFF_JITTER_ENABLED", "1", 1);
	setenv("TASKER_BACKOFF_JITTER_MAX_PERCENTAGE", " 0.25 ", 1);
	setenv("TASKER_BACKOFF_REENQUEUE_DELAYS_PROCESSING", "7", 1);
	setenv("TASKER_ENGINE_IDENTITY_STRATEGY", "default", 1);
	setenv("TASKER_ENGINE_TASK_TEMPLATE_DIRECTORIES", "a/tasks, b/tasks", 1);
	setenv("TASKER_ENGINE_ENVIRONMENT", "", 1); /* empty: unset, the file's value stays */
	assert_int_equal(tasker_config_apply_env(&c), TASKER_OK);
	assert_int_equal(c.execution.concurrency, 4);
	assert_table(&c, table, 3);
	assert_string_equal(c.database.url, "postgresql:///override");
	assert_int_equal(c.backoff.jitter_enabled, 1);
	assert_true(c.backoff.jitter_max_percentage == 0.25);
	assert_int_equal(c.backoff.reenqueue_delays.processing, 7);
	assert_int_equal(c.engine.identity_strategy, TASKER_IDENTITY_UNIQUE);
	assert_int_equal(c.engine.task_template_directories_count, 2);
	assert_string_equal(c.engine.task_template_directories[0], "a/tasks");
	assert_string_equal(c.engine.task_template_directories[1], "b/tasks");
	/* untouched by the environment: the file's values */
	assert_string_equal(c.engine.environment, "production");
	assert_int_equal(c.execution.lease_seconds, 90);
	assert_int_equal(c.backoff.max_backoff_seconds, 600);
	assert_int_equal(c.database.pool_size, 20);

	setenv("TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS", "[5, 6]", 1);
	assert_int_equal(tasker_config_apply_env(&c), TASKER_OK);
	assert_int_equal(c.backoff.default_backoff_seconds_count, 2);
	assert_int_equal(c.backoff.default_backoff_seconds[1], 6);
	tasker_config_clear(&c);
}

/* Each bad value, and the exact message: the key path, the expectation and what was found. */
typedef struct {
	const char *yaml;
	const char *message; /* after "<source>:" */
} bad_case;

static const bad_case BAD_YAML[] = {
	/* wrong type */
	{"execution:\n  concurrency: ten\n", "2: execution.concurrency: expected a positive integer, got \"ten\""},
	{"execution:\n  concurrency: \"10\"\n",
	 "2: execution.concurrency: expected a positive integer, got the string \"10\""},
	{"execution:\n  lease_seconds: [1]\n",
	 "2: execution.lease_seconds: expected a positive integer, got a sequence"},
	{"execution:\n  lease_seconds:\n", "2: execution.lease_seconds: expected a positive integer, got null"},
	{"backoff:\n  jitter_enabled: maybe\n", "2: backoff.jitter_enabled: expected true or false, got \"maybe\""},
	{"backoff:\n  backoff_multiplier: '.inf'\n",
	 "2: backoff.backoff_multiplier: expected a positive number, got \".inf\""},
	{"backoff:\n  jitter_enabled: \"yes\"\n", "2: backoff.jitter_enabled: expected true or false, got the string \"yes\""},
	{"backoff:\n  jitter_enabled: 1\n", "2: backoff.jitter_enabled: expected true or false, got 1"},
	{"execution:\n  concurrency: 2.5\n", "2: execution.concurrency: expected a positive integer, got 2.5"},
	{"engine:\n  environment: 12\n", "2: engine.environment: expected a string or null, got 12"},
	{"backoff:\n  default_backoff_seconds: 5\n",
	 "2: backoff.default_backoff_seconds: expected a list of 1 to 32 non-negative integers, got 5"},
	{"backoff:\n  default_backoff_seconds:\n    - 1\n    - two\n",
	 "4: backoff.default_backoff_seconds[1]: expected a non-negative integer, got \"two\""},
	{"backoff:\n  reenqueue_delays: 5\n", "2: backoff.reenqueue_delays: expected a mapping, got 5"},
	{"engine:\n  task_template_directories: [a, {b: c}]\n",
	 "2: engine.task_template_directories[1]: expected a directory name, got a mapping"},
	{"database: postgres://x\n", "1: database: expected a mapping, got \"postgres://x\""},
	{"- execution\n", "1: (top level): expected a mapping of sections (backoff, execution, engine or database), got a sequence"},
	{"tasker: [1]\n", "1: tasker: expected a mapping of sections (backoff, execution, engine or database), got a sequence"},
	/* out of range */
	{"execution:\n  concurrency: -3\n", "2: execution.concurrency: expected a positive integer, got -3"},
	{"execution:\n  concurrency: 0\n", "2: execution.concurrency: expected a positive integer, got 0"},
	{"execution:\n  concurrency: 99999999999\n",
	 "2: execution.concurrency: expected a positive integer, got 99999999999"},
	{"execution:\n  completion_flush_ms: -1\n",
	 "2: execution.completion_flush_ms: expected a non-negative integer, got -1"},
	{"backoff:\n  jitter_max_percentage: 1.5\n",
	 "2: backoff.jitter_max_percentage: expected a number from 0 to 1, got 1.5"},
	{"backoff:\n  jitter_max_percentage: -0.1\n",
	 "2: backoff.jitter_max_percentage: expected a number from 0 to 1, got -0.1"},
	{"backoff:\n  backoff_multiplier: 0\n", "2: backoff.backoff_multiplier: expected a positive number, got 0"},
	{"backoff:\n  default_backoff_seconds: []\n",
	 "2: backoff.default_backoff_seconds: expected a list of 1 to 32 non-negative integers, got an empty list"},
	{"backoff:\n  default_backoff_seconds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "
	 "18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33]\n",
	 "2: backoff.default_backoff_seconds: expected a list of 1 to 32 non-negative integers, got 33 entries"},
	{"backoff:\n  default_backoff_seconds: [1, -2]\n",
	 "2: backoff.default_backoff_seconds[1]: expected a non-negative integer, got -2"},
	{"backoff:\n  max_backoff_seconds: 0\n", "2: backoff.max_backoff_seconds: expected a positive integer, got 0"},
	{"backoff:\n  reenqueue_delays:\n    processing: -1\n",
	 "3: backoff.reenqueue_delays.processing: expected a non-negative integer, got -1"},
	{"engine:\n  identity_strategy: custom\n",
	 "2: engine.identity_strategy: expected default or hash, got \"custom\""},
	{"engine:\n  task_template_directories: ['']\n",
	 "2: engine.task_template_directories[0]: expected a directory name, got an empty string"},
	{"database:\n  pool_size: 0\n", "2: database.pool_size: expected a positive integer, got 0"},
	/* unknown names, duplicates */
	{"monitoring:\n  enabled: true\n",
	 "1: monitoring: unknown section (expected backoff, execution, engine or database)"},
	{"tasker:\n  tasker:\n    execution: {}\n",
	 "2: tasker: unknown section (expected backoff, execution, engine or database)"},
	{"execution:\n  concurrency: 2\n  max_concurency: 3\n", "3: execution.max_concurency: unknown key"},
	{"backoff:\n  reenqueue_delays:\n    blocked: 3\n", "3: backoff.reenqueue_delays.blocked: unknown key"},
	{"execution:\n  concurrency: 2\n  max_concurrent_steps_limit: 3\n",
	 "3: execution.max_concurrent_steps_limit: sets the same option as execution.concurrency (line 2)"},
};

/* What the YAML reader refuses (the one reader of templates and configuration): its message, which names
 * the line and column, with TASKER_ECONFIG. */
static const bad_case BAD_DOCUMENTS[] = {
	{"backoff:\n  backoff_multiplier: .inf\n",
	 " YAML error at line 2, column 23: \".inf\" is a YAML number that JSON cannot hold (infinite, not a number "
	 "or out of range); quote it to keep the text"},
	{"? [a]\n: 1\n", " YAML error at line 1, column 3: a sequence cannot be a mapping key"},
	{"engine:\n  environment: \"a\\0b\"\n", " YAML error at line 2, column 16: NUL character in a scalar"},
	{"execution:\n  concurrency: 2\n---\nexecution:\n  concurrency: 3\n",
	 " YAML error at line 3, column 1: expected one YAML document, found a second"},
	{"execution: {concurrency: 2\n", " YAML syntax error at line 2, column 1: did not find expected ',' or '}' "
	                                "(while parsing a flow mapping at line 1, column 12)"},
	{"a: *missing\n", " YAML error at line 1, column 4: unknown anchor \"missing\" (an alias must follow its "
	                  "complete anchor)"},
};

static void test_errors_name_the_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof BAD_YAML / sizeof BAD_YAML[0]; i++) {
		tasker_config c;
		char expected[512];
		tasker_config_init(&c);
		snprintf(expected, sizeof expected, "case.yml:%s", BAD_YAML[i].message);
		int rc = tasker_config_load_string(&c, BAD_YAML[i].yaml, "case.yml");
		if (rc != TASKER_ECONFIG || strcmp(tasker_error_last()->message, expected) != 0)
			print_error("case %zu: rc %d, message: %s\n", i, rc, tasker_error_last()->message);
		assert_error(rc, TASKER_ECONFIG, expected);
		tasker_config_clear(&c);
	}
	for (size_t i = 0; i < sizeof BAD_DOCUMENTS / sizeof BAD_DOCUMENTS[0]; i++) {
		tasker_config c;
		char expected[512];
		tasker_config_init(&c);
		snprintf(expected, sizeof expected, "case.yml:%s", BAD_DOCUMENTS[i].message);
		assert_error(tasker_config_load_string(&c, BAD_DOCUMENTS[i].yaml, "case.yml"), TASKER_ECONFIG, expected);
		tasker_config_clear(&c);
	}
}

static void test_file_errors_have_file_and_line(void **state)
{
	(void)state;
	tasker_config c;
	tasker_config_init(&c);
	assert_error(tasker_config_load_file(&c, FIXTURE("bad_type.yml")), TASKER_ECONFIG,
	             FIXTURE("bad_type.yml") ":6: execution.concurrency: expected a positive integer, got \"ten\"");
	assert_error(tasker_config_load_file(&c, FIXTURE("unknown_key.yml")), TASKER_ECONFIG,
	             FIXTURE("unknown_key.yml") ":3: backoff.jitter: unknown key");
	int rc = tasker_config_load_file(&c, FIXTURE("invalid_syntax.yml"));
	assert_int_equal(rc, TASKER_ECONFIG);
	assert_non_null(strstr(tasker_error_last()->message, FIXTURE("invalid_syntax.yml") ": YAML syntax error at line 4"));
	assert_error(tasker_config_load_file(&c, FIXTURE("no_such_file.yml")), TASKER_ENOTFOUND,
	             FIXTURE("no_such_file.yml") ": cannot open configuration file: No such file or directory");
	rc = tasker_config_load_file(&c, TASKER_SOURCE_DIR "/tests/fixtures/config");
	assert_int_equal(rc, TASKER_ERROR);
	assert_non_null(strstr(tasker_error_last()->message, "Is a directory"));
	tasker_config_clear(&c);
}

static void test_env_errors(void **state)
{
	(void)state;
	tasker_config c;
	tasker_config_init(&c);
	setenv("TASKER_EXECUTION_CONCURRENCY", "ten", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "execution.concurrency (from TASKER_EXECUTION_CONCURRENCY): expected a positive integer, "
	             "got \"ten\"");
	setenv("TASKER_EXECUTION_CONCURRENCY", "-4", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "execution.concurrency (from TASKER_EXECUTION_CONCURRENCY): expected a positive integer, got -4");
	unsetenv("TASKER_EXECUTION_CONCURRENCY");
	setenv("TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS", "1,,3", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "backoff.default_backoff_seconds[1] (from TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS): expected a "
	             "non-negative integer, got \"\"");
	setenv("TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS", "[]", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "backoff.default_backoff_seconds (from TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS): expected a "
	             "list of 1 to 32 non-negative integers, got an empty list");
	unsetenv("TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS");
	setenv("TASKER_BACKOFF_JITTER_MAX_PERCENTAGE", "2", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "backoff.jitter_max_percentage (from TASKER_BACKOFF_JITTER_MAX_PERCENTAGE): expected a number "
	             "from 0 to 1, got 2");
	unsetenv("TASKER_BACKOFF_JITTER_MAX_PERCENTAGE");
	setenv("TASKER_ENGINE_IDENTITY_STRATEGY", "custom", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "engine.identity_strategy (from TASKER_ENGINE_IDENTITY_STRATEGY): expected default or hash, "
	             "got \"custom\"");
	unsetenv("TASKER_ENGINE_IDENTITY_STRATEGY");
	setenv("TASKER_BACKOFF_JITTER_ENABLED", "sometimes", 1);
	assert_error(tasker_config_apply_env(&c), TASKER_ECONFIG,
	             "backoff.jitter_enabled (from TASKER_BACKOFF_JITTER_ENABLED): expected true or false, "
	             "got \"sometimes\"");
	unsetenv("TASKER_BACKOFF_JITTER_ENABLED");
	tasker_config_clear(&c);
}

/* Asserts two configs are equal field by field (through the dump, which prints every field). */
static void assert_same_config(const tasker_config *a, const tasker_config *b)
{
	char *ya = tasker_config_to_yaml(a), *yb = tasker_config_to_yaml(b);
	assert_non_null(ya);
	assert_non_null(yb);
	assert_string_equal(ya, yb);
	free(ya);
	free(yb);
}

static void test_nothing_changes_on_failure(void **state)
{
	(void)state;
	tasker_config c, before;
	tasker_config_init(&c);
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("flat_partial.yml")), TASKER_OK);
	assert_int_equal(tasker_config_copy(&before, &c), TASKER_OK);
	char **dirs = c.engine.task_template_directories;

	/* Valid keys precede the bad one: none of them may stick. */
	const char *yaml = "backoff:\n  default_backoff_seconds: [9, 9]\n  max_backoff_seconds: 9\n"
	                   "engine:\n  environment: staging\n  task_template_directories: [x]\n"
	                   "database:\n  url: postgres:///x\n"
	                   "execution:\n  concurrency: 9\n  lease_seconds: nine\n";
	assert_int_equal(tasker_config_load_string(&c, yaml, "partial"), TASKER_ECONFIG);
	assert_same_config(&c, &before);
	assert_ptr_equal(c.engine.task_template_directories, dirs);
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("bad_type.yml")), TASKER_ECONFIG);
	assert_same_config(&c, &before);
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("invalid_syntax.yml")), TASKER_ECONFIG);
	assert_same_config(&c, &before);

	setenv("TASKER_DATABASE_URL", "postgres:///from-env", 1);
	setenv("TASKER_EXECUTION_CONCURRENCY", "5", 1);
	setenv("TASKER_DATABASE_POOL_SIZE", "none", 1);
	assert_int_equal(tasker_config_apply_env(&c), TASKER_ECONFIG);
	assert_same_config(&c, &before);
	assert_null(c.database.url);

	tasker_config_clear(&before);
	tasker_config_clear(&c);
}

static void test_to_yaml_round_trip(void **state)
{
	(void)state;
	tasker_config c, back;
	tasker_config_init(&c);
	char *dump = tasker_config_to_yaml(&c);
	assert_non_null(dump);
	/* the defaults, spelled as a user would write them */
	assert_non_null(strstr(dump, "backoff:\n  default_backoff_seconds: [1, 2, 4, 8, 16, 32]\n"));
	assert_non_null(strstr(dump, "  backoff_multiplier: 2.0\n  jitter_enabled: true\n"
	                             "  jitter_max_percentage: 0.1\n  reenqueue_delays:\n"
	                             "    has_ready_steps: 0\n    waiting_for_dependencies: 45\n"
	                             "    processing: 10\n  default_reenqueue_delay: 30\n"));
	assert_non_null(strstr(dump, "execution:\n  concurrency: 10\n"));
	assert_non_null(strstr(dump, "engine:\n  identity_strategy: default\n  task_template_directories: []\n"
	                             "  environment: null\n"));
	assert_non_null(strstr(dump, "database:\n  url: null\n  pool_size: 8\n"));
	assert_null(strstr(dump, "max_concurrent_steps_limit")); /* aliases are not dumped */
	free(dump);

	assert_int_equal(tasker_config_load_file(&c, FIXTURE("rails_full.yml")), TASKER_OK);
	c.backoff.backoff_multiplier = 1.0 / 3.0;
	c.backoff.jitter_enabled = 1;
	free(c.engine.environment);
	c.engine.environment = strdup("quote \" backslash \\ newline \n tab \t bell \a ünï");
	tasker_config_init(&back);
	back.execution.concurrency = 1; /* every key is in the dump: this must be overwritten */
	dump = tasker_config_to_yaml(&c);
	assert_non_null(dump);
	assert_int_equal(tasker_config_load_string(&back, dump, "dump"), TASKER_OK);
	assert_same_config(&c, &back);
	assert_true(back.backoff.backoff_multiplier == 1.0 / 3.0);
	assert_string_equal(back.engine.environment, c.engine.environment);
	assert_int_equal(back.execution.concurrency, 24);
	free(dump);
	tasker_config_clear(&back);

	/* Multipliers whose shortest form has an exponent and no '.' (20 is "2e+01", 1e21 is "1e+21"): the
	 * dump must still write a float the reader takes (a '.' before the exponent), not a string. Found by
	 * fuzz_config. */
	static const double multipliers[] = {20, 300, 1e21, 1.5e-7, 0.25};
	for (size_t i = 0; i < sizeof multipliers / sizeof *multipliers; i++) {
		c.backoff.backoff_multiplier = multipliers[i];
		dump = tasker_config_to_yaml(&c);
		assert_non_null(dump);
		tasker_config_init(&back);
		if (tasker_config_load_string(&back, dump, "dump") != TASKER_OK)
			fail_msg("multiplier %g: %s", multipliers[i], tasker_error_last()->message);
		assert_true(back.backoff.backoff_multiplier == multipliers[i]);
		free(dump);
		tasker_config_clear(&back);
	}
	tasker_config_clear(&c);
}

static void test_validate_and_copy(void **state)
{
	(void)state;
	tasker_config c, copy;
	tasker_config_init(&c);
	c.execution.concurrency = -1;
	assert_error(tasker_config_validate(&c), TASKER_ECONFIG,
	             "execution.concurrency: expected a positive integer, got -1");
	c.execution.concurrency = 1;
	c.backoff.default_backoff_seconds_count = 0;
	assert_error(tasker_config_validate(&c), TASKER_ECONFIG,
	             "backoff.default_backoff_seconds: expected a list of 1 to 32 non-negative integers, "
	             "got an empty list");
	c.backoff.default_backoff_seconds_count = 1;
	c.engine.identity_strategy = TASKER_IDENTITY_CLIENT_DEFAULT;
	assert_error(tasker_config_validate(&c), TASKER_ECONFIG,
	             "engine.identity_strategy: expected default or hash, got 0");
	c.engine.identity_strategy = TASKER_IDENTITY_HASH;
	c.backoff.jitter_max_percentage = 0.5;
	assert_int_equal(tasker_config_validate(&c), TASKER_OK);

	c.version = 0;
	assert_int_equal(tasker_config_validate(&c), TASKER_EINVAL);
	assert_int_equal(tasker_config_load_string(&c, "", NULL), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "call tasker_config_init first"));
	c.version = TASKER_CONFIG_VERSION;

	assert_int_equal(tasker_config_load_file(&c, FIXTURE("flat_partial.yml")), TASKER_OK);
	c.database.url = strdup("postgres:///a");
	assert_int_equal(tasker_config_copy(&copy, &c), TASKER_OK);
	assert_same_config(&c, &copy);
	assert_ptr_not_equal(copy.database.url, c.database.url);
	assert_ptr_not_equal(copy.engine.task_template_directories, c.engine.task_template_directories);
	assert_ptr_not_equal(copy.engine.task_template_directories[0], c.engine.task_template_directories[0]);
	tasker_config_clear(&c);
	assert_string_equal(copy.engine.task_template_directories[1], "vendor/tasks");
	assert_string_equal(copy.database.url, "postgres:///a");
	tasker_config_clear(&copy);
	/* clear resets to the defaults and may be repeated */
	assert_int_equal(copy.execution.concurrency, 10);
	tasker_config_clear(&copy);
	tasker_config_clear(NULL);
}

static void test_example_file_is_valid(void **state)
{
	(void)state;
	tasker_config c;
	tasker_config_init(&c);
	assert_int_equal(tasker_config_load_file(&c, FIXTURE("example.yml")), TASKER_OK);
	assert_int_equal(tasker_config_validate(&c), TASKER_OK);
	assert_int_equal(c.execution.concurrency, 16);
	assert_int_equal(c.engine.task_template_directories_count, 1);
	tasker_config_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_rails_style_file, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_flat_file_overrides_only_present_keys, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_yaml_forms, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_rails_engine_keys_are_ignored, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_json_form_and_strict_templates, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_env_overrides_file, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_errors_name_the_key, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_file_errors_have_file_and_line, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_env_errors, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_nothing_changes_on_failure, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_to_yaml_round_trip, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_validate_and_copy, clean_env, clean_env),
		cmocka_unit_test_setup_teardown(test_example_file_is_valid, clean_env, clean_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
