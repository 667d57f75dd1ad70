-- Privileges: PUBLIC gets nothing, and the GRANT block of README.md's "Privileges" section
-- (applied by scripts/pgtap.sh before the suites run) gives each role exactly its part:
--   app_role     queues jobs with regen_enqueue, and nothing else;
--   worker_role  runs regen_drain() with its handlers, and cannot queue, reconfigure or rewrite jobs;
--   ops_role     regen_stats, regen_retry, regen_cancel, regen_prune, and nothing else;
--   shim_role    the HTTP shim: app_role's and worker_role's part, regen_stats, and asking
--                whether a worker token matches (never reading it).
-- Each role is tried with SET ROLE (session user postgres) and SET SESSION AUTHORIZATION.
--
-- The drains must see committed jobs, so this suite runs in autocommit: it empties
-- regen_queue.job_queue when it starts and when it ends.
SET client_min_messages = warning;
DELETE FROM regen_queue.job_queue;
DROP ROLE IF EXISTS pgtap_fresh;
CREATE ROLE pgtap_fresh;
SET regen_queue.worker_token = 'pgtap-secret';

SELECT plan(122);
SELECT pgtap_fixtures.share_pgtap_state('app_role', 'worker_role', 'ops_role', 'pgtap_worker_login',
                                        'shim_role');

-- Every member of the extension that can carry privileges.
CREATE TEMP VIEW rq_functions AS
SELECT p.oid, p.oid::regprocedure::text AS signature, p.proacl
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue');

CREATE TEMP VIEW rq_relations AS
SELECT c.oid, c.oid::regclass::text AS name, c.relacl
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue');

-- Run a drain and answer its counts, or the error it raised (so that a failing drain fails one
-- test instead of ending the suite).
CREATE FUNCTION pg_temp.drain_outcome() RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN regen_drain();
EXCEPTION WHEN OTHERS THEN
    RETURN jsonb_build_object('sqlstate', SQLSTATE, 'error', SQLERRM);
END
$$;

CREATE FUNCTION pg_temp.counts(processed integer, completed integer, failed integer) RETURNS jsonb
LANGUAGE sql
RETURN jsonb_build_object('ok', true, 'processedCount', processed, 'completedCount', completed,
                          'failedCount', failed);

------------------------------------------------------------------------------------------------
-- PUBLIC, and a role that was granted nothing
------------------------------------------------------------------------------------------------

SELECT ok((SELECT count(*) FROM rq_functions) = 15, 'the extension has its fifteen functions');
SELECT is_empty('SELECT signature FROM rq_functions WHERE proacl IS NULL',
                'every extension function has an explicit ACL (a NULL one lets PUBLIC execute)');
SELECT is_empty($$SELECT signature, a.privilege_type FROM rq_functions, aclexplode(proacl) a
                   WHERE a.grantee = 0$$,
                'PUBLIC has no privilege on any extension function');
SELECT is_empty($$SELECT name, a.privilege_type FROM rq_relations, aclexplode(relacl) a
                   WHERE a.grantee = 0$$,
                'PUBLIC has no privilege on any extension table');
SELECT is_empty($$SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a
                   WHERE n.nspname = 'regen_queue' AND a.grantee = 0$$,
                'PUBLIC has no privilege on schema regen_queue');

SELECT is_empty($$SELECT signature FROM rq_functions WHERE has_function_privilege('pgtap_fresh', oid, 'EXECUTE')$$,
                'a fresh role cannot execute any extension function');
SELECT is_empty($$SELECT name, p FROM rq_relations,
                          unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
                   WHERE has_table_privilege('pgtap_fresh', oid, p)$$,
                'a fresh role has no privilege on any extension table');
SELECT is_empty($$SELECT name FROM rq_relations
                   WHERE has_any_column_privilege('pgtap_fresh', oid, 'SELECT, INSERT, UPDATE, REFERENCES')$$,
                'a fresh role has no privilege on any column of them');
