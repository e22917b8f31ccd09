-- The Rails engine "Tasker"'s view and SQL functions, under the engine's names and signatures and with
-- its semantics (the v02 readiness), so a Rails application on that engine can share this database.
-- Everything here only reads. Timestamps are `timestamp without time zone` holding the session's time
-- zone (UTC, as Rails and tasker-core set it); like the engine, they are compared with NOW() directly.

-- One row per workflow step: its parents and children, and its shortest distance from a root.
-- The recursion carries (step, depth) and deduplicates with UNION: on wide diamonds the number of
-- paths grows exponentially, the number of distinct (step, depth) pairs does not. Depth stops at
-- 50, as in the engine, which also ends any cycle; a step farther (or only on a cycle) gets NULL.
CREATE VIEW tasker_step_dag_relationships AS
WITH RECURSIVE step_depths (step_id, depth) AS (
    SELECT ws.workflow_step_id, 0
    FROM tasker_workflow_steps ws
    WHERE NOT EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.to_step_id = ws.workflow_step_id)
  UNION
    SELECT e.to_step_id, d.depth + 1
    FROM step_depths d
    JOIN tasker_workflow_step_edges e ON e.from_step_id = d.step_id
    WHERE d.depth < 50
)
SELECT
    ws.workflow_step_id,
    ws.task_id,
    ws.named_step_id,
    COALESCE(parents.ids, '[]'::jsonb) AS parent_step_ids,
    COALESCE(children.ids, '[]'::jsonb) AS child_step_ids,
    COALESCE(parents.n, 0) AS parent_count,
    COALESCE(children.n, 0) AS child_count,
    COALESCE(parents.n, 0) = 0 AS is_root_step,
    COALESCE(children.n, 0) = 0 AS is_leaf_step,
    depths.min_depth AS min_depth_from_root
FROM tasker_workflow_steps ws
LEFT JOIN (
    SELECT e.to_step_id, jsonb_agg(e.from_step_id ORDER BY e.from_step_id) AS ids, count(*) AS n
    FROM tasker_workflow_step_edges e
    GROUP BY e.to_step_id
) parents ON parents.to_step_id = ws.workflow_step_id
LEFT JOIN (
    SELECT e.from_step_id, jsonb_agg(e.to_step_id ORDER BY e.to_step_id) AS ids, count(*) AS n
    FROM tasker_workflow_step_edges e
    GROUP BY e.from_step_id
) children ON children.from_step_id = ws.workflow_step_id
LEFT JOIN (
    SELECT d.step_id, min(d.depth) AS min_depth
    FROM step_depths d
    GROUP BY d.step_id
) depths ON depths.step_id = ws.workflow_step_id;

