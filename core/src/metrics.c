/*
 * metrics.c — see metrics.h. Owns the counters; reads the database only in tmetrics_render_database
 * (queue gauges, when tasker_metrics_snapshot is asked for them), never on the paths that update counters.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define NBUCKETS 16
static const int64_t bucket_us[NBUCKETS] = {500,    1000,   2500,    5000,    10000,   25000,    50000,    100000,
                                            250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};

typedef struct {
	atomic_uint_fast64_t bucket[NBUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
	atomic_uint_fast64_t count, sum_us;
} histogram;

/* One handler_class. `name` is set once (compare-and-swap) and never changes. */
typedef struct {
	_Atomic(char *) name;
	atomic_uint_fast64_t started, completed, failed_retryable, failed_permanent, retried;
	histogram duration;
} handler_slot;

#define HSLOTS 128
#define OVERFLOW_NAME "_other"

struct tmetrics {
	handler_slot handlers[HSLOTS + 1]; /* the last one takes every handler beyond HSLOTS */
	histogram claim_latency;
	atomic_uint_fast64_t claims, claims_failed, steps_claimed;
};

tmetrics *tmetrics_new(void)
{
	tmetrics *m = calloc(1, sizeof *m);
	if (m)
		atomic_store(&m->handlers[HSLOTS].name, (char *)OVERFLOW_NAME);
	return m;
}

void tmetrics_free(tmetrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < HSLOTS; i++)
		free(atomic_load(&m->handlers[i].name));
	free(m);
}

static void observe(histogram *h, int64_t us)
{
	if (us < 0)
		us = 0;
	size_t b = 0;
	while (b < NBUCKETS && us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h % HSLOTS);
}

/* The slot of a handler class: found, or claimed with a compare-and-swap. */
static handler_slot *slot(tmetrics *m, const char *cls)
{
	if (!cls)
		cls = "";
	size_t start = hash(cls);
	for (size_t k = 0; k < HSLOTS; k++) {
		handler_slot *s = &m->handlers[(start + k) % HSLOTS];
		char *name = atomic_load_explicit(&s->name, memory_order_acquire);
		if (name) {
			if (strcmp(name, cls) == 0)
				return s;
			continue;
		}
		char *copy = strdup(cls);
		if (!copy)
			break;
		char *expected = NULL;
		if (atomic_compare_exchange_strong(&s->name, &expected, copy))
			return s;
		free(copy);
		if (strcmp(expected, cls) == 0)
			return s;
	}
	return &m->handlers[HSLOTS];
}

void tmetrics_handler_started(tmetrics *m, const char *cls, int retry)
{
	if (!m)
		return;
	handler_slot *s = slot(m, cls);
	atomic_fetch_add_explicit(&s->started, 1, memory_order_relaxed);
	if (retry)
		atomic_fetch_add_explicit(&s->retried, 1, memory_order_relaxed);
}

void tmetrics_handler_finished(tmetrics *m, const char *cls, tasker_outcome outcome, int64_t duration_us)
{
	if (!m)
		return;
	handler_slot *s = slot(m, cls);
	atomic_uint_fast64_t *c = outcome == TASKER_OUTCOME_SUCCESS     ? &s->completed
	                        : outcome == TASKER_OUTCOME_PERMANENT ? &s->failed_permanent
	                                                              : &s->failed_retryable;
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
	observe(&s->duration, duration_us);
}

void tmetrics_claim(tmetrics *m, int64_t duration_us, size_t claimed, int failed)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(&m->claims, 1, memory_order_relaxed);
	if (failed)
		atomic_fetch_add_explicit(&m->claims_failed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->steps_claimed, claimed, memory_order_relaxed);
	observe(&m->claim_latency, duration_us);
}

/* ------------------------------------------------------------------ claims, on the connection's hooks */

/* The claims of one connection's open transaction, counted when it ends. */
typedef struct {
	tmetrics *m;
	uint64_t claims, steps;
} metrics_conn;

static void settle(metrics_conn *c, int committed)
{
	if (!c->claims)
		return;
	atomic_fetch_add_explicit(&c->m->claims, c->claims, memory_order_relaxed);
	if (committed)
		atomic_fetch_add_explicit(&c->m->steps_claimed, c->steps, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&c->m->claims_failed, c->claims, memory_order_relaxed);
	c->claims = c->steps = 0;
}

static void after_commit(tdb *db, int rc, void *data)
{
	(void)db;
	settle(data, rc == TASKER_OK);
}

static void rolled_back(tdb *db, void *data)
{
	(void)db;
	settle(data, 0);
}

static const tdb_hooks HOOKS = {NULL, after_commit, rolled_back, free, NULL, NULL};

void tmetrics_attach(tdb *db, tmetrics *m)
{
	metrics_conn *c = tdb_hook_data(db, &HOOKS);
	if (!c) {
		if (!m || !(c = calloc(1, sizeof *c)))
			return; /* without it this connection's claims are not counted */
		if (tdb_add_hooks(db, &HOOKS, c)) {
			free(c);
			return;
		}
	}
	c->m = m;
}

