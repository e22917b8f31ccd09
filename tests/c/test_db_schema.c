/* Integration test: a freshly migrated database holds exactly the Rails engine's schema — every table,
 * column (type, default, nullability, order), key, index, the view and every function signature.
 * The expectations are written from the reference's §1 and Appendix A, not from the migrations, so a
 * drift in either fails here with a message naming the object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static testdb db;

typedef struct col_expect {
	const char *name;
	const char *type;     /* as format_type() prints it */
	const char *def;      /* as pg_get_expr() prints the default; NULL = none */
	int not_null;
} col_expect;

typedef struct table_expect {
	const char *name;
	const char *pk;
	const char *pk_type;  /* integer (serial) or bigint (bigserial) */
	const char *seq;      /* the key's sequence when not <table>_<pk>_seq */
	col_expect cols[16];  /* after the primary key, in table order; ends at .name == NULL */
} table_expect;

#define VC(n) "character varying(" #n ")"
#define TS6 "timestamp(6) without time zone"
#define TS "timestamp without time zone"
/* Rails' t.timestamps: application-filled, no default. */
#define TIMESTAMPS {"created_at", TS6, NULL, 1}, {"updated_at", TS6, NULL, 1}

static const table_expect tables[] = {
	{"tasker_annotation_types", "annotation_type_id", "integer", NULL,
	 {{"name", VC(64), NULL, 1}, {"description", VC(255), NULL, 0}, TIMESTAMPS}},
	{"tasker_dependent_systems", "dependent_system_id", "integer", NULL,
	 {{"name", VC(64), NULL, 1}, {"description", VC(255), NULL, 0}, TIMESTAMPS}},
	{"tasker_task_namespaces", "task_namespace_id", "integer", NULL,
	 {{"name", VC(64), NULL, 1}, {"description", VC(255), NULL, 0}, TIMESTAMPS}},
	{"tasker_named_tasks", "named_task_id", "integer", NULL,
	 {{"name", VC(64), NULL, 1},
	  {"description", VC(255), NULL, 0},
	  {"task_namespace_id", "bigint", "1", 1},
	  {"version", VC(16), "'0.1.0'::character varying", 1},
	  {"configuration", "jsonb", "'\"{}\"'::jsonb", 0},
	  TIMESTAMPS}},
	{"tasker_named_steps", "named_step_id", "integer", NULL,
	 {{"dependent_system_id", "integer", NULL, 1},
	  {"name", VC(128), NULL, 1},
	  {"description", VC(255), NULL, 0},
	  TIMESTAMPS}},
	{"tasker_named_tasks_named_steps", "id", "integer", NULL,
	 {{"named_task_id", "integer", NULL, 1},
	  {"named_step_id", "integer", NULL, 1},
	  {"skippable", "boolean", "false", 1},
	  {"default_retryable", "boolean", "true", 1},
	  {"default_retry_limit", "integer", "3", 1},
	  TIMESTAMPS}},
	{"tasker_tasks", "task_id", "bigint", NULL,
	 {{"named_task_id", "integer", NULL, 1},
	  {"complete", "boolean", "false", 1},
	  {"requested_at", TS, NULL, 1},
	  {"initiator", VC(128), NULL, 0},
	  {"source_system", VC(128), NULL, 0},
	  {"reason", VC(128), NULL, 0},
	  {"bypass_steps", "json", NULL, 0},
	  {"tags", "jsonb", NULL, 0},
	  {"context", "jsonb", NULL, 0},
	  {"identity_hash", VC(128), NULL, 1},
	  TIMESTAMPS}},
	{"tasker_workflow_steps", "workflow_step_id", "bigint", NULL,
	 {{"task_id", "bigint", NULL, 1},
	  {"named_step_id", "integer", NULL, 1},
	  {"retryable", "boolean", "true", 1},
	  {"retry_limit", "integer", "3", 0},
	  {"in_process", "boolean", "false", 1},
	  {"processed", "boolean", "false", 1},
	  {"processed_at", TS, NULL, 0},
	  {"attempts", "integer", NULL, 0},
	  {"last_attempted_at", TS, NULL, 0},
	  {"backoff_request_seconds", "integer", NULL, 0},
	  {"inputs", "jsonb", NULL, 0},
	  {"results", "jsonb", NULL, 0},
	  TIMESTAMPS,
	  {"skippable", "boolean", "false", 1}}},
	{"tasker_workflow_step_edges", "id", "bigint", NULL,
	 {{"from_step_id", "bigint", NULL, 1},
	  {"to_step_id", "bigint", NULL, 1},
	  {"name", "character varying", NULL, 1},
	  TIMESTAMPS}},
	{"tasker_task_transitions", "id", "bigint", NULL,
	 {{"to_state", "character varying", NULL, 1},
	  {"from_state", "character varying", NULL, 0},
	  {"metadata", "jsonb", "'{}'::jsonb", 0},
	  {"sort_key", "integer", NULL, 1},
	  {"most_recent", "boolean", "true", 1},
	  {"task_id", "bigint", NULL, 1},
	  TIMESTAMPS}},
	{"tasker_workflow_step_transitions", "id", "bigint", NULL,
	 {{"to_state", "character varying", NULL, 1},
	  {"from_state", "character varying", NULL, 0},
	  {"metadata", "jsonb", "'{}'::jsonb", 0},
	  {"sort_key", "integer", NULL, 1},
	  {"most_recent", "boolean", "true", 1},
	  {"workflow_step_id", "bigint", NULL, 1},
	  TIMESTAMPS}},
	{"tasker_task_annotations", "task_annotation_id", "bigint", NULL,
	 {{"task_id", "bigint", NULL, 1},
	  {"annotation_type_id", "integer", NULL, 1},
	  {"annotation", "jsonb", NULL, 0},
	  TIMESTAMPS}},
	/* <table>_<pk>_seq would be 69 bytes; this is how PostgreSQL shortens it to 63 */
	{"tasker_dependent_system_object_maps", "dependent_system_object_map_id", "bigint",
	 "tasker_dependent_system_objec_dependent_system_object_map_i_seq",
	 {{"dependent_system_one_id", "integer", NULL, 1},
	  {"dependent_system_two_id", "integer", NULL, 1},
	  {"remote_id_one", VC(128), NULL, 1},
	  {"remote_id_two", VC(128), NULL, 1},
	  TIMESTAMPS}},
};

