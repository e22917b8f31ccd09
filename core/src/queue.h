/*
 * queue.h — the ready queue (tasker_ready_steps): adding claimable steps and waking idle workers.
 * Deciding *whether* a step is ready is not done here (readiness.c / complete.c decide).
 */
#ifndef TASKER_CORE_QUEUE_H
#define TASKER_CORE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "tasker.h"

/* The NOTIFY channel idle workers LISTEN on. The payload is empty: it is only a hint. */
#define TQUEUE_CHANNEL "tasker_steps_ready"

typedef struct tqueue_batch {
	int64_t *step_ids, *task_ids, *delay_ms;  /* claimable delay_ms after the transaction's now() */
	const char **handlers;                    /* borrowed */
	size_t count, cap;
	int oom;
	int any_now;                              /* some step is claimable immediately */
} tqueue_batch;

void tqueue_batch_init(tqueue_batch *b);
void tqueue_batch_free(tqueue_batch *b);
/* Delays are relative to the database's clock, so hosts with skewed clocks agree on ready_at. */
void tqueue_batch_add(tqueue_batch *b, int64_t step_id, int64_t task_id, const char *handler_class,
                      int64_t delay_ms);
/* Inserts the batch's rows (nothing when empty) and calls tqueue_wake_for with those claimable now. */
int tqueue_batch_write(tdb *db, tqueue_batch *b);
/* A step became claimable now in the open transaction: one NOTIFY on TQUEUE_CHANNEL, which wakes idle
 * workers, follows its COMMIT (a commit hook on the connection: a rolled-back transaction wakes nobody;
 * a transaction that calls this many times sends one). Outside a transaction it is sent at once. */
int tqueue_wake(tdb *db);
/* The same for these steps, made claimable now in the open transaction: the wake-up is owed only for
 * those that this transaction does not claim itself (tqueue_claimed). */
int tqueue_wake_for(tdb *db, const int64_t *step_ids, size_t n);
/* The open transaction claimed these steps: idle workers need no wake-up for them. */
void tqueue_claimed(tdb *db, const int64_t *step_ids, size_t n);

/* Milliseconds until the earliest queued step for these handlers is claimable (0 if one is now),
 * or -1 in *out when none is queued. */
int tqueue_next_ready_ms(int64_t *out, tasker_client *client, const char *const *handlers, size_t n);
/* The handler_class of a queued step (malloc'd). TASKER_ENOTFOUND when the step is not queued. */
int tqueue_handler_of(char **out, tasker_client *client, int64_t step_id);

#endif
