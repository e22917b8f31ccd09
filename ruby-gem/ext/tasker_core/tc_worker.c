/*
 * tc_worker.c — TaskerCore::Worker's native part, a host of the core's host-driven worker
 * (tasker_worker_start/next/fd/finish): the core claims, sleeps on LISTEN/NOTIFY, renews leases,
 * recovers dead workers' steps and writes results in batches on its own threads, which never touch
 * Ruby; the worker's Ruby threads take steps with tasker_worker_next, wait for more on
 * tasker_worker_fd (rb_wait_for_single_fd: the GVL is released and Thread#raise/kill work), run the
 * handler with the GVL and give the outcome back with tasker_worker_finish. No relay of its own.
 * Delegation (execute_step) claims one step and runs its handler on the calling thread.
 * Decides nothing about steps: outcomes come from tc_handler.c, rules from the core.
 */
#include <stdlib.h>
#include <string.h>

#include <ruby/io.h>

#include "tc.h"

typedef struct {
	tc_handler_ref ref;
	char *name;
} tc_entry;

typedef struct tc_worker {
	tasker_worker *cw;
	VALUE client;
	tc_entry *entries;
	size_t nentries;
	int consumers;          /* Ruby threads serving steps (GVL-protected) */
} tc_worker;

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
	tasker_worker_free(w->cw); /* stops and waits when it still runs */
	for (size_t i = 0; i < w->nentries; i++)
		free(w->entries[i].name);
	free(w->entries);
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
	return obj;
}

static tc_worker *get(VALUE self)
{
	tc_worker *w = rb_check_typeddata(self, &worker_type);
	if (!w->cw)
		tc_raise_named("Error", "the worker is not set up");
	return w;
}

static const tc_entry *entry_for(const tc_worker *w, const char *handler_class)
{
	for (size_t i = 0; i < w->nentries; i++)
		if (strcmp(w->entries[i].name, handler_class) == 0)
			return &w->entries[i];
	return NULL;
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
	for (size_t i = 0; i < w->nentries; i++)
		if ((rc = tasker_worker_declare(w->cw, w->entries[i].name)))
			tc_raise(rc);
	return self;
}

/* ------------------------------------------------------------------ running a step */

typedef struct {
	tasker_worker *cw;
	tasker_claimed_step *step;
	tasker_step_result result;
	int rc;
} finish_args;

static void *do_finish(void *p)
{
	finish_args *a = p;
	a->rc = tasker_worker_finish(a->cw, a->step, &a->result);
	return NULL;
}

/* Runs the handler of a step handed out by the core (GVL held), gives the outcome back (GVL released:
 * when the worker is not running the core writes it at once), then resumes a non-local exit
 * (Thread#kill, throw) the handler made. Returns tasker_worker_finish's code. */
static int run_step(tc_worker *w, tasker_claimed_step *step)
{
	tc_outcome o;
	const tc_entry *e = entry_for(w, step->handler_class);
	if (e) {
		tc_run_handler(&o, &e->ref, step);
	} else { /* declared, so never: the core claims only declared classes */
		memset(&o, 0, sizeof o);
		o.outcome = TASKER_OUTCOME_RETRYABLE;
		o.retry_after = -1;
		o.message = strdup("no Ruby handler for this handler_class in this worker");
		o.jump_error = Qnil;
	}
	finish_args a = {w->cw, step, {0}, 0};
	a.result.outcome = o.outcome;
	a.result.results_json = o.results_json;
	a.result.error_message = o.message;
	a.result.error_class = o.error_class;
	a.result.error_code = o.error_code;
	a.result.error_context_json = o.context_json;
	a.result.backtrace_json = o.backtrace_json;
	a.result.retry_after = o.retry_after;
	rb_thread_call_without_gvl(do_finish, &a, NULL, NULL); /* copies the result */
	tc_outcome resume = {0};
	resume.jump_state = o.jump_state;
	resume.jump_error = o.jump_error;
	tc_outcome_free(&o);
	tc_outcome_resume(&resume);
	RB_GC_GUARD(resume.jump_error);
	return a.rc;
}

/* ------------------------------------------------------------------ the Ruby threads */

typedef struct {
	VALUE self;
	int finished; /* left because the worker stopped (not killed or raised out) */
} serve_ctx;

