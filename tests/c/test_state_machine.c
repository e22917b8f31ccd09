/* Unit tests of the task and step state machines: every (from, to) pair, allowed or refused, with
 * the event each allowed transition fires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tasker.h"

#define P TASKER_STATE_PENDING
#define IP TASKER_STATE_IN_PROGRESS
#define C TASKER_STATE_COMPLETE
#define E TASKER_STATE_ERROR
#define X TASKER_STATE_CANCELLED
#define R TASKER_STATE_RESOLVED_MANUALLY

typedef struct {
	tasker_state from, to;
	const char *event;
} allowed;

static const allowed task_allowed[] = {
	{P, IP, "task.start_requested"}, {P, X, "task.cancelled"},   {P, E, "task.failed"},
	{IP, C, "task.completed"},       {IP, E, "task.failed"},     {IP, X, "task.cancelled"},
	{IP, P, "task.initialize_requested"}, {E, P, "task.retry_requested"},
	{E, R, "task.resolved_manually"}, {C, X, "task.cancelled"},   {R, X, "task.cancelled"},
};

static const allowed step_allowed[] = {
	{P, IP, "step.execution_requested"}, {P, E, "step.failed"},   {P, X, "step.cancelled"},
	{P, R, "step.resolved_manually"},    {IP, C, "step.completed"}, {IP, E, "step.failed"},
	{IP, X, "step.cancelled"},           {E, P, "step.retry_requested"},
	{E, R, "step.resolved_manually"},
};

static void check_machine(const allowed *list, size_t n, const char *(*event)(tasker_state, tasker_state))
{
	int seen = 0;
	for (int f = 0; f < TASKER_STATE_COUNT; f++) {
		for (int t = 0; t < TASKER_STATE_COUNT; t++) {
			const char *expected = NULL;
			for (size_t i = 0; i < n; i++)
				if ((int)list[i].from == f && (int)list[i].to == t)
					expected = list[i].event;
			const char *got = event((tasker_state)f, (tasker_state)t);
			if (expected) {
				assert_non_null(got);
				assert_string_equal(got, expected);
				seen++;
			} else {
				assert_null(got);
			}
		}
	}
	assert_int_equal(seen, (int)n);
	assert_null(event((tasker_state)TASKER_STATE_COUNT, P));
	assert_null(event(P, (tasker_state)-1));
}

static void test_task_machine(void **state)
{
	(void)state;
	check_machine(task_allowed, sizeof task_allowed / sizeof *task_allowed, tasker_task_transition_event);
}

static void test_step_machine(void **state)
{
	(void)state;
	check_machine(step_allowed, sizeof step_allowed / sizeof *step_allowed, tasker_step_transition_event);
}

static void test_state_names(void **state)
{
	(void)state;
	const char *names[] = {"pending", "in_progress", "complete", "error", "cancelled", "resolved_manually"};
	for (int i = 0; i < TASKER_STATE_COUNT; i++) {
		tasker_state s;
		assert_string_equal(tasker_state_name((tasker_state)i), names[i]);
		assert_int_equal(tasker_state_parse(&s, names[i]), TASKER_OK);
		assert_int_equal(s, i);
	}
	tasker_state s;
	assert_int_equal(tasker_state_parse(&s, "skipped"), TASKER_EINVAL);
	assert_non_null(strstr(tasker_error_last()->message, "skipped"));
	assert_int_equal(tasker_state_parse(&s, NULL), TASKER_EINVAL);
	assert_null(tasker_state_name(TASKER_STATE_COUNT));
}

static void test_error_names(void **state)
{
	(void)state;
	assert_string_equal(tasker_error_name(TASKER_ECONFLICT), "TASKER_ECONFLICT");
	assert_string_equal(tasker_error_name(TASKER_EXISTS), "TASKER_EXISTS");
	assert_string_equal(tasker_error_name(-999), "TASKER_UNKNOWN");
	tasker_error_clear();
	assert_int_equal(tasker_error_last()->code, TASKER_OK);
	assert_string_equal(tasker_error_last()->message, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_machine),
		cmocka_unit_test(test_step_machine),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
