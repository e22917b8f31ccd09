/* Integration tests of an operator's action racing a worker's completion of a step of the same task:
 * a task cancelled, a step resolved by hand, a task retried while tasker_steps_complete records a
 * result. Each round starts both calls together (a barrier) on two clients. Neither side may see a
 * database error (a deadlock, a duplicate transition); the final state must follow the state
 * machines: one current transition per task and step, sort keys increasing, every recorded move
 * allowed, no claim left behind, and the result recorded or refused (ECONFLICT), never both. The
 * worker's side is also a completion of two steps in one call, and the recovery of an expired lease.
 * TASKER_RACE_ROUNDS sets the rounds per test (default 50). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

static testdb db;
static tasker_template_info solo_tpl, pair_tpl, chain_tpl;
static tasker_client *worker_client, *operator_client;

/* One step: its completion finishes the task. */
static const char *SOLO =
	"name: race_solo\n"
	"namespace_name: races\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - name: only\n"
	"    handler_class: RaceSolo\n";

/* Two independent steps: completing the first leaves the task open. */
static const char *PAIR =
	"name: race_pair\n"
	"namespace_name: races\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - name: first\n"
	"    handler_class: RaceFirst\n"
	"  - name: second\n"
	"    handler_class: RaceSecond\n";

/* A parent and its child: the parent's completion makes the child claimable. */
static const char *CHAIN =
	"name: race_chain\n"
	"namespace_name: races\n"
	"version: 1.0.0\n"
	"step_templates:\n"
	"  - name: parent\n"
	"    handler_class: RaceParent\n"
	"  - name: child\n"
	"    handler_class: RaceChild\n"
	"    depends_on_step: parent\n";

static int setup(void **state)
{
	testdb_open_template(&db, "operator_races", SOLO, &solo_tpl);
	if (tasker_template_register_string(&pair_tpl, db.client, PAIR, 0, "race_pair", NULL) != TASKER_OK)
		fail_msg("registering race_pair: %s", tasker_error_last()->message);
	if (tasker_template_register_string(&chain_tpl, db.client, CHAIN, 0, "race_chain", NULL) != TASKER_OK)
		fail_msg("registering race_chain: %s", tasker_error_last()->message);
	tasker_client_options co = TASKER_CLIENT_OPTIONS_INIT;
	co.database_url = db.conninfo;
	assert_int_equal(tasker_client_open(&worker_client, &co), TASKER_OK);
	assert_int_equal(tasker_client_open(&operator_client, &co), TASKER_OK);
	*state = &db;
	return 0;
}

static int teardown(void **state)
{
	tasker_client_free(worker_client);
	tasker_client_free(operator_client);
	return testdb_teardown(state);
}

static int rounds(void)
{
	const char *env = getenv("TASKER_RACE_ROUNDS");
	return env && atoi(env) > 0 ? atoi(env) : 50;
}

/* ---- the two racers */

typedef enum { OP_CANCEL, OP_RESOLVE, OP_RETRY } op_kind;

typedef struct {
	pthread_barrier_t *start;
	int rc;
	char message[512]; /* the thread's tasker_error_last when rc is not TASKER_OK */
	char sqlstate[8];
	/* the worker: completes `result`, or the `batch_n` results of `batch`, or recovers expired leases */
	tasker_step_result result;
	tasker_step_result *batch;
	size_t batch_n;
	int recover;
	int recovered;
	/* the operator */
	op_kind op;
	int64_t id; /* the task (cancel, retry) or the step (resolve) */
} racer;

static void keep_error(racer *r)
{
	if (r->rc == TASKER_OK)
		return;
	const tasker_error *e = tasker_error_last();
	snprintf(r->message, sizeof r->message, "%s", e->message);
	snprintf(r->sqlstate, sizeof r->sqlstate, "%s", e->sqlstate);
}

static void *worker_thread(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = r->recover ? tasker_step_recover_expired(&r->recovered, worker_client)
	        : r->batch ? tasker_steps_complete(worker_client, r->batch, r->batch_n)
	                   : tasker_steps_complete(worker_client, &r->result, 1);
	keep_error(r);
	return NULL;
}

