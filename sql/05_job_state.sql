-- regen_queue.complete_job and fail_job: they change a job only while it is processing at the
-- attempt given; completing or failing a finished job changes nothing.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_state;

CREATE FUNCTION regress_state.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF job.payload #>> '{overrides,topic}' = 'fail' THEN
        RAISE EXCEPTION 'refused' USING ERRCODE = 'RQ001';
    END IF;
    RETURN '{"ran": true}'::jsonb;
END
$$;
SELECT regen_register_handler('regress_state', 'regress_state.run(regen_queue.job_queue)');

-- Jobs by name, and snapshots of whole rows.
CREATE TABLE regress_state.jobs (name text PRIMARY KEY, id uuid NOT NULL);
CREATE TABLE regress_state.snapshot (name text PRIMARY KEY, row_before jsonb NOT NULL);

CREATE FUNCTION regress_state.enqueue(name text, plan integer, topic text DEFAULT 'run')
RETURNS void
LANGUAGE sql AS $$
INSERT INTO regress_state.jobs
SELECT name, id
  FROM regen_enqueue(('00000000-0000-0000-0000-' || lpad(plan::text, 12, '0'))::uuid,
                     jsonb_build_object('topic', topic), job_type => 'regress_state');
$$;

CREATE FUNCTION regress_state.id(name text) RETURNS uuid
LANGUAGE sql STABLE RETURN (SELECT id FROM regress_state.jobs j WHERE j.name = id.name);

CREATE FUNCTION regress_state.take_snapshot(name text) RETURNS void
LANGUAGE sql AS $$
INSERT INTO regress_state.snapshot
SELECT name, to_jsonb(j) FROM regen_queue.job_queue j WHERE j.id = regress_state.id(name)
    ON CONFLICT ON CONSTRAINT snapshot_pkey DO UPDATE SET row_before = excluded.row_before;
$$;

-- Whether the job's row is exactly as in its snapshot.
CREATE FUNCTION regress_state.unchanged(name text) RETURNS boolean
LANGUAGE sql STABLE
RETURN (SELECT s.row_before = to_jsonb(j)
          FROM regress_state.snapshot s, regen_queue.job_queue j
         WHERE s.name = unchanged.name AND j.id = regress_state.id(unchanged.name));

-- Claim a job by hand, as a drain would: processing at the given attempt, under a lease.
CREATE FUNCTION regress_state.claim(name text, attempt integer) RETURNS void
LANGUAGE sql AS $$
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = attempt, started_at = now(),
       lease_owner = pg_backend_pid(), lease_expires_at = now() + interval '1 hour'
 WHERE id = regress_state.id(name);
$$;

SELECT regress_state.enqueue('completed', 1);
SELECT regress_state.enqueue('failed', 2, 'fail');
SELECT regen_drain();
SELECT name, status, attempts, result, last_error
  FROM regress_state.jobs JOIN regen_queue.job_queue USING (id) ORDER BY name;

-- A completed job: completing or failing it again, at any attempt, changes nothing.
SELECT regress_state.take_snapshot('completed');
SELECT regen_queue.complete_job(regress_state.id('completed'), 1, '{"again": true}') AS completed;
SELECT regen_queue.complete_job(regress_state.id('completed'), 2, '{"again": true}') AS completed;
SELECT regen_queue.fail_job(regress_state.id('completed'), 1, 'late failure') AS status;
SELECT regen_queue.fail_job(regress_state.id('completed'), 1, 'late failure', false) AS status;
SELECT regress_state.unchanged('completed');

-- A failed job: the same.
SELECT regress_state.take_snapshot('failed');
SELECT regen_queue.complete_job(regress_state.id('failed'), 1, '{"again": true}') AS completed;
SELECT regen_queue.fail_job(regress_state.id('failed'), 1, 'again') AS status;
SELECT regen_queue.fail_job(regress_state.id('failed'), 1, 'again', false) AS status;
SELECT regress_state.unchanged('failed');

-- A pending job is not processing: nothing changes either.
SELECT regress_state.enqueue('pending', 3);
SELECT regress_state.take_snapshot('pending');
SELECT regen_queue.complete_job(regress_state.id('pending'), 0, '{}') AS completed;
SELECT regen_queue.complete_job(regress_state.id('pending'), 1, '{}') AS completed;
SELECT regen_queue.fail_job(regress_state.id('pending'), 0, 'x') AS status;
SELECT regen_queue.fail_job(regress_state.id('pending'), 1, 'x') AS status;
SELECT regress_state.unchanged('pending');

