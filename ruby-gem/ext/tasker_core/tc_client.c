/*
 * tc_client.c — TaskerCore::Client: a typed-data wrapper around tasker_client. Every call that waits
 * on PostgreSQL runs with the GVL released; results come back as Ruby values (Hashes with symbol keys
 * that lib/tasker_core/client.rb wraps into documented objects). Holds no engine rule.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tc.h"

VALUE tc_cClient;

typedef struct {
	tasker_client *client;
	pthread_mutex_t mu;
	int busy;    /* calls in progress (GVL released) */
	int closed;  /* close requested; the last call to finish frees the client */
	tc_sub_link *subs; /* live event subscriptions (tc_events.c), detached at close */
} tc_client;

/* Unsubscribes every live subscription from the core (still open) and stops its thread. GVL held. */
static void detach_subs(tc_client *c)
{
	while (c->subs) {
		tc_sub_link *l = c->subs;
		c->subs = l->next;
		if (l->next)
			l->next->pprev = &c->subs;
		l->next = NULL;
		l->pprev = NULL;
		l->owner = NULL;
		l->detach(l, c->client);
	}
}

tasker_client *tc_client_unlink_sub(tc_sub_link *l)
{
	tc_client *c = l->owner;
	if (!c)
		return NULL;
	*l->pprev = l->next;
	if (l->next)
		l->next->pprev = l->pprev;
	l->next = NULL;
	l->pprev = NULL;
	l->owner = NULL;
	return c->client;
}

static void client_free(void *p)
{
	tc_client *c = p;
	/* A Client can only be collected when no call holds it (each call keeps `self` alive). */
	detach_subs(c);
	tasker_client_free(c->client);
	pthread_mutex_destroy(&c->mu);
	xfree(c);
}

static size_t client_size(const void *p)
{
	(void)p;
	return sizeof(tc_client);
}

static const rb_data_type_t client_type = {
	"TaskerCore::Client",
	{NULL, client_free, client_size},
	NULL,
	NULL,
	RUBY_TYPED_FREE_IMMEDIATELY,
};

static VALUE client_alloc(VALUE klass)
{
	tc_client *c;
	VALUE obj = TypedData_Make_Struct(klass, tc_client, &client_type, c);
	pthread_mutex_init(&c->mu, NULL);
	return obj;
}

static tc_client *get(VALUE self)
{
	return rb_check_typeddata(self, &client_type);
}

int tc_client_link_sub(VALUE self, tc_sub_link *l)
{
	tc_client *c = get(self);
	if (!c->client || c->closed)
		return 0;
	l->owner = c;
	l->next = c->subs;
	if (c->subs)
		c->subs->pprev = &l->next;
	l->pprev = &c->subs;
	c->subs = l;
	return 1;
}

tasker_client *tc_client_get(VALUE self)
{
	tc_client *c = get(self);
	if (!c->client || c->closed)
		tc_raise_named("Error", "the client is closed");
	return c->client;
}

/* ---- running a call without the GVL, interruptibly
 *
 * Each native thread has a cancel token (created on its first call, freed when the thread ends). It
 * is the thread's current token while a call runs without the GVL; the unblock function Ruby calls to
 * interrupt the thread (Ctrl-C, Thread#raise, Thread#kill) fires it, so the core ends the call at
 * once (TASKER_ECANCELED: a running statement is cancelled, a wait for a pooled connection ends), and
 * the interrupt is then raised here. */

static pthread_key_t token_key;

static void token_destroy(void *token) { tasker_cancel_free(token); }

static tasker_cancel *thread_token(void)
{
	tasker_cancel *t = pthread_getspecific(token_key);
	if (!t) {
		if (tasker_cancel_new(&t))
			rb_memerror();
		pthread_setspecific(token_key, t);
	}
	return t;
}

typedef struct {
	tc_client *c;
	void *(*fn)(void *);
	void *data;
	tasker_cancel *token;
	volatile int fired;
} call_ctx;

static void *run_with_token(void *p)
{
	call_ctx *x = p;
	tasker_cancel_set_current(x->token);
	x->fn(x->data);
	tasker_cancel_set_current(NULL);
	return NULL;
}

