/*
 * worker.c — the built-in worker loop for C handlers: a dispatcher (the caller's thread) claims steps
 * and sleeps on LISTEN/NOTIFY when there is nothing to do; executor threads run handlers; a completer
 * thread writes results in batches (or each executor writes its own when batching is off). Leases of
 * running steps are extended, expired leases of dead workers recovered. Decides nothing about
 * readiness or retries: it only moves claimed steps through handlers to tasker_steps_complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "complete.h"
#include "config.h"
#include "error.h"
#include "events.h"
#include "logging.h"
#include "queue.h"
#include "util.h"

typedef struct {
	tasker_step_handler h;
	char *handler_class;
} handler_entry;

/* A result waiting to be written, owning its strings. */
typedef struct {
	tasker_step_result r;
	char *results, *message, *error_class, *error_code, *context, *backtrace;
} pending;

typedef struct {
	int64_t step_id, claim_id;
} inflight_claim;

struct tasker_worker {
	tasker_client *client;
	handler_entry *handlers;
	size_t nhandlers;
	const char **names;
	unsigned concurrency, claim_batch, completion_batch, capacity;
	int flush_ms, lease_seconds, poll_ms, shutdown_ms;
	char worker_id[256];

	pthread_mutex_t mu;
	pthread_cond_t work_cv, result_cv;
	tasker_claimed_step **queue;   /* ring of claimed steps waiting for an executor */
	size_t qhead, qlen;
	pending *results;              /* waiting for the completer */
	size_t nresults;
	inflight_claim *claims;        /* every claim held (queued, running, or awaiting its write) */
	size_t nclaims;
	size_t reserved;               /* slots promised to a claim in flight (see reserve_slots) */
	int exiting;                   /* threads should leave */
	int running;

	atomic_int stop_requested;
	_Atomic int64_t drain_deadline; /* µs: a stopping worker gives up on its results then; 0: running */
	int wake[2];                   /* written to on stop and when slots free up */
	atomic_uint_fast64_t processed;
};

#define MAX(a, b) ((a) > (b) ? (a) : (b))

