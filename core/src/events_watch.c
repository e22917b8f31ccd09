/*
 * events_watch.c — events of other processes: a watcher reads the persisted event log (tasker_events)
 * on its own connection, woken by NOTIFY on TASKER_EVENTS_CHANNEL, and replays a task's history.
 * Writes nothing.
 *
 * Delivery is at-least-once and never skips an event, although ids are taken before commit and
 * transactions commit out of id order: a row is read only once every transaction that could still add
 * rows below it has finished. Rows carry the inserting transaction's id (txid); the watcher reads them
 * in windows [lo, hi) of txids, where hi is the oldest transaction still running
 * (pg_snapshot_xmin(pg_current_snapshot())): no row can appear in a window once it is read. Inside a
 * window rows come in id order; the rows of one task are in id order overall, because the engine inserts
 * them while it holds the task's row lock, just before COMMIT.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "events.h"
#include "util.h"

static const tdb_stmt Q_HORIZON = {
	"watch_horizon",
	"SELECT pg_snapshot_xmin(pg_current_snapshot())::text, "
	"EXISTS (SELECT 1 FROM tasker_events WHERE txid >= pg_snapshot_xmin(pg_current_snapshot()))"};
enum { HORIZON_XMIN, HORIZON_PENDING };
static const tdb_stmt Q_FETCH = {
	"watch_fetch",
	"SELECT id, name, COALESCE(task_id, 0), COALESCE(step_id, 0), payload::text, "
	"(EXTRACT(EPOCH FROM created_at) * 1000000)::bigint FROM tasker_events "
	"WHERE txid >= $1::xid8 AND txid < $2::xid8 AND id > $3::bigint AND ($4::bigint = 0 OR task_id = $4::bigint) "
	"AND ($5::bigint = 0 OR id > $5::bigint OR txid > $6::xid8) ORDER BY id LIMIT $7::int"};
static const tdb_stmt Q_TXID_OF = {"watch_txid_of", "SELECT txid::text FROM tasker_events WHERE id = $1::bigint"};
enum { TXID_OF_TXID };
static const tdb_stmt Q_TASK_EVENTS = {
	"watch_task_events",
	"SELECT id, name, COALESCE(task_id, 0), COALESCE(step_id, 0), payload::text, "
	"(EXTRACT(EPOCH FROM created_at) * 1000000)::bigint FROM tasker_events WHERE task_id = $1::bigint ORDER BY id"};
/* The columns of Q_FETCH and Q_TASK_EVENTS. */
enum { EVENT_ID, EVENT_NAME, EVENT_TASK_ID, EVENT_STEP_ID, EVENT_PAYLOAD, EVENT_CREATED_US };

struct tasker_event_watcher {
	char *conninfo;
	tdb *db;              /* dedicated: LISTEN and reads, never from the pool */
	char *pattern;
	int64_t task_id;
	int batch;
	uint64_t lo, hi;      /* the window of txids being read */
	int window_open;
	int64_t page_after;   /* inside the window: rows with id > page_after */
	int64_t resume_id;    /* first window of a resume: (id > resume_id OR txid > resume_txid) */
	uint64_t resume_txid;
	int64_t last_id;      /* the last row processed (delivered or filtered out) */
	PGresult *buf;        /* rows fetched and not yet processed */
	int pos;
};

static uint64_t parse_u64(const char *s) { return s ? strtoull(s, NULL, 10) : 0; }

static int connect_listen(tasker_event_watcher *w)
{
	if (w->db && !tdb_is_broken(w->db))
		return TASKER_OK;
	tdb_close(w->db);
	w->db = NULL;
	int rc = tdb_connect(&w->db, w->conninfo, "tasker-events-watch");
	if (!rc)
		rc = tdb_exec_simple(w->db, "LISTEN " TASKER_EVENTS_CHANNEL, "listening for events");
	return rc;
}

