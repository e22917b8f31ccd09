/*
 * tc_events.c — TaskerCore::Subscription: lifecycle events delivered to a Ruby block.
 *
 * The core publishes events on whatever thread made them (a Ruby thread inside an engine call with
 * the GVL released, or one of the C worker's pthreads, which must never touch Ruby). So the core
 * subscriber registered here (synchronous) only copies the event's name and payload JSON into a
 * bounded queue that the subscription owns (mutex + condition variable); one Ruby thread per
 * subscription (started by lib/tasker_core/client.rb) waits on that queue with the GVL released,
 * converts each event to Ruby values and yields it. An exception in the block is counted and
 * printed with warn; it never reaches the engine.
 *
 * Lifetime: the C struct is what the core's callback receives, so it is freed only after the core
 * subscription is gone: by #_unsubscribe, by the client's close (tc_client_detach_subs), or by the
 * object's dfree, which unsubscribes first when the client is still there. Every change to the
 * client link happens with the GVL held, which serializes them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tc.h"

static VALUE cSubscription;

typedef struct ev_node {
	struct ev_node *next;
	char *name;
	char *payload;
} ev_node;

typedef struct {
	tc_sub_link link;      /* first: the client's list of live subscriptions */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	ev_node *head, *tail;
	size_t count, capacity;
	int stop;              /* unsubscribed or client closed: the Ruby thread leaves */
	int delivering;        /* the Ruby thread is running the block */
	uint64_t core_id;      /* core subscription id; 0 when not subscribed */
	uint64_t received, delivered, errors, dropped;
	VALUE client;          /* TaskerCore::Client (kept alive while the subscription is) */
	VALUE block;
} tc_sub;

static void node_free(ev_node *n)
{
	free(n->name);
	free(n->payload);
	free(n);
}

/* ---- the core's callback: any thread, no Ruby */

static int on_event(const tasker_event *e, void *payload)
{
	tc_sub *s = payload;
	ev_node *n = malloc(sizeof *n);
	if (!n)
		return -1;
	n->next = NULL;
	n->name = strdup(e->name ? e->name : "");
	n->payload = strdup(e->payload_json ? e->payload_json : "{}");
	if (!n->name || !n->payload) {
		node_free(n);
		return -1;
	}
	ev_node *drop = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->stop) {
		pthread_mutex_unlock(&s->mu);
		node_free(n);
		return 0;
	}
	if (s->count >= s->capacity && s->head) { /* full: drop the oldest, as the core's async queues do */
		drop = s->head;
		s->head = drop->next;
		if (!s->head)
			s->tail = NULL;
		s->count--;
		s->dropped++;
	}
	if (s->tail)
		s->tail->next = n;
	else
		s->head = n;
	s->tail = n;
	s->count++;
	s->received++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	if (drop)
		node_free(drop);
	return 0;
}

/* ---- detaching from the core */

/* Called with the GVL held, by _unsubscribe, the client's close, or either dfree. */
static void sub_stop(tc_sub *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	ev_node *n = s->head;
	s->head = s->tail = NULL;
	s->count = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	while (n) {
		ev_node *next = n->next;
		node_free(n);
		n = next;
	}
}

/* The client is closing or being freed: unsubscribe from its core (still alive) and stop. */
static void sub_detach(tc_sub_link *l, tasker_client *core)
{
	tc_sub *s = (tc_sub *)l;
	if (s->core_id && core)
		tasker_event_unsubscribe(core, s->core_id);
	s->core_id = 0;
	sub_stop(s);
}

/* ---- typed data */

static void sub_mark(void *p)
{
	tc_sub *s = p;
	rb_gc_mark(s->client);
	rb_gc_mark(s->block);
}

static void sub_free(void *p)
{
	tc_sub *s = p;
	/* The core must never call on_event with a freed s: unsubscribe first if the client still has us. */
	tasker_client *core = tc_client_unlink_sub(&s->link);
	if (s->core_id && core)
		tasker_event_unsubscribe(core, s->core_id);
	s->core_id = 0;
	sub_stop(s);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	xfree(s);
}

static size_t sub_size(const void *p)
{
	const tc_sub *s = p;
	return sizeof *s + s->count * sizeof(ev_node);
}

static const rb_data_type_t sub_type = {
	"TaskerCore::Subscription",
	{sub_mark, sub_free, sub_size},
	NULL,
	NULL,
	0,
};

