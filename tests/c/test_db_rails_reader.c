/*
 * test_db_rails_reader.c — what the engine promises to other readers of the Rails tables:
 *  - liveness: a claim never waits on rows another transaction holds (a locked ready-queue row or a
 *    locked task row is skipped, not waited for). Every connection here runs with a lock_timeout, so a
 *    claim that waits fails instead of hanging;
 *  - what a reader of the tables (the Rails engine's models and its SQL readiness function) sees of a
 *    running step, a finished one, and one whose worker died: a claimed step is never `pending` nor
 *    ready for execution to the Rails runtime.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "testdb.h"

static const char *TEMPLATES[] = {
	"name: single\n"
	"namespace_name: reader\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: only, handler_class: 'Reader::Only'}\n",
	"name: chain\n"
	"namespace_name: reader\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: first, handler_class: 'Reader::First'}\n"
	"  - {name: second, handler_class: 'Reader::Second', depends_on_step: first}\n",
	"name: fork\n"
	"namespace_name: reader\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: root, handler_class: 'Reader::Root'}\n"
	"  - {name: left, handler_class: 'Reader::Left', depends_on_step: root}\n"
	"  - {name: right, handler_class: 'Reader::Right', depends_on_step: root}\n"
	"  - {name: left_next, handler_class: 'Reader::LeftNext', depends_on_step: left}\n"
	"  - {name: right_next, handler_class: 'Reader::RightNext', depends_on_step: right}\n",
};

static long long step_of(testdb *t, int64_t task, const char *name)
{
	return testdb_count(t->pg,
	                    "SELECT s.workflow_step_id FROM tasker_workflow_steps s JOIN tasker_named_steps ns "
	                    "ON ns.named_step_id = s.named_step_id WHERE s.task_id = %lld AND ns.name = '%s'",
	                    (long long)task, name);
}

static void cancel(testdb *t, int64_t task) { assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK); }

/* Another transaction holds the ready-queue row of one task's step and the task row of another (as a
 * worker completing a sibling does): a claim takes the third task's step at once, and the other two
 * once the locks are gone. */
static void test_claim_never_waits_on_locked_rows(void **state)
{
	testdb *t = *state;
	int64_t a = testdb_new_task(t->client, "reader", "single", NULL);
	int64_t b = testdb_new_task(t->client, "reader", "single", NULL);
	int64_t c = testdb_new_task(t->client, "reader", "single", NULL);
	PQclear(testdb_sql(t->pg, "BEGIN"));
	PQclear(testdb_sqlf(t->pg, "SELECT 1 FROM tasker_ready_steps WHERE task_id = %lld FOR UPDATE", (long long)a));
	PQclear(testdb_sqlf(t->pg, "SELECT 1 FROM tasker_tasks WHERE task_id = %lld FOR NO KEY UPDATE", (long long)b));
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.max_steps = 10;
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	/* with the lock_timeout, a claim that waited would fail here */
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0]->task_id, c);
	testdb_free_claims(steps, n);
	/* claiming one named step skips the same way: not claimable now, no wait */
	tasker_claimed_step *one = NULL;
	assert_int_equal(tasker_step_claim(&one, t->client, step_of(t, a, "only"), &o), TASKER_ENOTFOUND);
	assert_int_equal(tasker_step_claim(&one, t->client, step_of(t, b, "only"), &o), TASKER_ENOTFOUND);
	PQclear(testdb_sql(t->pg, "ROLLBACK"));
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 2);
	assert_true((steps[0]->task_id == a && steps[1]->task_id == b) ||
	            (steps[0]->task_id == b && steps[1]->task_id == a));
	testdb_free_claims(steps, n);
	cancel(t, a);
	cancel(t, b);
	cancel(t, c);
}