void tasker_step_error_set(tasker_step_error *e, tasker_outcome outcome, int retry_after, const char *code,
                           const char *fmt, ...)
{
	e->outcome = outcome;
	e->retry_after = retry_after;
	snprintf(e->error_code, sizeof e->error_code, "%s", code ? code : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

static void wlog(const tasker_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wlog(const tasker_worker *w, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	tlog_message(TASKER_LOG_WARN, "log.worker", 0, 0, "worker %s: %s", w->worker_id, msg); /* host's log handler */
}

static void poke(tasker_worker *w)
{
	char c = 1;
	ssize_t n = write(w->wake[1], &c, 1);
	(void)n; /* a full pipe already means "wake up" */
}

int tasker_worker_new(tasker_worker **out, tasker_client *client, const tasker_worker_options *o)
{
	*out = NULL;
	tasker_worker_options d = TASKER_WORKER_OPTIONS_INIT;
	if (!o)
		o = &d;
	if (o->version != TASKER_WORKER_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_worker_options.version must be TASKER_WORKER_OPTIONS_VERSION");
	if (o->worker_id && strlen(o->worker_id) >= 256)
		return tasker_set_error(TASKER_EINVAL, "worker_id is longer than 255 characters");
	const tasker_execution_config *x = &tclient_config(client)->execution;
	tasker_worker *w = calloc(1, sizeof *w);
	if (!w)
		return tasker_set_oom();
	w->client = client;
	w->concurrency = o->concurrency ? o->concurrency : (unsigned)x->concurrency;
	w->claim_batch = o->claim_batch ? o->claim_batch : (unsigned)x->claim_batch_size;
	w->completion_batch = o->completion_batch ? o->completion_batch : (unsigned)x->completion_batch_size;
	w->flush_ms = o->completion_flush_ms >= 0 ? o->completion_flush_ms : x->completion_flush_ms;
	w->lease_seconds = o->lease_seconds > 0 ? o->lease_seconds : x->lease_seconds;
	w->poll_ms = o->poll_interval_ms > 0 ? o->poll_interval_ms : x->poll_interval_ms;
	w->shutdown_ms = x->shutdown_timeout_seconds * 1000;
	w->capacity = MAX(w->concurrency, w->claim_batch);
	if (o->worker_id) {
		snprintf(w->worker_id, sizeof w->worker_id, "%s", o->worker_id);
	} else {
		char host[128] = "host";
		gethostname(host, sizeof host - 1);
		snprintf(w->worker_id, sizeof w->worker_id, "%.120s:%d:%08llx", host, (int)getpid(),
		         (unsigned long long)(trand_i63() & 0xffffffff));
	}
	w->queue = calloc(w->capacity, sizeof *w->queue);
	w->results = calloc(w->capacity, sizeof *w->results);
	w->claims = calloc(w->capacity, sizeof *w->claims);
	if (!w->queue || !w->results || !w->claims || pipe(w->wake) != 0) {
		free(w->queue);
		free(w->results);
		free(w->claims);
		free(w);
		return tasker_set_error(TASKER_ENOMEM, "cannot allocate the worker");
	}
	fcntl(w->wake[0], F_SETFL, O_NONBLOCK);
	fcntl(w->wake[1], F_SETFL, O_NONBLOCK);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->result_cv, NULL);
	*out = w;
	return TASKER_OK;
}

void tasker_worker_free(tasker_worker *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nhandlers; i++)
		free(w->handlers[i].handler_class);
	free(w->handlers);
	free(w->names);
	free(w->queue);
	free(w->results);
	free(w->claims);
	close(w->wake[0]);
	close(w->wake[1]);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->result_cv);
	free(w);
}

int tasker_worker_register(tasker_worker *w, const tasker_step_handler *h)
{
	if (!h || h->version != TASKER_STEP_HANDLER_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_step_handler.version must be TASKER_STEP_HANDLER_VERSION");
	if (!h->handler_class || !*h->handler_class)
		return tasker_set_error(TASKER_EINVAL, "a step handler needs a handler_class");
	if (!h->process)
		return tasker_set_error(TASKER_EINVAL, "step handler %s has no process function", h->handler_class);
	for (size_t i = 0; i < w->nhandlers; i++)
		if (strcmp(w->handlers[i].handler_class, h->handler_class) == 0)
			return tasker_set_error(TASKER_EINVAL, "a handler for %s is already registered", h->handler_class);
	handler_entry *hs = realloc(w->handlers, (w->nhandlers + 1) * sizeof *hs);
	if (!hs)
		return tasker_set_oom();
	w->handlers = hs;
	const char **names = realloc(w->names, (w->nhandlers + 1) * sizeof *names);
	if (!names)
		return tasker_set_oom();
	w->names = names;
	handler_entry *e = &w->handlers[w->nhandlers];
	e->h = *h;
	if (!(e->handler_class = tstrdup(h->handler_class)))
		return TASKER_ENOMEM;
	e->h.handler_class = e->handler_class;
	w->names[w->nhandlers] = e->handler_class;
	w->nhandlers++;
	return TASKER_OK;
}

static const handler_entry *find_handler(const tasker_worker *w, const char *cls)
{
	for (size_t i = 0; i < w->nhandlers; i++)
		if (strcmp(w->handlers[i].handler_class, cls) == 0)
			return &w->handlers[i];
	return NULL;
}

static void pending_free(pending *p)
{
	free(p->results);
	free(p->message);
	free(p->error_class);
	free(p->error_code);
	free(p->context);
	free(p->backtrace);
}

/* Runs the handler of one claimed step; fills *p (the step itself is not freed here). */
static void run_handler(const tasker_worker *w, const tasker_claimed_step *s, pending *p)
{
	memset(p, 0, sizeof *p);
	p->r.workflow_step_id = s->workflow_step_id;
	p->r.claim_id = s->claim_id;
	p->r.retry_after = -1;
	int64_t started = tevents_handler_begin(w->client, s, w->worker_id); /* step.before_handle, metrics */
	const handler_entry *e = find_handler(w, s->handler_class);
	tasker_step_error err = {TASKER_OUTCOME_RETRYABLE, -1, "", "", "", NULL, NULL};
	char *out = NULL;
	int rc;
	if (!e) {
		rc = -1;
		tasker_step_error_set(&err, TASKER_OUTCOME_RETRYABLE, -1, "NO_HANDLER",
		                      "no handler is registered for %s in worker %s", s->handler_class, w->worker_id);
	} else {
		rc = e->h.process(&out, s, &err, e->h.payload);
		if (rc == 0 && e->h.process_results) {
			char *final = NULL;
			rc = e->h.process_results(&final, s, out ? out : "null", &err, e->h.payload);
			free(out);
			out = final;
		}
	}
	cJSON *parsed = rc == 0 && out ? tjson_parse(out, "result") : NULL;
	if (rc == 0 && out && !parsed) {
		/* A handler bug, not a transient failure: recorded as a permanent failure that names it,
		 * rather than refused (which would leave the step claimed until its lease expired). Text that
		 * is JSON but that jsonb cannot store (\u0000, 1e999999) is caught here too, with its path. */
		rc = -1;
		tasker_step_error_set(&err, TASKER_OUTCOME_PERMANENT, -1, "INVALID_RESULT",
		                      "the handler for %s returned a result that is not valid JSON or cannot be stored "
		                      "(%s)", s->handler_class, tasker_error_last()->message);
		snprintf(err.error_class, sizeof err.error_class, "%s", "InvalidResultError");
	}
	cJSON_Delete(parsed);
	tevents_handler_end(w->client, s, w->worker_id, started, rc, &err); /* step.handle, metrics */
	if (rc == 0) {
		p->r.outcome = TASKER_OUTCOME_SUCCESS;
		p->results = out;
		p->r.results_json = out;
		free(err.context_json); /* a handler may fill these and then succeed after all */
		free(err.backtrace_json);
		return;
	}
	free(out);
	p->r.outcome = err.outcome == TASKER_OUTCOME_PERMANENT ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE;
	p->message = tstrdup(err.message[0] ? err.message : "the handler failed without a message");
	p->error_class = tstrdup(err.error_class[0] ? err.error_class : "StepError");
	p->error_code = err.error_code[0] ? tstrdup(err.error_code) : NULL;
	p->context = err.context_json;
	p->backtrace = err.backtrace_json;
	p->r.backtrace_json = p->backtrace;
	p->r.error_message = p->message;
	p->r.error_class = p->error_class;
	p->r.error_code = p->error_code;
	p->r.error_context_json = p->context;
	p->r.retry_after = err.retry_after;
}

/* Drops finished claims from the in-flight list and counts them. Caller holds mu. */
static void forget_claims(tasker_worker *w, const pending *done, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < w->nclaims; k++)
			if (w->claims[k].step_id == done[i].r.workflow_step_id) {
				w->claims[k] = w->claims[--w->nclaims];
				break;
			}
	atomic_fetch_add(&w->processed, n);
}

/* Reserves up to `max` executor slots for a claim about to be made, counting `finishing` claims
 * (whose results are being written) as free. Reserving under the lock keeps the dispatcher and the
 * writers of results, which claim concurrently, from overfilling the queue together. */
static size_t reserve_slots(tasker_worker *w, size_t finishing, size_t max)
{
	pthread_mutex_lock(&w->mu);
	size_t used = w->nclaims + w->reserved, want = 0;
	if (!w->exiting && !atomic_load(&w->stop_requested) && used < w->capacity + finishing)
		want = w->capacity + finishing - used;
	if (want > max)
		want = max;
	w->reserved += want;
	pthread_mutex_unlock(&w->mu);
	return want;
}

/* Takes claimed steps into the queue and returns their reservation. Caller holds mu. */
static void adopt_claims(tasker_worker *w, tasker_claimed_step **steps, size_t n, size_t reserved)
{
	for (size_t i = 0; i < n; i++) {
		w->claims[w->nclaims++] = (inflight_claim){steps[i]->workflow_step_id, steps[i]->claim_id};
		w->queue[(w->qhead + w->qlen++) % w->capacity] = steps[i];
	}
	w->reserved -= reserved;
	if (n)
		pthread_cond_broadcast(&w->work_cv);
}

static int claim_options(tasker_claim_options *o, const tasker_worker *w, size_t want)
{
	o->handler_classes = w->names;
	o->handler_class_count = w->nhandlers;
	o->max_steps = (unsigned)want;
	o->worker_id = w->worker_id;
	o->lease_seconds = w->lease_seconds;
	return 0;
}

/* Whether a database error may go away by itself (connection, deadlock, serialization, resources,
 * shutdown), so that writing the same results again makes sense. */
static int transient_sqlstate(const char *state)
{
	static const char *const classes[] = {"08", "40", "53", "55", "57", "58"};
	for (size_t i = 0; state && i < sizeof classes / sizeof classes[0]; i++)
		if (strncmp(state, classes[i], 2) == 0)
			return 1;
	return 0;
}

/* The database refused a batch for its data (a result jsonb cannot hold, say): retrying the batch
 * would fail forever and hold up every result in it. Each result is written alone; one the
 * database still refuses becomes a permanent failure of its step that says why. */
static void record_refused(tasker_worker *w, tasker_step_result *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (tasker_steps_complete(w->client, &rs[i], 1) == TASKER_OK)
			continue;
		char msg[1200];
		snprintf(msg, sizeof msg, "the database refused this step's result: %s", tasker_error_last()->message);
		tasker_step_result f = rs[i];
		f.outcome = TASKER_OUTCOME_PERMANENT;
		f.results_json = NULL;
		f.error_message = msg;
		f.error_class = "ResultRejectedError";
		f.error_code = "RESULT_REJECTED";
		f.error_context_json = NULL;
		f.backtrace_json = NULL;
		f.retry_after = -1;
		if (tasker_steps_complete(w->client, &f, 1) != TASKER_OK)
			wlog(w, "step %lld: neither its result nor its failure could be recorded: %s",
			     (long long)rs[i].workflow_step_id, tasker_error_last()->message);
		rs[i].status = f.status;
		wlog(w, "step %lld: %s", (long long)rs[i].workflow_step_id, msg);
	}
}

