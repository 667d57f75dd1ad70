-- A job whose completion or hand-over to HTTP cannot be written, in a drain of many: a trigger
-- on job_queue refuses it. That job's attempt fails with the trigger's error, and what its
-- handler wrote is undone with it; every other job of the batch completes, and the drain's
-- answer counts each job once. Handlers that write complete their job in their own
-- subtransaction; handlers that write nothing are completed together at the end of the batch,
-- and a refusal there is retried job by job. Both paths are taken here.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;
DELETE FROM regen_queue.handler;

CREATE SCHEMA regress_refused;
CREATE TABLE regress_refused.effect (job_id uuid NOT NULL);

-- Writes nothing: its result is the topic.
CREATE FUNCTION regress_refused.pure(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('topic', job.payload #>> '{overrides,topic}') $$;

-- Writes one row per run.
CREATE FUNCTION regress_refused.writer(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_refused.effect VALUES (job.id);
    RETURN jsonb_build_object('topic', job.payload #>> '{overrides,topic}');
END
$$;

SELECT regen_register_handler('pure', 'regress_refused.pure(regen_queue.job_queue)');
SELECT regen_register_handler('writer', 'regress_refused.writer(regen_queue.job_queue)');
-- Never called: its only job's hand-over is refused.
SELECT regen_register_http_handler('remote', 'http://127.0.0.1:9/never-called');

-- Refuses the completion of jobs whose topic starts with "refuse completion", and any change
-- to a processing job whose topic is "refuse hand-over" that keeps it processing.
CREATE FUNCTION regress_refused.refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'completed' AND NEW.payload #>> '{overrides,topic}' LIKE 'refuse completion%'
    THEN
        RAISE EXCEPTION 'refusing to store the result of %', NEW.payload #>> '{overrides,topic}';
    END IF;
    IF OLD.status = 'processing' AND NEW.status = 'processing'
       AND NEW.payload #>> '{overrides,topic}' = 'refuse hand-over' THEN
        RAISE EXCEPTION 'refusing to hand % over', NEW.payload #>> '{overrides,topic}';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER refuse BEFORE UPDATE ON regen_queue.job_queue
    FOR EACH ROW EXECUTE FUNCTION regress_refused.refuse();

-- Eleven jobs, claimed together in this order (priority descending).
SELECT count(*) AS queued FROM (
    SELECT regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', topic),
                         priority => 20 - n, job_type => job_type)
      FROM (VALUES (1, 'pure one', 'pure'), (2, 'refuse completion pure', 'pure'),
                   (3, 'pure two', 'pure'), (4, 'pure three', 'pure'),
                   (5, 'writer one', 'writer'), (6, 'refuse completion writer', 'writer'),
                   (7, 'writer two', 'writer'), (8, 'writer three', 'writer'),
                   (9, 'refuse hand-over', 'remote'), (10, 'pure four', 'pure'),
                   (11, 'writer four', 'writer')) AS jobs (n, topic, job_type)) AS q;

SELECT regen_drain();

SELECT payload #>> '{overrides,topic}' AS topic, job_type, status, attempts,
       result ->> 'topic' AS result, last_error
  FROM regen_queue.job_queue ORDER BY priority DESC;

-- The writer's run for the refused job was undone with its completion; the others' stay.
SELECT j.payload #>> '{overrides,topic}' AS topic, count(e.job_id) AS effects
  FROM regen_queue.job_queue j LEFT JOIN regress_refused.effect e ON e.job_id = j.id
 WHERE j.job_type = 'writer'
 GROUP BY 1 ORDER BY 1;

-- Once the trigger is gone, the refused jobs complete at their second attempt.
DROP TRIGGER refuse ON regen_queue.job_queue;
DELETE FROM regen_queue.handler WHERE job_type = 'remote';
SELECT regen_register_handler('remote', 'regress_refused.pure(regen_queue.job_queue)');
UPDATE regen_queue.job_queue SET scheduled_for = now() WHERE status = 'pending';
SELECT regen_drain();
SELECT payload #>> '{overrides,topic}' AS topic, status, attempts
  FROM regen_queue.job_queue WHERE attempts > 1 ORDER BY priority DESC;
SELECT count(*) AS effects, count(DISTINCT job_id) AS jobs FROM regress_refused.effect;

DROP SCHEMA regress_refused CASCADE;
DELETE FROM regen_queue.handler;
TRUNCATE regen_queue.job_queue;
