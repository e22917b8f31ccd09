/*
 * test_db_claim.c — claiming and completing as separate calls: what a claimed step carries, handler
 * filters, the same step never claimed twice, and complete-and-claim in one transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

static const char *CHAIN =
	"name: chain\n"
	"namespace_name: claims\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: first, handler_class: 'Claims::First', handler_config: {timeout: 5}}\n"
	"  - {name: second, handler_class: 'Claims::Second', depends_on_step: first, default_retry_limit: 7}\n"
	"  - {name: third, handler_class: 'Claims::Second', depends_on_step: second}\n";

/* A request for the chain template with this context. */
static tasker_task_request chain_request(const char *context_json)
{
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = "chain";
	r.namespace_name = "claims";
	r.template_version = "1.0.0";
	r.context_json = context_json;
	return r;
}

static int64_t new_task(testdb *t)
{
	tasker_task_request r = chain_request("{\"order\": 42}");
	r.tags_json = "[\"vip\"]";
	int64_t id = 0;
	assert_int_equal(tasker_task_create(&id, t->client, &r), TASKER_OK);
	return id;
}

/* Options claiming up to 10 steps of one handler class. */
static tasker_claim_options only(const char *const *handler_class)
{
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.handler_classes = handler_class;
	o.handler_class_count = 1;
	o.max_steps = 10;
	return o;
}

static void test_claim_payload_and_filter(void **state)
{
	testdb *t = *state;
	int64_t task = new_task(t);
	const char *only_second[] = {"Claims::Second"};
	tasker_claim_options o = only(only_second);
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	/* nothing of Claims::Second is ready yet: the root is Claims::First */
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 0);
	tasker_free(steps);
	const char *only_first[] = {"Claims::First"};
	o.handler_classes = only_first;
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 1);
	const tasker_claimed_step *s = steps[0];
	assert_string_equal(s->name, "first");
	assert_int_equal(s->task_id, task);
	assert_string_equal(s->handler_class, "Claims::First");
	assert_string_equal(s->handler_config_json, "{\"timeout\":5}");
	assert_string_equal(s->context_json, "{\"order\": 42}");
	assert_string_equal(s->tags_json, "[\"vip\"]");
	assert_string_equal(s->namespace_name, "claims");
	assert_int_equal(s->attempts, 0);
	assert_int_equal(s->retry_limit, 3);
	assert_int_equal(s->sequence_count, 3);
	assert_null(s->traceparent); /* requested without one */
	assert_string_equal(s->sequence[0].name, "first");
	assert_int_equal(s->sequence[0].state, TASKER_STATE_IN_PROGRESS);
	assert_int_equal(s->sequence[1].state, TASKER_STATE_PENDING);
	/* claimed in the claiming transaction: in_progress, task in_progress, nothing left to claim */
	tasker_state st;
	assert_int_equal(tasker_step_state(&st, t->client, s->workflow_step_id), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_IN_PROGRESS);
	assert_int_equal(tasker_task_state(&st, t->client, task), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_IN_PROGRESS);
	tasker_claimed_step **again = NULL;
	size_t m = 0;
	assert_int_equal(tasker_steps_claim(&again, &m, t->client, &o), TASKER_OK);
	assert_int_equal(m, 0);
	tasker_free(again);
	tasker_claimed_step *one = NULL;
	assert_int_equal(tasker_step_claim(&one, t->client, s->workflow_step_id, &o), TASKER_ENOTFOUND);
	char *cls = NULL;
	assert_int_equal(tasker_step_handler_class(&cls, t->client, s->workflow_step_id), TASKER_OK);
	assert_string_equal(cls, "Claims::First");
	tasker_free(cls);
	assert_int_equal(tasker_step_handler_class(&cls, t->client, 987654321), TASKER_ENOTFOUND);
	assert_null(cls);
	testdb_free_claims(steps, n);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