static void *operator_thread(void *arg)
{
	racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = r->op == OP_CANCEL    ? tasker_task_cancel(operator_client, r->id)
	        : r->op == OP_RESOLVE ? tasker_step_resolve(operator_client, r->id, "{\"by\": \"operator\"}")
	                              : tasker_task_retry(operator_client, r->id);
	keep_error(r);
	return NULL;
}

static const char *op_name(op_kind op)
{
	return op == OP_CANCEL ? "cancel" : op == OP_RESOLVE ? "resolve" : "retry";
}

/* Runs the completion `w` and the operator action `o` at once; fails the test, naming the side,
 * when either returned a database error (a deadlock among them). */
static void race(int round, racer *w, racer *o)
{
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, 2);
	w->start = o->start = &start;
	pthread_t tw, to;
	assert_int_equal(pthread_create(&tw, NULL, worker_thread, w), 0);
	assert_int_equal(pthread_create(&to, NULL, operator_thread, o), 0);
	pthread_join(tw, NULL);
	pthread_join(to, NULL);
	pthread_barrier_destroy(&start);
	if (w->rc != TASKER_OK)
		fail_msg("round %d: the %s racing a %s failed: %d (sqlstate %s%s) %s", round,
		         w->recover ? "recovery" : "completion", op_name(o->op), w->rc, w->sqlstate,
		         strcmp(w->sqlstate, "40P01") == 0 ? ", a deadlock" : "", w->message);
	if (o->rc != TASKER_OK && o->rc != TASKER_ETRANSITION)
		fail_msg("round %d: the %s racing a worker failed: %d (sqlstate %s%s) %s", round, op_name(o->op),
		         o->rc, o->sqlstate, strcmp(o->sqlstate, "40P01") == 0 ? ", a deadlock" : "", o->message);
	for (size_t i = 0; i < (w->batch ? w->batch_n : w->recover ? 0 : 1); i++) {
		int status = w->batch ? w->batch[i].status : w->result.status;
		if (status != TASKER_OK && status != TASKER_ECONFLICT)
			fail_msg("round %d: result %zu's status is %d, neither recorded nor refused", round, i, status);
	}
}

/* ---- what the tables say */

static tasker_state step_state(int64_t step)
{
	tasker_state st;
	assert_int_equal(tasker_step_state(&st, db.client, step), TASKER_OK);
	return st;
}

static tasker_state task_state(int64_t task)
{
	tasker_state st;
	assert_int_equal(tasker_task_state(&st, db.client, task), TASKER_OK);
	return st;
}

static long long step_moves(int64_t step, const char *to_state)
{
	return testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_step_transitions WHERE workflow_step_id = "
	                           "%lld AND to_state = '%s'", (long long)step, to_state);
}

static long long task_moves(int64_t task, const char *to_state)
{
	return testdb_count(db.pg, "SELECT count(*) FROM tasker_task_transitions WHERE task_id = %lld AND to_state = "
	                           "'%s'", (long long)task, to_state);
}

/* The transitions of one owner, in sort-key order, as "from>to@key" separated by spaces (malloc'd). */
static char *history(const char *table, const char *owner, int64_t id)
{
	return testdb_value(db.pg, "SELECT string_agg(COALESCE(from_state, '-') || '>' || to_state || '@' || sort_key "
	                           "|| CASE WHEN most_recent THEN '*' ELSE '' END, ' ' ORDER BY sort_key, id) "
	                           "FROM %s WHERE %s = %lld", table, owner, (long long)id);
}

/* One owner's transitions: exactly one most_recent, and it is the last; sort keys strictly increasing;
 * each row's from_state is the previous row's to_state (pending before the first) and the move is one
 * the state machine allows. */
