/* Integration tests of persisted state transitions: every allowed transition for tasks and steps
 * succeeds, every other pair is refused, compare-and-swap under a race of two connections. */
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

typedef int (*transition_fn)(tasker_client *, int64_t, tasker_state, tasker_state, const char *);
typedef int (*state_fn)(tasker_state *, tasker_client *, int64_t);
typedef const char *(*event_fn)(tasker_state, tasker_state);

static int setup(void **state)
{
	(void)state;
	testdb_open(&db, "transitions", 1);
	PQclear(testdb_sql(db.pg,
		"INSERT INTO tasker_task_namespaces (name, created_at, updated_at) VALUES ('ns', now(), now());"
		"INSERT INTO tasker_named_tasks (name, task_namespace_id, version, created_at, updated_at) "
		"  VALUES ('t', 1, '1.0.0', now(), now());"
		"INSERT INTO tasker_dependent_systems (name, created_at, updated_at) VALUES ('sys', now(), now());"
		"INSERT INTO tasker_named_steps (dependent_system_id, name, created_at, updated_at) "
		"  VALUES (1, 's', now(), now());"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testdb_close(&db);
	return 0;
}

static int64_t new_task(void)
{
	char *id = testdb_value(db.pg,
		"INSERT INTO tasker_tasks (named_task_id, requested_at, identity_hash, created_at, updated_at) "
		"VALUES (1, now(), gen_random_uuid()::text, now(), now()) RETURNING task_id");
	int64_t v = atoll(id);
	free(id);
	return v;
}

static int64_t new_step(void)
{
	int64_t task = new_task();
	char *id = testdb_value(db.pg,
		"INSERT INTO tasker_workflow_steps (task_id, named_step_id, attempts, created_at, updated_at) "
		"VALUES (%lld, 1, 0, now(), now()) RETURNING workflow_step_id", (long long)task);
	int64_t v = atoll(id);
	free(id);
	return v;
}

/* A path of allowed transitions from pending to `target`. */
static int path_to(tasker_state target, event_fn ev, tasker_state *path, int depth)
{
	if (depth > 4)
		return -1;
	if (path[depth] == target)
		return depth;
	for (int s = 0; s < TASKER_STATE_COUNT; s++) {
		if (!ev(path[depth], (tasker_state)s))
			continue;
		path[depth + 1] = (tasker_state)s;
		int n = path_to(target, ev, path, depth + 1);
		if (n >= 0)
			return n;
	}
	return -1;
}

static void check_all_pairs(int64_t (*make)(void), transition_fn tr, state_fn st, event_fn ev,
                            const char *table, const char *owner_col)
{
	int allowed = 0, refused = 0;
	for (int from = 0; from < TASKER_STATE_COUNT; from++) {
		tasker_state path[6] = {TASKER_STATE_PENDING};
		int n = path_to((tasker_state)from, ev, path, 0);
		assert_true(n >= 0);
		for (int to = 0; to < TASKER_STATE_COUNT; to++) {
			int64_t id = make();
			for (int k = 0; k < n; k++)
				assert_int_equal(tr(db.client, id, path[k], path[k + 1], NULL), TASKER_OK);
			int rc = tr(db.client, id, (tasker_state)from, (tasker_state)to, "{\"why\": \"test\"}");
			tasker_state now;
			assert_int_equal(st(&now, db.client, id), TASKER_OK);
			if (ev((tasker_state)from, (tasker_state)to)) {
				assert_int_equal(rc, TASKER_OK);
				assert_int_equal(now, to);
				char *meta = testdb_value(db.pg, "SELECT metadata->>'why' || ':' || from_state || ':' || sort_key "
				                                 "FROM %s WHERE %s = %lld AND most_recent", table, owner_col,
				                          (long long)id);
				char expect[96];
				snprintf(expect, sizeof expect, "test:%s:%d", tasker_state_name((tasker_state)from), 10 * (n + 1));
				assert_string_equal(meta, expect);
				free(meta);
				allowed++;
			} else {
				assert_int_equal(rc, TASKER_ETRANSITION);
				char arrow[64];
				snprintf(arrow, sizeof arrow, "%s → %s", tasker_state_name((tasker_state)from),
				         tasker_state_name((tasker_state)to));
				assert_non_null(strstr(tasker_error_last()->message, arrow));
				assert_int_equal(now, from);
				assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM %s WHERE %s = %lld", table, owner_col,
				                              (long long)id), n);
				refused++;
			}
		}
	}
	assert_int_equal(allowed + refused, TASKER_STATE_COUNT * TASKER_STATE_COUNT);
	assert_true(allowed > 0 && refused > 0);
}

