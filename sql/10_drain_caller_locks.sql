-- regen_drain() called in a transaction that holds a lock a handler needs: the drain worker
-- would wait for its caller and the caller for the worker. The caller detects it and fails with
-- 40P01 instead of hanging; the jobs then run once the caller's transaction has rolled back.
SET deadlock_timeout = '100ms';

CREATE TABLE caller_locks_plan (id integer PRIMARY KEY, touched integer NOT NULL);
INSERT INTO caller_locks_plan VALUES (1, 0);

CREATE FUNCTION caller_locks_handler(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.caller_locks_plan SET touched = touched + 1 WHERE id = 1;
    RETURN '{"touched": true}';
END
$$;
SELECT regen_register_handler('caller_locks', 'caller_locks_handler(regen_queue.job_queue)');

SELECT count(DISTINCT (regen_enqueue(gen_random_uuid(), job_type => 'caller_locks')).id) AS queued
  FROM generate_series(1, 3);

BEGIN;
UPDATE caller_locks_plan SET touched = 100 WHERE id = 1;
DO $$
BEGIN
    PERFORM regen_drain();
    RAISE NOTICE 'regen_drain() returned';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE '%: %', SQLSTATE, SQLERRM;
END
$$;
ROLLBACK;

-- The worker was told to stop after its batch; the batch itself finishes once the lock is gone.
DO $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM regen_queue.job_queue
                               WHERE job_type = 'caller_locks' AND status <> 'completed');
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

SELECT status, attempts, count(*) FROM regen_queue.job_queue
 WHERE job_type = 'caller_locks' GROUP BY 1, 2;
SELECT touched FROM caller_locks_plan;

-- Without the caller's lock, the same drain just works.
SELECT count(DISTINCT (regen_enqueue(gen_random_uuid(), job_type => 'caller_locks')).id) AS queued
  FROM generate_series(1, 2);
BEGIN;
SELECT regen_drain();
COMMIT;
SELECT touched FROM caller_locks_plan;

DELETE FROM regen_queue.job_queue WHERE job_type = 'caller_locks';
SELECT regen_unregister_handler('caller_locks');
DROP FUNCTION caller_locks_handler(regen_queue.job_queue);
DROP TABLE caller_locks_plan;