static void fire_token(void *p)
{
	call_ctx *x = p;
	x->fired = 1;
	tasker_cancel_fire(x->token);
}

static VALUE call_body(VALUE arg)
{
	call_ctx *x = (call_ctx *)arg;
	x->token = thread_token();
	/* Raises the interrupt that ended the call, if any; call_done resets the token. */
	rb_thread_call_without_gvl(run_with_token, x, fire_token, x);
	return Qnil;
}

static VALUE call_done(VALUE arg)
{
	call_ctx *x = (call_ctx *)arg;
	if (x->fired)
		tasker_cancel_reset(x->token);
	pthread_mutex_lock(&x->c->mu);
	int last = --x->c->busy == 0 && x->c->closed;
	tasker_client *to_free = last ? x->c->client : NULL;
	if (last)
		x->c->client = NULL;
	pthread_mutex_unlock(&x->c->mu);
	tasker_client_free(to_free);
	return Qnil;
}

void *tc_client_call(VALUE self, void *(*fn)(void *), void *data)
{
	tc_client *c = get(self);
	pthread_mutex_lock(&c->mu);
	int open = c->client && !c->closed;
	if (open)
		c->busy++;
	pthread_mutex_unlock(&c->mu);
	if (!open)
		tc_raise_named("Error", "the client is closed");
	call_ctx x = {c, fn, data, NULL, 0};
	rb_ensure(call_body, (VALUE)&x, call_done, (VALUE)&x);
	RB_GC_GUARD(self);
	return NULL;
}

/* ---- small conversions */

VALUE tc_str(const char *s)
{
	return s ? rb_enc_str_new_cstr(s, rb_utf8_encoding()) : Qnil;
}

VALUE tc_state_str(tasker_state s)
{
	static VALUE names[TASKER_STATE_COUNT];
	if ((int)s < 0 || s >= TASKER_STATE_COUNT)
		return Qnil;
	if (!names[s]) {
		names[s] = rb_obj_freeze(rb_enc_str_new_cstr(tasker_state_name(s), rb_usascii_encoding()));
		rb_gc_register_mark_object(names[s]);
	}
	return names[s];
}

/* A private frozen copy of a String argument (nil → NULL), so another thread cannot change it while
 * the GVL is released; *keep holds it for RB_GC_GUARD. */
static const char *cstr_arg(VALUE *keep, VALUE v)
{
	if (NIL_P(v)) {
		*keep = Qnil;
		return NULL;
	}
	*keep = rb_str_new_frozen(StringValue(v));
	return StringValueCStr(*keep);
}

static VALUE time_or_nil(int64_t us)
{
	if (us == TASKER_NULL_TIME)
		return Qnil;
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000L;
	}
	return rb_time_timespec_new(&ts, INT_MAX - 1); /* UTC */
}

#define SYM(s) ID2SYM(rb_intern(s))

/* ---- open / close */

typedef struct {
	tasker_client_options opts;
	tasker_config config;
	const char *config_path, *config_text;
	tasker_client *out;
	int rc;
	int stage; /* 0 loading config, 1 opening */
} open_args;

static void *do_open(void *p)
{
	open_args *a = p;
	a->rc = 0;
	if (a->config_path)
		a->rc = tasker_config_load_file(&a->config, a->config_path);
	if (!a->rc && a->config_text) /* a file, then settings over it */
		a->rc = tasker_config_load_string(&a->config, a->config_text, "TaskerCore::Client config");
	if (!a->rc)
		a->rc = tasker_config_apply_env(&a->config);
	if (a->rc)
		return NULL;
	a->opts.config = &a->config;
	a->rc = tasker_client_open(&a->out, &a->opts);
	return NULL;
}