static void test_task_pairs(void **state)
{
	(void)state;
	check_all_pairs(new_task, tasker_task_transition, tasker_task_state, tasker_task_transition_event,
	                "tasker_task_transitions", "task_id");
}

static void test_step_pairs(void **state)
{
	(void)state;
	check_all_pairs(new_step, tasker_step_transition, tasker_step_state, tasker_step_transition_event,
	                "tasker_workflow_step_transitions", "workflow_step_id");
}

static void test_compare_and_swap(void **state)
{
	(void)state;
	int64_t id = new_step();
	assert_int_equal(tasker_step_transition(db.client, id, TASKER_STATE_IN_PROGRESS, TASKER_STATE_COMPLETE, NULL),
	                 TASKER_ECONFLICT);
	assert_non_null(strstr(tasker_error_last()->message, "state changed underneath you"));
	assert_non_null(strstr(tasker_error_last()->message, "found pending"));
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_step_transitions "
	                                     "WHERE workflow_step_id = %lld", (long long)id), 0);
}

static void test_bad_input(void **state)
{
	(void)state;
	int64_t id = new_step();
	assert_int_equal(tasker_step_transition(db.client, id, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, "[1]"),
	                 TASKER_EJSON);
	assert_int_equal(tasker_step_transition(db.client, id, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS, "{"),
	                 TASKER_EJSON);
	assert_int_equal(tasker_step_transition(db.client, 987654321, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS,
	                                        NULL), TASKER_ENOTFOUND);
	assert_non_null(strstr(tasker_error_last()->message, "987654321"));
	tasker_state s;
	assert_int_equal(tasker_task_state(&s, db.client, 987654321), TASKER_ENOTFOUND);
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_step_transitions "
	                                     "WHERE workflow_step_id = %lld", (long long)id), 0);
	/* no row for an owner that does not exist, though "pending" (no row) matched the expected state */
	assert_int_equal(tasker_task_transition(db.client, 987654321, TASKER_STATE_PENDING, TASKER_STATE_IN_PROGRESS,
	                                        NULL), TASKER_ENOTFOUND);
	assert_int_equal(testdb_count(db.pg, "SELECT (SELECT count(*) FROM tasker_workflow_step_transitions WHERE "
	                                     "workflow_step_id = 987654321) + (SELECT count(*) FROM "
	                                     "tasker_task_transitions WHERE task_id = 987654321)"), 0);
}

/* The transition function (one statement: lock, compare-and-swap, write) refuses input it cannot act on
 * with an error that names it, and writes nothing. */
