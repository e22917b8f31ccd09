/*
 * event_queue.c — pull-style event subscriptions (tasker_event_queue_*): a bounded queue filled by a
 * synchronous subscription and emptied by the host with next, or when its descriptor becomes readable
 * (IO#wait_readable, loop.add_reader, uv_poll_t), so no binding needs a relay thread of its own. Built
 * on the public subscription API and the client's close watch; knows nothing of how events are made.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "client.h"
#include "error.h"
#include "util.h"
#include "tasker.h"

#define DEFAULT_CAPACITY 1024

struct tasker_event_queue {
	tasker_client *client;
	uint64_t subscription;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tasker_event **ring;
	size_t cap, head, len;
	int fd[2];                  /* fd[0] readable exactly while len > 0 */
	int signaled;
	int closed;                 /* the client was closed: an empty queue stops waiting */
	uint64_t watch;             /* the client's close watch, 0 before it is set */
	atomic_uint_fast64_t dropped;
};

/* One allocation: the view and its strings, so tasker_event_free is free(). */
static tasker_event *copy_event(const tasker_event *ev)
{
	size_t nl = strlen(ev->name) + 1, pl = strlen(ev->payload_json) + 1;
	tasker_event *e = malloc(sizeof *e + nl + pl);
	if (!e)
		return NULL;
	char *data = (char *)(e + 1);
	*e = *ev;
	memcpy(data, ev->name, nl);
	memcpy(data + nl, ev->payload_json, pl);
	e->name = data;
	e->payload_json = data + nl;
	return e;
}

void tasker_event_free(tasker_event *e) { free(e); }

/* Keeps fd[0] readable exactly while events wait. Caller holds mu. */
static void refresh(tasker_event_queue *q)
{
	if (q->len && !q->signaled) {
		char c = 1;
		q->signaled = write(q->fd[1], &c, 1) == 1;
	} else if (!q->len && q->signaled) {
		char c;
		q->signaled = read(q->fd[0], &c, 1) != 1;
	}
}

/* The subscriber: runs on the publishing thread, so it only copies. */
static int on_event(const tasker_event *ev, void *payload)
{
	tasker_event_queue *q = payload;
	tasker_event *e = copy_event(ev);
	pthread_mutex_lock(&q->mu);
	if (!e || q->len == q->cap) { /* full (or no memory): the oldest event makes room */
		atomic_fetch_add(&q->dropped, 1);
		if (!e) {
			pthread_mutex_unlock(&q->mu);
			return 0;
		}
		free(q->ring[q->head]);
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	q->ring[(q->head + q->len++) % q->cap] = e;
	refresh(q);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/* The client's close: waiters give up, since no engine call can publish any more. */
static void on_client_closed(void *payload)
{
	tasker_event_queue *q = payload;
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void queue_destroy(tasker_event_queue *q)
{
	if (q->watch)
		tclient_unwatch_close(q->client, q->watch);
	for (size_t i = 0; i < q->len; i++)
		free(q->ring[(q->head + i) % q->cap]);
	free(q->ring);
	for (int i = 0; i < 2; i++)
		if (q->fd[i] >= 0)
			close(q->fd[i]);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

int tasker_event_queue_open(tasker_event_queue **out, tasker_client *client, const char *pattern,
                            unsigned int capacity)
{
	*out = NULL;
	if (!client)
		return tasker_set_error(TASKER_EINVAL, "tasker_event_queue_open needs a client");
	tasker_event_queue *q = calloc(1, sizeof *q);
	if (!q)
		return tasker_set_oom();
	q->client = client;
	q->cap = capacity ? capacity : DEFAULT_CAPACITY;
	q->fd[0] = q->fd[1] = -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->ring = calloc(q->cap, sizeof *q->ring);
	if (!q->ring || pipe(q->fd) != 0) {
		size_t cap = q->cap;
		queue_destroy(q);
		return tasker_set_error(TASKER_ENOMEM, "cannot allocate an event queue of %zu events", cap);
	}
	for (int i = 0; i < 2; i++) {
		fcntl(q->fd[i], F_SETFL, O_NONBLOCK);
		fcntl(q->fd[i], F_SETFD, FD_CLOEXEC);
	}
	int rc = tclient_watch_close(client, on_client_closed, q, &q->watch);
	if (!rc)
		rc = tasker_event_subscribe(&q->subscription, client, pattern, on_event, q, NULL);
	if (rc) {
		queue_destroy(q);
		return rc;
	}
	*out = q;
	return TASKER_OK;
}

int tasker_event_queue_next(tasker_event **out, tasker_event_queue *q, int timeout_ms)
{
	*out = NULL;
	struct timespec until;
	ttime_after_ms(&until, timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&q->mu);
	while (!q->len && !q->closed && timeout_ms != 0) {
		int rc = tcancel_cond_wait(&q->cv, &q->mu, timeout_ms < 0 ? NULL : &until);
		if (rc == TASKER_ECANCELED) {
			pthread_mutex_unlock(&q->mu);
			return tcancel_error("waiting for an event");
		}
		if (rc == ETIMEDOUT)
			break;
	}
	if (!q->len && q->closed) {
		pthread_mutex_unlock(&q->mu);
		return tasker_set_error(TASKER_ECLOSED, "the client was closed (tasker_client_close): no event can come");
	}
	if (!q->len) {
		pthread_mutex_unlock(&q->mu);
		return tasker_set_error(TASKER_ETIMEOUT, "no event came within %d ms", timeout_ms);
	}
	*out = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	refresh(q);
	pthread_mutex_unlock(&q->mu);
	return TASKER_OK;
}

int tasker_event_queue_fd(const tasker_event_queue *q) { return q->fd[0]; }

uint64_t tasker_event_queue_dropped(const tasker_event_queue *q) { return atomic_load(&q->dropped); }

size_t tasker_event_queue_length(tasker_event_queue *q)
{
	pthread_mutex_lock(&q->mu);
	size_t n = q->len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void tasker_event_queue_close(tasker_event_queue *q)
{
	if (!q)
		return;
	tasker_event_unsubscribe(q->client, q->subscription); /* on_event is never called again */
	queue_destroy(q);
}