/* Recording a result and claiming the step it released, in one transaction. */
static void test_complete_and_claim(void **state)
{
	testdb *t = *state;
	int64_t task = new_task(t);
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 1);
	tasker_step_result r = {steps[0]->workflow_step_id, steps[0]->claim_id, TASKER_OUTCOME_SUCCESS, "{\"n\": 1}",
	                        NULL, NULL, NULL, NULL, NULL, -1, 0, TASKER_STATE_PENDING};
	tasker_claimed_step **next = NULL;
	size_t nn = 0;
	o.max_steps = 5;
	assert_int_equal(tasker_steps_complete_and_claim(&next, &nn, t->client, &r, 1, &o), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	assert_int_equal(r.new_state, TASKER_STATE_COMPLETE);
	assert_int_equal(nn, 1);
	assert_string_equal(next[0]->name, "second");
	assert_int_equal(next[0]->retry_limit, 7);
	/* the payload shows the parent's result, recorded in the same transaction */
	assert_string_equal(next[0]->sequence[0].results_json, "{\"n\": 1}");
	assert_int_equal(next[0]->sequence[0].state, TASKER_STATE_COMPLETE);
	/* one transaction for both: the two transitions carry the same transaction timestamp */
	assert_int_equal(testdb_count(t->pg, "SELECT count(DISTINCT x.created_at) FROM tasker_workflow_step_transitions x "
	                                     "WHERE (x.workflow_step_id = %lld AND x.to_state = 'complete') OR "
	                                     "(x.workflow_step_id = %lld AND x.to_state = 'in_progress')",
	                              (long long)r.workflow_step_id, (long long)next[0]->workflow_step_id), 1);
	/* max_steps 0 only completes */
	tasker_step_result r2 = {next[0]->workflow_step_id, next[0]->claim_id, TASKER_OUTCOME_SUCCESS, NULL, NULL, NULL,
	                         NULL, NULL, NULL, -1, 0, TASKER_STATE_PENDING};
	tasker_claimed_step **none = NULL;
	size_t nnone = 7;
	o.max_steps = 0;
	assert_int_equal(tasker_steps_complete_and_claim(&none, &nnone, t->client, &r2, 1, &o), TASKER_OK);
	assert_int_equal(nnone, 0);
	assert_null(none);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld",
	                              (long long)task), 1); /* third is ready, unclaimed */
	/* a stale claim: its result is refused; the claim half still hands out the ready step */
	o.max_steps = 5;
	assert_int_equal(tasker_steps_complete_and_claim(&none, &nnone, t->client, &r2, 1, &o), TASKER_OK);
	assert_int_equal(r2.status, TASKER_ECONFLICT);
	assert_non_null(strstr(tasker_error_last()->message, "no longer yours"));
	assert_int_equal(nnone, 1);
	assert_string_equal(none[0]->name, "third");
	testdb_free_claims(none, nnone);
	testdb_free_claims(steps, n);
	testdb_free_claims(next, nn);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

static const char *ROOTS =
	"name: roots\n"
	"namespace_name: claims\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - {name: a, handler_class: 'Claims::Slow'}\n"
	"  - {name: b, handler_class: 'Claims::Slow'}\n"
	"  - {name: c, handler_class: 'Claims::Slow'}\n"
	"  - {name: d, handler_class: 'Claims::Slow'}\n";

static int slow(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	(void)step, (void)err;
	tasker_worker_stop(payload); /* the first handler to run asks its worker to stop */
	usleep(200000);
	*out = strdup("{}");
	return 0;
}

/* A stopping worker finishes the step it runs and gives the queued ones back: pending again (through
 * error, as the state machine requires), claimable at once, no attempt counted, no claim left. */
