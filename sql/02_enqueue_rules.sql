-- regen_enqueue: argument checks, the job it queues, and at most one active job per plan.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_rules;

-- The outcome of a statement: 'ok', or its SQLSTATE, message and detail.
CREATE FUNCTION regress_rules.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || message || coalesce(' | ' || nullif(detail, ''), '');
END
$$;

CREATE FUNCTION regress_rules.done(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{"done": true}'::jsonb;
SELECT regen_register_handler('plan_regeneration', 'regress_rules.done(regen_queue.job_queue)');

\pset tuples_only on

-- plan_id is required
SELECT regress_rules.try($$SELECT regen_enqueue(NULL)$$);
SELECT regress_rules.try($$SELECT regen_enqueue(NULL, '{"topic": "Rust"}')$$);

-- max_attempts is 1 to 100
SELECT regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                max_attempts => 0)$$);
SELECT regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                max_attempts => 101)$$);
SELECT regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                max_attempts => -3)$$);

-- a job type needs a registered handler
SELECT regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                job_type => 'no_such_type')$$);
SELECT regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                job_type => 'Not A Type')$$);

-- priority is -1000000 to 1000000, as the table's check says; refused before any insert
SELECT split_part(regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                          priority => 1000001)$$), ' | ', 1);
SELECT split_part(regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                          priority => -1000001)$$), ' | ', 1);

\pset tuples_only off

SELECT count(*) AS jobs FROM regen_queue.job_queue;

-- The limits of max_attempts are accepted, and every argument lands in the job.
SELECT max_attempts, status, attempts
  FROM regen_enqueue('00000000-0000-0000-0000-000000000002', max_attempts => 1);
SELECT max_attempts, status, attempts
  FROM regen_enqueue('00000000-0000-0000-0000-000000000003', max_attempts => 100);

\x on
SELECT plan_id, user_id, priority, max_attempts, job_type, payload, status, attempts,
       result IS NULL AS no_result, last_error IS NULL AS no_error,
       started_at IS NULL AS not_started, completed_at IS NULL AS not_completed,
       scheduled_for = now() + interval '1 day' AS scheduled_as_asked,
       created_at = now() AS created_now, updated_at = now() AS updated_now
  FROM regen_enqueue('00000000-0000-0000-0000-000000000004', '{"topic": "Go basics"}',
                     user_id => '00000000-0000-0000-0000-00000000abcd', priority => 7,
                     run_at => now() + interval '1 day', max_attempts => 5);
\x off

SELECT priority FROM regen_enqueue('00000000-0000-0000-0000-000000000006', priority => 1000000);
SELECT priority FROM regen_enqueue('00000000-0000-0000-0000-000000000007', priority => -1000000);

-- Without run_at a job is due at once.
SELECT scheduled_for = now() AS due_now
  FROM regen_enqueue('00000000-0000-0000-0000-000000000005');

-- One active job per plan: the duplicate fails with 23505, its DETAIL names the existing job.
CREATE TABLE regress_rules.first (id uuid);
INSERT INTO regress_rules.first
SELECT id FROM regen_enqueue('00000000-0000-0000-0000-000000000010', '{"topic": "first"}');

CREATE FUNCTION regress_rules.duplicate_of(plan uuid, overrides jsonb DEFAULT '{}')
RETURNS TABLE (sqlstate text, message text, detail_names_first_job boolean, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    det text;
    hnt text;
BEGIN
    PERFORM regen_enqueue(plan, overrides);
    RETURN QUERY SELECT 'ok', NULL::text, NULL::boolean, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN QUERY
    SELECT state, msg,
           det = format('Job %s is %s.', f.id, j.status), hnt
      FROM regress_rules.first f JOIN regen_queue.job_queue j USING (id);
END
$$;

SELECT * FROM regress_rules.duplicate_of('00000000-0000-0000-0000-000000000010');
-- different overrides make no difference
SELECT * FROM regress_rules.duplicate_of('00000000-0000-0000-0000-000000000010',
                                         '{"topic": "second"}');

-- The duplicate queued nothing; the first job is untouched.
SELECT count(*) AS jobs, min(payload::text) AS payload
  FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-0000-0000-000000000010';

-- While the job is processing a new request is still a duplicate.
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, lease_expires_at = now() + interval '1 hour'
 WHERE id = (SELECT id FROM regress_rules.first);
SELECT * FROM regress_rules.duplicate_of('00000000-0000-0000-0000-000000000010');
UPDATE regen_queue.job_queue
   SET status = 'pending', attempts = 0, lease_expires_at = NULL
 WHERE id = (SELECT id FROM regress_rules.first);

-- Another job type of the same plan is not a duplicate.
CREATE FUNCTION regress_rules.other(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{}'::jsonb;
SELECT regen_register_handler('regress_other', 'regress_rules.other(regen_queue.job_queue)');
SELECT job_type, status
  FROM regen_enqueue('00000000-0000-0000-0000-000000000010', job_type => 'regress_other');

-- Once the job has completed, the plan can be queued again.
SELECT regen_drain();
SELECT status, result FROM regen_queue.job_queue WHERE id = (SELECT id FROM regress_rules.first);
SELECT status, payload, id <> (SELECT id FROM regress_rules.first) AS new_job
  FROM regen_enqueue('00000000-0000-0000-0000-000000000010', '{"topic": "again"}');
SELECT status, count(*) FROM regen_queue.job_queue
 WHERE plan_id = '00000000-0000-0000-0000-000000000010' AND job_type = 'plan_regeneration'
 GROUP BY status ORDER BY status;

-- So can a plan whose job failed.
UPDATE regen_queue.job_queue SET status = 'failed', completed_at = now()
 WHERE plan_id = '00000000-0000-0000-0000-000000000010' AND status = 'pending';
SELECT status FROM regen_enqueue('00000000-0000-0000-0000-000000000010');

SELECT regen_unregister_handler('plan_regeneration'), regen_unregister_handler('regress_other');
-- Unregistered: enqueue of that type is refused again.
SELECT regress_rules.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000099')$$);

TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_rules CASCADE;