SELECT ok(NOT has_schema_privilege('pgtap_fresh', 'regen_queue', 'USAGE'),
          'a fresh role has no USAGE on schema regen_queue');
SELECT ok(NOT has_schema_privilege('pgtap_fresh', 'regen_queue', 'CREATE'),
          'a fresh role has no CREATE on schema regen_queue');
SELECT is(current_setting('regen_queue.worker_token'), 'pgtap-secret', 'a superuser reads the worker token');

------------------------------------------------------------------------------------------------
-- The grants in the catalog: exactly what the README block gives
------------------------------------------------------------------------------------------------

SELECT set_eq($$SELECT signature FROM rq_functions WHERE has_function_privilege('app_role', oid, 'EXECUTE')$$,
              ARRAY['regen_enqueue(uuid,jsonb,uuid,integer,timestamp with time zone,integer,text)'],
              'app_role can execute regen_enqueue and no other extension function');
SELECT set_eq($$SELECT signature FROM rq_functions WHERE has_function_privilege('worker_role', oid, 'EXECUTE')$$,
              ARRAY['regen_drain(integer)'],
              'worker_role can execute regen_drain and no other extension function');
SELECT set_eq($$SELECT signature FROM rq_functions WHERE has_function_privilege('ops_role', oid, 'EXECUTE')$$,
              ARRAY['regen_stats()', 'regen_retry(uuid)', 'regen_cancel(uuid)', 'regen_prune(interval,integer)'],
              'ops_role can execute regen_stats, regen_retry, regen_cancel, regen_prune and nothing else');

SELECT schema_privs_are('regen_queue', 'app_role', ARRAY[]::text[], 'app_role has no privilege on schema regen_queue');
SELECT schema_privs_are('regen_queue', 'worker_role', ARRAY['USAGE'], 'worker_role has USAGE on schema regen_queue');
SELECT schema_privs_are('regen_queue', 'ops_role', ARRAY['USAGE'], 'ops_role has USAGE on schema regen_queue');

SELECT table_privs_are('regen_queue', 'job_queue', 'app_role', ARRAY[]::text[], 'app_role has no privilege on job_queue');
SELECT table_privs_are('regen_queue', 'handler', 'app_role', ARRAY[]::text[], 'app_role has no privilege on handler');
SELECT table_privs_are('regen_queue', 'job_queue', 'worker_role', ARRAY['SELECT'], 'worker_role reads job_queue');
SELECT table_privs_are('regen_queue', 'handler', 'worker_role', ARRAY['SELECT'], 'worker_role reads handler');
SELECT table_privs_are('regen_queue', 'job_queue', 'ops_role', ARRAY['SELECT'],
                       'ops_role reads job_queue, and changes it only through the functions');
SELECT table_privs_are('regen_queue', 'handler', 'ops_role', ARRAY[]::text[], 'ops_role has no privilege on handler');

CREATE TEMP VIEW rq_column_grants AS
SELECT x.grantee::regrole::text AS role, a.attname::text AS col, x.privilege_type AS privilege
  FROM pg_attribute a, aclexplode(a.attacl) x
 WHERE a.attrelid IN ('regen_queue.job_queue'::regclass, 'regen_queue.handler'::regclass);

SELECT is_empty($$SELECT col FROM rq_column_grants WHERE role IN ('app_role', 'public')$$,
                'no column privileges for app_role or PUBLIC');
SELECT set_eq($$SELECT col, privilege FROM rq_column_grants WHERE role = 'worker_role'$$,
              $$VALUES ('status', 'UPDATE'), ('attempts', 'UPDATE'), ('result', 'UPDATE'),
                       ('last_error', 'UPDATE'), ('scheduled_for', 'UPDATE'), ('started_at', 'UPDATE'),
                       ('completed_at', 'UPDATE'), ('updated_at', 'UPDATE'), ('lease_owner', 'UPDATE'),
                       ('lease_expires_at', 'UPDATE'), ('lease_drain', 'UPDATE'), ('lease_size', 'UPDATE'),
                       ('run_alone', 'UPDATE')$$,
              'worker_role updates only the job columns the drain writes');