/* Every foreign key, "table.column -> table.column"; none has ON DELETE / ON UPDATE actions. */
static const char *const foreign_keys[] = {
	"tasker_dependent_system_object_maps.dependent_system_one_id -> tasker_dependent_systems.dependent_system_id",
	"tasker_dependent_system_object_maps.dependent_system_two_id -> tasker_dependent_systems.dependent_system_id",
	"tasker_named_steps.dependent_system_id -> tasker_dependent_systems.dependent_system_id",
	"tasker_named_tasks.task_namespace_id -> tasker_task_namespaces.task_namespace_id",
	"tasker_named_tasks_named_steps.named_step_id -> tasker_named_steps.named_step_id",
	"tasker_named_tasks_named_steps.named_task_id -> tasker_named_tasks.named_task_id",
	"tasker_task_annotations.annotation_type_id -> tasker_annotation_types.annotation_type_id",
	"tasker_task_annotations.task_id -> tasker_tasks.task_id",
	"tasker_task_transitions.task_id -> tasker_tasks.task_id",
	"tasker_tasks.named_task_id -> tasker_named_tasks.named_task_id",
	"tasker_workflow_step_edges.from_step_id -> tasker_workflow_steps.workflow_step_id",
	"tasker_workflow_step_edges.to_step_id -> tasker_workflow_steps.workflow_step_id",
	"tasker_workflow_step_transitions.workflow_step_id -> tasker_workflow_steps.workflow_step_id",
	"tasker_workflow_steps.named_step_id -> tasker_named_steps.named_step_id",
	"tasker_workflow_steps.task_id -> tasker_tasks.task_id",
};

typedef struct index_expect {
	const char *table, *name;
	int unique;
	const char *method;
	const char *def; /* what follows "USING <method> " in pg_get_indexdef() */
} index_expect;

#define CP_PARENTS "(((to_state)::text = ANY (ARRAY[('complete'::character varying)::text, " \
                   "('resolved_manually'::character varying)::text])) AND (most_recent = true))"