-- Readiness of the steps of one task (optionally only `step_ids`), v02 rules:
--   A = COALESCE(attempts, 0), L = COALESCE(retry_limit, 3); retry_eligible is A < L and nothing else.
--   Ready: pending or error, not processed, not in process, retryable, A < L, every parent complete or
--   resolved_manually, past the requested backoff (last_attempted_at + backoff_request_seconds) when
--   one is set, and past the SQL backoff when currently in error.
--   SQL backoff: 2^attempts seconds (NULL attempts count as 1), at most 30, from the error transition.
--   The failure is known only while the step is *still* in error (a retried step loses it).
--   next_retry_at: the requested backoff wins over the SQL one whenever it is set.
-- Rows in workflow_step_id order. The task filter is applied before any join; parent states are
-- counted in one grouped join, not per step.
CREATE FUNCTION get_step_readiness_status(input_task_id bigint, step_ids bigint[] DEFAULT NULL)
RETURNS TABLE (
    workflow_step_id bigint,
    task_id bigint,
    named_step_id integer,
    name text,
    current_state text,
    dependencies_satisfied boolean,
    retry_eligible boolean,
    ready_for_execution boolean,
    last_failure_at timestamp without time zone,
    next_retry_at timestamp without time zone,
    total_parents integer,
    completed_parents integer,
    attempts integer,
    retry_limit integer,
    backoff_request_seconds integer,
    last_attempted_at timestamp without time zone
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH task_steps AS (
        SELECT ws.*
        FROM tasker_workflow_steps ws
        WHERE ws.task_id = input_task_id
          AND (step_ids IS NULL OR ws.workflow_step_id = ANY (step_ids))
    ),
    parent_totals AS (
        SELECT e.to_step_id AS step_id,
               count(*) AS total,
               count(*) FILTER (WHERE pt.to_state IN ('complete', 'resolved_manually')) AS done
        FROM task_steps s
        JOIN tasker_workflow_step_edges e ON e.to_step_id = s.workflow_step_id
        LEFT JOIN tasker_workflow_step_transitions pt
               ON pt.workflow_step_id = e.from_step_id AND pt.most_recent = true
        GROUP BY e.to_step_id
    ),
    facts AS (
        SELECT s.workflow_step_id AS step_id, s.task_id AS owner_id, s.named_step_id AS step_named_id,
               ns.name::text AS step_name,
               COALESCE(cur.to_state, 'pending')::text AS state,
               COALESCE(pt.total, 0) = COALESCE(pt.done, 0) AS deps_ok,
               COALESCE(s.attempts, 0) AS a,
               COALESCE(s.retry_limit, 3) AS l,
               COALESCE(s.processed, false) AS is_processed,
               COALESCE(s.in_process, false) AS is_in_process,
               COALESCE(s.retryable, true) AS is_retryable,
               CASE WHEN cur.to_state = 'error' THEN cur.created_at END AS failure_at,
               -- The exponent cap only keeps power() from overflowing; 2^5 already exceeds 30 s.
               CASE WHEN cur.to_state = 'error'
                    THEN cur.created_at
                         + LEAST(power(2, LEAST(COALESCE(s.attempts, 1), 16)), 30) * interval '1 second'
               END AS sql_retry_at,
               CASE WHEN s.backoff_request_seconds IS NOT NULL AND s.last_attempted_at IS NOT NULL
                    THEN s.last_attempted_at + s.backoff_request_seconds * interval '1 second'
               END AS requested_retry_at,
               COALESCE(pt.total, 0)::integer AS parents_total,
               COALESCE(pt.done, 0)::integer AS parents_done,
               s.backoff_request_seconds AS requested_seconds,
               s.last_attempted_at AS attempted_at
        FROM task_steps s
        JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id
        LEFT JOIN tasker_workflow_step_transitions cur
               ON cur.workflow_step_id = s.workflow_step_id AND cur.most_recent = true
        LEFT JOIN parent_totals pt ON pt.step_id = s.workflow_step_id
    )
    SELECT f.step_id, f.owner_id, f.step_named_id, f.step_name, f.state, f.deps_ok,
           f.a < f.l,
           f.state IN ('pending', 'error') AND NOT f.is_processed AND f.deps_ok AND f.a < f.l
               AND f.is_retryable AND NOT f.is_in_process
               AND (f.requested_retry_at IS NULL OR f.requested_retry_at <= NOW())
               AND (f.sql_retry_at IS NULL OR f.sql_retry_at <= NOW()),
           f.failure_at,
           COALESCE(f.requested_retry_at, f.sql_retry_at),
           f.parents_total, f.parents_done, f.a, f.l, f.requested_seconds, f.attempted_at
    FROM facts f
    ORDER BY f.step_id;
END;
$$;

-- The same rows for several tasks at once (kept textually parallel to the single-task function so the
-- two cannot drift), in (task_id, workflow_step_id) order.
CREATE FUNCTION get_step_readiness_status_batch(input_task_ids bigint[])
RETURNS TABLE (
    workflow_step_id bigint,
    task_id bigint,
    named_step_id integer,
    name text,
    current_state text,
    dependencies_satisfied boolean,
    retry_eligible boolean,
    ready_for_execution boolean,
    last_failure_at timestamp without time zone,
    next_retry_at timestamp without time zone,
    total_parents integer,
    completed_parents integer,
    attempts integer,
    retry_limit integer,
    backoff_request_seconds integer,
    last_attempted_at timestamp without time zone
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH task_steps AS (
        SELECT ws.*
        FROM tasker_workflow_steps ws
        WHERE ws.task_id = ANY (input_task_ids)
    ),
    parent_totals AS (
        SELECT e.to_step_id AS step_id,
               count(*) AS total,
               count(*) FILTER (WHERE pt.to_state IN ('complete', 'resolved_manually')) AS done
        FROM task_steps s
        JOIN tasker_workflow_step_edges e ON e.to_step_id = s.workflow_step_id
        LEFT JOIN tasker_workflow_step_transitions pt
               ON pt.workflow_step_id = e.from_step_id AND pt.most_recent = true
        GROUP BY e.to_step_id
    ),
    facts AS (
        SELECT s.workflow_step_id AS step_id, s.task_id AS owner_id, s.named_step_id AS step_named_id,
               ns.name::text AS step_name,
               COALESCE(cur.to_state, 'pending')::text AS state,
               COALESCE(pt.total, 0) = COALESCE(pt.done, 0) AS deps_ok,
               COALESCE(s.attempts, 0) AS a,
               COALESCE(s.retry_limit, 3) AS l,
               COALESCE(s.processed, false) AS is_processed,
               COALESCE(s.in_process, false) AS is_in_process,
               COALESCE(s.retryable, true) AS is_retryable,
               CASE WHEN cur.to_state = 'error' THEN cur.created_at END AS failure_at,
               CASE WHEN cur.to_state = 'error'
                    THEN cur.created_at
                         + LEAST(power(2, LEAST(COALESCE(s.attempts, 1), 16)), 30) * interval '1 second'
               END AS sql_retry_at,
               CASE WHEN s.backoff_request_seconds IS NOT NULL AND s.last_attempted_at IS NOT NULL
                    THEN s.last_attempted_at + s.backoff_request_seconds * interval '1 second'
               END AS requested_retry_at,
               COALESCE(pt.total, 0)::integer AS parents_total,
               COALESCE(pt.done, 0)::integer AS parents_done,
               s.backoff_request_seconds AS requested_seconds,
               s.last_attempted_at AS attempted_at
        FROM task_steps s
        JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id
        LEFT JOIN tasker_workflow_step_transitions cur
               ON cur.workflow_step_id = s.workflow_step_id AND cur.most_recent = true
        LEFT JOIN parent_totals pt ON pt.step_id = s.workflow_step_id
    )
    SELECT f.step_id, f.owner_id, f.step_named_id, f.step_name, f.state, f.deps_ok,
           f.a < f.l,
           f.state IN ('pending', 'error') AND NOT f.is_processed AND f.deps_ok AND f.a < f.l
               AND f.is_retryable AND NOT f.is_in_process
               AND (f.requested_retry_at IS NULL OR f.requested_retry_at <= NOW())
               AND (f.sql_retry_at IS NULL OR f.sql_retry_at <= NOW()),
           f.failure_at,
           COALESCE(f.requested_retry_at, f.sql_retry_at),
           f.parents_total, f.parents_done, f.a, f.l, f.requested_seconds, f.attempted_at
    FROM facts f
    ORDER BY f.owner_id, f.step_id;
END;
$$;

-- What a task needs now, from its readiness rows. "Blocked" means in error with attempts >= limit;
-- like the engine, an error step that is merely not retryable is neither ready nor blocked, so such a
-- task reports waiting_for_dependencies. Cancelled steps count in total_steps only. With the
-- first-match order below health_status 'unknown' cannot occur; it is kept as the engine's fallback.
CREATE FUNCTION get_task_execution_context(input_task_id bigint)
RETURNS TABLE (
    task_id bigint,
    named_task_id integer,
    status text,
    total_steps bigint,
    pending_steps bigint,
    in_progress_steps bigint,
    completed_steps bigint,
    failed_steps bigint,
    ready_steps bigint,
    execution_status text,
    recommended_action text,
    completion_percentage numeric,
    health_status text
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH counts AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE r.current_state = 'pending') AS pending,
               count(*) FILTER (WHERE r.current_state = 'in_progress') AS running,
               count(*) FILTER (WHERE r.current_state IN ('complete', 'resolved_manually')) AS done,
               count(*) FILTER (WHERE r.current_state = 'error') AS failed,
               count(*) FILTER (WHERE r.ready_for_execution) AS ready,
               count(*) FILTER (WHERE r.current_state = 'error' AND r.attempts >= r.retry_limit) AS blocked
        FROM get_step_readiness_status(input_task_id) r
    )
    SELECT t.task_id, t.named_task_id, COALESCE(tt.to_state, 'pending')::text,
           c.total, c.pending, c.running, c.done, c.failed, c.ready,
           CASE
               WHEN c.ready > 0 THEN 'has_ready_steps'
               WHEN c.running > 0 THEN 'processing'
               WHEN c.blocked > 0 AND c.ready = 0 THEN 'blocked_by_failures'
               WHEN c.done = c.total AND c.total > 0 THEN 'all_complete'
               ELSE 'waiting_for_dependencies'
           END,
           CASE
               WHEN c.ready > 0 THEN 'execute_ready_steps'
               WHEN c.running > 0 THEN 'wait_for_completion'
               WHEN c.blocked > 0 AND c.ready = 0 THEN 'handle_failures'
               WHEN c.done = c.total AND c.total > 0 THEN 'finalize_task'
               ELSE 'wait_for_dependencies'
           END,
           CASE WHEN c.total = 0 THEN 0.0
                ELSE round(c.done::numeric / c.total::numeric * 100, 2)
           END,
           CASE
               WHEN c.failed = 0 THEN 'healthy'
               WHEN c.failed > 0 AND c.ready > 0 THEN 'recovering'
               WHEN c.blocked > 0 AND c.ready = 0 THEN 'blocked'
               WHEN c.failed > 0 AND c.blocked = 0 AND c.ready = 0 THEN 'recovering'
               ELSE 'unknown'
           END
    FROM tasker_tasks t
    LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent = true
    CROSS JOIN counts c
    WHERE t.task_id = input_task_id;
END;
$$;

-- The same for several tasks, in task_id order; ids that name no task give no row.
CREATE FUNCTION get_task_execution_contexts_batch(input_task_ids bigint[])
RETURNS TABLE (
    task_id bigint,
    named_task_id integer,
    status text,
    total_steps bigint,
    pending_steps bigint,
    in_progress_steps bigint,
    completed_steps bigint,
    failed_steps bigint,
    ready_steps bigint,
    execution_status text,
    recommended_action text,
    completion_percentage numeric,
    health_status text
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH per_task AS (
        SELECT r.task_id AS owner_id,
               count(*) AS total,
               count(*) FILTER (WHERE r.current_state = 'pending') AS pending,
               count(*) FILTER (WHERE r.current_state = 'in_progress') AS running,
               count(*) FILTER (WHERE r.current_state IN ('complete', 'resolved_manually')) AS done,
               count(*) FILTER (WHERE r.current_state = 'error') AS failed,
               count(*) FILTER (WHERE r.ready_for_execution) AS ready,
               count(*) FILTER (WHERE r.current_state = 'error' AND r.attempts >= r.retry_limit) AS blocked
        FROM get_step_readiness_status_batch(input_task_ids) r
        GROUP BY r.task_id
    ),
    counts AS (
        SELECT t.task_id AS owner_id, t.named_task_id AS owner_named_id,
               COALESCE(tt.to_state, 'pending')::text AS state,
               COALESCE(p.total, 0) AS total, COALESCE(p.pending, 0) AS pending,
               COALESCE(p.running, 0) AS running, COALESCE(p.done, 0) AS done,
               COALESCE(p.failed, 0) AS failed, COALESCE(p.ready, 0) AS ready,
               COALESCE(p.blocked, 0) AS blocked
        FROM unnest(input_task_ids) AS ids (id)
        JOIN tasker_tasks t ON t.task_id = ids.id
        LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent = true
        LEFT JOIN per_task p ON p.owner_id = t.task_id
    )
    SELECT c.owner_id, c.owner_named_id, c.state,
           c.total, c.pending, c.running, c.done, c.failed, c.ready,
           CASE
               WHEN c.ready > 0 THEN 'has_ready_steps'
               WHEN c.running > 0 THEN 'processing'
               WHEN c.blocked > 0 AND c.ready = 0 THEN 'blocked_by_failures'
               WHEN c.done = c.total AND c.total > 0 THEN 'all_complete'
               ELSE 'waiting_for_dependencies'
           END,
           CASE
               WHEN c.ready > 0 THEN 'execute_ready_steps'
               WHEN c.running > 0 THEN 'wait_for_completion'
               WHEN c.blocked > 0 AND c.ready = 0 THEN 'handle_failures'
               WHEN c.done = c.total AND c.total > 0 THEN 'finalize_task'
               ELSE 'wait_for_dependencies'
           END,
           CASE WHEN c.total = 0 THEN 0.0
                ELSE round(c.done::numeric / c.total::numeric * 100, 2)
           END,
           CASE
               WHEN c.failed = 0 THEN 'healthy'
               WHEN c.failed > 0 AND c.ready > 0 THEN 'recovering'
               WHEN c.blocked > 0 AND c.ready = 0 THEN 'blocked'
               WHEN c.failed > 0 AND c.blocked = 0 AND c.ready = 0 THEN 'recovering'
               ELSE 'unknown'
           END
    FROM counts c
    ORDER BY c.owner_id;
END;
$$;

-- Each step's level: the longest path from a root of its task (0 for roots), in (level, id) order.
-- As in the view, (step, level) pairs are deduplicated so diamonds do not multiply paths. A DAG of n
-- steps has no path longer than n - 1 edges, so bounding levels by n changes nothing for a DAG and
-- only makes a cycle terminate.
CREATE FUNCTION calculate_dependency_levels(input_task_id bigint)
RETURNS TABLE (workflow_step_id bigint, dependency_level integer)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    step_total integer;
BEGIN
    SELECT count(*) INTO step_total FROM tasker_workflow_steps ws WHERE ws.task_id = input_task_id;
    RETURN QUERY
    WITH RECURSIVE levels (step_id, lvl) AS (
        SELECT ws.workflow_step_id, 0
        FROM tasker_workflow_steps ws
        WHERE ws.task_id = input_task_id
          AND NOT EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.to_step_id = ws.workflow_step_id)
      UNION
        SELECT e.to_step_id, l.lvl + 1
        FROM levels l
        JOIN tasker_workflow_step_edges e ON e.from_step_id = l.step_id
        JOIN tasker_workflow_steps child ON child.workflow_step_id = e.to_step_id
        WHERE child.task_id = input_task_id AND l.lvl < step_total
    )
    SELECT l.step_id, max(l.lvl)::integer
    FROM levels l
    GROUP BY l.step_id
    ORDER BY max(l.lvl), l.step_id;
END;
$$;

-- System-wide counts by current state (no transition = pending). Retry counters use the readiness
-- defaults (attempts 0, retry_limit 3): retryable error = error, attempts < limit and retryable;
-- exhausted = error, attempts >= limit; in backoff = retryable error that has been attempted.
-- Connections: server-wide backends running a statement, against the server's limit.
CREATE FUNCTION get_system_health_counts_v01()
RETURNS TABLE (
    total_tasks bigint,
    pending_tasks bigint,
    in_progress_tasks bigint,
    complete_tasks bigint,
    error_tasks bigint,
    cancelled_tasks bigint,
    total_steps bigint,
    pending_steps bigint,
    in_progress_steps bigint,
    complete_steps bigint,
    error_steps bigint,
    retryable_error_steps bigint,
    exhausted_retry_steps bigint,
    in_backoff_steps bigint,
    active_connections bigint,
    max_connections bigint
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH task_counts AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE COALESCE(tt.to_state, 'pending') = 'pending') AS pending,
               count(*) FILTER (WHERE tt.to_state = 'in_progress') AS running,
               count(*) FILTER (WHERE tt.to_state = 'complete') AS done,
               count(*) FILTER (WHERE tt.to_state = 'error') AS failed,
               count(*) FILTER (WHERE tt.to_state = 'cancelled') AS cancelled
        FROM tasker_tasks t
        LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent = true
    ),
    step_facts AS (
        SELECT COALESCE(st.to_state, 'pending') AS state,
               COALESCE(ws.attempts, 0) < COALESCE(ws.retry_limit, 3) AS under_limit,
               COALESCE(ws.retryable, true) AS is_retryable,
               ws.last_attempted_at IS NOT NULL AS attempted
        FROM tasker_workflow_steps ws
        LEFT JOIN tasker_workflow_step_transitions st
               ON st.workflow_step_id = ws.workflow_step_id AND st.most_recent = true
    ),
    step_counts AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE f.state = 'pending') AS pending,
               count(*) FILTER (WHERE f.state = 'in_progress') AS running,
               count(*) FILTER (WHERE f.state = 'complete') AS done,
               count(*) FILTER (WHERE f.state = 'error') AS failed,
               count(*) FILTER (WHERE f.state = 'error' AND f.under_limit AND f.is_retryable) AS retryable,
               count(*) FILTER (WHERE f.state = 'error' AND NOT f.under_limit) AS exhausted,
               count(*) FILTER (WHERE f.state = 'error' AND f.under_limit AND f.is_retryable
                                AND f.attempted) AS backing_off
        FROM step_facts f
    )
    SELECT tc.total, tc.pending, tc.running, tc.done, tc.failed, tc.cancelled,
           sc.total, sc.pending, sc.running, sc.done, sc.failed,
           sc.retryable, sc.exhausted, sc.backing_off,
           (SELECT count(*) FROM pg_stat_activity a WHERE a.state = 'active'),
           current_setting('max_connections')::bigint
    FROM task_counts tc CROSS JOIN step_counts sc;