static void test_stop_releases_queued_steps(void **state)
{
	testdb *t = *state;
	assert_int_equal(tasker_template_register_string(NULL, t->client, ROOTS, 0, "roots.yaml", NULL), TASKER_OK);
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = "roots";
	r.namespace_name = "claims";
	r.template_version = "1.0.0";
	r.context_json = "{}";
	int64_t task = 0;
	assert_int_equal(tasker_task_create(&task, t->client, &r), TASKER_OK);
	tasker_worker *w = NULL;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = 1;
	o.claim_batch = 4;
	assert_int_equal(tasker_worker_new(&w, t->client, &o), TASKER_OK);
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, "Claims::Slow", slow, NULL, w};
	assert_int_equal(tasker_worker_register(w, &h), TASKER_OK);
	assert_int_equal(tasker_worker_run(w), TASKER_OK);
	assert_int_equal(tasker_worker_processed(w), 1);
	/* a stop asked while no run is in progress: the next run returns at once, claiming nothing */
	tasker_worker_stop(w);
	assert_int_equal(tasker_worker_run(w), TASKER_OK);
	assert_int_equal(tasker_worker_processed(w), 1);
	tasker_worker_free(w);
	long long tid = (long long)task;
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims WHERE task_id = %lld", tid), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld", tid), 3);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_steps s JOIN "
	                                     "tasker_workflow_step_transitions x USING (workflow_step_id) WHERE s.task_id = "
	                                     "%lld AND x.most_recent AND x.to_state = 'pending' AND x.from_state = 'error' "
	                                     "AND s.attempts = 0 AND NOT s.in_process", tid), 3);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_steps s JOIN "
	                                     "tasker_workflow_step_transitions x USING (workflow_step_id) WHERE s.task_id = "
	                                     "%lld AND x.most_recent AND x.to_state = 'complete'", tid), 1);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

/* The context is stored exactly as given: integers beyond a double's precision survive. */
static void test_context_numbers_exact(void **state)
{
	testdb *t = *state;
	tasker_task_request r = chain_request("{\"n\": 9007199254740993, \"m\": 12345678901234567890, \"x\": 0.1}");
	int64_t id = 0;
	assert_int_equal(tasker_task_create(&id, t->client, &r), TASKER_OK);
	char *v = testdb_value(t->pg, "SELECT context::text FROM tasker_tasks WHERE task_id = %lld", (long long)id);
	assert_string_equal(v, "{\"m\": 12345678901234567890, \"n\": 9007199254740993, \"x\": 0.1}");
	free(v);
	v = testdb_value(t->pg, "SELECT inputs->>'n' FROM tasker_workflow_steps WHERE task_id = %lld LIMIT 1", (long long)id);
	assert_string_equal(v, "9007199254740993");
	free(v);
	assert_int_equal(tasker_task_cancel(t->client, id), TASKER_OK);
}

/* The hash identity sees a request's numbers exactly: contexts that differ beyond a double's precision
 * are different requests; the same request with other whitespace is the same. */
static void test_identity_numbers_exact(void **state)
{
	testdb *t = *state;
	tasker_task_request r = chain_request("{\"n\": 9007199254740993, \"s\": \"a \\\"  b\"}");
	r.requested_at = "2026-01-02 03:04:05";
	r.identity_strategy = TASKER_IDENTITY_HASH;
	int64_t first = 0, second = 0, third = 0;
	assert_int_equal(tasker_task_create(&first, t->client, &r), TASKER_OK);
	r.context_json = "{\"n\": 9007199254740992, \"s\": \"a \\\"  b\"}";
	assert_int_equal(tasker_task_create(&second, t->client, &r), TASKER_OK);
	assert_true(second != first);
	r.context_json = " { \"n\" :9007199254740993 ,\n\"s\":\"a \\\"  b\" } ";
	assert_int_equal(tasker_task_create(&third, t->client, &r), TASKER_EXISTS);
	assert_int_equal(third, first);
	/* whitespace inside a string is content */
	int64_t fourth = 0;
	r.context_json = "{\"n\": 9007199254740993, \"s\": \"a \\\" b\"}";
	assert_int_equal(tasker_task_create(&fourth, t->client, &r), TASKER_OK);
	assert_true(fourth != first);
	assert_int_equal(tasker_task_cancel(t->client, fourth), TASKER_OK);
	assert_int_equal(tasker_task_cancel(t->client, first), TASKER_OK);
	assert_int_equal(tasker_task_cancel(t->client, second), TASKER_OK);
}

