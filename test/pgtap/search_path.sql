-- No function of the extension can be hijacked through search_path. Statically: every SQL and
-- PL/pgSQL function of the extension pins search_path to pg_catalog, pg_temp. Dynamically: a
-- role with CREATE on a schema of its own (and USAGE on regen_queue, as ops_role and
-- worker_role have) fills it with shadows of what the extension's statements name - functions
-- of pg_catalog and typed variants of polymorphic ones, operators (also on the extension's own
-- types, which beat pg_catalog's polymorphic ones wherever the schema is in the path), the
-- aggregates count and min, relations (job_queue, handler, pg_proc ...) and types (domains
-- named uuid, text, jsonb ...) - each of which counts its calls in a sequence. Every API
-- function is then called, with that schema first in search_path (before pg_catalog) and
-- then last (after public, pg_catalog implicitly first), as a superuser and as each role of
-- the README's grants for its functions, drains also with the path as a default of the role
-- that logged in (which drain processes apply); no shadow may be called and every answer must
-- be the right one. Controls show that the shadows do catch unqualified names under both
-- paths.
--
-- The drains must see committed jobs, so this suite runs in autocommit; it drops what it
-- created when it ends. search_path_calls.psql holds the calls, run once per path.
SET client_min_messages = warning;
DELETE FROM regen_queue.job_queue;
DROP SCHEMA IF EXISTS pgtap_evil CASCADE;
DO $$
BEGIN
    IF to_regrole('pgtap_attacker') IS NOT NULL THEN
        REVOKE USAGE ON SCHEMA regen_queue FROM pgtap_attacker;
    END IF;
END
$$;
DROP ROLE IF EXISTS pgtap_attacker;
SET regen_queue.worker_token = 'pgtap-secret';

------------------------------------------------------------------------------------------------
-- The attacker's schema
------------------------------------------------------------------------------------------------

CREATE ROLE pgtap_attacker;
GRANT USAGE ON SCHEMA regen_queue TO pgtap_attacker;
CREATE SCHEMA pgtap_evil AUTHORIZATION pgtap_attacker;

-- Handlers for the drains: one that pins nothing and names unqualified functions (the drain's
-- own search_path protects it; role_default shows that the role's defaults, which also set
-- search_path, did reach the drain process), and the fixtures' ok_handler.
CREATE FUNCTION pgtap_fixtures.unpinned_handler(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('lower', lower('SHADOWED?'), 'dated', now() IS NOT NULL,
                              'processing', job.status = 'processing',
                              'role_default', current_setting('pgtap.marker', true));
END
$$;
REVOKE EXECUTE ON FUNCTION pgtap_fixtures.unpinned_handler(regen_queue.job_queue) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgtap_fixtures.unpinned_handler(regen_queue.job_queue)
    TO worker_role, shim_role;
SELECT regen_register_handler('pgtap_unpinned',
                              'pgtap_fixtures.unpinned_handler(regen_queue.job_queue)');

SET ROLE pgtap_attacker;
SET search_path = pg_catalog, pg_temp;

GRANT USAGE ON SCHEMA pgtap_evil TO PUBLIC;
CREATE SEQUENCE pgtap_evil.hits;
GRANT SELECT ON SEQUENCE pgtap_evil.hits TO PUBLIC;
CREATE TABLE pgtap_evil.calls (n bigint, shadow text, called_by name);

-- Every shadow calls this: it counts the call (a sequence, so that a rolled back statement
-- still counts) and says which shadow it was.
CREATE FUNCTION pgtap_evil.record(shadow text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO pgtap_evil.calls VALUES (nextval('pgtap_evil.hits'), shadow, session_user);
    RETURN true;
END
$$;

-- Shadow functions: every function of pg_catalog with one of these names whose argument and
-- result types are not pseudo-types, with the same arguments and result; the names are those
-- the extension's SQL functions call (read from their definitions) and those its C statements
-- and the shim's calls use.
CREATE TABLE pgtap_evil.names (name name PRIMARY KEY);
INSERT INTO pgtap_evil.names
SELECT DISTINCT lower(m[1]) FROM pg_proc p
  JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'regen_queue',
       regexp_matches(pg_get_functiondef(p.oid), '([A-Za-z_][A-Za-z0-9_]*)\s*\(', 'g') AS m
 WHERE p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
UNION
SELECT unnest(ARRAY['now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp',
                    'gen_random_uuid', 'pg_backend_pid', 'to_regprocedure', 'to_jsonb',
                    'to_json', 'json_build_object', 'jsonb_build_object', 'jsonb_typeof',
                    'jsonb_object_keys', 'btrim', 'lower', 'upper', 'left', 'length',
                    'octet_length', 'round', 'date_part', 'extract', 'pg_my_temp_schema',
                    'pg_is_other_temp_schema', 'current_setting', 'set_config', 'sha256',
                    'encode', 'decode', 'md5', 'random', 'pg_sleep', 'nextval', 'textregexeq',
                    'timestamptz', 'interval_mul', 'pg_advisory_xact_lock', 'pg_notify',
                    'array_length', 'cardinality', 'concat', 'substring', 'replace']);
DO $$
DECLARE
    f record;
    n integer := 0;
BEGIN
    FOR f IN
        SELECT p.proname, p.proretset, format_type(p.prorettype, NULL) AS result,
               string_agg(format_type(t.type, NULL), ', ' ORDER BY t.i)
                   FILTER (WHERE t.i IS NOT NULL) AS args,
               string_agg(format('$%s', t.i), ', ' ORDER BY t.i)
                   FILTER (WHERE t.i IS NOT NULL) AS params,
               p.oid::regprocedure::text AS signature
          FROM pg_proc p
          LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY AS t(type, i) ON true
         WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
           AND p.provariadic = 0 AND p.proname IN (SELECT name FROM pgtap_evil.names)
           AND (SELECT typtype FROM pg_type WHERE oid = p.prorettype) <> 'p'
           AND NOT EXISTS (SELECT FROM unnest(p.proargtypes::oid[]) a(type)
                             JOIN pg_type ty ON ty.oid = a.type WHERE ty.typtype = 'p')
         GROUP BY p.oid
    LOOP
        EXECUTE format(
            'CREATE FUNCTION pgtap_evil.%I(%s) RETURNS %s%s LANGUAGE plpgsql VOLATILE '
            'SET search_path = pg_catalog, pg_temp AS %L',
            f.proname, coalesce(f.args, ''), CASE WHEN f.proretset THEN 'SETOF ' ELSE '' END,
            f.result,
            CASE WHEN f.proretset
                 THEN format('BEGIN PERFORM pgtap_evil.record(%L); '
                             'RETURN QUERY SELECT * FROM pg_catalog.%I(%s); END',
                             'function ' || f.signature, f.proname, coalesce(f.params, ''))
                 ELSE format('BEGIN PERFORM pgtap_evil.record(%L); '
                             'RETURN pg_catalog.%I(%s); END',
                             'function ' || f.signature, f.proname, coalesce(f.params, ''))
            END);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'created % shadow functions', n;
END
$$;

-- Typed variants of variadic and polymorphic functions the statements call: an exact match
-- is preferred to pg_catalog's variadic or polymorphic one whatever the order of schemas.
CREATE FUNCTION pgtap_evil.format(text, integer, integer) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('format(text,integer,integer)');
             RETURN pg_catalog.format($1, $2, $3); END $$;
CREATE FUNCTION pgtap_evil.format(text, uuid) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('format(text,uuid)');
             RETURN pg_catalog.format($1, $2); END $$;
CREATE FUNCTION pgtap_evil.format(text, uuid, regen_queue.job_status) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('format(text,uuid,job_status)');
             RETURN pg_catalog.format($1, $2, $3); END $$;
CREATE FUNCTION pgtap_evil.json_build_object(text, uuid, text, text, text, uuid, text, uuid,
                                             text, integer, text, integer, text, jsonb)
RETURNS json
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('json_build_object(...)');
             RETURN pg_catalog.json_build_object($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                                                 $12, $13, $14); END $$;
CREATE FUNCTION pgtap_evil.to_jsonb(regen_queue.handler) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('to_jsonb(handler)'); RETURN pg_catalog.to_jsonb($1); END $$;
CREATE FUNCTION pgtap_evil.unnest(uuid[]) RETURNS SETOF uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('unnest(uuid[])');
             RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;
CREATE FUNCTION pgtap_evil.unnest(integer[]) RETURNS SETOF integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('unnest(integer[])');
             RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;
CREATE FUNCTION pgtap_evil.unnest(jsonb[]) RETURNS SETOF jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('unnest(jsonb[])');
             RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;

-- Aggregates.
CREATE FUNCTION pgtap_evil.count_step(bigint) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('count(*)'); RETURN $1 + 1; END $$;
CREATE AGGREGATE pgtap_evil.count(*) (SFUNC = pgtap_evil.count_step, STYPE = bigint,
                                      INITCOND = '0');
CREATE FUNCTION pgtap_evil.min_step(timestamptz, timestamptz) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('min(timestamptz)'); RETURN least($1, $2); END $$;
CREATE AGGREGATE pgtap_evil.min(timestamptz) (SFUNC = pgtap_evil.min_step, STYPE = timestamptz);

-- Shadow operators: every binary operator of pg_catalog with one of these names on common
-- types, and exact ones on the extension's enum and domain.
DO $$
DECLARE
    shadow record;
    n integer := 0;
BEGIN
    FOR shadow IN
        SELECT o.oprname, format_type(o.oprleft, NULL) AS l, format_type(o.oprright, NULL) AS r,
               format_type(o.oprresult, NULL) AS result, o.oid
          FROM pg_operator o
         WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprkind = 'b'
           AND o.oprname IN ('=', '<>', '<', '<=', '>', '>=', '~', '!~', '~~', '->', '->>',
                             '#>>', '+', '-', '*', '/', '||', '@>', '?')
           AND o.oprleft::regtype::text IN (
                   'boolean', 'smallint', 'integer', 'bigint', 'numeric', 'double precision',
                   'text', 'name', 'character varying', 'uuid', 'jsonb', 'json', 'bytea',
                   'timestamp with time zone', 'interval', 'oid', 'text[]', 'uuid[]')
           AND o.oprright::regtype::text IN (
                   'boolean', 'smallint', 'integer', 'bigint', 'numeric', 'double precision',
                   'text', 'name', 'character varying', 'uuid', 'jsonb', 'json', 'bytea',
                   'timestamp with time zone', 'interval', 'oid', 'text[]', 'uuid[]')
           AND (SELECT typtype FROM pg_type WHERE oid = o.oprresult) <> 'p'
        UNION ALL
        SELECT op, l, r, 'boolean', NULL
          FROM (VALUES ('=', 'regen_queue.job_status', 'regen_queue.job_status'),
                       ('<>', 'regen_queue.job_status', 'regen_queue.job_status'),
                       ('=', 'regen_queue.job_type_name', 'text'),
                       ('=', 'text', 'regen_queue.job_type_name'),
                       ('=', 'regen_queue.job_type_name', 'regen_queue.job_type_name'),
                       ('~', 'regen_queue.job_type_name', 'text'),
                       ('!~', 'text', 'text')) AS extra(op, l, r)
         WHERE NOT EXISTS (SELECT FROM pg_operator x
                            WHERE x.oprnamespace = 'pg_catalog'::regnamespace
                              AND x.oprname = extra.op AND x.oprleft = extra.l::regtype
                              AND x.oprright = extra.r::regtype)
    LOOP
        n := n + 1;
        EXECUTE format(
            'CREATE FUNCTION pgtap_evil.op_%s(%s, %s) RETURNS %s LANGUAGE plpgsql VOLATILE '
            'SET search_path = pg_catalog, pg_temp AS %L',
            n, shadow.l, shadow.r, shadow.result,
            format('BEGIN PERFORM pgtap_evil.record(%L); RETURN $1 OPERATOR(pg_catalog.%s) $2; END',
                   format('operator %s (%s, %s)', shadow.oprname, shadow.l, shadow.r),
                   shadow.oprname));
        EXECUTE format('CREATE OPERATOR pgtap_evil.%s (LEFTARG = %s, RIGHTARG = %s, '
                       'FUNCTION = pgtap_evil.op_%s)', shadow.oprname, shadow.l, shadow.r, n);
    END LOOP;
    RAISE NOTICE 'created % shadow operators', n;
END
$$;

-- Shadow relations: views whose every read counts, and whose writes count too.
CREATE FUNCTION pgtap_evil.touch(relation text) RETURNS TABLE (touched boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('relation ' || relation); RETURN QUERY SELECT true; END $$;
CREATE FUNCTION pgtap_evil.touch_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM pgtap_evil.record('write to ' || TG_TABLE_NAME); RETURN NULL; END $$;
DO $$
DECLARE
    relation text;
BEGIN
    FOREACH relation IN ARRAY ARRAY['job_queue', 'handler', 'pg_proc', 'pg_namespace',
                                    'pg_class', 'pg_type', 'pg_settings', 'pg_extension',
                                    'pg_depend', 'pg_roles', 'pg_database', 'pg_authid'] LOOP
        EXECUTE format('CREATE VIEW pgtap_evil.%I AS SELECT * FROM pgtap_evil.touch(%L)',
                       relation, relation);
        EXECUTE format('CREATE TRIGGER touch INSTEAD OF INSERT OR UPDATE OR DELETE '
                       'ON pgtap_evil.%I FOR EACH ROW EXECUTE FUNCTION pgtap_evil.touch_row()',
                       relation);
    END LOOP;
END
$$;

-- Shadow types: domains over the real ones whose check counts each value cast to them.
DO $$
DECLARE
    type_name text;
BEGIN
    FOREACH type_name IN ARRAY ARRAY['uuid', 'text', 'jsonb', 'json', 'int4', 'int8', 'bool',
                                     'timestamptz', 'interval', 'regprocedure', 'regclass',
                                     'oid', 'name', 'numeric', 'bytea', 'float8', 'varchar'] LOOP
        EXECUTE format('CREATE DOMAIN pgtap_evil.%I AS pg_catalog.%I '
                       'CHECK (pgtap_evil.record(%L))', type_name, type_name,
                       'type ' || type_name);
    END LOOP;
END
$$;

RESET search_path;
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Helpers (under the default search_path)
------------------------------------------------------------------------------------------------

-- Calls of shadows so far.
CREATE FUNCTION pg_temp.hits() RETURNS bigint
LANGUAGE sql AS $$ SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pgtap_evil.hits $$;

-- Run a statement (which names only qualified objects and literals) with this search_path and
-- answer its outcome (its one value as text, or its SQLSTATE) and how many shadows it called.
-- Everything else here runs under the session's own search_path.
CREATE FUNCTION pg_temp.call_with_path(path text, statement text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    saved text := current_setting('search_path');
    hits_before bigint := pg_temp.hits();
    answer text;
    state text := 'ok';
BEGIN
    BEGIN
        PERFORM pg_catalog.set_config('search_path', path, true);
        EXECUTE statement INTO answer;
        PERFORM pg_catalog.set_config('search_path', saved, true);
    EXCEPTION WHEN OTHERS THEN
        -- the block's rollback has restored search_path
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
    END;
    RETURN jsonb_build_object(
        'outcome', CASE WHEN state = 'ok' THEN coalesce(answer, '(null)')
                        ELSE 'error ' || state END,
        'shadows_called', pg_temp.hits() - hits_before);
END
$$;

CREATE FUNCTION pg_temp.clean(outcome text) RETURNS jsonb
LANGUAGE sql RETURN jsonb_build_object('outcome', outcome, 'shadows_called', 0);

-- The plan id of case n in the current run (pgtap.run: 1 or 2).
CREATE FUNCTION pg_temp.plan_id(n integer) RETURNS uuid
LANGUAGE sql RETURN format('00000000-0000-4000-8000-%s%s', current_setting('pgtap.run'),
                           lpad(n::text, 11, '0'))::uuid;

-- The job of a plan in the current run.
CREATE FUNCTION pg_temp.job(n integer) RETURNS regen_queue.job_queue
LANGUAGE sql AS $$
SELECT j FROM regen_queue.job_queue j WHERE j.plan_id = pg_temp.plan_id(n)
 ORDER BY j.created_at DESC LIMIT 1
$$;

-- A job of plan n in the given state, written directly.
CREATE FUNCTION pg_temp.put_job(n integer, status regen_queue.job_status,
                                job_type text DEFAULT 'pgtap_ok') RETURNS uuid
LANGUAGE sql AS $$
INSERT INTO regen_queue.job_queue (plan_id, job_type, status, attempts, started_at, lease_owner,
                                   lease_expires_at, completed_at, last_error)
VALUES (pg_temp.plan_id(n), job_type, status,
        CASE WHEN status = 'pending' THEN 0 ELSE 1 END,
        CASE WHEN status <> 'pending' THEN now() - interval '3 days' END,
        CASE WHEN status = 'processing' THEN 1 END,
        CASE WHEN status = 'processing' THEN now() + interval '1 hour' END,
        CASE WHEN status IN ('completed', 'failed') THEN now() - interval '2 days' END,
        CASE WHEN status = 'failed' THEN 'boom' END)
RETURNING id
$$;

SELECT plan(2 + 6 + 2 * 39 + 3);
SELECT pgtap_fixtures.share_pgtap_state('app_role', 'worker_role', 'ops_role', 'shim_role');

------------------------------------------------------------------------------------------------
-- Statically: SQL and PL/pgSQL functions pin search_path
------------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                    JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
                                    AND d.deptype = 'e'
                    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'regen_queue'
                    JOIN pg_language l ON l.oid = p.prolang
                   WHERE l.lanname <> 'c'
                     AND NOT 'search_path=pg_catalog, pg_temp'
                             = ANY (coalesce(p.proconfig, '{}'))$$,
                'every SQL and PL/pgSQL function of the extension pins search_path to '
                'pg_catalog, pg_temp');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                    JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
                                    AND d.deptype = 'e'
                    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'regen_queue'
                   WHERE p.prosecdef
                     AND NOT 'search_path=pg_catalog, pg_temp'
                             = ANY (coalesce(p.proconfig, '{}'))$$,
                'every SECURITY DEFINER function of the extension, C ones included, pins it');

------------------------------------------------------------------------------------------------
-- Controls: the shadows catch unqualified names under both paths, and the harness names none
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.call_with_path('pgtap_evil, pg_catalog, public',
                                 $$SELECT 'x' OPERATOR(pg_catalog.||) 'y'$$),
          pg_temp.clean('xy'), 'control: a statement of qualified names calls no shadow');
SELECT cmp_ok((pg_temp.call_with_path('pgtap_evil, pg_catalog, public',
                                      'SELECT now() IS NOT NULL') ->> 'shadows_called')::int,
              '>', 0, 'control: with the schema first, now() is a shadow');
SELECT cmp_ok((pg_temp.call_with_path('pgtap_evil, pg_catalog, public',
                                      $$SELECT count(*) FROM job_queue WHERE 1 = 1$$)
               ->> 'shadows_called')::int,
              '>', 0, 'control: with the schema first, count, job_queue and = are shadows');
SELECT cmp_ok((pg_temp.call_with_path('pgtap_evil, pg_catalog, public',
                                      $$SELECT 'a'::text$$) ->> 'shadows_called')::int,
              '>', 0, 'control: with the schema first, the type text is a shadow');
SELECT cmp_ok((pg_temp.call_with_path('public, pgtap_evil',
                 $$SELECT 'pending'::regen_queue.job_status = 'processing'$$)
               ->> 'shadows_called')::int,
              '>', 0, 'control: with the schema last, = on job_status is still a shadow');
SELECT cmp_ok((pg_temp.call_with_path('public, pgtap_evil',
                                      $$SELECT format('%s of %s', 1, 2)$$)
               ->> 'shadows_called')::int,
              '>', 0, 'control: with the schema last, format(text, integer, integer) is too');

-- From here on, no shadow may be called.
DELETE FROM pgtap_evil.calls;
CREATE TEMP TABLE rq_hits_after_controls AS SELECT pg_temp.hits() AS n;

------------------------------------------------------------------------------------------------
-- Every API function, under each path
------------------------------------------------------------------------------------------------

SET pgtap.run = 1;
\set path 'pgtap_evil, pg_catalog, public'
\ir search_path_calls.psql

SET pgtap.run = 2;
\set path 'public, pgtap_evil'
\ir search_path_calls.psql

------------------------------------------------------------------------------------------------
-- After all of it
------------------------------------------------------------------------------------------------

SELECT is_empty('SELECT shadow, called_by FROM pgtap_evil.calls',
                'no shadow was called since the controls (committed calls, named)');
SELECT is(pg_temp.hits(), (SELECT n FROM rq_hits_after_controls),
          'no shadow was called since the controls (calls of statements that failed too)');
SELECT is_empty($$SELECT rolname, setconfig FROM pg_db_role_setting s
                    JOIN pg_roles r ON r.oid = s.setrole
                   WHERE array_to_string(setconfig, ',') ~ 'pgtap_evil'$$,
                'no role keeps the attacker''s search_path');

SELECT * FROM finish();

RESET regen_queue.worker_token;
DELETE FROM regen_queue.job_queue;
SELECT regen_unregister_handler('pgtap_unpinned') \g /dev/null
DROP FUNCTION pgtap_fixtures.unpinned_handler(regen_queue.job_queue);
DISCARD TEMP;
DROP SCHEMA pgtap_evil CASCADE;
REVOKE USAGE ON SCHEMA regen_queue FROM pgtap_attacker;
DROP ROLE pgtap_attacker;
