-- Which workers are running and which handler classes each one runs (additive; nothing defined by the
-- Rails engine is altered). A worker writes its row when it starts and again on every heartbeat, moving
-- expires_at ahead; a worker that stops deletes it, one that dies is gone once expires_at has passed.
-- A ready step whose handler_class no live worker runs is "waiting for a handler" (tasker task show,
-- tasker health): nothing failed, and the first worker that runs the class claims it.
-- handler_classes NULL: the worker claims steps of any class.
CREATE TABLE tasker_worker_presence (
    worker_id varchar(255) PRIMARY KEY,
    handler_classes varchar[],
    started_at timestamp(6) without time zone NOT NULL,
    last_seen_at timestamp(6) without time zone NOT NULL,
    expires_at timestamp(6) without time zone NOT NULL
);