static int setup(void **state)
{
	static testdb t;
	testdb_open(&t, "claim", 1);
	assert_int_equal(tasker_template_register_string(NULL, t.client, CHAIN, 0, "chain.yaml", NULL), TASKER_OK);
	*state = &t;
	return 0;
}

/* max_steps is an exact bound, not rounded; the pick is FIFO by ready time, then step id. */
static void test_claim_limit_exact_fifo(void **state)
{
	testdb *t = *state;
	assert_int_equal(tasker_template_register_string(NULL, t->client,
	                                                 "name: lone\nnamespace_name: claims\nversion: 1.0.0\n"
	                                                 "step_templates:\n"
	                                                 "  - {name: only, handler_class: 'Claims::Limit'}\n",
	                                                 0, "lone.yaml", NULL),
	                 TASKER_OK);
	int64_t ids[7];
	for (int i = 0; i < 7; i++) {
		tasker_task_request r = TASKER_TASK_REQUEST_INIT;
		r.name = "lone";
		r.namespace_name = "claims";
		r.template_version = "1.0.0";
		r.context_json = "{}";
		assert_int_equal(tasker_task_create(&ids[i], t->client, &r), TASKER_OK);
	}
	const char *only[] = {"Claims::Limit"};
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.handler_classes = only;
	o.handler_class_count = 1;
	const unsigned asks[] = {3, 5, 300};
	const size_t gets[] = {3, 4, 0};
	size_t next = 0;
	for (size_t k = 0; k < 3; k++) {
		o.max_steps = asks[k];
		tasker_claimed_step **steps = NULL;
		size_t n = 0;
		assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
		assert_int_equal(n, gets[k]);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(steps[i]->task_id, ids[next++]);
		testdb_free_claims(steps, n);
	}
	assert_int_equal(next, 7);
}

/* Every claimed step of a task carries the traceparent the task was requested with (hosts open their
 * step span under it): the root claimed alone, its child claimed with the root's completion. */
static void test_claim_carries_traceparent(void **state)
{
	testdb *t = *state;
	static const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	tasker_task_request r = chain_request("{}");
	r.traceparent = tp;
	int64_t task = 0;
	assert_int_equal(tasker_task_create(&task, t->client, &r), TASKER_OK);
	const char *classes[] = {"Claims::First", "Claims::Second"};
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.handler_classes = classes;
	o.handler_class_count = 2;
	o.max_steps = 256;
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	tasker_claimed_step *root = NULL;
	for (size_t i = 0; i < n; i++)
		if (steps[i]->task_id == task)
			root = steps[i];
	assert_non_null(root);
	assert_string_equal(root->traceparent, tp);
	tasker_step_result res = {root->workflow_step_id, root->claim_id, TASKER_OUTCOME_SUCCESS, "{}", NULL, NULL,
	                          NULL, NULL, NULL, -1, 0, TASKER_STATE_PENDING};
	tasker_claimed_step **next = NULL;
	size_t m = 0;
	assert_int_equal(tasker_steps_complete_and_claim(&next, &m, t->client, &res, 1, &o), TASKER_OK);
	int seen = 0;
	for (size_t i = 0; i < m; i++)
		if (next[i]->task_id == task) {
			assert_string_equal(next[i]->traceparent, tp);
			seen++;
		}
	assert_int_equal(seen, 1);
	testdb_free_claims(next, m);
	testdb_free_claims(steps, n);
}

/* The claim function (one statement: the pick hands the locked queue rows to tasker_core_claim_steps)
 * refuses bad input with an error that names it, before writing anything. */
