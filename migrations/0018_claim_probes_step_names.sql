-- The claim's last read, the claimed tasks with all their steps for the payloads, finds each step's name
-- by a probe of tasker_named_steps' primary key, whatever the statistics say. It joined the table, and
-- when the statistics say a task has many steps (one task of a big template is enough: the average
-- counts it) the planner, expecting hundreds of steps per claimed task, hashed the whole table for each
-- claim: every step name ever registered, by every template (2,004 rows read per claim of a 4-step task
-- with 2,000 names registered, where a probe per step reads 4). A fenced LATERAL probe per step leaves no
-- other plan. Rows returned, locks and their order are those of 0015; only that join changes. The
-- completion function's join of the children's names is driven by the children this completion locked
-- (an array, whose size the statistics do not guess) and probes the names already.
-- The body is restated whole (CREATE OR REPLACE needs it; migrations already applied are never edited),
-- with its enable_seqscan = off. Idempotent, and an upgrade of a database that has 0015.
CREATE OR REPLACE FUNCTION tasker_core_claim_steps(p_steps bigint[], p_tasks bigint[], p_worker text, p_lease int)
RETURNS TABLE (c_task_id bigint, c_step_id bigint, c_named_step_id int, c_name text, c_state text, c_attempts int,
               c_retry_limit int, c_retryable boolean, c_results text, c_inputs text, c_named_task_id int,
               c_context text, c_tags text, c_initiator text, c_source_system text, c_reason text, c_traceparent text,
               c_claim_id bigint, c_claimed_from text, c_pick_order int, c_lease_expires_at timestamp,
               c_task_started boolean)
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $fn$
DECLARE
    v_now timestamp := timezone('UTC', now());
    r record;
    v_ids bigint[] := '{}';          -- claimed steps
    v_tasks bigint[] := '{}';        -- their tasks
    v_claims bigint[] := '{}';       -- their claim ids
    v_from text[] := '{}';           -- their state before the claim: pending or error
    v_order int[] := '{}';           -- their places in p_steps
    v_cleared bigint[] := '{}';      -- claimed steps with a current transition row
    v_t_ids bigint[] := '{}';        -- the step transitions written
    v_t_from text[] := '{}';
    v_t_to text[] := '{}';
    v_t_meta jsonb[] := '{}';
    v_t_keys int[] := '{}';
    v_t_recent boolean[] := '{}';
    v_started bigint[] := '{}';      -- tasks moved to in_progress
    v_start_keys int[] := '{}';
    v_start_cleared bigint[] := '{}';