SELECT is_empty($$SELECT col FROM rq_column_grants WHERE role = 'ops_role'$$,
                'no column privileges for ops_role');

------------------------------------------------------------------------------------------------
-- app_role: queues jobs, and nothing else
------------------------------------------------------------------------------------------------

SET ROLE app_role;
SELECT is((regen_enqueue('00000000-0000-4000-8000-000000000011')).status, 'pending',
          'app_role: regen_enqueue queues a job');
SELECT lives_ok($$SELECT regen_enqueue('00000000-0000-4000-8000-000000000012', '{"topic": "Go in a week"}',
                                       job_type => 'pgtap_ok', priority => 5)$$,
                'app_role: regen_enqueue with overrides, job type and priority');
SELECT lives_ok($$SELECT regen_enqueue('00000000-0000-4000-8000-000000000021', job_type => 'pgtap_fail')$$,
                'app_role: regen_enqueue of a job that will fail');
SELECT lives_ok($$SELECT regen_enqueue('00000000-0000-4000-8000-000000000031', job_type => 'pgtap_private')$$,
                'app_role: regen_enqueue of a job whose handler the worker may not run');
SELECT throws_ok($$SELECT regen_enqueue('00000000-0000-4000-8000-000000000011')$$, '23505', NULL,
                 'app_role: a duplicate is refused with 23505');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), '{"topic": 1}')$$, '22023', NULL,
                 'app_role: bad overrides are refused with 22023');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), job_type => 'pgtap_unhandled')$$,
                 '42704', NULL,
                 'app_role: a job type without handler is refused with 42704');

SELECT throws_ok('SELECT regen_drain()', '42501', NULL, 'app_role cannot drain');
SELECT throws_ok('SELECT regen_stats()', '42501', NULL, 'app_role cannot read regen_stats()');
SELECT throws_ok('SELECT regen_retry(gen_random_uuid())',
                 '42501', NULL, 'app_role cannot retry jobs');
SELECT throws_ok('SELECT regen_cancel(gen_random_uuid())',
                 '42501', NULL, 'app_role cannot cancel jobs');
SELECT throws_ok($$SELECT regen_prune('1 day')$$, '42501', NULL, 'app_role cannot prune jobs');
SELECT throws_ok($$SELECT regen_register_handler('pgtap_ok', 'pgtap_fixtures.ok_handler(regen_queue.job_queue)')$$,
                 '42501', NULL, 'app_role cannot register handlers');
SELECT throws_ok($$SELECT regen_unregister_handler('pgtap_ok')$$,
                 '42501', NULL, 'app_role cannot unregister handlers');
SELECT throws_ok($$SELECT regen_queue.complete_job(gen_random_uuid(), 1, '{}')$$, '42501', NULL,
                 'app_role cannot complete jobs');
SELECT throws_ok('SELECT status FROM regen_queue.job_queue',
                 '42501', NULL, 'app_role cannot read job_queue');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET status = 'pending'$$, '42501', NULL,
                 'app_role cannot update job_queue');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id) VALUES (gen_random_uuid())$$,
                 '42501', NULL,
                 'app_role cannot insert into job_queue directly');
SELECT throws_ok('DELETE FROM regen_queue.job_queue',
                 '42501', NULL, 'app_role cannot delete from job_queue');
SELECT throws_ok('SELECT * FROM regen_queue.handler',
                 '42501', NULL, 'app_role cannot read handler');
SELECT throws_ok($$SELECT current_setting('regen_queue.worker_token')$$, '42501', NULL,
                 'app_role cannot read the worker token with current_setting');
SELECT throws_ok('SHOW regen_queue.worker_token',
                 '42501', NULL, 'app_role cannot SHOW the worker token');
SELECT throws_ok($$SET regen_queue.enabled = off$$,
                 '42501', NULL, 'app_role cannot switch the queue off');