static void test_claim_function_refuses_bad_input(void **state)
{
	testdb *t = *state;
	int64_t task = new_task(t);
	long long step = testdb_count(t->pg, "SELECT workflow_step_id FROM tasker_ready_steps WHERE task_id = %lld",
	                              (long long)task);
	static const struct {
		const char *args, *message;
	} bad[] = {
		{"ARRAY[%lld]::bigint[], '{}'::bigint[], 'w', 30", "1 step ids but 0 task ids"},
		{"ARRAY[%lld]::bigint[], ARRAY[0]::bigint[], NULL, 30", "worker id NULL must be 1 to 255 characters"},
		{"ARRAY[%lld]::bigint[], ARRAY[0]::bigint[], 'w', 0", "lease of 0 seconds must be at least 1"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char args[256], sql[512];
		snprintf(args, sizeof args, bad[i].args, step);
		snprintf(sql, sizeof sql, "SELECT * FROM tasker_core_claim_steps(%s)", args);
		PGresult *r = PQexec(t->pg, sql);
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		assert_non_null(strstr(PQresultErrorMessage(r), bad[i].message));
		assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22023");
		PQclear(r);
	}
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE workflow_step_id = %lld", step),
	                 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims WHERE task_id = %lld",
	                              (long long)task),
	                 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                     "workflow_step_id = %lld", step),
	                 0);
	assert_int_equal(tasker_task_cancel(t->client, task), TASKER_OK);
}

/* A queue row gone stale (its step was processed meanwhile) is picked, dropped from the queue and not
 * claimed, while the fresh row picked with it is: its task starts, the stale step's task does not. */
static void test_claim_drops_stale_rows(void **state)
{
	testdb *t = *state;
	int64_t stale = new_task(t), fresh = new_task(t);
	PQclear(testdb_sqlf(t->pg, "UPDATE tasker_workflow_steps SET processed = true WHERE workflow_step_id = "
	                           "(SELECT workflow_step_id FROM tasker_ready_steps WHERE task_id = %lld)",
	                    (long long)stale));
	const char *first[] = {"Claims::First"};
	tasker_claim_options o = only(first);
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0]->task_id, fresh);
	assert_int_equal(steps[0]->sequence_count, 3);
	assert_int_equal(steps[0]->sequence[0].state, TASKER_STATE_IN_PROGRESS);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id IN (%lld, %lld)",
	                              (long long)stale, (long long)fresh),
	                 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN "
	                                     "tasker_workflow_steps s USING (workflow_step_id) WHERE s.task_id = %lld",
	                              (long long)stale),
	                 0);
	tasker_state st;
	assert_int_equal(tasker_task_state(&st, t->client, stale), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_PENDING);
	assert_int_equal(tasker_task_state(&st, t->client, fresh), TASKER_OK);
	assert_int_equal(st, TASKER_STATE_IN_PROGRESS);
	testdb_free_claims(steps, n);
	assert_int_equal(tasker_task_cancel(t->client, stale), TASKER_OK);
	assert_int_equal(tasker_task_cancel(t->client, fresh), TASKER_OK);
}

/* Complete-and-claim sends the completion and the claim together: a completion the database refuses
 * (here a trigger of the test's own refuses the result) claims nothing and writes nothing; the step
 * stays claimed by its worker and other ready steps stay in the queue. Accepted, the claim sees what
 * the completion made claimable. */
