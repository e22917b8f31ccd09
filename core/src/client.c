/*
 * client.c — owns tasker_client: the connection string, a bounded, thread-safe pool of tdb
 * connections, and the wiring of the layers below it (the configuration, the template registry and the
 * event bus, which borrows from this pool through callbacks and is bound to each connection the pool
 * opens). Must not run SQL of its own beyond what tdb_connect does.
 */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "config.h"
#include "error.h"
#include "events.h"
#include "metrics.h"
#include "registry.h"
#include "util.h"

struct tasker_client {
	char *conninfo;
	char *application_name;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tdb **idle;
	size_t nidle;
	size_t open;  /* connections alive, idle or borrowed */
	size_t max;
	int pool_timeout_ms; /* longest wait for a free connection; -1: no limit */
	int closed;          /* tasker_client_close: no connection is lent any more */
	int closing;         /* a close waits for the borrowed connections to come back */
	tasker_config config;
	treg *registry;
	tevents_bus *events; /* subscriptions, event caches, metrics (events.c) */
	pthread_mutex_t watch_mu; /* the close watches: taken before mu, never inside it */
	struct close_watch *watches;
	uint64_t next_watch;
	int watch_closed;    /* the watches were told of the close */
};

/* A waiter outside the pool (an event queue's next) told of the close: see tclient_watch_close. */
typedef struct close_watch {
	struct close_watch *next;
	uint64_t id;
	void (*fn)(void *arg);
	void *arg;
} close_watch;

void tasker_free(void *ptr) { free(ptr); }

static int lend(void *client, tdb **out) { return tclient_acquire(client, out); }
static void take_back(void *client, tdb *db) { tclient_release(client, db); }

int tasker_client_open(tasker_client **out, const tasker_client_options *opts)
{
	tasker_client_options defaults = TASKER_CLIENT_OPTIONS_INIT;
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version < 1 || opts->version > TASKER_CLIENT_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_client_options.version is %u, expected 1 to %u",
		                        opts->version, TASKER_CLIENT_OPTIONS_VERSION);
	/* Version 1 ended before pool_timeout_ms. */
	int pool_timeout_ms = opts->version >= 2 ? opts->pool_timeout_ms : 0;
	if (pool_timeout_ms < -1)
		return tasker_set_error(TASKER_EINVAL, "tasker_client_options.pool_timeout_ms is %d: use -1 (no limit), "
		                        "0 (the default, 30000) or a number of milliseconds", pool_timeout_ms);
	const char *url = opts->database_url;
	if (!url)
		url = getenv("TASKER_DATABASE_URL");
	tasker_client *c = calloc(1, sizeof *c);
	if (!c)
		return tasker_set_oom();
	pthread_mutex_init(&c->watch_mu, NULL);
	tasker_config_init(&c->config);
	if (opts->config) {
		int rc = tasker_config_validate(opts->config);
		if (!rc)
			rc = tasker_config_copy(&c->config, opts->config);
		if (rc) {
			tasker_config_clear(&c->config);
			free(c);
			return rc;
		}
		if (!url)
			url = c->config.database.url;
	}
	c->max = opts->pool_size ? opts->pool_size
	       : opts->config    ? (size_t)c->config.database.pool_size : 8;
	c->pool_timeout_ms = pool_timeout_ms ? pool_timeout_ms : 30000;
	c->conninfo = strdup(url ? url : "");
	c->application_name = strdup(opts->application_name ? opts->application_name : "tasker-core");
	c->idle = calloc(c->max, sizeof *c->idle);
	tevents_conns conns = {lend, take_back, c}; /* the bus borrows from this pool, never sees the client */
	if (!c->conninfo || !c->application_name || !c->idle || treg_new(&c->registry) ||
	    tevents_bus_new(&c->events, &conns, c->registry)) {
		tasker_client_free(c);
		return tasker_set_oom();
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	/* Fail fast on a bad URL or an unreachable server, and keep the connection for the first call. */
	tdb *db;
	int rc = tclient_acquire(c, &db);
	if (rc) {
		tasker_client_free(c);
		return rc;
	}
	tclient_release(c, db);
	*out = c;
	return TASKER_OK;
}

int tasker_client_close(tasker_client *c)
{
	if (!c)
		return tasker_set_error(TASKER_EINVAL, "tasker_client_close: client is NULL");
	pthread_mutex_lock(&c->watch_mu); /* waiters that need no connection give up first */
	if (!c->watch_closed)
		for (close_watch *w = c->watches; w; w = w->next)
			w->fn(w->arg);
	c->watch_closed = 1;
	pthread_mutex_unlock(&c->watch_mu);
	pthread_mutex_lock(&c->mu);
	c->closed = 1;
	c->closing++;
	pthread_cond_broadcast(&c->cv); /* waiters for a connection give up with TASKER_ECLOSED */
	while (c->open > c->nidle)     /* calls in flight finish their statement */
		pthread_cond_wait(&c->cv, &c->mu);
	tdb **idle = c->idle;
	size_t n = c->nidle;
	c->open -= n;
	c->nidle = 0;
	for (size_t i = 0; i < n; i++)
		tdb_close(idle[i]);
	c->closing--;
	pthread_mutex_unlock(&c->mu);
	return TASKER_OK;
}

void tasker_client_free(tasker_client *c)
{
	if (!c)
		return;
	tevents_bus_free(c->events); /* first: asynchronous subscribers may still use the client */
	for (size_t i = 0; i < c->nidle; i++)
		tdb_close(c->idle[i]);
	if (c->idle) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
	}
	free(c->idle);
	while (c->watches) {
		close_watch *w = c->watches;
		c->watches = w->next;
		free(w);
	}
	pthread_mutex_destroy(&c->watch_mu);
	treg_free(c->registry);
	tasker_config_clear(&c->config);
	free(c->conninfo);
	free(c->application_name);
	free(c);
}

