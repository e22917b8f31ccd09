/*
 * client.h — the connection pool behind tasker_client. Every core operation borrows one connection
 * for the duration of one call and gives it back; no connection is held between calls, and a call
 * never waits for a second connection while holding one (that deadlocks under load).
 */
#ifndef TASKER_CORE_CLIENT_H
#define TASKER_CORE_CLIENT_H

#include "db.h"
#include "tasker.h"

/* Borrows a connection, opening one if the pool is below its size, else waiting for one. A broken
 * connection is replaced transparently. */
int tclient_acquire(tasker_client *client, tdb **out);
/* Gives a connection back; rolls back an open transaction; discards it if broken. */
void tclient_release(tasker_client *client, tdb *db);
/* Runs fn in one transaction on a borrowed connection: committed when fn returns 0, else rolled back. */
int tclient_in_txn(tasker_client *client, int (*fn)(tdb *db, tasker_client *client, void *arg), void *arg);
/* One statement on a borrowed connection, outside any transaction; arguments as for tdb_exec. */
int tclient_exec(PGresult **out, tasker_client *client, const tdb_stmt *stmt, int n, const char *const *params,
                 const char *what);
/* For waits that hold no connection (an event queue's next): fn(arg) is called once when the client is
 * closed (tasker_client_close), or at once when it already was, under the client's watch lock (fn must
 * not call back into the client; it wakes its waiter). *out_id identifies the watch. */
int tclient_watch_close(tasker_client *client, void (*fn)(void *arg), void *arg, uint64_t *out_id);
/* Ends a watch; returns after any call of its fn in progress. Unknown ids are ignored. */
void tclient_unwatch_close(tasker_client *client, uint64_t id);
struct treg;
/* The client's template registry (see registry.h). */
struct treg *tclient_registry(tasker_client *client);
struct tevents_bus;
/* The client's event bus (see events.h). */
struct tevents_bus *tclient_events(tasker_client *client);
struct tasker_config;
/* The client's configuration (defaults unless the options gave one). */
const struct tasker_config *tclient_config(const tasker_client *client);
/* The identity strategy requests use when they do not choose one. */
tasker_identity_strategy tclient_identity_strategy(const tasker_client *client);
/* The connection string the client was opened with (never NULL). */
const char *tclient_conninfo(const tasker_client *client);

#endif
