/*
 * metrics.h — a client's in-memory counters and histograms (steps started/completed/failed/retried per
 * handler, handler duration, claim latency), updated with atomics only: no lock and no allocation on the
 * hot path (a handler's slot is claimed once, with a compare-and-swap). Rendered as Prometheus text by
 * tasker_metrics_snapshot (metrics_api.c), which adds the event bus's counters and, on request, queue
 * gauges read from the database.
 */
#ifndef TASKER_CORE_METRICS_H
#define TASKER_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "jsonw.h"
#include "tasker.h"

typedef struct tmetrics tmetrics;

tmetrics *tmetrics_new(void);
void tmetrics_free(tmetrics *m);

/* A handler run started; `retry` when it is not the step's first attempt. */
void tmetrics_handler_started(tmetrics *m, const char *handler_class, int retry);
void tmetrics_handler_finished(tmetrics *m, const char *handler_class, tasker_outcome outcome, int64_t duration_us);
/* A claim transaction took duration_us and claimed `claimed` steps (failed: it returned an error). */
void tmetrics_claim(tmetrics *m, int64_t duration_us, size_t claimed, int failed);
/* Binds a pooled connection to the client's counters (once, when the pool opens it): registers the
 * commit and rollback hooks (tdb_add_hooks) that settle the claims made in its transactions. */
void tmetrics_attach(tdb *db, tmetrics *m);
/* A claim made in the connection's open transaction took duration_us (observed at once) and claimed
 * `claimed` steps: counted with its steps when the transaction commits, as a failed claim with none
 * when it rolls back (or its COMMIT fails); at once outside a transaction. Nothing on a connection
 * tmetrics_attach never saw. */
void tmetrics_claim_in_txn(tdb *db, int64_t duration_us, size_t claimed);

/* Appends the Prometheus text exposition of the counters and histograms to `w`. */
void tmetrics_render(tmetrics *m, tjw *w);

/* Appends the gauges read on `db`: ready and delayed steps and the claim lag per handler_class, steps in
 * flight, expired leases. */
int tmetrics_render_database(tjw *w, tdb *db);

/* Helpers for other families rendered next to these. */
void tmetrics_family(tjw *w, const char *name, const char *type, const char *help);
/* `name{label="value"} v` with the label value escaped; label may be NULL. */
void tmetrics_sample(tjw *w, const char *name, const char *label, const char *value, uint64_t v);
void tmetrics_sample_f(tjw *w, const char *name, const char *label, const char *value, double v);

#endif
