-- A role that was granted nothing (pgtap_nobody), and one with only USAGE on schema
-- regen_queue (pgtap_usage_only), get 42501 from every function of the extension (found in the
-- catalog, called with real arguments) and from every statement on its tables. They cannot
-- read the worker token or the signing secret anywhere (SHOW, current_setting, pg_settings,
-- pg_file_settings, pg_db_role_setting, pg_proc), nor can a member of pg_read_all_settings,
-- which sees the token masked (the secret's mask needs a reload; sql/14_http_handlers shows
-- it). Nobody can store either in a catalog, not even a superuser with FROM CURRENT. No
-- regen_queue.* setting can be changed by SET, set_config, RESET, ALTER ROLE, ALTER DATABASE of
-- a database the role owns, or a function's SET clause (42501 for superuser settings, 55P02
-- for server-wide ones), nor with ALTER SYSTEM by any role of the README's grants. Nothing of
-- the queue changes meanwhile.
--
-- It runs in autocommit (CREATE DATABASE cannot run in a transaction), drains nothing, and
-- drops what it created when it ends.
SET client_min_messages = warning;
DELETE FROM regen_queue.job_queue;
DROP DATABASE IF EXISTS pgtap_nobody_db;
DO $$
BEGIN
    IF to_regrole('pgtap_usage_only') IS NOT NULL THEN
        REVOKE USAGE ON SCHEMA regen_queue FROM pgtap_usage_only;
    END IF;
END
$$;
DROP ROLE IF EXISTS pgtap_nobody;
DROP ROLE IF EXISTS pgtap_usage_only;
DROP ROLE IF EXISTS pgtap_reader;
CREATE ROLE pgtap_nobody;
CREATE ROLE pgtap_usage_only;
GRANT USAGE ON SCHEMA regen_queue TO pgtap_usage_only;
CREATE ROLE pgtap_reader IN ROLE pg_read_all_settings;
CREATE DATABASE pgtap_nobody_db OWNER pgtap_nobody;

SET regen_queue.worker_token = 'pgtap-no-grants-token';
-- In the configuration file too (not reloaded: the running value stays as it is).
ALTER SYSTEM SET regen_queue.worker_token = 'pgtap-file-token';
ALTER SYSTEM SET regen_queue.http_signing_secret = 'pgtap-file-secret';

-- A job in each state a role could try to change.
SELECT regen_enqueue('00000000-0000-4000-8000-00000000b001', job_type => 'pgtap_ok') \g /dev/null
INSERT INTO regen_queue.job_queue (id, plan_id, job_type, status, attempts, last_error,
                                   completed_at)
VALUES ('00000000-0000-4000-8000-00000000b0f2', '00000000-0000-4000-8000-00000000b002',
        'pgtap_ok', 'failed', 3, 'boom', now() - interval '2 days');
INSERT INTO regen_queue.job_queue (id, plan_id, job_type, status, attempts, started_at,
                                   lease_owner, lease_expires_at)
VALUES ('00000000-0000-4000-8000-00000000b0e3', '00000000-0000-4000-8000-00000000b003',
        'pgtap_ok', 'processing', 1, now(), 1, now() + interval '1 hour');

-- A function whose settings a superuser will try to change.
CREATE FUNCTION pg_temp.pgtap_target() RETURNS int LANGUAGE sql RETURN 1;

-- The queue as it is now, to compare with at the end.
CREATE TEMP TABLE rq_jobs_before AS SELECT to_jsonb(j) AS job FROM regen_queue.job_queue j;
CREATE TEMP TABLE rq_handlers_before AS SELECT to_jsonb(h) AS handler FROM regen_queue.handler h;

-- Every function and table of the extension.
CREATE TEMP VIEW rq_functions AS
SELECT p.oid, p.oid::regprocedure::text AS signature,
       format('%s.%I', p.pronamespace::regnamespace, p.proname) AS name
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue');

CREATE TEMP VIEW rq_tables AS
SELECT c.oid::regclass::text AS name,
       (SELECT quote_ident(a.attname) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum = 1) AS first_column
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind IN ('r', 'p', 'v')
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue');

-- A real value of each argument type the functions take; a function taking another type
-- fails its test until one is added here. (NULLs would not do: a strict function called with
-- a NULL constant is folded away before its privileges are checked.)
CREATE TEMP TABLE rq_samples (type regtype PRIMARY KEY, value text NOT NULL);
INSERT INTO rq_samples VALUES
    ('uuid', '00000000-0000-4000-8000-00000000b001'), ('jsonb', '{}'), ('text', 'pgtap_ok'),
    ('integer', '1'), ('timestamptz', '2030-01-01 00:00:00+00'), ('interval', '1 day'),
    ('regprocedure', 'pg_catalog.now()'), ('boolean', 'true'),
    ('bytea', '\x00');