SELECT throws_ok($$SELECT current_setting('regen_queue.worker_token', true)$$, '42501', NULL,
                 'app_role cannot read the worker token with current_setting(..., missing_ok)');
RESET ROLE;

SET SESSION AUTHORIZATION app_role;
SELECT is((regen_enqueue('00000000-0000-4000-8000-000000000013', job_type => 'pgtap_ok')).status, 'pending',
          'SESSION AUTHORIZATION app_role: regen_enqueue queues a job');
SELECT throws_ok('SELECT regen_drain()',
                 '42501', NULL, 'SESSION AUTHORIZATION app_role: cannot drain');
SELECT throws_ok('SELECT status FROM regen_queue.job_queue', '42501', NULL,
                 'SESSION AUTHORIZATION app_role: cannot read job_queue');
RESET SESSION AUTHORIZATION;

SELECT is((SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'), 5::bigint,
          'app_role queued five jobs');

------------------------------------------------------------------------------------------------
-- worker_role: drains, with its handlers, and nothing else
------------------------------------------------------------------------------------------------

-- A job whose process died during its first attempt: the drain reclaims it before claiming.
INSERT INTO regen_queue.job_queue
       (id, plan_id, job_type, status, attempts, started_at, lease_owner, lease_size, lease_expires_at)
VALUES ('00000000-0000-4000-8000-00000000e041', '00000000-0000-4000-8000-000000000041', 'pgtap_ok',
        'processing', 1, now() - interval '10 minutes', 1, 1, now() - interval '5 minutes');

SET ROLE worker_role;
SELECT is(pg_temp.drain_outcome(), pg_temp.counts(6, 4, 2),
          'worker_role drains: the reclaimed job and four completed, two failed');
RESET ROLE;

SELECT results_eq($$SELECT plan_id, status::text, attempts,
                           result IS NOT DISTINCT FROM
                               CASE WHEN status = 'completed' THEN jsonb_build_object('handled', id) END
                      FROM regen_queue.job_queue ORDER BY plan_id$$,
                  $$VALUES ('00000000-0000-4000-8000-000000000011'::uuid, 'completed', 1, true),
                           ('00000000-0000-4000-8000-000000000012', 'completed', 1, true),
                           ('00000000-0000-4000-8000-000000000013', 'completed', 1, true),
                           ('00000000-0000-4000-8000-000000000021', 'failed', 1, true),
                           ('00000000-0000-4000-8000-000000000031', 'failed', 1, true),
                           ('00000000-0000-4000-8000-000000000041', 'completed', 2, true)$$,
                  'worker_role''s drain claimed, completed, failed and reclaimed the jobs');
SELECT matches((SELECT last_error FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-4000-8000-000000000021'),
               '^RQ001: ', 'the failing handler''s error is recorded');
SELECT matches((SELECT last_error FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-4000-8000-000000000031'),
               '^42501: permission denied for function private_handler',
               'a handler worker_role may not execute fails its job with 42501');

SET ROLE worker_role;
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid())$$,
                 '42501', NULL, 'worker_role cannot queue jobs');
SELECT throws_ok('SELECT regen_stats()', '42501', NULL, 'worker_role cannot read regen_stats()');
SELECT throws_ok('SELECT regen_retry(gen_random_uuid())',
                 '42501', NULL, 'worker_role cannot retry jobs');
SELECT throws_ok('SELECT regen_cancel(gen_random_uuid())',
                 '42501', NULL, 'worker_role cannot cancel jobs');
SELECT throws_ok($$SELECT regen_prune('1 day')$$, '42501', NULL, 'worker_role cannot prune jobs');
SELECT throws_ok($$SELECT regen_register_handler('pgtap_ok', 'pgtap_fixtures.private_handler(regen_queue.job_queue)')$$,
                 '42501', NULL, 'worker_role cannot register handlers');
SELECT throws_ok($$SELECT regen_unregister_handler('pgtap_ok')$$,
                 '42501', NULL, 'worker_role cannot unregister handlers');
SELECT throws_ok($$SELECT regen_queue.complete_job(gen_random_uuid(), 1, '{}')$$, '42501', NULL,
                 'worker_role cannot call complete_job');
SELECT throws_ok($$SELECT regen_queue.fail_job(gen_random_uuid(), 1, 'x')$$, '42501', NULL,
                 'worker_role cannot call fail_job');
SELECT throws_ok($$INSERT INTO regen_queue.handler (job_type, handler)
                   VALUES ('pgtap_evil', 'pgtap_fixtures.ok_handler(regen_queue.job_queue)')$$,
                 '42501', NULL, 'worker_role cannot insert handlers');
SELECT throws_ok($$UPDATE regen_queue.handler SET handler = 'pgtap_fixtures.fail_handler(regen_queue.job_queue)'$$,
                 '42501', NULL, 'worker_role cannot change handlers');
SELECT throws_ok('DELETE FROM regen_queue.handler',
                 '42501', NULL, 'worker_role cannot delete handlers');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id) VALUES (gen_random_uuid())$$,
                 '42501', NULL,
                 'worker_role cannot insert jobs');
