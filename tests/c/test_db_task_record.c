/* Integration test of tasker_task_record: a task's rows, every column of the Rails engine's tables, as
 * the engine's models read them — before its steps run, and after one step ran and recorded its result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "testdb.h"

static testdb db;

static const char *TEMPLATE = "name: record_task\n"
                              "namespace_name: records\n"
                              "version: 2.0.0\n"
                              "description: Rows as models see them\n"
                              "handler_config: {region: eu}\n"
                              "step_templates:\n"
                              "  - {name: first, handler_class: Records::First, default_retry_limit: 4}\n"
                              "  - {name: second, handler_class: Records::Second, depends_on_step: first, "
                              "skippable: true}\n";

static int setup(void **state)
{
	(void)state;
	testdb_open(&db, "task_record", 1);
	return tasker_template_register_string(NULL, db.client, TEMPLATE, 0, "record_task.yaml", NULL) == TASKER_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	testdb_close(&db);
	return 0;
}

static cJSON *record(int64_t id)
{
	char *json = NULL;
	assert_int_equal(tasker_task_record(&json, db.client, id), TASKER_OK);
	cJSON *doc = cJSON_Parse(json);
	tasker_free(json);
	assert_non_null(doc);
	return doc;
}

static const cJSON *field(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v)
		fail_msg("no \"%s\" in the record", key);
	return v;
}

static void test_rows_before_and_after_a_step(void **state)
{
	(void)state;
	tasker_task_request rq = TASKER_TASK_REQUEST_INIT;
	rq.name = "record_task";
	rq.namespace_name = "records";
	rq.template_version = "2.0.0";
	rq.context_json = "{\"order\": 7}";
	rq.initiator = "tests";
	int64_t id = 0;
	assert_int_equal(tasker_task_create(&id, db.client, &rq), TASKER_OK);

	cJSON *doc = record(id);
	const cJSON *task = field(doc, "task"), *steps = field(doc, "workflow_steps");
	assert_int_equal((int64_t)field(task, "task_id")->valuedouble, id);
	assert_string_equal(field(task, "status")->valuestring, "pending");
	assert_string_equal(field(task, "initiator")->valuestring, "tests");
	assert_true(cJSON_IsFalse(field(task, "complete")));
	assert_int_equal(field(field(task, "context"), "order")->valueint, 7);
	const char *const columns[] = {"named_task_id", "requested_at", "created_at", "updated_at", "identity_hash",
	                               "bypass_steps", "tags", "source_system", "reason"};
	for (size_t i = 0; i < sizeof columns / sizeof *columns; i++)
		field(task, columns[i]);
	assert_int_equal(strlen(field(task, "created_at")->valuestring) >= 19, 1);
	const cJSON *named = field(task, "named_task");
	assert_string_equal(field(named, "name")->valuestring, "record_task");
	assert_string_equal(field(named, "namespace_name")->valuestring, "records");
	assert_string_equal(field(named, "version")->valuestring, "2.0.0");
	assert_string_equal(field(named, "description")->valuestring, "Rows as models see them");
	assert_string_equal(field(field(field(named, "configuration"), "handler_config"), "region")->valuestring, "eu");

	assert_int_equal(cJSON_GetArraySize(steps), 2);
	const cJSON *first = cJSON_GetArrayItem(steps, 0), *second = cJSON_GetArrayItem(steps, 1);
	assert_string_equal(field(first, "name")->valuestring, "first");
	assert_string_equal(field(first, "status")->valuestring, "pending");
	assert_int_equal(field(first, "retry_limit")->valueint, 4);
	assert_true(cJSON_IsTrue(field(second, "skippable")));
	assert_true(cJSON_IsFalse(field(first, "processed")) && cJSON_IsNull(field(first, "processed_at")));
	assert_true(cJSON_IsNull(field(first, "last_attempted_at")) && cJSON_IsNull(field(first, "backoff_request_seconds")));
	assert_int_equal(field(first, "attempts")->valueint, 0);
	assert_int_equal(field(field(first, "inputs"), "order")->valueint, 7);
	assert_string_equal(field(field(first, "named_step"), "name")->valuestring, "first");
	field(first, "named_step_id");
	field(first, "in_process");
	assert_int_equal(cJSON_GetArraySize(field(first, "parent_ids")), 0);
	assert_true(field(first, "child_ids")->child->valuedouble == field(second, "workflow_step_id")->valuedouble);
	assert_true(field(second, "parent_ids")->child->valuedouble == field(first, "workflow_step_id")->valuedouble);
	cJSON_Delete(doc);

	/* run the first step through the public claim and complete */
	tasker_claimed_step **claimed = NULL;
	size_t n = 0;
	tasker_claim_options co = TASKER_CLAIM_OPTIONS_INIT;
	assert_int_equal(tasker_steps_claim(&claimed, &n, db.client, &co), TASKER_OK);
	assert_int_equal(n, 1);
	tasker_step_result r = {0};
	r.workflow_step_id = claimed[0]->workflow_step_id;
	r.claim_id = claimed[0]->claim_id;
	r.outcome = TASKER_OUTCOME_SUCCESS;
	r.results_json = "{\"done\": true}";
	r.retry_after = -1;
	assert_int_equal(tasker_steps_complete(db.client, &r, 1), TASKER_OK);
	tasker_claimed_step_free(claimed[0]);
	tasker_free(claimed);

	doc = record(id);
	first = cJSON_GetArrayItem(field(doc, "workflow_steps"), 0);
	assert_string_equal(field(first, "status")->valuestring, "complete");
	assert_true(cJSON_IsTrue(field(first, "processed")));
	assert_true(cJSON_IsString(field(first, "processed_at")) && cJSON_IsString(field(first, "last_attempted_at")));
	assert_int_equal(field(first, "attempts")->valueint, 1);
	assert_true(cJSON_IsTrue(field(field(first, "results"), "done")));
	assert_string_equal(field(field(doc, "task"), "status")->valuestring, "in_progress");
	cJSON_Delete(doc);
}

static void test_errors(void **state)
{
	(void)state;
	char *json = (char *)"untouched";
	assert_int_equal(tasker_task_record(&json, db.client, 987654321), TASKER_ENOTFOUND);
	assert_null(json);
	assert_non_null(strstr(tasker_error_last()->message, "task 987654321 does not exist"));
	assert_int_equal(tasker_task_record(NULL, db.client, 1), TASKER_EINVAL);
	assert_int_equal(tasker_task_record(&json, NULL, 1), TASKER_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_before_and_after_a_step),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
