-- The schema of regen_queue 1.1: the job table and its constraints and indexes, the handler
-- table, the types, and where the extension puts its functions (also when installed with
-- CREATE EXTENSION ... SCHEMA). Runs in one transaction and rolls back; it never drains.
BEGIN;
SELECT plan(141);

------------------------------------------------------------------------------------------------
-- The extension and its objects
------------------------------------------------------------------------------------------------

SELECT has_extension('public', 'regen_queue', 'regen_queue is installed in public');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'regen_queue'), '1.2',
          'the installed version is 1.2');
SELECT is((SELECT default_version FROM pg_available_extensions WHERE name = 'regen_queue'),
          '1.2', 'the default version is 1.2');
SELECT has_schema('regen_queue', 'the internals live in schema regen_queue');
SELECT tables_are('regen_queue', ARRAY['job_queue', 'handler'],
                  'regen_queue has exactly the tables job_queue and handler');

-- Every function of the extension, with the schema it lives in: the API in the extension's
-- schema, the two job-state functions in regen_queue.
CREATE TEMP VIEW rq_functions AS
SELECT n.nspname::text AS schema, p.oid::regprocedure::text AS signature
  FROM pg_depend d
  JOIN pg_proc p ON p.oid = d.objid
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue');

SELECT set_eq(
    'SELECT schema, signature FROM rq_functions',
    $$VALUES
        ('public', 'regen_enqueue(uuid,jsonb,uuid,integer,timestamp with time zone,integer,text)'),
        ('public', 'regen_drain(integer)'),
        ('public', 'regen_register_handler(text,regprocedure)'),
        ('public', 'regen_unregister_handler(text)'),
        ('public', 'regen_retry(uuid)'),
        ('public', 'regen_cancel(uuid)'),
        ('public', 'regen_prune(interval,integer)'),
        ('public', 'regen_stats()'),
        ('public', 'regen_register_http_handler(text,text,interval,integer)'),
        ('regen_queue', 'regen_queue.complete_job(uuid,integer,jsonb)'),
        ('regen_queue', 'regen_queue.fail_job(uuid,integer,text,boolean)'),
        ('regen_queue', 'regen_queue.handler_kind()'),
        ('regen_queue', 'regen_queue.http_check_token(bytea)'),
        ('regen_queue', 'regen_queue.http_endpoint_problem(text)'),
        ('regen_queue', 'regen_queue.http_request_overrides(text)')$$,
    'the API functions are in the extension''s schema; complete_job, fail_job and the HTTP '
    'functions in regen_queue');

------------------------------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------------------------------

SELECT has_enum('regen_queue', 'job_status', 'enum regen_queue.job_status exists');
SELECT enum_has_labels('regen_queue', 'job_status',
                       ARRAY['pending', 'processing', 'completed', 'failed'],
                       'job_status is pending, processing, completed, failed, in that order');
SELECT has_domain('regen_queue', 'job_type_name', 'domain regen_queue.job_type_name exists');
SELECT domain_type_is('regen_queue', 'job_type_name', 'text',
                      'job_type_name is a domain over text');

------------------------------------------------------------------------------------------------
-- regen_queue.job_queue: columns
------------------------------------------------------------------------------------------------

SELECT has_table('regen_queue', 'job_queue', 'table regen_queue.job_queue exists');
SELECT columns_are('regen_queue', 'job_queue', ARRAY[
    'id', 'job_type', 'plan_id', 'user_id', 'status', 'priority', 'attempts', 'max_attempts',
    'payload', 'result', 'last_error', 'scheduled_for', 'started_at', 'completed_at',
    'created_at', 'updated_at', 'lease_owner', 'lease_expires_at', 'lease_drain', 'lease_size',
    'run_alone'], 'job_queue has exactly the columns of the design plus the lease columns');