static void assert_history(int round, int is_task, int64_t id)
{
	const char *table = is_task ? "tasker_task_transitions" : "tasker_workflow_step_transitions";
	const char *owner = is_task ? "task_id" : "workflow_step_id";
	PGresult *res = testdb_sqlf(db.pg, "SELECT from_state, to_state, sort_key, most_recent FROM %s WHERE %s = "
	                                   "%lld ORDER BY sort_key, id", table, owner, (long long)id);
	int n = PQntuples(res), current = 0;
	tasker_state prev = TASKER_STATE_PENDING;
	long long prev_key = -1;
	char *h = history(table, owner, id);
	for (int i = 0; i < n; i++) {
		tasker_state from = TASKER_STATE_PENDING, to;
		if (!PQgetisnull(res, i, 0))
			assert_int_equal(tasker_state_parse(&from, PQgetvalue(res, i, 0)), TASKER_OK);
		assert_int_equal(tasker_state_parse(&to, PQgetvalue(res, i, 1)), TASKER_OK);
		long long key = atoll(PQgetvalue(res, i, 2));
		int recent = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		const char *event = is_task ? tasker_task_transition_event(from, to) : tasker_step_transition_event(from, to);
		if (key <= prev_key || from != prev || !event || recent != (i == n - 1))
			fail_msg("round %d: %s %lld has a broken history: %s", round, is_task ? "task" : "step", (long long)id, h);
		current += recent;
		prev = to;
		prev_key = key;
	}
	if (n > 0 && current != 1)
		fail_msg("round %d: %s %lld has %d current transitions: %s", round, is_task ? "task" : "step", (long long)id,
		         current, h);
	free(h);
	PQclear(res);
}

static void assert_task_histories(int round, int64_t task)
{
	assert_history(round, 1, task);
	PGresult *res = testdb_sqlf(db.pg, "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id = %lld",
	                            (long long)task);
	for (int i = 0; i < PQntuples(res); i++)
		assert_history(round, 0, atoll(PQgetvalue(res, i, 0)));
	PQclear(res);
}

static void assert_no_claims(int round, int64_t task)
{
	long long left = testdb_count(db.pg, "SELECT count(*) FROM tasker_step_claims WHERE task_id = %lld",
	                              (long long)task);
	if (left)
		fail_msg("round %d: task %lld still has %lld claims", round, (long long)task, left);
}

static tasker_step_result result_of(const tasker_claimed_step *s, tasker_outcome outcome)
{
	tasker_step_result r = testdb_result_for(s, outcome, "{\"by\": \"worker\"}");
	if (outcome != TASKER_OUTCOME_SUCCESS)
		r.error_message = "the worker's failure";
	return r;
}

/* Claims the task's remaining ready step (handler `handler_class`) and completes it, so the task finishes
 * and later rounds claim only their own steps. */
static void finish(int64_t task, const char *handler_class)
{
	tasker_claimed_step *s = testdb_claim_one(db.client, handler_class);
	assert_int_equal(s->task_id, task);
	tasker_step_result r = result_of(s, TASKER_OUTCOME_SUCCESS);
	assert_int_equal(tasker_steps_complete(db.client, &r, 1), TASKER_OK);
	assert_int_equal(r.status, TASKER_OK);
	tasker_claimed_step_free(s);
}

/* ---- a task cancelled while a step of it completes */

/* The step's result is recorded (complete) or refused (ECONFLICT, the step cancelled), never both; the
 * task ends cancelled, or, if the completion finished it first and the cancel was refused, complete. */
static void cancel_rounds(const tasker_template_info *tpl, const char *handler_class)
{
	int recorded = 0, refused = 0, cancels_refused = 0;
	for (int round = 0; round < rounds(); round++) {
		int64_t task = testdb_create_task(db.client, tpl, NULL);
		tasker_claimed_step *s = testdb_claim_one(db.client, handler_class);
		assert_int_equal(s->task_id, task);
		int64_t step = s->workflow_step_id;
		racer w = {.result = result_of(s, TASKER_OUTCOME_SUCCESS)};
		racer o = {.op = OP_CANCEL, .id = task};
		race(round, &w, &o);

		int won = w.result.status == TASKER_OK;
		tasker_state st = step_state(step), ts = task_state(task);
		if (st != (won ? TASKER_STATE_COMPLETE : TASKER_STATE_CANCELLED))
			fail_msg("round %d: the result was %s but the step is %s", round, won ? "recorded" : "refused",
			         tasker_state_name(st));
		assert_int_equal(step_moves(step, "complete"), won);
		assert_int_equal(step_moves(step, "cancelled"), !won);
		if (o.rc == TASKER_OK) {
			if (ts != TASKER_STATE_CANCELLED)
				fail_msg("round %d: the cancel succeeded but the task is %s", round, tasker_state_name(ts));
		} else { /* refused: only once the completion had finished the task */
			if (!won || ts != TASKER_STATE_COMPLETE)
				fail_msg("round %d: the cancel was refused (%s) but the task is %s", round, o.message,
				         tasker_state_name(ts));
			cancels_refused++;
		}
		assert_true(task_moves(task, "complete") <= 1);
		assert_int_equal(task_moves(task, "cancelled"), o.rc == TASKER_OK);
		assert_no_claims(round, task);
		assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld",
		                              (long long)task), 0);
		assert_task_histories(round, task);
		recorded += won;
		refused += !won;
		tasker_claimed_step_free(s);
	}
	print_message("%s: result recorded %d, refused %d; cancel refused %d of %d rounds\n", tpl->name, recorded,
	              refused, cancels_refused, rounds());
}

