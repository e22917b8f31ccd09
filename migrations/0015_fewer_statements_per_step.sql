-- Fewer statements per step (issue 13): the claim and completion functions of migrations 0009 and
-- 0008 (as 0012 and 0014 left them: no NOTIFY inside, enable_seqscan off) restated with the statements
-- that had nothing to do taken out. Each statement a function runs pays a fixed cost whatever it finds
-- (executor start-up and shutdown, the table's indexes opened and locked, PL/pgSQL's own work), and
-- that cost, not the writes, is most of the server's time per step (bench/RESULTS.md). What changes:
--   claim: the most_recent flip of the step transitions runs only when a claimed step has a transition
--     row (a step claimed for the first time has none), and the task's only when a task that starts
--     has one (a task as created has none);
--   completion: the first statement also says which completed steps have children (edges are written
--     with the task and never change), so the walk to the children starts from those only and a
--     leaf's completion runs none of it; the walk stops at a round that locks no child (the children's
--     readiness query is not run with none to read); that query returns each child's handler with it
--     (one statement per step made claimable fewer); the tasks with a step still to run are looked up
--     only when a child was locked, and the tasks that may have finished only when one is left.
-- Rows written, locks taken and their order, errors and returned rows are the same as before.
-- The bodies are restated whole (CREATE OR REPLACE needs them; migrations already applied are never
-- edited). CREATE OR REPLACE replaces a function's SET clauses too, so each keeps enable_seqscan = off here.
-- Idempotent, and an upgrade of a database that has 0014.
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
    -- primary-key probe each) and the steps per task through a fenced LATERAL: index probes whatever
    -- the statistics say.
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
      JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id
      LEFT JOIN LATERAL (SELECT x.to_state FROM tasker_workflow_step_transitions x
                          WHERE x.workflow_step_id = s.workflow_step_id AND x.most_recent LIMIT 1) tr ON true
      LEFT JOIN unnest(v_ids, v_claims, v_from, v_order) AS c(id, k, f, o) ON c.id = s.workflow_step_id
    WINDOW w AS (PARTITION BY s.task_id)
     ORDER BY s.task_id, s.workflow_step_id;
END
$fn$;
CREATE OR REPLACE FUNCTION tasker_core_complete_successes(p_steps bigint[], p_claims bigint[], p_results jsonb[])
RETURNS TABLE (ev_kind text, ev_id bigint, ev_task bigint, ev_from text, ev_to text, ev_info text)
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $fn$
DECLARE
    v_now timestamp := timezone('UTC', now());
    r record;
    v_ids bigint[] := '{}';          -- recorded steps
    v_res jsonb[] := '{}';
    v_att int[] := '{}';             -- their attempt numbers
    v_keys int[] := '{}';            -- their transitions' sort keys
    v_open bigint[] := '{}';         -- recorded steps with children whose task is open
    v_tasks bigint[] := '{}';        -- those tasks
    v_frontier bigint[];
    v_byp bigint[];
    v_byp_keys int[];
    v_q_ids bigint[] := '{}';        -- made claimable
    v_q_tasks bigint[] := '{}';
    v_q_handlers text[] := '{}';
    v_fin_ids bigint[] := '{}';      -- finished tasks
    v_fin_from text[] := '{}';
    v_fin_keys int[] := '{}';
    v_fin_cand bigint[];             -- tasks that may have finished
    v_locked bigint[] := '{}';       -- children whose rows this completion locked
    v_kids bigint[];                 -- those locked by one round of the walk
    v_busy bigint[];                 -- tasks with one of those still to run
    v_chain text[];
    v_handler text;
    v_n_ids bigint[];                -- made claimable by one round of the walk
    v_n_tasks bigint[];
    v_n_handlers text[];
    i int;
