/*
 * tc_handler.c — TaskerCore::StepHandler::Base and what a handler receives: TaskerCore::Task,
 * TaskerCore::Sequence and TaskerCore::Step, built from a claimed step. Their JSON fields are copied
 * when the objects are built and converted to Ruby values only when first read, so a handler pays
 * for what it touches. Also runs the lifecycle (process → process_results → results) and classifies
 * exceptions into the core's outcomes. Never talks to the database.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc.h"

static VALUE cTask, cStep, cSequence, mStepHandler, cBase;
static VALUE eRetryable, ePermanent;
static ID id_new, id_handle, id_process, id_process_results, id_message, id_backtrace, id_config_ivar,
	id_retry_after_ivar, id_context_ivar, id_error_code_ivar, id_results, id_results_set, id_instance_method,
	id_parameters, id_initialize, id_keyreq, id_key, id_keyrest, id_config, id_to_s;
static rb_encoding *utf8;

/* ------------------------------------------------------------------ lazily converted fields */

/* A field copied from the claimed step: raw text until read, then the Ruby value (memoized). */
typedef struct {
	char *raw;   /* malloc'd copy; NULL = nil */
	VALUE val;   /* Qundef until converted */
} lazy;

static void lazy_set(lazy *l, const char *s)
{
	l->val = Qundef;
	l->raw = NULL;
	if (s) {
		size_t n = strlen(s) + 1;
		l->raw = malloc(n);
		if (!l->raw)
			rb_memerror();
		memcpy(l->raw, s, n);
	}
}

static void lazy_free(lazy *l)
{
	free(l->raw);
	l->raw = NULL;
}

static void lazy_mark(const lazy *l)
{
	if (l->val != Qundef)
		rb_gc_mark(l->val);
}

static VALUE lazy_json(lazy *l)
{
	if (l->val == Qundef) {
		l->val = tc_json_parse_cstr(l->raw);
		lazy_free(l);
	}
	return l->val;
}

static VALUE interned(const char *s)
{
	if (!s)
		return Qnil;
#ifdef HAVE_RB_ENC_INTERNED_STR
	return rb_enc_interned_str(s, (long)strlen(s), utf8);
#else
	return rb_obj_freeze(rb_enc_str_new_cstr(s, utf8));
#endif
}

static VALUE lazy_str(lazy *l)
{
	if (l->val == Qundef) {
		l->val = l->raw ? rb_enc_str_new_cstr(l->raw, utf8) : Qnil;
		lazy_free(l);
	}
	return l->val;
}

/* ------------------------------------------------------------------ TaskerCore::Task */

enum { T_NAME, T_NAMESPACE, T_VERSION, T_CONTEXT, T_TAGS, T_INITIATOR, T_SOURCE, T_REASON, T_TRACEPARENT, T_NFIELDS };

typedef struct {
	int64_t task_id;
	lazy f[T_NFIELDS];
} tc_task;

static void task_mark(void *p)
{
	tc_task *t = p;
	for (int i = 0; i < T_NFIELDS; i++)
		lazy_mark(&t->f[i]);
}

static void task_free(void *p)
{
	tc_task *t = p;
	for (int i = 0; i < T_NFIELDS; i++)
		lazy_free(&t->f[i]);
	xfree(t);
}

static size_t task_size(const void *p)
{
	(void)p;
	return sizeof(tc_task);
}

static const rb_data_type_t task_type = {
	"TaskerCore::Task", {task_mark, task_free, task_size}, NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY};

static tc_task *task_get(VALUE self) { return rb_check_typeddata(self, &task_type); }

static VALUE task_new(const tasker_claimed_step *s)
{
	tc_task *t;
	VALUE obj = TypedData_Make_Struct(cTask, tc_task, &task_type, t);
	t->task_id = s->task_id;
	for (int i = 0; i < T_NFIELDS; i++)
		t->f[i].val = Qundef;
	lazy_set(&t->f[T_NAME], s->task_name);
	lazy_set(&t->f[T_NAMESPACE], s->namespace_name);
	lazy_set(&t->f[T_VERSION], s->task_version);
	lazy_set(&t->f[T_CONTEXT], s->context_json);
	lazy_set(&t->f[T_TAGS], s->tags_json);
	lazy_set(&t->f[T_INITIATOR], s->initiator);
	lazy_set(&t->f[T_SOURCE], s->source_system);
	lazy_set(&t->f[T_REASON], s->reason);
	lazy_set(&t->f[T_TRACEPARENT], s->traceparent);
	return obj;
}