static void test_cancel_races_last_step(void **state)
{
	(void)state;
	cancel_rounds(&solo_tpl, "RaceSolo");
}

static void test_cancel_races_step_of_open_task(void **state)
{
	(void)state;
	cancel_rounds(&pair_tpl, "RaceFirst");
}

/* ---- a step resolved by hand while its worker reports a failure (a running step cannot be resolved:
 * the resolution is refused, or, after the failure is recorded, moves error → resolved_manually) */

static void test_resolve_races_failure(void **state)
{
	(void)state;
	int resolved = 0, refused = 0;
	for (int round = 0; round < rounds(); round++) {
		int64_t task = testdb_create_task(db.client, &solo_tpl, NULL);
		tasker_claimed_step *s = testdb_claim_one(db.client, "RaceSolo");
		int64_t step = s->workflow_step_id;
		/* every other round a success: the resolution is refused either way */
		tasker_outcome outcome = round % 2 ? TASKER_OUTCOME_SUCCESS : TASKER_OUTCOME_PERMANENT;
		racer w = {.result = result_of(s, outcome)};
		racer o = {.op = OP_RESOLVE, .id = step};
		race(round, &w, &o);

		if (w.result.status != TASKER_OK)
			fail_msg("round %d: the result was refused (%d) though nothing else could take the claim", round,
			         w.result.status);
		tasker_state st = step_state(step), ts = task_state(task);
		if (o.rc == TASKER_OK) {
			if (outcome == TASKER_OUTCOME_SUCCESS || st != TASKER_STATE_RESOLVED_MANUALLY)
				fail_msg("round %d: the resolution succeeded; the step is %s", round, tasker_state_name(st));
			assert_int_equal(step_moves(step, "error"), 1);
			resolved++;
		} else {
			tasker_state expect = outcome == TASKER_OUTCOME_SUCCESS ? TASKER_STATE_COMPLETE : TASKER_STATE_ERROR;
			if (st != expect)
				fail_msg("round %d: the resolution was refused (%s); the step is %s", round, o.message,
				         tasker_state_name(st));
			refused++;
		}
		assert_int_equal(step_moves(step, "complete"), outcome == TASKER_OUTCOME_SUCCESS);
		assert_true(step_moves(step, "resolved_manually") <= 1);
		tasker_state expect_task = st == TASKER_STATE_ERROR ? TASKER_STATE_ERROR : TASKER_STATE_COMPLETE;
		if (ts != expect_task)
			fail_msg("round %d: the step is %s but the task is %s", round, tasker_state_name(st), tasker_state_name(ts));
		assert_true(task_moves(task, "complete") <= 1);
		assert_no_claims(round, task);
		assert_task_histories(round, task);
		tasker_claimed_step_free(s);
	}
	print_message("resolution won %d, refused %d of %d rounds\n", resolved, refused, rounds());
}

/* A pending child resolved by hand while its parent's completion makes it claimable: both succeed,
 * the child is resolved once and not left in the queue, and the task finishes once. */