-- Each function called with those values.
CREATE TEMP VIEW rq_calls AS
SELECT f.signature,
       format('SELECT %s(%s)', f.name,
              (SELECT string_agg(coalesce(quote_literal(s.value) || '::' || s.type::text,
                                          'NULL::' || t.type::text), ', ' ORDER BY t.n)
                 FROM unnest(p.proargtypes::oid[]::regtype[]) WITH ORDINALITY AS t(type, n)
                 LEFT JOIN rq_samples s ON s.type = t.type)) AS statement,
       (SELECT bool_and(s.type IS NOT NULL)
          FROM unnest(p.proargtypes::oid[]::regtype[]) AS t(type)
          LEFT JOIN rq_samples s ON s.type = t.type) IS NOT FALSE AS has_samples
  FROM rq_functions f JOIN pg_proc p ON p.oid = f.oid;

-- Statements on each table.
CREATE TEMP VIEW rq_table_statements AS
SELECT t.name, s.what, format(s.template, t.name, t.first_column) AS statement
  FROM rq_tables t,
       (VALUES ('SELECT', 'SELECT 1 FROM %s LIMIT 1'),
               ('INSERT', 'INSERT INTO %s DEFAULT VALUES'),
               ('UPDATE', 'UPDATE %s SET %2$s = %2$s'),
               ('DELETE', 'DELETE FROM %s'),
               ('TRUNCATE', 'TRUNCATE %s'),
               ('LOCK', 'LOCK TABLE %s IN ACCESS EXCLUSIVE MODE')) AS s(what, template);

-- Every regen_queue.* setting: those pg_settings lists, and the two it hides (contexts as the
-- README gives them), each with a value it accepts (its current one) and the SQLSTATE a role
-- that is not a superuser gets when it tries to set it.
CREATE TEMP TABLE rq_gucs AS
SELECT name, context, coalesce(setting, '') AS value FROM pg_settings
 WHERE name LIKE 'regen_queue.%'
UNION ALL
SELECT name, context, '' FROM (VALUES ('regen_queue.worker_token', 'superuser'),
                                      ('regen_queue.http_signing_secret', 'sighup'))
                              AS hidden(name, context);
CREATE TEMP TABLE rq_settings_before AS
SELECT name, current_setting(name) AS setting FROM rq_gucs;

CREATE TEMP VIEW rq_guc_statements AS
SELECT g.name, s.what, format(s.template, g.name, g.value) AS statement,
       CASE WHEN g.context = 'superuser' THEN '42501' ELSE '55P02' END AS sqlstate
  FROM rq_gucs g,
       (VALUES ('SET', 'SET %s = %L'),
               ('set_config', 'SELECT set_config(%L, %L, false)'),
               ('set_config local', 'SELECT set_config(%L, %L, true)'),
               ('RESET', 'RESET %s'),
               ('ALTER ROLE', 'ALTER ROLE pgtap_nobody SET %s = %L'),
               ('ALTER DATABASE', 'ALTER DATABASE pgtap_nobody_db SET %s = %L'),
               ('function SET', 'CREATE FUNCTION pg_temp.pgtap_probe() RETURNS int '
                                || 'LANGUAGE sql SET %s = %L RETURN 1')) AS s(what, template);

SELECT plan(38 + (SELECT 2 * count(*)::integer FROM rq_calls)
               + (SELECT 2 * count(*)::integer FROM rq_table_statements)
               + (SELECT count(*)::integer FROM rq_guc_statements));
SELECT pgtap_fixtures.share_pgtap_state('pgtap_nobody', 'pgtap_usage_only', 'pgtap_reader');
GRANT SELECT ON rq_calls, rq_table_statements, rq_guc_statements
    TO pgtap_nobody, pgtap_usage_only, pgtap_reader;

------------------------------------------------------------------------------------------------
-- Every function and every statement on the tables: 42501
------------------------------------------------------------------------------------------------

SELECT is_empty('SELECT signature FROM rq_calls WHERE NOT has_samples',
                'every argument type of the extension''s functions has a sample value');
-- Also functions that are not members of the extension but live in its schemas under its
-- names (an update script that created one without REVOKE would leave PUBLIC's default EXECUTE).
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p,
                         aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                   WHERE a.grantee = 0
                     AND (p.pronamespace = 'regen_queue'::regnamespace
                          OR (p.pronamespace = (SELECT extnamespace FROM pg_extension
                                                 WHERE extname = 'regen_queue')
                              AND p.proname LIKE 'regen\_%'))$$,
                'PUBLIC may execute no function in schema regen_queue and no regen_* function');

SET ROLE pgtap_nobody;
SELECT throws_ok(statement, '42501', NULL, 'pgtap_nobody: ' || signature) FROM rq_calls
 ORDER BY signature;