-- A processing job at attempt 1: a wrong attempt number changes nothing ...
SELECT regress_state.claim('pending', 1);
SELECT regress_state.take_snapshot('pending');
SELECT regen_queue.complete_job(regress_state.id('pending'), 2, '{}') AS completed;
SELECT regen_queue.complete_job(regress_state.id('pending'), 0, '{}') AS completed;
SELECT regen_queue.fail_job(regress_state.id('pending'), 2, 'x') AS status;
SELECT regen_queue.fail_job(regress_state.id('pending'), 0, 'x', false) AS status;
SELECT regress_state.unchanged('pending');

-- ... the right one completes it, once.
SELECT regen_queue.complete_job(regress_state.id('pending'), 1, '{"by": "hand"}') AS completed;
SELECT status, attempts, result, completed_at IS NOT NULL AS completed_at_set,
       lease_owner IS NULL AND lease_expires_at IS NULL AS lease_released
  FROM regen_queue.job_queue WHERE id = regress_state.id('pending');
SELECT regress_state.take_snapshot('pending');
SELECT regen_queue.complete_job(regress_state.id('pending'), 1, '{"by": "hand, twice"}')
    AS completed;
SELECT regen_queue.fail_job(regress_state.id('pending'), 1, 'after completion') AS status;
SELECT regress_state.unchanged('pending');

-- fail_job applies the retry policy: a retryable failure with attempts left goes back to
-- pending (backoff of 2 s x 0.75 to 1.25 after attempt 1, with 10 ms of slack for the two clock
-- readings), a second call changes nothing, a failure at the last attempt or a permanent one
-- is final.
SELECT regress_state.enqueue('retried', 4);
SELECT regress_state.claim('retried', 1);
SELECT regen_queue.fail_job(regress_state.id('retried'), 1, 'try later') AS status;
SELECT status, attempts, last_error, completed_at IS NULL AS not_completed,
       scheduled_for - updated_at BETWEEN interval '1.49 s' AND interval '2.51 s' AS backoff_ok,
       lease_expires_at IS NULL AS lease_released
  FROM regen_queue.job_queue WHERE id = regress_state.id('retried');
SELECT regress_state.take_snapshot('retried');
SELECT regen_queue.fail_job(regress_state.id('retried'), 1, 'try later') AS status;
SELECT regress_state.unchanged('retried');

SELECT regress_state.claim('retried', 3);
SELECT regen_queue.fail_job(regress_state.id('retried'), 3, 'out of attempts') AS status;
SELECT status, attempts, last_error, completed_at IS NOT NULL AS completed_at_set
  FROM regen_queue.job_queue WHERE id = regress_state.id('retried');

SELECT regress_state.enqueue('refused', 5);
SELECT regress_state.claim('refused', 1);
SELECT regen_queue.fail_job(regress_state.id('refused'), 1, 'no way', retryable => false)
    AS status;
SELECT status, attempts, last_error, completed_at IS NOT NULL AS completed_at_set
  FROM regen_queue.job_queue WHERE id = regress_state.id('refused');

-- A job that does not exist: nothing to change.
SELECT regen_queue.complete_job('00000000-0000-0000-0000-00000000dead', 1, '{}') AS completed;
SELECT regen_queue.fail_job('00000000-0000-0000-0000-00000000dead', 1, 'x') AS status;

-- NULL arguments (other than the result) are refused with 22004.
CREATE FUNCTION regress_state.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ': ' || message;
END
$$;
SELECT regress_state.try($$SELECT regen_queue.complete_job(NULL, 1, '{}')$$);
SELECT regress_state.try($$SELECT regen_queue.complete_job(regress_state.id('refused'), NULL,
                                                           '{}')$$);
SELECT regress_state.try($$SELECT regen_queue.fail_job(NULL, 1, 'x')$$);
SELECT regress_state.try($$SELECT regen_queue.fail_job(regress_state.id('refused'), NULL, 'x')$$);
SELECT regress_state.try($$SELECT regen_queue.fail_job(regress_state.id('refused'), 1, NULL)$$);
SELECT regress_state.try($$SELECT regen_queue.fail_job(regress_state.id('refused'), 1, 'x',
                                                       NULL)$$);

-- A NULL result is allowed.
SELECT regress_state.enqueue('null result', 6);
SELECT regress_state.claim('null result', 1);
SELECT regen_queue.complete_job(regress_state.id('null result'), 1, NULL) AS completed;
SELECT status, result IS NULL AS no_result
  FROM regen_queue.job_queue WHERE id = regress_state.id('null result');

SELECT regen_unregister_handler('regress_state');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_state CASCADE;
