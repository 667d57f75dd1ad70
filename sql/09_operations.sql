-- Operations: regen_retry, regen_cancel, regen_prune and regen_stats.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_ops;

-- The outcome of a statement: 'ok', or its SQLSTATE and message, with the job id given (if
-- any) written as <job>.
CREATE FUNCTION regress_ops.try(sql text, job uuid DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            hint = PG_EXCEPTION_HINT;
    IF job IS NOT NULL THEN
        message := replace(message, job::text, '<job>');
    END IF;
    RETURN state || ': ' || message
           || coalesce(' | ' || nullif(hint, ''), '');
END
$$;

-- Plans listed here make the handler fail for good.
CREATE TABLE regress_ops.broken (plan_id uuid PRIMARY KEY);

CREATE FUNCTION regress_ops.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM regress_ops.broken b WHERE b.plan_id = job.plan_id) THEN
        RAISE EXCEPTION 'plan is broken' USING ERRCODE = 'RQ001';
    END IF;
    RETURN jsonb_build_object('attempt', job.attempts);
END
$$;
SELECT regen_register_handler('regress_ops', 'regress_ops.run(regen_queue.job_queue)');

CREATE FUNCTION regress_ops.plan(n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE RETURN ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid;

-- Queue a job for plan n and return its id.
CREATE FUNCTION regress_ops.enqueue(n integer) RETURNS uuid
LANGUAGE sql AS $$
SELECT id FROM regen_enqueue(regress_ops.plan(n), job_type => 'regress_ops');
$$;

CREATE FUNCTION regress_ops.job(n integer) RETURNS uuid
LANGUAGE sql STABLE
RETURN (SELECT id FROM regen_queue.job_queue WHERE plan_id = regress_ops.plan(n)
         ORDER BY created_at DESC LIMIT 1);

CREATE VIEW regress_ops.jobs AS
SELECT right(plan_id::text, 2)::integer AS plan, status, attempts, result, last_error,
       started_at IS NOT NULL AS started, completed_at IS NOT NULL AS completed,
       scheduled_for <= now() AS due
  FROM regen_queue.job_queue;

------------------------------------------------------------------------------------------------
-- regen_retry: a failed job back to pending, attempts reset
------------------------------------------------------------------------------------------------

INSERT INTO regress_ops.broken VALUES (regress_ops.plan(1));
SELECT regress_ops.enqueue(1) IS NOT NULL AS queued;
SELECT regen_drain();
SELECT * FROM regress_ops.jobs WHERE plan = 1;

-- Fix the plan and retry: the job runs again, from attempt 1, and completes.
DELETE FROM regress_ops.broken;
SELECT status, attempts, started_at IS NULL AS not_started, completed_at IS NULL AS not_completed,
       scheduled_for = now() AS due_now, updated_at = now() AS updated_now,
       id = regress_ops.job(1) AS same_job
  FROM regen_retry(regress_ops.job(1));
SELECT regen_drain();
SELECT plan, status, attempts, result, completed FROM regress_ops.jobs WHERE plan = 1;

\pset tuples_only on
-- Only failed jobs can be retried (55000); a job that does not exist is P0002.
SELECT regress_ops.try(format('SELECT regen_retry(%L)', regress_ops.job(1)), regress_ops.job(1));
SELECT regress_ops.enqueue(2) IS NOT NULL AS queued;
SELECT regress_ops.try(format('SELECT regen_retry(%L)', regress_ops.job(2)), regress_ops.job(2));
SELECT regress_ops.try($$SELECT regen_retry('00000000-0000-0000-0000-00000000dead')$$,
                       '00000000-0000-0000-0000-00000000dead');

-- A failed job of a plan that has an active job again cannot be retried (23505).
INSERT INTO regress_ops.broken VALUES (regress_ops.plan(3));
SELECT regress_ops.enqueue(3) IS NOT NULL AS queued;
SELECT regen_drain();
CREATE TABLE regress_ops.failed_job AS SELECT regress_ops.job(3) AS id;
SELECT regress_ops.enqueue(3) IS NOT NULL AS queued_again;
SELECT regress_ops.try(format('SELECT regen_retry(%L)', (SELECT id FROM regress_ops.failed_job)));
\pset tuples_only off
SELECT status, count(*) FROM regen_queue.job_queue WHERE plan_id = regress_ops.plan(3)
 GROUP BY status ORDER BY status;

------------------------------------------------------------------------------------------------
-- regen_cancel: a pending (or abandoned processing) job to failed
------------------------------------------------------------------------------------------------

TRUNCATE regen_queue.job_queue, regress_ops.broken;
SELECT regress_ops.enqueue(10) IS NOT NULL AS queued;
SELECT status, attempts, last_error = 'cancelled by ' || session_user AS says_who_cancelled,
       completed_at = now() AS completed_now
  FROM regen_cancel(regress_ops.job(10));

-- A processing job whose runner is gone (no lock held on it) can be cancelled too.
SELECT regress_ops.enqueue(11) IS NOT NULL AS queued;
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, started_at = now(), lease_owner = 0,
       lease_expires_at = now() + interval '1 hour'
 WHERE id = regress_ops.job(11);
SELECT status, attempts, lease_expires_at IS NULL AS lease_released,
       last_error = 'cancelled by ' || session_user AS says_who_cancelled
  FROM regen_cancel(regress_ops.job(11));

-- Cancelled jobs are never run.
SELECT regen_drain();
SELECT plan, status, attempts, started, completed FROM regress_ops.jobs ORDER BY plan;

\pset tuples_only on
-- Finished jobs cannot be cancelled (55000); a job that does not exist is P0002.
SELECT regress_ops.try(format('SELECT regen_cancel(%L)', regress_ops.job(10)), regress_ops.job(10));
SELECT regress_ops.enqueue(12) IS NOT NULL AS queued;
SELECT regen_drain();
SELECT regress_ops.try(format('SELECT regen_cancel(%L)', regress_ops.job(12)), regress_ops.job(12));
SELECT regress_ops.try($$SELECT regen_cancel('00000000-0000-0000-0000-00000000dead')$$,
                       '00000000-0000-0000-0000-00000000dead');
\pset tuples_only off

-- A cancelled plan can be queued again, and its cancelled job retried once that one is done.
SELECT status FROM regen_enqueue(regress_ops.plan(10), job_type => 'regress_ops');
SELECT regen_drain();
CREATE TABLE regress_ops.cancelled AS
SELECT id FROM regen_queue.job_queue WHERE plan_id = regress_ops.plan(10) AND status = 'failed';
SELECT status, attempts FROM regen_retry((SELECT id FROM regress_ops.cancelled));
SELECT regen_drain();
SELECT status, count(*) FROM regen_queue.job_queue WHERE plan_id = regress_ops.plan(10)
 GROUP BY status;

------------------------------------------------------------------------------------------------
-- regen_prune: one batch of finished jobs older than the interval
------------------------------------------------------------------------------------------------

TRUNCATE regen_queue.job_queue;
-- 21-23 completed and 24-25 failed 40 days ago, 26 completed just now, 27 pending and 28
-- processing, both created 40 days ago.
SELECT count(regress_ops.enqueue(n)) FROM generate_series(21, 28) AS n;
UPDATE regen_queue.job_queue SET status = 'completed', attempts = 1, completed_at = now()
 WHERE plan_id IN (regress_ops.plan(21), regress_ops.plan(22), regress_ops.plan(23),
                   regress_ops.plan(26));
UPDATE regen_queue.job_queue SET status = 'failed', attempts = 1, completed_at = now()
 WHERE plan_id IN (regress_ops.plan(24), regress_ops.plan(25));
UPDATE regen_queue.job_queue SET status = 'processing', attempts = 1,
                                 lease_expires_at = now() + interval '1 hour'
 WHERE plan_id = regress_ops.plan(28);
UPDATE regen_queue.job_queue SET created_at = now() - interval '40 days',
                                 completed_at = completed_at - interval '40 days'
 WHERE plan_id <> regress_ops.plan(26);

SELECT regen_prune('30 days', 2) AS pruned;
SELECT regen_prune('30 days') AS pruned;
SELECT regen_prune('30 days') AS pruned;
SELECT plan, status FROM regress_ops.jobs ORDER BY plan;
-- an interval of 0 takes every finished job
SELECT regen_prune('0') AS pruned;
SELECT plan, status FROM regress_ops.jobs ORDER BY plan;

\pset tuples_only on
SELECT regress_ops.try($$SELECT regen_prune('-1 day')$$);
SELECT regress_ops.try($$SELECT regen_prune(NULL)$$);
SELECT regress_ops.try($$SELECT regen_prune('1 day', 0)$$);
SELECT regress_ops.try($$SELECT regen_prune('1 day', NULL)$$);
\pset tuples_only off

------------------------------------------------------------------------------------------------
-- regen_stats
------------------------------------------------------------------------------------------------

TRUNCATE regen_queue.job_queue;
\x on
SELECT * FROM regen_stats();

-- 31-33 pending (31 due for an hour; 33 queued three hours ago but not due yet, so it does not
-- count in oldest_pending_age), 34-35 processing (35 with an expired lease), 36-39 completed
-- (39 a day ago), 40-42 failed (42 two hours ago).
SELECT count(regress_ops.enqueue(n)) FROM generate_series(31, 42) AS n;
UPDATE regen_queue.job_queue
   SET created_at = now() - interval '1 hour', scheduled_for = now() - interval '1 hour'
 WHERE plan_id = regress_ops.plan(31);
UPDATE regen_queue.job_queue
   SET created_at = now() - interval '3 hours', scheduled_for = now() + interval '1 hour'
 WHERE plan_id = regress_ops.plan(33);
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, lease_owner = 0,
       lease_expires_at = now() + CASE WHEN plan_id = regress_ops.plan(35)
                                       THEN interval '-1 minute' ELSE interval '1 hour' END
 WHERE plan_id IN (regress_ops.plan(34), regress_ops.plan(35));
UPDATE regen_queue.job_queue
   SET status = 'completed', attempts = 1,
       completed_at = now() - CASE WHEN plan_id = regress_ops.plan(39)
                                   THEN interval '1 day' ELSE interval '1 minute' END
 WHERE plan_id IN (regress_ops.plan(36), regress_ops.plan(37), regress_ops.plan(38),
                   regress_ops.plan(39));
UPDATE regen_queue.job_queue
   SET status = 'failed', attempts = 1,
       completed_at = now() - CASE WHEN plan_id = regress_ops.plan(42)
                                   THEN interval '2 hours' ELSE interval '1 minute' END
 WHERE plan_id IN (regress_ops.plan(40), regress_ops.plan(41), regress_ops.plan(42));

SELECT pending, due, processing, completed, failed,
       oldest_pending_age BETWEEN interval '1 hour' AND interval '1 hour 5 minutes'
           AS oldest_pending_about_an_hour,
       expired_leases, failed_last_hour, completed_last_5min, jobs_per_second_5min
  FROM regen_stats();
\x off

SELECT regen_unregister_handler('regress_ops');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_ops CASCADE;
