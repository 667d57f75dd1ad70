-- HTTP handlers (1.2): registering an endpoint, the regen_queue.http_* settings, what a drain
-- does with a job whose handler has no usable endpoint (no network needed), and the update from
-- 1.1. Calls to real endpoints are tested in test/http/.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;
DELETE FROM regen_queue.handler;

CREATE SCHEMA regress_hh;
GRANT USAGE ON SCHEMA regress_hh TO PUBLIC;

-- The outcome of a statement: 'ok' (with its first value, if any), or its SQLSTATE and message.
CREATE FUNCTION regress_hh.try(sql text, with_detail boolean DEFAULT true) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
    value text;
BEGIN
    IF sql ~* '^\s*(re)?set\M' THEN
        EXECUTE sql;
    ELSE
        EXECUTE sql INTO value;
    END IF;
    RETURN 'ok' || coalesce(': ' || value, '');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || message
           || CASE WHEN with_detail THEN coalesce(' (' || nullif(detail, '') || ')', '') ELSE '' END;
END
$$;
GRANT EXECUTE ON FUNCTION regress_hh.try(text, boolean) TO PUBLIC;

-- Check that a reload has reached this session: `parameter` reads `expected`. A session applies
-- a reload between statements, so the caller reconnects after pg_reload_conf() (the postmaster
-- has applied it by then, and a new session starts with its settings); this waits a little in
-- case it had not.
CREATE PROCEDURE regress_hh.wait_for(parameter text, expected text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..200 LOOP
        IF current_setting(parameter) = expected THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION '% is still %', parameter, current_setting(parameter);
END
$$;

CREATE FUNCTION regress_hh.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN jsonb_build_object('ran', job.job_type);

------------------------------------------------------------------------------------------------
-- Registering
------------------------------------------------------------------------------------------------

SELECT regress_hh.try($$SELECT regen_register_http_handler('plan_regeneration',
                                                           'https://gen.example.test/v1/plans')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('with_limits',
                          'HTTP://127.0.0.1:8080/generate?fast=1', '2.5 s', 4)$$);
-- No endpoint: regen_queue.http_endpoint, read at each call.
SELECT regress_hh.try($$SELECT regen_register_http_handler('by_setting')$$);
SELECT job_type, handler, endpoint, timeout_ms, max_concurrency
  FROM regen_queue.handler ORDER BY job_type;

-- Refused, with 22004 or 22023 and nothing written.
SELECT regress_hh.try($$SELECT regen_register_http_handler(NULL, 'https://a.test/')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('Bad-Type', 'https://a.test/')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'ftp://a.test/')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'a.test/generate')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://user:pw@a.test/')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/a b')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/' || repeat('p', 2100))$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/', '0 s')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/', '-1 s')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/', '2 hours')$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/', NULL, 0)$$);
SELECT regress_hh.try($$SELECT regen_register_http_handler('x', 'https://a.test/', NULL, 1001)$$);
SELECT count(*) AS registered_x FROM regen_queue.handler WHERE job_type = 'x';

-- The field at fault is named in the error's COLUMN field.
DO $$
DECLARE
    field text;
BEGIN
    PERFORM regen_register_http_handler('x', 'https://a.test/', '2 hours');
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS field = COLUMN_NAME;
    RAISE WARNING 'field: %', field;
END
$$;

-- A job type is a SQL function or an endpoint, whichever was registered last.
SELECT regen_register_handler('with_limits', 'regress_hh.run(regen_queue.job_queue)');
SELECT job_type, handler, endpoint, timeout_ms, max_concurrency
  FROM regen_queue.handler WHERE job_type = 'with_limits';
SELECT regen_register_http_handler('with_limits', 'http://127.0.0.1:8080/generate', '100 ms');
SELECT job_type, handler, endpoint, timeout_ms, max_concurrency
  FROM regen_queue.handler WHERE job_type = 'with_limits';

-- Written directly, the table still holds its checks.
SELECT regress_hh.try($$INSERT INTO regen_queue.handler (job_type, endpoint, timeout_ms)
                        VALUES ('direct', 'https://a.test/', 0)$$, false);
SELECT regress_hh.try($$INSERT INTO regen_queue.handler (job_type, endpoint, max_concurrency)
                        VALUES ('direct', 'https://a.test/', 5000)$$, false);

