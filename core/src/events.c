/*
 * events.c — the event bus of a client: subscriptions by name or pattern, synchronous delivery on the
 * publishing thread, asynchronous delivery through a bounded queue and a thread per subscription, and
 * the public events API. Never runs while the engine holds a transaction: events reach it only through
 * tevents_deliver (after the connection is back in the pool) or the direct publish paths.
 *
 * Subscriptions live in an immutable snapshot swapped under `mu`; a publisher pins the current snapshot
 * (one short lock), so subscribing and unsubscribing never wait for a publisher and a subscriber may
 * (un)subscribe from its own callback.
 */
#include "events_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "jsonw.h"
#include "logging.h"
#include "util.h"

/* An event copied into an asynchronous queue: the view plus its strings in one allocation. */
typedef struct qitem {
	tasker_event ev;
	char data[];
} qitem;

enum { PAT_EXACT, PAT_ALL, PAT_PREFIX, PAT_GLOB };

struct tsub {
	tevents_bus *bus;
	uint64_t id;
	char *pattern;
	int kind;
	size_t plen;
	tasker_event_fn fn;
	void *payload;
	int async;
	atomic_int refs;       /* snapshots holding it, its thread, and whoever is (un)subscribing it */
	atomic_int removed;
	atomic_int inflight;   /* synchronous calls in progress */
	atomic_uint_fast64_t delivered, failed, dropped;
	/* asynchronous delivery */
	pthread_t thread;
	int thread_started, detached;
	pthread_mutex_t qmu;
	pthread_cond_t qcv, idle_cv;
	qitem **ring;
	size_t cap, head, len;
	int busy, stop;
};

/* The subscription whose callback runs on this thread (unsubscribing itself must not wait for itself). */
static _Thread_local tsub *current_sub;

#define DEFAULT_QUEUE 1024
#define MAX_PATTERN 128

/* ------------------------------------------------------------------ patterns */

int tevents_pattern_valid(const char *p)
{
	if (!p || !*p || strlen(p) > MAX_PATTERN)
		return 0;
	for (; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-' || c == '*'))
			return 0;
	}
	return 1;
}

int tevents_pattern_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

int tasker_event_name_matches(const char *pattern, const char *name)
{
	return pattern && name && tevents_pattern_match(pattern, name);
}

static void classify(tsub *s)
{
	const char *star = strchr(s->pattern, '*');
	s->plen = strlen(s->pattern);
	if (!star)
		s->kind = PAT_EXACT;
	else if (strcmp(s->pattern, "*") == 0)
		s->kind = PAT_ALL;
	else if (star == s->pattern + s->plen - 1) {
		s->kind = PAT_PREFIX;
		s->plen--;
	} else
		s->kind = PAT_GLOB;
}

static int sub_matches(const tsub *s, const char *name)
{
	switch (s->kind) {
	case PAT_ALL: return 1;
	case PAT_EXACT: return strcmp(s->pattern, name) == 0;
	case PAT_PREFIX: return strncmp(s->pattern, name, s->plen) == 0;
	default: return tevents_pattern_match(s->pattern, name);
	}
}

/* ------------------------------------------------------------------ subscriptions and snapshots */

static void sub_destroy(tsub *s)
{
	for (size_t i = 0; i < s->len; i++)
		free(s->ring[(s->head + i) % s->cap]);
	free(s->ring);
	if (s->async) {
		pthread_mutex_destroy(&s->qmu);
		pthread_cond_destroy(&s->qcv);
		pthread_cond_destroy(&s->idle_cv);
	}
	free(s->pattern);
	free(s);
}

static void sub_ref(tsub *s) { atomic_fetch_add(&s->refs, 1); }
static void sub_unref(tsub *s)
{
	if (atomic_fetch_sub(&s->refs, 1) == 1)
		sub_destroy(s);
}

