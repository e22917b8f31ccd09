/*
 * transition.c — writes state transitions with compare-and-swap; decides nothing about *when* a
 * transition should happen (that is the engine's job), only whether it is allowed and still valid.
 */
#include "transition.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "events.h"
#include "util.h"

/* The lock, the compare-and-swap and the write, in one statement (migration 0010): $1 kind ("task" or
 * "step"), $2 id, $3 expected state, $4 new state, $5 metadata. */
static const tdb_stmt Q_TRANSITION = {
	"trans_apply",
	"SELECT t_exists, t_found, t_written FROM tasker_core_transition($1::text, $2::bigint, $3::text, $4::text, "
	"$5::jsonb)"};
enum { TRANSITION_EXISTS, TRANSITION_FOUND, TRANSITION_WRITTEN }; /* the columns of Q_TRANSITION */

static const tdb_stmt Q_TASK_STATE = {
	"trans_task_state",
	"SELECT tr.to_state FROM tasker_tasks t " TASK_STATE_JOIN("tr", "t.task_id")
	"WHERE t.task_id = $1::bigint"};
static const tdb_stmt Q_STEP_STATE = {
	"trans_step_state",
	"SELECT tr.to_state FROM tasker_workflow_steps s " STEP_STATE_JOIN("tr", "s.workflow_step_id")
	"WHERE s.workflow_step_id = $1::bigint"};
enum { STATE_TO_STATE }; /* the column of Q_TASK_STATE and Q_STEP_STATE */

static int check_metadata(const char *json)
{
	if (!json)
		return TASKER_OK;
	cJSON *doc = cJSON_ParseWithOpts(json, NULL, 1);
	int ok = doc && cJSON_IsObject(doc);
	cJSON_Delete(doc);
	if (!ok)
		return tasker_set_error(TASKER_EJSON, "transition metadata must be a JSON object, got: %.200s",
		                        json);
	return TASKER_OK;
}

/* Reads the state column of a lock/state query. */
static int state_from_result(tasker_state *out, const PGresult *res, const char *noun, int64_t id)
{
	if (PQntuples(res) == 0)
		return tasker_set_error(TASKER_ENOTFOUND, "%s %lld does not exist", noun, (long long)id);
	const char *s = tdb_get(res, 0, STATE_TO_STATE);
	if (!s) {
		*out = TASKER_STATE_PENDING;
		return TASKER_OK;
	}
	return tasker_state_parse(out, s);
}

/* The transition's events (after the commit; nothing when no one listens). */
static void emit(tdb *db, ttrans_kind kind, int64_t id, tasker_state from, tasker_state to, const char *metadata_json)
{
	if (kind == TTRANS_TASK)
		tevents_task_transition(db, id, from, to, metadata_json);
	else
		tevents_step_transition(db, id, from, to, metadata_json);
}

int ttrans_apply(tdb *db, ttrans_kind kind, int64_t id, tasker_state expected, tasker_state to,
                 const char *metadata_json, const char **out_event)
{
	const char *noun = kind == TTRANS_TASK ? "task" : "workflow step";
	const char *event = kind == TTRANS_TASK ? tasker_task_transition_event(expected, to)
	                                        : tasker_step_transition_event(expected, to);
	if (!event)
		return tasker_set_error(TASKER_ETRANSITION, "%s %lld: transition %s → %s is not allowed",
		                        noun, (long long)id, tasker_state_name(expected) ? tasker_state_name(expected) : "?",
		                        tasker_state_name(to) ? tasker_state_name(to) : "?");
	int rc = check_metadata(metadata_json);
	if (rc)
		return rc;

	char idbuf[24];
	const char *p[] = {kind == TTRANS_TASK ? "task" : "step", tdb_fmt_i64(idbuf, id), tasker_state_name(expected),
	                   tasker_state_name(to), metadata_json ? metadata_json : "{}"};
	PGresult *res;
	if ((rc = tdb_exec(&res, db, &Q_TRANSITION, 5, p, "recording a state transition")))
		return rc;
	int exists = tdb_get_bool(res, 0, TRANSITION_EXISTS, 0), written = tdb_get_bool(res, 0, TRANSITION_WRITTEN, 0);
	tasker_state current = TASKER_STATE_PENDING;
	if (exists)
		rc = tasker_state_parse(&current, tdb_get(res, 0, TRANSITION_FOUND));
	PQclear(res);
	if (!exists)
		return tasker_set_error(TASKER_ENOTFOUND, "%s %lld does not exist", noun, (long long)id);
	if (rc)
		return rc;
	if (!written)
		return tasker_set_error(TASKER_ECONFLICT,
		                        "%s %lld: state changed underneath you (expected %s, found %s; "
		                        "wanted %s)",
		                        noun, (long long)id, tasker_state_name(expected), tasker_state_name(current),
		                        tasker_state_name(to));
	emit(db, kind, id, expected, to, metadata_json);
	if (out_event)
		*out_event = event;
	return TASKER_OK;
}