static void test_complete_and_claim_refused_writes_nothing(void **state)
{
	testdb *t = *state;
	int64_t a = new_task(t), b = new_task(t);
	const char *first[] = {"Claims::First"};
	tasker_claim_options o = only(first);
	o.max_steps = 1;
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	assert_int_equal(tasker_steps_claim(&steps, &n, t->client, &o), TASKER_OK);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0]->task_id, a);
	PQclear(testdb_sql(t->pg, "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	                          "RAISE EXCEPTION 'refused by the test'; END $$; CREATE TRIGGER test_refuse BEFORE "
	                          "UPDATE ON tasker_workflow_steps FOR EACH ROW WHEN (NEW.results ? 'refuse') "
	                          "EXECUTE FUNCTION test_refuse()"));
	tasker_step_result r = testdb_result_for(steps[0], TASKER_OUTCOME_SUCCESS, "{\"refuse\": 1}");
	tasker_claim_options any = TASKER_CLAIM_OPTIONS_INIT;
	any.max_steps = 5;
	tasker_claimed_step **next = NULL;
	size_t nn = 9;
	assert_int_not_equal(tasker_steps_complete_and_claim(&next, &nn, t->client, &r, 1, &any), TASKER_OK);
	assert_non_null(strstr(tasker_error_last()->message, "refused by the test"));
	assert_null(next);
	PQclear(testdb_sql(t->pg, "DROP TRIGGER test_refuse ON tasker_workflow_steps; DROP FUNCTION test_refuse()"));
	assert_int_equal(nn, 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims WHERE task_id = %lld", (long long)a), 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_step_claims WHERE task_id = %lld", (long long)b), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld", (long long)a), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld", (long long)b), 1);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                     "workflow_step_id = %lld AND to_state = 'complete'",
	                              (long long)steps[0]->workflow_step_id),
	                 0);

	r = testdb_result_for(steps[0], TASKER_OUTCOME_SUCCESS, "{\"n\": 1}");
	assert_int_equal(tasker_steps_complete_and_claim(&next, &nn, t->client, &r, 1, &any), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	assert_int_equal(nn, 2); /* b's first step, queued before, and a's second, made claimable just now */
	assert_int_equal(next[0]->task_id, b);
	assert_string_equal(next[1]->name, "second");
	assert_int_equal(next[1]->task_id, a);
	testdb_free_claims(next, nn);
	testdb_free_claims(steps, n);
	assert_int_equal(tasker_task_cancel(t->client, a), TASKER_OK);
	assert_int_equal(tasker_task_cancel(t->client, b), TASKER_OK);
}

static int teardown(void **state)
{
	testdb_close(*state);
	return 0;
}

/* A new task whose first step failed for good: the task is in error. */
static int64_t failed_task(testdb *t)
{
	int64_t task = new_task(t);
	tasker_claimed_step *s = testdb_claim_one(t->client, NULL);
	assert_int_equal(s->task_id, task);
	tasker_step_result r = testdb_result_for(s, TASKER_OUTCOME_PERMANENT, NULL);
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	tasker_claimed_step_free(s);
	char *v = testdb_value(t->pg, "SELECT to_state FROM tasker_task_transitions WHERE task_id = %lld AND most_recent",
	                       (long long)task);
	assert_string_equal(v, "error");
	free(v);
	return task;
}

/* Cancel follows the Rails engine's state machine: a finished task may be cancelled (its steps keep their
 * results, its `complete` flag stays), a task in error or already cancelled may not. */
static void test_cancel_follows_the_state_machine(void **state)
{
	testdb *t = *state;
	int64_t done = new_task(t);
	for (int i = 0; i < 3; i++) {
		tasker_claimed_step *s = testdb_claim_one(t->client, NULL);
		assert_int_equal(s->task_id, done);
		tasker_step_result r = testdb_result_for(s, TASKER_OUTCOME_SUCCESS, "{\"kept\": true}");
		assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
		assert_int_equal(r.status, TASKER_OK);
		tasker_claimed_step_free(s);
	}
	const char *task_state = "SELECT to_state FROM tasker_task_transitions WHERE task_id = %lld AND most_recent";
	char *v = testdb_value(t->pg, task_state, (long long)done);
	assert_string_equal(v, "complete");
	free(v);
	assert_int_equal(tasker_task_cancel(t->client, done), TASKER_OK);
	v = testdb_value(t->pg, task_state, (long long)done);
	assert_string_equal(v, "cancelled");
	free(v);
	v = testdb_value(t->pg, "SELECT complete::text FROM tasker_tasks WHERE task_id = %lld", (long long)done);
	assert_string_equal(v, "true");
	free(v);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_steps s JOIN tasker_workflow_step_transitions x "
	                                     "USING (workflow_step_id) WHERE s.task_id = %lld AND x.most_recent AND x.to_state = "
	                                     "'complete' AND s.results->>'kept' = 'true'", (long long)done), 3);
	assert_int_equal(tasker_task_cancel(t->client, done), TASKER_ETRANSITION); /* already cancelled */
	assert_non_null(strstr(tasker_error_last()->message, "cancelled → cancelled"));

	int64_t failed = failed_task(t);
	assert_int_equal(tasker_task_cancel(t->client, failed), TASKER_ETRANSITION);
	assert_non_null(strstr(tasker_error_last()->message, "error → cancelled"));
	v = testdb_value(t->pg, task_state, (long long)failed);
	assert_string_equal(v, "error"); /* nothing written */
	free(v);
}

