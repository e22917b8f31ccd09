-- Task creation as one function call, so creating a task is one statement: the task row (or, when its
-- identity hash is already taken, the task that holds it), its workflow steps, their edges, the
-- transitions of the steps bypassed at creation, the ready-queue rows of the steps claimable at once and
-- the request's traceparent. Validation (template, context schema, bypass list) is the engine's and
-- happens before the call; this function only refuses arguments that do not fit together, naming them,
-- and then writes nothing.
--
-- The steps come as parallel arrays, one element per step in the order they are to be inserted (their
-- ids ascend in that order); p_enqueue holds the step's handler_class when the step is claimable at once
-- and NULL otherwise; the edges are pairs of 1-based positions in those arrays (parent, child).
--
-- enable_seqscan is off while it runs, for the foreign-key checks its inserts fire: each step row's check
-- of its task (`SELECT ... FROM tasker_tasks WHERE task_id = $1 FOR KEY SHARE`) is a cached generic plan,
-- made once per connection and again after each ANALYZE; made while tasker_tasks is a few pages (a new
-- database, the first tasks), it is a sequential scan, and it stays one as the table grows (measured:
-- 10 scans of the whole table per 10-step task, half of the creation's server time at 2,000 tasks). A
-- primary-key probe is right at every size, and every statement here is one or scans only its arrays.
--
-- Rows: when the task was created, one per step (c_existed false, its id and named step); when an
-- identical request already created it (the unique identity hash), one row with that task's id and
-- c_existed true, and nothing is written. The engine publishes the creation's events from these after
-- the commit.
CREATE OR REPLACE FUNCTION tasker_core_create_task(
    p_named_task_id int, p_requested_at timestamp, p_initiator text, p_source_system text, p_reason text,
    p_bypass_steps json, p_tags jsonb, p_context jsonb, p_identity_hash text, p_traceparent text,
    p_named_step_ids int[], p_retryable boolean[], p_retry_limits int[], p_bypassed boolean[],
    p_skippable boolean[], p_enqueue text[], p_edge_from int[], p_edge_to int[])
RETURNS TABLE (c_task_id bigint, c_existed boolean, c_step_id bigint, c_named_step_id int)
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $fn$
DECLARE
    v_now timestamp := timezone('UTC', now());
    v_n int := COALESCE(cardinality(p_named_step_ids), 0);
    v_task bigint;
    v_ids bigint[];
BEGIN
    IF p_named_task_id IS NULL OR p_identity_hash IS NULL OR p_requested_at IS NULL OR p_context IS NULL THEN
        RAISE EXCEPTION 'tasker_core_create_task: named task %, identity %, requested_at % and context are required',
              quote_nullable(p_named_task_id), quote_nullable(p_identity_hash), quote_nullable(p_requested_at)
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF COALESCE(cardinality(p_retryable), 0) <> v_n OR COALESCE(cardinality(p_retry_limits), 0) <> v_n
       OR COALESCE(cardinality(p_bypassed), 0) <> v_n OR COALESCE(cardinality(p_skippable), 0) <> v_n
       OR COALESCE(cardinality(p_enqueue), 0) <> v_n THEN
        RAISE EXCEPTION 'tasker_core_create_task: % named steps but % retryable, % retry limits, % bypassed, % skippable '
              'and % enqueue flags', v_n, COALESCE(cardinality(p_retryable), 0), COALESCE(cardinality(p_retry_limits), 0),
              COALESCE(cardinality(p_bypassed), 0), COALESCE(cardinality(p_skippable), 0),
              COALESCE(cardinality(p_enqueue), 0) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF COALESCE(cardinality(p_edge_from), 0) <> COALESCE(cardinality(p_edge_to), 0) THEN
        RAISE EXCEPTION 'tasker_core_create_task: % edge parents but % edge children', COALESCE(cardinality(p_edge_from), 0),
              COALESCE(cardinality(p_edge_to), 0) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_edge_from, p_edge_to) AS e(f, t)
                WHERE f IS NULL OR t IS NULL OR f NOT BETWEEN 1 AND v_n OR t NOT BETWEEN 1 AND v_n OR f = t) THEN
        RAISE EXCEPTION 'tasker_core_create_task: edges % -> % name a position outside the % steps (or a step and itself)',
              p_edge_from, p_edge_to, v_n USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT count(DISTINCT n) FROM unnest(p_named_step_ids) AS u(n)) <> v_n THEN
        RAISE EXCEPTION 'tasker_core_create_task: named steps % must be distinct and not null', p_named_step_ids
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO tasker_tasks (named_task_id, complete, requested_at, initiator, source_system, reason, bypass_steps,
                              tags, context, identity_hash, created_at, updated_at)
    VALUES (p_named_task_id, false, p_requested_at, p_initiator, p_source_system, p_reason, p_bypass_steps, p_tags,
            p_context, p_identity_hash, v_now, v_now)
    ON CONFLICT (identity_hash) DO NOTHING
    RETURNING task_id INTO v_task;
    IF v_task IS NULL THEN
        -- An identical request created it; this new statement sees it once that request has committed
        -- (the insert above waited for it). NULL when no task holds the hash: the engine reports that.
        RETURN QUERY SELECT (SELECT t.task_id FROM tasker_tasks t WHERE t.identity_hash = p_identity_hash),
                            true, NULL::bigint, NULL::int;
        RETURN;
    END IF;

    WITH ins AS (
        INSERT INTO tasker_workflow_steps (task_id, named_step_id, retryable, retry_limit, in_process, processed,
                                           processed_at, attempts, inputs, results, skippable, created_at, updated_at)
        SELECT v_task, u.n, u.r, u.l, false, u.p, CASE WHEN u.p THEN v_now END, 0, p_context, '{}'::jsonb, u.k,
               v_now, v_now
          FROM unnest(p_named_step_ids, p_retryable, p_retry_limits, p_bypassed, p_skippable)
               WITH ORDINALITY AS u(n, r, l, p, k, i)
         ORDER BY u.i
        RETURNING workflow_step_id, named_step_id)
    SELECT array_agg(ins.workflow_step_id ORDER BY u.i) INTO v_ids
      FROM unnest(p_named_step_ids) WITH ORDINALITY AS u(n, i) JOIN ins ON ins.named_step_id = u.n;

    IF cardinality(p_edge_from) > 0 THEN
        INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at)
        SELECT v_ids[e.f], v_ids[e.t], 'provides', v_now, v_now FROM unnest(p_edge_from, p_edge_to) AS e(f, t);
    END IF;
    IF true = ANY (p_bypassed) THEN
        INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, sort_key,
                                                      most_recent, created_at, updated_at)
        SELECT v_ids[b.i], 'pending', 'resolved_manually', '{"bypassed": true}'::jsonb, 10, true, v_now, v_now
          FROM unnest(p_bypassed) WITH ORDINALITY AS b(x, i) WHERE b.x;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_enqueue) AS q(h) WHERE q.h IS NOT NULL) THEN
        INSERT INTO tasker_ready_steps (workflow_step_id, task_id, handler_class, ready_at, enqueued_at)
        SELECT v_ids[q.i], v_task, q.h, v_now, v_now
          FROM unnest(p_enqueue) WITH ORDINALITY AS q(h, i) WHERE q.h IS NOT NULL;
    END IF;
    IF p_traceparent IS NOT NULL THEN
        INSERT INTO tasker_task_traces (task_id, traceparent, created_at) VALUES (v_task, p_traceparent, v_now);
    END IF;

    RETURN QUERY SELECT v_task, false, v_ids[u.i], u.n FROM unnest(p_named_step_ids) WITH ORDINALITY AS u(n, i);
END
$fn$;
