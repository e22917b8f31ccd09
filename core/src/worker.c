/*
 * worker.c — the worker: claims steps, hands them out, and records what became of them. Its own threads
 * (the dispatcher and the completer) claim in batches and sleep on LISTEN/NOTIFY when there is nothing to
 * do, extend the leases of every step they hold, recover expired leases of dead workers, and write
 * results in batches; steps go out to the host through tasker_worker_next / tasker_worker_fd and come
 * back through tasker_worker_finish, so a language runtime runs handlers on its own threads or event
 * loop and the core never calls into it. The callback API (tasker_worker_register + run) is a host
 * like any other: executor threads that take steps with next and run C handlers. Decides nothing about
 * readiness or retries: it only moves claimed steps through the host to tasker_steps_complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "client.h"
#include "complete.h"
#include "config.h"
#include "error.h"
#include "events.h"
#include "logging.h"
#include "queue.h"
#include "util.h"

typedef struct {
	tasker_step_handler h; /* h.process NULL: declared for a host (tasker_worker_declare) */
	char *handler_class;
} handler_entry;

/* A result waiting to be written, owning its strings. */
typedef struct {
	tasker_step_result r;
	char *results, *message, *error_class, *error_code, *context, *backtrace;
} pending;

/* Every claim the worker holds, from the claim until its result is written (or it is released). */
typedef struct {
	int64_t step_id, claim_id;
	tasker_claimed_step *step; /* owned while queued or out with the host; NULL once finished */
	int out;                   /* handed to the host and not finished yet */
	int64_t started;           /* when it was handed out (step.handle's duration, metrics) */
} inflight_claim;

/* Where the machinery (dispatcher and completer threads) is. */
enum { W_IDLE, W_RUNNING, W_STOPPING, W_DONE };

struct tasker_worker {
	tasker_client *client;
	handler_entry *handlers;
	size_t nhandlers;
	const char **names;
	unsigned concurrency, claim_batch, completion_batch, capacity;
	int flush_ms, lease_seconds, poll_ms, shutdown_ms;
	char worker_id[256];

	pthread_mutex_t mu;
	pthread_cond_t result_cv, host_cv, state_cv;
	tasker_claimed_step **queue;   /* ring of claimed steps waiting for the host */
	size_t qhead, qlen;
	pending *results;              /* finished, waiting for the completer */
	size_t nresults, results_cap;
	inflight_claim *claims;
	size_t nclaims, claims_cap;
	size_t nout;                   /* claims out with the host */
	size_t reserved;               /* slots promised to a claim in flight (see reserve_slots) */
	int exiting;                   /* the completer should leave once its results are written */
	int state;                     /* W_* */
	int joining;                   /* a tasker_worker_wait is joining the dispatcher thread */
	int until_idle;                /* the machinery stops by itself once nothing is left to do */
	int db_idle;                   /* the dispatcher found nothing claimable, now or in a backoff */
	uint64_t generation;           /* bumped whenever written results may have made work ready */
	int host_signaled;             /* host_fd holds its byte */
	pthread_t dispatcher_th, completer_th;