/* _open(database_url, pool_size, application_name, config_path, config_text) */
static VALUE client_open(VALUE self, VALUE url, VALUE pool, VALUE app, VALUE cpath, VALUE ctext)
{
	tc_client *c = get(self);
	if (c->client)
		tc_raise_named("Error", "the client is already open");
	VALUE k1, k2, k3, k4;
	open_args a;
	memset(&a, 0, sizeof a);
	a.opts = (tasker_client_options)TASKER_CLIENT_OPTIONS_INIT;
	a.opts.database_url = cstr_arg(&k1, url);
	a.opts.application_name = cstr_arg(&k2, app);
	a.opts.pool_size = NIL_P(pool) ? 0 : NUM2UINT(pool);
	a.config_path = cstr_arg(&k3, cpath);
	a.config_text = cstr_arg(&k4, ctext);
	tasker_config_init(&a.config);
	/* Connecting waits on the network: no GVL (the client is not shared yet, so no busy count). */
	rb_thread_call_without_gvl(do_open, &a, NULL, NULL);
	tasker_config_clear(&a.config);
	RB_GC_GUARD(k1);
	RB_GC_GUARD(k2);
	RB_GC_GUARD(k3);
	RB_GC_GUARD(k4);
	if (a.rc)
		tc_raise(a.rc);
	c->client = a.out;
	return self;
}

static VALUE client_close(VALUE self)
{
	tc_client *c = get(self);
	pthread_mutex_lock(&c->mu);
	tasker_client *to_free = NULL;
	if (!c->closed) {
		c->closed = 1;
		pthread_mutex_unlock(&c->mu);
		detach_subs(c); /* the core client is still there: busy calls keep it, and we hold the GVL */
		pthread_mutex_lock(&c->mu);
		if (c->busy == 0) {
			to_free = c->client;
			c->client = NULL;
		}
	}
	pthread_mutex_unlock(&c->mu);
	tasker_client_free(to_free);
	return Qnil;
}

static VALUE client_closed_p(VALUE self)
{
	tc_client *c = get(self);
	return c->closed || !c->client ? Qtrue : Qfalse;
}

/* ---- migrations */

typedef struct {
	tasker_client *client;
	int rc, applied;
	tasker_migration_status *rows;
	size_t count;
} migrate_args;

static void *do_migrate(void *p)
{
	migrate_args *a = p;
	a->rc = tasker_db_apply_migrations(&a->applied, a->client);
	return NULL;
}

static VALUE client_migrate(VALUE self)
{
	migrate_args a = {tc_client_get(self), 0, 0, NULL, 0};
	tc_client_call(self, do_migrate, &a);
	if (a.rc)
		tc_raise(a.rc);
	return INT2NUM(a.applied);
}

static void *do_migration_status(void *p)
{
	migrate_args *a = p;
	a->rc = tasker_db_migration_status(&a->rows, &a->count, a->client);
	return NULL;
}

static VALUE client_migration_status(VALUE self)
{
	migrate_args a = {tc_client_get(self), 0, 0, NULL, 0};
	tc_client_call(self, do_migration_status, &a);
	if (a.rc)
		tc_raise(a.rc);
	VALUE list = rb_ary_new_capa((long)a.count);
	for (size_t i = 0; i < a.count; i++) {
		VALUE h = rb_hash_new();
		rb_hash_aset(h, SYM("version"), INT2NUM(a.rows[i].version));
		rb_hash_aset(h, SYM("name"), tc_str(a.rows[i].name));
		rb_hash_aset(h, SYM("applied"), a.rows[i].applied ? Qtrue : Qfalse);
		rb_ary_push(list, h);
	}
	tasker_free(a.rows);
	return list;
}

/* ---- templates */

typedef struct {
	tasker_client *client;
	const char *path, *text, *source, *environment;
	int is_json;
	int strict;                   /* -1: the client's engine.strict_templates */
	tasker_template_info info;
	tasker_template_step *steps;
	size_t nsteps;
	int rc;
} template_args;

static void *do_register(void *p)
{
	template_args *a = p;
	tasker_template_options opts = TASKER_TEMPLATE_OPTIONS_INIT;
	opts.environment = a->environment;
	opts.strict = a->strict;
	if (a->client)
		a->rc = tasker_template_register_ext(&a->info, a->client, a->path, a->text, a->is_json, a->source, &opts);
	else
		a->rc = tasker_template_validate_file(&a->info, a->path, a->environment);
	if (a->rc)
		return NULL;
	/* The step list (names, handler classes) is what a worker needs to find its handlers. */
	a->rc = tasker_template_describe(&a->steps, &a->nsteps, NULL, a->path, a->text, a->is_json, a->source,
	                                 a->environment);
	return NULL;
}

