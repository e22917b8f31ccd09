-- The completion function (migration 0008) without its NOTIFY: the caller sends the wake-up just after
-- the COMMIT, in a transaction of its own, when an `enqueue` row says a step became claimable. A NOTIFY
-- inside a transaction takes a database-wide lock at commit and holds it through the commit's WAL
-- flush, so every completion that made a step claimable committed after the previous one's flush (in
-- the ten-step DAG benchmark, about 4,000 waits over 10 ms for that lock at COMMIT per 20,000 steps);
-- a NOTIFY in a transaction that wrote nothing needs no flush and holds the lock for microseconds.
-- The one statement is taken out of the installed definition instead of restating the whole body
-- (CREATE OR REPLACE needs it): idempotent, and refused loudly if the function is not 0008's.
DO $mig$
DECLARE
    v_def text := pg_get_functiondef('tasker_core_complete_successes(bigint[], bigint[], jsonb[])'::regprocedure);
    v_stmt text := E'PERFORM pg_notify(''tasker_steps_ready'', '''');\n';
BEGIN
    IF position(v_stmt IN v_def) > 0 THEN
        EXECUTE replace(v_def, v_stmt, '');
    ELSIF position('pg_notify' IN v_def) > 0 THEN
        RAISE EXCEPTION 'tasker_core_complete_successes sends a NOTIFY this migration does not know; not changed';
    END IF;
END
$mig$;
