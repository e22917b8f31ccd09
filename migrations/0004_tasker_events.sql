-- tasker-core's lifecycle event log and request trace context (docs/events.md). Additive: nothing
-- defined by the Rails engine is altered.

-- Persisted lifecycle events (opt-in: tasker_events_set_persist / TASKER_EVENTS_PERSIST=1). Each row is
-- written in the same transaction as the change it reports; a NOTIFY on channel tasker_events (payload:
-- the highest new id) wakes watchers. txid is the inserting transaction: watchers read a range of txids
-- only once every transaction in it has finished, so a row committed late (ids are taken before
-- commit) is never skipped. No foreign keys: an event outlives nothing and must not lock tasks.
-- Prune old rows as needed: DELETE FROM tasker_events WHERE created_at < ...
CREATE TABLE tasker_events (
    id bigserial PRIMARY KEY,
    name varchar(128) NOT NULL,
    task_id bigint,
    step_id bigint,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX tasker_events_task_id_index ON tasker_events (task_id, id);
CREATE INDEX tasker_events_txid_index ON tasker_events (txid, id);

-- The W3C traceparent a task was requested with, kept for the task's lifetime: its trace-id is the
-- correlation id of every event and log line of the task.
CREATE TABLE tasker_task_traces (
    task_id bigint PRIMARY KEY,
    traceparent varchar(55) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL
);