static VALUE template_hash(const template_args *a)
{
	VALUE h = rb_hash_new();
	rb_hash_aset(h, SYM("namespace"), tc_str(a->info.namespace_name));
	rb_hash_aset(h, SYM("name"), tc_str(a->info.name));
	rb_hash_aset(h, SYM("version"), tc_str(a->info.version));
	rb_hash_aset(h, SYM("step_count"), SIZET2NUM(a->info.step_count));
	VALUE steps = rb_ary_new_capa((long)a->nsteps);
	for (size_t i = 0; i < a->nsteps; i++) {
		const tasker_template_step *s = &a->steps[i];
		VALUE sh = rb_hash_new();
		rb_hash_aset(sh, SYM("name"), tc_str(s->name));
		rb_hash_aset(sh, SYM("handler_class"), tc_str(s->handler_class));
		VALUE deps = rb_ary_new_capa((long)s->depends_on_count);
		for (size_t k = 0; k < s->depends_on_count; k++)
			rb_ary_push(deps, tc_str(s->depends_on[k]));
		rb_hash_aset(sh, SYM("depends_on"), deps);
		rb_hash_aset(sh, SYM("retry_limit"), INT2NUM(s->retry_limit));
		rb_hash_aset(sh, SYM("retryable"), s->retryable ? Qtrue : Qfalse);
		rb_hash_aset(sh, SYM("skippable"), s->skippable ? Qtrue : Qfalse);
		rb_ary_push(steps, sh);
	}
	rb_hash_aset(h, SYM("steps"), steps);
	return h;
}

static void template_run(VALUE self, template_args *a)
{
	if (NIL_P(self))
		rb_thread_call_without_gvl(do_register, a, NULL, NULL);
	else
		tc_client_call(self, do_register, a);
}

static VALUE template_finish(template_args *a)
{
	if (a->rc) {
		tasker_template_steps_free(a->steps, a->nsteps);
		tc_raise(a->rc);
	}
	VALUE h = template_hash(a);
	tasker_template_steps_free(a->steps, a->nsteps);
	return h;
}

/* nil → the client's configuration decides; true/false. */
static int strict_arg(VALUE strict)
{
	return NIL_P(strict) ? -1 : RTEST(strict) ? 1 : 0;
}

/* _register_template_file(path, environment, strict) */
static VALUE client_register_file(VALUE self, VALUE path, VALUE env, VALUE strict)
{
	VALUE k1, k2;
	template_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.strict = strict_arg(strict);
	a.path = cstr_arg(&k1, path);
	a.environment = cstr_arg(&k2, env);
	template_run(self, &a);
	RB_GC_GUARD(k1);
	RB_GC_GUARD(k2);
	return template_finish(&a);
}

/* _register_template_text(text, is_json, source_name, environment, strict) */
static VALUE client_register_text(VALUE self, VALUE text, VALUE is_json, VALUE source, VALUE env, VALUE strict)
{
	VALUE k1, k2, k3;
	template_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.strict = strict_arg(strict);
	a.text = cstr_arg(&k1, text);
	a.is_json = RTEST(is_json);
	a.source = cstr_arg(&k2, source);
	a.environment = cstr_arg(&k3, env);
	template_run(self, &a);
	RB_GC_GUARD(k1);
	RB_GC_GUARD(k2);
	RB_GC_GUARD(k3);
	return template_finish(&a);
}

/* TaskerCore._validate_template_file(path, environment): no database. */
static VALUE m_validate_template(VALUE mod, VALUE path, VALUE env)
{
	(void)mod;
	VALUE k1, k2;
	template_args a;
	memset(&a, 0, sizeof a);
	a.path = cstr_arg(&k1, path);
	a.environment = cstr_arg(&k2, env);
	template_run(Qnil, &a);
	RB_GC_GUARD(k1);
	RB_GC_GUARD(k2);
	return template_finish(&a);
}

/* ---- tasks */

typedef struct {
	tasker_client *client;
	tasker_task_request q;
	int64_t id;
	int rc;
} create_args;

