/*
 * progress.h — what follows when steps finish: which children become claimable (incremental: only
 * the children of the finished steps are examined), bypassed steps resolved on the way, and tasks
 * finalized (complete or error). Every function runs inside the caller's transaction, which holds
 * the task row locks.
 */
#ifndef TASKER_CORE_PROGRESS_H
#define TASKER_CORE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "queue.h"
#include "registry.h"

/* Examines the children of `done` (steps now complete or resolved) and adds those whose parents are
 * all done to `ready`; bypassed children are resolved and their children examined in turn. */
int tprogress_children(tdb *db, treg *reg, const int64_t *done, size_t n, tqueue_batch *ready);
/* Makes every pending step of the task whose parents are done claimable (unless already queued or
 * claimed): used after a retry or a manual resolution, where more than children may change. */
int tprogress_enqueue_task(tdb *db, treg *reg, int64_t task_id, tqueue_batch *ready);
/* Completes each task whose steps are all complete/resolved (task → complete, complete = true).
 * *out_completed (may be NULL) receives how many were completed. */
int tprogress_finalize(tdb *db, const int64_t *task_ids, size_t n, int *out_completed);
/* Moves an open task to error because a step failed for good; removes its queued steps. */
int tprogress_fail_task(tdb *db, int64_t task_id, const char *step_name, const char *reason);

#endif