static VALUE task_task_id(VALUE self) { return LL2NUM(task_get(self)->task_id); }
static VALUE task_name(VALUE self) { return lazy_str(&task_get(self)->f[T_NAME]); }
static VALUE task_namespace(VALUE self) { return lazy_str(&task_get(self)->f[T_NAMESPACE]); }
static VALUE task_version(VALUE self) { return lazy_str(&task_get(self)->f[T_VERSION]); }
static VALUE task_context(VALUE self) { return lazy_json(&task_get(self)->f[T_CONTEXT]); }
static VALUE task_tags(VALUE self) { return lazy_json(&task_get(self)->f[T_TAGS]); }
static VALUE task_initiator(VALUE self) { return lazy_str(&task_get(self)->f[T_INITIATOR]); }
static VALUE task_source(VALUE self) { return lazy_str(&task_get(self)->f[T_SOURCE]); }
static VALUE task_reason(VALUE self) { return lazy_str(&task_get(self)->f[T_REASON]); }
static VALUE task_traceparent(VALUE self) { return lazy_str(&task_get(self)->f[T_TRACEPARENT]); }

/* ------------------------------------------------------------------ TaskerCore::Step */

enum { S_HANDLER_CLASS, S_HANDLER_CONFIG, S_INPUTS, S_RESULTS, S_NFIELDS };

typedef struct {
	int64_t id, task_id;
	int attempts, retry_limit, retryable;
	tasker_state state;
	VALUE name;            /* interned String */
	lazy f[S_NFIELDS];
	int results_assigned;  /* step.results= was called */
	int current;           /* the step being run (has handler class/config/inputs) */
} tc_step;

static void step_mark(void *p)
{
	tc_step *s = p;
	rb_gc_mark(s->name);
	for (int i = 0; i < S_NFIELDS; i++)
		lazy_mark(&s->f[i]);
}

static void step_free(void *p)
{
	tc_step *s = p;
	for (int i = 0; i < S_NFIELDS; i++)
		lazy_free(&s->f[i]);
	xfree(s);
}

static size_t step_size(const void *p)
{
	(void)p;
	return sizeof(tc_step);
}

static const rb_data_type_t step_type = {
	"TaskerCore::Step", {step_mark, step_free, step_size}, NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY};

static tc_step *step_get(VALUE self) { return rb_check_typeddata(self, &step_type); }

static VALUE step_alloc_obj(tc_step **out)
{
	tc_step *s;
	VALUE obj = TypedData_Make_Struct(cStep, tc_step, &step_type, s);
	s->name = Qnil;
	for (int i = 0; i < S_NFIELDS; i++)
		s->f[i].val = Qundef;
	*out = s;
	return obj;
}

static VALUE step_new_current(const tasker_claimed_step *c)
{
	tc_step *s;
	VALUE obj = step_alloc_obj(&s);
	s->current = 1;
	s->id = c->workflow_step_id;
	s->task_id = c->task_id;
	s->attempts = c->attempts;
	s->retry_limit = c->retry_limit;
	s->retryable = c->retryable;
	s->state = TASKER_STATE_IN_PROGRESS;
	s->name = interned(c->name);
	lazy_set(&s->f[S_HANDLER_CLASS], c->handler_class);
	lazy_set(&s->f[S_HANDLER_CONFIG], c->handler_config_json);
	lazy_set(&s->f[S_INPUTS], c->inputs_json);
	lazy_set(&s->f[S_RESULTS], c->results_json);
	return obj;
}

static VALUE step_new_sibling(const tasker_sequence_step *q, int64_t task_id)
{
	tc_step *s;
	VALUE obj = step_alloc_obj(&s);
	s->id = q->workflow_step_id;
	s->task_id = task_id;
	s->attempts = q->attempts;
	s->retry_limit = -1;
	s->retryable = -1;
	s->state = q->state;
	s->name = interned(q->name);
	lazy_set(&s->f[S_RESULTS], q->results_json);
	return obj;
}

