/*
 * tc_events.c — TaskerCore::Subscription: lifecycle events delivered to a Ruby block.
 *
 * Each subscription is one of the core's pull-style event queues (tasker_event_queue_*): the core
 * copies matching events into it on whatever thread publishes them, and never calls Ruby. The
 * subscription's Ruby thread (started by lib/tasker_core/events.rb) takes events with
 * tasker_event_queue_next, sleeps on the queue's descriptor (and a stop pipe) with
 * rb_thread_fd_select when it is empty, converts each event to Ruby values and yields it. An
 * exception in the block is counted and printed with warn; it never reaches the engine.
 *
 * Lifetime: the queue is closed (its core subscription removed) by #_unsubscribe, by the client's
 * close (tc_client_detach_subs, before the core client is freed) or by dfree; the stop pipe wakes
 * the thread first, and the thread never touches the queue after a stop. Every change happens with
 * the GVL held, which serializes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ruby/io.h>

#include "tc.h"

static VALUE cSubscription;

typedef struct {
	tc_sub_link link;      /* first: the client's list of live subscriptions */
	tasker_event_queue *q; /* NULL once stopped */
	int stop_fd[2];        /* readable once stopped: wakes the thread */
	int stop;
	int delivering;        /* the Ruby thread is running the block */
	uint64_t delivered, errors, dropped_before_stop;
	VALUE client;          /* TaskerCore::Client (kept alive while the subscription is) */
	VALUE block;
} tc_sub;

/* ---- detaching from the core (GVL held) */

static void sub_stop(tc_sub *s)
{
	if (s->stop)
		return;
	s->stop = 1;
	char b = 1;
	ssize_t n = write(s->stop_fd[1], &b, 1);
	(void)n;
	if (s->q) {
		s->dropped_before_stop = tasker_event_queue_dropped(s->q);
		tasker_event_queue_close(s->q); /* the core never copies into it again */
		s->q = NULL;
	}
}

/* The client is closing or being freed (its core still alive): stop. */
static void sub_detach(tc_sub_link *l, tasker_client *core)
{
	(void)core;
	sub_stop((tc_sub *)l);
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
	/* The queue must be closed while its client lives: if the client still has us, it is alive. */
	if (tc_client_unlink_sub(&s->link))
		sub_stop(s);
	for (int i = 0; i < 2; i++)
		if (s->stop_fd[i] >= 0)
			close(s->stop_fd[i]);
	xfree(s);
}

static size_t sub_size(const void *p)
{
	(void)p;
	return sizeof(tc_sub);
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
	s->client = Qnil;
	s->block = Qnil;
	s->link.detach = sub_detach;
	s->stop_fd[0] = s->stop_fd[1] = -1;
	if (pipe(s->stop_fd) != 0)
		rb_sys_fail("tasker-core: creating a subscription's pipe");
	for (int i = 0; i < 2; i++)
		fcntl(s->stop_fd[i], F_SETFD, FD_CLOEXEC);
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
	unsigned capacity;
	tasker_event_queue *q;
	int rc;
} subscribe_args;

static void *do_subscribe(void *p)
{
	subscribe_args *a = p;
	a->rc = tasker_event_queue_open(&a->q, a->core, a->pattern, a->capacity);
	return NULL;
}

/* Client#_subscribe(pattern, queue_capacity, block) → Subscription (its thread not started yet) */
static VALUE client_subscribe(VALUE client, VALUE pattern, VALUE capacity, VALUE block)
{
	VALUE pat = rb_str_new_frozen(StringValue(pattern));
	long cap = NIL_P(capacity) ? 10000 : NUM2LONG(capacity);
	if (cap < 1 || cap > (long)UINT32_MAX)
		rb_raise(rb_eArgError, "queue_capacity must be positive");
	VALUE obj = sub_alloc(cSubscription);
	tc_sub *s = get(obj);
	s->client = client;
	s->block = block;
	subscribe_args a = {tc_client_get(client), StringValueCStr(pat), (unsigned)cap, NULL, 0};
	tc_client_call(client, do_subscribe, &a);
	RB_GC_GUARD(pat);
	if (a.rc)
		tc_raise(a.rc);
	s->q = a.q;
	/* If the client was closed while we subscribed, close already ran: undo at once. */
	if (!tc_client_link_sub(client, &s->link))
		sub_stop(s);
	return obj;
}

