/*
 * task_create.c — turns a task request into a task: validation (template, context schema, fields,
 * bypass list), identity (random or SHA-256 of the request), and one transaction that writes the
 * task, its steps and edges and makes the first steps claimable. Writes nothing on any error.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "events.h"
#include "jsonschema.h"
#include "queue.h"
#include "registry.h"
#include "util.h"


static const tdb_stmt Q_TASK_INSERT = {
	"create_task_insert",
	"INSERT INTO tasker_tasks (named_task_id, complete, requested_at, initiator, source_system, reason, "
	"bypass_steps, tags, context, identity_hash, created_at, updated_at) VALUES ($1::int, false, "
	"$2::timestamp, $3, $4, $5, $6::json, $7::jsonb, $8::jsonb, $9, " NOW_UTC ", " NOW_UTC ") "
	"ON CONFLICT (identity_hash) DO NOTHING RETURNING task_id"};
enum { TASK_INSERT_TASK_ID };
static const tdb_stmt Q_TASK_BY_HASH = {"create_task_by_hash",
                                        "SELECT task_id FROM tasker_tasks WHERE identity_hash = $1"};
enum { TASK_BY_HASH_TASK_ID };
/* $1 task, $2 inputs, $3 named_step_ids, $4 retryable, $5 limits, $6 processed (bypassed), $7 skippable */
static const tdb_stmt Q_STEPS_INSERT = {
	"create_steps_insert",
	"INSERT INTO tasker_workflow_steps (task_id, named_step_id, retryable, retry_limit, in_process, "
	"processed, processed_at, attempts, inputs, results, skippable, created_at, updated_at) "
	"SELECT $1::bigint, u.n, u.r, u.l, false, u.p, CASE WHEN u.p THEN " NOW_UTC " END, 0, $2::jsonb, "
	"'{}'::jsonb, u.k, " NOW_UTC ", " NOW_UTC " FROM unnest($3::int[], $4::bool[], $5::int[], $6::bool[], "
	"$7::bool[]) WITH ORDINALITY AS u(n, r, l, p, k, i) ORDER BY u.i "
	"RETURNING workflow_step_id, named_step_id"};
enum { STEPS_INSERT_STEP_ID, STEPS_INSERT_NAMED_STEP_ID };
static const tdb_stmt Q_EDGES_INSERT = {
	"create_edges_insert",
	"INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) "
	"SELECT f, t, 'provides', " NOW_UTC ", " NOW_UTC " FROM unnest($1::bigint[], $2::bigint[]) AS u(f, t)"};
static const tdb_stmt Q_BYPASS_TRANSITIONS = {
	"create_bypass_transitions",
	"INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, "
	"sort_key, most_recent, created_at, updated_at) SELECT s, 'pending', 'resolved_manually', "
	"'{\"bypassed\": true}'::jsonb, 10, true, " NOW_UTC ", " NOW_UTC " FROM unnest($1::bigint[]) AS s"};

typedef struct {
	const char *name, *ns, *version, *initiator, *source_system, *reason;
	const char *traceparent; /* validated W3C trace context, or NULL */
	cJSON *context, *tags, *bypass;
	const char *context_text; /* stored as given: cJSON holds numbers as doubles, jsonb exactly */
	char requested_at[32];
	char identity[65];
} request;

static int check_len(const char *field, const char *v, size_t max)
{
	if (v && strlen(v) > max)
		return tasker_set_error(TASKER_EINVAL, "task request: %s is %zu characters, at most %zu allowed", field,
		                        strlen(v), max);
	return TASKER_OK;
}

static void request_free(request *r)
{
	cJSON_Delete(r->context);
	cJSON_Delete(r->tags);
	cJSON_Delete(r->bypass);
}