static VALUE step_id(VALUE self) { return LL2NUM(step_get(self)->id); }
static VALUE step_task_id(VALUE self) { return LL2NUM(step_get(self)->task_id); }
static VALUE step_name(VALUE self) { return step_get(self)->name; }
static VALUE step_attempts(VALUE self) { return INT2NUM(step_get(self)->attempts); }
static VALUE step_state(VALUE self) { return tc_state_str(step_get(self)->state); }
static VALUE step_handler_class(VALUE self) { return lazy_str(&step_get(self)->f[S_HANDLER_CLASS]); }
static VALUE step_handler_config(VALUE self) { return lazy_json(&step_get(self)->f[S_HANDLER_CONFIG]); }
static VALUE step_results(VALUE self) { return lazy_json(&step_get(self)->f[S_RESULTS]); }

static VALUE step_retry_limit(VALUE self)
{
	tc_step *s = step_get(self);
	return s->retry_limit < 0 ? Qnil : INT2NUM(s->retry_limit);
}

static VALUE step_retryable(VALUE self)
{
	tc_step *s = step_get(self);
	return s->retryable < 0 ? Qnil : s->retryable ? Qtrue : Qfalse;
}

static VALUE step_inputs(VALUE self)
{
	tc_step *s = step_get(self);
	return lazy_json(&s->f[S_INPUTS]);
}

static VALUE step_set_results(VALUE self, VALUE v)
{
	tc_step *s = step_get(self);
	lazy_free(&s->f[S_RESULTS]);
	s->f[S_RESULTS].val = v;
	s->results_assigned = 1;
	return v;
}

static VALUE step_results_assigned_p(VALUE self) { return step_get(self)->results_assigned ? Qtrue : Qfalse; }

/* ------------------------------------------------------------------ TaskerCore::Sequence */

typedef struct {
	tasker_sequence_step *rows;  /* copies; strings live in `arena` */
	char *arena;
	size_t count;
	int64_t task_id;
	VALUE current;               /* the step being run: reused as its own entry */
	VALUE steps;                 /* Array, built on first use; Qnil before */
} tc_sequence;

static void seq_mark(void *p)
{
	tc_sequence *q = p;
	rb_gc_mark(q->current);
	rb_gc_mark(q->steps);
}

static void seq_free(void *p)
{
	tc_sequence *q = p;
	free(q->rows);
	free(q->arena);
	xfree(q);
}

static size_t seq_size(const void *p)
{
	const tc_sequence *q = p;
	return sizeof *q + q->count * sizeof *q->rows;
}

static const rb_data_type_t seq_type = {
	"TaskerCore::Sequence", {seq_mark, seq_free, seq_size}, NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY};

static tc_sequence *seq_get(VALUE self) { return rb_check_typeddata(self, &seq_type); }

static VALUE seq_new(const tasker_claimed_step *c, VALUE current)
{
	tc_sequence *q;
	VALUE obj = TypedData_Make_Struct(cSequence, tc_sequence, &seq_type, q);
	q->current = current;
	q->steps = Qnil;
	q->task_id = c->task_id;
	size_t bytes = 0;
	for (size_t i = 0; i < c->sequence_count; i++)
		bytes += strlen(c->sequence[i].name) + 1 + strlen(c->sequence[i].results_json) + 1;
	q->rows = malloc((c->sequence_count ? c->sequence_count : 1) * sizeof *q->rows);
	q->arena = malloc(bytes ? bytes : 1);
	if (!q->rows || !q->arena)
		rb_memerror();
	char *p = q->arena;
	for (size_t i = 0; i < c->sequence_count; i++) {
		q->rows[i] = c->sequence[i];
		size_t n = strlen(c->sequence[i].name) + 1;
		memcpy(p, c->sequence[i].name, n);
		q->rows[i].name = p;
		p += n;
		n = strlen(c->sequence[i].results_json) + 1;
		memcpy(p, c->sequence[i].results_json, n);
		q->rows[i].results_json = p;
		p += n;
	}
	q->count = c->sequence_count;
	return obj;
}