/* ---- the Ruby thread */

/* Sleeps (GVL released, interruptible) until an event waits or the subscription stops. */
static void wait_readable(tc_sub *s)
{
	int qfd = tasker_event_queue_fd(s->q);
	rb_fdset_t fds;
	rb_fd_init(&fds);
	rb_fd_set(qfd, &fds);
	rb_fd_set(s->stop_fd[0], &fds);
	int max = (qfd > s->stop_fd[0] ? qfd : s->stop_fd[0]) + 1;
	rb_thread_fd_select(max, &fds, NULL, NULL, NULL);
	rb_fd_term(&fds);
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

/* Subscription#_run: the subscription thread's loop; returns once unsubscribed. */
static VALUE sub_run(VALUE self)
{
	tc_sub *s = get(self);
	for (;;) {
		if (s->stop)
			return Qnil;
		tasker_event *e = NULL;
		if (tasker_event_queue_next(&e, s->q, 0) != TASKER_OK) {
			wait_readable(s); /* Thread#kill and friends are raised here */
			continue;
		}
		yield_args y = {s->block, tc_str(e->name), tc_str(e->payload_json)};
		tasker_event_free(e);
		s->delivering = 1;
		int state = 0;
		rb_protect(yield_event, (VALUE)&y, &state);
		s->delivering = 0;
		s->delivered++;
		if (state) {
			s->errors++;
			VALUE err = rb_errinfo();
			if (!rb_obj_is_kind_of(err, rb_eStandardError)) /* kill, exit, throw: not ours to swallow */
				rb_jump_tag(state);
			rb_set_errinfo(Qnil);
			int st2 = 0;
			rb_protect(warn_error, err, &st2);
			if (st2)
				rb_set_errinfo(Qnil);
		}
		RB_GC_GUARD(y.name);
		RB_GC_GUARD(y.payload_json);
	}
}

/* ---- flush, unsubscribe, stats */

static int queue_empty(tc_sub *s) { return !s->q || tasker_event_queue_length(s->q) == 0; }

/* Subscription#_flush(timeout_seconds) → true when the queue is empty and the block idle. Looks every
 * few milliseconds, sleeping without the GVL so the subscription's thread can deliver. */
static VALUE sub_flush(VALUE self, VALUE timeout)
{
	tc_sub *s = get(self);
	double left = NUM2DBL(timeout);
	const double step = 0.002;
	while (!s->stop && (!queue_empty(s) || s->delivering)) {
		if (left <= 0)
			return Qfalse;
		rb_thread_wait_for(rb_time_interval(DBL2NUM(step)));
		left -= step;
	}
	return Qtrue;
}

/* Subscription#_unsubscribe: after it returns the core never copies for us again and the thread leaves. */
static VALUE sub_unsubscribe(VALUE self)
{
	tc_sub *s = get(self);
	tc_client_unlink_sub(&s->link);
	sub_stop(s);
	return Qnil;
}

static VALUE sub_active_p(VALUE self) { return get(self)->stop ? Qfalse : Qtrue; }

#define SYM(x) ID2SYM(rb_intern(x))

static VALUE sub_stats(VALUE self)
{
	tc_sub *s = get(self);
	uint64_t queued = s->q ? tasker_event_queue_length(s->q) : 0;
	uint64_t dropped = s->q ? tasker_event_queue_dropped(s->q) : s->dropped_before_stop;
	uint64_t taken = s->delivered + (uint64_t)s->delivering;
	VALUE h = rb_hash_new();
	rb_hash_aset(h, SYM("received"), ULL2NUM(taken + queued + dropped));
	rb_hash_aset(h, SYM("delivered"), ULL2NUM(s->delivered));
	rb_hash_aset(h, SYM("errors"), ULL2NUM(s->errors));
	rb_hash_aset(h, SYM("dropped"), ULL2NUM(dropped));
	rb_hash_aset(h, SYM("queued"), ULL2NUM(queued));
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
