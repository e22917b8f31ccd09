/*
 * tc_worker.c — TaskerCore::Worker's native part: the core's worker (tasker_worker_*) does the
 * claiming, LISTEN/NOTIFY waits, lease renewal, crash recovery, batched completion and graceful
 * shutdown; this file bridges its handler threads (pthreads, which may not run Ruby) to Ruby threads.
 *
 *   core executor pthread                      Ruby thread (Worker#serve)
 *   ---------------------                      --------------------------
 *   bridge_process(step): queue a job ───────▶ wait for a job (GVL released)
 *   wait for job.done                          run the handler (GVL held), fill the outcome
 *   ◀──────────────────────────────────────── job.done = 1, signal
 *   return the outcome to the core
 *
 * The dispatcher (tasker_worker_run) runs on the Ruby thread that called Worker#run, with the GVL
 * released; interrupting that thread (a signal, Thread#raise) asks the worker to stop gracefully.
 * Delegation (execute_step) runs the handler on the calling thread via rb_thread_call_with_gvl.
 * Decides nothing about steps: outcomes come from tc_handler.c, rules from the core.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc.h"

typedef struct tc_job {
	const tasker_claimed_step *step;
	const tc_handler_ref *handler;
	tc_outcome outcome;
	int done;
	pthread_cond_t cv;
	struct tc_job *next;
} tc_job;

struct tc_worker;

typedef struct {
	struct tc_worker *w;
	tc_handler_ref ref;
	char *name;
} tc_entry;

typedef struct tc_worker {
	tasker_worker *cw;
	VALUE client;
	tc_entry *entries;
	size_t nentries;

	pthread_mutex_t mu;
	pthread_cond_t job_cv;
	tc_job *head, *tail;
	int open;               /* a run is in progress: jobs are accepted */
	int consumers;          /* Ruby threads serving jobs */
	int abandoned;          /* every Ruby thread of this run has exited: no job can be served */
	unsigned long wake_gen; /* bumped to wake waiting Ruby threads (interrupts, close) */
	int running;
} tc_worker;

/* Set while the current native thread runs execute_step: the handler then runs right here. */
static _Thread_local struct inline_run {
	tc_worker *w;
	tc_outcome resume; /* a non-local exit to resume once the core returned */
} *inline_run;

/* ------------------------------------------------------------------ lifetime */

static void worker_mark(void *p)
{
	tc_worker *w = p;
	rb_gc_mark(w->client);
	for (size_t i = 0; i < w->nentries; i++)
		rb_gc_mark(w->entries[i].ref.klass);
}

static void worker_free(void *p)
{
	tc_worker *w = p;
	tasker_worker_free(w->cw);
	for (size_t i = 0; i < w->nentries; i++)
		free(w->entries[i].name);
	free(w->entries);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->job_cv);
	xfree(w);
}

static size_t worker_size(const void *p)
{
	const tc_worker *w = p;
	return sizeof *w + w->nentries * sizeof *w->entries;
}

static const rb_data_type_t worker_type = {
	"TaskerCore::Worker", {worker_mark, worker_free, worker_size}, NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY};

static VALUE worker_alloc(VALUE klass)
{
	tc_worker *w;
	VALUE obj = TypedData_Make_Struct(klass, tc_worker, &worker_type, w);
	w->client = Qnil;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->job_cv, NULL);
	return obj;
}

static tc_worker *get(VALUE self)
{
	tc_worker *w = rb_check_typeddata(self, &worker_type);
	if (!w->cw)
		tc_raise_named("Error", "the worker is not set up");
	return w;
}

/* ------------------------------------------------------------------ the core's side */

static void fail_job(tc_job *job, const char *message)
{
	memset(&job->outcome, 0, sizeof job->outcome);
	job->outcome.outcome = TASKER_OUTCOME_RETRYABLE;
	job->outcome.retry_after = -1;
	job->outcome.message = strdup(message);
	job->outcome.error_class = strdup("TaskerCore::StoppedError");
	job->outcome.jump_error = Qnil;
}

/* Caller holds w->mu. */
static void fail_queued(tc_worker *w, const char *message)
{
	for (tc_job *j = w->head; j; j = j->next) {
		fail_job(j, message);
		j->done = 1;
		pthread_cond_signal(&j->cv);
	}
	w->head = w->tail = NULL;
}

