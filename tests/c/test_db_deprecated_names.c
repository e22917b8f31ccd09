/*
 * test_db_deprecated_names.c — the names of release 0.1 still compile (with a deprecation warning, which
 * this program alone turns off) and behave as the names that replaced them: each call below goes through
 * an alias, and its effect is checked through the new name or the database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "testdb.h"

static int count_calls(const tasker_event *e, void *payload)
{
	(void)e;
	(*(int *)payload)++;
	return 0;
}

static void migrate_and_recover(void **state)
{
	(void)state;
	testdb t;
	testdb_open(&t, "deprecated_migrate", 0);
	int applied = -1;
	assert_int_equal(tasker_db_migrate(t.client, &applied), TASKER_OK);
	assert_true(applied > 0);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_core_schema_migrations"), applied);
	assert_int_equal(tasker_db_migrate(t.client, &applied), TASKER_OK);
	assert_int_equal(applied, 0);

	/* One step whose lease ran out: the old name recovers it, as tasker_step_recover_expired would. */
	assert_int_equal(tasker_template_register_file(NULL, t.client,
	                                               TASKER_SOURCE_DIR "/tests/fixtures/templates/dummy_task.yaml",
	                                               NULL),
	                 TASKER_OK);
	int64_t task_id;
	tasker_task_request req = TASKER_TASK_REQUEST_INIT;
	req.name = "dummy_task";
	req.context_json = "{\"dummy\": true}";
	assert_int_equal(tasker_task_create(&task_id, t.client, &req), TASKER_OK);
	tasker_claimed_step **steps;
	size_t n;
	tasker_claim_options co = TASKER_CLAIM_OPTIONS_INIT;
	co.max_steps = 256;
	assert_int_equal(tasker_steps_claim(&steps, &n, t.client, &co), TASKER_OK);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		tasker_claimed_step_free(steps[i]);
	tasker_free(steps);
	PQclear(testdb_sql(t.pg, "UPDATE tasker_step_claims SET lease_expires_at = lease_expires_at - interval '1 hour'"));
	int recovered = -1;
	assert_int_equal(tasker_recover_expired_claims(t.client, &recovered), TASKER_OK);
	assert_int_equal(recovered, (int)n);
	assert_int_equal(tasker_step_recover_expired(&recovered, t.client), TASKER_OK);
	assert_int_equal(recovered, 0);
	testdb_close(&t);
}

static void events(void **state)
{
	(void)state;
	const tasker_event_info *old_catalog, *new_catalog;
	size_t n = tasker_events_catalog(&old_catalog);
	assert_true(n > 0);
	assert_int_equal(n, tasker_event_catalog(&new_catalog));
	assert_ptr_equal(old_catalog, new_catalog);

	testdb t;
	testdb_open(&t, "deprecated_events", 1);
	assert_int_equal(tasker_events_set_persist(t.client, 1), TASKER_OK);
	int calls = 0;
	uint64_t id;
	tasker_event_subscribe_options so = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	so.delivery = TASKER_EVENT_ASYNC;
	assert_int_equal(tasker_events_subscribe(&id, t.client, "tasker.telemetry.*", count_calls, &calls, &so),
	                 TASKER_OK);
	assert_int_equal(tasker_events_publish(t.client, "tasker.telemetry.export_completed", "{\"exporter\": \"x\"}"),
	                 TASKER_OK);
	assert_int_equal(tasker_events_publish(t.client, "not.in.catalog", "{}"), TASKER_EINVAL);
	assert_int_equal(tasker_events_flush(t.client, 10000), TASKER_OK);
	assert_int_equal(calls, 1);
	tasker_event_stats st;
	memset(&st, 0, sizeof st);
	assert_int_equal(tasker_events_stats(&st, t.client, id), TASKER_OK);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(testdb_count(t.pg, "SELECT count(*) FROM tasker_events WHERE name = "
	                                    "'tasker.telemetry.export_completed'"),
	                 1);
	assert_int_equal(tasker_events_unsubscribe(t.client, id), TASKER_OK);
	assert_int_equal(tasker_event_unsubscribe(t.client, id), TASKER_ENOTFOUND);
	testdb_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(migrate_and_recover),
		cmocka_unit_test(events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
