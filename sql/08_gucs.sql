-- GUCs: the master switch, the drain bound, superuser-only settings and the hidden token.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_gucs;
GRANT USAGE ON SCHEMA regress_gucs TO PUBLIC;

-- The outcome of a statement: 'ok' (with its first value, if any), or its SQLSTATE and message.
CREATE FUNCTION regress_gucs.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    value text;
BEGIN
    IF sql ~* '^\s*(re)?set\M' THEN
        EXECUTE sql;
    ELSE
        EXECUTE sql INTO value;
    END IF;
    RETURN 'ok' || coalesce(': ' || value, '');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ': ' || message;
END
$$;
GRANT EXECUTE ON FUNCTION regress_gucs.try(text) TO PUBLIC;

-- How many rows of SHOW ALL name the parameter.
CREATE FUNCTION regress_gucs.in_show_all(parameter text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    found bigint := 0;
    setting record;
BEGIN
    FOR setting IN EXECUTE 'SHOW ALL' LOOP
        IF setting.name = parameter THEN
            found := found + 1;
        END IF;
    END LOOP;
    RETURN found;
END
$$;
GRANT EXECUTE ON FUNCTION regress_gucs.in_show_all(text) TO PUBLIC;

CREATE FUNCTION regress_gucs.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{}'::jsonb;
SELECT regen_register_handler('regress_gucs', 'regress_gucs.run(regen_queue.job_queue)');

-- The defaults.
SELECT name, setting, unit, context, vartype, min_val, max_val
  FROM pg_settings WHERE name LIKE 'regen_queue.%' ORDER BY name;

\pset tuples_only on

-- regen_queue.enabled = off refuses enqueue and drain with 55000.
SET regen_queue.enabled = off;
SELECT regress_gucs.try($$SELECT regen_enqueue('00000000-0000-0000-0000-000000000001',
                                               job_type => 'regress_gucs')$$);
SELECT regress_gucs.try($$SELECT regen_drain()$$);
SELECT regress_gucs.try($$SELECT regen_drain(0)$$);
RESET regen_queue.enabled;
SELECT count(*) AS jobs FROM regen_queue.job_queue;

-- On again, both work.
SELECT regress_gucs.try($$SELECT (regen_enqueue('00000000-0000-0000-0000-000000000001',
                                                job_type => 'regress_gucs')).status$$);
SELECT regress_gucs.try($$SELECT regen_drain()$$);

-- regen_queue.max_jobs_per_drain = 0 makes every drain a no-op, whatever its max_jobs.
SELECT regress_gucs.try($$SELECT (regen_enqueue('00000000-0000-0000-0000-000000000002',
                                                job_type => 'regress_gucs')).status$$);
SET regen_queue.max_jobs_per_drain = 0;
SELECT regress_gucs.try($$SELECT regen_drain()$$);
SELECT regress_gucs.try($$SELECT regen_drain(10)$$);
SELECT status, attempts FROM regen_queue.job_queue
 WHERE plan_id = '00000000-0000-0000-0000-000000000002';
RESET regen_queue.max_jobs_per_drain;
SELECT regress_gucs.try($$SELECT regen_drain()$$);

-- Ranges and values are checked (22023).
SELECT regress_gucs.try($$SET regen_queue.max_jobs_per_drain = -1$$);
SELECT regress_gucs.try($$SET regen_queue.max_jobs_per_drain = 1000001$$);
SELECT regress_gucs.try($$SET regen_queue.max_jobs_per_drain = 1000000$$);
RESET regen_queue.max_jobs_per_drain;
SELECT regress_gucs.try($$SET regen_queue.enabled = 'maybe'$$);
SELECT regress_gucs.try($$SET regen_queue.environment = 'prod'$$);
SELECT regress_gucs.try($$SET regen_queue.environment = 'production'$$);
RESET regen_queue.environment;
SELECT regress_gucs.try($$SET regen_queue.lease_timeout = 0$$);
SELECT regress_gucs.try($$SET regen_queue.lease_timeout = '8d'$$);
SELECT regress_gucs.try($$SET regen_queue.lease_timeout = '90s'$$);
RESET regen_queue.lease_timeout;
-- settings of the background worker cannot be SET at all
SELECT regress_gucs.try($$SET regen_queue.drain_interval = '5s'$$);
SELECT regress_gucs.try($$SET regen_queue.databases = 'postgres'$$);
SELECT regress_gucs.try($$SET regen_queue.worker_role = 'postgres'$$);
-- the prefix is reserved
SELECT regress_gucs.try($$SET regen_queue.no_such_setting = 1$$);

-- A superuser can set and read the token; it stays set for the rest of this section.
SET regen_queue.worker_token = 's3cret';
SELECT regress_gucs.try($$SHOW regen_queue.worker_token$$);

-- A role that is not a superuser cannot loosen anything with SET (42501) ...
CREATE ROLE regress_rq_app;
SET ROLE regress_rq_app;
SELECT regress_gucs.try($$SET regen_queue.enabled = off$$);
SELECT regress_gucs.try($$SET regen_queue.enabled = on$$);
SELECT regress_gucs.try($$SET regen_queue.max_jobs_per_drain = 5$$);
SELECT regress_gucs.try($$SET regen_queue.worker_token = 'mine'$$);
SELECT regress_gucs.try($$SET regen_queue.inline_processing = on$$);
SELECT regress_gucs.try($$SET regen_queue.environment = 'test'$$);
SELECT regress_gucs.try($$SET regen_queue.lease_timeout = '10s'$$);
SELECT regress_gucs.try($$SELECT set_config('regen_queue.enabled', 'off', true)$$);
SELECT regress_gucs.try($$SELECT set_config('regen_queue.max_jobs_per_drain', '1', false)$$);

-- ... can read the ordinary settings, but never the token.
SELECT regress_gucs.try($$SHOW regen_queue.enabled$$);
SELECT regress_gucs.try($$SHOW regen_queue.max_jobs_per_drain$$);
SELECT regress_gucs.try($$SHOW regen_queue.worker_token$$);
SELECT regress_gucs.try($$SELECT current_setting('regen_queue.worker_token')$$);
SELECT regress_gucs.try($$SELECT current_setting('regen_queue.worker_token', true)$$);
SELECT count(*) FROM pg_settings WHERE name = 'regen_queue.worker_token';
SELECT regress_gucs.in_show_all('regen_queue.worker_token') AS token_in_show_all,
       regress_gucs.in_show_all('regen_queue.enabled') AS enabled_in_show_all;
RESET ROLE;

-- Not even a member of pg_read_all_settings may read the token (PostgreSQL would let it read a
-- superuser-only setting): it sees a mask, wherever it looks.
GRANT pg_read_all_settings TO regress_rq_app;
SET ROLE regress_rq_app;
SELECT regress_gucs.try($$SHOW regen_queue.worker_token$$) AS shown;
SELECT current_setting('regen_queue.worker_token') AS current_setting;
SELECT setting FROM pg_settings WHERE name = 'regen_queue.worker_token';
SELECT count(*) AS settings_holding_the_token
  FROM pg_settings WHERE setting LIKE '%' || 's3cret' || '%' OR reset_val LIKE '%s3cret%';
RESET ROLE;
-- A superuser still reads it.
SELECT current_setting('regen_queue.worker_token') AS superuser_reads;
RESET regen_queue.worker_token;

-- An error a client causes is sent back as it is, never with the token masked: otherwise any
-- role could test guesses of the token by sending them (the line stays out of the server log).
SET regen_queue.worker_token = 'hunter2hunter2';
SET ROLE regress_rq_app;
\set VERBOSITY terse
SELECT 'guess-one hunter2hunter2 guess-two'::int;
\set VERBOSITY default
RESET ROLE;
RESET regen_queue.worker_token;

-- The token cannot be set per database, role or function: those settings live in catalogs
-- every role can read.
SELECT regress_gucs.try($$ALTER ROLE regress_rq_app SET regen_queue.worker_token = 'x'$$);
SELECT regress_gucs.try(format('ALTER DATABASE %I SET regen_queue.worker_token = %L',
                               current_database(), 'x'));
SELECT regress_gucs.try($$CREATE FUNCTION regress_gucs.leaky() RETURNS int LANGUAGE sql
                          SET regen_queue.worker_token = 'x' RETURN 1$$);
SELECT count(*) AS stored_anywhere FROM pg_db_role_setting
 WHERE array_to_string(setconfig, ',') LIKE '%worker_token%';

\pset tuples_only off

-- Everything was put back.
SELECT name, setting FROM pg_settings
 WHERE name IN ('regen_queue.enabled', 'regen_queue.max_jobs_per_drain',
                'regen_queue.environment', 'regen_queue.lease_timeout')
 ORDER BY name;

SELECT regen_unregister_handler('regress_gucs');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_gucs CASCADE;
REVOKE pg_read_all_settings FROM regress_rq_app;
DROP ROLE regress_rq_app;