void tmetrics_claim_in_txn(tdb *db, int64_t duration_us, size_t claimed)
{
	metrics_conn *c = tdb_hook_data(db, &HOOKS);
	if (!c)
		return;
	if (!tdb_in_transaction(db)) { /* nothing will commit or roll back: count it now */
		tmetrics_claim(c->m, duration_us, claimed, 0);
		return;
	}
	observe(&c->m->claim_latency, duration_us);
	c->claims++;
	c->steps += claimed;
}

/* ------------------------------------------------------------------ Prometheus text */

static void label_value(tjw *w, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			tjw_raw(w, "\\\\", 2);
		else if (*p == '"')
			tjw_raw(w, "\\\"", 2);
		else if (*p == '\n')
			tjw_raw(w, "\\n", 2);
		else
			tjw_raw(w, p, 1);
	}
}

void tmetrics_family(tjw *w, const char *name, const char *type, const char *help)
{
	tjw_puts(w, "# HELP ");
	tjw_puts(w, name);
	tjw_puts(w, " ");
	tjw_puts(w, help);
	tjw_puts(w, "\n# TYPE ");
	tjw_puts(w, name);
	tjw_puts(w, " ");
	tjw_puts(w, type);
	tjw_puts(w, "\n");
}

static void sample_head(tjw *w, const char *name, const char *label, const char *value, const char *extra)
{
	tjw_puts(w, name);
	if (label || extra) {
		tjw_puts(w, "{");
		if (label) {
			tjw_puts(w, label);
			tjw_puts(w, "=\"");
			label_value(w, value);
			tjw_puts(w, "\"");
		}
		if (extra) {
			if (label)
				tjw_puts(w, ",");
			tjw_puts(w, extra);
		}
		tjw_puts(w, "}");
	}
	tjw_puts(w, " ");
}

void tmetrics_sample(tjw *w, const char *name, const char *label, const char *value, uint64_t v)
{
	sample_head(w, name, label, value, NULL);
	tjw_i64(w, (int64_t)v);
	tjw_puts(w, "\n");
}

void tmetrics_sample_f(tjw *w, const char *name, const char *label, const char *value, double v)
{
	sample_head(w, name, label, value, NULL);
	char num[64];
	snprintf(num, sizeof num, "%.6f", v);
	tjw_puts(w, num);
	tjw_puts(w, "\n");
}

static void render_histogram(tjw *w, const char *name, const char *label, const char *value, histogram *h)
{
	char bucket_name[128], extra[48];
	snprintf(bucket_name, sizeof bucket_name, "%s_bucket", name);
	uint64_t cumulative = 0;
	for (size_t b = 0; b <= NBUCKETS; b++) {
		cumulative += atomic_load(&h->bucket[b]);
		if (b < NBUCKETS)
			snprintf(extra, sizeof extra, "le=\"%g\"", (double)bucket_us[b] / 1e6);
		else
			snprintf(extra, sizeof extra, "le=\"+Inf\"");
		sample_head(w, bucket_name, label, value, extra);
		tjw_i64(w, (int64_t)cumulative);
		tjw_puts(w, "\n");
	}
	char n[128];
	snprintf(n, sizeof n, "%s_sum", name);
	tmetrics_sample_f(w, n, label, value, (double)atomic_load(&h->sum_us) / 1e6);
	snprintf(n, sizeof n, "%s_count", name);
	tmetrics_sample(w, n, label, value, atomic_load(&h->count));
}

typedef struct {
	const char *name, *help;
	size_t offset;
} counter_def;

static const counter_def handler_counters[] = {
	{"tasker_steps_started_total", "Handler runs started, per handler_class.", offsetof(handler_slot, started)},
	{"tasker_steps_completed_total", "Handler runs that succeeded.", offsetof(handler_slot, completed)},
	{"tasker_steps_failed_total", "Handler runs that failed with a retryable error.",
	 offsetof(handler_slot, failed_retryable)},
	{"tasker_steps_failed_permanently_total", "Handler runs that failed with a permanent error.",
	 offsetof(handler_slot, failed_permanent)},
	{"tasker_steps_retried_total", "Handler runs that were a retry (not the step's first attempt).",
	 offsetof(handler_slot, retried)},
};