/* Appendix A: every non-primary-key index (86). */
static const index_expect indexes[] = {
	{"tasker_annotation_types", "annotation_types_name_index", 0, "btree", "(name)"},
	{"tasker_annotation_types", "annotation_types_name_unique", 1, "btree", "(name)"},
	{"tasker_dependent_system_object_maps", "dependent_system_object_maps_dependent_system_one_id_dependent_", 1,
	 "btree", "(dependent_system_one_id, dependent_system_two_id, remote_id_one, remote_id_two)"},
	{"tasker_dependent_system_object_maps", "dependent_system_object_maps_dependent_system_one_id_index", 0,
	 "btree", "(dependent_system_one_id)"},
	{"tasker_dependent_system_object_maps", "dependent_system_object_maps_dependent_system_two_id_index", 0,
	 "btree", "(dependent_system_two_id)"},
	{"tasker_dependent_system_object_maps", "dependent_system_object_maps_remote_id_one_index", 0, "btree",
	 "(remote_id_one)"},
	{"tasker_dependent_system_object_maps", "dependent_system_object_maps_remote_id_two_index", 0, "btree",
	 "(remote_id_two)"},
	{"tasker_dependent_systems", "dependent_systems_name_index", 0, "btree", "(name)"},
	{"tasker_dependent_systems", "dependent_systems_name_unique", 1, "btree", "(name)"},
	{"tasker_named_steps", "named_step_by_system_uniq", 1, "btree", "(dependent_system_id, name)"},
	{"tasker_named_steps", "named_steps_dependent_system_id_index", 0, "btree", "(dependent_system_id)"},
	{"tasker_named_steps", "named_steps_name_index", 0, "btree", "(name)"},
	{"tasker_named_tasks", "named_tasks_configuration_gin_index", 0, "gin", "(configuration)"},
	{"tasker_named_tasks", "named_tasks_name_index", 0, "btree", "(name)"},
	{"tasker_named_tasks", "named_tasks_namespace_name_version_unique", 1, "btree",
	 "(task_namespace_id, name, version)"},
	{"tasker_named_tasks", "named_tasks_task_namespace_id_index", 0, "btree", "(task_namespace_id)"},
	{"tasker_named_tasks", "named_tasks_version_index", 0, "btree", "(version)"},
	{"tasker_named_tasks_named_steps", "named_tasks_named_steps_named_step_id_index", 0, "btree",
	 "(named_step_id)"},
	{"tasker_named_tasks_named_steps", "named_tasks_named_steps_named_task_id_index", 0, "btree",
	 "(named_task_id)"},
	{"tasker_named_tasks_named_steps", "named_tasks_steps_ids_unique", 1, "btree",
	 "(named_task_id, named_step_id)"},
	{"tasker_task_annotations", "task_annotations_annotation_idx", 0, "gin", "(annotation)"},
	{"tasker_task_annotations", "task_annotations_annotation_idx1", 0, "gin", "(annotation jsonb_path_ops)"},
	{"tasker_task_annotations", "task_annotations_annotation_type_id_index", 0, "btree", "(annotation_type_id)"},
	{"tasker_task_annotations", "task_annotations_task_id_index", 0, "btree", "(task_id)"},
	{"tasker_task_namespaces", "task_namespaces_name_index", 0, "btree", "(name)"},
	{"tasker_task_namespaces", "task_namespaces_name_unique", 1, "btree", "(name)"},
	{"tasker_task_transitions", "idx_task_transitions_most_recent", 0, "btree",
	 "(task_id, most_recent) WHERE (most_recent = true)"},
	{"tasker_task_transitions", "index_task_transitions_current_state", 0, "btree", "(task_id, created_at)"},
	{"tasker_task_transitions", "index_task_transitions_current_state_optimized", 0, "btree",
	 "(task_id, most_recent) WHERE (most_recent = true)"},
	{"tasker_task_transitions", "index_tasker_task_transitions_on_sort_key", 0, "btree", "(sort_key)"},
	{"tasker_task_transitions", "index_tasker_task_transitions_on_task_id", 0, "btree", "(task_id)"},
	{"tasker_task_transitions", "index_tasker_task_transitions_on_task_id_and_most_recent", 1, "btree",
	 "(task_id, most_recent) WHERE (most_recent = true)"},
	{"tasker_task_transitions", "index_tasker_task_transitions_on_task_id_and_sort_key", 1, "btree",
	 "(task_id, sort_key)"},
	{"tasker_tasks", "idx_tasks_active_operations", 0, "btree",
	 "(task_id) WHERE ((complete = false) OR (complete IS NULL))"},
	{"tasker_tasks", "idx_tasks_active_workflow_summary", 0, "btree",
	 "(task_id, complete) WHERE ((complete = false) OR (complete IS NULL))"},
	{"tasker_tasks", "idx_tasks_completion_status_created", 0, "btree", "(complete, created_at, task_id)"},
	{"tasker_tasks", "index_tasks_on_identity_hash", 1, "btree", "(identity_hash)"},
	{"tasker_tasks", "tasks_context_idx", 0, "gin", "(context)"},
	{"tasker_tasks", "tasks_context_idx1", 0, "gin", "(context jsonb_path_ops)"},
	{"tasker_tasks", "tasks_identity_hash_index", 0, "btree", "(identity_hash)"},
	{"tasker_tasks", "tasks_named_task_id_index", 0, "btree", "(named_task_id)"},
	{"tasker_tasks", "tasks_requested_at_index", 0, "btree", "(requested_at)"},
	{"tasker_tasks", "tasks_source_system_index", 0, "btree", "(source_system)"},
	{"tasker_tasks", "tasks_tags_idx", 0, "gin", "(tags)"},
	{"tasker_tasks", "tasks_tags_idx1", 0, "gin", "(tags jsonb_path_ops)"},
	{"tasker_workflow_step_edges", "idx_step_edges_from_to", 0, "btree", "(from_step_id, to_step_id)"},
	{"tasker_workflow_step_edges", "idx_step_edges_to_from", 0, "btree", "(to_step_id, from_step_id)"},
	{"tasker_workflow_step_edges", "idx_workflow_step_edges_dependency_lookup", 0, "btree",
	 "(to_step_id, from_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_child_lookup", 0, "btree", "(to_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_dependency_pair", 0, "btree", "(to_step_id, from_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_from_step_for_children", 0, "btree", "(from_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_from_to_composite", 0, "btree", "(from_step_id, to_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_parent_lookup", 0, "btree", "(from_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_to_from_composite", 0, "btree", "(to_step_id, from_step_id)"},
	{"tasker_workflow_step_edges", "index_step_edges_to_step_for_parents", 0, "btree", "(to_step_id)"},
	{"tasker_workflow_step_edges", "index_tasker_workflow_step_edges_on_from_step_id", 0, "btree",
	 "(from_step_id)"},
	{"tasker_workflow_step_edges", "index_tasker_workflow_step_edges_on_to_step_id", 0, "btree", "(to_step_id)"},
	{"tasker_workflow_step_edges", "index_workflow_step_edges_dependency_lookup", 0, "btree",
	 "(to_step_id, from_step_id)"},
	{"tasker_workflow_step_transitions", "idx_on_workflow_step_id_most_recent_97d5374ad6", 1, "btree",
	 "(workflow_step_id, most_recent) WHERE (most_recent = true)"},
	{"tasker_workflow_step_transitions", "idx_on_workflow_step_id_sort_key_4d476d7adb", 1, "btree",
	 "(workflow_step_id, sort_key)"},
	{"tasker_workflow_step_transitions", "idx_step_transitions_current_state", 0, "btree",
	 "(workflow_step_id, most_recent, to_state) WHERE (most_recent = true)"},
	{"tasker_workflow_step_transitions", "idx_step_transitions_most_recent", 0, "btree",
	 "(workflow_step_id, most_recent) WHERE (most_recent = true)"},
	{"tasker_workflow_step_transitions", "index_step_transitions_completed", 0, "btree",
	 "(workflow_step_id, to_state) WHERE ((to_state)::text = 'complete'::text)"},
	{"tasker_workflow_step_transitions", "index_step_transitions_completed_parents", 0, "btree",
	 "(workflow_step_id, most_recent) WHERE " CP_PARENTS},
	{"tasker_workflow_step_transitions", "index_step_transitions_current_errors", 0, "btree",
	 "(workflow_step_id, most_recent, created_at) WHERE (((to_state)::text = 'error'::text) AND "
	 "(most_recent = true))"},
	{"tasker_workflow_step_transitions", "index_step_transitions_current_state_optimized", 0, "btree",
	 "(workflow_step_id, most_recent) WHERE (most_recent = true)"},
	{"tasker_workflow_step_transitions", "index_step_transitions_failures_with_timing", 0, "btree",
	 "(workflow_step_id, to_state, created_at) WHERE ((to_state)::text = 'failed'::text)"},
	{"tasker_workflow_step_transitions", "index_step_transitions_for_current_state", 0, "btree",
	 "(workflow_step_id, created_at)"},
	{"tasker_workflow_step_transitions", "index_tasker_workflow_step_transitions_on_sort_key", 0, "btree",
	 "(sort_key)"},
	{"tasker_workflow_step_transitions", "index_tasker_workflow_step_transitions_on_workflow_step_id", 0, "btree",
	 "(workflow_step_id)"},
	{"tasker_workflow_steps", "idx_steps_active_operations", 0, "btree",
	 "(workflow_step_id, task_id) WHERE ((processed = false) OR (processed IS NULL))"},
	{"tasker_workflow_steps", "idx_workflow_steps_task_grouping_active", 0, "btree",
	 "(task_id, workflow_step_id) WHERE ((processed = false) OR (processed IS NULL))"},
	{"tasker_workflow_steps", "idx_workflow_steps_task_readiness", 0, "btree",
	 "(task_id, processed, workflow_step_id) WHERE (processed = false)"},
	{"tasker_workflow_steps", "index_workflow_steps_backoff_timing", 0, "btree",
	 "(last_attempted_at, backoff_request_seconds) WHERE (backoff_request_seconds IS NOT NULL)"},
	{"tasker_workflow_steps", "index_workflow_steps_by_task", 0, "btree", "(task_id)"},
	{"tasker_workflow_steps", "index_workflow_steps_processing_status", 0, "btree",
	 "(task_id, processed, in_process)"},
	{"tasker_workflow_steps", "index_workflow_steps_retry_logic", 0, "btree", "(attempts, retry_limit, retryable)"},
	{"tasker_workflow_steps", "index_workflow_steps_retry_status", 0, "btree", "(attempts, retry_limit)"},
	{"tasker_workflow_steps", "index_workflow_steps_task_and_id", 0, "btree", "(task_id, workflow_step_id)"},
	{"tasker_workflow_steps", "index_workflow_steps_task_and_step_id", 0, "btree", "(task_id, workflow_step_id)"},
	{"tasker_workflow_steps", "index_workflow_steps_task_and_step_optimized", 0, "btree",
	 "(task_id, workflow_step_id)"},
	{"tasker_workflow_steps", "index_workflow_steps_task_covering", 0, "btree",
	 "(task_id) INCLUDE (workflow_step_id, processed, in_process, attempts, retry_limit)"},
	{"tasker_workflow_steps", "workflow_steps_last_attempted_at_index", 0, "btree", "(last_attempted_at)"},
	{"tasker_workflow_steps", "workflow_steps_named_step_id_index", 0, "btree", "(named_step_id)"},
	{"tasker_workflow_steps", "workflow_steps_processed_at_index", 0, "btree", "(processed_at)"},
	{"tasker_workflow_steps", "workflow_steps_task_id_index", 0, "btree", "(task_id)"},
};

