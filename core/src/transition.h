/*
 * transition.h — persisting state transitions (tasker_task_transitions /
 * tasker_workflow_step_transitions) with compare-and-swap on the current state.
 */
#ifndef TASKER_CORE_TRANSITION_H
#define TASKER_CORE_TRANSITION_H

#include "db.h"
#include "tasker.h"

typedef enum { TTRANS_TASK, TTRANS_STEP } ttrans_kind;

/* SQL: the current transition (to_state, sort_key, created_at) of one task or step as `alias`, NULL
 * columns when it has none. A LATERAL lookup of at most one row, so the plan is an index probe per
 * owner whatever the statistics say: a plain join over an id array is planned as a scan of the whole
 * transition table when the statistics are stale, and a generic plan keeps that while the table grows. */
#define TASK_STATE_JOIN(alias, task_id)                                                               \
	"LEFT JOIN LATERAL (SELECT x.to_state, x.sort_key, x.created_at FROM tasker_task_transitions x " \
	"WHERE x.task_id = " task_id " AND x.most_recent LIMIT 1) " alias " ON true "
#define STEP_STATE_JOIN(alias, step_id)                                                                \
	"LEFT JOIN LATERAL (SELECT x.to_state, x.sort_key, x.created_at FROM tasker_workflow_step_transitions x " \
	"WHERE x.workflow_step_id = " step_id " AND x.most_recent LIMIT 1) " alias " ON true "

/* Inside an open transaction: locks the owner row, checks its current state equals `expected`
 * (TASKER_ECONFLICT otherwise), checks the state machine allows expected → to (TASKER_ETRANSITION),
 * then flips most_recent and inserts the new row with sort_key = previous + 10. `metadata_json` must
 * be a JSON object text or NULL. *out_event (if non-NULL) receives the event name. */
int ttrans_apply(tdb *db, ttrans_kind kind, int64_t id, tasker_state expected, tasker_state to,
                 const char *metadata_json, const char **out_event);

/* Reads the current state (pending when no transition row). TASKER_ENOTFOUND for a missing owner. */
int ttrans_current(tasker_state *out, tdb *db, ttrans_kind kind, int64_t id);

/* Bulk forms for the engine's hot path. The caller holds the task lock(s) and has read the current
 * state and sort_key of every owner in this transaction, so the compare-and-swap is already done. */
typedef struct ttrans_row {
	int64_t owner_id;
	tasker_state from, to;
	int64_t sort_key;
	int most_recent;
	const char *metadata_json;   /* JSON object text; NULL → {} */
} ttrans_row;

/* In one statement: clears most_recent of the `cleared` owners' current rows, then inserts `rows`. */
int ttrans_bulk_write(tdb *db, ttrans_kind kind, const int64_t *cleared, size_t ncleared, const ttrans_row *rows,
                      size_t n);

#endif
