/*
 * task_view.c — reads a task with its steps for display and for the bindings (tasker_task_get), and
 * renders its DAG as a Mermaid flowchart coloured by state. Never writes.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "registry.h"
#include "transition.h"
#include "util.h"

static const tdb_stmt Q_TASK = {
	"view_task",
	"SELECT t.task_id, ns.name, nt.name, nt.version, tt.to_state, t.complete, t.context::text, "
	"COALESCE(t.tags::text, '[]'), t.initiator, t.source_system, t.reason, t.identity_hash, t.requested_at, "
	"t.named_task_id FROM tasker_tasks t JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id "
	"JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id "
	TASK_STATE_JOIN("tt", "t.task_id")
	"WHERE t.task_id = $1::bigint"};
enum {
	TASK_ID, TASK_NAMESPACE, TASK_NAME, TASK_VERSION, TASK_STATE, TASK_COMPLETE, TASK_CONTEXT, TASK_TAGS,
	TASK_INITIATOR, TASK_SOURCE_SYSTEM, TASK_REASON, TASK_IDENTITY_HASH, TASK_REQUESTED_AT, TASK_NAMED_TASK_ID
};
static const tdb_stmt Q_STEPS = {
	"view_steps",
	"SELECT s.workflow_step_id, ns.name, tr.to_state, COALESCE(s.attempts, 0), COALESCE(s.retry_limit, 3), "
	"COALESCE(s.retryable, true), s.skippable, s.processed, COALESCE(s.results::text, 'null'), s.named_step_id, "
	"(SELECT array_agg(e.from_step_id ORDER BY e.from_step_id) FROM tasker_workflow_step_edges e "
	"WHERE e.to_step_id = s.workflow_step_id) FROM tasker_workflow_steps s "
	"JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id "
	STEP_STATE_JOIN("tr", "s.workflow_step_id")
	"WHERE s.task_id = $1::bigint ORDER BY s.workflow_step_id"};
enum {
	STEP_ID, STEP_NAME, STEP_STATE, STEP_ATTEMPTS, STEP_RETRY_LIMIT, STEP_RETRYABLE, STEP_SKIPPABLE, STEP_PROCESSED,
	STEP_RESULTS, STEP_NAMED_STEP_ID, STEP_PARENT_IDS
};

void tasker_task_view_free(tasker_task_view *v)
{
	if (!v)
		return;
	const char *strs[] = {v->namespace_name, v->name, v->version, v->context_json, v->tags_json, v->initiator,
	                      v->source_system, v->reason, v->identity_hash, v->requested_at};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		free((void *)strs[i]);
	for (size_t i = 0; i < v->step_count; i++) {
		free((void *)v->steps[i].name);
		free((void *)v->steps[i].handler_class);
		free((void *)v->steps[i].results_json);
		free((void *)v->steps[i].parent_ids);
	}
	free(v->steps);
	free(v);
}

static int64_t *parse_ids(const char *text, size_t *count)
{
	*count = 0;
	if (!text || strcmp(text, "{}") == 0)
		return NULL;
	size_t cap = 1;
	for (const char *p = text; *p; p++)
		cap += *p == ',';
	int64_t *ids = malloc(cap * sizeof *ids);
	if (!ids)
		return NULL;
	const char *p = text + 1;
	while (*p && *p != '}') {
		char *end;
		ids[(*count)++] = strtoll(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	return ids;
}

static int fill_steps(tasker_task_view *v, PGresult *res, const treg_entry *e)
{
	size_t n = (size_t)PQntuples(res);
	v->steps = calloc(n + 1, sizeof *v->steps);
	if (!v->steps)
		return tasker_set_oom();
	v->step_count = n;
	for (size_t i = 0; i < n; i++) {
		tasker_step_view *s = &v->steps[i];
		int r = (int)i;
		s->workflow_step_id = tdb_get_i64(res, r, STEP_ID, 0);
		s->state = TASKER_STATE_PENDING;
		if (tdb_get(res, r, STEP_STATE))
			tasker_state_parse(&s->state, tdb_get(res, r, STEP_STATE));
		s->attempts = (int)tdb_get_i64(res, r, STEP_ATTEMPTS, 0);
		s->retry_limit = (int)tdb_get_i64(res, r, STEP_RETRY_LIMIT, 3);
		s->retryable = tdb_get_bool(res, r, STEP_RETRYABLE, 1);
		s->skippable = tdb_get_bool(res, r, STEP_SKIPPABLE, 0);
		s->processed = tdb_get_bool(res, r, STEP_PROCESSED, 0);
		int idx = e ? treg_step_index(e, (int32_t)tdb_get_i64(res, r, STEP_NAMED_STEP_ID, 0)) : -1;
		s->name = tstrdup(tdb_get(res, r, STEP_NAME));
		s->handler_class = tstrdup(idx >= 0 ? e->tpl->steps[idx].handler_class : "");
		s->results_json = tstrdup(tdb_get(res, r, STEP_RESULTS));
		s->parent_ids = parse_ids(tdb_get(res, r, STEP_PARENT_IDS), &s->parent_count);
		if (!s->name || !s->handler_class || !s->results_json || (s->parent_count == 0 && tdb_get(res, r, STEP_PARENT_IDS) &&
		                                                          strcmp(tdb_get(res, r, STEP_PARENT_IDS), "{}")))
			return tasker_set_oom();
	}
	return TASKER_OK;
}

int tasker_task_get(tasker_task_view **out, tasker_client *client, int64_t task_id)
{
	*out = NULL;
	tdb *db;
	int rc = tclient_acquire(client, &db);
	if (rc)
		return rc;
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, task_id)};
	PGresult *t = NULL, *s = NULL;
	tasker_task_view *v = NULL;
	rc = tdb_exec(&t, db, &Q_TASK, 1, p, "reading the task");
	if (!rc && PQntuples(t) == 0)
		rc = tasker_set_error(TASKER_ENOTFOUND, "task %lld does not exist", (long long)task_id);
	if (!rc)
		rc = tdb_exec(&s, db, &Q_STEPS, 1, p, "reading the task's steps");
	const treg_entry *e = NULL;
	if (!rc && treg_lookup_id(&e, tclient_registry(client), db, (int32_t)tdb_get_i64(t, 0, TASK_NAMED_TASK_ID, 0)))
		e = NULL; /* a task from an engine without a stored template still shows, without handlers */
	if (!rc && !(v = calloc(1, sizeof *v)))
		rc = tasker_set_oom();
	if (!rc) {
		v->task_id = task_id;
		v->state = TASKER_STATE_PENDING;
		if (tdb_get(t, 0, TASK_STATE))
			tasker_state_parse(&v->state, tdb_get(t, 0, TASK_STATE));
		v->complete = tdb_get_bool(t, 0, TASK_COMPLETE, 0);
		const char **dst[] = {&v->namespace_name, &v->name, &v->version, &v->context_json, &v->tags_json,
		                      &v->initiator, &v->source_system, &v->reason, &v->identity_hash, &v->requested_at};
		const int cols[] = {TASK_NAMESPACE, TASK_NAME,      TASK_VERSION,       TASK_CONTEXT,
		                    TASK_TAGS,      TASK_INITIATOR, TASK_SOURCE_SYSTEM, TASK_REASON,
		                    TASK_IDENTITY_HASH, TASK_REQUESTED_AT};
		for (size_t i = 0; i < 10 && !rc; i++) {
			const char *val = tdb_get(t, 0, cols[i]);
			*dst[i] = tstrdup(val ? val : (cols[i] == TASK_CONTEXT ? "null" : ""));
			if (!*dst[i])
				rc = TASKER_ENOMEM;
		}
	}
	if (!rc)
		rc = fill_steps(v, s, e);
	PQclear(t);
	PQclear(s);
	tclient_release(client, db);
	if (rc)
		tasker_task_view_free(v);
	else
		*out = v;
	return rc;
}

