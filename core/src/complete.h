/*
 * complete.h — recording step outcomes (see complete.c), for the worker and lease recovery.
 */
#ifndef TASKER_CORE_COMPLETE_H
#define TASKER_CORE_COMPLETE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "tasker.h"

/* Internal outcome: give a claimed step back without counting an attempt (worker shutdown); it
 * becomes claimable again at once. */
#define TOUTCOME_RELEASE 100
/* Internal outcome: the worker holding the step vanished (lease expired); counts as a failed
 * attempt and is retried under the normal rules. */
#define TOUTCOME_LEASE_EXPIRED 101

/* The engine's own callers: tasker_steps_complete accepting the internal outcomes above too. */
int tcomplete(tasker_client *client, tasker_step_result *results, size_t count);
/* TASKER_EINVAL naming the first result whose outcome is not a public tasker_outcome: the internal
 * outcomes are refused from callers of the public functions. */
int tcomplete_check_public(const tasker_step_result *results, size_t count);

/* tasker_steps_complete inside the caller's open transaction (the caller commits). */
int tcomplete_locked(tdb *db, tasker_client *client, tasker_step_result *results, size_t count);

/* The completion as one statement for a caller that sends it in a pipeline with others (the claim of
 * the next steps): when every result to record is a success, *out receives the prepared completion and
 * *call its statement and parameters; otherwise (failures, releases, nothing valid) *out is NULL and the
 * caller uses tcomplete_locked. Each result's status is set as by tcomplete_locked (refused JSON). */
typedef struct tcomplete_call tcomplete_call;
int tcomplete_prepare(tcomplete_call **out, tdb_call *call, tasker_step_result *results, size_t count);
/* After the statement ran in the caller's transaction: its events, each result's status and new state,
 * the wake-up owed; as tcomplete_locked would. */
int tcomplete_replay(tdb *db, tcomplete_call *c, PGresult *res);
void tcomplete_call_free(tcomplete_call *c);

/* After a committed completion: the calling thread's last error names a result whose claim was lost. */
void tcomplete_report_conflicts(const tasker_step_result *results, size_t count);
/* Extends the leases of claims still held (step id + claim id pairs). */
int tclaims_extend(tasker_client *client, const int64_t *step_ids, const int64_t *claim_ids, size_t n,
                   int lease_seconds);

#endif
