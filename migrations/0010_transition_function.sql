-- A manual state transition as one function call, so the transaction is one statement: the owner's
-- row (a task or a workflow step) is locked, then, in a new statement (READ COMMITTED: it sees what a
-- previous holder of the lock committed), its current state is compared with the expected one and,
-- when they match, the current transition row loses most_recent and the new row goes in with the next
-- sort_key. Whether the move is allowed by the state machine is the engine's decision, made before.
-- Returns one row: whether the owner exists, the state found (pending when it has no transition row)
-- and whether the transition was written; nothing is written otherwise.
CREATE OR REPLACE FUNCTION tasker_core_transition(p_kind text, p_id bigint, p_expected text, p_to text,
                                                  p_metadata jsonb)
RETURNS TABLE (t_exists boolean, t_found text, t_written boolean)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_now timestamp := timezone('UTC', now());
    v_state text;
    v_key int;
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('task', 'step') THEN
        RAISE EXCEPTION 'tasker_core_transition: kind % is neither task nor step', quote_nullable(p_kind)
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_expected IS NULL OR p_to IS NULL OR p_id IS NULL THEN
        RAISE EXCEPTION 'tasker_core_transition: % % from % to %: the id and both states are required', p_kind,
              quote_nullable(p_id), quote_nullable(p_expected), quote_nullable(p_to)
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    t_exists := true;
    IF p_kind = 'task' THEN
        PERFORM 1 FROM tasker_tasks WHERE task_id = p_id FOR NO KEY UPDATE;
        t_exists := FOUND;
        IF t_exists THEN
            SELECT x.to_state, x.sort_key INTO v_state, v_key FROM tasker_task_transitions x
             WHERE x.task_id = p_id AND x.most_recent LIMIT 1;
        END IF;
    ELSE
        PERFORM 1 FROM tasker_workflow_steps WHERE workflow_step_id = p_id FOR NO KEY UPDATE;
        t_exists := FOUND;
        IF t_exists THEN
            SELECT x.to_state, x.sort_key INTO v_state, v_key FROM tasker_workflow_step_transitions x
             WHERE x.workflow_step_id = p_id AND x.most_recent LIMIT 1;
        END IF;
    END IF;
    t_found := CASE WHEN t_exists THEN COALESCE(v_state, 'pending') END;
    t_written := t_exists AND t_found = p_expected;
    IF t_written AND p_kind = 'task' THEN
        UPDATE tasker_task_transitions SET most_recent = false, updated_at = v_now
         WHERE task_id = p_id AND most_recent;
        INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, most_recent,
                                             created_at, updated_at)
        VALUES (p_id, p_expected, p_to, COALESCE(p_metadata, '{}'), COALESCE(v_key, 0) + 10, true, v_now, v_now);
    ELSIF t_written THEN
        UPDATE tasker_workflow_step_transitions SET most_recent = false, updated_at = v_now
         WHERE workflow_step_id = p_id AND most_recent;
        INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, sort_key,
                                                      most_recent, created_at, updated_at)
        VALUES (p_id, p_expected, p_to, COALESCE(p_metadata, '{}'), COALESCE(v_key, 0) + 10, true, v_now, v_now);
    END IF;
    RETURN NEXT;
END
$fn$;