static int parse_request(request *r, const tasker_task_request *q)
{
	memset(r, 0, sizeof *r);
	if (!q || q->version != TASKER_TASK_REQUEST_VERSION)
		return tasker_set_error(TASKER_EINVAL, "task request: version must be TASKER_TASK_REQUEST_VERSION");
	if (!q->name || !*q->name)
		return tasker_set_error(TASKER_EINVAL, "task request: name is required");
	r->name = q->name;
	r->ns = q->namespace_name ? q->namespace_name : "default";
	r->version = q->template_version ? q->template_version : "0.1.0";
	r->initiator = q->initiator ? q->initiator : "unknown";
	r->source_system = q->source_system ? q->source_system : "unknown";
	r->reason = q->reason ? q->reason : "unknown";
	int rc;
	if ((rc = check_len("name", r->name, 64)) || (rc = check_len("namespace", r->ns, 64)) ||
	    (rc = check_len("version", r->version, 16)) || (rc = check_len("initiator", r->initiator, 128)) ||
	    (rc = check_len("source_system", r->source_system, 128)) ||
	    (rc = check_len("reason", r->reason, 128)))
		return rc;
	if ((rc = tevents_check_traceparent(q->traceparent)))
		return rc;
	r->traceparent = q->traceparent;
	if (!q->context_json)
		return tasker_set_error(TASKER_EINVAL, "task request: context is required (a JSON object)");
	r->context_text = q->context_json;
	if (!(r->context = tjson_parse(q->context_json, "task request: context")))
		return TASKER_EJSON;
	if (!cJSON_IsObject(r->context))
		return tasker_set_error(TASKER_ECONTEXT, "task request: context must be a JSON object");
	r->tags = q->tags_json ? tjson_parse(q->tags_json, "task request: tags") : cJSON_CreateArray();
	if (!r->tags)
		return tasker_error_last()->code ? tasker_error_last()->code : tasker_set_oom();
	if (!cJSON_IsArray(r->tags) && !cJSON_IsObject(r->tags))
		return tasker_set_error(TASKER_EINVAL, "task request: tags must be a JSON array or object");
	r->bypass = q->bypass_steps_json ? tjson_parse(q->bypass_steps_json, "task request: bypass_steps")
	                                 : cJSON_CreateArray();
	if (!r->bypass)
		return tasker_error_last()->code ? tasker_error_last()->code : tasker_set_oom();
	if (!cJSON_IsArray(r->bypass))
		return tasker_set_error(TASKER_EINVAL, "task request: bypass_steps must be a JSON array of step names");
	const cJSON *it;
	cJSON_ArrayForEach(it, r->bypass)
	{
		if (!cJSON_IsString(it))
			return tasker_set_error(TASKER_EINVAL, "task request: bypass_steps must contain only step names");
	}
	int64_t at = q->requested_at ? ttime_parse(q->requested_at) : ttime_now();
	if (at == TASKER_NULL_TIME)
		return tasker_set_error(TASKER_EINVAL, "task request: requested_at \"%s\" is not a timestamp "
		                                       "(YYYY-MM-DD HH:MM:SS)", q->requested_at);
	ttime_format(r->requested_at, at);
	return TASKER_OK;
}

/* The Rails engine's hash identity: SHA-256 hex of {name, initiator, source_system, context, reason,
 * bypass_steps, requested_at to the minute}, in that key order. The context enters as written (without
 * whitespace), so numbers beyond a double's precision still tell requests apart. */
static int hash_identity(request *r)
{
	char *context = tjson_compact(r->context_text);
	if (!context)
		return TASKER_ENOMEM;
	cJSON *o = cJSON_CreateObject();
	char minute[17];
	memcpy(minute, r->requested_at, 16);
	minute[16] = '\0';
	if (!o || !cJSON_AddStringToObject(o, "name", r->name) ||
	    !cJSON_AddStringToObject(o, "initiator", r->initiator) ||
	    !cJSON_AddStringToObject(o, "source_system", r->source_system) ||
	    !cJSON_AddRawToObject(o, "context", context) ||
	    !cJSON_AddStringToObject(o, "reason", r->reason) ||
	    !cJSON_AddItemReferenceToObject(o, "bypass_steps", r->bypass) ||
	    !cJSON_AddStringToObject(o, "requested_at", minute)) {
		cJSON_Delete(o);
		free(context);
		return tasker_set_oom();
	}
	char *text = tjson_print(o);
	cJSON_Delete(o);
	free(context);
	if (!text)
		return TASKER_ENOMEM;
	unsigned char md[32];
	unsigned int mdlen = 0;
	int ok = EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
	free(text);
	if (!ok || mdlen != 32)
		return tasker_set_error(TASKER_ERROR, "OpenSSL could not compute SHA-256");
	for (int i = 0; i < 32; i++)
		snprintf(r->identity + 2 * i, 3, "%02x", md[i]);
	return TASKER_OK;
}

static int in_bypass(const cJSON *bypass, const char *name)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, bypass) if (strcmp(it->valuestring, name) == 0) return 1;
	return 0;
}

static int check_bypass(const treg_entry *e, const cJSON *bypass)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, bypass)
	{
		int i = ttpl_find_step(e->tpl, it->valuestring);
		if (i < 0)
			return tasker_set_error(TASKER_EINVAL, "task request: bypass_steps names \"%s\", which is not a "
			                                       "step of %s", it->valuestring, e->full_name);
		if (!e->tpl->steps[i].skippable)
			return tasker_set_error(TASKER_EINVAL, "task request: step \"%s\" of %s is not skippable, so it "
			                                       "cannot be bypassed", it->valuestring, e->full_name);
	}
	return TASKER_OK;
}

