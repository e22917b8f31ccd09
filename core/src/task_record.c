/*
 * task_record.c — reads a task and its steps as rows, every column of the Rails engine's tables (with
 * current states, named task and named steps, and the DAG's edges), as one JSON document: what a binding
 * needs to offer the engine's model readers (Task#created_at, WorkflowStep#processed_at, ...) without a
 * query of its own. One statement; never writes.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "transition.h"
#include "util.h"

/* The result's one column. */
enum { R_RECORD };

static const tdb_stmt Q_RECORD = {
	"task_record",
	"SELECT json_build_object("
	"'task', to_jsonb(t) || jsonb_build_object('status', COALESCE(tt.to_state, 'pending'), "
	"  'named_task', to_jsonb(nt) || jsonb_build_object('namespace_name', ns.name)), "
	"'workflow_steps', COALESCE((SELECT json_agg(to_jsonb(s) || jsonb_build_object("
	"    'name', st.name, 'status', COALESCE(sr.to_state, 'pending'), 'named_step', to_jsonb(st), "
	"    'parent_ids', (SELECT COALESCE(json_agg(e.from_step_id ORDER BY e.from_step_id), '[]') "
	"      FROM tasker_workflow_step_edges e WHERE e.to_step_id = s.workflow_step_id), "
	"    'child_ids', (SELECT COALESCE(json_agg(e.to_step_id ORDER BY e.to_step_id), '[]') "
	"      FROM tasker_workflow_step_edges e WHERE e.from_step_id = s.workflow_step_id)) "
	"  ORDER BY s.workflow_step_id) "
	"  FROM tasker_workflow_steps s JOIN tasker_named_steps st ON st.named_step_id = s.named_step_id "
	"  " STEP_STATE_JOIN("sr", "s.workflow_step_id")
	"  WHERE s.task_id = t.task_id), '[]'))::text "
	"FROM tasker_tasks t JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id "
	"JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id "
	TASK_STATE_JOIN("tt", "t.task_id")
	"WHERE t.task_id = $1::bigint"};

int tasker_task_record(char **out_json, tasker_client *client, int64_t task_id)
{
	char id[24];
	PGresult *res = NULL;
	if (!out_json || !client)
		return tasker_set_error(TASKER_EINVAL, "tasker_task_record: out_json and client must not be NULL");
	*out_json = NULL;
	const char *params[] = {tdb_fmt_i64(id, task_id)};
	int rc = tclient_exec(&res, client, &Q_RECORD, 1, params, "reading the task's rows");
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = tasker_set_error(TASKER_ENOTFOUND, "task %lld does not exist", (long long)task_id);
	else if (!(*out_json = tstrdup(tdb_get(res, 0, R_RECORD))))
		rc = TASKER_ENOMEM;
	PQclear(res);
	return rc;
}
