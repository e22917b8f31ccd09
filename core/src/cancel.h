/*
 * cancel.h — cancel tokens (tasker_cancel): the calling thread's current token, and what the
 * connection layer and every blocking wait do with it. Knows nothing of tasks, steps or events.
 */
#ifndef TASKER_CORE_CANCEL_H
#define TASKER_CORE_CANCEL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <time.h>

#include "tasker.h"

/* 1 when the calling thread's current token has fired. */
int tcancel_fired(void);
/* Sets TASKER_ECANCELED naming `what` ("reading the task") and returns it. */
int tcancel_error(const char *what);
/* The current token's descriptor (readable once it fired), or -1: add it to a poll set. */
int tcancel_fd(void);
/* While a statement runs on `conn`, a fire of the current token PQcancel's it. No token: nothing. */
void tcancel_attach(PGconn *conn);
void tcancel_detach(void);
/* pthread_cond_timedwait (until NULL: pthread_cond_wait) that also ends soon after the current token
 * fires: returns 0 (woken; re-check the condition), ETIMEDOUT, or TASKER_ECANCELED. */
int tcancel_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *until);

#endif