static int horizon(uint64_t *out_xmin, int *out_pending, tasker_event_watcher *w)
{
	PGresult *res;
	int rc = tdb_exec(&res, w->db, &Q_HORIZON, 0, NULL, "reading the event horizon");
	if (rc)
		return rc;
	*out_xmin = parse_u64(tdb_get(res, 0, HORIZON_XMIN));
	*out_pending = tdb_get_bool(res, 0, HORIZON_PENDING, 0);
	PQclear(res);
	return TASKER_OK;
}

int tasker_event_watcher_open(tasker_event_watcher **out, tasker_client *client, const tasker_event_watch_options *o)
{
	tasker_event_watch_options d = TASKER_EVENT_WATCH_OPTIONS_INIT;
	*out = NULL;
	if (!client)
		return tasker_set_error(TASKER_EINVAL, "events watch: client is NULL");
	if (!o)
		o = &d;
	if (o->version != TASKER_EVENT_WATCH_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "events watch: options.version must be TASKER_EVENT_WATCH_OPTIONS_VERSION");
	const char *pattern = o->pattern ? o->pattern : "*";
	if (!tevents_pattern_valid(pattern))
		return tasker_set_error(TASKER_EINVAL, "events watch: \"%.140s\" is not an event name or pattern", pattern);
	if (o->after_id < TASKER_EVENTS_FROM_NOW)
		return tasker_set_error(TASKER_EINVAL, "events watch: after_id must be >= 0 or TASKER_EVENTS_FROM_NOW");
	tasker_event_watcher *w = calloc(1, sizeof *w);
	if (!w || !(w->pattern = strdup(pattern)) || !(w->conninfo = strdup(tclient_conninfo(client)))) {
		tasker_event_watcher_free(w);
		return tasker_set_oom();
	}
	w->task_id = o->task_id;
	w->batch = o->batch_size ? (int)o->batch_size : 500;
	int rc = connect_listen(w);
	if (!rc && o->after_id == TASKER_EVENTS_FROM_NOW) {
		int pending;
		rc = horizon(&w->hi, &pending, w);
		w->lo = w->hi;
	} else if (!rc && o->after_id > 0) {
		char b[24];
		const char *p[] = {tdb_fmt_i64(b, o->after_id)};
		PGresult *res;
		if (!(rc = tdb_exec(&res, w->db, &Q_TXID_OF, 1, p, "finding the event to resume after"))) {
			w->resume_id = o->after_id;
			/* a pruned event: resume by id alone */
			w->resume_txid = PQntuples(res) ? parse_u64(tdb_get(res, 0, TXID_OF_TXID)) : UINT64_MAX >> 1;
			w->last_id = o->after_id;
			PQclear(res);
		}
	}
	if (rc) {
		tasker_event_watcher_free(w);
		return rc;
	}
	*out = w;
	return TASKER_OK;
}

void tasker_event_watcher_free(tasker_event_watcher *w)
{
	if (!w)
		return;
	PQclear(w->buf);
	tdb_close(w->db);
	free(w->pattern);
	free(w->conninfo);
	free(w);
}

int64_t tasker_event_watcher_last_id(const tasker_event_watcher *w) { return w ? w->last_id : 0; }

static void row_event(tasker_event *ev, const PGresult *r, int i)
{
	ev->id = tdb_get_i64(r, i, EVENT_ID, 0);
	ev->name = tdb_get(r, i, EVENT_NAME);
	ev->task_id = tdb_get_i64(r, i, EVENT_TASK_ID, 0);
	ev->workflow_step_id = tdb_get_i64(r, i, EVENT_STEP_ID, 0);
	ev->payload_json = tdb_get(r, i, EVENT_PAYLOAD);
	ev->timestamp = tdb_get_i64(r, i, EVENT_CREATED_US, 0);
}

