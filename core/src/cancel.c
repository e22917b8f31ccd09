/*
 * cancel.c — cancel tokens: a binding sets one as its thread's current token before a blocking call
 * and fires it from another thread (Ruby's unblock function, a Python signal handler, a Node
 * AbortSignal) to end the call soon: a running statement is cancelled with PQcancel, waits for a pooled
 * connection, a LISTEN or a worker end. Firing is a store, a write to a pipe and PQcancel, all three
 * safe in a signal handler. Knows nothing of what the calls do.
 */
#include "cancel.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

struct tasker_cancel {
	atomic_int fired;
	int fd[2];                 /* fd[0] readable once fired (until reset) */
	_Atomic(PGcancel *) pg;    /* the statement running for the thread that holds this token */
	atomic_int firing;         /* fires using `pg` right now */
};

/* A token in a wait re-checks it this often: a fire may come from a signal handler, which cannot
 * signal a condition variable. */
#define SLICE_MS 10

static _Thread_local tasker_cancel *current;

int tasker_cancel_new(tasker_cancel **out)
{
	*out = NULL;
	tasker_cancel *c = calloc(1, sizeof *c);
	if (!c)
		return tasker_set_oom();
	if (pipe(c->fd) != 0) {
		free(c);
		return tasker_set_error(TASKER_ERROR, "cancel token: cannot create a pipe");
	}
	for (int i = 0; i < 2; i++) {
		fcntl(c->fd[i], F_SETFL, O_NONBLOCK);
		fcntl(c->fd[i], F_SETFD, FD_CLOEXEC);
	}
	*out = c;
	return TASKER_OK;
}

void tasker_cancel_free(tasker_cancel *c)
{
	if (!c)
		return;
	if (current == c)
		current = NULL;
	close(c->fd[0]);
	close(c->fd[1]);
	free(c);
}

void tasker_cancel_set_current(tasker_cancel *c) { current = c; }

void tasker_cancel_fire(tasker_cancel *c)
{
	if (!c)
		return;
	atomic_store(&c->fired, 1);
	char b = 1;
	ssize_t n = write(c->fd[1], &b, 1);
	(void)n; /* a full pipe is readable already */
	atomic_fetch_add(&c->firing, 1);
	PGcancel *pg = atomic_load(&c->pg);
	if (pg) {
		char err[256];
		PQcancel(pg, err, sizeof err); /* best effort: the statement may have just ended */
	}
	atomic_fetch_sub(&c->firing, 1);
}

void tasker_cancel_reset(tasker_cancel *c)
{
	if (!c)
		return;
	char buf[64];
	while (read(c->fd[0], buf, sizeof buf) > 0)
		;
	atomic_store(&c->fired, 0);
}

int tcancel_fired(void) { return current && atomic_load(&current->fired); }

int tcancel_error(const char *what)
{
	return tasker_set_error(TASKER_ECANCELED, "%s: cancelled (tasker_cancel_fire)", what);
}

int tcancel_fd(void) { return current ? current->fd[0] : -1; }

void tcancel_attach(PGconn *conn)
{
	if (current)
		atomic_store(&current->pg, PQgetCancel(conn));
}

void tcancel_detach(void)
{
	if (!current)
		return;
	PGcancel *pg = atomic_exchange(&current->pg, NULL);
	while (atomic_load(&current->firing)) /* a fire is using it: a few microseconds */
		sched_yield();
	if (pg)
		PQfreeCancel(pg);
}

int tcancel_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *until)
{
	if (!current)
		return until ? pthread_cond_timedwait(cv, mu, until) : pthread_cond_wait(cv, mu);
	if (atomic_load(&current->fired))
		return TASKER_ECANCELED;
	struct timespec slice;
	ttime_after_ms(&slice, SLICE_MS);
	int sliced = !until || slice.tv_sec < until->tv_sec ||
	             (slice.tv_sec == until->tv_sec && slice.tv_nsec < until->tv_nsec);
	int rc = pthread_cond_timedwait(cv, mu, sliced ? &slice : until);
	if (atomic_load(&current->fired))
		return TASKER_ECANCELED;
	return rc == ETIMEDOUT && sliced ? 0 : rc; /* the end of a slice is not the caller's timeout */
}