_Static_assert(N(indexes) == 86, "Appendix A lists 86 indexes");

/* The view tasker_step_dag_relationships, column by column. min_depth_from_root is an integer
 * (MIN over an integer depth counter); the reference names no type for it. */
static const col_expect view_columns[] = {
	{"workflow_step_id", "bigint", NULL, 0}, {"task_id", "bigint", NULL, 0},
	{"named_step_id", "integer", NULL, 0},   {"parent_step_ids", "jsonb", NULL, 0},
	{"child_step_ids", "jsonb", NULL, 0},    {"parent_count", "bigint", NULL, 0},
	{"child_count", "bigint", NULL, 0},      {"is_root_step", "boolean", NULL, 0},
	{"is_leaf_step", "boolean", NULL, 0},    {"min_depth_from_root", "integer", NULL, 0},
};

typedef struct function_expect {
	const char *name, *arguments, *result;
} function_expect;

#define TSTZ "timestamp with time zone"
#define READINESS_ROW                                                                                          \
	"TABLE(workflow_step_id bigint, task_id bigint, named_step_id integer, name text, current_state text, " \
	"dependencies_satisfied boolean, retry_eligible boolean, ready_for_execution boolean, "                  \
	"last_failure_at " TS ", next_retry_at " TS ", total_parents integer, completed_parents integer, "        \
	"attempts integer, retry_limit integer, backoff_request_seconds integer, last_attempted_at " TS ")"
