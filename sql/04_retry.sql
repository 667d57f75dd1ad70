-- Failed attempts: retryable errors go back to pending with backoff until max_attempts is used
-- up; permanent errors (class RQ, 22, 42 and 0A000) fail the job at once.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_retry;

-- What the handler does depends on the job's topic.
CREATE FUNCTION regress_retry.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    topic text := job.payload #>> '{overrides,topic}';
BEGIN
    CASE topic
    WHEN 'retryable' THEN
        RAISE EXCEPTION 'upstream timed out';
    WHEN 'serialization' THEN
        RAISE EXCEPTION 'could not serialize' USING ERRCODE = 'serialization_failure';
    WHEN 'rq001' THEN
        RAISE EXCEPTION 'plan % is gone', job.plan_id
            USING ERRCODE = 'RQ001', DETAIL = 'Retrying cannot help.';
    WHEN 'division' THEN
        RETURN jsonb_build_object('ratio', 1 / (job.attempts - job.attempts));
    WHEN 'bad cast' THEN
        RETURN jsonb_build_object('n', 'twelve'::integer);
    WHEN 'missing table' THEN
        PERFORM 1 FROM regress_retry.no_such_table;
    WHEN 'unsupported' THEN
        RAISE EXCEPTION 'not supported here' USING ERRCODE = 'feature_not_supported';
    WHEN 'flaky' THEN
        IF job.attempts < 2 THEN
            RAISE EXCEPTION 'not ready at attempt %', job.attempts;
        END IF;
        RETURN jsonb_build_object('succeeded_at_attempt', job.attempts);
    WHEN 'long error' THEN
        RAISE EXCEPTION '%', repeat('e', 10000);
    ELSE
        RETURN '{}'::jsonb;
    END CASE;
    RETURN '{}'::jsonb;
END
$$;
SELECT regen_register_handler('regress_retry', 'regress_retry.run(regen_queue.job_queue)');

CREATE FUNCTION regress_retry.enqueue(topic text, plan integer, max_attempts integer DEFAULT 3)
RETURNS text
LANGUAGE sql AS $$
SELECT status::text
  FROM regen_enqueue(('00000000-0000-0000-0000-' || lpad(plan::text, 12, '0'))::uuid,
                     jsonb_build_object('topic', topic), max_attempts => max_attempts,
                     job_type => 'regress_retry');
$$;

-- The state of a job, by plan; delay_ok says whether the next attempt is scheduled within the
-- bounds given (seconds after the failure), and is NULL for a job that is not pending. The
-- failure stamps scheduled_for and updated_at from two clock readings of one statement, so the
-- bounds get 10 ms of slack for the time between them.
CREATE FUNCTION regress_retry.job(plan integer, min_delay numeric DEFAULT NULL,
                                  max_delay numeric DEFAULT NULL)
RETURNS TABLE (status regen_queue.job_status, attempts integer, max_attempts integer,
               delay_ok boolean, started boolean, completed boolean, leased boolean,
               last_error text, result jsonb)
LANGUAGE sql AS $$
SELECT status, attempts, max_attempts,
       CASE WHEN status = 'pending' THEN
           scheduled_for - updated_at BETWEEN (min_delay - 0.01) * interval '1 second'
                                          AND (max_delay + 0.01) * interval '1 second' END,
       started_at IS NOT NULL, completed_at IS NOT NULL,
       lease_expires_at IS NOT NULL OR lease_owner IS NOT NULL,
       last_error, result
  FROM regen_queue.job_queue
 WHERE plan_id = ('00000000-0000-0000-0000-' || lpad(plan::text, 12, '0'))::uuid;
$$;

-- Make a backed-off job due now.
CREATE FUNCTION regress_retry.make_due(plan integer) RETURNS void
LANGUAGE sql AS $$
UPDATE regen_queue.job_queue SET scheduled_for = now()
 WHERE plan_id = ('00000000-0000-0000-0000-' || lpad(plan::text, 12, '0'))::uuid;
$$;

\x on

-- A retryable error, three attempts: pending after 2 s (x 0.75 to 1.25), pending after 4 s,
-- then failed.
SELECT regress_retry.enqueue('retryable', 1);
SELECT regen_drain();
SELECT * FROM regress_retry.job(1, 1.5, 2.5);
-- backing off: not due, so a drain leaves it alone
SELECT regen_drain();
SELECT regress_retry.make_due(1);
SELECT regen_drain();
SELECT * FROM regress_retry.job(1, 3, 5);
SELECT regress_retry.make_due(1);
SELECT regen_drain();
SELECT * FROM regress_retry.job(1);
-- a failed job is never claimed again
SELECT regress_retry.make_due(1);
SELECT regen_drain();
SELECT status, attempts FROM regress_retry.job(1);

-- Permanent errors fail the job at its first attempt; another retryable SQLSTATE does not.
SELECT regress_retry.enqueue('rq001', 2);
SELECT regress_retry.enqueue('division', 3);
SELECT regress_retry.enqueue('bad cast', 4);
SELECT regress_retry.enqueue('missing table', 5);
SELECT regress_retry.enqueue('unsupported', 6);
SELECT regress_retry.enqueue('serialization', 7);
SELECT regen_drain();
SELECT * FROM regress_retry.job(2);
SELECT * FROM regress_retry.job(3);
SELECT * FROM regress_retry.job(4);
SELECT * FROM regress_retry.job(5);
SELECT * FROM regress_retry.job(6);
SELECT * FROM regress_retry.job(7, 1.5, 2.5);
UPDATE regen_queue.job_queue SET status = 'failed', completed_at = now()
 WHERE plan_id = '00000000-0000-0000-0000-000000000007';

-- max_attempts is honoured: 2 means a second failure is final, 1 means the first is.
SELECT regress_retry.enqueue('retryable', 8, max_attempts => 2);
SELECT regress_retry.enqueue('retryable', 9, max_attempts => 1);
SELECT regen_drain();
SELECT * FROM regress_retry.job(8, 1.5, 2.5);
SELECT * FROM regress_retry.job(9);
SELECT regress_retry.make_due(8);
SELECT regen_drain();
SELECT * FROM regress_retry.job(8);

-- A job that fails at first and then succeeds ends completed with its result.
SELECT regress_retry.enqueue('flaky', 10);
SELECT regen_drain();
SELECT status, attempts, delay_ok, completed, last_error FROM regress_retry.job(10, 1.5, 2.5);
SELECT regress_retry.make_due(10);
SELECT regen_drain();
SELECT status, attempts, completed, leased, result FROM regress_retry.job(10);

-- last_error is bounded: a 10,000-byte message is cut to at most 4,000 bytes.
SELECT regress_retry.enqueue('long error', 11, max_attempts => 1);
SELECT regen_drain();
SELECT status, attempts, octet_length(last_error) <= 4000 AS bounded,
       last_error LIKE 'P0001: eeeeeeeeee%' AS starts_with_the_error
  FROM regress_retry.job(11);

\x off

SELECT regen_unregister_handler('regress_retry');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_retry CASCADE;