static void test_resolve_child_races_parent_completion(void **state)
{
	(void)state;
	for (int round = 0; round < rounds(); round++) {
		int64_t task = testdb_create_task(db.client, &chain_tpl, NULL);
		tasker_claimed_step *s = testdb_claim_one(db.client, "RaceParent");
		int64_t child = testdb_count(db.pg, "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id = %lld "
		                                    "AND workflow_step_id <> %lld", (long long)task,
		                             (long long)s->workflow_step_id);
		racer w = {.result = result_of(s, TASKER_OUTCOME_SUCCESS)};
		racer o = {.op = OP_RESOLVE, .id = child};
		race(round, &w, &o);

		if (w.result.status != TASKER_OK || o.rc != TASKER_OK)
			fail_msg("round %d: the parent's result %s (%d), the child's resolution %s (%s)", round,
			         w.result.status == TASKER_OK ? "recorded" : "refused", w.result.status,
			         o.rc == TASKER_OK ? "done" : "refused", o.message);
		assert_int_equal(step_state(s->workflow_step_id), TASKER_STATE_COMPLETE);
		assert_int_equal(step_state(child), TASKER_STATE_RESOLVED_MANUALLY);
		assert_int_equal(step_moves(child, "resolved_manually"), 1);
		assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld",
		                              (long long)task), 0);
		tasker_state ts = task_state(task);
		if (ts != TASKER_STATE_COMPLETE)
			fail_msg("round %d: both steps are done but the task is %s", round, tasker_state_name(ts));
		assert_int_equal(task_moves(task, "complete"), 1);
		assert_no_claims(round, task);
		assert_task_histories(round, task);
		tasker_claimed_step_free(s);
	}
}

/* ---- a task retried while its step's failure is being recorded (the retry is refused while the task
 * runs, or re-opens the failed step once the failure is recorded) */

static void test_retry_races_failure(void **state)
{
	(void)state;
	int retried = 0, refused = 0;
	for (int round = 0; round < rounds(); round++) {
		int64_t task = testdb_create_task(db.client, &solo_tpl, NULL);
		tasker_claimed_step *s = testdb_claim_one(db.client, "RaceSolo");
		int64_t step = s->workflow_step_id;
		racer w = {.result = result_of(s, TASKER_OUTCOME_PERMANENT)};
		racer o = {.op = OP_RETRY, .id = task};
		race(round, &w, &o);

		if (w.result.status != TASKER_OK)
			fail_msg("round %d: the failure was refused (%d) though nothing else could take the claim", round,
			         w.result.status);
		tasker_state st = step_state(step), ts = task_state(task);
		assert_int_equal(step_moves(step, "error"), 1);
		if (o.rc == TASKER_OK) {
			if (st != TASKER_STATE_PENDING || ts != TASKER_STATE_PENDING)
				fail_msg("round %d: the retry succeeded; the step is %s, the task %s", round, tasker_state_name(st),
				         tasker_state_name(ts));
			assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_ready_steps WHERE workflow_step_id = "
			                                     "%lld", (long long)step), 1);
			retried++;
		} else {
			if (st != TASKER_STATE_ERROR || ts != TASKER_STATE_ERROR)
				fail_msg("round %d: the retry was refused (%s); the step is %s, the task %s", round, o.message,
				         tasker_state_name(st), tasker_state_name(ts));
			refused++;
		}
		assert_no_claims(round, task);
		assert_task_histories(round, task);
		if (o.rc == TASKER_OK) { /* finish the re-opened task so later rounds claim only their own step */
			finish(task, "RaceSolo");
			assert_int_equal(task_state(task), TASKER_STATE_COMPLETE);
			assert_task_histories(round, task);
		}
		tasker_claimed_step_free(s);
	}
	print_message("retry won %d, refused %d of %d rounds\n", retried, refused, rounds());
}

/* ---- a task cancelled while a worker completes both of its steps in one call */

/* Each result is recorded (complete) or refused (ECONFLICT, the step cancelled), never both; the task
 * ends cancelled, or complete when both results were recorded before the cancel, which is then refused. */