static tsnapshot *snapshot_new(size_t n)
{
	tsnapshot *s = calloc(1, sizeof *s + (n + 1) * sizeof(tsub *));
	if (s)
		atomic_store(&s->refs, 1);
	return s;
}

static tsnapshot *snapshot_acquire(tevents_bus *bus)
{
	pthread_mutex_lock(&bus->mu);
	tsnapshot *s = bus->snap;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&bus->mu);
	return s;
}

static void snapshot_release(tsnapshot *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (size_t i = 0; i < s->n; i++)
		sub_unref(s->subs[i]);
	free(s);
}

/* Replaces the current snapshot (caller holds mu); returns the old one for snapshot_release. */
static tsnapshot *swap(tevents_bus *bus, tsnapshot *next)
{
	for (size_t i = 0; i < next->n; i++)
		sub_ref(next->subs[i]);
	tsnapshot *old = bus->snap;
	bus->snap = next;
	atomic_store(&bus->nsubs, (int)next->n);
	return old;
}

/* ------------------------------------------------------------------ delivery */

static void count_result(tevents_bus *bus, tsub *s, const tasker_event *ev, int rc)
{
	atomic_fetch_add_explicit(&s->delivered, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bus->delivered, 1, memory_order_relaxed);
	if (!rc)
		return;
	uint64_t n = atomic_fetch_add(&s->failed, 1) + 1;
	atomic_fetch_add_explicit(&bus->failed, 1, memory_order_relaxed);
	if ((n & (n - 1)) == 0) /* logged at the 1st, 2nd, 4th, 8th... failure of a subscription */
		tlog_message(TASKER_LOG_WARN, "log.events", ev->task_id, ev->workflow_step_id,
		             "subscriber %llu (%s) returned %d for %s; %llu failure%s so far (the engine went on)",
		             (unsigned long long)s->id, s->pattern, rc, ev->name, (unsigned long long)n, n == 1 ? "" : "s");
}

static void call_sync(tevents_bus *bus, tsub *s, const tasker_event *ev)
{
	atomic_fetch_add(&s->inflight, 1);
	if (!atomic_load(&s->removed)) {
		tsub *prev = current_sub;
		current_sub = s;
		int rc = s->fn(ev, s->payload);
		current_sub = prev;
		count_result(bus, s, ev, rc);
	}
	atomic_fetch_sub(&s->inflight, 1);
}