END;
$$;

-- Activity since `since_timestamp` (default: the last hour), plus a few whole-system counts.
--   active_tasks_count: tasks with a step not in complete/error/skipped/resolved_manually (Task.active).
--   total_namespaces_count: namespaces; unique_task_types_count: distinct named-task names.
--   Window (tasks and steps created since the start): task_throughput tasks, of which
--   completion_count / error_count are now complete / in error; rates are percentages (2 places);
--   avg_task_duration and avg_step_duration are seconds from creation to the complete transition
--   (3 places, 0.0 when nothing completed); step_throughput steps.
--   system_health_score: like the engine, judged from *step* outcomes reached in the window —
--   complete / (complete + error), 3 places, 1.0 when there were none.
CREATE FUNCTION get_analytics_metrics_v01(since_timestamp timestamp with time zone DEFAULT NULL)
RETURNS TABLE (
    active_tasks_count bigint,
    total_namespaces_count bigint,
    unique_task_types_count bigint,
    system_health_score numeric,
    task_throughput bigint,
    completion_count bigint,
    error_count bigint,
    completion_rate numeric,
    error_rate numeric,
    avg_task_duration numeric,
    avg_step_duration numeric,
    step_throughput bigint,
    analysis_period_start timestamp with time zone,
    calculated_at timestamp with time zone
)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    period_start timestamptz := COALESCE(since_timestamp, NOW() - interval '1 hour');
BEGIN
    RETURN QUERY
    WITH active AS (
        SELECT count(DISTINCT ws.task_id) AS n
        FROM tasker_workflow_steps ws
        LEFT JOIN tasker_workflow_step_transitions st
               ON st.workflow_step_id = ws.workflow_step_id AND st.most_recent = true
        WHERE COALESCE(st.to_state, 'pending') NOT IN ('complete', 'error', 'skipped', 'resolved_manually')
    ),
    tasks AS (
        SELECT count(*) AS n,
               count(*) FILTER (WHERE tt.to_state = 'complete') AS done,
               count(*) FILTER (WHERE tt.to_state = 'error') AS failed,
               avg(extract(epoch FROM tt.created_at - t.created_at))
                   FILTER (WHERE tt.to_state = 'complete') AS avg_seconds
        FROM tasker_tasks t
        LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent = true
        WHERE t.created_at >= period_start
    ),
    steps AS (
        SELECT count(*) AS n,
               avg(extract(epoch FROM st.created_at - ws.created_at))
                   FILTER (WHERE st.to_state = 'complete') AS avg_seconds
        FROM tasker_workflow_steps ws
        LEFT JOIN tasker_workflow_step_transitions st
               ON st.workflow_step_id = ws.workflow_step_id AND st.most_recent = true
        WHERE ws.created_at >= period_start
    ),
    outcomes AS (
        SELECT count(*) FILTER (WHERE st.to_state = 'complete') AS done,
               count(*) FILTER (WHERE st.to_state = 'error') AS failed
        FROM tasker_workflow_step_transitions st
        WHERE st.most_recent = true AND st.created_at >= period_start
    )
    SELECT a.n,
           (SELECT count(*) FROM tasker_task_namespaces),
           (SELECT count(DISTINCT nt.name) FROM tasker_named_tasks nt),
           CASE WHEN o.done + o.failed > 0 THEN round(o.done::numeric / (o.done + o.failed), 3)
                ELSE 1.0
           END,
           t.n, t.done, t.failed,
           CASE WHEN t.n > 0 THEN round(t.done::numeric / t.n * 100, 2) ELSE 0.0 END,
           CASE WHEN t.n > 0 THEN round(t.failed::numeric / t.n * 100, 2) ELSE 0.0 END,
           COALESCE(round(t.avg_seconds, 3), 0.0),
           COALESCE(round(s.avg_seconds, 3), 0.0),
           s.n,
           period_start,
           NOW()
    FROM active a CROSS JOIN tasks t CROSS JOIN steps s CROSS JOIN outcomes o;
