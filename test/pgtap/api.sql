-- The SQL API contract of regen_queue 1.0: signatures, defaults, volatility, SECURITY DEFINER
-- and search_path, the SQLSTATEs of bad input, drain counts and regen_stats().
--
-- regen_drain() runs jobs in another process, which sees only committed jobs, so this suite
-- runs in autocommit: it empties regen_queue.job_queue when it starts and when it ends.
SET client_min_messages = warning;
DELETE FROM regen_queue.job_queue;
SELECT plan(142);

-- The DETAIL of the error a statement raises (NULL when it raises none).
CREATE FUNCTION pg_temp.error_detail(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE statement;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN detail;
END
$$;

-- The answer of a drain with these counts.
CREATE FUNCTION pg_temp.counts(processed integer, completed integer, failed integer) RETURNS jsonb
LANGUAGE sql
RETURN jsonb_build_object('ok', true, 'processedCount', processed, 'completedCount', completed,
                          'failedCount', failed);

------------------------------------------------------------------------------------------------
-- Signatures, results, defaults, volatility
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE rq_api (
    schema name, name name, args name[], returns text, volatility text, arguments text);
INSERT INTO rq_api VALUES
    ('public', 'regen_enqueue',
     ARRAY['uuid', 'jsonb', 'uuid', 'integer', 'timestamp with time zone', 'integer', 'text'],
     'regen_queue.job_queue', 'volatile',
     'plan_id uuid, overrides jsonb DEFAULT ''{}''::jsonb, user_id uuid DEFAULT NULL::uuid, '
     'priority integer DEFAULT 0, run_at timestamp with time zone DEFAULT NULL::timestamp with '
     'time zone, max_attempts integer DEFAULT 3, job_type text DEFAULT '
     '''plan_regeneration''::text'),
    ('public', 'regen_drain', ARRAY['integer'], 'jsonb', 'volatile',
     'max_jobs integer DEFAULT NULL::integer'),
    ('public', 'regen_register_handler', ARRAY['text', 'regprocedure'], 'void', 'volatile',
     'job_type text, handler regprocedure'),
    ('public', 'regen_unregister_handler', ARRAY['text'], 'boolean', 'volatile',
     'job_type text'),
    ('public', 'regen_retry', ARRAY['uuid'], 'regen_queue.job_queue', 'volatile',
     'job_id uuid'),
    ('public', 'regen_cancel', ARRAY['uuid'], 'regen_queue.job_queue', 'volatile',
     'job_id uuid'),
    ('public', 'regen_prune', ARRAY['interval', 'integer'], 'bigint', 'volatile',
     'older_than interval, batch_size integer DEFAULT 10000'),
    ('public', 'regen_stats', ARRAY[]::name[], 'record', 'stable',
     'OUT pending bigint, OUT due bigint, OUT processing bigint, OUT completed bigint, '
     'OUT failed bigint, OUT oldest_pending_age interval, OUT expired_leases bigint, '
     'OUT failed_last_hour bigint, OUT completed_last_5min bigint, '
     'OUT jobs_per_second_5min double precision'),
    ('regen_queue', 'complete_job', ARRAY['uuid', 'integer', 'jsonb'], 'boolean', 'volatile',
     'job_id uuid, attempt integer, result jsonb'),
    ('regen_queue', 'fail_job', ARRAY['uuid', 'integer', 'text', 'boolean'],
     'regen_queue.job_status', 'volatile',
     'job_id uuid, attempt integer, error text, retryable boolean DEFAULT true'),
    ('regen_queue', 'http_check_token', ARRAY['bytea'], 'boolean', 'volatile',
     'token_sha256 bytea'),
    ('regen_queue', 'http_request_overrides', ARRAY['text'], 'jsonb', 'immutable', 'body text');

SELECT has_function(schema, name, args, format('%s.%s(%s) exists', schema, name, array_to_string(args, ', ')))
  FROM rq_api ORDER BY name;
SELECT function_returns(schema, name, args, returns, format('%s returns %s', name, returns))
  FROM rq_api ORDER BY name;
SELECT volatility_is(schema, name, args, volatility, format('%s is %s', name, volatility))
  FROM rq_api ORDER BY name;
SELECT is(pg_get_function_arguments(format('%I.%I(%s)', schema, name, array_to_string(args, ','))::regprocedure),
          arguments, format('%s has the arguments and defaults (%s)', name, arguments))
  FROM rq_api ORDER BY name;

SELECT function_lang_is('public', 'regen_enqueue', ARRAY['uuid', 'jsonb', 'uuid', 'integer', 'timestamp with time zone', 'integer', 'text'],
                        'c', 'regen_enqueue is written in C');
SELECT function_lang_is('public', 'regen_drain', ARRAY['integer'], 'c', 'regen_drain is written in C');
SELECT function_lang_is('regen_queue', 'http_check_token', ARRAY['bytea'], 'c',
                        'http_check_token is written in C (it reads the token where it is)');
SELECT function_lang_is('regen_queue', 'http_request_overrides', ARRAY['text'], 'plpgsql',
                        'http_request_overrides is PL/pgSQL over PostgreSQL''s JSON parser');

------------------------------------------------------------------------------------------------
-- SECURITY DEFINER functions have a pinned search_path
------------------------------------------------------------------------------------------------

CREATE TEMP VIEW rq_functions AS
SELECT p.oid::regprocedure::text AS signature, p.prosecdef, p.proconfig
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue');

SELECT is_definer('public', 'regen_enqueue', ARRAY['uuid', 'jsonb', 'uuid', 'integer', 'timestamp with time zone', 'integer', 'text'],
                  'regen_enqueue is SECURITY DEFINER (an application needs no table privileges)');
SELECT isnt_definer('public', 'regen_drain', ARRAY['integer'],
                    'regen_drain is not SECURITY DEFINER (handlers run as the caller)');
SELECT set_eq('SELECT signature FROM rq_functions WHERE prosecdef',
              ARRAY['regen_enqueue(uuid,jsonb,uuid,integer,timestamp with time zone,integer,text)',
                    'regen_stats()', 'regen_retry(uuid)', 'regen_cancel(uuid)',
                    'regen_prune(interval,integer)'],
              'regen_enqueue and the operations functions are the SECURITY DEFINER ones');
SELECT is_empty($$SELECT signature FROM rq_functions
                   WHERE prosecdef
                     AND NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(proconfig, '{}'))$$,
                'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');
SELECT is((SELECT proconfig FROM pg_proc
            WHERE oid = 'regen_enqueue(uuid,jsonb,uuid,integer,timestamptz,integer,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'regen_enqueue sets search_path = pg_catalog, pg_temp and nothing else');

------------------------------------------------------------------------------------------------
-- regen_enqueue: what it returns
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE rq_job AS
SELECT * FROM regen_enqueue('00000000-0000-4000-8000-000000000001');

SELECT is((SELECT status FROM rq_job), 'pending', 'regen_enqueue returns a pending job');
SELECT is((SELECT job_type::text FROM rq_job), 'plan_regeneration', 'the default job type is plan_regeneration');
SELECT is((SELECT priority FROM rq_job), 0, 'the default priority is 0');
SELECT is((SELECT attempts FROM rq_job), 0, 'a new job has no attempts');
SELECT is((SELECT max_attempts FROM rq_job), 3, 'the default max_attempts is 3');
SELECT is((SELECT payload FROM rq_job), '{"overrides": {}}'::jsonb, 'no overrides: the payload is {"overrides": {}}');
SELECT is((SELECT user_id FROM rq_job), NULL, 'the default user_id is NULL');
SELECT ok((SELECT scheduled_for <= now() FROM rq_job), 'without run_at the job is due at once');
SELECT results_eq('SELECT id, status FROM regen_queue.job_queue',
                  'SELECT id, status FROM rq_job', 'the returned row is the row in the queue');

SELECT is((regen_enqueue('00000000-0000-4000-8000-000000000002',
                         '{"topic": "  Rust  ", "notes": "   ", "skillLevel": "advanced", "weeklyHours": 10,
                           "learningStyle": "video", "startDate": "2026-01-05", "deadlineDate": null}',
                         '00000000-0000-4000-8000-0000000000ff', 7, now() + interval '1 hour', 5,
                         'pgtap_ok')).payload,
          '{"overrides": {"topic": "Rust", "notes": null, "skillLevel": "advanced", "weeklyHours": 10,
                          "learningStyle": "video", "startDate": "2026-01-05", "deadlineDate": null}}'::jsonb,
          'the payload holds the normalised overrides (topic trimmed, blank notes null)');
SELECT results_eq($$SELECT job_type::text, user_id, priority, max_attempts, scheduled_for > now()
                      FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-4000-8000-000000000002'$$,
                  $$VALUES ('pgtap_ok', '00000000-0000-4000-8000-0000000000ff'::uuid, 7, 5, true)$$,
                  'job_type, user_id, priority, max_attempts and run_at are stored');

------------------------------------------------------------------------------------------------
-- Bad input: SQLSTATEs and messages
------------------------------------------------------------------------------------------------

-- Invalid overrides: each fails with 22023 and a message naming the field.
CREATE TEMP TABLE rq_bad_overrides (overrides jsonb, message text, what text);
INSERT INTO rq_bad_overrides VALUES
    ('{"topic": " ab "}', 'invalid value for override "topic"', 'a topic of 2 characters'),
    (jsonb_build_object('topic', repeat('x', 201)), 'invalid value for override "topic"',
     'a topic of 201 characters'),
    (jsonb_build_object('notes', repeat('x', 2001)), 'invalid value for override "notes"',
     'notes of 2001 characters'),
    ('{"skillLevel": "expert"}', 'invalid value for override "skillLevel"',
     'an unknown skill level'),
    ('{"weeklyHours": 81}', 'invalid value for override "weeklyHours"', '81 weekly hours'),
    ('{"weeklyHours": 2.5}', 'invalid value for override "weeklyHours"', '2.5 weekly hours'),
    ('{"weeklyHours": "10"}', 'invalid value for override "weeklyHours"',
     'weekly hours as a string'),
    ('{"learningStyle": "audio"}', 'invalid value for override "learningStyle"',
     'an unknown learning style'),
    ('{"startDate": "2026-02-30"}', 'invalid value for override "startDate"',
     'an impossible start date'),
    ('{"deadlineDate": "next week"}', 'invalid value for override "deadlineDate"',
     'a deadline that is no date'),
    ('{"colour": "red"}', 'unknown override "colour"', 'an unknown override');

SELECT throws_ok(format('SELECT regen_enqueue(gen_random_uuid(), %L)', overrides), '22023',
                 message, format('%s: 22023, %s', what, message))
  FROM rq_bad_overrides ORDER BY what;
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), '[]')$$,
                 '22023', 'overrides must be a JSON object', 'overrides that are an array: 22023');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), '"topic"')$$,
                 '22023', 'overrides must be a JSON object', 'overrides that are a string: 22023');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), max_attempts => 0)$$,
                 '22023', 'max_attempts must be between 1 and 100', 'max_attempts 0: 22023');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), max_attempts => 101)$$,
                 '22023', 'max_attempts must be between 1 and 100', 'max_attempts 101: 22023');
SELECT throws_ok($$SELECT regen_enqueue(NULL)$$,
                 '22004', 'plan_id must not be null', 'a NULL plan_id: 22004');
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid(), job_type => 'pgtap_unhandled')$$,
                 '42704', 'no handler is registered for job type "pgtap_unhandled"',
                 'a job type without a handler: 42704');
SELECT throws_ok($$SELECT regen_enqueue('00000000-0000-4000-8000-000000000001')$$,
                 '23505', 'plan 00000000-0000-4000-8000-000000000001 already has an active "plan_regeneration" job',
                 'a second active job for a plan: 23505');
SELECT is(pg_temp.error_detail($$SELECT regen_enqueue('00000000-0000-4000-8000-000000000001')$$),
          format('Job %s is pending.', (SELECT id FROM rq_job)),
          'the duplicate''s DETAIL names the existing job and its status');
SELECT is((SELECT count(*) FROM regen_queue.job_queue), 2::bigint, 'rejected requests queued nothing');

SELECT throws_ok('SELECT regen_drain(-1)',
                 '22023', 'max_jobs must not be negative', 'regen_drain(-1): 22023');
SELECT throws_ok($$SELECT regen_prune(interval '-1 day')$$, '22023',
                 'older_than must be a non-negative interval', 'regen_prune with a negative age: 22023');
SELECT throws_ok($$SELECT regen_prune(NULL)$$, '22023',
                 'older_than must be a non-negative interval', 'regen_prune(NULL): 22023');
SELECT throws_ok($$SELECT regen_prune(interval '1 day', 0)$$, '22023',
                 'batch_size must be at least 1', 'regen_prune with batch_size 0: 22023');
SELECT throws_ok($$SELECT regen_retry(gen_random_uuid())$$,
                 'P0002', NULL, 'retrying a job that does not exist: P0002');
SELECT throws_ok($$SELECT regen_cancel(gen_random_uuid())$$,
                 'P0002', NULL, 'cancelling a job that does not exist: P0002');
SELECT throws_ok(format('SELECT regen_retry(%L)', (SELECT id FROM rq_job)), '55000',
                 format('job %s is pending, not failed', (SELECT id FROM rq_job)),
                 'retrying a pending job: 55000');
SELECT throws_ok($$SELECT regen_register_handler('Bad Type', 'pgtap_fixtures.ok_handler(regen_queue.job_queue)')$$,
                 '22023', 'invalid job type "Bad Type"', 'registering an invalid job type: 22023');
SELECT throws_ok($$SELECT regen_register_handler(NULL, 'pgtap_fixtures.ok_handler(regen_queue.job_queue)')$$,
                 '22004', NULL, 'registering a NULL job type: 22004');
SELECT throws_ok($$SELECT regen_register_handler('pgtap_tmp', 'pgtap_fixtures.share_pgtap_state(name[])')$$,
                 '42P13', NULL, 'registering a function of the wrong signature: 42P13');
SELECT throws_ok($$SELECT regen_queue.complete_job(NULL, 1, '{}')$$, '22004', NULL,
                 'complete_job with a NULL job id: 22004');
SELECT throws_ok($$SELECT regen_queue.fail_job(gen_random_uuid(), 1, NULL)$$, '22004', NULL,
                 'fail_job with a NULL error: 22004');

-- The master switch.
SET regen_queue.enabled = off;
SELECT throws_ok($$SELECT regen_enqueue(gen_random_uuid())$$, '55000', 'regen_queue is disabled',
                 'regen_enqueue while disabled: 55000');
SELECT throws_ok('SELECT regen_drain()',
                 '55000', 'regen_queue is disabled', 'regen_drain() while disabled: 55000');
SELECT throws_ok('SELECT regen_drain(0)',
                 '55000', 'regen_queue is disabled', 'regen_drain(0) while disabled: 55000');
RESET regen_queue.enabled;
SELECT is((SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'), 2::bigint,
          'the disabled queue ran nothing');

------------------------------------------------------------------------------------------------
-- Handlers
------------------------------------------------------------------------------------------------

SELECT lives_ok($$SELECT regen_register_handler('pgtap_tmp', 'pgtap_fixtures.fail_handler(regen_queue.job_queue)')$$,
                'a handler registers');
SELECT lives_ok($$SELECT regen_register_handler('pgtap_tmp', 'pgtap_fixtures.ok_handler(regen_queue.job_queue)')$$,
                'registering again replaces the handler');
SELECT is((SELECT handler::text FROM regen_queue.handler WHERE job_type = 'pgtap_tmp'),
          'pgtap_fixtures.ok_handler(regen_queue.job_queue)', 'the second registration wins');
SELECT is(regen_unregister_handler('pgtap_tmp'), true, 'unregistering a handler answers true');
SELECT is(regen_unregister_handler('pgtap_tmp'), false, 'unregistering it again answers false');

------------------------------------------------------------------------------------------------
-- regen_drain: counts
------------------------------------------------------------------------------------------------

DELETE FROM regen_queue.job_queue;
SELECT regen_enqueue(('00000000-0000-4000-8000-00000000001' || n)::uuid, job_type => 'pgtap_ok')
  FROM generate_series(1, 2) n \g /dev/null
SELECT regen_enqueue('00000000-0000-4000-8000-000000000021', job_type => 'pgtap_fail') \g /dev/null
SELECT regen_enqueue('00000000-0000-4000-8000-000000000031', job_type => 'pgtap_ok',
                     run_at => now() + interval '1 hour') \g /dev/null

SELECT results_eq('SELECT regen_drain()', 'SELECT pg_temp.counts(3, 2, 1)',
                  'a drain runs the three due jobs: two complete, one fails');
SELECT results_eq($$SELECT plan_id, status::text, attempts,
                           result IS NOT DISTINCT FROM
                               CASE WHEN status = 'completed' THEN jsonb_build_object('handled', id) END,
                           last_error IS NULL
                      FROM regen_queue.job_queue ORDER BY plan_id$$,
                  $$VALUES ('00000000-0000-4000-8000-000000000011'::uuid, 'completed', 1, true, true),
                           ('00000000-0000-4000-8000-000000000012', 'completed', 1, true, true),
                           ('00000000-0000-4000-8000-000000000021', 'failed', 1, true, false),
                           ('00000000-0000-4000-8000-000000000031', 'pending', 0, true, true)$$,
                  'each job ends as its handler says, the job not yet due is untouched');
SELECT matches((SELECT last_error FROM regen_queue.job_queue WHERE plan_id = '00000000-0000-4000-8000-000000000021'),
               '^RQ001: job [0-9a-f-]+ cannot succeed$', 'last_error holds the handler''s SQLSTATE and message');

SELECT results_eq('SELECT regen_drain()', 'SELECT pg_temp.counts(0, 0, 0)',
                  'a drain with nothing due answers zero counts');

-- regen_stats() now: 1 pending (not due), 2 completed, 1 failed.
SELECT results_eq($$SELECT pending, due, processing, completed, failed, expired_leases,
                           failed_last_hour, completed_last_5min, round(jobs_per_second_5min::numeric, 6)
                      FROM regen_stats()$$,
                  $$VALUES (1::bigint, 0::bigint, 0::bigint, 2::bigint, 1::bigint, 0::bigint,
                            1::bigint, 2::bigint, 0.006667)$$,
                  'regen_stats() counts the queue');
SELECT is((SELECT oldest_pending_age FROM regen_stats()), NULL,
          'oldest_pending_age counts due jobs only, and the one pending job is not due');
UPDATE regen_queue.job_queue SET scheduled_for = scheduled_for - interval '1 day'
 WHERE status = 'pending';
SELECT is((SELECT oldest_pending_age FROM regen_stats()),
          (SELECT now() - scheduled_for FROM regen_queue.job_queue WHERE status = 'pending'),
          'oldest_pending_age is how long the oldest due job has waited since it became due');
UPDATE regen_queue.job_queue SET scheduled_for = scheduled_for + interval '1 day'
 WHERE status = 'pending';
SELECT results_eq($$SELECT a.name COLLATE "default", format_type(a.type, NULL) COLLATE "default", a.mode
                      FROM pg_proc p,
                           unnest(p.proargnames, p.proallargtypes, p.proargmodes) WITH ORDINALITY a(name, type, mode, n)
                     WHERE p.oid = 'regen_stats()'::regprocedure ORDER BY a.n$$,
                  $$VALUES ('pending', 'bigint', 'o'::"char"), ('due', 'bigint', 'o'), ('processing', 'bigint', 'o'),
                           ('completed', 'bigint', 'o'), ('failed', 'bigint', 'o'),
                           ('oldest_pending_age', 'interval', 'o'), ('expired_leases', 'bigint', 'o'),
                           ('failed_last_hour', 'bigint', 'o'), ('completed_last_5min', 'bigint', 'o'),
                           ('jobs_per_second_5min', 'double precision', 'o')$$,
                  'regen_stats() has its ten columns, in order');

-- Bounds: max_jobs, 0, and the GUC that caps every drain.
SELECT regen_enqueue(('00000000-0000-4000-8000-00000000004' || n)::uuid, job_type => 'pgtap_ok')
  FROM generate_series(1, 4) n \g /dev/null
SELECT results_eq('SELECT regen_drain(0)', 'SELECT pg_temp.counts(0, 0, 0)',
                  'regen_drain(0) does nothing');
SELECT is((SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'), 5::bigint,
          'after regen_drain(0) the four due jobs are still pending');
SELECT results_eq('SELECT regen_drain(1)', 'SELECT pg_temp.counts(1, 1, 0)',
                  'regen_drain(1) runs one job');
SET regen_queue.max_jobs_per_drain = 2;
SELECT results_eq('SELECT regen_drain(10)', 'SELECT pg_temp.counts(2, 2, 0)',
                  'regen_queue.max_jobs_per_drain = 2 caps regen_drain(10) at two jobs');
SET regen_queue.max_jobs_per_drain = 0;
SELECT results_eq('SELECT regen_drain()', 'SELECT pg_temp.counts(0, 0, 0)',
                  'regen_queue.max_jobs_per_drain = 0 makes regen_drain() a no-op');
RESET regen_queue.max_jobs_per_drain;
SELECT results_eq('SELECT regen_drain()', 'SELECT pg_temp.counts(1, 1, 0)',
                  'regen_drain() runs the last due job');

------------------------------------------------------------------------------------------------
-- complete_job, fail_job, retry, cancel, prune
------------------------------------------------------------------------------------------------

-- A job in the middle of its first attempt, as a drain leaves it.
INSERT INTO regen_queue.job_queue (id, plan_id, job_type, status, attempts, started_at, lease_expires_at)
VALUES ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-000000000051', 'pgtap_ok',
        'processing', 1, now(), now() + interval '5 minutes'),
       ('00000000-0000-4000-8000-00000000c002', '00000000-0000-4000-8000-000000000052', 'pgtap_ok',
        'processing', 1, now(), now() + interval '5 minutes'),
       ('00000000-0000-4000-8000-00000000c003', '00000000-0000-4000-8000-000000000053', 'pgtap_ok',
        'processing', 1, now(), now() + interval '5 minutes');

SELECT is(regen_queue.complete_job('00000000-0000-4000-8000-00000000c001', 2, '{"x": 1}'), false,
          'complete_job at the wrong attempt answers false');
SELECT is(regen_queue.complete_job('00000000-0000-4000-8000-00000000c001', 1, '{"x": 1}'), true,
          'complete_job at the current attempt answers true');
SELECT results_eq($$SELECT status::text, result, lease_expires_at IS NULL, completed_at IS NOT NULL
                      FROM regen_queue.job_queue WHERE id = '00000000-0000-4000-8000-00000000c001'$$,
                  $$VALUES ('completed', '{"x": 1}'::jsonb, true, true)$$,
                  'complete_job completes the job with its result and ends its lease');
SELECT is(regen_queue.complete_job('00000000-0000-4000-8000-00000000c001', 1, '{"x": 2}'), false,
          'completing a completed job answers false');
SELECT is((SELECT result FROM regen_queue.job_queue WHERE id = '00000000-0000-4000-8000-00000000c001'),
          '{"x": 1}'::jsonb, 'and changes nothing');
SELECT is(regen_queue.fail_job('00000000-0000-4000-8000-00000000c001', 1, 'late'), NULL,
          'failing a completed job answers NULL');

SELECT is(regen_queue.fail_job('00000000-0000-4000-8000-00000000c002', 1, 'boom'), 'pending'::regen_queue.job_status,
          'a retryable failure with attempts left goes back to pending');
SELECT results_eq($$SELECT last_error, scheduled_for - updated_at BETWEEN interval '1.5 s' AND interval '2.5 s'
                      FROM regen_queue.job_queue WHERE id = '00000000-0000-4000-8000-00000000c002'$$,
                  $$VALUES ('boom', true)$$,
                  'it keeps the error and is due again 2 s (jittered by 0.75 to 1.25) later');
SELECT is(regen_queue.fail_job('00000000-0000-4000-8000-00000000c003', 1, 'fatal', false), 'failed'::regen_queue.job_status,
          'a permanent failure fails the job');

SELECT is((regen_retry('00000000-0000-4000-8000-00000000c003')).status, 'pending'::regen_queue.job_status,
          'regen_retry puts a failed job back to pending');
SELECT results_eq($$SELECT attempts, completed_at IS NULL, scheduled_for <= now()
                      FROM regen_queue.job_queue WHERE id = '00000000-0000-4000-8000-00000000c003'$$,
                  $$VALUES (0, true, true)$$, 'with its attempts reset, due now');
SELECT is((regen_cancel('00000000-0000-4000-8000-00000000c003')).status, 'failed'::regen_queue.job_status,
          'regen_cancel fails a pending job');
SELECT is((SELECT last_error FROM regen_queue.job_queue WHERE id = '00000000-0000-4000-8000-00000000c003'),
          'cancelled by postgres', 'and says who cancelled it');
SELECT throws_ok($$SELECT regen_cancel('00000000-0000-4000-8000-00000000c001')$$, '55000',
                 'job 00000000-0000-4000-8000-00000000c001 is already completed', 'cancelling a completed job: 55000');

SELECT is(regen_prune(interval '1 hour'), 0::bigint, 'regen_prune keeps jobs finished within the age');
SELECT is(regen_prune(interval '0', 2), 2::bigint, 'regen_prune deletes at most batch_size jobs');
SELECT is(regen_prune(interval '0'),
          (SELECT count(*) FROM regen_queue.job_queue WHERE status IN ('completed', 'failed')),
          'regen_prune deletes the remaining finished jobs');
SELECT is((SELECT count(*) FROM regen_queue.job_queue WHERE status IN ('completed', 'failed')), 0::bigint,
          'no finished job is left');
SELECT is((SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'), 2::bigint,
          'the pending jobs are left alone');

SELECT * FROM finish();
DELETE FROM regen_queue.job_queue;
