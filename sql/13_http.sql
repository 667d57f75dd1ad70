-- What the HTTP shim calls besides regen_enqueue() and regen_drain(): the worker token check
-- and the reading of a request body; and the update from 1.0 that adds them.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_http;
GRANT USAGE ON SCHEMA regress_http TO PUBLIC;

-- The outcome of a statement: 'ok' (with its first value, if any), or its SQLSTATE and message.
CREATE FUNCTION regress_http.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    value text;
BEGIN
    EXECUTE sql INTO value;
    RETURN 'ok' || coalesce(': ' || value, '');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ': ' || message;
END
$$;
GRANT EXECUTE ON FUNCTION regress_http.try(text) TO PUBLIC;

CREATE FUNCTION regress_http.noop(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT regen_register_handler('plan_regeneration', 'regress_http.noop(regen_queue.job_queue)');

------------------------------------------------------------------------------------------------
-- regen_queue.http_check_token()
------------------------------------------------------------------------------------------------

-- The front end passes the SHA-256 digest of what a client presented (NULL: nothing).
-- No token outside production: anything passes, nothing included.
SET regen_queue.environment = 'development';
SET regen_queue.worker_token = '';
SELECT regress_http.try($$SELECT regen_queue.http_check_token(NULL)$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('anything'))$$);

-- No token in production: refused as a configuration problem (the shim answers 503).
SET regen_queue.environment = 'production';
SELECT regress_http.try($$SELECT regen_queue.http_check_token(NULL)$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('anything'))$$);

-- With a token: only that token, in any environment. A refusal is false, not an error.
SET regen_queue.worker_token = 's3cret-token-of-the-drain-route';
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-route'))$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(NULL)$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256(''))$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-rout'))$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-route '))$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('S3CRET-TOKEN-OF-THE-DRAIN-ROUTE'))$$);
-- The token itself is not its digest.
SELECT regress_http.try($$SELECT regen_queue.http_check_token('s3cret-token-of-the-drain-route'::bytea)$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(''::bytea)$$);
SET regen_queue.environment = 'staging';
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-route'))$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('wrong'))$$);

-- A token clients could never send in a header is refused when it is set.
SELECT regress_http.try($$SELECT set_config('regen_queue.worker_token', 'two words', false)$$);
SELECT regress_http.try($$SELECT set_config('regen_queue.worker_token', E'tab\there', false)$$);
SELECT regress_http.try($$SELECT set_config('regen_queue.worker_token', 'trailing ', false)$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-route'))$$);

-- A role with EXECUTE can ask, but reads neither the token nor a way to set it.
CREATE ROLE regress_http_shim;
GRANT USAGE ON SCHEMA regen_queue TO regress_http_shim;
GRANT EXECUTE ON FUNCTION regen_queue.http_check_token(bytea) TO regress_http_shim;
SET ROLE regress_http_shim;
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-route'))$$);
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('guess'))$$);
SELECT regress_http.try($$SELECT current_setting('regen_queue.worker_token')$$);
SELECT regress_http.try($$SELECT set_config('regen_queue.worker_token', 'mine', false)$$);
RESET ROLE;

-- Without EXECUTE (PUBLIC has none), no asking either.
CREATE ROLE regress_http_nobody;
SET ROLE regress_http_nobody;
SELECT regress_http.try($$SELECT regen_queue.http_check_token(sha256('s3cret-token-of-the-drain-route'))$$);
RESET ROLE;
RESET regen_queue.worker_token;
RESET regen_queue.environment;

------------------------------------------------------------------------------------------------
-- regen_queue.http_request_overrides()
------------------------------------------------------------------------------------------------

SELECT coalesce(body, '(null)') AS body,
       regress_http.try(format('SELECT regen_queue.http_request_overrides(%L)', body))
  FROM (VALUES (NULL), (''), (E'  \t '), ('{}'), ('{"overrides": {}}'),
               ('{"overrides": null}'), ('{"overrides": {"topic": "Rust", "weeklyHours": 5}}'),
               ('{"overrides": []}'), ('[]'), ('"text"'), ('null'), ('42'),
               ('{"overrides": {}, "userId": "x"}'), ('{"zeta": 1, "alpha": 2}'),
               ('{bad json'), ('{"overrides": {"topic": "Rust"}')) AS b(body);

-- The key at fault is also the error's column name, which the shim answers as "field".
CREATE FUNCTION regress_http.field_of(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    field text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, field = COLUMN_NAME;
    RETURN state || ' field ' || coalesce(nullif(field, ''), '(none)');
END
$$;
SELECT regress_http.field_of($$SELECT regen_queue.http_request_overrides('{"a\"b": 1}')$$);
SELECT regress_http.field_of($$SELECT regen_queue.http_request_overrides('[]')$$);
SELECT regress_http.field_of($$SELECT regen_enqueue(gen_random_uuid(), '{"weeklyHours": 81}')$$);
SELECT regress_http.field_of($$SELECT regen_enqueue(gen_random_uuid(), '{"a\"b": 1}')$$);
SELECT regress_http.field_of($$SELECT regen_enqueue(gen_random_uuid(), '[1]')$$);

-- Composed as the shim composes them: the overrides are regen_enqueue()'s to validate.
SELECT regress_http.try($$
    SELECT status FROM regen_enqueue('00000000-0000-0000-0000-000000000001',
                                     regen_queue.http_request_overrides('{"overrides": {"topic": "  Rust  "}}'))$$);
SELECT payload FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-0000-0000-000000000001';
SELECT regress_http.try($$
    SELECT status FROM regen_enqueue('00000000-0000-0000-0000-000000000002',
                                     regen_queue.http_request_overrides('{"overrides": {"weeklyHours": 81}}'))$$);
SELECT regress_http.try($$
    SELECT status FROM regen_enqueue('00000000-0000-0000-0000-000000000002',
                                     regen_queue.http_request_overrides('{"overrides": "topic"}'))$$);
SELECT count(*) AS jobs FROM regen_queue.job_queue;

------------------------------------------------------------------------------------------------
-- The update from 1.0 adds both functions, closed to PUBLIC like the rest
------------------------------------------------------------------------------------------------

SELECT current_database() AS regress_database \gset
CREATE DATABASE regress_http_update;
\c regress_http_update
SET client_min_messages = warning;
CREATE EXTENSION regen_queue VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'regen_queue';
SELECT count(*) AS http_functions FROM pg_proc WHERE proname LIKE 'http\_%'
   AND pronamespace = 'regen_queue'::regnamespace;
ALTER EXTENSION regen_queue UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'regen_queue';
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute,
       d.deptype AS belongs_to_extension
  FROM pg_proc p
  JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
                  AND d.refclassid = 'pg_extension'::regclass
 WHERE p.pronamespace = 'regen_queue'::regnamespace AND p.proname LIKE 'http\_%'
 ORDER BY 1::text;
SELECT regen_queue.http_request_overrides('{"overrides": {"notes": "x"}}');
\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_http_update;

DROP OWNED BY regress_http_shim;
DROP ROLE regress_http_shim;
DROP ROLE regress_http_nobody;
SELECT regen_unregister_handler('plan_regeneration');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_http CASCADE;