END;
$$;

-- The slowest completed steps created since `since_timestamp` (default: the last 24 hours): seconds
-- from the step's creation to its complete transition (3 places; only positive durations), longest
-- first, then by id. Filters match exactly; NULL means no filter.
CREATE FUNCTION get_slowest_steps_v01(
    since_timestamp timestamp with time zone DEFAULT NULL,
    limit_count integer DEFAULT 10,
    namespace_filter text DEFAULT NULL,
    task_name_filter text DEFAULT NULL,
    version_filter text DEFAULT NULL
)
RETURNS TABLE (
    workflow_step_id bigint,
    task_id bigint,
    step_name character varying,
    task_name character varying,
    namespace_name character varying,
    version character varying,
    duration_seconds numeric,
    attempts integer,
    created_at timestamp with time zone,
    completed_at timestamp with time zone,
    retryable boolean,
    step_status character varying
)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    period_start timestamptz := COALESCE(since_timestamp, NOW() - interval '24 hours');
BEGIN
    RETURN QUERY
    SELECT ws.workflow_step_id, ws.task_id, ns.name, nt.name, tn.name, nt.version,
           round(extract(epoch FROM st.created_at - ws.created_at), 3),
           ws.attempts, ws.created_at::timestamptz, st.created_at::timestamptz, ws.retryable,
           st.to_state
    FROM tasker_workflow_steps ws
    JOIN tasker_workflow_step_transitions st
      ON st.workflow_step_id = ws.workflow_step_id AND st.most_recent = true AND st.to_state = 'complete'
    JOIN tasker_named_steps ns ON ns.named_step_id = ws.named_step_id
    JOIN tasker_tasks t ON t.task_id = ws.task_id
    JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id
    JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
    WHERE ws.created_at >= period_start
      AND st.created_at > ws.created_at
      AND (namespace_filter IS NULL OR tn.name = namespace_filter)
      AND (task_name_filter IS NULL OR nt.name = task_name_filter)
      AND (version_filter IS NULL OR nt.version = version_filter)
    ORDER BY st.created_at - ws.created_at DESC, ws.workflow_step_id
    LIMIT limit_count;