static void complete_ok(tasker_client *client, tasker_claimed_step *step)
{
	tasker_step_result r = testdb_result_for(step, TASKER_OUTCOME_SUCCESS, "{}");
	int rc = tasker_steps_complete(client, &r, 1);
	if (rc)
		print_error("completing step %lld: %s\n", (long long)r.workflow_step_id, tasker_error_last()->message);
	assert_int_equal(rc, TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	tasker_claimed_step_free(step);
}

/* Two workers finish siblings of one task at the same time: neither waits for the other (no task row
 * is held for the length of a completion), and a claim made meanwhile takes the task's newly ready
 * step instead of passing over it because the task row is locked. The first completion is held open
 * on the fixture connection; the client's connections run with the lock_timeout, so a completion or a
 * claim that waited would fail. Then the task finishes normally. */
static void test_sibling_completions_do_not_wait(void **state)
{
	testdb *t = *state;
	int64_t task = testdb_new_task(t->client, "reader", "fork", NULL);
	complete_ok(t->client, testdb_claim_one(t->client, "Reader::Root"));
	tasker_claimed_step *left = testdb_claim_one(t->client, "Reader::Left");
	tasker_claimed_step *right = testdb_claim_one(t->client, "Reader::Right");
	PQclear(testdb_sql(t->pg, "BEGIN"));
	assert_int_equal(testdb_count(t->pg,
	                              "SELECT count(*) FROM tasker_core_complete_successes(ARRAY[%lld]::bigint[], "
	                              "ARRAY[%lld]::bigint[], ARRAY['{}']::jsonb[]) WHERE ev_kind = 'enqueue'",
	                              (long long)left->workflow_step_id, (long long)left->claim_id),
	                 1);
	complete_ok(t->client, right); /* would time out waiting for the task row */
	tasker_claimed_step *right_next = testdb_claim_one(t->client, NULL); /* the only one visible yet */
	assert_int_equal(right_next->workflow_step_id, step_of(t, task, "right_next"));
	PQclear(testdb_sql(t->pg, "COMMIT"));
	tasker_claimed_step_free(left); /* completed on the fixture connection */
	complete_ok(t->client, testdb_claim_one(t->client, "Reader::LeftNext"));
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks WHERE task_id = %lld AND complete",
	                              (long long)task),
	                 0);
	complete_ok(t->client, right_next);
	tasker_state st;
	assert_int_equal(tasker_task_state(&st, t->client, task), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_COMPLETE);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks WHERE task_id = %lld AND complete",
	                              (long long)task),
	                 1);
}

/* One step as the Rails engine reads it: current state (the most_recent transition; exactly one row
 * is current), the step row's flags, and the Rails SQL readiness function's verdict. */
typedef struct {
	char state[32];
	long long current_rows;
	int processed, in_process, attempts, ready, retry_eligible;
	char results[256];
} rails_view;

static rails_view view(testdb *t, int64_t task, long long step)
{
	rails_view v = {0};
	PGresult *r = testdb_sqlf(
		t->pg,
		"SELECT f.current_state, (SELECT count(*) FROM tasker_workflow_step_transitions x "
		"WHERE x.workflow_step_id = s.workflow_step_id AND x.most_recent), s.processed, s.in_process, "
		"COALESCE(s.attempts, 0), f.ready_for_execution, f.retry_eligible, COALESCE(s.results::text, '') "
		"FROM tasker_workflow_steps s JOIN get_step_readiness_status(%lld) f "
		"ON f.workflow_step_id = s.workflow_step_id WHERE s.workflow_step_id = %lld",
		(long long)task, step);
	assert_int_equal(PQntuples(r), 1);
	snprintf(v.state, sizeof v.state, "%s", PQgetvalue(r, 0, 0));
	v.current_rows = atoll(PQgetvalue(r, 0, 1));
	v.processed = PQgetvalue(r, 0, 2)[0] == 't';
	v.in_process = PQgetvalue(r, 0, 3)[0] == 't';
	v.attempts = atoi(PQgetvalue(r, 0, 4));
	v.ready = PQgetvalue(r, 0, 5)[0] == 't';
	v.retry_eligible = PQgetvalue(r, 0, 6)[0] == 't';
	snprintf(v.results, sizeof v.results, "%s", PQgetvalue(r, 0, 7));
	PQclear(r);
	return v;
}

static char *task_state(testdb *t, int64_t task)
{
	return testdb_value(t->pg, "SELECT to_state FROM tasker_task_transitions WHERE task_id = %lld AND most_recent",
	                    (long long)task);
}