#define CONTEXT_ROW                                                                                            \
	"TABLE(task_id bigint, named_task_id integer, status text, total_steps bigint, pending_steps bigint, "    \
	"in_progress_steps bigint, completed_steps bigint, failed_steps bigint, ready_steps bigint, "             \
	"execution_status text, recommended_action text, completion_percentage numeric, health_status text)"
#define SLOWEST_ARGS                                                                                           \
	"since_timestamp " TSTZ " DEFAULT NULL::" TSTZ ", limit_count integer DEFAULT 10, "                      \
	"namespace_filter text DEFAULT NULL::text, task_name_filter text DEFAULT NULL::text, "                  \
	"version_filter text DEFAULT NULL::text"

static const function_expect functions[] = {
	{"get_step_readiness_status", "input_task_id bigint, step_ids bigint[] DEFAULT NULL::bigint[]", READINESS_ROW},
	{"get_step_readiness_status_batch", "input_task_ids bigint[]", READINESS_ROW},
	{"get_task_execution_context", "input_task_id bigint", CONTEXT_ROW},
	{"get_task_execution_contexts_batch", "input_task_ids bigint[]", CONTEXT_ROW},
	{"calculate_dependency_levels", "input_task_id bigint",
	 "TABLE(workflow_step_id bigint, dependency_level integer)"},
	{"get_system_health_counts_v01", "",
	 "TABLE(total_tasks bigint, pending_tasks bigint, in_progress_tasks bigint, complete_tasks bigint, "
	 "error_tasks bigint, cancelled_tasks bigint, total_steps bigint, pending_steps bigint, "
	 "in_progress_steps bigint, complete_steps bigint, error_steps bigint, retryable_error_steps bigint, "
	 "exhausted_retry_steps bigint, in_backoff_steps bigint, active_connections bigint, "
	 "max_connections bigint)"},
	{"get_analytics_metrics_v01", "since_timestamp " TSTZ " DEFAULT NULL::" TSTZ,
	 "TABLE(active_tasks_count bigint, total_namespaces_count bigint, unique_task_types_count bigint, "
	 "system_health_score numeric, task_throughput bigint, completion_count bigint, error_count bigint, "
	 "completion_rate numeric, error_rate numeric, avg_task_duration numeric, avg_step_duration numeric, "
	 "step_throughput bigint, analysis_period_start " TSTZ ", calculated_at " TSTZ ")"},
	{"get_slowest_steps_v01", SLOWEST_ARGS,
	 "TABLE(workflow_step_id bigint, task_id bigint, step_name character varying, task_name character varying, "
	 "namespace_name character varying, version character varying, duration_seconds numeric, "
	 "attempts integer, created_at " TSTZ ", completed_at " TSTZ ", retryable boolean, "
	 "step_status character varying)"},
	{"get_slowest_tasks_v01", SLOWEST_ARGS,
	 "TABLE(task_id bigint, task_name character varying, namespace_name character varying, "
	 "version character varying, duration_seconds numeric, step_count bigint, completed_steps bigint, "
	 "error_steps bigint, created_at " TSTZ ", completed_at " TSTZ ", initiator character varying, "
	 "source_system character varying)"},
};