/* Writes results, retrying while the database is unreachable (the claims stay valid until their
 * leases expire, and the leases are extended meanwhile). In the same transaction it claims up to
 * `want` more steps for this worker (*claimed, *nclaimed): the next stage of a workflow starts
 * without a claiming transaction of its own. */
static void write_results(tasker_worker *w, pending *batch, size_t n, size_t want, tasker_claimed_step ***claimed,
                          size_t *nclaimed)
{
	*claimed = NULL;
	*nclaimed = 0;
	tasker_step_result *rs = calloc(n, sizeof *rs);
	if (!rs) {
		wlog(w, "out of memory writing %zu results; their steps will be recovered when the leases expire", n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		rs[i] = batch[i].r;
	int delay_ms = 50;
	for (;;) {
		int64_t deadline = atomic_load(&w->drain_deadline);
		if (deadline && ttime_now() >= deadline) {
			wlog(w, "stopping: %zu results not recorded (the database is unreachable); their leases will "
			     "expire and another worker will retry the steps", n);
			break;
		}
		tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
		claim_options(&o, w, want);
		int rc = want ? tasker_steps_complete_and_claim(claimed, nclaimed, w->client, rs, n, &o)
		              : tasker_steps_complete(w->client, rs, n);
		if (rc == TASKER_OK)
			break;
		if (rc != TASKER_ECONN && rc != TASKER_EDB) {
			wlog(w, "results of %zu steps could not be recorded: %s", n, tasker_error_last()->message);
			break;
		}
		if (rc == TASKER_EDB && !transient_sqlstate(tasker_error_last()->sqlstate)) {
			record_refused(w, rs, n);
			break;
		}
		wlog(w, "recording results failed (%s); retrying in %d ms", tasker_error_last()->message, delay_ms);
		usleep((useconds_t)delay_ms * 1000);
		delay_ms = delay_ms < 5000 ? delay_ms * 2 : 5000;
	}
	for (size_t i = 0; i < n; i++)
		if (rs[i].status == TASKER_ECONFLICT)
			wlog(w, "step %lld: result discarded, the claim was lost (lease expired or task cancelled)",
			     (long long)rs[i].workflow_step_id);
		else if (rs[i].status != TASKER_OK)
			wlog(w, "step %lld: result refused (%s)", (long long)rs[i].workflow_step_id,
			     tasker_error_name(rs[i].status));
	free(rs);
}

static void *executor(void *arg)
{
	tasker_worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->qlen == 0 && !w->exiting)
			pthread_cond_wait(&w->work_cv, &w->mu);
		if (w->qlen == 0)
			break;
		tasker_claimed_step *s = w->queue[w->qhead];
		w->qhead = (w->qhead + 1) % w->capacity;
		w->qlen--;
		pthread_mutex_unlock(&w->mu);
		pending p;
		run_handler(w, s, &p);
		tasker_claimed_step_free(s);
		if (w->completion_batch <= 1) {
			size_t want = reserve_slots(w, 1, w->claim_batch), nclaimed;
			tasker_claimed_step **claimed;
			write_results(w, &p, 1, want, &claimed, &nclaimed);
			pthread_mutex_lock(&w->mu);
			forget_claims(w, &p, 1);
			adopt_claims(w, claimed, nclaimed, want);
			free(claimed);
			pending_free(&p);
			if (nclaimed < 1) /* the freed slot was not refilled: the dispatcher may claim */
				poke(w);
		} else {
			pthread_mutex_lock(&w->mu);
			w->results[w->nresults++] = p;
			pthread_cond_signal(&w->result_cv);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void *completer(void *arg)
{
	tasker_worker *w = arg;
	pending *batch = calloc(w->capacity, sizeof *batch);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->nresults == 0 && !w->exiting)
			pthread_cond_wait(&w->result_cv, &w->mu);
		if (w->nresults == 0)
			break;
		/* A partial batch waits up to flush_ms for more results, but only while other claimed steps
		 * are still running (so more results are coming): a lone result, e.g. a stage of a chain,
		 * is written at once, so batching never adds latency to a sequential workflow. */
		if (w->nresults < w->completion_batch && w->flush_ms > 0 && !w->exiting && w->nclaims > w->nresults) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)w->flush_ms * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			while (w->nresults < w->completion_batch && !w->exiting && w->nclaims > w->nresults &&
			       pthread_cond_timedwait(&w->result_cv, &w->mu, &until) != ETIMEDOUT)
				;
		}
		size_t n = w->nresults < w->completion_batch ? w->nresults : w->completion_batch;
		memcpy(batch, w->results, n * sizeof *batch);
		memmove(w->results, w->results + n, (w->nresults - n) * sizeof *w->results);
		w->nresults -= n;
		pthread_mutex_unlock(&w->mu);
		size_t want = reserve_slots(w, n, w->claim_batch), nclaimed = 0;
		tasker_claimed_step **claimed = NULL;
		if (batch)
			write_results(w, batch, n, want, &claimed, &nclaimed);
		pthread_mutex_lock(&w->mu);
		forget_claims(w, batch, n);
		adopt_claims(w, claimed, nclaimed, want);
		free(claimed);
		for (size_t i = 0; i < n; i++)
			pending_free(&batch[i]);
		if (nclaimed < n) /* freed slots were not all refilled: the dispatcher may claim */
			poke(w);
	}
	pthread_mutex_unlock(&w->mu);
	free(batch);
	return NULL;
}