-- Column, type, NOT NULL, default (NULL: no default; a value, or the text of a function call).
CREATE TEMP TABLE rq_expected_columns (name name, type text, not_null boolean, def text);
INSERT INTO rq_expected_columns VALUES
    ('id',               'uuid',                       true,  'gen_random_uuid()'),
    ('job_type',         'regen_queue.job_type_name',  true,  'plan_regeneration'),
    ('plan_id',          'uuid',                       true,  NULL),
    ('user_id',          'uuid',                       false, NULL),
    ('status',           'regen_queue.job_status',     true,  'pending'),
    ('priority',         'integer',                    true,  '0'),
    ('attempts',         'integer',                    true,  '0'),
    ('max_attempts',     'integer',                    true,  '3'),
    ('payload',          'jsonb',                      true,  '{}'),
    ('result',           'jsonb',                      false, NULL),
    ('last_error',       'text',                       false, NULL),
    ('scheduled_for',    'timestamp with time zone',   true,  'now()'),
    ('started_at',       'timestamp with time zone',   false, NULL),
    ('completed_at',     'timestamp with time zone',   false, NULL),
    ('created_at',       'timestamp with time zone',   true,  'now()'),
    ('updated_at',       'timestamp with time zone',   true,  'now()'),
    ('lease_owner',      'integer',                    false, NULL),
    ('lease_expires_at', 'timestamp with time zone',   false, NULL),
    ('lease_drain',      'bigint',                     false, NULL),
    ('lease_size',       'integer',                    false, NULL),
    ('run_alone',        'boolean',                    true,  'false');

SELECT col_type_is('regen_queue', 'job_queue', name, type, format('job_queue.%s is %s', name, type))
  FROM rq_expected_columns ORDER BY name;

SELECT CASE WHEN not_null
            THEN col_not_null('regen_queue', 'job_queue', name, format('job_queue.%s is NOT NULL', name))
            ELSE col_is_null('regen_queue', 'job_queue', name, format('job_queue.%s is nullable', name))
       END
  FROM rq_expected_columns ORDER BY name;

SELECT CASE WHEN def IS NULL
            THEN col_hasnt_default('regen_queue', 'job_queue', name,
                                   format('job_queue.%s has no default', name))
            ELSE col_default_is('regen_queue', 'job_queue', name, def,
                                format('job_queue.%s defaults to %s', name, def))
       END
  FROM rq_expected_columns ORDER BY name;

------------------------------------------------------------------------------------------------
-- regen_queue.job_queue: keys, checks and their behaviour
------------------------------------------------------------------------------------------------

SELECT col_is_pk('regen_queue', 'job_queue', 'id', 'job_queue.id is the primary key');
SELECT col_has_check('regen_queue', 'job_queue', 'priority', 'priority has a CHECK');
SELECT col_has_check('regen_queue', 'job_queue', ARRAY['attempts', 'max_attempts'],
                     'attempts has a CHECK against max_attempts');
SELECT col_has_check('regen_queue', 'job_queue', 'max_attempts', 'max_attempts has a CHECK');
SELECT col_has_check('regen_queue', 'job_queue', 'payload', 'payload has a CHECK');
SELECT col_has_check('regen_queue', 'job_queue', ARRAY['status', 'lease_expires_at'],
                     'a processing job has a lease (CHECK)');
SELECT col_has_check('regen_queue', 'job_queue', ARRAY['status', 'completed_at'],
                     'a job is finished exactly when completed_at is set (CHECK)');

-- Inserting rows by hand, as the table's owner: what each CHECK refuses, and what it lets in.
PREPARE rq_insert(uuid, integer, integer, integer, text, jsonb) AS
INSERT INTO regen_queue.job_queue (plan_id, priority, attempts, max_attempts, job_type, payload)
VALUES ($1, $2, $3, $4, $5, $6);

SELECT lives_ok($$EXECUTE rq_insert(gen_random_uuid(), 1000000, 0, 1, 'pgtap_ok', '{}')$$,
                'priority 1000000 is accepted');
SELECT lives_ok($$EXECUTE rq_insert(gen_random_uuid(), -1000000, 100, 100, 'pgtap_ok', '{}')$$,
                'priority -1000000 and 100 attempts of 100 are accepted');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 1000001, 0, 3, 'pgtap_ok', '{}')$$,
                 '23514', NULL, 'priority above 1000000 fails the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), -1000001, 0, 3, 'pgtap_ok', '{}')$$,
                 '23514', NULL, 'priority below -1000000 fails the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, -1, 3, 'pgtap_ok', '{}')$$,
                 '23514', NULL, 'negative attempts fail the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 4, 3, 'pgtap_ok', '{}')$$,
                 '23514', NULL, 'attempts above max_attempts fail the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 0, 'pgtap_ok', '{}')$$,
                 '23514', NULL, 'max_attempts 0 fails the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 101, 'pgtap_ok', '{}')$$,
                 '23514', NULL, 'max_attempts 101 fails the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 3, 'Plan', '{}')$$,
                 '23514', NULL, 'a job type with an upper-case letter fails the domain CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 3, '9lives', '{}')$$,
                 '23514', NULL, 'a job type starting with a digit fails the domain CHECK');
