-- regen_drain: its bound and its counts {"ok", "processedCount", "completedCount", "failedCount"}.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_counts;

CREATE TABLE regress_counts.run_log (seq bigserial PRIMARY KEY, job_id uuid NOT NULL);

CREATE FUNCTION regress_counts.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_counts.run_log (job_id) VALUES (job.id);
    CASE job.payload #>> '{overrides,topic}'
    WHEN 'retryable' THEN
        RAISE EXCEPTION 'try again later';
    WHEN 'permanent' THEN
        RAISE EXCEPTION 'never' USING ERRCODE = 'RQ001';
    ELSE
        RETURN '{}'::jsonb;
    END CASE;
END
$$;
SELECT regen_register_handler('regress_counts', 'regress_counts.run(regen_queue.job_queue)');

-- Queue `count` jobs for plans first_plan, first_plan + 1, ...
CREATE FUNCTION regress_counts.enqueue(first_plan integer, count integer,
                                       topic text DEFAULT 'fine') RETURNS bigint
LANGUAGE sql AS $$
SELECT count(*)
  FROM generate_series(first_plan, first_plan + count - 1) AS plan,
       LATERAL regen_enqueue(('00000000-0000-0000-0000-' || lpad(plan::text, 12, '0'))::uuid,
                             jsonb_build_object('topic', topic), job_type => 'regress_counts');
$$;

CREATE FUNCTION regress_counts.by_status()
RETURNS TABLE (status regen_queue.job_status, jobs bigint, attempts bigint)
LANGUAGE sql AS $$
SELECT status, count(*), sum(attempts) FROM regen_queue.job_queue GROUP BY status ORDER BY status;
$$;

-- The answer's keys.
SELECT jsonb_object_keys(regen_drain()) AS key ORDER BY 1;

-- An empty queue: zeros.
SELECT regen_drain();
SELECT regen_drain(5);

-- max_jobs 0: nothing is done, the jobs stay pending.
SELECT regress_counts.enqueue(1, 3);
SELECT regen_drain(0);
SELECT * FROM regress_counts.by_status();
SELECT count(*) AS runs FROM regress_counts.run_log;

-- max_jobs bounds a drain; the jobs it did not reach stay pending and untouched.
SELECT regen_drain(2);
SELECT * FROM regress_counts.by_status();
SELECT regen_drain(2);
SELECT * FROM regress_counts.by_status();
SELECT count(*) AS runs, count(DISTINCT job_id) AS jobs_run FROM regress_counts.run_log;

-- Mixed outcomes: every failed attempt counts as failed, retryable or not.
TRUNCATE regen_queue.job_queue, regress_counts.run_log;
SELECT regress_counts.enqueue(10, 2, 'fine');
SELECT regress_counts.enqueue(20, 1, 'retryable');
SELECT regress_counts.enqueue(30, 1, 'permanent');
SELECT regen_drain();
SELECT * FROM regress_counts.by_status();

-- A drain larger than one claim batch (the first claims 32 jobs) counts each job once: 150 due
-- jobs, the default bound (regen_queue.max_jobs_per_drain = 100), then the rest.
TRUNCATE regen_queue.job_queue, regress_counts.run_log;
SHOW regen_queue.max_jobs_per_drain;
SELECT regress_counts.enqueue(100, 150);
SELECT regen_drain();
SELECT * FROM regress_counts.by_status();
SELECT regen_drain();
SELECT * FROM regress_counts.by_status();
SELECT count(*) AS runs, count(DISTINCT job_id) AS jobs_run FROM regress_counts.run_log;

-- NULL means regen_queue.max_jobs_per_drain, which also caps an explicit max_jobs.
TRUNCATE regen_queue.job_queue, regress_counts.run_log;
SELECT regress_counts.enqueue(1000, 12);
SET regen_queue.max_jobs_per_drain = 3;
SELECT regen_drain();
SELECT regen_drain(NULL);
SELECT regen_drain(100);
SELECT regen_drain(2);
RESET regen_queue.max_jobs_per_drain;
SELECT * FROM regress_counts.by_status();

-- A negative max_jobs is refused with 22023.
\set VERBOSITY terse
\set SHOW_CONTEXT never
DO $$
DECLARE
    state text;
    message text;
    detail text;
BEGIN
    PERFORM regen_drain(-1);
    RAISE WARNING 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RAISE WARNING '%: % (%)', state, message, detail;
END
$$;
\set VERBOSITY default
\set SHOW_CONTEXT errors

SELECT regen_unregister_handler('regress_counts');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_counts CASCADE;