static void enqueue(tevents_bus *bus, tsub *s, const tasker_event *ev)
{
	size_t nl = strlen(ev->name) + 1, pl = strlen(ev->payload_json) + 1;
	qitem *q = malloc(sizeof *q + nl + pl);
	if (!q) {
		atomic_fetch_add(&s->dropped, 1);
		atomic_fetch_add(&bus->dropped, 1);
		return;
	}
	q->ev = *ev;
	memcpy(q->data, ev->name, nl);
	memcpy(q->data + nl, ev->payload_json, pl);
	q->ev.name = q->data;
	q->ev.payload_json = q->data + nl;
	uint64_t dropped = 0;
	pthread_mutex_lock(&s->qmu);
	if (s->stop) {
		pthread_mutex_unlock(&s->qmu);
		free(q);
		return;
	}
	if (s->len == s->cap) { /* full: the oldest queued event makes room */
		free(s->ring[s->head]);
		s->head = (s->head + 1) % s->cap;
		s->len--;
		dropped = atomic_fetch_add(&s->dropped, 1) + 1;
		atomic_fetch_add(&bus->dropped, 1);
	}
	s->ring[(s->head + s->len) % s->cap] = q;
	s->len++;
	pthread_cond_signal(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
	if (dropped && (dropped & (dropped - 1)) == 0)
		tlog_message(TASKER_LOG_WARN, "log.events", ev->task_id, ev->workflow_step_id,
		             "asynchronous subscriber %llu (%s) is too slow: its queue of %zu is full, the oldest event "
		             "was dropped (%llu dropped so far)",
		             (unsigned long long)s->id, s->pattern, s->cap, (unsigned long long)dropped);
}

static void *async_main(void *arg)
{
	tsub *s = arg;
	tevents_bus *bus = s->bus;
	pthread_mutex_lock(&s->qmu);
	for (;;) {
		while (!s->len && !s->stop)
			pthread_cond_wait(&s->qcv, &s->qmu);
		if (s->stop)
			break;
		qitem *q = s->ring[s->head];
		s->head = (s->head + 1) % s->cap;
		s->len--;
		s->busy = 1;
		pthread_mutex_unlock(&s->qmu);
		current_sub = s;
		int rc = s->fn(&q->ev, s->payload);
		current_sub = NULL;
		count_result(bus, s, &q->ev, rc);
		free(q);
		pthread_mutex_lock(&s->qmu);
		s->busy = 0;
		if (!s->len)
			pthread_cond_broadcast(&s->idle_cv);
	}
	s->busy = 0;
	pthread_cond_broadcast(&s->idle_cv);
	int detached = s->detached;
	pthread_mutex_unlock(&s->qmu);
	if (detached)
		sub_unref(s);
	atomic_fetch_sub(&bus->async_threads, 1); /* the last touch of the bus */
	return NULL;
}

static void deliver_view(tevents_bus *bus, tsnapshot *snap, const tasker_event *ev)
{
	for (size_t i = 0; snap && i < snap->n; i++) {
		tsub *s = snap->subs[i];
		if (!sub_matches(s, ev->name))
			continue;
		if (s->async)
			enqueue(bus, s, ev);
		else
			call_sync(bus, s, ev);
	}
}

static void view_of(tasker_event *v, const tevent *e)
{
	v->name = tevent_name(e);
	v->payload_json = e->payload ? e->payload : "{}";
	v->task_id = e->task_id;
	v->workflow_step_id = e->step_id;
	v->id = e->id;
	v->timestamp = e->ts;
}

static void log_event(const tasker_event *v, const tasker_event_info *info)
{
	tasker_log_level level = info ? (tasker_log_level)info->level : TASKER_LOG_INFO;
	if (tlog_enabled(level))
		tlog_event(level, v->name, v->payload_json);
}

void tevents_dispatch(tevents_bus *bus, const tevent *e)
{
	tasker_event v;
	view_of(&v, e);
	atomic_fetch_add_explicit(&bus->published, 1, memory_order_relaxed);
	if (atomic_load_explicit(&bus->nsubs, memory_order_relaxed)) {
		tsnapshot *snap = snapshot_acquire(bus);
		deliver_view(bus, snap, &v);
		snapshot_release(snap);
	}
	log_event(&v, e->info);
}

void tevents_deliver(tevents_bus *bus, tevents_list *l)
{
	if (!l)
		return;
	tsnapshot *snap = atomic_load(&bus->nsubs) ? snapshot_acquire(bus) : NULL;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].delivered)
			continue; /* a handler event delivered when it happened, persisted with this transaction */
		tasker_event v;
		view_of(&v, &l->v[i]);
		atomic_fetch_add_explicit(&bus->published, 1, memory_order_relaxed);
		deliver_view(bus, snap, &v);
		log_event(&v, l->v[i].info);
	}
	snapshot_release(snap);
	tevents_list_clear(l);
	free(l);
}

int tevents_wanted(tevents_bus *bus, tasker_log_level level)
{
	return bus && (atomic_load_explicit(&bus->nsubs, memory_order_relaxed) ||
	               atomic_load_explicit(&bus->persist, memory_order_relaxed) || tlog_enabled(level));
}

/* ------------------------------------------------------------------ the bus */