SELECT throws_ok(format($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 3, %L, '{}')$$,
                        'a' || repeat('b', 63)),
                 '23514', NULL, 'a job type of 64 characters fails the domain CHECK');
SELECT lives_ok(format($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 3, %L, '{}')$$,
                       'a' || repeat('b_9', 20) || 'cd'),
                'a job type of 63 lower-case letters, digits and underscores is accepted');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 3, 'pgtap_ok', '[]')$$,
                 '23514', NULL, 'a payload that is not an object fails the CHECK');
SELECT throws_ok($$EXECUTE rq_insert(gen_random_uuid(), 0, 0, 3, NULL, '{}')$$,
                 '23502', NULL, 'a NULL job type is refused');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id, status) VALUES (gen_random_uuid(), 'processing')$$,
                 '23514', NULL, 'a processing job without a lease fails the CHECK');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id, status) VALUES (gen_random_uuid(), 'completed')$$,
                 '23514', NULL, 'a completed job without completed_at fails the CHECK');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id, completed_at) VALUES (gen_random_uuid(), now())$$,
                 '23514', NULL, 'a pending job with completed_at fails the CHECK');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id, status) VALUES (gen_random_uuid(), 'cancelled')$$,
                 '22P02', NULL, 'cancelled is not a job status');

------------------------------------------------------------------------------------------------
-- regen_queue.job_queue: indexes
------------------------------------------------------------------------------------------------

SELECT indexes_are('regen_queue', 'job_queue',
                   ARRAY['job_queue_pkey', 'job_queue_claim_idx', 'job_queue_lease_idx',
                         'job_queue_one_active_idx', 'job_queue_finished_idx'],
                   'job_queue has exactly its five indexes');

SELECT has_index('regen_queue', 'job_queue', 'job_queue_one_active_idx',
                 ARRAY['plan_id', 'job_type'], 'the one-active-job index is on (plan_id, job_type)');
SELECT index_is_unique('regen_queue', 'job_queue', 'job_queue_one_active_idx',
                       'the one-active-job index is unique');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'regen_queue.job_queue_one_active_idx'::regclass),
          '(status = ANY (ARRAY[''pending''::regen_queue.job_status, ''processing''::regen_queue.job_status]))',
          'the one-active-job index covers exactly the pending and processing jobs');

SELECT is(pg_get_indexdef('regen_queue.job_queue_claim_idx'::regclass),
          'CREATE INDEX job_queue_claim_idx ON regen_queue.job_queue USING btree (((- priority)), created_at, id) WHERE (status = ''pending''::regen_queue.job_status)',
          'the claim index orders pending jobs by priority descending, then oldest first');

-- The one-active-job index at work.
SELECT lives_ok($$INSERT INTO regen_queue.job_queue (id, plan_id, job_type)
                  VALUES ('00000000-0000-4000-8000-00000000a001', '00000000-0000-4000-8000-0000000000a1', 'pgtap_ok')$$,
                'a pending job for a plan');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id, job_type)
                   VALUES ('00000000-0000-4000-8000-0000000000a1', 'pgtap_ok')$$,
                 '23505', NULL, 'a second pending job of the same plan and type is refused');
SELECT lives_ok($$INSERT INTO regen_queue.job_queue (plan_id, job_type)
                  VALUES ('00000000-0000-4000-8000-0000000000a1', 'pgtap_fail')$$,
                'a pending job of another type for the same plan is accepted');
SELECT throws_ok($$INSERT INTO regen_queue.job_queue (plan_id, job_type, status, lease_expires_at)
                   VALUES ('00000000-0000-4000-8000-0000000000a1', 'pgtap_ok', 'processing', now())$$,
                 '23505', NULL, 'a processing job next to a pending one of the same plan and type is refused');
SELECT lives_ok($$UPDATE regen_queue.job_queue SET status = 'completed', completed_at = now()
                   WHERE id = '00000000-0000-4000-8000-00000000a001'$$,
                'the first job completes');