static VALUE seq_steps(VALUE self)
{
	tc_sequence *q = seq_get(self);
	if (NIL_P(q->steps)) {
		int64_t current_id = NIL_P(q->current) ? -1 : step_get(q->current)->id;
		VALUE list = rb_ary_new_capa((long)q->count);
		for (size_t i = 0; i < q->count; i++)
			rb_ary_push(list, q->rows[i].workflow_step_id == current_id
			                      ? q->current
			                      : step_new_sibling(&q->rows[i], q->task_id));
		q->steps = rb_ary_freeze(list);
	}
	return q->steps;
}

static VALUE seq_find_step_by_name(VALUE self, VALUE name)
{
	VALUE steps = seq_steps(self);
	if (SYMBOL_P(name))
		name = rb_sym2str(name);
	StringValue(name);
	for (long i = 0; i < RARRAY_LEN(steps); i++) {
		VALUE s = RARRAY_AREF(steps, i);
		if (rb_str_equal(step_get(s)->name, name) == Qtrue)
			return s;
	}
	return Qnil;
}

static VALUE seq_size_m(VALUE self) { return SIZET2NUM(seq_get(self)->count); }
static VALUE seq_current(VALUE self) { return seq_get(self)->current; }

/* ------------------------------------------------------------------ StepHandler::Base */

static VALUE base_initialize(int argc, VALUE *argv, VALUE self)
{
	VALUE opts = Qnil;
	rb_scan_args(argc, argv, "0:", &opts);
	VALUE config = Qnil;
	if (!NIL_P(opts)) {
		config = rb_hash_lookup2(opts, ID2SYM(id_config), Qnil);
		rb_hash_delete(opts, ID2SYM(id_config));
		if (RHASH_SIZE(opts) > 0)
			rb_raise(rb_eArgError, "unknown keyword: %" PRIsVALUE, rb_inspect(rb_funcall(opts, rb_intern("keys"), 0)));
	}
	rb_ivar_set(self, id_config_ivar, config);
	return self;
}

static VALUE base_process(VALUE self, VALUE task, VALUE sequence, VALUE step)
{
	(void)task;
	(void)sequence;
	(void)step;
	rb_raise(rb_eNotImpError, "%" PRIsVALUE " must implement process(task, sequence, step)",
	         rb_class_name(CLASS_OF(self)));
	return Qnil;
}

/* The default keeps results the handler assigned in process (step.results = ...), else stores what
 * process returned — as the Rails engine does. */
static VALUE base_process_results(VALUE self, VALUE step, VALUE output, VALUE initial)
{
	(void)self;
	if (rb_obj_is_kind_of(step, cStep) && step_get(step)->results_assigned)
		return Qnil;
	if (!rb_obj_is_kind_of(step, cStep) && rb_funcall(step, id_results, 0) != initial)
		return Qnil;
	rb_funcall(step, id_results_set, 1, output);
	return Qnil;
}

/* process → process_results; returns step.results (what gets recorded). */
static VALUE lifecycle(VALUE handler, VALUE task, VALUE sequence, VALUE step)
{
	VALUE initial = rb_funcall(step, id_results, 0);
	VALUE output = rb_funcall(handler, id_process, 3, task, sequence, step);
	if (rb_respond_to(handler, id_process_results))
		rb_funcall(handler, id_process_results, 3, step, output, initial);
	else
		base_process_results(handler, step, output, initial);
	return rb_funcall(step, id_results, 0);
}

static VALUE base_handle(VALUE self, VALUE task, VALUE sequence, VALUE step)
{
	return lifecycle(self, task, sequence, step);
}

