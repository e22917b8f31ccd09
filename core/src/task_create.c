/*
 * task_create.c — turns a task request into a task: validation (template, context schema, fields,
 * bypass list), identity (random or SHA-256 of the request), and one statement (a server function,
 * migration 0013) that writes the task, its steps and edges and makes the first steps claimable, in
 * one round trip with its BEGIN. Writes nothing on any error.
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


/* The whole creation in one statement (migration 0013): the task (or the one an identical request created),
 * its steps, edges, bypass transitions, ready-queue rows and traceparent. The step arrays are in the
 * template's topological order; the edges are 1-based positions in them. */
static const tdb_stmt Q_CREATE = {
	"create_task",
	"SELECT c_task_id, c_existed, c_step_id, c_named_step_id FROM tasker_core_create_task($1::int, "
	"$2::timestamp, $3, $4, $5, $6::json, $7::jsonb, $8::jsonb, $9, $10, $11::int[], $12::bool[], $13::int[], "
	"$14::bool[], $15::bool[], $16::text[], $17::int[], $18::int[])"};
enum { CREATE_TASK_ID, CREATE_EXISTED, CREATE_STEP_ID, CREATE_NAMED_STEP_ID };

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

enum { ARR_NAMED_STEP, ARR_RETRYABLE, ARR_LIMIT, ARR_BYPASSED, ARR_SKIPPABLE, ARR_ENQUEUE, ARR_EDGE_FROM,
       ARR_EDGE_TO, NARRAYS };

/* The function's array arguments (PostgreSQL array literals), steps in topological order. */
static int step_arrays(char *out[NARRAYS], const treg_entry *e, const initial_plan *plan)
{
	const ttpl_template *t = e->tpl;
	tbuf b[NARRAYS];
	size_t *pos = calloc(t->nsteps + 1, sizeof *pos); /* 1-based position of each template step */
	for (int m = 0; m < NARRAYS; m++) {
		tbuf_init(&b[m]);
		tbuf_puts(&b[m], "{");
	}
	size_t nedges = 0;
	for (size_t k = 0; pos && k < t->nsteps; k++)
		pos[t->topo[k]] = k + 1;
	for (size_t k = 0; pos && k < t->nsteps; k++) {
		size_t i = t->topo[k];
		const ttpl_step *s = &t->steps[i];
		const char *sep = k ? "," : "";
		tbuf_printf(&b[ARR_NAMED_STEP], "%s%d", sep, e->named_step_ids[i]);
		tbuf_printf(&b[ARR_RETRYABLE], "%s%s", sep, s->default_retryable ? "t" : "f");
		tbuf_printf(&b[ARR_LIMIT], "%s%d", sep, s->default_retry_limit);
		tbuf_printf(&b[ARR_BYPASSED], "%s%s", sep, plan->bypassed[i] ? "t" : "f");
		tbuf_printf(&b[ARR_SKIPPABLE], "%s%s", sep, s->skippable ? "t" : "f");
		tbuf_puts(&b[ARR_ENQUEUE], sep);
		tbuf_array_elem(&b[ARR_ENQUEUE], plan->ready[i] ? s->handler_class : NULL);
		for (size_t j = 0; j < s->ndepends; j++, nedges++) {
			tbuf_printf(&b[ARR_EDGE_FROM], "%s%zu", nedges ? "," : "", pos[s->parents[j]]);
			tbuf_printf(&b[ARR_EDGE_TO], "%s%zu", nedges ? "," : "", k + 1);
		}
	}
	int oom = !pos;
	free(pos);
	for (int m = 0; m < NARRAYS; m++) {
		tbuf_puts(&b[m], "}");
		oom |= b[m].oom;
		out[m] = tbuf_take(&b[m]);
		oom |= !out[m];
	}
	return oom ? tasker_set_oom() : TASKER_OK;
}

/* The creation's events, in the order they had when each table was written by its own statement:
 * task.start_requested and the bypass transitions, then the steps made claimable
 * (viable_steps_discovered). The bus publishes them after the COMMIT, and the wake-up follows it. */