END;
$$;

-- The slowest tasks created since `since_timestamp` (default: the last 24 hours): seconds from the
-- task's creation to the latest step that ended (current state complete or error; 3 places), longest
-- first, then by id. Tasks none of whose steps ended yet are left out. Filters as above.
CREATE FUNCTION get_slowest_tasks_v01(
    since_timestamp timestamp with time zone DEFAULT NULL,
    limit_count integer DEFAULT 10,
    namespace_filter text DEFAULT NULL,
    task_name_filter text DEFAULT NULL,
    version_filter text DEFAULT NULL
)
RETURNS TABLE (
    task_id bigint,
    task_name character varying,
    namespace_name character varying,
    version character varying,
    duration_seconds numeric,
    step_count bigint,
    completed_steps bigint,
    error_steps bigint,
    created_at timestamp with time zone,
    completed_at timestamp with time zone,
    initiator character varying,
    source_system character varying
)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    period_start timestamptz := COALESCE(since_timestamp, NOW() - interval '24 hours');
BEGIN
    RETURN QUERY
    WITH step_summary AS (
        SELECT ws.task_id AS owner_id,
               count(*) AS steps,
               count(*) FILTER (WHERE st.to_state = 'complete') AS done,
               count(*) FILTER (WHERE st.to_state = 'error') AS failed,
               max(st.created_at) FILTER (WHERE st.to_state IN ('complete', 'error')) AS ended_at
        FROM tasker_tasks t
        JOIN tasker_workflow_steps ws ON ws.task_id = t.task_id
        LEFT JOIN tasker_workflow_step_transitions st
               ON st.workflow_step_id = ws.workflow_step_id AND st.most_recent = true
        WHERE t.created_at >= period_start
        GROUP BY ws.task_id
    )
    SELECT t.task_id, nt.name, tn.name, nt.version,
           round(extract(epoch FROM ss.ended_at - t.created_at), 3),
           ss.steps, ss.done, ss.failed,
           t.created_at::timestamptz, ss.ended_at::timestamptz, t.initiator, t.source_system
    FROM step_summary ss
    JOIN tasker_tasks t ON t.task_id = ss.owner_id
    JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id
    JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
    WHERE ss.ended_at IS NOT NULL
      AND (namespace_filter IS NULL OR tn.name = namespace_filter)
      AND (task_name_filter IS NULL OR nt.name = task_name_filter)
      AND (version_filter IS NULL OR nt.version = version_filter)
    ORDER BY ss.ended_at - t.created_at DESC, t.task_id
    LIMIT limit_count;
END;
$$;