/* ---- the dispatcher */

typedef struct {
	PGconn *conn;
	int64_t retry_at;  /* µs: when to try reconnecting after a failure */
} listener;

static void listener_close(listener *l)
{
	if (l->conn)
		PQfinish(l->conn);
	l->conn = NULL;
}

static void listener_ensure(tasker_worker *w, listener *l)
{
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
		return;
	listener_close(l);
	if (ttime_now() < l->retry_at)
		return;
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {tclient_conninfo(w->client), "tasker-worker-listen", NULL};
	l->conn = PQconnectdbParams(keys, vals, 1);
	PGresult *r = NULL;
	if (PQstatus(l->conn) == CONNECTION_OK)
		r = PQexec(l->conn, "LISTEN " TQUEUE_CHANNEL);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		wlog(w, "cannot LISTEN for wake-ups (%s); polling every %d ms until it works",
		     PQerrorMessage(l->conn), w->poll_ms);
		listener_close(l);
		l->retry_at = ttime_now() + 1000000;
	}
	PQclear(r);
}

/* Sleeps until a NOTIFY, a poke, or timeout_ms. */
static void wait_for_work(tasker_worker *w, listener *l, int timeout_ms)
{
	struct pollfd fds[2] = {{w->wake[0], POLLIN, 0}, {l->conn ? PQsocket(l->conn) : -1, POLLIN, 0}};
	int n = poll(fds, l->conn ? 2 : 1, timeout_ms);
	if (n > 0 && (fds[0].revents & POLLIN)) {
		char buf[64];
		while (read(w->wake[0], buf, sizeof buf) > 0)
			;
	}
	if (l->conn && (n <= 0 || (fds[1].revents & (POLLIN | POLLERR | POLLHUP)))) {
		if (!PQconsumeInput(l->conn)) {
			listener_close(l);
			return;
		}
		PGnotify *note;
		while ((note = PQnotifies(l->conn)))
			PQfreemem(note);
	}
}

