-- What a handler sees and what it cannot leave behind. Drains pin search_path to
-- pg_catalog, pg_temp, so neither the queue's statements nor an unpinned handler resolve names
-- through schemas a database owner or role could have set; a handler that needs its own
-- search_path sets it on its function. Settings a handler changes (SET, set_config, SET ROLE)
-- are undone when it returns, so the next job and the queue's own statements never see them.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_session;
CREATE TABLE regress_session.seen (job_id uuid, topic text, settings jsonb);

-- Records the settings it runs with; some topics change them on the way out.
CREATE FUNCTION regress_session.record(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    topic text := job.payload #>> '{overrides,topic}';
BEGIN
    INSERT INTO regress_session.seen
    VALUES (job.id, topic,
            jsonb_build_object('search_path', current_setting('search_path'),
                               'statement_timeout', current_setting('statement_timeout'),
                               'read_only', current_setting('default_transaction_read_only'),
                               'role_is_session_user', current_user = session_user));
    IF topic = 'leaky settings' THEN
        PERFORM set_config('search_path', 'regress_session, public', false);
        PERFORM set_config('statement_timeout', '1234', false);
        PERFORM set_config('default_transaction_read_only', 'on', false);
    ELSIF topic = 'leaky role' THEN
        SET ROLE regress_session_other;
    END IF;
    RETURN '{}';
END
$$;
SELECT regen_register_handler('regress_session', 'regress_session.record(regen_queue.job_queue)');

-- A handler that does not set its search_path sees pg_catalog, pg_temp: unqualified names of
-- other schemas are not found, and that error is permanent (class 42).
CREATE FUNCTION regress_session.unqualified(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN to_jsonb((SELECT count(*) FROM seen)); END $$;
-- One that sets it finds them.
CREATE FUNCTION regress_session.pinned(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql SET search_path = regress_session, pg_catalog
AS $$ SELECT jsonb_build_object('search_path', current_setting('search_path')) $$;
SELECT regen_register_handler('regress_unqualified',
                              'regress_session.unqualified(regen_queue.job_queue)');
SELECT regen_register_handler('regress_pinned', 'regress_session.pinned(regen_queue.job_queue)');

CREATE ROLE regress_session_other;
GRANT regress_session_other TO CURRENT_USER;

-- Each topic in its own plan; run in claim order (all priority 0: oldest first).
SELECT count((regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', t),
                            job_type => 'regress_session')).id) AS queued
  FROM unnest(ARRAY['leaky settings', 'after settings', 'leaky role', 'after role']) AS t;
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_unqualified')).id) AS queued;
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_pinned')).id) AS queued;
SELECT regen_drain();

SELECT topic, settings FROM regress_session.seen ORDER BY topic;
SELECT job_type, status, attempts, left(last_error, 60) AS last_error, result
  FROM regen_queue.job_queue ORDER BY job_type, created_at, status DESC;

-- A database default search_path cannot reach the queue's statements: a schema of its own
-- shadowing clock_timestamp(), which the queue's statements call, is never used.
TRUNCATE regen_queue.job_queue, regress_session.seen;
CREATE TABLE regress_session.hijacked (at timestamptz);
CREATE FUNCTION regress_session.clock_timestamp() RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_session.hijacked VALUES (pg_catalog.clock_timestamp());
    RETURN pg_catalog.clock_timestamp();
END
$$;
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET search_path = regress_session, pg_catalog, public',
                   current_database());
END
$$;
SELECT count((regen_enqueue(gen_random_uuid(), '{"topic": "after hijack"}',
                            job_type => 'regress_session')).id) AS queued;
SELECT regen_drain();
SELECT count(*) AS hijacked_calls FROM regress_session.hijacked;
SELECT topic, settings ->> 'search_path' AS search_path FROM regress_session.seen;
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET search_path', current_database());
END
$$;

-- regen_queue.job_timeout cancels a handler that runs too long: its attempt fails with 57014
-- (retried later), and the jobs after it run normally, with no cancel left over.
TRUNCATE regen_queue.job_queue;
CREATE FUNCTION regress_session.slow(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF job.priority = 1 THEN
        PERFORM pg_catalog.pg_sleep(30);
    END IF;
    RETURN '{"done": true}';
END
$$;
SELECT regen_register_handler('regress_slow', 'regress_session.slow(regen_queue.job_queue)');
SELECT count((regen_enqueue(gen_random_uuid(), priority => p, job_type => 'regress_slow')).id)
    AS queued
  FROM unnest(ARRAY[1, 0, 0]) AS p;
SET regen_queue.job_timeout = '300ms';
SELECT regen_drain();
RESET regen_queue.job_timeout;
SELECT priority, status, attempts, last_error, result
  FROM regen_queue.job_queue ORDER BY priority DESC, created_at;

-- A handler that catches the cancel and goes on still fails its attempt, its writes undone.
TRUNCATE regen_queue.job_queue;
CREATE FUNCTION regress_session.stubborn(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pg_catalog.pg_sleep(30);
    EXCEPTION WHEN query_canceled THEN
        INSERT INTO regress_session.seen VALUES (job.id, 'stubborn', '{}');
    END;
    RETURN '{"caught": true}';
END
$$;
SELECT regen_register_handler('regress_stubborn', 'regress_session.stubborn(regen_queue.job_queue)');
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_stubborn')).id) AS queued;
SET regen_queue.job_timeout = '300ms';
SELECT regen_drain();
RESET regen_queue.job_timeout;
SELECT status, attempts, last_error, result FROM regen_queue.job_queue;
SELECT count(*) AS stubborn_writes_kept FROM regress_session.seen WHERE topic = 'stubborn';

-- A handler runs as a security-restricted operation, and what it leaves in the session (session
-- advisory locks, prepared statements) is gone before the next job: it cannot create temporary
-- objects a later job would resolve names through, nor change the session's roles.
TRUNCATE regen_queue.job_queue;
CREATE FUNCTION regress_session.leaver(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    topic text := job.payload #>> '{overrides,topic}';
    leftover refcursor := 'leftover_cursor';
BEGIN
    IF topic = 'temp table' THEN
        CREATE TEMP TABLE leftover (x int);
    ELSIF topic = 'session authorization' THEN
        PERFORM set_config('session_authorization', 'regress_session_other', false);
    ELSIF topic = 'prepare' THEN
        PREPARE leftover_statement AS SELECT 1;
    ELSIF topic = 'advisory lock' THEN
        PERFORM pg_catalog.pg_advisory_lock(4242);
    ELSIF topic = 'open cursor' THEN
        OPEN leftover FOR SELECT job.id;
    END IF;
    RETURN jsonb_build_object(
        'advisory_locks', (SELECT count(*) FROM pg_catalog.pg_locks
                            WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()),
        'prepared', (SELECT count(*) FROM pg_catalog.pg_prepared_statements),
        'cursors', (SELECT count(*) FROM pg_catalog.pg_cursors));
END
$$;
SELECT regen_register_handler('regress_leaver', 'regress_session.leaver(regen_queue.job_queue)');
-- Run in this order (priority): the advisory lock's job completes holding a session lock, the
-- cursor's with its cursor open; the last job finds neither.
SELECT count((regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', t),
                            priority => 10 - n::integer, job_type => 'regress_leaver')).id)
    AS queued
  FROM unnest(ARRAY['temp table', 'session authorization', 'prepare', 'advisory lock',
                    'open cursor', 'after'])
       WITH ORDINALITY AS u(t, n);
SELECT regen_drain();
SELECT payload #>> '{overrides,topic}' AS topic, status, left(last_error, 75) AS last_error, result
  FROM regen_queue.job_queue ORDER BY priority DESC;

-- A deferrable constraint is checked when the handler returns: its violation fails that job
-- alone, not the commit of the batch. A handler re-created since its registration with another
-- return type fails its jobs (42P13) instead of being called. Drains run READ COMMITTED
-- whatever the database's default isolation level.
TRUNCATE regen_queue.job_queue;
CREATE TABLE regress_session.parent (id int PRIMARY KEY);
CREATE TABLE regress_session.child (
    parent_id int REFERENCES regress_session.parent DEFERRABLE INITIALLY DEFERRED);
CREATE FUNCTION regress_session.deferring(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_session.child
    VALUES (CASE WHEN job.priority = 1 THEN 999 ELSE NULL END);
    RETURN jsonb_build_object('isolation', current_setting('transaction_isolation'));
END
$$;
CREATE FUNCTION regress_session.reshaped(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT regen_register_handler('regress_deferring',
                              'regress_session.deferring(regen_queue.job_queue)');
SELECT regen_register_handler('regress_reshaped', 'regress_session.reshaped(regen_queue.job_queue)');
DROP FUNCTION regress_session.reshaped(regen_queue.job_queue);
CREATE FUNCTION regress_session.reshaped(job regen_queue.job_queue) RETURNS boolean
LANGUAGE sql AS $$ SELECT true $$;
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L',
                   current_database(), 'repeatable read');
END
$$;
SELECT count((regen_enqueue(gen_random_uuid(), priority => p, job_type => 'regress_deferring')).id)
    AS queued
  FROM unnest(ARRAY[2, 1, 0]) AS p;
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_reshaped')).id) AS queued;
SELECT regen_drain();
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET default_transaction_isolation', current_database());
END
$$;
SELECT job_type, priority, status, left(last_error, 70) AS last_error, result
  FROM regen_queue.job_queue ORDER BY job_type, priority DESC;
SELECT count(*) AS children_kept FROM regress_session.child;

-- A temporary function cannot be registered: its name would pass to the next session that
-- gets the same temporary schema.
CREATE FUNCTION pg_temp.temporary(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SET client_min_messages = notice;
DO $$
DECLARE
    detail text;
BEGIN
    PERFORM regen_register_handler('regress_temporary', 'pg_temp.temporary(regen_queue.job_queue)');
    RAISE NOTICE 'registered';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE '%: %', SQLSTATE, detail;
END
$$;
SET client_min_messages = warning;

TRUNCATE regen_queue.job_queue;
SELECT regen_unregister_handler('regress_slow'), regen_unregister_handler('regress_stubborn'),
       regen_unregister_handler('regress_leaver'), regen_unregister_handler('regress_deferring'),
       regen_unregister_handler('regress_reshaped');
SELECT regen_unregister_handler('regress_session'), regen_unregister_handler('regress_unqualified'),
       regen_unregister_handler('regress_pinned');
DROP SCHEMA regress_session CASCADE;
REVOKE regress_session_other FROM CURRENT_USER;
DROP ROLE regress_session_other;