int tc_handler_accepts_config(VALUE klass)
{
	VALUE m = rb_funcall(klass, id_instance_method, 1, ID2SYM(id_initialize));
	if (rb_funcall(m, rb_intern("owner"), 0) == cBase)
		return 1;
	VALUE params = rb_funcall(m, id_parameters, 0);
	for (long i = 0; i < RARRAY_LEN(params); i++) {
		VALUE p = RARRAY_AREF(params, i);
		VALUE kind = RARRAY_AREF(p, 0);
		if (SYM2ID(kind) == id_keyrest)
			return 1;
		if ((SYM2ID(kind) == id_key || SYM2ID(kind) == id_keyreq) && RARRAY_LEN(p) > 1 &&
		    SYM2ID(RARRAY_AREF(p, 1)) == id_config)
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ running one step */

typedef struct {
	const tc_handler_ref *handler;
	const tasker_claimed_step *claimed;
	tc_outcome *out;
	VALUE results;  /* step.results after the lifecycle (on the stack: the GC sees it) */
} run_ctx;

static VALUE run_body(VALUE arg)
{
	run_ctx *x = (run_ctx *)arg;
	VALUE step = step_new_current(x->claimed);
	VALUE task = task_new(x->claimed);
	VALUE sequence = seq_new(x->claimed, step);
	VALUE instance;
	if (x->handler->pass_config) {
		VALUE kw = rb_hash_new();
		rb_hash_aset(kw, ID2SYM(id_config), step_handler_config(step));
		instance = rb_funcallv_kw(x->handler->klass, id_new, 1, &kw, RB_PASS_KEYWORDS);
	} else {
		instance = rb_funcall(x->handler->klass, id_new, 0);
	}
	/* What is recorded is step.results after the lifecycle, whatever handle returns. */
	if (rb_respond_to(instance, id_handle))
		rb_funcall(instance, id_handle, 3, task, sequence, step);
	else
		lifecycle(instance, task, sequence, step);
	x->results = step_results(step);
	return Qnil;
}

static VALUE convert_body(VALUE arg)
{
	run_ctx *x = (run_ctx *)arg;
	x->out->results_json = tc_json_generate_malloc(x->results);
	x->out->outcome = TASKER_OUTCOME_SUCCESS;
	return Qnil;
}

static char *dup_cstr(const char *s, long n)
{
	char *d = malloc((size_t)n + 1);
	if (d) {
		memcpy(d, s, (size_t)n);
		d[n] = '\0';
	}
	return d;
}

static char *dup_rstr(VALUE s) { return dup_cstr(RSTRING_PTR(s), RSTRING_LEN(s)); }

static char *json_or_null(VALUE v)
{
	int state = 0;
	VALUE s = rb_protect(tc_json_generate, v, &state);
	if (state) {
		rb_set_errinfo(Qnil);
		return NULL;
	}
	return dup_rstr(s);
}

static VALUE message_of(VALUE exc) { return rb_funcall(exc, id_message, 0); }

/* Fills the failure fields of `out` from an exception. Never raises. */
static void classify(tc_outcome *out, VALUE exc)
{
	int state = 0;
	out->outcome = TASKER_OUTCOME_RETRYABLE;
	out->retry_after = -1;
	VALUE cname = rb_class_name(CLASS_OF(exc));
	out->error_class = dup_rstr(cname);
	VALUE msg = rb_protect(message_of, exc, &state);
	if (state || !RB_TYPE_P(msg, T_STRING)) {
		rb_set_errinfo(Qnil);
		msg = cname;
	}
	out->message = dup_rstr(msg);
	VALUE bt = rb_funcall(exc, id_backtrace, 0);
	if (RB_TYPE_P(bt, T_ARRAY))
		out->backtrace_json = json_or_null(rb_ary_subseq(bt, 0, 50));
	VALUE context = Qnil;
	if (rb_obj_is_kind_of(exc, ePermanent)) {
		out->outcome = TASKER_OUTCOME_PERMANENT;
		VALUE code = rb_attr_get(exc, id_error_code_ivar);
		if (!NIL_P(code))
			out->error_code = dup_rstr(rb_obj_as_string(code));
		context = rb_attr_get(exc, id_context_ivar);
	} else if (rb_obj_is_kind_of(exc, eRetryable)) {
		VALUE ra = rb_attr_get(exc, id_retry_after_ivar);
		if (RB_INTEGER_TYPE_P(ra) || RB_FLOAT_TYPE_P(ra)) {
			double d = NUM2DBL(ra);
			out->retry_after = d < 0 ? -1 : d > 86400.0 * 365 ? 86400 * 365 : (int)ceil(d);
		}
		context = rb_attr_get(exc, id_context_ivar);
	}
	if (!NIL_P(context)) {
		if (!RB_TYPE_P(context, T_HASH)) {
			VALUE wrapped = rb_hash_new();
			rb_hash_aset(wrapped, rb_str_new_cstr("value"), context);
			context = wrapped;
		}
		if (RHASH_SIZE(context) > 0)
			out->context_json = json_or_null(context);
	}
}

/* Records the failure the pending exception (or non-local exit) of `state` stands for. */
static void record_failure(tc_outcome *out, int state)
{
	VALUE err = rb_errinfo();
	rb_set_errinfo(Qnil);
	free(out->results_json);
	out->results_json = NULL;
	if (rb_obj_is_kind_of(err, rb_eException)) {
		classify(out, err);
		/* Leaving the thread (exit, signals) must still happen, after the step is recorded. */
		if (rb_obj_is_kind_of(err, rb_eSystemExit) || rb_obj_is_kind_of(err, rb_eSignal)) {
			out->jump_state = state;
			out->jump_error = err;
		}
	} else {
		/* Thread#kill or throw: not an exception; record the interrupted attempt, then resume. */
		out->outcome = TASKER_OUTCOME_RETRYABLE;
		out->message = dup_cstr("the handler's thread was killed while it ran", 44);
		out->error_class = dup_cstr("TaskerCore::Interrupted", 23);
		out->jump_state = state;
		out->jump_error = err;
	}
	if (!out->message || !out->error_class) {
		free(out->message);
		free(out->error_class);
		out->message = NULL;
		out->error_class = NULL;
	}
}

/* Results that have no JSON form are a bug of the handler, not a passing failure: the step fails
 * for good with INVALID_RESULT (tests/conformance/README.md, "Handler specification"). */
static void invalid_result(tc_outcome *out, const tc_handler_ref *handler)
{
	if (out->outcome != TASKER_OUTCOME_RETRYABLE || out->jump_state || !out->message)
		return;
	const char *cname = rb_class2name(handler->klass);
	size_t n = strlen(cname) + strlen(out->message) + 32;
	char *msg = malloc(n);
	if (msg) {
		snprintf(msg, n, "the result of %s cannot be stored: %s", cname, out->message);
		free(out->message);
		out->message = msg;
	}
	free(out->error_code);
	out->error_code = dup_cstr("INVALID_RESULT", 14);
	out->outcome = TASKER_OUTCOME_PERMANENT;
}

void tc_run_handler(tc_outcome *out, const tc_handler_ref *handler, const tasker_claimed_step *step)
{
	memset(out, 0, sizeof *out);
	out->retry_after = -1;
	out->jump_error = Qnil;
	run_ctx x = {handler, step, out, Qnil};
	int state = 0;
	rb_protect(run_body, (VALUE)&x, &state);
	if (state) {
		record_failure(out, state);
		return;
	}
	rb_protect(convert_body, (VALUE)&x, &state);
	if (state) {
		record_failure(out, state);
		invalid_result(out, handler);
	} else if (!out->results_json) {
		out->results_json = dup_cstr("null", 4);
	}
	RB_GC_GUARD(x.results);
}

void tc_outcome_free(tc_outcome *o)
{
	free(o->results_json);
	free(o->message);
	free(o->error_class);
	free(o->error_code);
	free(o->context_json);
	free(o->backtrace_json);
	memset(o, 0, sizeof *o);
}

void tc_outcome_resume(const tc_outcome *o)
{
	if (!o->jump_state)
		return;
	if (rb_obj_is_kind_of(o->jump_error, rb_eException))
		rb_exc_raise(o->jump_error);
	rb_set_errinfo(o->jump_error);
	rb_jump_tag(o->jump_state);
}

/* TaskerCore::StepHandler.run(handler, task, sequence, step): the lifecycle for any object with
 * `process` (used by Base#handle; public for handlers that are not Base subclasses). */
static VALUE m_run_lifecycle(VALUE mod, VALUE handler, VALUE task, VALUE sequence, VALUE step)
{
	(void)mod;
	return lifecycle(handler, task, sequence, step);
}

/* TaskerCore::StepHandler._accepts_config?(klass) */
static VALUE m_accepts_config(VALUE mod, VALUE klass)
{
	(void)mod;
	return tc_handler_accepts_config(klass) ? Qtrue : Qfalse;
}

void tc_init_handler(void)
{
	utf8 = rb_utf8_encoding();
	id_new = rb_intern("new");
	id_handle = rb_intern("handle");
	id_process = rb_intern("process");
	id_process_results = rb_intern("process_results");
	id_message = rb_intern("message");
	id_backtrace = rb_intern("backtrace");
	id_config_ivar = rb_intern("@config");
	id_retry_after_ivar = rb_intern("@retry_after");
	id_context_ivar = rb_intern("@context");
	id_error_code_ivar = rb_intern("@error_code");
	id_results = rb_intern("results");
	id_results_set = rb_intern("results=");
	id_instance_method = rb_intern("instance_method");
	id_parameters = rb_intern("parameters");
	id_initialize = rb_intern("initialize");
	id_keyreq = rb_intern("keyreq");
	id_key = rb_intern("key");
	id_keyrest = rb_intern("keyrest");
	id_config = rb_intern("config");
	id_to_s = rb_intern("to_s");

	eRetryable = tc_error_class_named("RetryableError");
	ePermanent = tc_error_class_named("PermanentError");

	cTask = rb_define_class_under(tc_mTaskerCore, "Task", rb_cObject);
	rb_undef_alloc_func(cTask);
	rb_define_method(cTask, "task_id", task_task_id, 0);
	rb_define_method(cTask, "name", task_name, 0);
	rb_define_method(cTask, "namespace_name", task_namespace, 0);
	rb_define_method(cTask, "version", task_version, 0);
	rb_define_method(cTask, "context", task_context, 0);
	rb_define_method(cTask, "tags", task_tags, 0);
	rb_define_method(cTask, "initiator", task_initiator, 0);
	rb_define_method(cTask, "source_system", task_source, 0);
	rb_define_method(cTask, "reason", task_reason, 0);
	rb_define_method(cTask, "traceparent", task_traceparent, 0);

	cStep = rb_define_class_under(tc_mTaskerCore, "Step", rb_cObject);
	rb_undef_alloc_func(cStep);
	rb_define_method(cStep, "workflow_step_id", step_id, 0);
	rb_define_method(cStep, "task_id", step_task_id, 0);
	rb_define_method(cStep, "name", step_name, 0);
	rb_define_method(cStep, "state", step_state, 0);
	rb_define_method(cStep, "attempts", step_attempts, 0);
	rb_define_method(cStep, "retry_limit", step_retry_limit, 0);
	rb_define_method(cStep, "retryable", step_retryable, 0);
	rb_define_method(cStep, "handler_class", step_handler_class, 0);
	rb_define_method(cStep, "handler_config", step_handler_config, 0);
	rb_define_method(cStep, "inputs", step_inputs, 0);
	rb_define_method(cStep, "results", step_results, 0);
	rb_define_method(cStep, "results=", step_set_results, 1);
	rb_define_method(cStep, "results_assigned?", step_results_assigned_p, 0);

	cSequence = rb_define_class_under(tc_mTaskerCore, "Sequence", rb_cObject);
	rb_undef_alloc_func(cSequence);
	rb_define_method(cSequence, "steps", seq_steps, 0);
	rb_define_method(cSequence, "find_step_by_name", seq_find_step_by_name, 1);
	rb_define_method(cSequence, "size", seq_size_m, 0);
	rb_define_method(cSequence, "current_step", seq_current, 0);

	mStepHandler = rb_define_module_under(tc_mTaskerCore, "StepHandler");
	rb_define_module_function(mStepHandler, "run_lifecycle", m_run_lifecycle, 4);
	rb_define_module_function(mStepHandler, "_accepts_config?", m_accepts_config, 1);
	cBase = rb_define_class_under(mStepHandler, "Base", rb_cObject);
	rb_define_method(cBase, "initialize", base_initialize, -1);
	rb_define_attr(cBase, "config", 1, 0);
	rb_define_method(cBase, "process", base_process, 3);
	rb_define_method(cBase, "process_results", base_process_results, 3);
	rb_define_method(cBase, "handle", base_handle, 3);
}