SELECT throws_ok('DELETE FROM regen_queue.job_queue',
                 '42501', NULL, 'worker_role cannot delete jobs');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET payload = '{}'$$, '42501', NULL,
                 'worker_role cannot change a job''s payload');
SELECT throws_ok('UPDATE regen_queue.job_queue SET priority = 0', '42501', NULL,
                 'worker_role cannot change a job''s priority');
SELECT throws_ok('UPDATE regen_queue.job_queue SET plan_id = gen_random_uuid()', '42501', NULL,
                 'worker_role cannot change a job''s plan');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET job_type = 'pgtap_ok'$$, '42501', NULL,
                 'worker_role cannot change a job''s type');
SELECT throws_ok('UPDATE regen_queue.job_queue SET max_attempts = 100', '42501', NULL,
                 'worker_role cannot change a job''s max_attempts');
SELECT throws_ok($$SELECT current_setting('regen_queue.worker_token')$$, '42501', NULL,
                 'worker_role cannot read the worker token');
SELECT throws_ok('SET regen_queue.max_jobs_per_drain = 1000', '42501', NULL,
                 'worker_role cannot raise the drain bound');
RESET ROLE;

-- A login role that is a member of worker_role, as a worker usually connects.
SELECT regen_enqueue('00000000-0000-4000-8000-000000000014', job_type => 'pgtap_ok') \g /dev/null
SET SESSION AUTHORIZATION pgtap_worker_login;
SELECT is(pg_temp.drain_outcome(), pg_temp.counts(1, 1, 0),
          'SESSION AUTHORIZATION pgtap_worker_login (a member of worker_role): drains');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid())$$, '42501', NULL,
                 'SESSION AUTHORIZATION pgtap_worker_login: cannot queue jobs');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT status::text FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-4000-8000-000000000014'),
          'completed', 'pgtap_worker_login''s drain completed the job');

-- worker_role itself as the session user. It is NOLOGIN, like app_role and ops_role: a drain
-- must still work, since the role is allowed to call regen_drain() and nothing asks it to log in.
SELECT regen_enqueue('00000000-0000-4000-8000-000000000015', job_type => 'pgtap_ok') \g /dev/null
SET SESSION AUTHORIZATION worker_role;
SELECT is(pg_temp.drain_outcome(), pg_temp.counts(1, 1, 0),
          'SESSION AUTHORIZATION worker_role: drains');
SELECT throws_ok('SELECT regen_stats()',
                 '42501', NULL, 'SESSION AUTHORIZATION worker_role: cannot read regen_stats()');
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------------------------------
-- ops_role: stats, retry, cancel, prune, and nothing else
------------------------------------------------------------------------------------------------