------------------------------------------------------------------------------------------------
-- Settings
------------------------------------------------------------------------------------------------

-- Server-wide (postgresql.conf, ALTER SYSTEM): a drain process reads them itself.
SELECT regress_hh.try($$SET regen_queue.http_concurrency = 4$$);
SELECT regress_hh.try($$SET regen_queue.http_endpoint = 'https://a.test/'$$);
ALTER SYSTEM SET regen_queue.http_endpoint = 'ftp://a.test/';
ALTER SYSTEM SET regen_queue.http_endpoint = 'https://u:p@a.test/';
ALTER SYSTEM SET regen_queue.http_concurrency = 0;
ALTER SYSTEM SET regen_queue.http_max_response_size = '100B';
SELECT regress_hh.try(format('ALTER DATABASE %I SET regen_queue.http_signing_secret = %L',
                             current_database(), 'x'));

-- The signing secret is for superusers' eyes only, and never in the log of its reload.
ALTER SYSTEM SET regen_queue.http_signing_secret = 'sign-with-this-secret';
SELECT pg_reload_conf();
\c
SET client_min_messages = warning;
CALL regress_hh.wait_for('regen_queue.http_signing_secret', 'sign-with-this-secret');
CREATE ROLE regress_hh_reader IN ROLE pg_read_all_settings;
CREATE ROLE regress_hh_nobody;
SET ROLE regress_hh_reader;
SELECT regress_hh.try($$SHOW regen_queue.http_signing_secret$$) AS reader_sees;
SELECT setting AS reader_reads FROM pg_settings WHERE name = 'regen_queue.http_signing_secret';
SET ROLE regress_hh_nobody;
SELECT regress_hh.try($$SHOW regen_queue.http_signing_secret$$) AS nobody_sees;
RESET ROLE;
SELECT current_setting('regen_queue.http_signing_secret') AS superuser_reads;
ALTER SYSTEM RESET regen_queue.http_signing_secret;
SELECT pg_reload_conf();
\c
SET client_min_messages = warning;
CALL regress_hh.wait_for('regen_queue.http_signing_secret', '');

------------------------------------------------------------------------------------------------
-- Draining jobs whose handler has no usable endpoint: the attempt fails for good at once
------------------------------------------------------------------------------------------------

SELECT regen_register_handler('sql_job', 'regress_hh.run(regen_queue.job_queue)');
INSERT INTO regen_queue.handler (job_type, endpoint) VALUES ('smuggled', 'file:///etc/passwd');
SELECT count(*) FROM (
    SELECT regen_enqueue(('00000000-0000-0000-0000-00000000000' || n)::uuid, job_type => t)
      FROM unnest(array['by_setting', 'smuggled', 'sql_job']) WITH ORDINALITY AS j(t, n)) s;
SELECT regen_drain();
SELECT job_type, status, attempts, result, last_error
  FROM regen_queue.job_queue ORDER BY job_type;

------------------------------------------------------------------------------------------------
-- The update from 1.1
------------------------------------------------------------------------------------------------

SELECT current_database() AS regress_database \gset
CREATE DATABASE regress_hh_update;
\c regress_hh_update
SET client_min_messages = warning;
CREATE EXTENSION regen_queue VERSION '1.1';
-- This library drains a 1.1 database's SQL handlers until the update runs.
CREATE FUNCTION public.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{"old": "schema"}'::jsonb;
SELECT regen_register_handler('plan_regeneration', 'public.run(regen_queue.job_queue)');
SELECT count(*) FROM (SELECT regen_enqueue(gen_random_uuid()) FROM generate_series(1, 3)) s;
SELECT regen_drain();
ALTER EXTENSION regen_queue UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'regen_queue';
SELECT column_name, data_type, is_nullable FROM information_schema.columns
 WHERE table_schema = 'regen_queue' AND table_name = 'handler' ORDER BY ordinal_position;
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p
  JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
 WHERE p.proname IN ('regen_register_http_handler', 'http_endpoint_problem', 'handler_kind')
 ORDER BY 1::text;
-- The registered SQL handler is kept as it was.
SELECT job_type, handler, endpoint FROM regen_queue.handler;
\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_hh_update;

DROP ROLE regress_hh_reader;
DROP ROLE regress_hh_nobody;
DELETE FROM regen_queue.handler;
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_hh CASCADE;
