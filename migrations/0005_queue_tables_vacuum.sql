-- The ready queue and the claims are queue tables: every step inserts one row into each and deletes it
-- again, so at a few thousand steps a second they accumulate dead row versions much faster than the
-- default autovacuum thresholds (50 rows + 20 % of the table, i.e. after a handful of rows for a table
-- this small, but vacuum throttled by cost delay) clear them, and every pick, claim and completion then
-- walks past them. Vacuum them as soon as a few hundred rows are dead, unthrottled: each run is cheap
-- because the live tables stay small. Additive: only tasker-core's own tables are touched.
ALTER TABLE tasker_ready_steps SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 500,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 500,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE tasker_step_claims SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 500,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 500,
    autovacuum_vacuum_cost_delay = 0
);