/* The claim and completion functions keep enable_seqscan = off (migration 0014) through migration 0015,
 * whose CREATE OR REPLACE would reset a function's settings if it did not restate them. */
static long long functions_probing_indexes(testdb *t)
{
	return testdb_count(t->pg, "SELECT count(*) FROM pg_proc WHERE proname IN ('tasker_core_claim_steps', "
	                           "'tasker_core_complete_successes') AND 'enable_seqscan=off' = ANY (proconfig)");
}

/* Claims the next ready step, which must be this task's, and records its success. */
static void run_next_step(testdb *t, int64_t task)
{
	tasker_claimed_step *s = testdb_claim_one(t->client, NULL);
	assert_int_equal(s->task_id, task);
	tasker_step_result r = testdb_result_for(s, TASKER_OUTCOME_SUCCESS, NULL);
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	tasker_claimed_step_free(s);
}

/* The task's current state is complete and its row says so. */
static void assert_task_finished(testdb *t, int64_t task)
{
	char *v = testdb_value(t->pg, "SELECT to_state FROM tasker_task_transitions WHERE task_id = %lld AND most_recent",
	                       (long long)task);
	assert_string_equal(v, "complete");
	free(v);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_tasks WHERE task_id = %lld AND complete",
	                              (long long)task), 1);
}

/* A database migrated before 0015 (the claim and completion functions of 0008, 0009, 0012 and 0014)
 * upgrades by applying 0015 alone, a step claimed before the upgrade completes after it, and the task
 * runs to its end with the same rows as before: two transitions per step, one current row each. */
static void test_database_before_0015_upgrades(void **state)
{
	testdb *t = *state;
	assert_int_equal(functions_probing_indexes(t), 2);
	static const char *const before[] = {"0009_claim_function.sql", "0008_complete_task_lock_when_last.sql",
	                                     "0012_complete_notify_after_commit.sql",
	                                     "0014_functions_probe_indexes.sql"};
	for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/migrations/%s", TASKER_SOURCE_DIR, before[i]);
		char *sql = testdb_read_file(path);
		PQclear(testdb_sql(t->pg, sql));
		free(sql);
	}
	PQclear(testdb_sql(t->pg, "DELETE FROM tasker_core_schema_migrations WHERE version = 15"));
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM pg_proc WHERE proname = 'tasker_core_complete_successes' "
	                                     "AND prosrc LIKE '%%has_children%%'"), 0);
	int64_t task = new_task(t);
	tasker_claimed_step *first = testdb_claim_one(t->client, NULL);
	assert_int_equal(first->task_id, task);

	int applied = 0;
	assert_int_equal(tasker_db_apply_migrations(&applied, t->client), TASKER_OK);
	assert_int_equal(applied, 1);
	assert_int_equal(functions_probing_indexes(t), 2);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM pg_proc WHERE proname = 'tasker_core_complete_successes' "
	                                     "AND prosrc LIKE '%%has_children%%'"), 1);

	tasker_step_result r = testdb_result_for(first, TASKER_OUTCOME_SUCCESS, "{\"n\": 1}");
	assert_int_equal(tasker_steps_complete(t->client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	tasker_claimed_step_free(first);
	for (int i = 0; i < 2; i++)
		run_next_step(t, task);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN "
	                                     "tasker_workflow_steps s USING (workflow_step_id) WHERE s.task_id = %lld",
	                              (long long)task), 6);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN "
	                                     "tasker_workflow_steps s USING (workflow_step_id) WHERE s.task_id = %lld "
	                                     "AND x.most_recent AND x.to_state = 'complete' AND s.processed",
	                              (long long)task), 3);
	char *v = testdb_value(t->pg, "SELECT string_agg(from_state || '>' || to_state || ':' || most_recent::text, ' ' "
	                              "ORDER BY sort_key) FROM tasker_task_transitions WHERE task_id = %lld",
	                       (long long)task);
	assert_string_equal(v, "pending>in_progress:false in_progress>complete:true");
	free(v);
	assert_task_finished(t, task);
	assert_int_equal(testdb_count(t->pg, "SELECT (SELECT count(*) FROM tasker_step_claims WHERE task_id = %lld) + "
	                                     "(SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld)",
	                              (long long)task, (long long)task), 0);
}

