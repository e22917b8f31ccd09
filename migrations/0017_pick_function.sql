-- The claim's FIFO pick as a function whose plan is the walk of the queue's (ready_at, workflow_step_id)
-- index whatever the statistics say: it takes the first p_limit ready rows from p_from on (NULL: from the
-- front), in order, with their task rows, skipping rows another transaction holds. The claim statement
-- (core/src/claim.c) calls it and passes what it returns to tasker_core_claim_steps.
--
-- Why a function: the pick was a statement of the claim, a cached generic plan. Made while the queue
-- had never been analysed (a new database, a backlog's first minute before autovacuum's ANALYZE) the
-- planner guessed the range from the floor to now() held a handful of rows and chose a bitmap scan of
-- every ready row, a probe of each one's task and a sort, to keep the first few: 20,000 index entries,
-- 20,000 task probes and a 2 MB sort for each claim of a 20,000-row backlog (the batched single-step
-- benchmark with fresh plans: 1,699 steps/s where analysed statistics give ~3,600). Here the settings
-- leave the ordered index walk, stopped by the LIMIT, as the only plan without a penalty; nothing else
-- runs under them. The limit can then be a parameter: no other plan is left to sort the whole queue.
CREATE OR REPLACE FUNCTION tasker_core_pick(p_from timestamp, p_handlers text[], p_limit int)
RETURNS TABLE (k_step_id bigint, k_task_id bigint, k_ready_at timestamp)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET enable_hashjoin = off
SET enable_mergejoin = off
AS $fn$
BEGIN
    RETURN QUERY
    SELECT r.workflow_step_id, r.task_id, r.ready_at FROM tasker_ready_steps r
      JOIN tasker_tasks t ON t.task_id = r.task_id
     WHERE r.ready_at >= COALESCE(p_from, '-infinity') AND r.ready_at <= timezone('UTC', now())
       AND (p_handlers IS NULL OR r.handler_class = ANY(p_handlers))
     ORDER BY r.ready_at, r.workflow_step_id
     LIMIT p_limit
       FOR UPDATE OF r SKIP LOCKED FOR NO KEY UPDATE OF t SKIP LOCKED;
END
$fn$;