static void *do_create(void *p)
{
	create_args *a = p;
	a->rc = tasker_task_create(&a->id, a->client, &a->q);
	return NULL;
}

/* _create_task(name, namespace, version, context, initiator, source_system, reason, tags, bypass_steps,
 *              requested_at, identity, traceparent) → [task_id, created] */
static VALUE client_create_task(int argc, VALUE *argv, VALUE self)
{
	rb_check_arity(argc, 12, 12);
	VALUE keep[11];
	create_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.q = (tasker_task_request)TASKER_TASK_REQUEST_INIT;
	a.q.name = cstr_arg(&keep[0], argv[0]);
	a.q.namespace_name = cstr_arg(&keep[1], argv[1]);
	a.q.template_version = cstr_arg(&keep[2], argv[2]);
	keep[3] = tc_json_generate(NIL_P(argv[3]) ? rb_hash_new() : argv[3]);
	a.q.context_json = StringValueCStr(keep[3]);
	a.q.initiator = cstr_arg(&keep[4], argv[4]);
	a.q.source_system = cstr_arg(&keep[5], argv[5]);
	a.q.reason = cstr_arg(&keep[6], argv[6]);
	keep[7] = NIL_P(argv[7]) ? Qnil : tc_json_generate(argv[7]);
	a.q.tags_json = NIL_P(keep[7]) ? NULL : StringValueCStr(keep[7]);
	keep[8] = NIL_P(argv[8]) ? Qnil : tc_json_generate(argv[8]);
	a.q.bypass_steps_json = NIL_P(keep[8]) ? NULL : StringValueCStr(keep[8]);
	a.q.requested_at = cstr_arg(&keep[9], argv[9]);
	a.q.identity_strategy = (tasker_identity_strategy)NUM2INT(argv[10]);
	a.q.traceparent = cstr_arg(&keep[10], argv[11]);
	tc_client_call(self, do_create, &a);
	for (int i = 0; i < 11; i++)
		RB_GC_GUARD(keep[i]);
	if (a.rc < 0)
		tc_raise(a.rc);
	return rb_assoc_new(LL2NUM(a.id), a.rc == TASKER_EXISTS ? Qfalse : Qtrue);
}

typedef struct {
	tasker_client *client;
	int64_t id;
	tasker_task_view *view;
	tasker_task_context ctx;
	int with_context;
	int rc;
} get_args;

static void *do_get(void *p)
{
	get_args *a = p;
	a->rc = tasker_task_get(&a->view, a->client, a->id);
	if (!a->rc && a->with_context)
		a->rc = tasker_task_execution_context(&a->ctx, a->client, a->id);
	return NULL;
}

static VALUE context_hash(const tasker_task_context *c)
{
	VALUE h = rb_hash_new();
	rb_hash_aset(h, SYM("task_id"), LL2NUM(c->task_id));
	rb_hash_aset(h, SYM("named_task_id"), INT2NUM(c->named_task_id));
	rb_hash_aset(h, SYM("status"), tc_state_str(c->status));
	rb_hash_aset(h, SYM("total_steps"), LL2NUM(c->total_steps));
	rb_hash_aset(h, SYM("pending_steps"), LL2NUM(c->pending_steps));
	rb_hash_aset(h, SYM("in_progress_steps"), LL2NUM(c->in_progress_steps));
	rb_hash_aset(h, SYM("completed_steps"), LL2NUM(c->completed_steps));
	rb_hash_aset(h, SYM("failed_steps"), LL2NUM(c->failed_steps));
	rb_hash_aset(h, SYM("ready_steps"), LL2NUM(c->ready_steps));
	rb_hash_aset(h, SYM("execution_status"), tc_str(c->execution_status));
	rb_hash_aset(h, SYM("recommended_action"), tc_str(c->recommended_action));
	rb_hash_aset(h, SYM("completion_percentage"), DBL2NUM(c->completion_percentage));
	rb_hash_aset(h, SYM("health_status"), tc_str(c->health_status));
	rb_hash_aset(h, SYM("next_ready_at"), time_or_nil(c->next_ready_at));
	return h;
}

