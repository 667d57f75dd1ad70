-- Handlers: registration, their writes committing with the job's completion, failures undoing
-- only their own writes, and a drain that commits on its own, whatever its caller does.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_handlers;

-- The outcome of a statement: 'ok', or its SQLSTATE and message.
CREATE FUNCTION regress_handlers.try(sql text) RETURNS text
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

-- What the handlers write.
CREATE TABLE regress_handlers.output (
    plan_id uuid PRIMARY KEY,
    topic   text NOT NULL,
    run_by  name NOT NULL
);

-- Writes a row for the job's plan, then fails if its topic asks for it.
CREATE FUNCTION regress_handlers.write(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    topic text := job.payload #>> '{overrides,topic}';
BEGIN
    INSERT INTO regress_handlers.output VALUES (job.plan_id, topic, current_user);
    IF topic = 'fail for good' THEN
        RAISE EXCEPTION 'failing after the write' USING ERRCODE = 'RQ001';
    ELSIF topic = 'fail for now' THEN
        RAISE EXCEPTION 'failing after the write, retry later';
    ELSIF topic = 'null result' THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('wrote', topic);
END
$$;

CREATE FUNCTION regress_handlers.plan(n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE RETURN ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid;

CREATE FUNCTION regress_handlers.enqueue(plan integer, topic text,
                                         job_type text DEFAULT 'regress_write') RETURNS text
LANGUAGE sql AS $$
SELECT status::text
  FROM regen_enqueue(regress_handlers.plan(plan), jsonb_build_object('topic', topic),
                     job_type => job_type);
$$;

-- Jobs and what their handlers left behind.
CREATE VIEW regress_handlers.outcome AS
SELECT j.payload #>> '{overrides,topic}' AS topic, j.status, j.attempts, j.result,
       j.last_error, o.plan_id IS NOT NULL AS write_kept
  FROM regen_queue.job_queue j LEFT JOIN regress_handlers.output o USING (plan_id);

-- Registration: a handler takes a regen_queue.job_queue and returns jsonb.
SELECT regress_handlers.try($$SELECT regen_register_handler('regress_write',
    'regress_handlers.write(regen_queue.job_queue)')$$);
SELECT job_type, handler, registered_by = current_user AS registered_by_me
  FROM regen_queue.handler;

CREATE FUNCTION regress_handlers.wrong_return(job regen_queue.job_queue) RETURNS text
LANGUAGE sql RETURN 'x';
CREATE FUNCTION regress_handlers.wrong_argument(job jsonb) RETURNS jsonb
LANGUAGE sql RETURN job;
CREATE FUNCTION regress_handlers.a_set(job regen_queue.job_queue) RETURNS SETOF jsonb
LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE PROCEDURE regress_handlers.a_procedure(job regen_queue.job_queue)
LANGUAGE sql AS $$ SELECT 1 $$;

\pset tuples_only on
SELECT regress_handlers.try($$SELECT regen_register_handler('regress_bad',
    'regress_handlers.wrong_return(regen_queue.job_queue)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler('regress_bad',
    'regress_handlers.wrong_argument(jsonb)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler('regress_bad',
    'regress_handlers.a_set(regen_queue.job_queue)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler('regress_bad',
    'regress_handlers.a_procedure(regen_queue.job_queue)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler('Bad Type',
    'regress_handlers.write(regen_queue.job_queue)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler(repeat('x', 64),
    'regress_handlers.write(regen_queue.job_queue)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler(NULL,
    'regress_handlers.write(regen_queue.job_queue)')$$);
SELECT regress_handlers.try($$SELECT regen_register_handler('regress_bad', NULL)$$);
\pset tuples_only off
SELECT count(*) AS handlers FROM regen_queue.handler;

-- Registering a job type again replaces its handler.
SELECT regen_register_handler('regress_other', 'regress_handlers.write(regen_queue.job_queue)');
CREATE FUNCTION regress_handlers.other(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{"other": true}'::jsonb;
SELECT regen_register_handler('regress_other', 'regress_handlers.other(regen_queue.job_queue)');
SELECT job_type, handler FROM regen_queue.handler ORDER BY job_type;
SELECT regen_unregister_handler('regress_other') AS removed,
       regen_unregister_handler('regress_other') AS removed_again;

-- One drain, five jobs: the successful handlers' writes commit with their jobs' completion,
-- the failing ones' writes are undone, and the other jobs of the drain are not affected.
SELECT regress_handlers.enqueue(1, 'first');
SELECT regress_handlers.enqueue(2, 'fail for good');
SELECT regress_handlers.enqueue(3, 'second');
SELECT regress_handlers.enqueue(4, 'fail for now');
SELECT regress_handlers.enqueue(5, 'null result');
SELECT regen_drain();
SELECT * FROM regress_handlers.outcome ORDER BY topic;
SELECT topic, run_by = current_user AS run_as_caller
  FROM regress_handlers.output ORDER BY topic;

-- The drain runs in its own process: its work commits even when the caller rolls back.
TRUNCATE regen_queue.job_queue, regress_handlers.output;
SELECT regress_handlers.enqueue(11, 'kept despite rollback');
SELECT regress_handlers.enqueue(12, 'also kept');
BEGIN;
SELECT regen_drain();
ROLLBACK;
SELECT * FROM regress_handlers.outcome ORDER BY topic;

-- ... and it cannot see what its caller has not committed: a job queued in the caller's open
-- transaction is not drained until that transaction commits.
TRUNCATE regen_queue.job_queue, regress_handlers.output;
BEGIN;
SELECT regress_handlers.enqueue(21, 'queued in the open transaction');
SELECT regen_drain();
COMMIT;
SELECT status, attempts FROM regen_queue.job_queue;
SELECT regen_drain();
SELECT * FROM regress_handlers.outcome ORDER BY topic;

-- A job whose handler was unregistered or dropped after the job was queued fails at once.
TRUNCATE regen_queue.job_queue, regress_handlers.output;
CREATE FUNCTION regress_handlers.doomed(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{}'::jsonb;
SELECT regen_register_handler('regress_dropped', 'regress_handlers.doomed(regen_queue.job_queue)');
SELECT regen_register_handler('regress_unregistered',
                              'regress_handlers.doomed(regen_queue.job_queue)');
SELECT regress_handlers.enqueue(31, 'handler dropped', 'regress_dropped');
SELECT regress_handlers.enqueue(32, 'handler unregistered', 'regress_unregistered');
DROP FUNCTION regress_handlers.doomed(regen_queue.job_queue);
SELECT regen_unregister_handler('regress_unregistered');
SELECT regen_drain();
SELECT topic, status, attempts, last_error FROM regress_handlers.outcome ORDER BY topic;
SELECT regen_unregister_handler('regress_dropped');

-- Handlers run as the role that called regen_drain(), with its privileges.
TRUNCATE regen_queue.job_queue, regress_handlers.output;
CREATE ROLE regress_rq_drainer;
GRANT USAGE ON SCHEMA regen_queue, regress_handlers TO regress_rq_drainer;
GRANT SELECT, UPDATE ON regen_queue.job_queue TO regress_rq_drainer;
GRANT SELECT ON regen_queue.handler TO regress_rq_drainer;
GRANT EXECUTE ON FUNCTION regen_drain(integer) TO regress_rq_drainer;
GRANT INSERT ON regress_handlers.output TO regress_rq_drainer;
SELECT regress_handlers.enqueue(41, 'drained by a role');
SET ROLE regress_rq_drainer;
SELECT regen_drain();
RESET ROLE;
SELECT topic, status, run_by FROM regress_handlers.output JOIN regen_queue.job_queue USING (plan_id);

-- A role that may not execute the handler: the job fails for good (42501).
REVOKE EXECUTE ON FUNCTION regress_handlers.write(regen_queue.job_queue) FROM PUBLIC;
SELECT regress_handlers.enqueue(42, 'not allowed to run');
SET ROLE regress_rq_drainer;
SELECT regen_drain();
RESET ROLE;
SELECT topic, status, attempts, last_error, write_kept
  FROM regress_handlers.outcome WHERE topic = 'not allowed to run';

SELECT regen_unregister_handler('regress_write');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_handlers CASCADE;
REVOKE ALL ON SCHEMA regen_queue FROM regress_rq_drainer;
REVOKE ALL ON regen_queue.job_queue, regen_queue.handler FROM regress_rq_drainer;
REVOKE ALL ON FUNCTION regen_drain(integer) FROM regress_rq_drainer;
DROP ROLE regress_rq_drainer;