static int publish_created(tdb *db, const treg_entry *e, const request *r, int64_t task_id, const int64_t *ids,
                           const initial_plan *plan)
{
	int rc = tevents_task_created(db, &(tevents_creation){task_id, e, r->identity, r->traceparent, r->initiator,
	                                                      r->source_system, r->reason, ids, plan->bypassed});
	const ttpl_template *t = e->tpl;
	size_t n = 0;
	int64_t *ready = calloc(3 * t->nsteps + 1, sizeof *ready); /* step ids, task ids, delays (0) */
	if (!rc && !ready)
		rc = tasker_set_oom();
	for (size_t i = 0; !rc && i < t->nsteps; i++)
		if (plan->ready[i]) {
			ready[n] = ids[i];
			ready[t->nsteps + n++] = task_id;
		}
	if (!rc && n) {
		tevents_steps_enqueued(db, ready, ready + t->nsteps, ready + 2 * t->nsteps, n);
		rc = tqueue_wake(db);
	}
	free(ready);
	return rc;
}

static int create_in_txn(int64_t *out, tdb *db, const treg_entry *e, request *r)
{
	const ttpl_template *t = e->tpl;
	char *tags = tjson_print(r->tags), *bypass = tjson_print(r->bypass);
	char *arrs[NARRAYS] = {0};
	initial_plan plan = {calloc(t->nsteps + 1, sizeof(int)), calloc(t->nsteps + 1, sizeof(int))};
	int64_t *ids = calloc(t->nsteps + 1, sizeof *ids);
	int rc = (tags && bypass && plan.bypassed && plan.ready && ids) ? TASKER_OK : tasker_set_oom();
	if (!rc) {
		plan_initial(&plan, t, r->bypass);
		rc = step_arrays(arrs, e, &plan);
	}
	char ntid[24];
	const char *p[] = {tdb_fmt_i64(ntid, e->named_task_id), r->requested_at, r->initiator, r->source_system,
	                   r->reason, bypass, tags, r->context_text, r->identity, r->traceparent,
	                   arrs[ARR_NAMED_STEP], arrs[ARR_RETRYABLE], arrs[ARR_LIMIT], arrs[ARR_BYPASSED],
	                   arrs[ARR_SKIPPABLE], arrs[ARR_ENQUEUE], arrs[ARR_EDGE_FROM], arrs[ARR_EDGE_TO]};
	PGresult *res = NULL;
	if (!rc)
		rc = tdb_exec(&res, db, &Q_CREATE, 18, p, "creating the task");
	if (!rc && PQntuples(res) < 1) {
		rc = tasker_set_error(TASKER_ERROR, "creating the task: tasker_core_create_task returned no row");
	} else if (!rc && tdb_get_bool(res, 0, CREATE_EXISTED, 0)) {
		/* An identical request already created the task (identity hash): nothing was written. */
		if (tdb_is_null(res, 0, CREATE_TASK_ID)) {
			rc = tasker_set_error(TASKER_ECONFLICT, "task identity %s collided but no task holds it", r->identity);
		} else {
			*out = tdb_get_i64(res, 0, CREATE_TASK_ID, 0);
			rc = TASKER_EXISTS;
		}
	} else if (!rc) {
		*out = tdb_get_i64(res, 0, CREATE_TASK_ID, 0);
		for (int row = 0; row < PQntuples(res); row++) {
			int i = treg_step_index(e, (int32_t)tdb_get_i64(res, row, CREATE_NAMED_STEP_ID, -1));
			if (i >= 0)
				ids[i] = tdb_get_i64(res, row, CREATE_STEP_ID, 0);
		}
		rc = publish_created(db, e, r, *out, ids, &plan);
	}
	PQclear(res);
	for (int m = 0; m < NARRAYS; m++)
		free(arrs[m]);
	free(plan.bypassed);
	free(plan.ready);
	free(ids);
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
