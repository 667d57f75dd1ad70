-- Claim order: due jobs only, highest priority first, then oldest first.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_claim;

-- Every run of the handler is logged in run order, with the topic as the job's label.
CREATE TABLE regress_claim.run_log (
    seq    bigserial PRIMARY KEY,
    job_id uuid NOT NULL,
    label  text NOT NULL
);

CREATE FUNCTION regress_claim.log_run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_claim.run_log (job_id, label)
    VALUES (job.id, job.payload #>> '{overrides,topic}');
    RETURN jsonb_build_object('label', job.payload #>> '{overrides,topic}');
END
$$;
SELECT regen_register_handler('regress_claim', 'regress_claim.log_run(regen_queue.job_queue)');

-- The jobs queued, by label; each enqueue is a transaction of its own, so the ones queued
-- later are younger.
CREATE TABLE regress_claim.queued (label text PRIMARY KEY, job_id uuid NOT NULL);

CREATE FUNCTION regress_claim.enqueue(label text, plan integer, priority integer,
                                      run_at timestamptz DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
INSERT INTO regress_claim.queued
SELECT label, id
  FROM regen_enqueue(('00000000-0000-0000-0000-' || lpad(plan::text, 12, '0'))::uuid,
                     jsonb_build_object('topic', label), priority => priority,
                     run_at => run_at, job_type => 'regress_claim');
$$;

SELECT regress_claim.enqueue('prio 0', 1, 0);
SELECT regress_claim.enqueue('prio 5, older', 2, 5);
SELECT regress_claim.enqueue('prio 10', 3, 10);
SELECT regress_claim.enqueue('prio -3', 4, -3);
SELECT regress_claim.enqueue('prio 5, younger', 5, 5);
-- due for an hour already, but queued last: still the youngest of priority 5
SELECT regress_claim.enqueue('prio 5, youngest, run_at in the past', 6, 5,
                             now() - interval '1 hour');
-- highest priority of all, but not due yet
SELECT regress_claim.enqueue('prio 100, run_at in an hour', 7, 100, now() + interval '1 hour');

SELECT regen_drain();

-- The run order.
SELECT l.seq, l.label, l.job_id = q.job_id AS logged_job_is_that_job
  FROM regress_claim.run_log l JOIN regress_claim.queued q USING (label)
 ORDER BY l.seq;

-- Every due job ran once and completed; the job that is not due yet was not touched.
SELECT q.label, j.status, j.attempts, j.result,
       j.started_at IS NOT NULL AS started, j.completed_at IS NOT NULL AS completed
  FROM regress_claim.queued q JOIN regen_queue.job_queue j ON j.id = q.job_id
 ORDER BY q.label;

-- A drain that does not reach every job takes them in the same order: three jobs, a drain of
-- one runs the highest priority, a drain of two the rest, oldest first.
TRUNCATE regress_claim.run_log, regress_claim.queued;
SELECT regress_claim.enqueue('second, prio 1', 11, 1);
SELECT regress_claim.enqueue('third, prio 1', 12, 1);
SELECT regress_claim.enqueue('first, prio 2', 13, 2);

SELECT regen_drain(1);
SELECT seq, label FROM regress_claim.run_log ORDER BY seq;
SELECT regen_drain(2);
SELECT seq, label FROM regress_claim.run_log ORDER BY seq;

-- A job becomes due when its time comes: the one scheduled in an hour runs once moved to now.
SELECT regen_drain();
UPDATE regen_queue.job_queue SET scheduled_for = now()
 WHERE plan_id = '00000000-0000-0000-0000-000000000007';
SELECT regen_drain();
SELECT label FROM regress_claim.run_log ORDER BY seq DESC LIMIT 1;

SELECT regen_unregister_handler('regress_claim');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_claim CASCADE;
