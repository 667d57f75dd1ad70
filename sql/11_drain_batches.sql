-- How a drain batches its transactions. Handlers that write each take a subtransaction id; a
-- batch commits what it has finished once its transaction holds 48 of them, so it never passes
-- the 64 that PostgreSQL caches per process. The completions of one commit share its xmin, so
-- the number of distinct xmins among completed jobs counts the drain's commits.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;
SET regen_queue.max_jobs_per_drain = 1000;

CREATE SCHEMA regress_batches;
CREATE TABLE regress_batches.run_log (job_id uuid NOT NULL);

CREATE FUNCTION regress_batches.writing(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_batches.run_log VALUES (job.id);
    RETURN jsonb_build_object('plan', job.plan_id);
END
$$;
CREATE FUNCTION regress_batches.reading(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('plan', job.plan_id) $$;
SELECT regen_register_handler('regress_writing', 'regress_batches.writing(regen_queue.job_queue)');
SELECT regen_register_handler('regress_reading', 'regress_batches.reading(regen_queue.job_queue)');

-- 300 jobs whose handler writes: at least ceil(300 / 48) = 7 commits.
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_writing')).id) AS queued
  FROM generate_series(1, 300);
SELECT regen_drain(300);
SELECT count(*) AS runs, count(DISTINCT job_id) AS jobs_run FROM regress_batches.run_log;
SELECT status, attempts, count(*) FROM regen_queue.job_queue GROUP BY 1, 2;
SELECT count(*) FILTER (WHERE result ->> 'plan' = plan_id::text) AS results_of_their_job
  FROM regen_queue.job_queue;
SELECT count(DISTINCT xmin::text) >= 7 AS committed_at_least_every_48_jobs
  FROM regen_queue.job_queue;

-- 300 jobs whose handler writes nothing take no subtransaction id: the batches grow instead
-- (32 jobs first, then up to 256), so far fewer commits than 300 / 48.
TRUNCATE regen_queue.job_queue;
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_reading')).id) AS queued
  FROM generate_series(1, 300);
SELECT regen_drain(300);
SELECT status, attempts, count(*) FROM regen_queue.job_queue GROUP BY 1, 2;
SELECT count(DISTINCT xmin::text) < 7 AS fewer_commits_without_writes
  FROM regen_queue.job_queue;

TRUNCATE regen_queue.job_queue;
SELECT regen_unregister_handler('regress_writing'), regen_unregister_handler('regress_reading');
DROP SCHEMA regress_batches CASCADE;
RESET regen_queue.max_jobs_per_drain;
