-- regen_queue.complete_job() and fail_job() are C functions without a SET clause, so they run
-- with their caller's search_path; their statements must still use pg_catalog's operators. A
-- schema put before pg_catalog defines = for uuid and for integer, each of which raises when
-- called: neither may be reached, from SQL or from a handler that set such a search_path
-- (SET LOCAL) and wrote (its job is then completed in its own subtransaction).
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;
DELETE FROM regen_queue.handler;

CREATE SCHEMA regress_pin;
CREATE FUNCTION regress_pin.uuid_eq(a uuid, b uuid) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'regress_pin.= (uuid) was called'; END $$;
CREATE FUNCTION regress_pin.int_eq(a integer, b integer) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'regress_pin.= (integer) was called'; END $$;
CREATE OPERATOR regress_pin.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_pin.uuid_eq);
CREATE OPERATOR regress_pin.= (LEFTARG = integer, RIGHTARG = integer,
                               FUNCTION = regress_pin.int_eq);
CREATE TABLE regress_pin.effect (job_id uuid NOT NULL);

-- Writes a row, then leaves the hostile search_path in place for the rest of its subtransaction.
CREATE FUNCTION regress_pin.writer(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_pin.effect VALUES (job.id);
    PERFORM pg_catalog.set_config('search_path', 'regress_pin, pg_catalog', true);
    RETURN '{"wrote": true}';
END
$$;
SELECT regen_register_handler('writer', 'regress_pin.writer(regen_queue.job_queue)');

-- Three jobs, claimed by hand at attempt 1 as a drain would, for complete_job() and fail_job().
INSERT INTO regen_queue.job_queue (plan_id, payload, status, attempts, started_at, lease_owner,
                                   lease_expires_at, job_type)
SELECT gen_random_uuid(), jsonb_build_object('overrides', jsonb_build_object('topic', t)),
       'processing', 1, now(), pg_backend_pid(), now() + interval '1 hour', 'writer'
  FROM (VALUES ('to complete'), ('to fail'), ('to retry')) AS c(t);
CREATE TABLE regress_pin.ids AS
SELECT payload #>> '{overrides,topic}' AS topic, id FROM regen_queue.job_queue;

SET search_path = regress_pin, pg_catalog, public;
SELECT regen_queue.complete_job((SELECT id FROM regress_pin.ids WHERE topic = 'to complete'), 1,
                                '{"by": "hand"}') AS completed;
SELECT regen_queue.fail_job((SELECT id FROM regress_pin.ids WHERE topic = 'to fail'), 1,
                            'failed by hand', false) AS failed;
SELECT regen_queue.fail_job((SELECT id FROM regress_pin.ids WHERE topic = 'to retry'), 1,
                            'retried by hand') AS retried;
-- The caller's search_path is back afterwards.
SHOW search_path;
RESET search_path;

SELECT payload #>> '{overrides,topic}' AS topic, status, attempts, result, last_error
  FROM regen_queue.job_queue ORDER BY 1;

-- A drain of a job whose handler writes and then sets the hostile search_path.
TRUNCATE regen_queue.job_queue;
SELECT count(*) AS queued
  FROM regen_enqueue(gen_random_uuid(), '{"topic": "drained writer"}', job_type => 'writer');
SELECT regen_drain();
SELECT payload #>> '{overrides,topic}' AS topic, status, attempts, result, last_error
  FROM regen_queue.job_queue ORDER BY 1;
SELECT count(*) AS effects FROM regress_pin.effect;

DROP SCHEMA regress_pin CASCADE;
DELETE FROM regen_queue.handler;
TRUNCATE regen_queue.job_queue;