int tevents_bus_new(tevents_bus **out, const tevents_conns *conns, struct treg *reg)
{
	*out = NULL;
	tevents_bus *b = calloc(1, sizeof *b);
	if (!b)
		return tasker_set_oom();
	if (conns)
		b->conns = *conns;
	b->reg = reg;
	b->metrics = tmetrics_new();
	b->snap = snapshot_new(0);
	if (!b->metrics || !b->snap) {
		tmetrics_free(b->metrics);
		free(b->snap);
		free(b);
		return tasker_set_oom();
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_mutex_init(&b->cache_mu, NULL);
	pthread_mutex_init(&b->pending_mu, NULL);
	pthread_mutex_init(&b->custom_mu, NULL);
	*out = b;
	return TASKER_OK;
}

/* Stops an asynchronous subscription's thread: joins it, or, when called from that thread's own
 * callback, lets it finish and free its reference by itself. Queued events are dropped. */
static void stop_async(tsub *s)
{
	pthread_mutex_lock(&s->qmu);
	s->stop = 1;
	int self = current_sub == s && pthread_equal(pthread_self(), s->thread);
	if (self)
		s->detached = 1;
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
	if (self) {
		pthread_detach(s->thread);
	} else {
		pthread_join(s->thread, NULL);
		sub_unref(s); /* the thread's reference */
	}
}

void tevents_bus_free(tevents_bus *b)
{
	if (!b)
		return;
	tsnapshot *snap = b->snap;
	b->snap = NULL;
	for (size_t i = 0; snap && i < snap->n; i++) {
		tsub *s = snap->subs[i];
		atomic_store(&s->removed, 1);
		if (s->async)
			stop_async(s);
	}
	while (atomic_load(&b->async_threads) > 0) { /* threads of subscriptions that removed themselves */
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	snapshot_release(snap);
	tevents_list_clear(&b->pending);
	for (size_t i = 0; i < b->ncustom; i++)
		free(b->custom[i]);
	free(b->custom);
	free(b->tasks);
	free(b->steps);
	tmetrics_free(b->metrics);
	pthread_mutex_destroy(&b->mu);
	pthread_mutex_destroy(&b->cache_mu);
	pthread_mutex_destroy(&b->pending_mu);
	pthread_mutex_destroy(&b->custom_mu);
	free(b);
}

tmetrics *tevents_metrics(tevents_bus *bus) { return bus ? bus->metrics : NULL; }

void tevents_render_metrics(tevents_bus *bus, tjw *w)
{
	tasker_event_stats st;
	tevents_stats(&st, bus, 0);
	tmetrics_family(w, "tasker_events_published_total", "counter", "Lifecycle events published on this client.");
	tmetrics_sample(w, "tasker_events_published_total", NULL, NULL, st.published);
	tmetrics_family(w, "tasker_event_deliveries_total", "counter", "Subscriber calls made.");
	tmetrics_sample(w, "tasker_event_deliveries_total", NULL, NULL, st.delivered);
	tmetrics_family(w, "tasker_event_subscriber_failures_total", "counter",
	                "Subscriber calls that returned non-zero (the engine went on).");
	tmetrics_sample(w, "tasker_event_subscriber_failures_total", NULL, NULL, st.failed);
	tmetrics_family(w, "tasker_event_async_dropped_total", "counter",
	                "Events dropped by full asynchronous subscriber queues (oldest first).");
	tmetrics_sample(w, "tasker_event_async_dropped_total", NULL, NULL, st.dropped);
	tmetrics_family(w, "tasker_event_async_queued", "gauge", "Events waiting in asynchronous subscriber queues.");
	tmetrics_sample(w, "tasker_event_async_queued", NULL, NULL, st.queued);
	tmetrics_family(w, "tasker_event_lookups_total", "counter",
	                "Reads made to name events (task and step names, correlation ids) their caches did not know.");
	tmetrics_sample(w, "tasker_event_lookups_total", NULL, NULL, atomic_load(&bus->lookups));
}

/* subscriber.* events: small payloads built here and delivered at once. */
static void publish_registry(tevents_bus *bus, const char *name, uint64_t id, const char *pattern, const char *extra_key,
                             const char *extra)
{
	const tasker_event_info *info = tasker_event_lookup(name);
	if (!tevents_wanted(bus, (tasker_log_level)info->level))
		return;
	char stack[512];
	tjw w;
	tjw_init(&w, stack, sizeof stack);
	tjw_open(&w);
	if (id)
		tjw_ki64(&w, "subscription_id", (int64_t)id);
	tjw_kstr(&w, "pattern", pattern);
	if (extra_key)
		tjw_kstr(&w, extra_key, extra);
	tjw_close(&w);
	tevents_publish_text(bus, info, NULL, tjw_text(&w));
	tjw_free(&w);
}

static int refuse(tevents_bus *bus, const char *pattern, const char *fmt, const char *detail)
{
	char msg[256];
	snprintf(msg, sizeof msg, fmt, detail);
	publish_registry(bus, "subscriber.validation_failed", 0, pattern ? pattern : "", "error", msg);
	return tasker_set_error(TASKER_EINVAL, "events subscribe: %s", msg);
}

int tevents_subscribe(uint64_t *out_id, tevents_bus *bus, const char *pattern, tasker_event_fn fn, void *payload,
                      const tasker_event_subscribe_options *o)
{
	tasker_event_subscribe_options d = TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT;
	if (out_id)
		*out_id = 0;
	if (!o)
		o = &d;
	if (o->version != TASKER_EVENT_SUBSCRIBE_OPTIONS_VERSION)
		return refuse(bus, pattern, "%s", "options.version must be TASKER_EVENT_SUBSCRIBE_OPTIONS_VERSION");
	if (!fn)
		return refuse(bus, pattern, "%s", "the subscriber function is NULL");
	if (!tevents_pattern_valid(pattern))
		return refuse(bus, pattern,
		              "pattern \"%.140s\" is not an event name or pattern (1-128 characters of letters, digits, "
		              "'_', '-', '.', and '*' for any run of characters)",
		              pattern ? pattern : "(null)");
	if (o->delivery != TASKER_EVENT_SYNC && o->delivery != TASKER_EVENT_ASYNC)
		return refuse(bus, pattern, "%s", "options.delivery must be TASKER_EVENT_SYNC or TASKER_EVENT_ASYNC");
	tsub *s = calloc(1, sizeof *s);
	if (!s || !(s->pattern = strdup(pattern))) {
		free(s);
		return tasker_set_oom();
	}
	s->bus = bus;
	s->fn = fn;
	s->payload = payload;
	s->async = o->delivery == TASKER_EVENT_ASYNC;
	atomic_store(&s->refs, 1); /* ours, until the end of this function */
	classify(s);
	if (s->async) {
		s->cap = o->queue_capacity ? o->queue_capacity : DEFAULT_QUEUE;
		if (!(s->ring = calloc(s->cap, sizeof *s->ring))) {
			free(s->pattern);
			free(s);
			return tasker_set_oom();
		}
		pthread_mutex_init(&s->qmu, NULL);
		pthread_cond_init(&s->qcv, NULL);
		pthread_cond_init(&s->idle_cv, NULL);
		sub_ref(s); /* the thread's */
		atomic_fetch_add(&bus->async_threads, 1);
		int err = pthread_create(&s->thread, NULL, async_main, s);
		if (err) {
			atomic_fetch_sub(&bus->async_threads, 1);
			sub_destroy(s);
			return tasker_set_error(TASKER_ERROR, "events subscribe: cannot start the delivery thread (%s)",
			                        strerror(err));
		}
		s->thread_started = 1;
	}
	pthread_mutex_lock(&bus->mu);
	tsnapshot *cur = bus->snap, *next = snapshot_new(cur->n + 1);
	if (!next) {
		pthread_mutex_unlock(&bus->mu);
		atomic_store(&s->removed, 1);
		if (s->async)
			stop_async(s);
		sub_unref(s);
		return tasker_set_oom();
	}
	s->id = ++bus->next_id;
	memcpy(next->subs, cur->subs, cur->n * sizeof(tsub *));
	next->subs[cur->n] = s;
	next->n = cur->n + 1;
	tsnapshot *old = swap(bus, next);
	pthread_mutex_unlock(&bus->mu);
	snapshot_release(old);
	if (out_id)
		*out_id = s->id;
	publish_registry(bus, "subscriber.registered", s->id, s->pattern, "delivery", s->async ? "async" : "sync");
	sub_unref(s);
	return TASKER_OK;
}

int tevents_unsubscribe(tevents_bus *bus, uint64_t id)
{
	pthread_mutex_lock(&bus->mu);
	tsnapshot *cur = bus->snap;
	tsub *s = NULL;
	for (size_t i = 0; i < cur->n && !s; i++)
		if (cur->subs[i]->id == id)
			s = cur->subs[i];
	tsnapshot *next = s ? snapshot_new(cur->n - 1) : NULL;
	if (!s || !next) {
		pthread_mutex_unlock(&bus->mu);
		return s ? tasker_set_oom()
		         : tasker_set_error(TASKER_ENOTFOUND, "events: no subscription %llu on this client",
		                            (unsigned long long)id);
	}
	for (size_t i = 0; i < cur->n; i++)
		if (cur->subs[i] != s)
			next->subs[next->n++] = cur->subs[i];
	sub_ref(s);
	atomic_store(&s->removed, 1);
	tsnapshot *old = swap(bus, next);
	pthread_mutex_unlock(&bus->mu);
	snapshot_release(old);
	if (s->async) {
		stop_async(s);
	} else if (current_sub != s) {
		/* after this returns the callback is never running, nor called again */
		while (atomic_load(&s->inflight) > 0) {
			struct timespec ts = {0, 50000};
			nanosleep(&ts, NULL);
		}
	}
	publish_registry(bus, "subscriber.unregistered", s->id, s->pattern, NULL, NULL);
	sub_unref(s);
	return TASKER_OK;
}

int tevents_flush(tevents_bus *bus, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	int64_t ns = until.tv_nsec + (int64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
	until.tv_sec += ns / 1000000000;
	until.tv_nsec = ns % 1000000000;
	tsnapshot *snap = snapshot_acquire(bus);
	int rc = TASKER_OK;
	for (size_t i = 0; snap && i < snap->n && !rc; i++) {
		tsub *s = snap->subs[i];
		if (!s->async || current_sub == s)
			continue;
		pthread_mutex_lock(&s->qmu);
		while ((s->len || s->busy) && !s->stop && !rc)
			if (pthread_cond_timedwait(&s->idle_cv, &s->qmu, &until) == ETIMEDOUT)
				rc = tasker_set_error(TASKER_ERROR,
				                      "events flush: subscriber %llu (%s) still has %zu event(s) queued after "
				                      "%d ms",
				                      (unsigned long long)s->id, s->pattern, s->len, timeout_ms);
		pthread_mutex_unlock(&s->qmu);
	}
	snapshot_release(snap);
	return rc;
}

int tevents_stats(tasker_event_stats *out, tevents_bus *bus, uint64_t id)
{
	memset(out, 0, sizeof *out);
	tsnapshot *snap = snapshot_acquire(bus);
	int found = id == 0;
	for (size_t i = 0; snap && i < snap->n; i++) {
		tsub *s = snap->subs[i];
		if (id && s->id != id)
			continue;
		if (s->async) {
			pthread_mutex_lock(&s->qmu);
			out->queued += s->len;
			pthread_mutex_unlock(&s->qmu);
		}
		if (id) {
			found = 1;
			out->delivered = atomic_load(&s->delivered);
			out->failed = atomic_load(&s->failed);
			out->dropped = atomic_load(&s->dropped);
		}
	}
	snapshot_release(snap);
	if (!found)
		return tasker_set_error(TASKER_ENOTFOUND, "events: no subscription %llu on this client",
		                        (unsigned long long)id);
	out->published = atomic_load(&bus->published);
	if (!id) {
		out->delivered = atomic_load(&bus->delivered);
		out->failed = atomic_load(&bus->failed);
		out->dropped = atomic_load(&bus->dropped);
	}
	return TASKER_OK;
}

/* ------------------------------------------------------------------ publishing JSON text */

static int custom_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n <= MAX_PATTERN && tevents_pattern_valid(name) && !strchr(name, '*');
}

int tevents_publish_text(tevents_bus *bus, const tasker_event_info *info, const char *custom_name,
                         const char *payload_json)
{
	const char *name = info ? info->name : custom_name;
	tasker_log_level level = info ? (tasker_log_level)info->level : TASKER_LOG_INFO;
	if (!tevents_wanted(bus, level))
		return TASKER_OK; /* nobody reads it: one check, the payload is not even looked at */
	tjson_scan scan;
	if (!payload_json)
		payload_json = "{}";
	if (!tjson_scan_object(payload_json, &scan))
		return tasker_set_error(TASKER_EJSON, "event %s: the payload must be one JSON object, got: %.200s", name,
		                        payload_json);
	tevent e = {0};
	e.info = info;
	e.custom_name = (char *)custom_name; /* borrowed: not freed here */
	e.task_id = scan.task_id;
	e.step_id = scan.step_id;
	e.ts = ttime_now();
	char stack[2048];
	tjw w;
	tjw_init(&w, stack, sizeof stack);
	if (scan.has_timestamp) {
		tjw_puts(&w, payload_json);
	} else {
		tjw_raw(&w, payload_json, scan.close);
		tjw_puts(&w, scan.empty ? "\"timestamp\":" : ",\"timestamp\":");
		tjw_time(&w, e.ts);
		tjw_raw(&w, "}", 1);
	}
	e.payload = (char *)tjw_text(&w);
	int rc = e.payload ? TASKER_OK : tasker_set_oom();
	if (!rc && atomic_load(&bus->persist) && bus->conns.acquire) {
		tevents_list one = {&e, 1, 1};
		tdb *db = NULL;
		rc = tevents_borrow(bus, &db);
		if (!rc)
			rc = tevents_persist(db, &one);
		tevents_give_back(bus, db);
	}
	if (!rc)
		tevents_dispatch(bus, &e);
	tjw_free(&w);
	return rc;
}

int tevents_publish(tevents_bus *bus, const char *name, const char *payload_json)
{
	const tasker_event_info *info = tasker_event_lookup(name);
	if (!info)
		return tasker_set_error(TASKER_EINVAL,
		                        "events publish: \"%.140s\" is not an event of the catalog (tasker events list); a "
		                        "template's custom event goes through tasker_event_publish_custom",
		                        name ? name : "(null)");
	return tevents_publish_text(bus, info, NULL, payload_json);
}

int tevents_publish_custom(tevents_bus *bus, const char *name, const char *payload_json)
{
	if (!custom_name_valid(name))
		return tasker_set_error(TASKER_EINVAL,
		                        "events publish: \"%.140s\" is not a valid event name (1-128 characters of letters, "
		                        "digits, '_', '-' and '.')",
		                        name ? name : "(null)");
	if (tasker_event_lookup(name))
		return tasker_set_error(TASKER_EINVAL,
		                        "events publish: %s is an event of the catalog, not a custom event; publish it with "
		                        "tasker_event_publish",
		                        name);
	int rc = tevents_custom_declared(bus, name);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return tasker_set_error(TASKER_ENOTFOUND,
		                        "events publish: custom event \"%s\" is not declared by any registered template "
		                        "(custom_events: [{name: %s}])",
		                        name, name);
	return tevents_publish_text(bus, NULL, name, payload_json);
}