/* Every owner's history is one chain: one current row, each row leaving the state the one before it
 * entered, sort keys ascending. */
static void assert_histories_are_chains(testdb *t, int64_t task)
{
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM (SELECT to_state, most_recent, lead(from_state) OVER w AS nf, "
	                                     "lead(sort_key) OVER w AS nk, sort_key FROM tasker_task_transitions "
	                                     "WHERE task_id = %lld WINDOW w AS (ORDER BY sort_key)) z "
	                                     "WHERE (nf IS NOT NULL AND (nf <> to_state OR nk <= sort_key OR most_recent)) "
	                                     "OR (nf IS NULL AND NOT most_recent)",
	                              (long long)task), 0);
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM (SELECT x.to_state, x.most_recent, "
	                                     "lead(x.from_state) OVER w AS nf, lead(x.sort_key) OVER w AS nk, x.sort_key "
	                                     "FROM tasker_workflow_step_transitions x JOIN tasker_workflow_steps s "
	                                     "USING (workflow_step_id) WHERE s.task_id = %lld "
	                                     "WINDOW w AS (PARTITION BY x.workflow_step_id ORDER BY x.sort_key)) z "
	                                     "WHERE (nf IS NOT NULL AND (nf <> to_state OR nk <= sort_key OR most_recent)) "
	                                     "OR (nf IS NULL AND NOT most_recent)",
	                              (long long)task), 0);
}

/* A task in error, retried: the failed step is claimed again (its current row is flipped) and the task
 * finishes from the state the retry left it in; every history stays one chain. */
static void test_retried_task_finishes_with_whole_histories(void **state)
{
	testdb *t = *state;
	int64_t task = failed_task(t);
	assert_int_equal(tasker_task_retry(t->client, task), TASKER_OK);
	for (int i = 0; i < 3; i++) {
		run_next_step(t, task);
		assert_histories_are_chains(t, task);
	}
	assert_task_finished(t, task);
	/* the failed step: pending → in_progress → error, then error → pending → in_progress → complete */
	assert_int_equal(testdb_count(t->pg, "SELECT count(*) FROM tasker_workflow_step_transitions x JOIN "
	                                     "tasker_workflow_steps s USING (workflow_step_id) JOIN tasker_named_steps n "
	                                     "USING (named_step_id) WHERE s.task_id = %lld AND n.name = 'first'",
	                              (long long)task), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_payload_and_filter),
		cmocka_unit_test(test_complete_and_claim),
		cmocka_unit_test(test_stop_releases_queued_steps),
		cmocka_unit_test(test_context_numbers_exact),
		cmocka_unit_test(test_identity_numbers_exact),
		cmocka_unit_test(test_claim_limit_exact_fifo),
		cmocka_unit_test(test_claim_carries_traceparent),
		cmocka_unit_test(test_claim_function_refuses_bad_input),
		cmocka_unit_test(test_claim_drops_stale_rows),
		cmocka_unit_test(test_complete_and_claim_refused_writes_nothing),
		cmocka_unit_test(test_cancel_follows_the_state_machine),
		cmocka_unit_test(test_database_before_0015_upgrades),
		cmocka_unit_test(test_retried_task_finishes_with_whole_histories),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