SELECT lives_ok($$INSERT INTO regen_queue.job_queue (plan_id, job_type)
                  VALUES ('00000000-0000-4000-8000-0000000000a1', 'pgtap_ok')$$,
                'once it is finished, the plan can have a new pending job of that type');
SELECT lives_ok($$INSERT INTO regen_queue.job_queue (plan_id, job_type, status, completed_at)
                  VALUES ('00000000-0000-4000-8000-0000000000a1', 'pgtap_ok', 'failed', now())$$,
                'finished jobs of the plan do not count against it');

------------------------------------------------------------------------------------------------
-- regen_queue.handler
------------------------------------------------------------------------------------------------

SELECT has_table('regen_queue', 'handler', 'table regen_queue.handler exists');
SELECT columns_are('regen_queue', 'handler',
                   ARRAY['job_type', 'handler', 'registered_at', 'registered_by', 'endpoint',
                         'timeout_ms', 'max_concurrency'],
                   'handler has the columns job_type, handler, registered_at, registered_by, '
                   'endpoint, timeout_ms, max_concurrency');
SELECT col_is_pk('regen_queue', 'handler', 'job_type', 'handler.job_type is the primary key');
SELECT col_type_is('regen_queue', 'handler', 'job_type', 'regen_queue.job_type_name',
                   'handler.job_type is a job_type_name');
SELECT col_type_is('regen_queue', 'handler', 'handler', 'text',
                   'handler.handler is text (pg_upgrade refuses reg* columns in user tables)');
SELECT is_empty($$SELECT a.attname FROM pg_attribute a
                   WHERE a.attrelid IN ('regen_queue.job_queue'::regclass,
                                        'regen_queue.handler'::regclass)
                     AND a.attnum > 0 AND NOT a.attisdropped
                     AND a.atttypid IN ('regproc'::regtype, 'regprocedure'::regtype,
                                        'regoper'::regtype, 'regoperator'::regtype,
                                        'regclass'::regtype, 'regtype'::regtype,
                                        'regconfig'::regtype, 'regdictionary'::regtype,
                                        'regnamespace'::regtype, 'regrole'::regtype,
                                        'regcollation'::regtype)$$,
                'no reg* column in the extension''s tables, so pg_upgrade accepts them');
SELECT col_is_null('regen_queue', 'handler', 'handler',
                   'handler.handler may be NULL: the job type has an HTTP handler');
SELECT col_type_is('regen_queue', 'handler', 'endpoint', 'text', 'handler.endpoint is text');
SELECT col_type_is('regen_queue', 'handler', 'timeout_ms', 'integer',
                   'handler.timeout_ms is an integer');
SELECT col_type_is('regen_queue', 'handler', 'max_concurrency', 'integer',
                   'handler.max_concurrency is an integer');
SELECT throws_ok($$INSERT INTO regen_queue.handler (job_type, endpoint, timeout_ms)
                   VALUES ('pgtap_http', 'https://a.test/', 3600001)$$,
                 '23514', NULL, 'handler.timeout_ms is at most an hour');
SELECT throws_ok($$INSERT INTO regen_queue.handler (job_type, endpoint, max_concurrency)
                   VALUES ('pgtap_http', 'https://a.test/', 0)$$,
                 '23514', NULL, 'handler.max_concurrency is at least 1');
SELECT throws_ok($$INSERT INTO regen_queue.handler (job_type, endpoint)
                   VALUES ('pgtap_http', 'https://a.test/' || repeat('x', 2048))$$,
                 '23514', NULL, 'handler.endpoint is at most 2048 characters');
INSERT INTO regen_queue.handler (job_type, handler, endpoint, timeout_ms)
VALUES ('pgtap_http', 'pgtap_fixtures.ok_handler(regen_queue.job_queue)', 'https://a.test/', 100);
SELECT is((SELECT row(endpoint, timeout_ms)::text FROM regen_queue.handler
            WHERE job_type = 'pgtap_http'), '(,)',
          'a row that names a SQL function keeps no HTTP settings (trigger handler_kind)');
DELETE FROM regen_queue.handler WHERE job_type = 'pgtap_http';
SELECT col_type_is('regen_queue', 'handler', 'registered_at', 'timestamp with time zone',
                   'handler.registered_at is a timestamptz');
