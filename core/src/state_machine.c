/*
 * state_machine.c — the task and step state machines of the Rails engine (states, allowed
 * transitions, the event each fires). Pure: no I/O, no allocation.
 */
#include <string.h>

#include "error.h"
#include "tasker.h"

#define P TASKER_STATE_PENDING
#define IP TASKER_STATE_IN_PROGRESS
#define C TASKER_STATE_COMPLETE
#define E TASKER_STATE_ERROR
#define X TASKER_STATE_CANCELLED
#define R TASKER_STATE_RESOLVED_MANUALLY

static const char *const state_names[TASKER_STATE_COUNT] = {
	"pending", "in_progress", "complete", "error", "cancelled", "resolved_manually",
};

/* [from][to] → event name; NULL = forbidden. */
static const char *const task_events[TASKER_STATE_COUNT][TASKER_STATE_COUNT] = {
	[P] = {[IP] = "task.start_requested", [X] = "task.cancelled", [E] = "task.failed"},
	[IP] = {[C] = "task.completed", [E] = "task.failed", [X] = "task.cancelled",
	        [P] = "task.initialize_requested"},
	[E] = {[P] = "task.retry_requested", [R] = "task.resolved_manually"},
	[C] = {[X] = "task.cancelled"},
	[R] = {[X] = "task.cancelled"},
};

static const char *const step_events[TASKER_STATE_COUNT][TASKER_STATE_COUNT] = {
	[P] = {[IP] = "step.execution_requested", [E] = "step.failed", [X] = "step.cancelled",
	       [R] = "step.resolved_manually"},
	[IP] = {[C] = "step.completed", [E] = "step.failed", [X] = "step.cancelled"},
	[E] = {[P] = "step.retry_requested", [R] = "step.resolved_manually"},
};

const char *tasker_state_name(tasker_state s)
{
	return (unsigned)s < TASKER_STATE_COUNT ? state_names[s] : NULL;
}

int tasker_state_parse(tasker_state *out, const char *name)
{
	for (int i = 0; i < TASKER_STATE_COUNT; i++) {
		if (name && strcmp(name, state_names[i]) == 0) {
			*out = (tasker_state)i;
			return TASKER_OK;
		}
	}
	return tasker_set_error(TASKER_EINVAL, "unknown state \"%s\"", name ? name : "(null)");
}

const char *tasker_task_transition_event(tasker_state from, tasker_state to)
{
	if ((unsigned)from >= TASKER_STATE_COUNT || (unsigned)to >= TASKER_STATE_COUNT)
		return NULL;
	return task_events[from][to];
}

const char *tasker_step_transition_event(tasker_state from, tasker_state to)
{
	if ((unsigned)from >= TASKER_STATE_COUNT || (unsigned)to >= TASKER_STATE_COUNT)
		return NULL;
	return step_events[from][to];
}