SELECT throws_ok(statement, '42501', NULL, format('pgtap_nobody: %s %s', what, name))
  FROM rq_table_statements ORDER BY name, what;
RESET ROLE;

SET ROLE pgtap_usage_only;
SELECT throws_ok(statement, '42501', NULL, 'pgtap_usage_only: ' || signature) FROM rq_calls
 ORDER BY signature;
SELECT throws_ok(statement, '42501', NULL, format('pgtap_usage_only: %s %s', what, name))
  FROM rq_table_statements ORDER BY name, what;
SELECT throws_ok('CREATE TABLE regen_queue.pgtap_intruder ()', '42501', NULL,
                 'pgtap_usage_only: cannot create a table in schema regen_queue');
SELECT throws_ok($$CREATE FUNCTION regen_queue.now() RETURNS timestamptz LANGUAGE sql
                   RETURN '2000-01-01'$$, '42501', NULL,
                 'pgtap_usage_only: cannot create a function in schema regen_queue');
SELECT throws_ok('ALTER TABLE regen_queue.job_queue DISABLE TRIGGER ALL', '42501', NULL,
                 'pgtap_usage_only: cannot alter job_queue');
SELECT throws_ok('DROP TABLE regen_queue.handler', '42501', NULL,
                 'pgtap_usage_only: cannot drop handler');
SELECT throws_ok('DROP EXTENSION regen_queue CASCADE', '42501', NULL,
                 'pgtap_usage_only: cannot drop the extension');
RESET ROLE;

-- The same as the session's user.
SET SESSION AUTHORIZATION pgtap_nobody;
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid())$$, '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_nobody: cannot enqueue');
SELECT throws_ok('SELECT regen_drain()', '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_nobody: cannot drain');
SELECT throws_ok($$SELECT regen_cancel('00000000-0000-4000-8000-00000000b0e3')$$, '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_nobody: cannot cancel the processing job');
SELECT throws_ok($$SELECT regen_retry('00000000-0000-4000-8000-00000000b0f2')$$, '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_nobody: cannot retry the failed job');
SELECT throws_ok($$SELECT regen_prune('0 s')$$, '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_nobody: cannot prune');
SELECT throws_ok($$SELECT regen_register_http_handler('pgtap_ok', 'http://127.0.0.1:9/')$$,
                 '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_nobody: cannot make pgtap_ok an HTTP handler');
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------------------------------
-- The worker token and the signing secret
------------------------------------------------------------------------------------------------

SELECT is((SELECT count(*) FROM pg_file_settings
            WHERE (name, setting) IN (('regen_queue.worker_token', 'pgtap-file-token'),
                                      ('regen_queue.http_signing_secret', 'pgtap-file-secret'))),
          2::bigint, 'a superuser finds the token and the secret in pg_file_settings');

SET ROLE pgtap_nobody;
SELECT throws_ok('SHOW regen_queue.worker_token', '42501', NULL,
                 'pgtap_nobody: SHOW regen_queue.worker_token');
SELECT throws_ok($$SELECT current_setting('regen_queue.worker_token', true)$$, '42501', NULL,
                 'pgtap_nobody: current_setting(''regen_queue.worker_token'', true)');
SELECT throws_ok('SHOW regen_queue.http_signing_secret', '42501', NULL,
                 'pgtap_nobody: SHOW regen_queue.http_signing_secret');
SELECT throws_ok($$SELECT current_setting('regen_queue.http_signing_secret')$$, '42501', NULL,
                 'pgtap_nobody: current_setting(''regen_queue.http_signing_secret'')');
SELECT throws_ok('SELECT * FROM pg_file_settings', '42501', NULL,
                 'pgtap_nobody: pg_file_settings');
SELECT throws_ok('SELECT * FROM pg_show_all_file_settings()', '42501', NULL,
                 'pgtap_nobody: pg_show_all_file_settings()');
SELECT is_empty($$SELECT name FROM pg_settings
                   WHERE name IN ('regen_queue.worker_token', 'regen_queue.http_signing_secret')
                      OR concat(setting, reset_val, boot_val) ~ 'pgtap-(no-grants|file)'$$,
                'pgtap_nobody: pg_settings shows neither, nor their values');
RESET ROLE;

SET ROLE pgtap_reader;
SELECT is(current_setting('regen_queue.worker_token'), '********',
          'a member of pg_read_all_settings sees the token masked');
SELECT is_empty($$SELECT name FROM pg_settings
                   WHERE concat(setting, reset_val, boot_val) ~ 'pgtap-(no-grants|file)'$$,
                'a member of pg_read_all_settings finds neither value in pg_settings');
SELECT throws_ok('SELECT * FROM pg_file_settings', '42501', NULL,
                 'a member of pg_read_all_settings cannot read pg_file_settings');
RESET ROLE;