/* tasker-core's own additive tables (migrations 0003 on); anything else named tasker_* is drift, so a
 * new table of ours is listed here on purpose. */
static const char *const core_tables[] = {"tasker_core_schema_migrations", "tasker_ready_steps",
                                          "tasker_step_claims", "tasker_events", "tasker_task_traces",
                                          "tasker_worker_presence"};

static int setup(void **state)
{
	(void)state;
	testdb_open(&db, "schema", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testdb_close(&db);
	return 0;
}

static const char *value(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const char *show(const char *s) { return s ? s : "(none)"; }

static const table_expect *find_table(const char *name)
{
	for (size_t i = 0; i < N(tables); i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

static void test_tables_are_exactly_ours(void **state)
{
	(void)state;
	PGresult *r = testdb_sql(db.pg,
		"SELECT c.relname, c.relkind FROM pg_class c "
		"WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'tasker\\_%' "
		"  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname");
	size_t seen = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0), *kind = PQgetvalue(r, i, 1);
		int known = find_table(name) != NULL;
		for (size_t k = 0; k < N(core_tables); k++)
			known |= strcmp(core_tables[k], name) == 0;
		if (strcmp(name, "tasker_step_dag_relationships") == 0) {
			if (strcmp(kind, "v") != 0)
				fail_msg("tasker_step_dag_relationships: relkind %s, want a view", kind);
		} else if (!known) {
			fail_msg("unexpected relation %s (relkind %s)", name, kind);
		} else if (strcmp(kind, "r") != 0) {
			fail_msg("%s: relkind %s, want an ordinary table", name, kind);
		}
		seen++;
	}
	PQclear(r);
	assert_int_equal(seen, N(tables) + N(core_tables) + 1);
}

static void sequence_name(char *buf, size_t size, const table_expect *t)
{
	if (t->seq)
		snprintf(buf, size, "%s", t->seq);
	else
		snprintf(buf, size, "%s_%s_seq", t->name, t->pk);
}

static void check_columns(const table_expect *t)
{
	PGresult *r = testdb_sqlf(db.pg,
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), "
		"       a.attnotnull "
		"FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
		"WHERE a.attrelid = to_regclass('public.%s') AND a.attnum > 0 AND NOT a.attisdropped "
		"ORDER BY a.attnum",
		t->name);
	col_expect want[20];
	char seq[128], pk_default[200];
	sequence_name(seq, sizeof seq, t);
	snprintf(pk_default, sizeof pk_default, "nextval('%s'::regclass)", seq);
	want[0] = (col_expect){t->pk, t->pk_type, pk_default, 1};
	size_t n = 1;
	for (const col_expect *c = t->cols; c->name; c++)
		want[n++] = *c;
	if ((size_t)PQntuples(r) != n)
		fail_msg("%s: %d columns, want %zu", t->name, PQntuples(r), n);
	for (size_t i = 0; i < n; i++) {
		const char *name = value(r, (int)i, 0), *type = value(r, (int)i, 1), *def = value(r, (int)i, 2);
		int not_null = strcmp(PQgetvalue(r, (int)i, 3), "t") == 0;
		if (!same(name, want[i].name))
			fail_msg("%s: column %zu is %s, want %s", t->name, i + 1, name, want[i].name);
		if (!same(type, want[i].type))
			fail_msg("%s.%s: type %s, want %s", t->name, name, type, want[i].type);
		if (!same(def, want[i].def))
			fail_msg("%s.%s: default %s, want %s", t->name, name, show(def), show(want[i].def));
		if (not_null != want[i].not_null)
			fail_msg("%s.%s: %s, want %s", t->name, name, not_null ? "NOT NULL" : "nullable",
			         want[i].not_null ? "NOT NULL" : "nullable");
	}
	PQclear(r);
}

static void test_columns(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(tables); i++)
		check_columns(&tables[i]);
}

