/*
 * client.c — owns tasker_client: the connection string and a bounded, thread-safe pool of tdb
 * connections. Must not run SQL of its own beyond what tdb_connect does.
 */
#include "client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "events.h"
#include "registry.h"

struct tasker_client {
	char *conninfo;
	char *application_name;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tdb **idle;
	size_t nidle;
	size_t open;  /* connections alive, idle or borrowed */
	size_t max;
	tasker_config config;
	treg *registry;
	tevents_bus *events; /* subscriptions, event caches, metrics (events.c) */
};

void tasker_free(void *ptr) { free(ptr); }

int tasker_client_open(tasker_client **out, const tasker_client_options *opts)
{
	tasker_client_options defaults = TASKER_CLIENT_OPTIONS_INIT;
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version != TASKER_CLIENT_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_client_options.version is %u, expected %u",
		                        opts->version, TASKER_CLIENT_OPTIONS_VERSION);
	const char *url = opts->database_url;
	if (!url)
		url = getenv("TASKER_DATABASE_URL");
	tasker_client *c = calloc(1, sizeof *c);
	if (!c)
		return tasker_set_oom();
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
	c->conninfo = strdup(url ? url : "");
	c->application_name = strdup(opts->application_name ? opts->application_name : "tasker-core");
	c->idle = calloc(c->max, sizeof *c->idle);
	if (!c->conninfo || !c->application_name || !c->idle || treg_new(&c->registry) ||
	    tevents_bus_new(&c->events, c, c->registry)) {
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
	treg_free(c->registry);
	tasker_config_clear(&c->config);
	free(c->conninfo);
	free(c->application_name);
	free(c);
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

int tclient_acquire(tasker_client *c, tdb **out)
{
	*out = NULL;
	pthread_mutex_lock(&c->mu);
	for (;;) {
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
			if (!rc)
				tevents_attach(*out, c->events);
			if (rc) {
				pthread_mutex_lock(&c->mu);
				c->open--;
				pthread_cond_signal(&c->cv);
				pthread_mutex_unlock(&c->mu);
			}
			return rc;
		}
		pthread_cond_wait(&c->cv, &c->mu);
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
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	tevents_deliver(c->events, events);
}