DELETE FROM regen_queue.job_queue;
INSERT INTO regen_queue.job_queue (id, plan_id, job_type, status, attempts, last_error, completed_at)
VALUES ('00000000-0000-4000-8000-00000000f001', '00000000-0000-4000-8000-000000000061', 'pgtap_ok',
        'failed', 3, 'boom', now() - interval '2 hours'),
       ('00000000-0000-4000-8000-00000000f002', '00000000-0000-4000-8000-000000000062', 'pgtap_ok',
        'completed', 1, NULL, now() - interval '2 days'),
       ('00000000-0000-4000-8000-00000000f003', '00000000-0000-4000-8000-000000000063', 'pgtap_ok',
        'failed', 1, 'recent', now() - interval '1 minute');
INSERT INTO regen_queue.job_queue (id, plan_id, job_type)
VALUES ('00000000-0000-4000-8000-00000000f004', '00000000-0000-4000-8000-000000000064', 'pgtap_ok'),
       ('00000000-0000-4000-8000-00000000f005', '00000000-0000-4000-8000-000000000065', 'pgtap_ok');

SET ROLE ops_role;
SELECT results_eq('SELECT pending, due, processing, completed, failed, failed_last_hour FROM regen_stats()',
                  $$VALUES (2::bigint, 2::bigint, 0::bigint, 1::bigint, 2::bigint, 1::bigint)$$,
                  'ops_role reads regen_stats()');
SELECT is((regen_retry('00000000-0000-4000-8000-00000000f001')).status, 'pending',
          'ops_role retries a failed job');
SELECT is((regen_cancel('00000000-0000-4000-8000-00000000f004')).last_error, 'cancelled by postgres',
          'ops_role cancels a pending job');
SELECT is(regen_prune('1 day'), 1::bigint, 'ops_role prunes the job that finished two days ago');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid())$$,
                 '42501', NULL, 'ops_role cannot queue jobs');
SELECT throws_ok('SELECT regen_drain()', '42501', NULL, 'ops_role cannot drain');
SELECT throws_ok($$SELECT regen_register_handler('pgtap_ok', 'pgtap_fixtures.private_handler(regen_queue.job_queue)')$$,
                 '42501', NULL, 'ops_role cannot register handlers');
SELECT throws_ok($$SELECT regen_unregister_handler('pgtap_ok')$$,
                 '42501', NULL, 'ops_role cannot unregister handlers');
SELECT throws_ok($$SELECT regen_queue.complete_job(gen_random_uuid(), 1, '{}')$$, '42501', NULL,
                 'ops_role cannot call complete_job');
SELECT throws_ok('SELECT * FROM regen_queue.handler',
                 '42501', NULL, 'ops_role cannot read handler');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id) VALUES (gen_random_uuid())$$,
                 '42501', NULL,
                 'ops_role cannot insert jobs');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET payload = '{}'$$, '42501', NULL,
                 'ops_role cannot change a job''s payload');
SELECT throws_ok('UPDATE regen_queue.job_queue SET priority = 0', '42501', NULL,
                 'ops_role cannot change a job''s priority');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET result = '{}'$$, '42501', NULL,
                 'ops_role cannot change a job''s result');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET status = 'pending'$$, '42501', NULL,
                 'ops_role cannot change a job''s status by hand');
SELECT throws_ok('DELETE FROM regen_queue.job_queue', '42501', NULL,
                 'ops_role cannot delete jobs by hand (regen_prune deletes finished ones)');
SELECT throws_ok($$SELECT current_setting('regen_queue.worker_token')$$, '42501', NULL,
                 'ops_role cannot read the worker token');
SELECT throws_ok('SET regen_queue.enabled = off', '42501', NULL,
                 'ops_role cannot switch the queue off with SET (ALTER SYSTEM is for superusers)');
RESET ROLE;

SELECT results_eq($$SELECT id, status::text, attempts FROM regen_queue.job_queue ORDER BY id$$,
                  $$VALUES ('00000000-0000-4000-8000-00000000f001'::uuid, 'pending', 0),
                           ('00000000-0000-4000-8000-00000000f003', 'failed', 1),
                           ('00000000-0000-4000-8000-00000000f004', 'failed', 0),
                           ('00000000-0000-4000-8000-00000000f005', 'pending', 0)$$,
                  'ops_role''s retry, cancel and prune changed exactly those jobs');