static void test_primary_keys_and_sequences(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(tables); i++) {
		const table_expect *t = &tables[i];
		PGresult *r = testdb_sqlf(db.pg,
			"SELECT c.conname, (SELECT string_agg(a.attname, ',') FROM unnest(c.conkey) k "
			"                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) "
			"FROM pg_constraint c WHERE c.conrelid = to_regclass('public.%s') AND c.contype = 'p'",
			t->name);
		char want_name[128];
		snprintf(want_name, sizeof want_name, "%s_pkey", t->name);
		if (PQntuples(r) != 1)
			fail_msg("%s: %d primary keys, want 1", t->name, PQntuples(r));
		if (strcmp(PQgetvalue(r, 0, 0), want_name) != 0)
			fail_msg("%s: primary key named %s, want %s", t->name, PQgetvalue(r, 0, 0), want_name);
		if (strcmp(PQgetvalue(r, 0, 1), t->pk) != 0)
			fail_msg("%s: primary key on (%s), want (%s)", t->name, PQgetvalue(r, 0, 1), t->pk);
		PQclear(r);
		/* serial → integer sequence, bigserial → bigint; the column default names it (columns test) */
		char seq[128];
		sequence_name(seq, sizeof seq, t);
		char *seq_type = testdb_value(db.pg,
			"SELECT COALESCE((SELECT format_type(s.seqtypid, NULL) FROM pg_sequence s "
			"                 WHERE s.seqrelid = to_regclass('public.%s')), 'missing')",
			seq);
		if (strcmp(seq_type, t->pk_type) != 0)
			fail_msg("sequence %s: %s, want %s", seq, seq_type, t->pk_type);
		free(seq_type);
	}
}

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* Foreign keys of the engine's tables (tasker-core's own tables may reference them as they please). */
static void test_foreign_keys(void **state)
{
	(void)state;
	char rails_tables[1024];
	size_t len = (size_t)snprintf(rails_tables, sizeof rails_tables, "ARRAY[");
	for (size_t i = 0; i < N(tables); i++)
		len += (size_t)snprintf(rails_tables + len, sizeof rails_tables - len, "%s'%s'", i ? ", " : "",
		                        tables[i].name);
	snprintf(rails_tables + len, sizeof rails_tables - len, "]");
	PGresult *r = testdb_sqlf(db.pg,
		"SELECT format('%%s.%%s -> %%s.%%s', c.conrelid::regclass, a.attname, c.confrelid::regclass, f.attname), "
		"       c.confdeltype, c.confupdtype, cardinality(c.conkey) "
		"FROM pg_constraint c "
		"JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
		"JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1] "
		"WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace "
		"  AND c.conrelid::regclass::text = ANY (%s) ORDER BY 1",
		rails_tables);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *fk = PQgetvalue(r, i, 0);
		if (!in_list(fk, foreign_keys, N(foreign_keys)))
			fail_msg("unexpected foreign key %s", fk);
		if (strcmp(PQgetvalue(r, i, 1), "a") != 0 || strcmp(PQgetvalue(r, i, 2), "a") != 0)
			fail_msg("foreign key %s: ON DELETE %s / ON UPDATE %s, want no action", fk,
			         PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		if (strcmp(PQgetvalue(r, i, 3), "1") != 0)
			fail_msg("foreign key %s spans %s columns, want 1", fk, PQgetvalue(r, i, 3));
	}
	for (size_t k = 0; k < N(foreign_keys); k++) {
		int found = 0;
		for (int i = 0; i < PQntuples(r); i++)
			found |= strcmp(PQgetvalue(r, i, 0), foreign_keys[k]) == 0;
		if (!found)
			fail_msg("missing foreign key %s", foreign_keys[k]);
	}
	assert_int_equal(PQntuples(r), (int)N(foreign_keys));
	PQclear(r);
}

/* Uniqueness lives in unique indexes, as in the engine: no UNIQUE, CHECK or EXCLUDE constraints. */
static void test_no_other_constraints(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(tables); i++) {
		char *other = testdb_value(db.pg,
			"SELECT COALESCE(string_agg(conname || ' (' || contype::text || ')', ', '), '') FROM pg_constraint "
			"WHERE conrelid = to_regclass('public.%s') AND contype NOT IN ('p', 'f')",
			tables[i].name);
		if (*other)
			fail_msg("%s: unexpected constraints %s", tables[i].name, other);
		free(other);
	}
}

/* The part of pg_get_indexdef() after "USING <method> ". */
static const char *index_columns(const char *indexdef)
{
	const char *p = strstr(indexdef, " USING ");
	if (!p)
		return indexdef;
	p = strchr(p + 7, ' ');
	return p ? p + 1 : indexdef;
}