int ttrans_current(tasker_state *out, tdb *db, ttrans_kind kind, int64_t id)
{
	char idbuf[24];
	const char *idp[] = {tdb_fmt_i64(idbuf, id)};
	PGresult *res;
	int rc = tdb_exec(&res, db, kind == TTRANS_TASK ? &Q_TASK_STATE : &Q_STEP_STATE, 1, idp,
	                  "reading the current state");
	if (rc)
		return rc;
	rc = state_from_result(out, res, kind == TTRANS_TASK ? "task" : "workflow step", id);
	PQclear(res);
	return rc;
}

typedef struct {
	ttrans_kind kind;
	int64_t id;
	tasker_state from, to;
	const char *metadata_json;
} transition_args;

static int transition_txn(tdb *db, tasker_client *client, void *arg)
{
	(void)client;
	const transition_args *a = arg;
	return ttrans_apply(db, a->kind, a->id, a->from, a->to, a->metadata_json, NULL);
}

static int transition(tasker_client *client, ttrans_kind kind, int64_t id, tasker_state from,
                      tasker_state to, const char *metadata_json)
{
	transition_args a = {kind, id, from, to, metadata_json};
	return tclient_in_txn(client, transition_txn, &a);
}

int tasker_task_transition(tasker_client *client, int64_t task_id, tasker_state expected_from,
                           tasker_state to, const char *metadata_json)
{
	return transition(client, TTRANS_TASK, task_id, expected_from, to, metadata_json);
}

int tasker_step_transition(tasker_client *client, int64_t step_id, tasker_state expected_from,
                           tasker_state to, const char *metadata_json)
{
	return transition(client, TTRANS_STEP, step_id, expected_from, to, metadata_json);
}

static int current(tasker_state *out, tasker_client *client, ttrans_kind kind, int64_t id)
{
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	rc = ttrans_current(out, db, kind, id);
	tclient_release(client, db);
	return rc;
}

int tasker_task_state(tasker_state *out, tasker_client *client, int64_t task_id)
{
	return current(out, client, TTRANS_TASK, task_id);
}

int tasker_step_state(tasker_state *out, tasker_client *client, int64_t step_id)
{
	return current(out, client, TTRANS_STEP, step_id);
}

/* The owners' current rows lose most_recent and the new rows go in, in one statement: the UPDATE runs
 * first (the INSERT waits on its count), so the partial unique index on (owner, most_recent) never sees
 * two current rows — our own superseded version no longer counts for it. */
#define BULK_WRITE_SQL(table, owner)                                                                     \
	"WITH cleared AS (UPDATE " table " SET most_recent = false, updated_at = " NOW_UTC " "                \
	"WHERE " owner " = ANY($7::bigint[]) AND most_recent RETURNING 1) "                                  \
	"INSERT INTO " table " (" owner ", from_state, to_state, metadata, sort_key, most_recent, created_at, " \
	"updated_at) SELECT o, f, t, m, k, r, " NOW_UTC ", " NOW_UTC " "                                     \
	"FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::bool[]) "            \
	"AS u(o, f, t, m, k, r) WHERE (SELECT count(*) FROM cleared) >= 0"
static const tdb_stmt Q_BULK_WRITE[2] = {
	{"trans_bulk_write_task", BULK_WRITE_SQL("tasker_task_transitions", "task_id")},
	{"trans_bulk_write_step", BULK_WRITE_SQL("tasker_workflow_step_transitions", "workflow_step_id")},
};

int ttrans_bulk_write(tdb *db, ttrans_kind kind, const int64_t *cleared, size_t ncleared, const ttrans_row *rows,
                      size_t n)
{
	if (n == 0 && ncleared == 0)
		return TASKER_OK;
	tbuf o, f, t, m, k, r, c;
	tbuf *all[] = {&o, &f, &t, &m, &k, &r, &c};
	for (int i = 0; i < 7; i++) {
		tbuf_init(all[i]);
		tbuf_puts(all[i], "{");
	}
	for (size_t i = 0; i < n; i++) {
		const char *sep = i ? "," : "";
		tbuf_printf(&o, "%s%lld", sep, (long long)rows[i].owner_id);
		tbuf_printf(&f, "%s%s", sep, tasker_state_name(rows[i].from));
		tbuf_printf(&t, "%s%s", sep, tasker_state_name(rows[i].to));
		tbuf_puts(&m, sep);
		tbuf_array_elem(&m, rows[i].metadata_json ? rows[i].metadata_json : "{}");
		tbuf_printf(&k, "%s%lld", sep, (long long)rows[i].sort_key);
		tbuf_printf(&r, "%s%s", sep, rows[i].most_recent ? "t" : "f");
	}
	for (size_t i = 0; i < ncleared; i++)
		tbuf_printf(&c, "%s%lld", i ? "," : "", (long long)cleared[i]);
	int rc = TASKER_OK;
	for (int i = 0; i < 7; i++) {
		tbuf_puts(all[i], "}");
		if (all[i]->oom)
			rc = tasker_set_oom();
	}
	const char *p[] = {o.data, f.data, t.data, m.data, k.data, r.data, c.data};
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_BULK_WRITE[kind == TTRANS_STEP], 7, p, "recording state transitions");
	if (!rc)
		for (size_t i = 0; i < n; i++) /* every transition fires its event (after the commit) */
			emit(db, kind, rows[i].owner_id, rows[i].from, rows[i].to, rows[i].metadata_json);
	for (int i = 0; i < 7; i++)
		tbuf_free(all[i]);
	return rc;
}