static VALUE sub_alloc(VALUE klass)
{
	tc_sub *s;
	VALUE obj = TypedData_Make_Struct(klass, tc_sub, &sub_type, s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->client = Qnil;
	s->block = Qnil;
	s->link.detach = sub_detach;
	return obj;
}

static tc_sub *get(VALUE self)
{
	return rb_check_typeddata(self, &sub_type);
}

/* ---- subscribing */

typedef struct {
	tasker_client *core;
	const char *pattern;
	tc_sub *s;
	uint64_t id;
	int rc;
} subscribe_args;

static void *do_subscribe(void *p)
{
	subscribe_args *a = p;
	a->rc = tasker_event_subscribe(&a->id, a->core, a->pattern, on_event, a->s, NULL);
	return NULL;
}

/* Client#_subscribe(pattern, queue_capacity, block) → Subscription (its thread not started yet) */
static VALUE client_subscribe(VALUE client, VALUE pattern, VALUE capacity, VALUE block)
{
	VALUE pat = rb_str_new_frozen(StringValue(pattern));
	long cap = NIL_P(capacity) ? 10000 : NUM2LONG(capacity);
	if (cap < 1)
		rb_raise(rb_eArgError, "queue_capacity must be positive");
	VALUE obj = sub_alloc(cSubscription);
	tc_sub *s = get(obj);
	s->capacity = (size_t)cap;
	s->client = client;
	s->block = block;
	subscribe_args a = {tc_client_get(client), StringValueCStr(pat), s, 0, 0};
	tc_client_call(client, do_subscribe, &a);
	RB_GC_GUARD(pat);
	if (a.rc)
		tc_raise(a.rc);
	s->core_id = a.id;
	/* If the client was closed while we subscribed, close already ran: undo at once. */
	if (!tc_client_link_sub(client, &s->link))
		sub_detach(&s->link, NULL);
	return obj;
}

/* ---- the Ruby thread */

typedef struct {
	tc_sub *s;
	int interrupted;
	ev_node *got;
	struct timespec deadline; /* flush only */
	int timed_out;
} wait_ctx;

static void wake(void *p)
{
	wait_ctx *w = p;
	pthread_mutex_lock(&w->s->mu);
	w->interrupted = 1;
	pthread_cond_broadcast(&w->s->cond);
	pthread_mutex_unlock(&w->s->mu);
}

static void *wait_event(void *p)
{
	wait_ctx *w = p;
	tc_sub *s = w->s;
	pthread_mutex_lock(&s->mu);
	while (!s->head && !s->stop && !w->interrupted)
		pthread_cond_wait(&s->cond, &s->mu);
	if (s->head && !s->stop) {
		w->got = s->head;
		s->head = w->got->next;
		if (!s->head)
			s->tail = NULL;
		s->count--;
		s->delivering = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

typedef struct {
	VALUE block, name, payload_json;
} yield_args;

static VALUE yield_event(VALUE p)
{
	yield_args *y = (yield_args *)p;
	VALUE payload = tc_json_parse(RSTRING_PTR(y->payload_json), RSTRING_LEN(y->payload_json));
	return rb_funcall(y->block, rb_intern("call"), 2, y->name, payload);
}

static VALUE warn_error(VALUE err)
{
	VALUE msg = rb_sprintf("tasker-core: event subscriber raised %" PRIsVALUE ": %" PRIsVALUE,
	                       rb_obj_class(err), rb_funcall(err, rb_intern("message"), 0));
	return rb_funcall(rb_mKernel, rb_intern("warn"), 1, msg);
}

static void delivered(tc_sub *s, int failed)
{
	pthread_mutex_lock(&s->mu);
	s->delivering = 0;
	s->delivered++;
	if (failed)
		s->errors++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

/* Subscription#_run: the subscription thread's loop; returns once unsubscribed. */
static VALUE sub_run(VALUE self)
{
	tc_sub *s = get(self);
	for (;;) {
		wait_ctx w;
		memset(&w, 0, sizeof w);
		w.s = s;
		/* Thread#kill and friends call wake(); pending interrupts are handled when this returns. */
		rb_thread_call_without_gvl(wait_event, &w, wake, &w);
		if (!w.got) {
			int stop;
			pthread_mutex_lock(&s->mu);
			stop = s->stop;
			pthread_mutex_unlock(&s->mu);
			if (stop)
				return Qnil;
			continue;
		}
		yield_args y = {s->block, tc_str(w.got->name), tc_str(w.got->payload)};
		node_free(w.got);
		int state = 0;
		rb_protect(yield_event, (VALUE)&y, &state);
		if (state) {
			VALUE err = rb_errinfo();
			if (!rb_obj_is_kind_of(err, rb_eStandardError)) { /* kill, exit, throw: not ours to swallow */
				delivered(s, 1);
				rb_jump_tag(state);
			}
			rb_set_errinfo(Qnil);
			int st2 = 0;
			rb_protect(warn_error, err, &st2);
			if (st2)
				rb_set_errinfo(Qnil);
		}
		delivered(s, state != 0);
		RB_GC_GUARD(y.name);
		RB_GC_GUARD(y.payload_json);
	}
}

/* ---- flush, unsubscribe, stats */

static void *wait_idle(void *p)
{
	wait_ctx *w = p;
	tc_sub *s = w->s;
	pthread_mutex_lock(&s->mu);
	while ((s->head || s->delivering) && !s->stop && !w->interrupted) {
		if (pthread_cond_timedwait(&s->cond, &s->mu, &w->deadline) == ETIMEDOUT) {
			w->timed_out = (s->head || s->delivering) && !s->stop;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Subscription#_flush(timeout_seconds) → true when the queue is empty and the block idle */
static VALUE sub_flush(VALUE self, VALUE timeout)
{
	tc_sub *s = get(self);
	double secs = NUM2DBL(timeout);
	wait_ctx w;
	memset(&w, 0, sizeof w);
	w.s = s;
	clock_gettime(CLOCK_REALTIME, &w.deadline);
	long long ns = (long long)(secs * 1e9) + w.deadline.tv_nsec;
	w.deadline.tv_sec += (time_t)(ns / 1000000000LL);
	w.deadline.tv_nsec = (long)(ns % 1000000000LL);
	rb_thread_call_without_gvl(wait_idle, &w, wake, &w);
	return w.timed_out ? Qfalse : Qtrue;
}

typedef struct {
	tasker_client *core;
	uint64_t id;
} unsub_args;

static void *do_unsubscribe(void *p)
{
	unsub_args *a = p;
	tasker_event_unsubscribe(a->core, a->id);
	return NULL;
}

/* Subscription#_unsubscribe: after it returns the core never calls us again and the thread leaves. */
static VALUE sub_unsubscribe(VALUE self)
{
	tc_sub *s = get(self);
	tasker_client *core = tc_client_unlink_sub(&s->link);
	uint64_t id = s->core_id;
	s->core_id = 0;
	if (core && id) {
		unsub_args a = {core, id};
		/* The client cannot be freed meanwhile: tc_client_call counts the call. */
		tc_client_call(s->client, do_unsubscribe, &a);
	}
	sub_stop(s);
	return Qnil;
}

static VALUE sub_active_p(VALUE self)
{
	tc_sub *s = get(self);
	pthread_mutex_lock(&s->mu);
	int stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop ? Qfalse : Qtrue;
}

#define SYM(x) ID2SYM(rb_intern(x))

static VALUE sub_stats(VALUE self)
{
	tc_sub *s = get(self);
	pthread_mutex_lock(&s->mu);
	uint64_t v[5] = {s->received, s->delivered, s->errors, s->dropped, s->count};
	pthread_mutex_unlock(&s->mu);
	VALUE h = rb_hash_new();
	rb_hash_aset(h, SYM("received"), ULL2NUM(v[0]));
	rb_hash_aset(h, SYM("delivered"), ULL2NUM(v[1]));
	rb_hash_aset(h, SYM("errors"), ULL2NUM(v[2]));
	rb_hash_aset(h, SYM("dropped"), ULL2NUM(v[3]));
	rb_hash_aset(h, SYM("queued"), ULL2NUM(v[4]));
	return h;
}

typedef struct {
	tasker_client *core;
	int ms;
	int rc;
} flush_args;

static void *do_core_flush(void *p)
{
	flush_args *a = p;
	a->rc = tasker_event_flush(a->core, a->ms);
	return NULL;
}

/* Client#_flush_core_events(ms): the core's asynchronous queues (the gem's own subscribers are
 * synchronous copies; this covers any other). Returns true when drained. */
static VALUE client_flush_core(VALUE client, VALUE ms)
{
	flush_args a = {tc_client_get(client), NUM2INT(ms), 0};
	tc_client_call(client, do_core_flush, &a);
	return a.rc ? Qfalse : Qtrue;
}

void tc_init_events(void)
{
	cSubscription = rb_define_class_under(tc_mTaskerCore, "Subscription", rb_cObject);
	rb_undef_alloc_func(cSubscription);
	rb_define_private_method(cSubscription, "_run", sub_run, 0);
	rb_define_private_method(cSubscription, "_flush", sub_flush, 1);
	rb_define_private_method(cSubscription, "_unsubscribe", sub_unsubscribe, 0);
	rb_define_method(cSubscription, "active?", sub_active_p, 0);
	rb_define_method(cSubscription, "stats", sub_stats, 0);
	rb_define_private_method(tc_cClient, "_subscribe", client_subscribe, 3);
	rb_define_private_method(tc_cClient, "_flush_core_events", client_flush_core, 1);
}