static VALUE serve_loop(VALUE arg)
{
	serve_ctx *c = (serve_ctx *)arg;
	tc_worker *w = get(c->self);
	int fd = tasker_worker_fd(w->cw);
	for (;;) {
		tasker_claimed_step *step = NULL;
		int rc = tasker_worker_next(&step, w->cw, 0); /* never waits: the GVL is held */
		if (rc == TASKER_ESTOPPED) {
			c->finished = 1;
			break;
		}
		if (rc == TASKER_ETIMEOUT) {
			/* Sleeps with the GVL released until a step waits (or the worker stops); an interrupt
			 * (Thread#raise, Thread#kill, a signal for the main thread) is raised here. */
			rb_wait_for_single_fd(fd, RB_WAITFD_IN, NULL);
			continue;
		}
		if (rc)
			tc_raise(rc);
		run_step(w, step);
	}
	return Qnil;
}

static VALUE serve_exit(VALUE arg)
{
	serve_ctx *c = (serve_ctx *)arg;
	tc_worker *w = get(c->self);
	/* The last Ruby thread was killed (or raised out) while the core still runs: nothing can run
	 * handlers any more, so stop it. Never after a normal end: a stop made once the worker has
	 * stopped would stay pending and end its next run at once. */
	if (--w->consumers == 0 && !c->finished && tasker_worker_wait(w->cw, 0) == TASKER_ETIMEOUT)
		tasker_worker_stop(w->cw);
	return Qnil;
}

/* _serve: runs handlers until the worker stops (one call per Ruby thread, after _start). */
static VALUE worker_serve(VALUE self)
{
	tc_worker *w = get(self);
	w->consumers++;
	serve_ctx c = {self, 0};
	VALUE r = rb_ensure(serve_loop, (VALUE)&c, serve_exit, (VALUE)&c);
	RB_GC_GUARD(self);
	return r;
}

/* _start: the core's machinery starts on its own threads. */
static VALUE worker_start(VALUE self)
{
	int rc = tasker_worker_start(get(self)->cw);
	if (rc)
		tc_raise(rc);
	return self;
}

typedef struct {
	tasker_worker *cw;
	int timeout_ms;
	int rc;
} wait_args;

static void *do_wait(void *p)
{
	wait_args *a = p;
	a->rc = tasker_worker_wait(a->cw, a->timeout_ms);
	return NULL;
}

static void stop_from_interrupt(void *p) { tasker_worker_stop(p); }

/* _wait(timeout_ms): true once the machinery has stopped and every result is written, false when the
 * time ran out. An interrupt of the waiting thread (a signal, Thread#raise) stops the worker. */
static VALUE worker_wait(VALUE self, VALUE timeout_ms)
{
	tc_worker *w = get(self);
	wait_args a = {w->cw, NUM2INT(timeout_ms), 0};
	rb_thread_call_without_gvl(do_wait, &a, stop_from_interrupt, w->cw);
	if (a.rc == TASKER_ETIMEOUT)
		return Qfalse;
	if (a.rc)
		tc_raise(a.rc);
	return Qtrue;
}

static VALUE worker_idle_p(VALUE self) { return tasker_worker_idle(get(self)->cw) ? Qtrue : Qfalse; }

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
	tasker_worker *cw;
	int64_t step_id;
	tasker_claimed_step *step;
	int rc;
} claim_args;

static void *do_claim(void *p)
{
	claim_args *a = p;
	a->rc = tasker_worker_claim_step(&a->step, a->cw, a->step_id);
	return NULL;
}

/* _execute_step(step_id): claims the step, runs its handler on this thread, records the outcome. */
static VALUE worker_execute_step(VALUE self, VALUE step_id)
{
	tc_worker *w = get(self);
	claim_args a = {w->cw, NUM2LL(step_id), NULL, 0};
	rb_thread_call_without_gvl(do_claim, &a, NULL, NULL);
	if (a.rc)
		tc_raise(a.rc);
	int rc = run_step(w, a.step);
	if (rc)
		tc_raise(rc);
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
	rb_define_private_method(c, "_start", worker_start, 0);
	rb_define_private_method(c, "_serve", worker_serve, 0);
	rb_define_private_method(c, "_wait", worker_wait, 1);
	rb_define_private_method(c, "_idle?", worker_idle_p, 0);
	rb_define_private_method(c, "_execute_step", worker_execute_step, 1);
	rb_define_method(c, "stop", worker_stop, 0);
	rb_define_method(c, "processed", worker_processed, 0);
	rb_define_private_method(tc_cClient, "_step_handler_class", client_step_handler_class, 1);
}