BEGIN
    IF p_steps IS NULL OR cardinality(p_steps) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(p_tasks) IS DISTINCT FROM cardinality(p_steps) THEN
        RAISE EXCEPTION 'tasker_core_claim_steps: % step ids but % task ids', cardinality(p_steps),
              COALESCE(cardinality(p_tasks), 0) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_worker IS NULL OR length(p_worker) > 255 THEN
        RAISE EXCEPTION 'tasker_core_claim_steps: worker id % must be 1 to 255 characters', quote_nullable(p_worker)
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_lease IS NULL OR p_lease < 1 THEN
        RAISE EXCEPTION 'tasker_core_claim_steps: lease of % seconds must be at least 1', COALESCE(p_lease::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Which picked steps are still claimable: the step is its queue row's task's, not processed, pending
    -- or in error (a retry), and its task is open. The others are stale queue rows, dropped below.
    FOR r IN
        SELECT u.s, u.t, u.o, st.processed, tr.to_state AS state, tr.sort_key, tt.to_state AS task_state,
               tt.sort_key AS task_key
          FROM unnest(p_steps, p_tasks) WITH ORDINALITY AS u(s, t, o)
          JOIN LATERAL (SELECT y.task_id, y.processed FROM tasker_workflow_steps y
                         WHERE y.workflow_step_id = u.s OFFSET 0) st ON st.task_id = u.t
          LEFT JOIN LATERAL (SELECT y.to_state, y.sort_key FROM tasker_workflow_step_transitions y
                              WHERE y.workflow_step_id = u.s AND y.most_recent LIMIT 1) tr ON true
          LEFT JOIN LATERAL (SELECT y.to_state, y.sort_key FROM tasker_task_transitions y
                              WHERE y.task_id = u.t AND y.most_recent LIMIT 1) tt ON true
         ORDER BY u.o
    LOOP
        CONTINUE WHEN r.processed OR COALESCE(r.state, 'pending') NOT IN ('pending', 'error')
                      OR COALESCE(r.task_state, 'pending') NOT IN ('pending', 'in_progress');
        IF r.sort_key IS NOT NULL THEN
            v_cleared := v_cleared || r.s;
        END IF;
        IF r.state = 'error' THEN
            v_t_ids := v_t_ids || r.s;
            v_t_from := v_t_from || 'error'::text;
            v_t_to := v_t_to || 'pending'::text;
            v_t_meta := v_t_meta || '{"reason": "retry"}'::jsonb;
            v_t_keys := v_t_keys || (r.sort_key + 10);
            v_t_recent := v_t_recent || false;
        END IF;
        v_t_ids := v_t_ids || r.s;
        v_t_from := v_t_from || 'pending'::text;
        v_t_to := v_t_to || 'in_progress'::text;
        v_t_meta := v_t_meta || '{}'::jsonb;
        v_t_keys := v_t_keys || (COALESCE(r.sort_key, 0) + CASE WHEN r.state = 'error' THEN 20 ELSE 10 END);
        v_t_recent := v_t_recent || true;
        v_ids := v_ids || r.s;
        v_tasks := v_tasks || r.t;
        v_claims := v_claims || (1 + floor(random() * 9.2e18))::bigint;
        v_from := v_from || COALESCE(r.state, 'pending')::text;
        v_order := v_order || r.o::int;
        IF COALESCE(r.task_state, 'pending') = 'pending' AND r.t <> ALL (v_started) THEN
            v_started := v_started || r.t;
            v_start_keys := v_start_keys || (COALESCE(r.task_key, 0) + 10);
            IF r.task_key IS NOT NULL THEN
                v_start_cleared := v_start_cleared || r.t;
            END IF;
        END IF;
    END LOOP;

    IF cardinality(v_ids) > 0 THEN
        -- The current row loses most_recent before the new one goes in (the partial unique index on
        -- (owner, most_recent) never sees two current rows). A step claimed for the first time has none.
        IF cardinality(v_cleared) > 0 THEN
            UPDATE tasker_workflow_step_transitions SET most_recent = false, updated_at = v_now
             WHERE workflow_step_id = ANY(v_cleared) AND most_recent;
        END IF;
        INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, sort_key,
                                                      most_recent, created_at, updated_at)
        SELECT u.id, u.f, u.t, u.m, u.k, u.r, v_now, v_now
          FROM unnest(v_t_ids, v_t_from, v_t_to, v_t_meta, v_t_keys, v_t_recent) AS u(id, f, t, m, k, r);
    END IF;
    IF cardinality(v_started) > 0 THEN
        IF cardinality(v_start_cleared) > 0 THEN    -- a task as created has no transition row
            UPDATE tasker_task_transitions SET most_recent = false, updated_at = v_now
             WHERE task_id = ANY(v_start_cleared) AND most_recent;
        END IF;
        INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, most_recent,
                                             created_at, updated_at)
        SELECT u.id, 'pending', 'in_progress', '{}'::jsonb, u.k, true, v_now, v_now
          FROM unnest(v_started, v_start_keys) AS u(id, k);
    END IF;
    -- Every picked row leaves the queue, claimed or stale.
    DELETE FROM tasker_ready_steps WHERE workflow_step_id = ANY(p_steps);
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO tasker_step_claims (workflow_step_id, task_id, claim_id, worker_id, claimed_at, lease_expires_at)
    SELECT u.s, u.t, u.k, p_worker, v_now, v_now + p_lease * interval '1 second'
      FROM unnest(v_ids, v_tasks, v_claims) AS u(s, t, k);

    -- The claimed tasks and all their steps, read after the writes. Driven from the task ids (a
    -- primary-key probe each), the steps per task and each step's name through fenced LATERALs: index
    -- probes whatever the statistics say.
    RETURN QUERY
    WITH t AS (
        SELECT y.task_id, y.named_task_id, y.context::text AS context, y.tags::text AS tags, y.initiator::text AS initiator,
               y.source_system::text AS source_system, y.reason::text AS reason,
               (SELECT x.traceparent::text FROM tasker_task_traces x WHERE x.task_id = y.task_id) AS traceparent
          FROM (SELECT DISTINCT z.id FROM unnest(v_tasks) AS z(id)) u
         CROSS JOIN LATERAL (SELECT w.* FROM tasker_tasks w WHERE w.task_id = u.id OFFSET 0) y)
    SELECT s.task_id, s.workflow_step_id, s.named_step_id, ns.name::text, tr.to_state::text, s.attempts,
           s.retry_limit, s.retryable, s.results::text, CASE WHEN c.k IS NOT NULL THEN s.inputs::text END,
           t.named_task_id,
           CASE WHEN s.workflow_step_id = min(s.workflow_step_id) OVER w THEN t.context END,
           CASE WHEN s.workflow_step_id = min(s.workflow_step_id) OVER w THEN t.tags END,
           t.initiator, t.source_system, t.reason, t.traceparent, c.k, c.f, c.o,
           CASE WHEN c.k IS NOT NULL THEN v_now + p_lease * interval '1 second' END,
           t.task_id = ANY(v_started)
      FROM t
     CROSS JOIN LATERAL (SELECT x.* FROM tasker_workflow_steps x WHERE x.task_id = t.task_id OFFSET 0) s
     CROSS JOIN LATERAL (SELECT x.name FROM tasker_named_steps x WHERE x.named_step_id = s.named_step_id
                         OFFSET 0) ns
      LEFT JOIN LATERAL (SELECT x.to_state FROM tasker_workflow_step_transitions x
                          WHERE x.workflow_step_id = s.workflow_step_id AND x.most_recent LIMIT 1) tr ON true
      LEFT JOIN unnest(v_ids, v_claims, v_from, v_order) AS c(id, k, f, o) ON c.id = s.workflow_step_id
    WINDOW w AS (PARTITION BY s.task_id)
     ORDER BY s.task_id, s.workflow_step_id;
END
$fn$;