static void test_indexes(void **state)
{
	(void)state;
	PGresult *r = testdb_sql(db.pg,
		"SELECT i.relname, t.relname, x.indisunique, am.amname, pg_get_indexdef(x.indexrelid), x.indisprimary "
		"FROM pg_index x "
		"JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
		"JOIN pg_am am ON am.oid = i.relam "
		"WHERE t.relnamespace = 'public'::regnamespace AND t.relname LIKE 'tasker\\_%' ORDER BY i.relname");
	size_t matched = 0, primaries = 0;
	for (int row = 0; row < PQntuples(r); row++) {
		const char *name = PQgetvalue(r, row, 0), *table = PQgetvalue(r, row, 1);
		int unique = strcmp(PQgetvalue(r, row, 2), "t") == 0;
		const char *method = PQgetvalue(r, row, 3), *def = index_columns(PQgetvalue(r, row, 4));
		if (!find_table(table))
			continue; /* tasker-core's own tables index as they please */
		if (strcmp(PQgetvalue(r, row, 5), "t") == 0) {
			const table_expect *t = find_table(table);
			char want_name[128], want_def[128];
			snprintf(want_name, sizeof want_name, "%s_pkey", table);
			snprintf(want_def, sizeof want_def, "(%s)", t->pk);
			if (strcmp(name, want_name) != 0 || !unique || strcmp(method, "btree") != 0 ||
			    strcmp(def, want_def) != 0)
				fail_msg("primary key index %s on %s: %s", name, table, PQgetvalue(r, row, 4));
			primaries++;
			continue;
		}
		const index_expect *want = NULL;
		for (size_t k = 0; k < N(indexes); k++)
			if (strcmp(indexes[k].name, name) == 0)
				want = &indexes[k];
		if (!want)
			fail_msg("unexpected index %s on %s: %s", name, table, PQgetvalue(r, row, 4));
		if (strcmp(want->table, table) != 0)
			fail_msg("index %s: on %s, want %s", name, table, want->table);
		if (want->unique != unique)
			fail_msg("index %s: %s, want %s", name, unique ? "unique" : "not unique",
			         want->unique ? "unique" : "not unique");
		if (strcmp(want->method, method) != 0)
			fail_msg("index %s: method %s, want %s", name, method, want->method);
		if (strcmp(want->def, def) != 0)
			fail_msg("index %s: %s, want %s", name, def, want->def);
		matched++;
	}
	PQclear(r);
	if (matched != N(indexes)) {
		for (size_t k = 0; k < N(indexes); k++)
			if (testdb_count(db.pg, "SELECT count(*) FROM pg_class WHERE relname = '%s' AND relkind = 'i'",
			                 indexes[k].name) != 1)
				fail_msg("missing index %s on %s", indexes[k].name, indexes[k].table);
	}
	assert_int_equal(matched, N(indexes));
	assert_int_equal(primaries, N(tables));
}

static void test_view_columns(void **state)
{
	(void)state;
	PGresult *r = testdb_sql(db.pg,
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
		"WHERE a.attrelid = to_regclass('public.tasker_step_dag_relationships') AND a.attnum > 0 "
		"ORDER BY a.attnum");
	if ((size_t)PQntuples(r) != N(view_columns))
		fail_msg("tasker_step_dag_relationships: %d columns, want %zu", PQntuples(r), N(view_columns));
	for (size_t i = 0; i < N(view_columns); i++) {
		if (strcmp(PQgetvalue(r, (int)i, 0), view_columns[i].name) != 0)
			fail_msg("tasker_step_dag_relationships: column %zu is %s, want %s", i + 1,
			         PQgetvalue(r, (int)i, 0), view_columns[i].name);
		if (strcmp(PQgetvalue(r, (int)i, 1), view_columns[i].type) != 0)
			fail_msg("tasker_step_dag_relationships.%s: type %s, want %s", view_columns[i].name,
			         PQgetvalue(r, (int)i, 1), view_columns[i].type);
	}
	PQclear(r);
}

static void test_function_signatures(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(functions); i++) {
		const function_expect *f = &functions[i];
		PGresult *r = testdb_sqlf(db.pg,
			"SELECT pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname, "
			"       p.provolatile, p.proretset "
			"FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
			"WHERE p.proname = '%s' AND p.pronamespace = 'public'::regnamespace",
			f->name);
		if (PQntuples(r) != 1)
			fail_msg("function %s: %d definitions, want 1", f->name, PQntuples(r));
		if (strcmp(PQgetvalue(r, 0, 0), f->arguments) != 0)
			fail_msg("function %s: arguments\n  (%s)\nwant\n  (%s)", f->name, PQgetvalue(r, 0, 0), f->arguments);
		if (strcmp(PQgetvalue(r, 0, 1), f->result) != 0)
			fail_msg("function %s: returns\n  %s\nwant\n  %s", f->name, PQgetvalue(r, 0, 1), f->result);
		if (strcmp(PQgetvalue(r, 0, 2), "plpgsql") != 0)
			fail_msg("function %s: language %s, want plpgsql", f->name, PQgetvalue(r, 0, 2));
		if (strcmp(PQgetvalue(r, 0, 3), "s") != 0)
			fail_msg("function %s: volatility %s, want STABLE (s)", f->name, PQgetvalue(r, 0, 3));
		if (strcmp(PQgetvalue(r, 0, 4), "t") != 0)
			fail_msg("function %s: does not return a set", f->name);
		PQclear(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_are_exactly_ours),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_primary_keys_and_sequences),
		cmocka_unit_test(test_foreign_keys),
		cmocka_unit_test(test_no_other_constraints),
		cmocka_unit_test(test_indexes),
		cmocka_unit_test(test_view_columns),
		cmocka_unit_test(test_function_signatures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