typedef struct {
	int *bypassed;   /* per template step: resolved at creation because bypassed */
	int *ready;      /* per template step: claimable at once */
} initial_plan;

/* Bypassed steps whose parents are all bypassed are resolved at once; a step is claimable at once
 * when it is not bypassed and all its parents are resolved. (A bypassed step deeper in the DAG is
 * resolved when its parents finish — see queue.c.) */
static void plan_initial(initial_plan *p, const ttpl_template *t, const cJSON *bypass)
{
	for (size_t k = 0; k < t->nsteps; k++) {
		size_t i = t->topo[k];
		const ttpl_step *s = &t->steps[i];
		int parents_done = 1;
		for (size_t j = 0; j < s->ndepends; j++)
			parents_done &= p->bypassed[s->parents[j]];
		if (!parents_done)
			continue;
		if (in_bypass(bypass, s->name))
			p->bypassed[i] = 1;
		else
			p->ready[i] = 1;
	}
}

static char *int_array(const ttpl_template *t, const int32_t *ids, const int *flags, int mode)
{
	tbuf b;
	tbuf_init(&b);
	tbuf_puts(&b, "{");
	for (size_t k = 0; k < t->nsteps; k++) {
		size_t i = t->topo[k];
		const ttpl_step *s = &t->steps[i];
		const char *sep = k ? "," : "";
		switch (mode) {
		case 0: tbuf_printf(&b, "%s%d", sep, ids[i]); break;
		case 1: tbuf_printf(&b, "%s%s", sep, s->default_retryable ? "t" : "f"); break;
		case 2: tbuf_printf(&b, "%s%d", sep, s->default_retry_limit); break;
		case 3: tbuf_printf(&b, "%s%s", sep, flags[i] ? "t" : "f"); break;
		default: tbuf_printf(&b, "%s%s", sep, s->skippable ? "t" : "f"); break;
		}
	}
	tbuf_puts(&b, "}");
	return tbuf_take(&b);
}

/* Inserts the steps; fills step_ids (per template index). */
static int insert_steps(tdb *db, const treg_entry *e, const char *task_id, const char *inputs,
                        const initial_plan *plan, int64_t *step_ids)
{
	const ttpl_template *t = e->tpl;
	char *arrs[5] = {0};
	int rc = TASKER_OK;
	for (int m = 0; m < 5 && !rc; m++)
		if (!(arrs[m] = int_array(t, e->named_step_ids, plan->bypassed, m)))
			rc = TASKER_ENOMEM;
	PGresult *res = NULL;
	const char *p[] = {task_id, inputs, arrs[0], arrs[1], arrs[2], arrs[3], arrs[4]};
	if (!rc)
		rc = tdb_exec(&res, db, &Q_STEPS_INSERT, 7, p, "creating workflow steps");
	for (int m = 0; m < 5; m++)
		free(arrs[m]);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		int i = treg_step_index(e, (int32_t)tdb_get_i64(res, r, STEPS_INSERT_NAMED_STEP_ID, -1));
		if (i >= 0)
			step_ids[i] = tdb_get_i64(res, r, STEPS_INSERT_STEP_ID, 0);
	}
	PQclear(res);
	return TASKER_OK;
}

static int insert_edges_and_queue(tdb *db, const treg_entry *e, int64_t task_id, const int64_t *ids,
                                  const initial_plan *plan)
{
	const ttpl_template *t = e->tpl;
	tbuf from, to, byp;
	tbuf_init(&from);
	tbuf_init(&to);
	tbuf_init(&byp);
	tbuf_puts(&from, "{");
	tbuf_puts(&to, "{");
	tbuf_puts(&byp, "{");
	size_t nedges = 0, nbyp = 0;
	tqueue_batch ready;
	tqueue_batch_init(&ready);
	for (size_t i = 0; i < t->nsteps; i++) {
		const ttpl_step *s = &t->steps[i];
		for (size_t j = 0; j < s->ndepends; j++, nedges++) {
			tbuf_printf(&from, "%s%lld", nedges ? "," : "", (long long)ids[s->parents[j]]);
			tbuf_printf(&to, "%s%lld", nedges ? "," : "", (long long)ids[i]);
		}
		if (plan->bypassed[i])
			tbuf_printf(&byp, "%s%lld", nbyp++ ? "," : "", (long long)ids[i]);
		if (plan->ready[i])
			tqueue_batch_add(&ready, ids[i], task_id, s->handler_class, 0);
	}
	tbuf_puts(&from, "}");
	tbuf_puts(&to, "}");
	tbuf_puts(&byp, "}");
	int rc = (from.oom || to.oom || byp.oom) ? tasker_set_oom() : TASKER_OK;
	const char *ep[] = {from.data, to.data};
	if (!rc && nedges)
		rc = tdb_exec(NULL, db, &Q_EDGES_INSERT, 2, ep, "creating workflow step edges");
	const char *bp[] = {byp.data};
	if (!rc && nbyp)
		rc = tdb_exec(NULL, db, &Q_BYPASS_TRANSITIONS, 1, bp, "resolving bypassed steps");
	if (!rc)
		rc = tqueue_batch_write(db, &ready);
	tqueue_batch_free(&ready);
	tbuf_free(&from);
	tbuf_free(&to);
	tbuf_free(&byp);
	return rc;
}