static void *run_inline_with_gvl(void *p)
{
	tc_job *job = p;
	tc_run_handler(&job->outcome, job->handler, job->step);
	return NULL;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* The core's C handler for every Ruby handler class: hands the step to a Ruby thread, waits. */
static int bridge_process(char **out, const tasker_claimed_step *step, tasker_step_error *err, void *payload)
{
	tc_entry *e = payload;
	tc_worker *w = e->w;
	tc_job job;
	memset(&job, 0, sizeof job);
	job.step = step;
	job.handler = &e->ref;
	if (inline_run && inline_run->w == w) {
		rb_thread_call_with_gvl(run_inline_with_gvl, &job);
		inline_run->resume.jump_state = job.outcome.jump_state;
		inline_run->resume.jump_error = job.outcome.jump_error;
	} else {
		pthread_cond_init(&job.cv, NULL);
		pthread_mutex_lock(&w->mu);
		/* Jobs may queue before the Ruby threads have started; they are served once they have. */
		if (!w->open || w->abandoned) {
			fail_job(&job, "the Ruby side of the worker is not running (no thread serves handlers)");
		} else {
			if (w->tail)
				w->tail->next = &job;
			else
				w->head = &job;
			w->tail = &job;
			pthread_cond_signal(&w->job_cv);
			while (!job.done)
				pthread_cond_wait(&job.cv, &w->mu);
		}
		pthread_mutex_unlock(&w->mu);
		pthread_cond_destroy(&job.cv);
	}
	tc_outcome *o = &job.outcome;
	if (o->outcome == TASKER_OUTCOME_SUCCESS && o->results_json) {
		*out = o->results_json;
		o->results_json = NULL;
		tc_outcome_free(o);
		return 0;
	}
	err->outcome = o->outcome == TASKER_OUTCOME_PERMANENT ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE;
	err->retry_after = o->retry_after;
	copy_text(err->message, sizeof err->message, o->message ? o->message : "the handler failed");
	copy_text(err->error_class, sizeof err->error_class, o->error_class);
	copy_text(err->error_code, sizeof err->error_code, o->error_code);
	err->backtrace_json = o->backtrace_json;
	o->backtrace_json = NULL;
	err->context_json = o->context_json;
	o->context_json = NULL;
	tc_outcome_free(o);
	return -1;
}

/* ------------------------------------------------------------------ setup */

/* _setup(client, [[handler_class_name, klass, pass_config], ...], options Hash) */
static VALUE worker_setup(VALUE self, VALUE client, VALUE handlers, VALUE opts)
{
	tc_worker *w = rb_check_typeddata(self, &worker_type);
	if (w->cw)
		tc_raise_named("Error", "the worker is already set up");
	Check_Type(handlers, T_ARRAY);
	Check_Type(opts, T_HASH);
	tasker_client *c = tc_client_get(client);
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	VALUE v;
#define OPT(key) (!NIL_P(v = rb_hash_lookup2(opts, ID2SYM(rb_intern(key)), Qnil)))
	if (OPT("concurrency"))
		o.concurrency = NUM2UINT(v);
	if (OPT("claim_batch"))
		o.claim_batch = NUM2UINT(v);
	if (OPT("completion_batch"))
		o.completion_batch = NUM2UINT(v);
	if (OPT("completion_flush_ms"))
		o.completion_flush_ms = NUM2INT(v);
	if (OPT("lease_seconds"))
		o.lease_seconds = NUM2INT(v);
	if (OPT("poll_interval_ms"))
		o.poll_interval_ms = NUM2INT(v);
	VALUE wid = OPT("worker_id") ? rb_str_new_frozen(StringValue(v)) : Qnil;
	o.worker_id = NIL_P(wid) ? NULL : StringValueCStr(wid);
#undef OPT
	long n = RARRAY_LEN(handlers);
	w->entries = calloc((size_t)(n ? n : 1), sizeof *w->entries);
	if (!w->entries)
		rb_memerror();
	for (long i = 0; i < n; i++) {
		VALUE h = rb_check_array_type(RARRAY_AREF(handlers, i));
		if (NIL_P(h) || RARRAY_LEN(h) != 3)
			rb_raise(rb_eArgError, "handlers must be [name, class, pass_config] triples");
		VALUE name = RARRAY_AREF(h, 0);
		tc_entry *e = &w->entries[w->nentries];
		e->w = w;
		e->ref.klass = RARRAY_AREF(h, 1);
		e->ref.pass_config = RTEST(RARRAY_AREF(h, 2));
		e->name = strdup(StringValueCStr(name));
		if (!e->name)
			rb_memerror();
		w->nentries++;
	}
	int rc = tasker_worker_new(&w->cw, c, &o);
	RB_GC_GUARD(wid);
	if (rc)
		tc_raise(rc);
	w->client = client;
	for (size_t i = 0; i < w->nentries; i++) {
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, w->entries[i].name, bridge_process, NULL,
		                         &w->entries[i]};
		if ((rc = tasker_worker_register(w->cw, &h)))
			tc_raise(rc);
	}
	return self;
}