static void test_transition_function_refuses_bad_input(void **state)
{
	(void)state;
	int64_t id = new_step();
	static const struct {
		const char *args, *message;
	} bad[] = {
		{"'job', %lld, 'pending', 'in_progress', '{}'", "kind 'job' is neither task nor step"},
		{"NULL, %lld, 'pending', 'in_progress', '{}'", "kind NULL is neither task nor step"},
		{"'step', %lld, NULL, 'in_progress', '{}'", "from NULL to 'in_progress': the id and both states"},
		{"'step', %lld, 'pending', NULL, '{}'", "from 'pending' to NULL: the id and both states"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char args[128], sql[256];
		snprintf(args, sizeof args, bad[i].args, (long long)id);
		snprintf(sql, sizeof sql, "SELECT * FROM tasker_core_transition(%s)", args);
		PGresult *r = PQexec(db.pg, sql);
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		if (!strstr(PQresultErrorMessage(r), bad[i].message))
			print_error("got: %s\n", PQresultErrorMessage(r));
		assert_non_null(strstr(PQresultErrorMessage(r), bad[i].message));
		assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22023");
		PQclear(r);
	}
	assert_int_equal(testdb_count(db.pg, "SELECT count(*) FROM tasker_workflow_step_transitions "
	                                     "WHERE workflow_step_id = %lld", (long long)id), 0);
}

/* ---- race: two threads, two clients, the same transition, many rounds */

typedef struct {
	tasker_client *client;
	pthread_barrier_t *barrier;
	const int64_t *ids;
	int rounds;
	int *results;     /* per round */
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	for (int i = 0; i < r->rounds; i++) {
		pthread_barrier_wait(r->barrier);
		/* Alternate the raced transition: a first transition (no previous row) and a later one. */
		tasker_state from = (i % 2) ? TASKER_STATE_IN_PROGRESS : TASKER_STATE_PENDING;
		tasker_state to = (i % 2) ? TASKER_STATE_COMPLETE : TASKER_STATE_IN_PROGRESS;
		r->results[i] = tasker_step_transition(r->client, r->ids[i], from, to, NULL);
	}
	return NULL;
}

static void test_race(void **state)
{
	(void)state;
	const char *env = getenv("TASKER_RACE_ROUNDS");
	int rounds = env ? atoi(env) : 1000;
	int64_t *ids = calloc((size_t)rounds, sizeof *ids);
	for (int i = 0; i < rounds; i++) {
		ids[i] = new_step();
		if (i % 2) /* odd rounds race in_progress → complete */
			assert_int_equal(tasker_step_transition(db.client, ids[i], TASKER_STATE_PENDING,
			                                        TASKER_STATE_IN_PROGRESS, NULL), TASKER_OK);
	}
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 2);
	racer rs[2];
	pthread_t th[2];
	for (int k = 0; k < 2; k++) {
		tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
		o.database_url = db.conninfo;
		o.pool_size = 1;
		assert_int_equal(tasker_client_open(&rs[k].client, &o), TASKER_OK);
		rs[k].barrier = &barrier;
		rs[k].ids = ids;
		rs[k].rounds = rounds;
		rs[k].results = calloc((size_t)rounds, sizeof(int));
		pthread_create(&th[k], NULL, race, &rs[k]);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	int wins[2] = {0, 0};
	for (int i = 0; i < rounds; i++) {
		int a = rs[0].results[i], b = rs[1].results[i];
		assert_true((a == TASKER_OK && b == TASKER_ECONFLICT) || (a == TASKER_ECONFLICT && b == TASKER_OK));
		wins[a == TASKER_OK ? 0 : 1]++;
	}
	printf("race: %d rounds, thread wins %d / %d, exactly one winner every round\n", rounds, wins[0], wins[1]);
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM (SELECT workflow_step_id FROM tasker_workflow_step_transitions "
		"GROUP BY workflow_step_id HAVING count(*) FILTER (WHERE most_recent) <> 1) x"), 0);
	assert_int_equal(testdb_count(db.pg,
		"SELECT count(*) FROM (SELECT workflow_step_id, sort_key FROM tasker_workflow_step_transitions "
		"GROUP BY 1, 2 HAVING count(*) > 1) x"), 0);
	for (int k = 0; k < 2; k++) {
		tasker_client_free(rs[k].client);
		free(rs[k].results);
	}
	pthread_barrier_destroy(&barrier);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_pairs),
		cmocka_unit_test(test_step_pairs),
		cmocka_unit_test(test_compare_and_swap),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_transition_function_refuses_bad_input),
		cmocka_unit_test(test_race),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