SET SESSION AUTHORIZATION ops_role;
SELECT is((regen_cancel('00000000-0000-4000-8000-00000000f005')).last_error, 'cancelled by ops_role',
          'SESSION AUTHORIZATION ops_role: cancels, and the job says who did');
SELECT is((SELECT pending FROM regen_stats()), 1::bigint, 'SESSION AUTHORIZATION ops_role: reads regen_stats()');
SELECT throws_ok('SELECT regen_drain()',
                 '42501', NULL, 'SESSION AUTHORIZATION ops_role: cannot drain');
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------------------------------
-- shim_role: the HTTP shim enqueues, drains, reads regen_stats() and has tokens checked
------------------------------------------------------------------------------------------------

DELETE FROM regen_queue.job_queue;

SELECT set_eq($$SELECT signature FROM rq_functions WHERE has_function_privilege('shim_role', oid, 'EXECUTE')$$,
              ARRAY['regen_enqueue(uuid,jsonb,uuid,integer,timestamp with time zone,integer,text)',
                    'regen_drain(integer)', 'regen_stats()', 'regen_queue.http_check_token(bytea)',
                    'regen_queue.http_request_overrides(text)'],
              'shim_role can execute regen_enqueue, regen_drain, regen_stats and the two HTTP functions');

SET ROLE shim_role;
SELECT is(regen_queue.http_check_token(sha256('pgtap-secret')), true,
          'shim_role: the digest of the right token passes http_check_token');
SELECT is(regen_queue.http_check_token(sha256('pgtap-secreT')), false,
          'shim_role: the digest of a wrong token does not');
SELECT is(regen_queue.http_check_token(NULL), false, 'shim_role: no token does not');
SELECT throws_ok($$SELECT current_setting('regen_queue.worker_token')$$, '42501', NULL,
                 'shim_role cannot read the worker token');
SELECT throws_ok('SHOW regen_queue.worker_token', '42501', NULL,
                 'shim_role cannot SHOW the worker token');
SELECT throws_ok($$SET regen_queue.worker_token = 'mine'$$, '42501', NULL,
                 'shim_role cannot set its own worker token');
SELECT throws_ok($$SET regen_queue.environment = 'development'$$, '42501', NULL,
                 'shim_role cannot change the environment');
SELECT is((regen_enqueue('00000000-0000-4000-8000-00000000a001',
                         regen_queue.http_request_overrides('{"overrides": {"topic": "Go in a week"}}'),
                         job_type => 'pgtap_ok')).payload,
          '{"overrides": {"topic": "Go in a week"}}'::jsonb,
          'shim_role: enqueues with the overrides of a request body');
SELECT is(pg_temp.drain_outcome(), pg_temp.counts(1, 1, 0), 'shim_role drains');
SELECT is((SELECT completed FROM regen_stats()), 1::bigint, 'shim_role reads regen_stats()');
SELECT throws_ok($$SELECT regen_queue.complete_job(gen_random_uuid(), 1, '{}')$$, '42501', NULL,
                 'shim_role cannot call complete_job');
SELECT throws_ok('SELECT regen_retry(gen_random_uuid())', '42501', NULL,
                 'shim_role cannot retry jobs');
SELECT throws_ok($$SELECT regen_register_handler('pgtap_ok', 'pgtap_fixtures.private_handler(regen_queue.job_queue)')$$,
                 '42501', NULL, 'shim_role cannot register handlers');
SELECT throws_ok($$UPDATE regen_queue.job_queue SET payload = '{}'$$, '42501', NULL,
                 'shim_role cannot change a job''s payload');
RESET ROLE;

SELECT is((SELECT status::text FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-4000-8000-00000000a001'),
          'completed', 'the job shim_role queued was completed by its drain');

SELECT * FROM finish();

RESET regen_queue.worker_token;
DELETE FROM regen_queue.job_queue;
DROP ROLE pgtap_fresh;