/* Processes buffered rows; returns 1 when the subscriber asked to stop (that row stays buffered). */
static int drain(tasker_event_watcher *w, size_t *delivered, tasker_event_fn fn, void *payload)
{
	for (; w->buf && w->pos < PQntuples(w->buf); w->pos++) {
		tasker_event ev;
		row_event(&ev, w->buf, w->pos);
		if (tevents_pattern_match(w->pattern, ev.name)) {
			if (fn(&ev, payload) != 0)
				return 1;
			(*delivered)++;
		}
		w->last_id = ev.id;
		w->page_after = ev.id;
	}
	PQclear(w->buf);
	w->buf = NULL;
	return 0;
}

static int fetch(tasker_event_watcher *w)
{
	char lo[24], hi[24], after[24], task[24], rid[24], rtx[24], lim[24];
	snprintf(lo, sizeof lo, "%llu", (unsigned long long)w->lo);
	snprintf(hi, sizeof hi, "%llu", (unsigned long long)w->hi);
	snprintf(rtx, sizeof rtx, "%llu", (unsigned long long)w->resume_txid);
	const char *p[] = {lo,
	                   hi,
	                   tdb_fmt_i64(after, w->page_after),
	                   tdb_fmt_i64(task, w->task_id),
	                   tdb_fmt_i64(rid, w->resume_id),
	                   rtx,
	                   tdb_fmt_i64(lim, w->batch)};
	PGresult *res;
	int rc = tdb_exec(&res, w->db, &Q_FETCH, 7, p, "reading events");
	if (rc)
		return rc;
	if (PQntuples(res) < w->batch) { /* the window is read: the next one starts where it ended */
		w->window_open = 0;
		w->lo = w->hi;
		w->resume_id = 0;
	}
	w->pos = 0;
	if (PQntuples(res) > 0)
		w->buf = res;
	else
		PQclear(res);
	return TASKER_OK;
}

/* A lost connection is noticed (broken) and re-made by the next connect_listen. */
static void wait_notify(tasker_event_watcher *w, int timeout_ms)
{
	if (timeout_ms > 0)
		tdb_wait_notify(w->db, -1, timeout_ms);
}

int tasker_event_watcher_poll(size_t *out_delivered, tasker_event_watcher *w, int timeout_ms, tasker_event_fn fn,
                              void *payload)
{
	size_t delivered = 0;
	if (out_delivered)
		*out_delivered = 0;
	if (!w || !fn)
		return tasker_set_error(TASKER_EINVAL, "events watch: watcher and function are required");
	int64_t deadline = ttime_now() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
	int rc = connect_listen(w);
	while (!rc) {
		int stop = drain(w, &delivered, fn, payload);
		if (stop || delivered)
			break;
		if (w->window_open) {
			rc = fetch(w);
			continue;
		}
		uint64_t xmin;
		int pending;
		if ((rc = horizon(&xmin, &pending, w)))
			break;
		if (xmin > w->hi) {
			w->hi = xmin;
			w->window_open = 1;
			w->page_after = 0;
			continue;
		}
		int64_t left_ms = (deadline - ttime_now()) / 1000;
		if (left_ms <= 0)
			break;
		/* Committed rows wait behind an older running transaction: look again soon (or at the next NOTIFY).
		 * Otherwise sleep until a NOTIFY, with a slow poll in case one was missed (a re-made connection). */
		int wait = pending ? 5 : 1000;
		wait_notify(w, left_ms < wait ? (int)left_ms : wait);
	}
	if (out_delivered)
		*out_delivered = delivered;
	return rc;
}

int tasker_task_events(tasker_client *client, int64_t task_id, tasker_event_fn fn, void *payload)
{
	if (!client || !fn)
		return tasker_set_error(TASKER_EINVAL, "task events: client and function are required");
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, task_id)};
	PGresult *res = NULL;
	int rc = tclient_exec(&res, client, &Q_TASK_EVENTS, 1, p, "reading the task's events");
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		tasker_event ev;
		row_event(&ev, res, i);
		if (fn(&ev, payload) != 0)
			break;
	}
	PQclear(res);
	return rc;
}
