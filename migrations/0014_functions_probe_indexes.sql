-- The claim and the completion functions probe indexes whatever the statistics say, as the creation
-- function does (0013): their statements, and the foreign-key checks their inserts fire, are cached
-- generic plans made once per connection and again after each ANALYZE. Made while a table is empty or a
-- few pages (a new database; the edges, traces and claims of a young one), a plan reads the table whole
-- and keeps doing so as it grows until the next ANALYZE: the unbatched single-step benchmark counted, per
-- 20,000 steps, 40,028 sequential scans of tasker_workflow_step_edges, 20,088 of tasker_step_claims (whose
-- dead rows a long-running transaction elsewhere keeps), 20,070 of tasker_named_steps and 20,001 of
-- tasker_task_traces. Every statement of these functions looks rows up by key or scans its own arrays,
-- so none needs a sequential scan.
ALTER FUNCTION tasker_core_claim_steps(bigint[], bigint[], text, int) SET enable_seqscan = off;
ALTER FUNCTION tasker_core_complete_successes(bigint[], bigint[], jsonb[]) SET enable_seqscan = off;