static const char *state_class(tasker_state s)
{
	switch (s) {
	case TASKER_STATE_COMPLETE: return "complete";
	case TASKER_STATE_RESOLVED_MANUALLY: return "resolved";
	case TASKER_STATE_IN_PROGRESS: return "running";
	case TASKER_STATE_ERROR: return "failed";
	case TASKER_STATE_CANCELLED: return "cancelled";
	default: return "pending";
	}
}

/* Mermaid labels are quoted; a quote inside becomes #quot; */
static void put_label(tbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '"')
			tbuf_puts(b, "#quot;");
		else
			tbuf_append(b, s, 1);
	}
}

char *tasker_task_view_mermaid(const tasker_task_view *v)
{
	tbuf b;
	tbuf_init(&b);
	tbuf_puts(&b, "flowchart TD\n");
	for (size_t i = 0; i < v->step_count; i++) {
		const tasker_step_view *s = &v->steps[i];
		tbuf_printf(&b, "  s%lld[\"", (long long)s->workflow_step_id);
		put_label(&b, s->name);
		tbuf_printf(&b, "<br/>%s", tasker_state_name(s->state));
		if (s->attempts)
			tbuf_printf(&b, ", %d attempt%s", s->attempts, s->attempts == 1 ? "" : "s");
		tbuf_printf(&b, "\"]:::%s\n", state_class(s->state));
	}
	for (size_t i = 0; i < v->step_count; i++)
		for (size_t k = 0; k < v->steps[i].parent_count; k++)
			tbuf_printf(&b, "  s%lld --> s%lld\n", (long long)v->steps[i].parent_ids[k],
			            (long long)v->steps[i].workflow_step_id);
	tbuf_puts(&b, "  classDef complete fill:#2e7d32,color:#fff\n"
	              "  classDef resolved fill:#558b2f,color:#fff\n"
	              "  classDef running fill:#1565c0,color:#fff\n"
	              "  classDef failed fill:#c62828,color:#fff\n"
	              "  classDef cancelled fill:#757575,color:#fff\n"
	              "  classDef pending fill:#f9a825,color:#000\n");
	return tbuf_take(&b);
}