SELECT col_default_is('regen_queue', 'handler', 'registered_at', 'now()',
                      'handler.registered_at defaults to now()');
SELECT col_type_is('regen_queue', 'handler', 'registered_by', 'name',
                   'handler.registered_by is a name');
SELECT col_default_is('regen_queue', 'handler', 'registered_by', 'CURRENT_USER',
                      'handler.registered_by defaults to current_user');
SELECT throws_ok($$INSERT INTO regen_queue.handler (job_type, handler)
                   VALUES ('Bad', 'pgtap_fixtures.ok_handler(regen_queue.job_queue)')$$,
                 '23514', NULL, 'a handler for an invalid job type is refused');

-- pg_dump keeps the queue's state.
SELECT set_eq($$SELECT unnest(extconfig)::regclass::text FROM pg_extension
                 WHERE extname = 'regen_queue'$$,
              ARRAY['regen_queue.job_queue', 'regen_queue.handler'],
              'job_queue and handler are configuration tables that pg_dump keeps');

------------------------------------------------------------------------------------------------
-- CREATE EXTENSION ... SCHEMA: the API follows the schema, the internals stay in regen_queue
------------------------------------------------------------------------------------------------

SET LOCAL client_min_messages = warning;
DROP EXTENSION regen_queue CASCADE;
RESET client_min_messages;
CREATE SCHEMA pgtap_elsewhere;
CREATE EXTENSION regen_queue SCHEMA pgtap_elsewhere;

SELECT has_extension('pgtap_elsewhere', 'regen_queue',
                     'CREATE EXTENSION regen_queue SCHEMA pgtap_elsewhere works');
SELECT set_eq(
    'SELECT schema, signature FROM rq_functions',
    $$VALUES
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_enqueue(uuid,jsonb,uuid,integer,timestamp with time zone,integer,text)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_drain(integer)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_register_handler(text,regprocedure)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_unregister_handler(text)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_retry(uuid)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_cancel(uuid)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_prune(interval,integer)'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_stats()'),
        ('pgtap_elsewhere', 'pgtap_elsewhere.regen_register_http_handler(text,text,interval,integer)'),
        ('regen_queue', 'regen_queue.complete_job(uuid,integer,jsonb)'),
        ('regen_queue', 'regen_queue.fail_job(uuid,integer,text,boolean)'),
        ('regen_queue', 'regen_queue.handler_kind()'),
        ('regen_queue', 'regen_queue.http_check_token(bytea)'),
        ('regen_queue', 'regen_queue.http_endpoint_problem(text)'),
        ('regen_queue', 'regen_queue.http_request_overrides(text)')$$,
    'installed in pgtap_elsewhere, the API functions are there and nowhere else');
SELECT hasnt_function('public', 'regen_enqueue', 'public has no regen_enqueue any more');
SELECT has_table('regen_queue', 'job_queue', 'the job table is still regen_queue.job_queue');
SELECT has_table('regen_queue', 'handler', 'the handler table is still regen_queue.handler');

CREATE FUNCTION pgtap_elsewhere.handler(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{}'::jsonb;
SELECT lives_ok($$SELECT pgtap_elsewhere.regen_register_handler('elsewhere',
                      'pgtap_elsewhere.handler(regen_queue.job_queue)')$$,
                'a handler registers through the relocated API');
SELECT is((pgtap_elsewhere.regen_enqueue('00000000-0000-4000-8000-0000000000b1',
                                         job_type => 'elsewhere')).status,
          'pending'::regen_queue.job_status,
          'the relocated regen_enqueue queues a pending job');
SELECT is((SELECT count(*) FROM regen_queue.job_queue
            WHERE plan_id = '00000000-0000-4000-8000-0000000000b1'), 1::bigint,
          'the job is in regen_queue.job_queue');
-- SECURITY DEFINER with a pinned search_path: it works with an empty one as well.
SET LOCAL search_path = '';
CREATE TEMP TABLE rq_empty_path AS
SELECT (pgtap_elsewhere.regen_enqueue('00000000-0000-4000-8000-0000000000b2',
                                      job_type => 'elsewhere')).status::text AS status;
RESET search_path;
SELECT is((SELECT status FROM rq_empty_path), 'pending',
          'the relocated regen_enqueue works with an empty search_path');

SELECT * FROM finish();
ROLLBACK;