static VALUE view_hash(const tasker_task_view *v)
{
	VALUE h = rb_hash_new();
	rb_hash_aset(h, SYM("task_id"), LL2NUM(v->task_id));
	rb_hash_aset(h, SYM("namespace"), tc_str(v->namespace_name));
	rb_hash_aset(h, SYM("name"), tc_str(v->name));
	rb_hash_aset(h, SYM("version"), tc_str(v->version));
	rb_hash_aset(h, SYM("state"), tc_state_str(v->state));
	rb_hash_aset(h, SYM("complete"), v->complete ? Qtrue : Qfalse);
	rb_hash_aset(h, SYM("context"), tc_json_parse_cstr(v->context_json));
	rb_hash_aset(h, SYM("tags"), tc_json_parse_cstr(v->tags_json));
	rb_hash_aset(h, SYM("initiator"), tc_str(v->initiator));
	rb_hash_aset(h, SYM("source_system"), tc_str(v->source_system));
	rb_hash_aset(h, SYM("reason"), tc_str(v->reason));
	rb_hash_aset(h, SYM("identity_hash"), tc_str(v->identity_hash));
	rb_hash_aset(h, SYM("requested_at"), tc_str(v->requested_at));
	VALUE steps = rb_ary_new_capa((long)v->step_count);
	for (size_t i = 0; i < v->step_count; i++) {
		const tasker_step_view *s = &v->steps[i];
		VALUE sh = rb_hash_new();
		rb_hash_aset(sh, SYM("workflow_step_id"), LL2NUM(s->workflow_step_id));
		rb_hash_aset(sh, SYM("name"), tc_str(s->name));
		rb_hash_aset(sh, SYM("handler_class"), tc_str(s->handler_class));
		rb_hash_aset(sh, SYM("state"), tc_state_str(s->state));
		rb_hash_aset(sh, SYM("attempts"), INT2NUM(s->attempts));
		rb_hash_aset(sh, SYM("retry_limit"), INT2NUM(s->retry_limit));
		rb_hash_aset(sh, SYM("retryable"), s->retryable ? Qtrue : Qfalse);
		rb_hash_aset(sh, SYM("skippable"), s->skippable ? Qtrue : Qfalse);
		rb_hash_aset(sh, SYM("processed"), s->processed ? Qtrue : Qfalse);
		rb_hash_aset(sh, SYM("results"), tc_json_parse_cstr(s->results_json));
		VALUE parents = rb_ary_new_capa((long)s->parent_count);
		for (size_t k = 0; k < s->parent_count; k++)
			rb_ary_push(parents, LL2NUM(s->parent_ids[k]));
		rb_hash_aset(sh, SYM("parent_ids"), parents);
		rb_ary_push(steps, sh);
	}
	rb_hash_aset(h, SYM("steps"), steps);
	return h;
}

static VALUE free_view(VALUE p)
{
	tasker_task_view_free((tasker_task_view *)p);
	return Qnil;
}

static VALUE build_task(VALUE p)
{
	get_args *a = (get_args *)p;
	VALUE h = view_hash(a->view);
	if (a->with_context)
		rb_hash_aset(h, SYM("execution_context"), context_hash(&a->ctx));
	return h;
}

/* _task(id) → Hash with the task, its steps and its execution context */
static VALUE client_task(VALUE self, VALUE id)
{
	get_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.id = NUM2LL(id);
	a.with_context = 1;
	tc_client_call(self, do_get, &a);
	if (a.rc) {
		tasker_task_view_free(a.view);
		tc_raise(a.rc);
	}
	return rb_ensure(build_task, (VALUE)&a, free_view, (VALUE)a.view);
}

static void *do_mermaid(void *p)
{
	get_args *a = p;
	a->rc = tasker_task_get(&a->view, a->client, a->id);
	return NULL;
}

static VALUE client_mermaid(VALUE self, VALUE id)
{
	get_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.id = NUM2LL(id);
	tc_client_call(self, do_mermaid, &a);
	if (a.rc)
		tc_raise(a.rc);
	char *text = tasker_task_view_mermaid(a.view);
	tasker_task_view_free(a.view);
	if (!text)
		rb_memerror();
	VALUE s = tc_str(text);
	tasker_free(text);
	return s;
}