int tclient_watch_close(tasker_client *c, void (*fn)(void *arg), void *arg, uint64_t *out_id)
{
	close_watch *w = calloc(1, sizeof *w);
	if (!w)
		return tasker_set_oom();
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_lock(&c->watch_mu);
	w->id = *out_id = ++c->next_watch;
	w->next = c->watches;
	c->watches = w;
	if (c->watch_closed)
		fn(arg);
	pthread_mutex_unlock(&c->watch_mu);
	return TASKER_OK;
}

void tclient_unwatch_close(tasker_client *c, uint64_t id)
{
	pthread_mutex_lock(&c->watch_mu);
	for (close_watch **p = &c->watches; *p; p = &(*p)->next)
		if ((*p)->id == id) {
			close_watch *w = *p;
			*p = w->next;
			free(w);
			break;
		}
	pthread_mutex_unlock(&c->watch_mu);
}

const char *tclient_conninfo(const tasker_client *c) { return c->conninfo; }
tasker_identity_strategy tclient_identity_strategy(const tasker_client *c)
{
	return c->config.engine.identity_strategy == TASKER_IDENTITY_HASH ? TASKER_IDENTITY_HASH
	                                                                   : TASKER_IDENTITY_UNIQUE;
}
const tasker_config *tclient_config(const tasker_client *c) { return &c->config; }
treg *tclient_registry(tasker_client *c) { return c->registry; }
tevents_bus *tclient_events(tasker_client *c) { return c->events; }

/* Why no connection was lent: the client is closed, the caller's token fired, or the wait ran out. */
static int refuse(tasker_client *c, int why)
{
	pthread_mutex_unlock(&c->mu);
	if (why == TASKER_ECLOSED)
		return tasker_set_error(TASKER_ECLOSED, "the client was closed (tasker_client_close)");
	if (why == TASKER_ECANCELED)
		return tcancel_error("waiting for a pooled connection");
	return tasker_set_error(TASKER_ETIMEOUT,
	                        "no pooled connection became free within %d ms: all %zu are in use (raise the pool "
	                        "size, database.pool, or pool_timeout_ms)",
	                        c->pool_timeout_ms, c->max);
}

int tclient_acquire(tasker_client *c, tdb **out)
{
	*out = NULL;
	struct timespec until;
	ttime_after_ms(&until, c->pool_timeout_ms > 0 ? c->pool_timeout_ms : 0);
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->closed)
			return refuse(c, TASKER_ECLOSED);
		if (tcancel_fired())
			return refuse(c, TASKER_ECANCELED);
		if (c->nidle > 0) {
			tdb *db = c->idle[--c->nidle];
			pthread_mutex_unlock(&c->mu);
			if (tdb_alive(db)) {
				*out = db;
				return TASKER_OK;
			}
			/* Died while idle (server restart, terminated backend): replace it. */
			tdb_close(db);
			pthread_mutex_lock(&c->mu);
			c->open--;
			continue;
		}
		if (c->open < c->max) {
			c->open++;
			pthread_mutex_unlock(&c->mu);
			int rc = tdb_connect(out, c->conninfo, c->application_name);
			if (!rc) { /* the layers that take part in this connection's transactions register on it */
				tevents_attach(*out, c->events);
				tmetrics_attach(*out, tevents_metrics(c->events));
			}
			if (rc) {
				pthread_mutex_lock(&c->mu);
				c->open--;
				pthread_cond_signal(&c->cv);
				pthread_mutex_unlock(&c->mu);
			}
			return rc;
		}
		int rc = tcancel_cond_wait(&c->cv, &c->mu, c->pool_timeout_ms < 0 ? NULL : &until);
		if (rc == TASKER_ECANCELED || (rc == ETIMEDOUT && c->nidle == 0 && c->open >= c->max && !c->closed))
			return refuse(c, rc == ETIMEDOUT ? TASKER_ETIMEOUT : rc);
	}
}

int tclient_exec(PGresult **out, tasker_client *c, const tdb_stmt *stmt, int n, const char *const *params,
                 const char *what)
{
	if (out)
		*out = NULL;
	tdb *db;
	int rc = tclient_acquire(c, &db);
	if (rc)
		return rc;
	rc = tdb_exec(out, db, stmt, n, params, what);
	tclient_release(c, db);
	return rc;
}

int tclient_in_txn(tasker_client *c, int (*fn)(tdb *db, tasker_client *client, void *arg), void *arg)
{
	tdb *db;
	int rc = tclient_acquire(c, &db);
	if (rc)
		return rc;
	rc = tdb_begin(db);
	if (!rc)
		rc = fn(db, c, arg);
	if (!rc)
		rc = tdb_commit(db);
	tclient_release(c, db); /* rolls back on failure */
	return rc;
}

void tclient_release(tasker_client *c, tdb *db)
{
	if (!db)
		return;
	tdb_rollback(db);
	/* Committed events leave with the connection's release and are delivered once it is back in the
	 * pool: subscribers never run while the engine holds a transaction, a lock or a connection. */
	struct tevents_list *events = tevents_take_committed(db);
	pthread_mutex_lock(&c->mu);
	if (tdb_is_broken(db)) {
		tdb_close(db);
		c->open--;
	} else {
		c->idle[c->nidle++] = db;
	}
	if (c->closing)
		pthread_cond_broadcast(&c->cv); /* the close waits for every connection */
	else
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	tevents_deliver(c->events, events);
}