static size_t inflight(tasker_worker *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->nclaims;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* Claims up to the free capacity; returns how many were claimed (or a negative error). */
static int claim_more(tasker_worker *w)
{
	size_t want = reserve_slots(w, 0, w->claim_batch);
	if (want == 0)
		return 0;
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	claim_options(&o, w, want);
	tasker_claimed_step **steps = NULL;
	size_t n = 0;
	int rc = tasker_steps_claim(&steps, &n, w->client, &o);
	pthread_mutex_lock(&w->mu);
	adopt_claims(w, steps, rc ? 0 : n, want);
	pthread_mutex_unlock(&w->mu);
	free(steps);
	return rc ? rc : (int)n;
}

static void extend_leases(tasker_worker *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->nclaims;
	inflight_claim *copy = n ? malloc(n * sizeof *copy) : NULL;
	if (copy)
		memcpy(copy, w->claims, n * sizeof *copy);
	pthread_mutex_unlock(&w->mu);
	if (!copy)
		return;
	int64_t *ids = malloc(n * sizeof *ids), *cids = malloc(n * sizeof *cids);
	if (ids && cids) {
		for (size_t i = 0; i < n; i++) {
			ids[i] = copy[i].step_id;
			cids[i] = copy[i].claim_id;
		}
		if (tclaims_extend(w->client, ids, cids, n, w->lease_seconds))
			wlog(w, "extending leases failed: %s", tasker_error_last()->message);
	}
	free(ids);
	free(cids);
	free(copy);
}

/* Gives queued-but-unstarted steps back (no attempt counted) so other workers take them at once. */
static void release_queued(tasker_worker *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->qlen;
	pending *rel = calloc(n + 1, sizeof *rel);
	for (size_t i = 0; rel && i < n; i++) {
		tasker_claimed_step *s = w->queue[(w->qhead + i) % w->capacity];
		rel[i].r.workflow_step_id = s->workflow_step_id;
		rel[i].r.claim_id = s->claim_id;
		rel[i].r.outcome = (tasker_outcome)TOUTCOME_RELEASE;
		rel[i].r.retry_after = 0;
		tasker_claimed_step_free(s);
	}
	w->qlen = 0;
	pthread_mutex_unlock(&w->mu);
	if (rel && n) {
		tasker_claimed_step **none;
		size_t nnone;
		write_results(w, rel, n, 0, &none, &nnone);
		pthread_mutex_lock(&w->mu);
		forget_claims(w, rel, n);
		atomic_fetch_sub(&w->processed, n);
		pthread_mutex_unlock(&w->mu);
	}
	free(rel);
}

static int dispatch(tasker_worker *w, int until_idle)
{
	listener l = {0};
	int64_t next_extend = ttime_now() + (int64_t)w->lease_seconds * 1000000 / 3;
	int64_t next_recover = 0;
	int backoff_ms = 50;
	int rc = TASKER_OK;
	while (!atomic_load(&w->stop_requested)) {
		int64_t now = ttime_now();
		if (now >= next_extend) {
			extend_leases(w);
			next_extend = now + (int64_t)w->lease_seconds * 1000000 / 3;
		}
		if (now >= next_recover) {
			int recovered = 0;
			if (tasker_step_recover_expired(&recovered, w->client) == TASKER_OK && recovered)
				wlog(w, "recovered %d step%s whose worker stopped renewing its lease", recovered,
				     recovered == 1 ? "" : "s");
			next_recover = now + (int64_t)(w->lease_seconds > 2 ? w->lease_seconds / 2 : 1) * 1000000;
		}
		int got = claim_more(w);
		if (got < 0) {
			wlog(w, "claiming failed: %s; retrying in %d ms", tasker_error_last()->message, backoff_ms);
			wait_for_work(w, &l, backoff_ms);
			backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
			continue;
		}
		backoff_ms = 50;
		if (got > 0)
			continue;
		size_t busy = inflight(w);
		int64_t next_ms = -1;
		if (busy < w->capacity && tqueue_next_ready_ms(&next_ms, w->client, w->names, w->nhandlers))
			next_ms = -1;
		if (until_idle && busy == 0 && next_ms < 0)
			break;
		listener_ensure(w, &l);
		int timeout = w->poll_ms;
		if (next_ms >= 0 && next_ms < timeout)
			timeout = (int)next_ms + 1;
		int64_t to_extend = (next_extend - ttime_now()) / 1000;
		if (to_extend < timeout)
			timeout = to_extend > 0 ? (int)to_extend : 0;
		wait_for_work(w, &l, timeout);
	}
	listener_close(&l);
	return rc;
}

static int run(tasker_worker *w, int until_idle)
{
	if (w->nhandlers == 0)
		return tasker_set_error(TASKER_EINVAL, "worker %s has no handlers registered", w->worker_id);
	pthread_mutex_lock(&w->mu);
	if (w->running) {
		pthread_mutex_unlock(&w->mu);
		return tasker_set_error(TASKER_EINVAL, "worker %s is already running", w->worker_id);
	}
	w->running = 1;
	w->exiting = 0;
	pthread_mutex_unlock(&w->mu);
	pthread_t *th = calloc(w->concurrency + 1, sizeof *th);
	if (!th)
		return tasker_set_oom();
	size_t started = 0;
	for (; started < w->concurrency; started++)
		if (pthread_create(&th[started], NULL, executor, w))
			break;
	pthread_t comp;
	int have_comp = pthread_create(&comp, NULL, completer, w) == 0;
	int rc = started ? dispatch(w, until_idle)
	                 : tasker_set_error(TASKER_ERROR, "cannot start worker threads");
	/* Stop: no more claims (writers of results stop handing themselves work too). Steps not
	 * started go back; running ones finish within the timeout. */
	atomic_store(&w->stop_requested, 1);
	int64_t deadline = ttime_now() + (int64_t)w->shutdown_ms * 1000;
	atomic_store(&w->drain_deadline, deadline);
	release_queued(w);
	/* The running handlers keep their claims while they finish: go on extending the leases. */
	int64_t next_extend = ttime_now() + (int64_t)w->lease_seconds * 1000000 / 3;
	while (inflight(w) > 0 && ttime_now() < deadline) {
		usleep(2000);
		if (ttime_now() >= next_extend) {
			extend_leases(w);
			next_extend = ttime_now() + (int64_t)w->lease_seconds * 1000000 / 3;
		}
	}
	if (inflight(w) > 0)
		wlog(w, "%zu step(s) still running at shutdown; their leases will expire and another worker will "
		     "retry them", inflight(w));
	pthread_mutex_lock(&w->mu);
	w->exiting = 1;
	pthread_cond_broadcast(&w->work_cv);
	pthread_cond_broadcast(&w->result_cv);
	pthread_mutex_unlock(&w->mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (have_comp)
		pthread_join(comp, NULL);
	free(th);
	pthread_mutex_lock(&w->mu);
	w->running = 0;
	pthread_mutex_unlock(&w->mu);
	atomic_store(&w->stop_requested, 0);
	atomic_store(&w->drain_deadline, 0);
	return rc;
}

int tasker_worker_run(tasker_worker *w) { return run(w, 0); }
int tasker_worker_run_until_idle(tasker_worker *w) { return run(w, 1); }

void tasker_worker_stop(tasker_worker *w)
{
	atomic_store(&w->stop_requested, 1);
	poke(w);
}

uint64_t tasker_worker_processed(const tasker_worker *w) { return atomic_load(&w->processed); }

int tasker_worker_execute_step(tasker_worker *w, int64_t step_id)
{
	char *cls = NULL;
	int rc = tqueue_handler_of(&cls, w->client, step_id);
	if (rc)
		return rc;
	int known = find_handler(w, cls) != NULL;
	if (!known)
		rc = tasker_set_error(TASKER_ENOTFOUND, "no handler is registered for %s (step %lld)", cls,
		                      (long long)step_id);
	free(cls);
	if (rc)
		return rc;
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.worker_id = w->worker_id;
	o.lease_seconds = w->lease_seconds;
	tasker_claimed_step *s;
	if ((rc = tasker_step_claim(&s, w->client, step_id, &o)))
		return rc;
	pending p;
	run_handler(w, s, &p);
	tasker_claimed_step_free(s);
	rc = tasker_steps_complete(w->client, &p.r, 1);
	if (!rc && p.r.status)
		rc = p.r.status == TASKER_ECONFLICT ? TASKER_ECONFLICT
		                                    : tasker_set_error(p.r.status, "step %lld: result refused",
		                                                       (long long)step_id);
	if (!rc)
		atomic_fetch_add(&w->processed, 1);
	pending_free(&p);
	return rc;
}
