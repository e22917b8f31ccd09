-- The Rails engine "Tasker"'s tables, exactly: same names, columns, types, defaults, nullability,
-- keys and indexes, so a Rails application on that engine can share this database.
-- created_at/updated_at are filled by the application (no database default), as in the engine.

CREATE TABLE tasker_annotation_types (
    annotation_type_id serial PRIMARY KEY,
    name varchar(64) NOT NULL,
    description varchar(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_dependent_systems (
    dependent_system_id serial PRIMARY KEY,
    name varchar(64) NOT NULL,
    description varchar(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_task_namespaces (
    task_namespace_id serial PRIMARY KEY,
    name varchar(64) NOT NULL,
    description varchar(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_dependent_system_object_maps (
    dependent_system_object_map_id bigserial PRIMARY KEY,
    dependent_system_one_id integer NOT NULL REFERENCES tasker_dependent_systems (dependent_system_id),
    dependent_system_two_id integer NOT NULL REFERENCES tasker_dependent_systems (dependent_system_id),
    remote_id_one varchar(128) NOT NULL,
    remote_id_two varchar(128) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_named_steps (
    named_step_id serial PRIMARY KEY,
    dependent_system_id integer NOT NULL REFERENCES tasker_dependent_systems (dependent_system_id),
    name varchar(128) NOT NULL,
    description varchar(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

-- The engine's default for configuration is the JSON string "{}", not an empty object.
CREATE TABLE tasker_named_tasks (
    named_task_id serial PRIMARY KEY,
    name varchar(64) NOT NULL,
    description varchar(255),
    task_namespace_id bigint DEFAULT 1 NOT NULL REFERENCES tasker_task_namespaces (task_namespace_id),
    version varchar(16) DEFAULT '0.1.0' NOT NULL,
    configuration jsonb DEFAULT '"{}"'::jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_named_tasks_named_steps (
    id serial PRIMARY KEY,
    named_task_id integer NOT NULL REFERENCES tasker_named_tasks (named_task_id),
    named_step_id integer NOT NULL REFERENCES tasker_named_steps (named_step_id),
    skippable boolean DEFAULT false NOT NULL,
    default_retryable boolean DEFAULT true NOT NULL,
    default_retry_limit integer DEFAULT 3 NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_tasks (
    task_id bigserial PRIMARY KEY,
    named_task_id integer NOT NULL REFERENCES tasker_named_tasks (named_task_id),
    complete boolean DEFAULT false NOT NULL,
    requested_at timestamp without time zone NOT NULL,
    initiator varchar(128),
    source_system varchar(128),
    reason varchar(128),
    bypass_steps json,
    tags jsonb,
    context jsonb,
    identity_hash varchar(128) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_task_annotations (
    task_annotation_id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasker_tasks (task_id),
    annotation_type_id integer NOT NULL REFERENCES tasker_annotation_types (annotation_type_id),
    annotation jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_workflow_steps (
    workflow_step_id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasker_tasks (task_id),
    named_step_id integer NOT NULL REFERENCES tasker_named_steps (named_step_id),
    retryable boolean DEFAULT true NOT NULL,
    retry_limit integer DEFAULT 3,
    in_process boolean DEFAULT false NOT NULL,
    processed boolean DEFAULT false NOT NULL,
    processed_at timestamp without time zone,
    attempts integer,
    last_attempted_at timestamp without time zone,
    backoff_request_seconds integer,
    inputs jsonb,
    results jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    skippable boolean DEFAULT false NOT NULL
);

CREATE TABLE tasker_workflow_step_edges (
    id bigserial PRIMARY KEY,
    from_step_id bigint NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    to_step_id bigint NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    name character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_task_transitions (
    id bigserial PRIMARY KEY,
    to_state character varying NOT NULL,
    from_state character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    sort_key integer NOT NULL,
    most_recent boolean DEFAULT true NOT NULL,
    task_id bigint NOT NULL REFERENCES tasker_tasks (task_id),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE tasker_workflow_step_transitions (
    id bigserial PRIMARY KEY,
    to_state character varying NOT NULL,
    from_state character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    sort_key integer NOT NULL,
    most_recent boolean DEFAULT true NOT NULL,
    workflow_step_id bigint NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

-- Indexes: every one the engine defines, under the engine's names (some are redundant; Rails
-- migrations refer to them by name, so they are kept as they are).
CREATE INDEX annotation_types_name_index ON tasker_annotation_types USING btree (name);
CREATE UNIQUE INDEX annotation_types_name_unique ON tasker_annotation_types USING btree (name);

CREATE UNIQUE INDEX dependent_system_object_maps_dependent_system_one_id_dependent_ ON tasker_dependent_system_object_maps USING btree (dependent_system_one_id, dependent_system_two_id, remote_id_one, remote_id_two);
CREATE INDEX dependent_system_object_maps_dependent_system_one_id_index ON tasker_dependent_system_object_maps USING btree (dependent_system_one_id);
CREATE INDEX dependent_system_object_maps_dependent_system_two_id_index ON tasker_dependent_system_object_maps USING btree (dependent_system_two_id);
CREATE INDEX dependent_system_object_maps_remote_id_one_index ON tasker_dependent_system_object_maps USING btree (remote_id_one);
CREATE INDEX dependent_system_object_maps_remote_id_two_index ON tasker_dependent_system_object_maps USING btree (remote_id_two);

CREATE INDEX dependent_systems_name_index ON tasker_dependent_systems USING btree (name);
CREATE UNIQUE INDEX dependent_systems_name_unique ON tasker_dependent_systems USING btree (name);

CREATE UNIQUE INDEX named_step_by_system_uniq ON tasker_named_steps USING btree (dependent_system_id, name);
CREATE INDEX named_steps_dependent_system_id_index ON tasker_named_steps USING btree (dependent_system_id);
CREATE INDEX named_steps_name_index ON tasker_named_steps USING btree (name);

CREATE INDEX named_tasks_configuration_gin_index ON tasker_named_tasks USING gin (configuration);
CREATE INDEX named_tasks_name_index ON tasker_named_tasks USING btree (name);
CREATE UNIQUE INDEX named_tasks_namespace_name_version_unique ON tasker_named_tasks USING btree (task_namespace_id, name, version);
CREATE INDEX named_tasks_task_namespace_id_index ON tasker_named_tasks USING btree (task_namespace_id);
CREATE INDEX named_tasks_version_index ON tasker_named_tasks USING btree (version);

CREATE INDEX named_tasks_named_steps_named_step_id_index ON tasker_named_tasks_named_steps USING btree (named_step_id);
CREATE INDEX named_tasks_named_steps_named_task_id_index ON tasker_named_tasks_named_steps USING btree (named_task_id);
CREATE UNIQUE INDEX named_tasks_steps_ids_unique ON tasker_named_tasks_named_steps USING btree (named_task_id, named_step_id);

CREATE INDEX task_annotations_annotation_idx ON tasker_task_annotations USING gin (annotation);
CREATE INDEX task_annotations_annotation_idx1 ON tasker_task_annotations USING gin (annotation jsonb_path_ops);
CREATE INDEX task_annotations_annotation_type_id_index ON tasker_task_annotations USING btree (annotation_type_id);
CREATE INDEX task_annotations_task_id_index ON tasker_task_annotations USING btree (task_id);

CREATE INDEX task_namespaces_name_index ON tasker_task_namespaces USING btree (name);
CREATE UNIQUE INDEX task_namespaces_name_unique ON tasker_task_namespaces USING btree (name);

CREATE INDEX idx_task_transitions_most_recent ON tasker_task_transitions USING btree (task_id, most_recent) WHERE (most_recent = true);
CREATE INDEX index_task_transitions_current_state ON tasker_task_transitions USING btree (task_id, created_at);
CREATE INDEX index_task_transitions_current_state_optimized ON tasker_task_transitions USING btree (task_id, most_recent) WHERE (most_recent = true);
CREATE INDEX index_tasker_task_transitions_on_sort_key ON tasker_task_transitions USING btree (sort_key);
CREATE INDEX index_tasker_task_transitions_on_task_id ON tasker_task_transitions USING btree (task_id);
CREATE UNIQUE INDEX index_tasker_task_transitions_on_task_id_and_most_recent ON tasker_task_transitions USING btree (task_id, most_recent) WHERE (most_recent = true);
CREATE UNIQUE INDEX index_tasker_task_transitions_on_task_id_and_sort_key ON tasker_task_transitions USING btree (task_id, sort_key);

CREATE INDEX idx_tasks_active_operations ON tasker_tasks USING btree (task_id) WHERE ((complete = false) OR (complete IS NULL));
CREATE INDEX idx_tasks_active_workflow_summary ON tasker_tasks USING btree (task_id, complete) WHERE ((complete = false) OR (complete IS NULL));
CREATE INDEX idx_tasks_completion_status_created ON tasker_tasks USING btree (complete, created_at, task_id);
CREATE UNIQUE INDEX index_tasks_on_identity_hash ON tasker_tasks USING btree (identity_hash);
CREATE INDEX tasks_context_idx ON tasker_tasks USING gin (context);
CREATE INDEX tasks_context_idx1 ON tasker_tasks USING gin (context jsonb_path_ops);
CREATE INDEX tasks_identity_hash_index ON tasker_tasks USING btree (identity_hash);
CREATE INDEX tasks_named_task_id_index ON tasker_tasks USING btree (named_task_id);
CREATE INDEX tasks_requested_at_index ON tasker_tasks USING btree (requested_at);
CREATE INDEX tasks_source_system_index ON tasker_tasks USING btree (source_system);
CREATE INDEX tasks_tags_idx ON tasker_tasks USING gin (tags);
CREATE INDEX tasks_tags_idx1 ON tasker_tasks USING gin (tags jsonb_path_ops);

CREATE INDEX idx_step_edges_from_to ON tasker_workflow_step_edges USING btree (from_step_id, to_step_id);
CREATE INDEX idx_step_edges_to_from ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id);
CREATE INDEX idx_workflow_step_edges_dependency_lookup ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id);
CREATE INDEX index_step_edges_child_lookup ON tasker_workflow_step_edges USING btree (to_step_id);
CREATE INDEX index_step_edges_dependency_pair ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id);
CREATE INDEX index_step_edges_from_step_for_children ON tasker_workflow_step_edges USING btree (from_step_id);
CREATE INDEX index_step_edges_from_to_composite ON tasker_workflow_step_edges USING btree (from_step_id, to_step_id);
CREATE INDEX index_step_edges_parent_lookup ON tasker_workflow_step_edges USING btree (from_step_id);
CREATE INDEX index_step_edges_to_from_composite ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id);
CREATE INDEX index_step_edges_to_step_for_parents ON tasker_workflow_step_edges USING btree (to_step_id);
CREATE INDEX index_tasker_workflow_step_edges_on_from_step_id ON tasker_workflow_step_edges USING btree (from_step_id);
CREATE INDEX index_tasker_workflow_step_edges_on_to_step_id ON tasker_workflow_step_edges USING btree (to_step_id);
CREATE INDEX index_workflow_step_edges_dependency_lookup ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id);

CREATE UNIQUE INDEX idx_on_workflow_step_id_most_recent_97d5374ad6 ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (most_recent = true);
CREATE UNIQUE INDEX idx_on_workflow_step_id_sort_key_4d476d7adb ON tasker_workflow_step_transitions USING btree (workflow_step_id, sort_key);
CREATE INDEX idx_step_transitions_current_state ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent, to_state) WHERE (most_recent = true);
CREATE INDEX idx_step_transitions_most_recent ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (most_recent = true);
CREATE INDEX index_step_transitions_completed ON tasker_workflow_step_transitions USING btree (workflow_step_id, to_state) WHERE ((to_state)::text = 'complete'::text);
CREATE INDEX index_step_transitions_completed_parents ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (((to_state)::text = ANY (ARRAY[('complete'::character varying)::text, ('resolved_manually'::character varying)::text])) AND (most_recent = true));
CREATE INDEX index_step_transitions_current_errors ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent, created_at) WHERE (((to_state)::text = 'error'::text) AND (most_recent = true));
CREATE INDEX index_step_transitions_current_state_optimized ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (most_recent = true);
-- The engine's index on a 'failed' state, which no state machine produces; kept for fidelity.
CREATE INDEX index_step_transitions_failures_with_timing ON tasker_workflow_step_transitions USING btree (workflow_step_id, to_state, created_at) WHERE ((to_state)::text = 'failed'::text);
CREATE INDEX index_step_transitions_for_current_state ON tasker_workflow_step_transitions USING btree (workflow_step_id, created_at);
CREATE INDEX index_tasker_workflow_step_transitions_on_sort_key ON tasker_workflow_step_transitions USING btree (sort_key);
CREATE INDEX index_tasker_workflow_step_transitions_on_workflow_step_id ON tasker_workflow_step_transitions USING btree (workflow_step_id);

CREATE INDEX idx_steps_active_operations ON tasker_workflow_steps USING btree (workflow_step_id, task_id) WHERE ((processed = false) OR (processed IS NULL));
CREATE INDEX idx_workflow_steps_task_grouping_active ON tasker_workflow_steps USING btree (task_id, workflow_step_id) WHERE ((processed = false) OR (processed IS NULL));
CREATE INDEX idx_workflow_steps_task_readiness ON tasker_workflow_steps USING btree (task_id, processed, workflow_step_id) WHERE (processed = false);
CREATE INDEX index_workflow_steps_backoff_timing ON tasker_workflow_steps USING btree (last_attempted_at, backoff_request_seconds) WHERE (backoff_request_seconds IS NOT NULL);
CREATE INDEX index_workflow_steps_by_task ON tasker_workflow_steps USING btree (task_id);
CREATE INDEX index_workflow_steps_processing_status ON tasker_workflow_steps USING btree (task_id, processed, in_process);
CREATE INDEX index_workflow_steps_retry_logic ON tasker_workflow_steps USING btree (attempts, retry_limit, retryable);
CREATE INDEX index_workflow_steps_retry_status ON tasker_workflow_steps USING btree (attempts, retry_limit);
CREATE INDEX index_workflow_steps_task_and_id ON tasker_workflow_steps USING btree (task_id, workflow_step_id);
CREATE INDEX index_workflow_steps_task_and_step_id ON tasker_workflow_steps USING btree (task_id, workflow_step_id);
CREATE INDEX index_workflow_steps_task_and_step_optimized ON tasker_workflow_steps USING btree (task_id, workflow_step_id);
CREATE INDEX index_workflow_steps_task_covering ON tasker_workflow_steps USING btree (task_id) INCLUDE (workflow_step_id, processed, in_process, attempts, retry_limit);
CREATE INDEX workflow_steps_last_attempted_at_index ON tasker_workflow_steps USING btree (last_attempted_at);
CREATE INDEX workflow_steps_named_step_id_index ON tasker_workflow_steps USING btree (named_step_id);
CREATE INDEX workflow_steps_processed_at_index ON tasker_workflow_steps USING btree (processed_at);
CREATE INDEX workflow_steps_task_id_index ON tasker_workflow_steps USING btree (task_id);