static void *do_context(void *p)
{
	get_args *a = p;
	a->rc = tasker_task_execution_context(&a->ctx, a->client, a->id);
	return NULL;
}

static VALUE client_execution_context(VALUE self, VALUE id)
{
	get_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.id = NUM2LL(id);
	tc_client_call(self, do_context, &a);
	if (a.rc)
		tc_raise(a.rc);
	return context_hash(&a.ctx);
}

typedef struct {
	tasker_client *client;
	int64_t id;
	tasker_step_readiness *rows;
	size_t count;
	int rc;
} readiness_args;

static void *do_readiness(void *p)
{
	readiness_args *a = p;
	a->rc = tasker_task_readiness(&a->rows, &a->count, a->client, a->id);
	return NULL;
}

static VALUE build_readiness(VALUE p)
{
	readiness_args *a = (readiness_args *)p;
	VALUE list = rb_ary_new_capa((long)a->count);
	for (size_t i = 0; i < a->count; i++) {
		const tasker_step_readiness *r = &a->rows[i];
		VALUE h = rb_hash_new();
		rb_hash_aset(h, SYM("workflow_step_id"), LL2NUM(r->workflow_step_id));
		rb_hash_aset(h, SYM("task_id"), LL2NUM(r->task_id));
		rb_hash_aset(h, SYM("named_step_id"), INT2NUM(r->named_step_id));
		rb_hash_aset(h, SYM("name"), tc_str(r->name));
		rb_hash_aset(h, SYM("current_state"), tc_state_str(r->current_state));
		rb_hash_aset(h, SYM("dependencies_satisfied"), r->dependencies_satisfied ? Qtrue : Qfalse);
		rb_hash_aset(h, SYM("retry_eligible"), r->retry_eligible ? Qtrue : Qfalse);
		rb_hash_aset(h, SYM("ready_for_execution"), r->ready_for_execution ? Qtrue : Qfalse);
		rb_hash_aset(h, SYM("last_failure_at"), time_or_nil(r->last_failure_at));
		rb_hash_aset(h, SYM("next_retry_at"), time_or_nil(r->next_retry_at));
		rb_hash_aset(h, SYM("total_parents"), INT2NUM(r->total_parents));
		rb_hash_aset(h, SYM("completed_parents"), INT2NUM(r->completed_parents));
		rb_hash_aset(h, SYM("attempts"), INT2NUM(r->attempts));
		rb_hash_aset(h, SYM("retry_limit"), INT2NUM(r->retry_limit));
		rb_hash_aset(h, SYM("backoff_request_seconds"),
		             r->backoff_request_seconds < 0 ? Qnil : INT2NUM(r->backoff_request_seconds));
		rb_hash_aset(h, SYM("last_attempted_at"), time_or_nil(r->last_attempted_at));
		rb_ary_push(list, h);
	}
	return list;
}

static VALUE free_readiness(VALUE p)
{
	readiness_args *a = (readiness_args *)p;
	tasker_readiness_free(a->rows, a->count);
	return Qnil;
}

static VALUE client_readiness(VALUE self, VALUE id)
{
	readiness_args a = {tc_client_get(self), NUM2LL(id), NULL, 0, 0};
	tc_client_call(self, do_readiness, &a);
	if (a.rc)
		tc_raise(a.rc);
	return rb_ensure(build_readiness, (VALUE)&a, free_readiness, (VALUE)&a);
}

/* ---- states and operations */

enum op { OP_CANCEL, OP_RETRY, OP_RESOLVE, OP_TASK_STATE, OP_STEP_STATE, OP_RECOVER, OP_HEALTH };

typedef struct {
	tasker_client *client;
	enum op op;
	int64_t id;
	const char *json;
	tasker_state state;
	int count;
	char *out;
	int rc;
} op_args;

static void *do_op(void *p)
{
	op_args *a = p;
	switch (a->op) {
	case OP_CANCEL: a->rc = tasker_task_cancel(a->client, a->id); break;
	case OP_RETRY: a->rc = tasker_task_retry(a->client, a->id); break;
	case OP_RESOLVE: a->rc = tasker_step_resolve(a->client, a->id, a->json); break;
	case OP_TASK_STATE: a->rc = tasker_task_state(&a->state, a->client, a->id); break;
	case OP_STEP_STATE: a->rc = tasker_step_state(&a->state, a->client, a->id); break;
	case OP_RECOVER: a->rc = tasker_step_recover_expired(&a->count, a->client); break;
	case OP_HEALTH: a->rc = tasker_health_counts(&a->out, a->client); break;
	}
	return NULL;
}