static int create_in_txn(int64_t *out, tdb *db, const treg_entry *e, request *r)
{
	const ttpl_template *t = e->tpl;
	char *context = tstrdup(r->context_text), *tags = tjson_print(r->tags), *bypass = tjson_print(r->bypass);
	char ntid[24];
	int rc = (context && tags && bypass) ? TASKER_OK : TASKER_ENOMEM;
	const char *p[] = {tdb_fmt_i64(ntid, e->named_task_id), r->requested_at, r->initiator, r->source_system,
	                   r->reason, bypass, tags, context, r->identity};
	PGresult *res = NULL;
	if (!rc)
		rc = tdb_exec(&res, db, &Q_TASK_INSERT, 9, p, "creating the task");
	if (!rc && PQntuples(res) == 0) {
		/* An identical request already created the task (identity hash). */
		PQclear(res);
		const char *hp[] = {r->identity};
		rc = tdb_exec(&res, db, &Q_TASK_BY_HASH, 1, hp, "finding the existing task");
		if (!rc && PQntuples(res) == 1) {
			*out = tdb_get_i64(res, 0, TASK_BY_HASH_TASK_ID, 0);
			rc = TASKER_EXISTS;
		} else if (!rc) {
			rc = tasker_set_error(TASKER_ECONFLICT, "task identity %s collided but no task holds it", r->identity);
		}
	} else if (!rc) {
		*out = tdb_get_i64(res, 0, TASK_INSERT_TASK_ID, 0);
	}
	PQclear(res);
	initial_plan plan = {calloc(t->nsteps + 1, sizeof(int)), calloc(t->nsteps + 1, sizeof(int))};
	int64_t *ids = calloc(t->nsteps + 1, sizeof *ids);
	if (!rc && (!plan.bypassed || !plan.ready || !ids))
		rc = tasker_set_oom();
	char tid[24];
	if (!rc) {
		plan_initial(&plan, t, r->bypass);
		rc = insert_steps(db, e, tdb_fmt_i64(tid, *out), context, &plan, ids);
	}
	if (!rc) /* keeps the traceparent; task.start_requested and the bypass events */
		rc = tevents_task_created(db, &(tevents_creation){*out, e, r->identity, r->traceparent, r->initiator,
		                                                  r->source_system, r->reason, ids, plan.bypassed});
	if (!rc)
		rc = insert_edges_and_queue(db, e, *out, ids, &plan);
	free(plan.bypassed);
	free(plan.ready);
	free(ids);
	free(context);
	free(tags);
	free(bypass);
	return rc;
}

int tasker_task_create(int64_t *out_task_id, tasker_client *client, const tasker_task_request *q)
{
	*out_task_id = 0;
	request r;
	int rc = parse_request(&r, q);
	tdb *db = NULL;
	const treg_entry *e = NULL;
	if (!rc)
		rc = tclient_acquire(client, &db);
	if (!rc)
		rc = treg_lookup(&e, tclient_registry(client), db, r.ns, r.name, r.version);
	if (!rc && e->tpl->compiled_schema)
		rc = tjs_validate(e->tpl->compiled_schema, r.context);
	if (!rc)
		rc = check_bypass(e, r.bypass);
	if (!rc) {
		tasker_identity_strategy strategy = q->identity_strategy;
		if (strategy == TASKER_IDENTITY_CLIENT_DEFAULT)
			strategy = tclient_identity_strategy(client);
		rc = strategy == TASKER_IDENTITY_HASH ? hash_identity(&r) : trand_uuid(r.identity);
	}
	if (!rc)
		rc = tdb_begin(db);
	if (!rc) {
		int64_t id = 0;
		rc = create_in_txn(&id, db, e, &r);
		if (rc == TASKER_OK || rc == TASKER_EXISTS) {
			/* A duplicate wrote nothing; committing its empty transaction is harmless. */
			int crc = tdb_commit(db);
			if (crc)
				rc = crc;
			else
				*out_task_id = id;
		}
	}
	if (db)
		tclient_release(client, db);
	request_free(&r);
	return rc;
}