static void test_rails_reader_sees_running_finished_and_dead(void **state)
{
	testdb *t = *state;
	int64_t task = testdb_new_task(t->client, "reader", "chain", NULL);
	long long first = step_of(t, task, "first"), second = step_of(t, task, "second");
	rails_view v = view(t, task, first);
	assert_string_equal(v.state, "pending"); /* before any claim: Rails would run it too */
	assert_true(v.ready);

	/* running: in_progress (one current row), not processed, no attempt counted yet, and not ready for
	 * the Rails runtime (it only takes pending/error steps) */
	tasker_claimed_step *c = testdb_claim_one(t->client, "Reader::First");
	assert_int_equal(c->workflow_step_id, first);
	v = view(t, task, first);
	assert_string_equal(v.state, "in_progress");
	assert_int_equal(v.current_rows, 1);
	assert_false(v.processed);
	assert_int_equal(v.attempts, 0);
	assert_false(v.ready);
	char *ts = task_state(t, task);
	assert_string_equal(ts, "in_progress");
	free(ts);
	v = view(t, task, second);
	assert_string_equal(v.state, "pending");
	assert_false(v.ready); /* its parent is not complete */

	/* finished: complete, processed, one attempt, the results; the child is ready for Rails too */
	tasker_step_result r = testdb_result_for(c, TASKER_OUTCOME_SUCCESS, "{\"n\": 1}");
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	tasker_claimed_step_free(c);
	v = view(t, task, first);
	assert_string_equal(v.state, "complete");
	assert_int_equal(v.current_rows, 1);
	assert_true(v.processed);
	assert_false(v.in_process);
	assert_int_equal(v.attempts, 1);
	assert_string_equal(v.results, "{\"n\": 1}");
	assert_false(v.ready);
	v = view(t, task, second);
	assert_string_equal(v.state, "pending");
	assert_true(v.ready);

	/* a worker claims the child and dies: until its lease expires and is recovered the step stays
	 * in_progress (held by that worker, not claimable by anyone) */
	c = testdb_claim_one(t->client, "Reader::Second");
	assert_int_equal(c->workflow_step_id, second);
	PQclear(testdb_sqlf(t->pg, "UPDATE tasker_step_claims SET lease_expires_at = lease_expires_at - interval '1 hour' "
	                           "WHERE workflow_step_id = %lld", second));
	v = view(t, task, second);
	assert_string_equal(v.state, "in_progress");
	assert_false(v.ready);
	int recovered = 0;
	assert_int_equal(tasker_step_recover_expired(&recovered, t->client), TASKER_OK);
	assert_int_equal(recovered, 1);
	/* recovered: a failed attempt (error, attempt counted, the reason in results), retried after
	 * its backoff by this engine (queued again, no claim) and retry-eligible for Rails */
	v = view(t, task, second);
	assert_string_equal(v.state, "error");
	assert_int_equal(v.current_rows, 1);
	assert_false(v.processed);
	assert_int_equal(v.attempts, 1);
	assert_true(v.retry_eligible);
	assert_non_null(strstr(v.results, "LeaseExpired"));
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims WHERE workflow_step_id = %lld",
	                              second), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE workflow_step_id = %lld",
	                              second), 1);
	/* the dead worker's late result is refused and changes nothing */
	r = testdb_result_for(c, TASKER_OUTCOME_SUCCESS, "{}");
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_ECONFLICT);
	tasker_claimed_step_free(c);
	v = view(t, task, second);
	assert_string_equal(v.state, "error");
	cancel(t, task);
}

static int setup(void **state)
{
	/* every connection of this program (the client's pool and the fixture connection): a claim that
	 * waited for a lock would fail after 2 s instead of passing late */
	setenv("PGOPTIONS", "-c lock_timeout=2000", 1);
	static testdb t;
	testdb_open(&t, "rails_reader", 1);
	for (size_t i = 0; i < sizeof TEMPLATES / sizeof *TEMPLATES; i++)
		assert_int_equal(tasker_template_register_string(NULL, t.client, TEMPLATES[i], 0, "reader", NULL), TASKER_OK);
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
		cmocka_unit_test(test_claim_never_waits_on_locked_rows),
		cmocka_unit_test(test_rails_reader_sees_running_finished_and_dead),
		cmocka_unit_test(test_sibling_completions_do_not_wait),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