BEGIN
    -- Locks. No task row is locked for the length of the completion: two workers finishing siblings of
    -- one task do not wait for each other. What must be decided on committed state is guarded by the
    -- rows it is about: a step's result by its claim row (deleted here: compare-and-swap), a child's
    -- readiness by the child's row (locked in step id order before its parents are read, so of two
    -- parents finishing together the second sees the first), a task's completion by the task row
    -- (locked last, in task id order, just before its steps are counted). Each decision is read by a
    -- new statement after its lock (READ COMMITTED: it sees what the previous holder committed).
    --
    -- The claims presented are released and the steps read, in one statement.
    FOR r IN
        WITH u AS (SELECT x.s, x.k, x.res, x.o FROM unnest(p_steps, p_claims, p_results) WITH ORDINALITY AS x(s, k, res, o)),
        released AS (DELETE FROM tasker_step_claims c USING u WHERE c.workflow_step_id = u.s AND c.claim_id = u.k
                     RETURNING c.workflow_step_id)
        SELECT u.s, u.res, st.task_id, st.attempts, tr.to_state AS state, tr.sort_key, tt.to_state AS task_state,
               EXISTS (SELECT 1 FROM released x WHERE x.workflow_step_id = u.s) AS released,
               EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.from_step_id = u.s) AS has_children
          FROM u
          LEFT JOIN LATERAL (SELECT y.task_id, y.attempts FROM tasker_workflow_steps y
                              WHERE y.workflow_step_id = u.s OFFSET 0) st ON true
          LEFT JOIN LATERAL (SELECT y.to_state, y.sort_key FROM tasker_workflow_step_transitions y
                              WHERE y.workflow_step_id = u.s AND y.most_recent LIMIT 1) tr ON true
          LEFT JOIN LATERAL (SELECT y.to_state FROM tasker_task_transitions y
                              WHERE y.task_id = st.task_id AND y.most_recent LIMIT 1) tt ON true
         ORDER BY u.o
    LOOP
        IF r.task_id IS NULL OR NOT r.released OR r.state IS DISTINCT FROM 'in_progress' THEN
            ev_kind := 'result'; ev_id := r.s; ev_task := r.task_id; ev_from := NULL; ev_to := NULL;
            ev_info := 'conflict';
            RETURN NEXT;
            CONTINUE;
        END IF;
        v_ids := v_ids || r.s;
        v_res := v_res || r.res;
        v_att := v_att || (COALESCE(r.attempts, 0) + 1);
        v_keys := v_keys || (COALESCE(r.sort_key, 0) + 10);
        IF r.task_state IS NULL OR r.task_state IN ('pending', 'in_progress') THEN
            IF r.has_children THEN
                v_open := v_open || r.s;
            END IF;
            v_tasks := v_tasks || r.task_id;
        END IF;
        ev_kind := 'result'; ev_id := r.s; ev_task := r.task_id; ev_from := NULL; ev_to := NULL; ev_info := 'ok';
        RETURN NEXT;
    END LOOP;
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;

    UPDATE tasker_workflow_steps s SET processed = true, processed_at = v_now, in_process = false,
           attempts = COALESCE(s.attempts, 0) + 1, last_attempted_at = v_now, backoff_request_seconds = NULL,
           results = u.res, updated_at = v_now
      FROM unnest(v_ids, v_res) AS u(id, res) WHERE s.workflow_step_id = u.id;
    UPDATE tasker_workflow_step_transitions SET most_recent = false, updated_at = v_now
     WHERE workflow_step_id = ANY(v_ids) AND most_recent;
    INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, sort_key,
                                                  most_recent, created_at, updated_at)
    SELECT u.id, 'in_progress', 'complete', jsonb_build_object('attempt', u.a), u.k, true, v_now, v_now
      FROM unnest(v_ids, v_att, v_keys) AS u(id, a, k);
    FOR i IN 1 .. cardinality(v_ids) LOOP
        ev_kind := 'step'; ev_id := v_ids[i]; ev_task := NULL; ev_from := 'in_progress'; ev_to := 'complete';
        ev_info := jsonb_build_object('attempt', v_att[i])::text;
        RETURN NEXT;
    END LOOP;

    -- Children whose parents are all done become claimable; bypassed ones are resolved and their own
    -- children examined in turn.
    v_frontier := v_open;
    WHILE cardinality(v_frontier) > 0 LOOP
        v_kids := ARRAY(
            SELECT l.id FROM (SELECT DISTINCT e.to_step_id AS id FROM unnest(v_frontier) AS p(id)
                                CROSS JOIN LATERAL (SELECT x.to_step_id FROM tasker_workflow_step_edges x
                                                     WHERE x.from_step_id = p.id OFFSET 0) e ORDER BY 1) k
              CROSS JOIN LATERAL (SELECT y.workflow_step_id AS id FROM tasker_workflow_steps y
                                   WHERE y.workflow_step_id = k.id FOR NO KEY UPDATE) l);
        EXIT WHEN cardinality(v_kids) = 0;  -- leaves: no child to examine
        v_locked := v_locked || v_kids;
        v_byp := '{}';
        v_byp_keys := '{}';
        v_n_ids := '{}';
        v_n_tasks := '{}';
        v_n_handlers := '{}';
        FOR r IN
            WITH kids AS MATERIALIZED (SELECT DISTINCT k.id FROM unnest(v_kids) AS k(id))
            SELECT c.workflow_step_id AS id, c.task_id, ns.name, ctr.sort_key, t.named_task_id,
                   COALESCE(jsonb_typeof(t.bypass_steps::jsonb) = 'array' AND t.bypass_steps::jsonb ? ns.name,
                            false) AS bypassed,
                   (SELECT st->>'handler_class'
                      FROM tasker_named_tasks nt
                     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(nt.configuration->'step_templates') = 'array'
                                                                  THEN nt.configuration->'step_templates' ELSE '[]'::jsonb END) st
                     WHERE nt.named_task_id = t.named_task_id AND st->>'name' = ns.name LIMIT 1) AS handler
              FROM kids
              JOIN LATERAL (SELECT y.* FROM tasker_workflow_steps y WHERE y.workflow_step_id = kids.id OFFSET 0) c ON true
              JOIN tasker_named_steps ns ON ns.named_step_id = c.named_step_id
              JOIN LATERAL (SELECT y.* FROM tasker_tasks y WHERE y.task_id = c.task_id OFFSET 0) t ON true
              LEFT JOIN LATERAL (SELECT y.to_state FROM tasker_task_transitions y
                                  WHERE y.task_id = t.task_id AND y.most_recent LIMIT 1) tt ON true
              LEFT JOIN LATERAL (SELECT y.to_state, y.sort_key FROM tasker_workflow_step_transitions y
                                  WHERE y.workflow_step_id = c.workflow_step_id AND y.most_recent LIMIT 1) ctr ON true
              LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_ready_steps y
                                  WHERE y.workflow_step_id = c.workflow_step_id LIMIT 1) rq ON true
              LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_step_claims y
                                  WHERE y.workflow_step_id = c.workflow_step_id LIMIT 1) kq ON true
              LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_workflow_step_edges pe
                                   LEFT JOIN LATERAL (SELECT y.to_state FROM tasker_workflow_step_transitions y
                                                       WHERE y.workflow_step_id = pe.from_step_id AND y.most_recent
                                                       LIMIT 1) ps ON true
                                  WHERE pe.to_step_id = c.workflow_step_id
                                    AND ps.to_state IS DISTINCT FROM 'complete'
                                    AND ps.to_state IS DISTINCT FROM 'resolved_manually' LIMIT 1) np ON true
             WHERE NOT c.processed AND COALESCE(ctr.to_state, 'pending') = 'pending'
               AND COALESCE(tt.to_state, 'pending') IN ('pending', 'in_progress')
               AND rq.x IS NULL AND kq.x IS NULL AND np.x IS NULL
             ORDER BY c.workflow_step_id
        LOOP
            IF r.bypassed THEN
                v_byp := v_byp || r.id;
                v_byp_keys := v_byp_keys || (COALESCE(r.sort_key, 0) + 10);
                CONTINUE;
            END IF;
            v_handler := r.handler;
            IF v_handler IS NULL THEN
                RAISE EXCEPTION 'step "%" of task % is not in its template (named task %)', r.name, r.task_id,
                      r.named_task_id USING ERRCODE = 'data_exception';
            END IF;
            v_n_ids := v_n_ids || r.id;
            v_n_tasks := v_n_tasks || r.task_id;
            v_n_handlers := v_n_handlers || v_handler;
        END LOOP;
        IF cardinality(v_n_ids) > 0 THEN
            INSERT INTO tasker_ready_steps (workflow_step_id, task_id, handler_class, ready_at, enqueued_at)
            SELECT u.s, u.t, u.h, v_now, v_now FROM unnest(v_n_ids, v_n_tasks, v_n_handlers) AS u(s, t, h);
            v_q_ids := v_q_ids || v_n_ids;
            v_q_tasks := v_q_tasks || v_n_tasks;
            v_q_handlers := v_q_handlers || v_n_handlers;
        END IF;
        IF cardinality(v_byp) > 0 THEN
            UPDATE tasker_workflow_steps SET processed = true, processed_at = v_now, in_process = false,
                   results = '{"bypassed": true}'::jsonb, updated_at = v_now
             WHERE workflow_step_id = ANY(v_byp);
            UPDATE tasker_workflow_step_transitions SET most_recent = false, updated_at = v_now
             WHERE workflow_step_id = ANY(v_byp) AND most_recent;
            INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, sort_key,
                                                          most_recent, created_at, updated_at)
            SELECT u.id, 'pending', 'resolved_manually', '{"bypassed": true}'::jsonb, u.k, true, v_now, v_now
              FROM unnest(v_byp, v_byp_keys) AS u(id, k);
            FOR i IN 1 .. cardinality(v_byp) LOOP
                ev_kind := 'step'; ev_id := v_byp[i]; ev_task := NULL; ev_from := 'pending';
                ev_to := 'resolved_manually'; ev_info := '{"bypassed": true}';
                RETURN NEXT;
            END LOOP;
        END IF;
        v_frontier := v_byp;
    END LOOP;
    IF cardinality(v_q_ids) > 0 THEN
        FOR i IN 1 .. cardinality(v_q_ids) LOOP
            ev_kind := 'enqueue'; ev_id := v_q_ids[i]; ev_task := v_q_tasks[i]; ev_from := NULL; ev_to := NULL;
            ev_info := v_q_handlers[i];
            RETURN NEXT;
        END LOOP;
    END IF;

    -- Tasks whose steps are all processed are complete (along error → pending → in_progress → complete).
    IF cardinality(v_tasks) = 0 THEN
        RETURN;
    END IF;
    -- A task with a step still to run cannot finish before this transaction ends if that step's row is
    -- locked here: whoever processes the step must update its row, so waits for this commit, and then
    -- sees this transaction's steps processed when it decides. Such tasks are left alone, their rows not
    -- locked, so siblings finishing together do not wait for each other. The step is one of the children
    -- locked above when one is still to run (no new lock), else another step of the task, share-locked
    -- (SKIP LOCKED: never waited for; a step not claimed by preference, as a claimed one's worker would
    -- wait for this commit to record it). The other tasks are locked in task id order and their steps
    -- counted by a new statement.
    IF cardinality(v_locked) = 0 THEN
        v_busy := '{}';
    ELSE
        v_busy := ARRAY(SELECT DISTINCT y.task_id FROM unnest(v_locked) AS k(id)
                          CROSS JOIN LATERAL (SELECT z.task_id FROM tasker_workflow_steps z
                                               WHERE z.workflow_step_id = k.id AND NOT z.processed OFFSET 0) y);
        IF v_tasks <@ v_busy THEN   -- every task has a step still to run (a chain's next stage)
            RETURN;
        END IF;
    END IF;
    SELECT COALESCE(array_agg(u.id ORDER BY u.id), '{}') INTO v_fin_cand
      FROM (SELECT DISTINCT x.id FROM unnest(v_tasks) AS x(id) WHERE x.id <> ALL (v_busy)) u
      LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_workflow_steps y WHERE y.task_id = u.id AND NOT y.processed
                          ORDER BY EXISTS (SELECT 1 FROM tasker_step_claims c WHERE c.workflow_step_id = y.workflow_step_id)
                          LIMIT 1 FOR SHARE OF y SKIP LOCKED) busy ON true
     WHERE busy.x IS NULL;
    IF cardinality(v_fin_cand) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM unnest(v_fin_cand) AS u(id)
      CROSS JOIN LATERAL (SELECT 1 FROM tasker_tasks y WHERE y.task_id = u.id FOR NO KEY UPDATE) l;
    FOR r IN
        SELECT t.task_id, tt.to_state, tt.sort_key
          FROM unnest(v_fin_cand) AS u(id)
          JOIN LATERAL (SELECT y.task_id, y.complete FROM tasker_tasks y WHERE y.task_id = u.id OFFSET 0) t ON true
          LEFT JOIN LATERAL (SELECT y.to_state, y.sort_key FROM tasker_task_transitions y
                              WHERE y.task_id = t.task_id AND y.most_recent LIMIT 1) tt ON true
          LEFT JOIN LATERAL (SELECT 1 AS x FROM tasker_workflow_steps y
                              WHERE y.task_id = t.task_id AND NOT y.processed LIMIT 1) un ON true
         WHERE NOT t.complete AND un.x IS NULL
           AND COALESCE(tt.to_state, 'pending') IN ('pending', 'in_progress', 'error')
         ORDER BY t.task_id
    LOOP
        v_fin_ids := v_fin_ids || r.task_id;
        v_fin_from := v_fin_from || COALESCE(r.to_state, 'pending')::text;
        v_fin_keys := v_fin_keys || COALESCE(r.sort_key, 0);
        ev_kind := 'finalizing'; ev_id := NULL; ev_task := r.task_id; ev_from := NULL; ev_to := NULL; ev_info := NULL;
        RETURN NEXT;
    END LOOP;
    IF cardinality(v_fin_ids) = 0 THEN
        RETURN;
    END IF;
    UPDATE tasker_task_transitions SET most_recent = false, updated_at = v_now
     WHERE task_id = ANY(v_fin_ids) AND most_recent;
    FOR i IN 1 .. cardinality(v_fin_ids) LOOP
        v_chain := ARRAY[v_fin_from[i]];
        IF v_fin_from[i] = 'error' THEN
            v_chain := v_chain || 'pending'::text;
        END IF;
        IF v_fin_from[i] <> 'in_progress' THEN
            v_chain := v_chain || 'in_progress'::text;
        END IF;
        v_chain := v_chain || 'complete'::text;
        INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, most_recent,
                                             created_at, updated_at)
        SELECT v_fin_ids[i], v_chain[g.n - 1], v_chain[g.n], '{}'::jsonb, v_fin_keys[i] + 10 * (g.n - 1),
               g.n = cardinality(v_chain), v_now, v_now
          FROM generate_series(2, cardinality(v_chain)) AS g(n);
        FOR k IN 2 .. cardinality(v_chain) LOOP
            ev_kind := 'task'; ev_id := NULL; ev_task := v_fin_ids[i]; ev_from := v_chain[k - 1];
            ev_to := v_chain[k]; ev_info := NULL;
            RETURN NEXT;
        END LOOP;
    END LOOP;
    UPDATE tasker_tasks SET complete = true, updated_at = v_now WHERE task_id = ANY(v_fin_ids);
    FOR i IN 1 .. cardinality(v_fin_ids) LOOP
        ev_kind := 'finalized'; ev_id := NULL; ev_task := v_fin_ids[i]; ev_from := NULL; ev_to := NULL;
        ev_info := NULL;
        RETURN NEXT;
    END LOOP;
END
$fn$;