void tmetrics_render(tmetrics *m, tjw *w)
{
	for (size_t c = 0; c < sizeof handler_counters / sizeof handler_counters[0]; c++) {
		tmetrics_family(w, handler_counters[c].name, "counter", handler_counters[c].help);
		for (size_t i = 0; i <= HSLOTS; i++) {
			handler_slot *s = &m->handlers[i];
			const char *name = atomic_load(&s->name);
			if (!name || !atomic_load(&s->started))
				continue;
			atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)(void *)((char *)s + handler_counters[c].offset);
			tmetrics_sample(w, handler_counters[c].name, "handler_class", name, atomic_load(v));
		}
	}
	tmetrics_family(w, "tasker_step_duration_seconds", "histogram", "Handler run time, per handler_class.");
	for (size_t i = 0; i <= HSLOTS; i++) {
		handler_slot *s = &m->handlers[i];
		const char *name = atomic_load(&s->name);
		if (name && atomic_load(&s->duration.count))
			render_histogram(w, "tasker_step_duration_seconds", "handler_class", name, &s->duration);
	}
	tmetrics_family(w, "tasker_claim_duration_seconds", "histogram",
	                "Claim transaction latency (pick, lock, transition, lease), per claim call.");
	render_histogram(w, "tasker_claim_duration_seconds", NULL, NULL, &m->claim_latency);
	tmetrics_family(w, "tasker_claims_total", "counter", "Claim calls.");
	tmetrics_sample(w, "tasker_claims_total", NULL, NULL, atomic_load(&m->claims));
	tmetrics_family(w, "tasker_claims_failed_total", "counter", "Claim calls that returned an error.");
	tmetrics_sample(w, "tasker_claims_failed_total", NULL, NULL, atomic_load(&m->claims_failed));
	tmetrics_family(w, "tasker_steps_claimed_total", "counter", "Steps claimed.");
	tmetrics_sample(w, "tasker_steps_claimed_total", NULL, NULL, atomic_load(&m->steps_claimed));
}

/* ------------------------------------------------------------------ gauges read from the database */

static const tdb_stmt Q_QUEUE = {
	"metrics_queue",
	"SELECT handler_class, count(*) FILTER (WHERE ready_at <= " NOW_UTC "), "
	"count(*) FILTER (WHERE ready_at > " NOW_UTC "), "
	"COALESCE(EXTRACT(EPOCH FROM " NOW_UTC " - min(ready_at) FILTER "
	"(WHERE ready_at <= " NOW_UTC ")), 0) FROM tasker_ready_steps GROUP BY handler_class "
	"ORDER BY handler_class"};
enum { QUEUE_HANDLER_CLASS, QUEUE_READY, QUEUE_DELAYED, QUEUE_OLDEST_READY_SECONDS };
static const tdb_stmt Q_CLAIMS = {
	"metrics_claims",
	"SELECT count(*), count(*) FILTER (WHERE lease_expires_at < " NOW_UTC ") FROM tasker_step_claims"};
enum { CLAIMS_IN_FLIGHT, CLAIMS_EXPIRED };

int tmetrics_render_database(tjw *w, tdb *db)
{
	/* every queue and claim row: sequential scans are the plans for these */
	const tdb_call calls[] = {{&Q_QUEUE, 0, NULL}, {&Q_CLAIMS, 0, NULL}};
	PGresult *res[2];
	int rc = tdb_exec_pipeline_scans(res, db, calls, 2, "reading the ready queue and the claims");
	PGresult *q = res[0], *c = res[1];
	if (!rc) {
		static const char *const fam[3][2] = {
			{"tasker_queue_ready_steps", "Steps claimable now (ready queue depth), per handler_class."},
			{"tasker_queue_delayed_steps", "Queued steps waiting for a backoff to end, per handler_class."},
			{"tasker_queue_oldest_ready_seconds", "Age of the oldest claimable step (claim lag), per handler_class."},
		};
		for (int f = 0; f < 3; f++) {
			tmetrics_family(w, fam[f][0], "gauge", fam[f][1]);
			for (int r = 0; r < PQntuples(q); r++) {
				if (f < 2)
					tmetrics_sample(w, fam[f][0], "handler_class", tdb_get(q, r, QUEUE_HANDLER_CLASS),
					                (uint64_t)tdb_get_i64(q, r, f ? QUEUE_DELAYED : QUEUE_READY, 0));
				else
					tmetrics_sample_f(w, fam[f][0], "handler_class", tdb_get(q, r, QUEUE_HANDLER_CLASS),
					                  atof(tdb_get(q, r, QUEUE_OLDEST_READY_SECONDS)));
			}
		}
		tmetrics_family(w, "tasker_steps_in_flight", "gauge", "Steps claimed by a worker and not yet recorded.");
		tmetrics_sample(w, "tasker_steps_in_flight", NULL, NULL, (uint64_t)tdb_get_i64(c, 0, CLAIMS_IN_FLIGHT, 0));
		tmetrics_family(w, "tasker_steps_lease_expired", "gauge",
		                "Claims whose lease expired (their worker died or hung) and await recovery.");
		tmetrics_sample(w, "tasker_steps_lease_expired", NULL, NULL, (uint64_t)tdb_get_i64(c, 0, CLAIMS_EXPIRED, 0));
	}
	PQclear(q);
	PQclear(c);
	return rc;
}