static op_args run_op(VALUE self, enum op op, VALUE id, const char *json)
{
	op_args a;
	memset(&a, 0, sizeof a);
	a.client = tc_client_get(self);
	a.op = op;
	a.id = NIL_P(id) ? 0 : NUM2LL(id);
	a.json = json;
	tc_client_call(self, do_op, &a);
	if (a.rc)
		tc_raise(a.rc);
	return a;
}

static VALUE client_cancel_task(VALUE self, VALUE id)
{
	run_op(self, OP_CANCEL, id, NULL);
	return Qtrue;
}

static VALUE client_retry_task(VALUE self, VALUE id)
{
	run_op(self, OP_RETRY, id, NULL);
	return Qtrue;
}

static VALUE client_resolve_step(VALUE self, VALUE id, VALUE results)
{
	VALUE json = NIL_P(results) ? Qnil : tc_json_generate(results);
	run_op(self, OP_RESOLVE, id, NIL_P(json) ? NULL : StringValueCStr(json));
	RB_GC_GUARD(json);
	return Qtrue;
}

static VALUE client_task_state(VALUE self, VALUE id)
{
	return tc_state_str(run_op(self, OP_TASK_STATE, id, NULL).state);
}

static VALUE client_step_state(VALUE self, VALUE id)
{
	return tc_state_str(run_op(self, OP_STEP_STATE, id, NULL).state);
}

static VALUE client_recover(VALUE self)
{
	return INT2NUM(run_op(self, OP_RECOVER, Qnil, NULL).count);
}

static VALUE client_health(VALUE self)
{
	op_args a = run_op(self, OP_HEALTH, Qnil, NULL);
	VALUE json = tc_str(a.out);
	tasker_free(a.out);
	return tc_json_parse(RSTRING_PTR(json), RSTRING_LEN(json));
}

void tc_init_client(void)
{
	if (pthread_key_create(&token_key, token_destroy))
		rb_raise(rb_eNoMemError, "tasker-core: cannot create a thread key");
	tc_cClient = rb_define_class_under(tc_mTaskerCore, "Client", rb_cObject);
	rb_define_alloc_func(tc_cClient, client_alloc);
	rb_define_private_method(tc_cClient, "_open", client_open, 5);
	rb_define_method(tc_cClient, "close", client_close, 0);
	rb_define_method(tc_cClient, "closed?", client_closed_p, 0);
	rb_define_method(tc_cClient, "migrate!", client_migrate, 0);
	rb_define_private_method(tc_cClient, "_migration_status", client_migration_status, 0);
	rb_define_private_method(tc_cClient, "_register_template_file", client_register_file, 3);
	rb_define_private_method(tc_cClient, "_register_template_text", client_register_text, 5);
	rb_define_private_method(tc_cClient, "_create_task", client_create_task, -1);
	rb_define_private_method(tc_cClient, "_task", client_task, 1);
	rb_define_private_method(tc_cClient, "_execution_context", client_execution_context, 1);
	rb_define_private_method(tc_cClient, "_readiness", client_readiness, 1);
	rb_define_method(tc_cClient, "mermaid", client_mermaid, 1);
	rb_define_method(tc_cClient, "cancel_task", client_cancel_task, 1);
	rb_define_method(tc_cClient, "retry_task", client_retry_task, 1);
	rb_define_private_method(tc_cClient, "_resolve_step", client_resolve_step, 2);
	rb_define_method(tc_cClient, "task_state", client_task_state, 1);
	rb_define_method(tc_cClient, "step_state", client_step_state, 1);
	rb_define_method(tc_cClient, "recover_expired_claims", client_recover, 0);
	rb_define_method(tc_cClient, "health", client_health, 0);
	rb_define_module_function(tc_mTaskerCore, "_validate_template_file", m_validate_template, 2);
}