/* ------------------------------------------------------------------ the Ruby side */

typedef struct {
	tc_worker *w;
	unsigned long gen;
	tc_job *job;
	int closed;
} wait_args;

static void *wait_job(void *p)
{
	wait_args *a = p;
	tc_worker *w = a->w;
	pthread_mutex_lock(&w->mu);
	while (!w->head && w->open && w->wake_gen == a->gen)
		pthread_cond_wait(&w->job_cv, &w->mu);
	if (w->head) {
		a->job = w->head;
		w->head = a->job->next;
		if (!w->head)
			w->tail = NULL;
	}
	a->closed = !w->open;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void wake_waiters(void *p)
{
	tc_worker *w = p;
	pthread_mutex_lock(&w->mu);
	w->wake_gen++;
	pthread_cond_broadcast(&w->job_cv);
	pthread_mutex_unlock(&w->mu);
}

static VALUE serve_loop(VALUE self)
{
	tc_worker *w = get(self);
	for (;;) {
		wait_args a = {w, 0, NULL, 0};
		pthread_mutex_lock(&w->mu);
		a.gen = w->wake_gen;
		pthread_mutex_unlock(&w->mu);
		rb_thread_call_without_gvl(wait_job, &a, wake_waiters, w);
		if (!a.job) {
			if (a.closed)
				break;
			rb_thread_check_ints(); /* woken by an interrupt: Thread#raise/kill take effect here */
			continue;
		}
		tc_job *job = a.job;
		tc_run_handler(&job->outcome, job->handler, job->step);
		tc_outcome resume = {0};
		resume.jump_state = job->outcome.jump_state;
		resume.jump_error = job->outcome.jump_error;
		pthread_mutex_lock(&w->mu);
		job->done = 1;
		pthread_cond_signal(&job->cv);
		pthread_mutex_unlock(&w->mu);
		tc_outcome_resume(&resume);
		RB_GC_GUARD(resume.jump_error);
	}
	return Qnil;
}

static VALUE serve_exit(VALUE self)
{
	tc_worker *w = get(self);
	pthread_mutex_lock(&w->mu);
	if (--w->consumers == 0 && w->open) {
		/* The last Ruby thread is gone while the core still runs: nothing can run handlers any more. */
		w->abandoned = 1;
		fail_queued(w, "the worker's Ruby threads stopped");
		tasker_worker_stop(w->cw);
	}
	pthread_mutex_unlock(&w->mu);
	return Qnil;
}

/* _serve: runs handlers for the core until the bridge closes (one call per Ruby thread). */
static VALUE worker_serve(VALUE self)
{
	tc_worker *w = get(self);
	pthread_mutex_lock(&w->mu);
	w->consumers++;
	pthread_mutex_unlock(&w->mu);
	return rb_ensure(serve_loop, self, serve_exit, self);
}

static VALUE worker_open_bridge(VALUE self)
{
	tc_worker *w = get(self);
	pthread_mutex_lock(&w->mu);
	int was_running = w->running;
	if (!was_running) {
		w->running = 1;
		w->open = 1;
		w->abandoned = 0;
	}
	pthread_mutex_unlock(&w->mu);
	if (was_running)
		tc_raise_named("Error", "the worker is already running");
	return self;
}

static VALUE worker_close_bridge(VALUE self)
{
	tc_worker *w = get(self);
	pthread_mutex_lock(&w->mu);
	w->open = 0;
	w->running = 0;
	fail_queued(w, "the worker stopped before this step's handler started");
	w->wake_gen++;
	pthread_cond_broadcast(&w->job_cv);
	pthread_mutex_unlock(&w->mu);
	return self;
}

typedef struct {
	tc_worker *w;
	int until_idle;
	int rc;
} run_args;

static void *do_run(void *p)
{
	run_args *a = p;
	a->rc = a->until_idle ? tasker_worker_run_until_idle(a->w->cw) : tasker_worker_run(a->w->cw);
	return NULL;
}

static void stop_from_interrupt(void *p)
{
	tasker_worker_stop(((tc_worker *)p)->cw);
}

/* _run(until_idle): the core's dispatcher, on this thread, without the GVL. */
static VALUE worker_run(VALUE self, VALUE until_idle)
{
	tc_worker *w = get(self);
	run_args a = {w, RTEST(until_idle), 0};
	rb_thread_call_without_gvl(do_run, &a, stop_from_interrupt, w);
	if (a.rc)
		tc_raise(a.rc);
	return Qnil;
}

static VALUE worker_stop(VALUE self)
{
	tasker_worker_stop(get(self)->cw);
	return Qnil;
}

static VALUE worker_processed(VALUE self)
{
	return ULL2NUM((unsigned long long)tasker_worker_processed(get(self)->cw));
}

typedef struct {
	tc_worker *w;
	int64_t step_id;
	int rc;
} exec_args;

static void *do_execute(void *p)
{
	exec_args *a = p;
	a->rc = tasker_worker_execute_step(a->w->cw, a->step_id);
	return NULL;
}

/* _execute_step(step_id): claims the step, runs its handler on this thread, records the outcome. */
static VALUE worker_execute_step(VALUE self, VALUE step_id)
{
	tc_worker *w = get(self);
	struct inline_run run;
	memset(&run, 0, sizeof run);
	run.w = w;
	run.resume.jump_error = Qnil;
	exec_args a = {w, NUM2LL(step_id), 0};
	inline_run = &run;
	rb_thread_call_without_gvl(do_execute, &a, NULL, NULL);
	inline_run = NULL;
	tc_outcome_resume(&run.resume);
	RB_GC_GUARD(run.resume.jump_error);
	if (a.rc)
		tc_raise(a.rc);
	return Qtrue;
}

/* ------------------------------------------------------------------ delegation helper */

typedef struct {
	tasker_client *client;
	int64_t step_id;
	char *handler_class;
	int rc;
} handler_of_args;

static void *do_handler_of(void *p)
{
	handler_of_args *a = p;
	a->rc = tasker_step_handler_class(&a->handler_class, a->client, a->step_id);
	return NULL;
}

/* Client#_step_handler_class(step_id): the handler_class of a step (whether it may run now is for
 * execute_step to find out). */
static VALUE client_step_handler_class(VALUE self, VALUE step_id)
{
	handler_of_args a = {tc_client_get(self), NUM2LL(step_id), NULL, 0};
	tc_client_call(self, do_handler_of, &a);
	if (a.rc)
		tc_raise(a.rc);
	VALUE s = tc_str(a.handler_class);
	tasker_free(a.handler_class);
	return s;
}

void tc_init_worker(void)
{
	VALUE c = rb_define_class_under(tc_mTaskerCore, "Worker", rb_cObject);
	rb_define_alloc_func(c, worker_alloc);
	rb_define_private_method(c, "_setup", worker_setup, 3);
	rb_define_private_method(c, "_open_bridge", worker_open_bridge, 0);
	rb_define_private_method(c, "_serve", worker_serve, 0);
	rb_define_private_method(c, "_close_bridge", worker_close_bridge, 0);
	rb_define_private_method(c, "_run", worker_run, 1);
	rb_define_private_method(c, "_execute_step", worker_execute_step, 1);
	rb_define_method(c, "stop", worker_stop, 0);
	rb_define_method(c, "processed", worker_processed, 0);
	rb_define_private_method(tc_cClient, "_step_handler_class", client_step_handler_class, 1);
}