	atomic_int stop_requested;
	_Atomic int64_t drain_deadline; /* µs: a stopping worker gives up on its results then; 0: running */
	int wake[2];                   /* written to on stop and when slots free up */
	int host_fd[2];                /* readable exactly while tasker_worker_next(…, 0) has an answer */
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

/* Whether tasker_worker_next(…, 0) has an answer now: a step, or TASKER_ESTOPPED. Caller holds mu. */
static int host_ready(const tasker_worker *w)
{
	return (w->qlen > 0 && w->nout < w->concurrency) || w->state != W_RUNNING;
}

/* Keeps host_fd readable exactly while host_ready holds, and wakes threads waiting in next. Called
 * under mu after every change of the queue, the steps out, or the state. */
static void host_refresh(tasker_worker *w)
{
	int ready = host_ready(w);
	if (ready && !w->host_signaled) {
		char c = 1;
		w->host_signaled = write(w->host_fd[1], &c, 1) == 1;
	} else if (!ready && w->host_signaled) {
		char c;
		w->host_signaled = read(w->host_fd[0], &c, 1) != 1;
	}
	if (ready)
		pthread_cond_broadcast(&w->host_cv);
}

static int make_pipe(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

/* Refuses a concurrency — `given` in the options, else `configured` (execution.concurrency) — above
 * TASKER_WORKER_MAX_CONCURRENCY, naming it. */
static int concurrency_too_large(unsigned given, int configured)
{
	unsigned long long v = given ? given : (unsigned long long)configured;
	if (v <= TASKER_WORKER_MAX_CONCURRENCY)
		return 0;
	tasker_set_error(TASKER_EINVAL, "%s %llu is above the limit of %d steps at once",
	                 given ? "concurrency" : "execution.concurrency", v, TASKER_WORKER_MAX_CONCURRENCY);
	return 1;
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
	if (concurrency_too_large(o->concurrency, x->concurrency))
		return TASKER_EINVAL;
	tasker_worker *w = calloc(1, sizeof *w);
	if (!w)
		return tasker_set_oom();
	w->client = client;
	w->concurrency = o->concurrency ? o->concurrency : (unsigned)x->concurrency;
	w->claim_batch = o->claim_batch ? o->claim_batch : (unsigned)x->claim_batch_size;
	if (w->claim_batch > TASKER_WORKER_MAX_CONCURRENCY) /* a claim takes at most 256 steps anyway */
		w->claim_batch = TASKER_WORKER_MAX_CONCURRENCY;
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
	w->wake[0] = w->wake[1] = w->host_fd[0] = w->host_fd[1] = -1;
	if (!w->queue || make_pipe(w->wake) || make_pipe(w->host_fd)) {
		for (int i = 0; i < 2; i++) {
			if (w->wake[i] >= 0)
				close(w->wake[i]);
			if (w->host_fd[i] >= 0)
				close(w->host_fd[i]);
		}
		free(w->queue);
		free(w);
		return tasker_set_error(TASKER_ENOMEM, "cannot allocate the worker");
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->result_cv, NULL);
	pthread_cond_init(&w->host_cv, NULL);
	pthread_cond_init(&w->state_cv, NULL);
	pthread_mutex_lock(&w->mu);
	host_refresh(w); /* not started: next answers TASKER_ESTOPPED */
	pthread_mutex_unlock(&w->mu);
	*out = w;
	return TASKER_OK;
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

void tasker_worker_free(tasker_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	int started = w->state != W_IDLE;
	pthread_mutex_unlock(&w->mu);
	if (started) {
		tasker_worker_stop(w);
		tasker_worker_wait(w, -1);
	}
	for (size_t i = 0; i < w->nhandlers; i++)
		free(w->handlers[i].handler_class);
	free(w->handlers);
	free(w->names);
	for (size_t i = 0; i < w->nclaims; i++)
		tasker_claimed_step_free(w->claims[i].step); /* queued, or out with a host that never finished */
	for (size_t i = 0; i < w->nresults; i++)
		pending_free(&w->results[i]);
	free(w->queue);
	free(w->results);
	free(w->claims);
	for (int i = 0; i < 2; i++) {
		close(w->wake[i]);
		close(w->host_fd[i]);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->result_cv);
	pthread_cond_destroy(&w->host_cv);
	pthread_cond_destroy(&w->state_cv);
	free(w);
}

static const handler_entry *find_handler(const tasker_worker *w, const char *cls)
{
	for (size_t i = 0; i < w->nhandlers; i++)
		if (strcmp(w->handlers[i].handler_class, cls) == 0)
			return &w->handlers[i];
	return NULL;
}

static int add_handler(tasker_worker *w, const tasker_step_handler *h)
{
	pthread_mutex_lock(&w->mu);
	int busy = w->state != W_IDLE;
	pthread_mutex_unlock(&w->mu);
	if (busy)
		return tasker_set_error(TASKER_EINVAL, "worker %s is running: declare and register handlers before "
		                        "starting it", w->worker_id);
	if (find_handler(w, h->handler_class))
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

int tasker_worker_register(tasker_worker *w, const tasker_step_handler *h)
{
	if (!h || h->version != TASKER_STEP_HANDLER_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_step_handler.version must be TASKER_STEP_HANDLER_VERSION");
	if (!h->handler_class || !*h->handler_class)
		return tasker_set_error(TASKER_EINVAL, "a step handler needs a handler_class");
	if (!h->process)
		return tasker_set_error(TASKER_EINVAL, "step handler %s has no process function", h->handler_class);
	return add_handler(w, h);
}

int tasker_worker_declare(tasker_worker *w, const char *handler_class)
{
	if (!handler_class || !*handler_class)
		return tasker_set_error(TASKER_EINVAL, "tasker_worker_declare needs a handler_class");
	tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, handler_class, NULL, NULL, NULL};
	return add_handler(w, &h);
}

/* ---- what a handler's outcome becomes */

/* Turns a handler's outcome (rc 0 with `out`, or a failure described by *err; both owned here) into the
 * result to record: a success whose output is not JSON becomes a permanent failure that names the
 * handler (a handler bug, not a transient failure; refusing it would leave the step claimed until its
 * lease expired). Fires step.handle and counts the run. */
static void settle(tasker_worker *w, const tasker_claimed_step *s, int64_t started, int rc, char *out,
                   tasker_step_error *err, pending *p)
{
	memset(p, 0, sizeof *p);
	p->r.workflow_step_id = s->workflow_step_id;
	p->r.claim_id = s->claim_id;
	p->r.retry_after = -1;
	cJSON *parsed = rc == 0 && out ? tjson_parse(out, "result") : NULL;
	if (rc == 0 && out && !parsed) {
		/* Text that is JSON but that jsonb cannot store (\u0000, 1e999999) is caught here too, with its
		 * path. */
		rc = -1;
		tasker_step_error_set(err, TASKER_OUTCOME_PERMANENT, -1, "INVALID_RESULT",
		                      "the handler for %s returned a result that is not valid JSON or cannot be stored "
		                      "(%s)", s->handler_class, tasker_error_last()->message);
		snprintf(err->error_class, sizeof err->error_class, "%s", "InvalidResultError");
	}
	cJSON_Delete(parsed);
	tevents_handler_end(tclient_events(w->client), s, w->worker_id, started, rc, err); /* step.handle, metrics */
	if (rc == 0) {
		p->r.outcome = TASKER_OUTCOME_SUCCESS;
		p->results = out;
		p->r.results_json = out;
		free(err->context_json); /* a handler may fill these and then succeed after all */
		free(err->backtrace_json);
		return;
	}
	free(out);
	p->r.outcome = err->outcome == TASKER_OUTCOME_PERMANENT ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE;
	p->message = tstrdup(err->message[0] ? err->message : "the handler failed without a message");
	p->error_class = tstrdup(err->error_class[0] ? err->error_class : "StepError");
	p->error_code = err->error_code[0] ? tstrdup(err->error_code) : NULL;
	p->context = err->context_json;
	p->backtrace = err->backtrace_json;
	p->r.backtrace_json = p->backtrace;
	p->r.error_message = p->message;
	p->r.error_class = p->error_class;
	p->r.error_code = p->error_code;
	p->r.error_context_json = p->context;
	p->r.retry_after = err->retry_after;
}

/* Runs the C handler of one claimed step; fills *p (the step itself is not freed here). */
static void run_handler(tasker_worker *w, const tasker_claimed_step *s, int64_t started, pending *p)
{
	const handler_entry *e = find_handler(w, s->handler_class);
	tasker_step_error err = {TASKER_OUTCOME_RETRYABLE, -1, "", "", "", NULL, NULL};
	char *out = NULL;
	int rc;
	if (!e || !e->h.process) {
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
	settle(w, s, started, rc, out, &err, p);
}

/* A host's tasker_step_result as a handler's outcome (copies everything). */
static int from_result(const tasker_step_result *r, char **out, tasker_step_error *err)
{
	*out = NULL;
	if (r->outcome == TASKER_OUTCOME_SUCCESS) {
		if (r->results_json && !(*out = tstrdup(r->results_json)))
			return TASKER_ENOMEM;
		return 0;
	}
	tasker_step_error_set(err, r->outcome, r->retry_after, r->error_code, "%s",
	                      r->error_message ? r->error_message : "");
	snprintf(err->error_class, sizeof err->error_class, "%s", r->error_class ? r->error_class : "");
	err->context_json = r->error_context_json ? tstrdup(r->error_context_json) : NULL;
	err->backtrace_json = r->backtrace_json ? tstrdup(r->backtrace_json) : NULL;
	return -1;
}

/* ---- the claims the worker holds */

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = n;
	return 0;
}

static inflight_claim *claim_of(tasker_worker *w, const tasker_claimed_step *s)
{
	for (size_t i = 0; i < w->nclaims; i++)
		if (w->claims[i].step == s)
			return &w->claims[i];
	return NULL;
}

static void drop_claim(tasker_worker *w, int64_t step_id)
{
	for (size_t k = 0; k < w->nclaims; k++)
		if (w->claims[k].step_id == step_id && !w->claims[k].step) {
			w->claims[k] = w->claims[--w->nclaims];
			return;
		}
}

/* Drops claims whose results were written and counts them; the results may have made steps ready.
 * Caller holds mu. */
static void forget_claims(tasker_worker *w, const pending *done, size_t n)
{
	for (size_t i = 0; i < n; i++)
		drop_claim(w, done[i].r.workflow_step_id);
	atomic_fetch_add(&w->processed, n);
	w->generation++;
	w->db_idle = 0;
}

/* Reserves up to `max` slots for a claim about to be made, counting `finishing` claims (whose results
 * are being written) as free. Reserving under the lock keeps the dispatcher and the writers of
 * results, which claim concurrently, from overfilling the queue together. */
static size_t reserve_slots(tasker_worker *w, size_t finishing, size_t max)
{
	pthread_mutex_lock(&w->mu);
	size_t used = w->nclaims + w->reserved, want = 0;
	if (w->state == W_RUNNING && !atomic_load(&w->stop_requested) && used < w->capacity + finishing)
		want = w->capacity + finishing - used;
	if (want > max)
		want = max;
	w->reserved += want;
	pthread_mutex_unlock(&w->mu);
	return want;
}

/* Takes claimed steps into the queue for the host and returns their reservation. Caller holds mu. A
 * step that cannot be tracked (no memory) is left to its lease. */
static void adopt_claims(tasker_worker *w, tasker_claimed_step **steps, size_t n, size_t reserved)
{
	for (size_t i = 0; i < n; i++) {
		if (grow((void **)&w->claims, &w->claims_cap, w->nclaims + 1, sizeof *w->claims) ||
		    w->qlen >= w->capacity) {
			wlog(w, "step %lld: cannot queue it; its lease will expire", (long long)steps[i]->workflow_step_id);
			tasker_claimed_step_free(steps[i]);
			continue;
		}
		w->claims[w->nclaims++] = (inflight_claim){steps[i]->workflow_step_id, steps[i]->claim_id, steps[i], 0, 0};
		w->queue[(w->qhead + w->qlen++) % w->capacity] = steps[i];
	}
	w->reserved -= reserved;
	if (n)
		host_refresh(w);
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
		              : tcomplete(w->client, rs, n); /* releases use an internal outcome */
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

/* Writes `n` finished results (and claims more in the same transaction when slots are free), then
 * adopts what it claimed. `finishing` of the results' claims count as free slots. */
static void write_and_refill(tasker_worker *w, pending *batch, size_t n)
{
	size_t want = reserve_slots(w, n, w->claim_batch), nclaimed = 0;
	tasker_claimed_step **claimed = NULL;
	write_results(w, batch, n, want, &claimed, &nclaimed);
	pthread_mutex_lock(&w->mu);
	forget_claims(w, batch, n);
	adopt_claims(w, claimed, nclaimed, want);
	pthread_mutex_unlock(&w->mu);
	free(claimed);
	for (size_t i = 0; i < n; i++)
		pending_free(&batch[i]);
	if (nclaimed < n) /* freed slots were not all refilled: the dispatcher may claim */
		poke(w);
}

static void *completer(void *arg)
{
	tasker_worker *w = arg;
	pending *batch = NULL;
	size_t batch_cap = 0;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->nresults == 0 && !w->exiting)
			pthread_cond_wait(&w->result_cv, &w->mu);
		if (w->nresults == 0)
			break;
		/* A partial batch waits up to flush_ms for more results, but only while other claimed steps
		 * are still out (so more results are coming): a lone result, e.g. a stage of a chain, is
		 * written at once, so batching never adds latency to a sequential workflow. */
		if (w->nresults < w->completion_batch && w->flush_ms > 0 && !w->exiting && w->nclaims > w->nresults) {
			struct timespec until;
			ttime_after_ms(&until, w->flush_ms);
			while (w->nresults < w->completion_batch && !w->exiting && w->nclaims > w->nresults &&
			       pthread_cond_timedwait(&w->result_cv, &w->mu, &until) != ETIMEDOUT)
				;
		}
		size_t n = w->nresults < w->completion_batch ? w->nresults : w->completion_batch;
		if (grow((void **)&batch, &batch_cap, n, sizeof *batch)) {
			pthread_mutex_unlock(&w->mu);
			usleep(10000); /* out of memory: try again shortly */
			pthread_mutex_lock(&w->mu);
			continue;
		}
		memcpy(batch, w->results, n * sizeof *batch);
		memmove(w->results, w->results + n, (w->nresults - n) * sizeof *w->results);
		w->nresults -= n;
		pthread_mutex_unlock(&w->mu);
		write_and_refill(w, batch, n);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	free(batch);
	return NULL;
}

/* ---- handing steps out and taking them back */

/* Takes the next step waiting for the host (see tasker_worker_next). */
static int take(tasker_claimed_step **out, tasker_worker *w, int timeout_ms)
{
	*out = NULL;
	struct timespec until;
	ttime_after_ms(&until, timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&w->mu);
	while (!host_ready(w)) {
		int rc = timeout_ms == 0 ? ETIMEDOUT : tcancel_cond_wait(&w->host_cv, &w->mu, timeout_ms < 0 ? NULL : &until);
		if (rc == TASKER_ECANCELED || (rc == ETIMEDOUT && !host_ready(w))) {
			pthread_mutex_unlock(&w->mu);
			return rc == ETIMEDOUT ? TASKER_ETIMEOUT : tcancel_error("waiting for a step");
		}
	}
	if (w->qlen == 0 || w->nout >= w->concurrency) {
		pthread_mutex_unlock(&w->mu);
		return TASKER_ESTOPPED;
	}
	tasker_claimed_step *s = w->queue[w->qhead];
	w->qhead = (w->qhead + 1) % w->capacity;
	w->qlen--;
	inflight_claim *c = claim_of(w, s);
	c->out = 1;
	w->nout++;
	host_refresh(w);
	pthread_mutex_unlock(&w->mu);
	int64_t started = tevents_handler_begin(tclient_events(w->client), s, w->worker_id); /* step.before_handle, metrics */
	pthread_mutex_lock(&w->mu);
	if ((c = claim_of(w, s)))
		c->started = started;
	pthread_mutex_unlock(&w->mu);
	*out = s;
	return TASKER_OK;
}

int tasker_worker_next(tasker_claimed_step **out, tasker_worker *w, int timeout_ms)
{
	int rc = take(out, w, timeout_ms);
	if (rc == TASKER_ETIMEOUT)
		return tasker_set_error(rc, "worker %s: no step came within %d ms", w->worker_id, timeout_ms);
	if (rc == TASKER_ESTOPPED)
		return tasker_set_error(rc, "worker %s is not running: it hands out no more steps", w->worker_id);
	return rc;
}

int tasker_worker_fd(const tasker_worker *w) { return w->host_fd[0]; }

unsigned int tasker_worker_concurrency(const tasker_worker *w) { return w->concurrency; }

/* The host gives `s` back: the claim is no longer out. *started receives when it was handed out.
 * TASKER_EINVAL when `s` is not out with the host. */
static int detach(tasker_worker *w, const tasker_claimed_step *s, int64_t *started)
{
	pthread_mutex_lock(&w->mu);
	inflight_claim *c = s ? claim_of(w, s) : NULL;
	if (!c || !c->out) {
		pthread_mutex_unlock(&w->mu);
		return tasker_set_error(TASKER_EINVAL, "worker %s: this step was not handed out by this worker, or "
		                        "was already finished", w->worker_id);
	}
	*started = c->started;
	c->out = 0;
	c->step = NULL;
	w->nout--;
	host_refresh(w);
	pthread_mutex_unlock(&w->mu);
	return TASKER_OK;
}

/* Records a detached step's result: queued for the completer while the machinery runs (or, for the
 * callback API with batching off, written at once by the calling executor, which then claims its own
 * next step); written once, on the calling thread, when the machinery is not running. */
static int deliver(tasker_worker *w, pending *p, int direct)
{
	pthread_mutex_lock(&w->mu);
	int up = w->state == W_RUNNING || w->state == W_STOPPING;
	if (up && direct && w->completion_batch <= 1) {
		pthread_mutex_unlock(&w->mu);
		write_and_refill(w, p, 1);
		return TASKER_OK;
	}
	if (up && !grow((void **)&w->results, &w->results_cap, w->nresults + 1, sizeof *w->results)) {
		w->results[w->nresults++] = *p;
		pthread_cond_signal(&w->result_cv);
		pthread_mutex_unlock(&w->mu);
		return TASKER_OK;
	}
	drop_claim(w, p->r.workflow_step_id);
	pthread_mutex_unlock(&w->mu);
	int rc = tasker_steps_complete(w->client, &p->r, 1);
	if (!rc && p->r.status)
		rc = p->r.status == TASKER_ECONFLICT
		         ? tasker_set_error(TASKER_ECONFLICT, "step %lld: result discarded, the claim was lost",
		                            (long long)p->r.workflow_step_id)
		         : tasker_set_error(p->r.status, "step %lld: result refused", (long long)p->r.workflow_step_id);
	if (!rc)
		atomic_fetch_add(&w->processed, 1);
	pending_free(p);
	return rc;
}

int tasker_worker_finish(tasker_worker *w, tasker_claimed_step *step, const tasker_step_result *result)
{
	if (!result)
		return tasker_set_error(TASKER_EINVAL, "tasker_worker_finish needs a result");
	if (result->outcome != TASKER_OUTCOME_SUCCESS && result->outcome != TASKER_OUTCOME_RETRYABLE &&
	    result->outcome != TASKER_OUTCOME_PERMANENT)
		return tasker_set_error(TASKER_EINVAL, "tasker_worker_finish: outcome %d is not a tasker_outcome",
		                        (int)result->outcome);
	int64_t started;
	int rc = detach(w, step, &started);
	if (rc)
		return rc;
	tasker_step_error err = {TASKER_OUTCOME_RETRYABLE, -1, "", "", "", NULL, NULL};
	char *out = NULL;
	int hrc = from_result(result, &out, &err);
	pending p;
	settle(w, step, started, hrc, out, &err, &p);
	tasker_claimed_step_free(step);
	return deliver(w, &p, 0);
}

/* Delegation: claims exactly this step if this worker runs its handler_class (a C handler when
 * `need_process`, else a declared one too). */
static int claim_exact(tasker_claimed_step **out, tasker_worker *w, int64_t step_id, int need_process)
{
	char *cls = NULL;
	int rc = tqueue_handler_of(&cls, w->client, step_id);
	if (rc)
		return rc;
	const handler_entry *e = find_handler(w, cls);
	if (!e || (need_process && !e->h.process))
		rc = tasker_set_error(TASKER_ENOTFOUND, "no handler is registered for %s (step %lld) in worker %s", cls,
		                      (long long)step_id, w->worker_id);
	free(cls);
	if (rc)
		return rc;
	tasker_claim_options o = TASKER_CLAIM_OPTIONS_INIT;
	o.worker_id = w->worker_id;
	o.lease_seconds = w->lease_seconds;
	return tasker_step_claim(out, w->client, step_id, &o);
}

int tasker_worker_claim_step(tasker_claimed_step **out, tasker_worker *w, int64_t step_id)
{
	*out = NULL;
	tasker_claimed_step *s;
	int rc = claim_exact(&s, w, step_id, 0);
	if (rc)
		return rc;
	int64_t started = tevents_handler_begin(tclient_events(w->client), s, w->worker_id);
	pthread_mutex_lock(&w->mu);
	if (grow((void **)&w->claims, &w->claims_cap, w->nclaims + 1, sizeof *w->claims)) {
		pthread_mutex_unlock(&w->mu);
		tasker_claimed_step_free(s);
		return tasker_set_oom();
	}
	w->claims[w->nclaims++] = (inflight_claim){s->workflow_step_id, s->claim_id, s, 1, started};
	w->nout++;
	host_refresh(w);
	pthread_mutex_unlock(&w->mu);
	*out = s;
	return TASKER_OK;
}

int tasker_worker_idle(tasker_worker *w)
{
	pthread_mutex_lock(&w->mu);
	int idle = w->state == W_RUNNING && w->db_idle && w->qlen == 0 && w->nclaims == 0 && w->nresults == 0;
	pthread_mutex_unlock(&w->mu);
	return idle;
}

/* ---- the dispatcher */

/* The dispatcher's own connection (not from the pool) that LISTENs for wake-ups, while the worker may
 * claim: a notification costs the server a transaction in each listening backend, so a worker whose
 * slots are all taken, and that was woken for nothing, stops listening until it claims again. */
typedef struct {
	tdb *db;
	int listening;     /* LISTEN in effect on db */
	int64_t retry_at;  /* µs: when to try reconnecting after a failure */
} listener;

static void listener_close(listener *l)
{
	tdb_close(l->db);
	l->db = NULL;
	l->listening = 0;
}

/* Listens (connecting first if need be). Before a claim: a step made ready after the claim looked is
 * then announced to this worker. */
static void listener_listen(tasker_worker *w, listener *l)
{
	if (l->db && tdb_is_broken(l->db))
		listener_close(l);
	if (l->listening)
		return;
	if (!l->db && ttime_now() < l->retry_at)
		return;
	int rc = l->db ? TASKER_OK : tdb_connect(&l->db, tclient_conninfo(w->client), "tasker-worker-listen");
	if (!rc)
		rc = tdb_exec_simple(l->db, "LISTEN " TQUEUE_CHANNEL, "listening for wake-ups");
	if (rc) {
		wlog(w, "cannot LISTEN for wake-ups (%s); polling every %d ms until it works",
		     tasker_error_last()->message, w->poll_ms);
		listener_close(l);
		l->retry_at = ttime_now() + 1000000;
		return;
	}
	l->listening = 1;
}

/* Stops listening (the connection stays open for the next LISTEN). */
static void listener_quiet(listener *l)
{
	if (!l->listening)
		return;
	if (tdb_exec_simple(l->db, "UNLISTEN *", "no longer listening for wake-ups"))
		listener_close(l);
	l->listening = 0;
}

/* Sleeps until a NOTIFY, a poke, or timeout_ms; returns whether a notification came. */
static int wait_for_work(tasker_worker *w, listener *l, int timeout_ms)
{
	int got = tdb_wait_notify(l->db, w->wake[0], timeout_ms);
	if (got < 0)
		listener_close(l);
	char buf[64];
	while (read(w->wake[0], buf, sizeof buf) > 0)
		;
	return got > 0;
}

static size_t inflight(tasker_worker *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->nclaims;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* Claims up to the free capacity; returns how many were claimed (or a negative error), and in *wanted
 * how many slots were free (0: every slot is held, or being refilled by a completion in flight). */
static int claim_more(tasker_worker *w, listener *l, size_t *wanted)
{
	size_t want = *wanted = reserve_slots(w, 0, w->claim_batch);
	if (want == 0)
		return 0;
	listener_listen(w, l);
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

/* Gives steps still waiting for the host back (no attempt counted) so other workers take them at once. */
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
		claim_of(w, s)->step = NULL;
		tasker_claimed_step_free(s);
	}
	if (rel)
		w->qlen = 0;
	host_refresh(w);
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

/* After a claim found nothing: whether anything this worker runs is ready or in a backoff. Records
 * the answer for tasker_worker_idle unless results written meanwhile may have changed it. */
static int64_t look_ahead(tasker_worker *w, size_t busy, uint64_t generation)
{
	int64_t next_ms = -1;
	if (busy >= w->capacity)
		return -1;
	int rc = tqueue_next_ready_ms(&next_ms, w->client, w->names, w->nhandlers);
	pthread_mutex_lock(&w->mu);
	if (w->generation == generation)
		w->db_idle = rc == TASKER_OK && next_ms < 0;
	pthread_mutex_unlock(&w->mu);
	return rc ? -1 : next_ms;
}

/* Announces (here) or withdraws this worker's presence and handler classes (presence.c), so that a
 * ready step no running worker can take is reported as waiting for a handler. Renewed with the leases. */
static void present(tasker_worker *w, int here)
{
	int rc = here ? tasker_worker_presence_announce(w->client, w->worker_id, w->names, w->nhandlers, w->lease_seconds)
	              : tasker_worker_presence_withdraw(w->client, w->worker_id);
	if (rc)
		wlog(w, "recording the worker's presence failed: %s", tasker_error_last()->message);
}

static void dispatch(tasker_worker *w)
{
	listener l = {0};
	int64_t next_extend = ttime_now() + (int64_t)w->lease_seconds * 1000000 / 3;
	int64_t next_recover = 0;
	int backoff_ms = 50, notified = 0;
	present(w, 1);
	while (!atomic_load(&w->stop_requested)) {
		int64_t now = ttime_now();
		if (now >= next_extend) {
			present(w, 1);
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
		pthread_mutex_lock(&w->mu);
		uint64_t generation = w->generation;
		pthread_mutex_unlock(&w->mu);
		size_t wanted = 0;
		int got = claim_more(w, &l, &wanted);
		if (got < 0) {
			wlog(w, "claiming failed: %s; retrying in %d ms", tasker_error_last()->message, backoff_ms);
			notified = wait_for_work(w, &l, backoff_ms);
			backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
			continue;
		}
		backoff_ms = 50;
		if (got > 0)
			continue;
		int64_t next_ms = -1;
		if (wanted) { /* a claim found nothing: what is in a backoff, and whether anything is left */
			size_t busy = inflight(w);
			next_ms = look_ahead(w, busy, generation);
			if (w->until_idle && busy == 0 && next_ms < 0)
				break;
		} else if (notified) {
			/* No slot free, and woken for nothing: the steps held are finished by writers of results
			 * that claim the next ones themselves, and poke when they claim fewer. */
			listener_quiet(&l);
		}
		int timeout = w->poll_ms;
		if (next_ms >= 0 && next_ms < timeout)
			timeout = (int)next_ms + 1;
		int64_t to_extend = (next_extend - ttime_now()) / 1000;
		if (to_extend < timeout)
			timeout = to_extend > 0 ? (int)to_extend : 0;
		notified = wait_for_work(w, &l, timeout);
	}
	listener_close(&l);
}

/* Stops: no more claims (writers of results stop handing themselves work too). Steps waiting for the
 * host go back; steps out with the host may still finish within the shutdown timeout, and their
 * leases are extended meanwhile; the completer writes every result it has. */
static void shut_down(tasker_worker *w)
{
	atomic_store(&w->stop_requested, 1);
	int64_t deadline = ttime_now() + (int64_t)w->shutdown_ms * 1000;
	atomic_store(&w->drain_deadline, deadline);
	pthread_mutex_lock(&w->mu);
	w->state = W_STOPPING;
	host_refresh(w);
	pthread_mutex_unlock(&w->mu);
	present(w, 0);
	/* A writer of results may be claiming on a reservation made before the stop: what it claims joins
	 * the queue only when its transaction ends, so the queue is given back after that, or those steps
	 * would wait for a host that has been told no more will come. */
	pthread_mutex_lock(&w->mu);
	while (w->reserved > 0 && ttime_now() < deadline) {
		pthread_mutex_unlock(&w->mu);
		usleep(1000);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	release_queued(w);
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
	pthread_cond_broadcast(&w->result_cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->completer_th, NULL);
	atomic_store(&w->drain_deadline, 0);
	/* A stop made while stopping (a host noticing the stop, say) must not stay pending for the next
	 * run: the request is cleared only once the state says the machinery is done. */
	pthread_mutex_lock(&w->mu);
	w->state = W_DONE;
	host_refresh(w);
	pthread_cond_broadcast(&w->state_cv);
	pthread_mutex_unlock(&w->mu);
	atomic_store(&w->stop_requested, 0);
}

static void *machinery(void *arg)
{
	tasker_worker *w = arg;
	dispatch(w);
	shut_down(w);
	return NULL;
}

static int start(tasker_worker *w, int until_idle)
{
	if (w->nhandlers == 0)
		return tasker_set_error(TASKER_EINVAL, "worker %s has no handlers registered", w->worker_id);
	pthread_mutex_lock(&w->mu);
	if (w->state != W_IDLE) {
		pthread_mutex_unlock(&w->mu);
		return tasker_set_error(TASKER_EINVAL, "worker %s is already running", w->worker_id);
	}
	w->state = W_RUNNING;
	w->exiting = 0;
	w->db_idle = 0;
	w->until_idle = until_idle;
	host_refresh(w);
	pthread_mutex_unlock(&w->mu);
	if (pthread_create(&w->completer_th, NULL, completer, w) == 0) {
		if (pthread_create(&w->dispatcher_th, NULL, machinery, w) == 0)
			return TASKER_OK;
		pthread_mutex_lock(&w->mu);
		w->exiting = 1;
		pthread_cond_broadcast(&w->result_cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->completer_th, NULL);
	}
	pthread_mutex_lock(&w->mu);
	w->state = W_IDLE;
	host_refresh(w);
	pthread_mutex_unlock(&w->mu);
	return tasker_set_error(TASKER_ERROR, "cannot start the threads of worker %s", w->worker_id);
}

int tasker_worker_start(tasker_worker *w) { return start(w, 0); }

int tasker_worker_wait(tasker_worker *w, int timeout_ms)
{
	struct timespec until;
	ttime_after_ms(&until, timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&w->mu);
	while (w->state != W_IDLE) {
		if (w->state == W_DONE && !w->joining) {
			w->joining = 1;
			pthread_mutex_unlock(&w->mu);
			pthread_join(w->dispatcher_th, NULL);
			pthread_mutex_lock(&w->mu);
			w->joining = 0;
			w->state = W_IDLE;
			host_refresh(w);
			pthread_cond_broadcast(&w->state_cv);
			break;
		}
		int rc = timeout_ms == 0 ? ETIMEDOUT : tcancel_cond_wait(&w->state_cv, &w->mu, timeout_ms < 0 ? NULL : &until);
		if (rc == TASKER_ECANCELED) {
			pthread_mutex_unlock(&w->mu);
			return tcancel_error("waiting for the worker to stop");
		}
		if (rc == ETIMEDOUT && !(w->state == W_DONE && !w->joining) && w->state != W_IDLE) {
			pthread_mutex_unlock(&w->mu);
			return tasker_set_error(TASKER_ETIMEOUT, "worker %s has not stopped within %d ms", w->worker_id,
			                        timeout_ms);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return TASKER_OK;
}

/* ---- the callback API: executor threads are the host */

static void *executor(void *arg)
{
	tasker_worker *w = arg;
	tasker_claimed_step *s;
	while (take(&s, w, -1) == TASKER_OK) {
		int64_t started = 0;
		pending p;
		pthread_mutex_lock(&w->mu);
		inflight_claim *c = claim_of(w, s);
		if (c)
			started = c->started;
		pthread_mutex_unlock(&w->mu);
		run_handler(w, s, started, &p);
		if (detach(w, s, &started) == TASKER_OK)
			deliver(w, &p, 1);
		else
			pending_free(&p);
		tasker_claimed_step_free(s);
	}
	return NULL;
}

static int run(tasker_worker *w, int until_idle)
{
	int rc = start(w, until_idle);
	if (rc)
		return rc;
	pthread_t *th = calloc(w->concurrency, sizeof *th);
	size_t started = 0;
	for (; th && started < w->concurrency; started++)
		if (pthread_create(&th[started], NULL, executor, w))
			break;
	if (started == 0) {
		rc = tasker_set_error(TASKER_ERROR, "cannot start the handler threads of worker %s", w->worker_id);
		tasker_worker_stop(w);
	}
	tasker_worker_wait(w, -1);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
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
	tasker_claimed_step *s;
	int rc = claim_exact(&s, w, step_id, 1);
	if (rc)
		return rc;
	pending p;
	run_handler(w, s, tevents_handler_begin(tclient_events(w->client), s, w->worker_id), &p);
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