-- Nobody can store either where every role can read it: role, database and function settings.
SELECT throws_ok($$CREATE FUNCTION pg_temp.pgtap_leak() RETURNS int LANGUAGE sql
                   SET regen_queue.worker_token FROM CURRENT RETURN 1$$, '42501', NULL,
                 'a superuser cannot keep the token in a function (SET ... FROM CURRENT)');
SELECT throws_ok($$ALTER FUNCTION pg_temp.pgtap_target()
                   SET regen_queue.worker_token FROM CURRENT$$, '42501', NULL,
                 'a superuser cannot keep the token in an existing function');
SELECT throws_ok('ALTER ROLE pgtap_nobody SET regen_queue.worker_token FROM CURRENT', '42501',
                 NULL, 'a superuser cannot keep the token in a role''s settings');
SELECT throws_ok('ALTER DATABASE pgtap_nobody_db SET regen_queue.worker_token FROM CURRENT',
                 '42501', NULL, 'a superuser cannot keep the token in a database''s settings');
SELECT throws_ok($$CREATE FUNCTION pg_temp.pgtap_leak() RETURNS int LANGUAGE sql
                   SET regen_queue.http_signing_secret FROM CURRENT RETURN 1$$, '55P02', NULL,
                 'a superuser cannot keep the secret in a function');
SELECT throws_ok('ALTER ROLE pgtap_nobody SET regen_queue.http_signing_secret = ''x''',
                 '55P02', NULL, 'a superuser cannot keep a secret in a role''s settings');
SELECT throws_ok('ALTER DATABASE pgtap_nobody_db SET regen_queue.http_signing_secret = ''x''',
                 '55P02', NULL, 'a superuser cannot keep a secret in a database''s settings');
SELECT is_empty($$SELECT 1 FROM pg_db_role_setting
                   WHERE array_to_string(setconfig, ' ') ~ 'worker_token|signing_secret|pgtap-'
                  UNION ALL
                  SELECT 1 FROM pg_proc
                   WHERE array_to_string(proconfig, ' ') ~ 'worker_token|signing_secret|pgtap-'$$,
                'no role, database or function setting holds the token or the secret');

ALTER SYSTEM RESET regen_queue.worker_token;
ALTER SYSTEM RESET regen_queue.http_signing_secret;

------------------------------------------------------------------------------------------------
-- The settings that guard the queue
------------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT name FROM rq_gucs WHERE context NOT IN ('superuser', 'sighup',
                                                                 'postmaster')$$,
                'every regen_queue setting is for superusers, the server or its start');
SELECT is_empty($$SELECT r.rolname, g.name, p.privilege
                    FROM rq_gucs g,
                         pg_roles r,
                         unnest(ARRAY['SET', 'ALTER SYSTEM']) AS p(privilege)
                   WHERE r.rolname IN ('pgtap_nobody', 'pgtap_usage_only', 'pgtap_reader',
                                       'app_role', 'worker_role', 'ops_role', 'shim_role')
                     AND has_parameter_privilege(r.oid, g.name, p.privilege)$$,
                'no role of the README''s grants, nor the three here, may SET or ALTER SYSTEM '
                'any regen_queue setting');

SET ROLE pgtap_nobody;
SELECT throws_ok(statement, sqlstate, NULL,
                 format('pgtap_nobody: %s of %s is refused with %s', what, name, sqlstate))
  FROM rq_guc_statements ORDER BY name, what;
RESET ROLE;

SELECT is_empty($$SELECT name, setting FROM rq_settings_before
                  EXCEPT SELECT name, current_setting(name) FROM rq_gucs$$,
                'every setting still has its value');
SELECT is_empty($$SELECT setconfig FROM pg_db_role_setting
                   WHERE setrole = 'pgtap_nobody'::regrole
                      OR setdatabase = (SELECT oid FROM pg_database
                                         WHERE datname = 'pgtap_nobody_db')$$,
                'pgtap_nobody stored no setting for itself or its database');

------------------------------------------------------------------------------------------------
-- Nothing of the queue changed
------------------------------------------------------------------------------------------------

SELECT set_eq('SELECT to_jsonb(j) FROM regen_queue.job_queue j', 'SELECT job FROM rq_jobs_before',
              'every job is exactly as it was');
SELECT set_eq('SELECT to_jsonb(h) FROM regen_queue.handler h',
              'SELECT handler FROM rq_handlers_before', 'every handler is exactly as it was');

SELECT * FROM finish();

RESET regen_queue.worker_token;
DELETE FROM regen_queue.job_queue;
DISCARD TEMP;
DROP DATABASE pgtap_nobody_db;
REVOKE USAGE ON SCHEMA regen_queue FROM pgtap_usage_only;
DROP ROLE pgtap_nobody;
DROP ROLE pgtap_usage_only;
DROP ROLE pgtap_reader;
