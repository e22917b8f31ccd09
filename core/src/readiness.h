/*
 * readiness.h — decides which steps of a task may run and what the task needs now. Never writes.
 * The rules are those of the Rails engine's get_step_readiness_status / get_task_execution_context,
 * with the corrections the README's "Semantics" section lists (each marked CORRECTION below).
 */
#ifndef TASKER_CORE_READINESS_H
#define TASKER_CORE_READINESS_H

#include "db.h"
#include "tasker.h"

/* What the decision needs about one step; parents index into the same array. */
typedef struct treadiness_input {
	int64_t workflow_step_id, task_id;
	int32_t named_step_id;
	const char *name;
	tasker_state state;
	int64_t state_changed_at;      /* created_at of the most recent transition, or TASKER_NULL_TIME */
	int processed, in_process;     /* NULL counts as false */
	int retryable;                 /* NULL counts as true */
	int attempts;                  /* -1 = NULL */
	int retry_limit;               /* -1 = NULL */
	int backoff_request_seconds;   /* -1 = NULL */
	int64_t last_attempted_at;     /* TASKER_NULL_TIME = NULL */
	const size_t *parents;
	size_t nparents;
} treadiness_input;

/* Fills out[i] for in[i] at time `now` (µs). Pure. */
void treadiness_compute(tasker_step_readiness *out, const treadiness_input *in, size_t n, int64_t now);
/* Aggregates readiness rows into the task's execution context. Pure. */
void treadiness_context(tasker_task_context *out, const tasker_step_readiness *rows, size_t n,
                        const int *retryable);

#endif
