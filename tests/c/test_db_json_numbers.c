/*
 * test_db_json_numbers.c — integers beyond a double's 53 bits keep every digit wherever the core turns
 * JSON into a tree and back: a template's handler_config as stored and as a step carries it (also to a
 * client that reads the template from the database), a task's tags, and a failure's context and
 * backtrace. Contexts and results, which the core never parses into a tree on their way, are covered
 * by the conformance suite (tests/conformance, case 32).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "testdb.h"

#define BIG "9007199254740993"
#define HUGE "-123456789012345678901234567890"

static const char *TEMPLATE =
	"name: numbers\n"
	"namespace_name: exact\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - name: only\n"
	"    handler_class: Exact::Step\n"
	"    default_retry_limit: 1\n"
	"    handler_config: {limit: " BIG ", floor: " HUGE ", ratio: 0.25}\n";

static int64_t create(tasker_client *client)
{
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = "numbers";
	r.namespace_name = "exact";
	r.template_version = "1.0.0";
	r.context_json = "{}";
	r.tags_json = "[\"batch\", " BIG ", {\"shard\": " HUGE "}]";
	int64_t id = 0;
	assert_int_equal(tasker_task_create(&id, client, &r), TASKER_OK);
	return id;
}

static void test_handler_config_and_tags(void **state)
{
	testdb *t = *state;
	assert_int_equal(tasker_template_register_string(NULL, t->client, TEMPLATE, 0, "numbers.yaml", NULL), TASKER_OK);
	char *stored = testdb_value(t->pg, "SELECT configuration::text FROM tasker_named_tasks WHERE name = 'numbers'");
	assert_non_null(strstr(stored, "\"limit\": " BIG));
	assert_non_null(strstr(stored, "\"floor\": " HUGE));
	free(stored);
	/* a client that did not register the template reads it from the database */
	tasker_client *other = NULL;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = t->conninfo;
	assert_int_equal(tasker_client_open(&other, &o), TASKER_OK);
	int64_t id = create(t->client);
	tasker_claimed_step *s = testdb_claim_one(other, NULL);
	/* (in jsonb's key order: this client read the template from its stored configuration) */
	assert_string_equal(s->handler_config_json, "{\"floor\":" HUGE ",\"limit\":" BIG ",\"ratio\":0.25}");
	assert_string_equal(s->tags_json, "[\"batch\", " BIG ", {\"shard\": " HUGE "}]");
	tasker_claimed_step_free(s);
	tasker_task_view *v = NULL;
	assert_int_equal(tasker_task_get(&v, t->client, id), TASKER_OK);
	assert_string_equal(v->tags_json, "[\"batch\", " BIG ", {\"shard\": " HUGE "}]");
	tasker_task_view_free(v);
	tasker_client_free(other);
}

static void test_failure_context_and_backtrace(void **state)
{
	testdb *t = *state;
	create(t->client);
	tasker_claimed_step *s = testdb_claim_one(t->client, NULL);
	tasker_step_result r = {0};
	r.workflow_step_id = s->workflow_step_id;
	r.claim_id = s->claim_id;
	r.outcome = TASKER_OUTCOME_PERMANENT;
	r.error_message = "declined";
	r.error_context_json = "{\"order_id\": " BIG ", \"amounts\": [" HUGE ", 1.5]}";
	r.backtrace_json = "[\"frame " BIG "\", " BIG "]";
	r.retry_after = -1;
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	char *details = testdb_value(t->pg, "SELECT (results -> 'error_details')::text FROM tasker_workflow_steps "
	                                    "WHERE workflow_step_id = %lld", (long long)s->workflow_step_id);
	assert_non_null(strstr(details, "\"error_context\": {\"amounts\": [" HUGE ", 1.5], \"order_id\": " BIG "}"));
	assert_non_null(strstr(details, "\"backtrace\": [\"frame " BIG "\", " BIG "]"));
	free(details);
	tasker_claimed_step_free(s);
}

static int setup(void **state)
{
	static testdb t;
	testdb_open(&t, "json_numbers", 1);
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
		cmocka_unit_test(test_handler_config_and_tags),
		cmocka_unit_test(test_failure_context_and_backtrace),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