static void test_cancel_races_two_step_completion(void **state)
{
	(void)state;
	int both = 0, none = 0, cancels_refused = 0;
	for (int round = 0; round < rounds(); round++) {
		int64_t task = testdb_create_task(db.client, &pair_tpl, NULL);
		tasker_claimed_step *s[2] = {testdb_claim_one(db.client, "RaceFirst"), testdb_claim_one(db.client, "RaceSecond")};
		tasker_step_result results[2];
		for (int i = 0; i < 2; i++) {
			assert_int_equal(s[i]->task_id, task);
			results[i] = result_of(s[i], TASKER_OUTCOME_SUCCESS);
		}
		racer w = {.batch = results, .batch_n = 2};
		racer o = {.op = OP_CANCEL, .id = task};
		race(round, &w, &o);

		int won = 0;
		for (int i = 0; i < 2; i++) {
			int recorded = results[i].status == TASKER_OK;
			tasker_state st = step_state(s[i]->workflow_step_id);
			if (st != (recorded ? TASKER_STATE_COMPLETE : TASKER_STATE_CANCELLED))
				fail_msg("round %d: result %d was %s but its step is %s", round, i, recorded ? "recorded" : "refused",
				         tasker_state_name(st));
			assert_int_equal(step_moves(s[i]->workflow_step_id, "complete"), recorded);
			won += recorded;
		}
		tasker_state ts = task_state(task);
		if (o.rc == TASKER_OK) {
			if (ts != TASKER_STATE_CANCELLED)
				fail_msg("round %d: the cancel succeeded but the task is %s", round, tasker_state_name(ts));
		} else if (won != 2 || ts != TASKER_STATE_COMPLETE) {
			fail_msg("round %d: the cancel was refused (%s) with %d of 2 results recorded; the task is %s", round,
			         o.message, won, tasker_state_name(ts));
		} else {
			cancels_refused++;
		}
		assert_true(task_moves(task, "complete") <= 1);
		assert_no_claims(round, task);
		assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld",
		                              (long long)task), 0);
		assert_task_histories(round, task);
		both += won == 2;
		none += won == 0;
		for (int i = 0; i < 2; i++)
			tasker_claimed_step_free(s[i]);
	}
	print_message("both results recorded %d, none %d; cancel refused %d of %d rounds\n", both, none, cancels_refused,
	              rounds());
}

/* ---- a task cancelled while its step's expired lease is recovered */

/* Either the recovery comes first and moves the step in_progress → error (an attempt counted, a retry
 * queued), and the cancel then cancels the task and drops the retry, the step keeping its error; or the
 * cancel comes first, cancels task and step and ends the claim, and the recovery finds nothing. Neither
 * side fails, nothing stays queued or claimed. */
static void test_cancel_races_lease_recovery(void **state)
{
	(void)state;
	int recovered = 0;
	for (int round = 0; round < rounds(); round++) {
		int64_t task = testdb_create_task(db.client, &solo_tpl, NULL);
		tasker_claimed_step *s = testdb_claim_one(db.client, "RaceSolo");
		assert_int_equal(s->task_id, task);
		int64_t step = s->workflow_step_id;
		PQclear(testdb_sqlf(db.pg, "UPDATE tasker_step_claims SET lease_expires_at = timezone('UTC', now()) - "
		                           "interval '1 second' WHERE workflow_step_id = %lld", (long long)step));
		racer w = {.recover = 1};
		racer o = {.op = OP_CANCEL, .id = task};
		race(round, &w, &o);

		if (o.rc != TASKER_OK)
			fail_msg("round %d: the cancel was refused (%s) though the task had attempts left", round, o.message);
		tasker_state st = step_state(step), ts = task_state(task);
		assert_true(w.recovered == 0 || w.recovered == 1);
		/* a step the recovery failed keeps its error (error → cancelled is not a step move) */
		tasker_state want = w.recovered ? TASKER_STATE_ERROR : TASKER_STATE_CANCELLED;
		if (st != want || ts != TASKER_STATE_CANCELLED)
			fail_msg("round %d: the lease was %srecovered; after the cancel the step is %s, the task %s", round,
			         w.recovered ? "" : "not ", tasker_state_name(st), tasker_state_name(ts));
		assert_int_equal(step_moves(step, "error"), w.recovered);
		assert_int_equal(step_moves(step, "cancelled"), !w.recovered);
		assert_no_claims(round, task);
		assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_ready_steps WHERE task_id = %lld",
		                              (long long)task), 0);
		assert_task_histories(round, task);
		recovered += w.recovered;
		tasker_claimed_step_free(s);
	}
	print_message("recovered first %d of %d rounds\n", recovered, rounds());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_races_last_step),
		cmocka_unit_test(test_cancel_races_step_of_open_task),
		cmocka_unit_test(test_resolve_races_failure),
		cmocka_unit_test(test_resolve_child_races_parent_completion),
		cmocka_unit_test(test_retry_races_failure),
		cmocka_unit_test(test_cancel_races_two_step_completion),
		cmocka_unit_test(test_cancel_races_lease_recovery),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
