-- tasker-core's additive objects: the ready queue, step claims (leases) and the wake-up channel.
-- Nothing defined by the Rails engine is altered. No foreign keys on these hot tables: an FK check
-- locks the referenced task/step row FOR KEY SHARE on every insert, and the engine keeps these rows
-- consistent itself (they are deleted in the same transactions that change step state).

-- A step that may be claimed (its parents are complete) from ready_at on. Exactly one row per
-- claimable step; claiming deletes it. handler_class lets a worker claim only what it can run.
CREATE TABLE tasker_ready_steps (
    workflow_step_id bigint PRIMARY KEY,
    task_id bigint NOT NULL,
    handler_class varchar NOT NULL,
    ready_at timestamp(6) without time zone NOT NULL,
    enqueued_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX tasker_ready_steps_ready_at_index ON tasker_ready_steps (ready_at, workflow_step_id);
CREATE INDEX tasker_ready_steps_task_id_index ON tasker_ready_steps (task_id);

-- A step being executed: who holds it and until when. claim_id is the compare-and-swap token: a
-- completion must present it, so a late result from a worker whose lease was recovered is rejected.
CREATE TABLE tasker_step_claims (
    workflow_step_id bigint PRIMARY KEY,
    task_id bigint NOT NULL,
    claim_id bigint NOT NULL,
    worker_id varchar(255) NOT NULL,
    claimed_at timestamp(6) without time zone NOT NULL,
    lease_expires_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX tasker_step_claims_lease_index ON tasker_step_claims (lease_expires_at);
CREATE INDEX tasker_step_claims_task_id_index ON tasker_step_claims (task_id);
