-- regen_enqueue under hostile input, class by class: NUL escapes, lone surrogates, invalid
-- UTF-8 (refused by PostgreSQL before regen_enqueue in a UTF8 database; in a SQL_ASCII one it
-- reaches it), deep and huge JSON, every override with every wrong JSON type, duplicate keys,
-- SQL text in keys and values, odd whitespace and invisible characters around trimmed fields,
-- and bad values of every other argument. Each refused call prints its SQLSTATE, message,
-- detail and the error's column name field, and how many jobs it queued (always 0); values
-- that are accepted are stored as data, and the queue's tables and catalog stay intact.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_hostile;

-- Text with every character outside printable ASCII written as <U+XXXX>.
CREATE FUNCTION regress_hostile.visible(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT string_agg(CASE WHEN ascii(c) BETWEEN 32 AND 126 THEN c
                       ELSE format('<U+%s>', upper(lpad(to_hex(ascii(c)),
                                                        greatest(4, length(to_hex(ascii(c)))),
                                                        '0'))) END,
                  '' ORDER BY n)
  FROM regexp_split_to_table(s, '') WITH ORDINALITY AS t(c, n)
$$;

-- Every statement tried, by class of input (the setting regress_hostile.class), with its
-- SQLSTATE and the number of jobs it queued.
CREATE TABLE regress_hostile.outcomes (
    n       serial PRIMARY KEY,
    class   text NOT NULL,
    state   text NOT NULL,
    queued  bigint NOT NULL
);

-- The outcome of a statement that answers one value: 'ok' and that value, or its SQLSTATE,
-- message, detail and column name; then the number of jobs it queued.
CREATE FUNCTION regress_hostile.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    jobs_before bigint := (SELECT count(*) FROM regen_queue.job_queue);
    queued bigint;
    answer text;
    state text;
    message text;
    detail text;
    field text;
BEGIN
    BEGIN
        EXECUTE statement INTO answer;
        state := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL, field = COLUMN_NAME;
    END;
    queued := (SELECT count(*) FROM regen_queue.job_queue) - jobs_before;
    INSERT INTO regress_hostile.outcomes (class, state, queued)
    VALUES (current_setting('regress_hostile.class'), state, queued);
    RETURN concat_ws(' | ', state || coalesce(': ' || regress_hostile.visible(answer), ''),
                     regress_hostile.visible(message),
                     regress_hostile.visible(nullif(detail, '')),
                     'column ' || regress_hostile.visible(nullif(field, '')),
                     format('queued %s', queued));
END
$$;

-- Queue a job of a new plan with these overrides, given as the text of a jsonb literal; the
-- answer is the job's payload.
CREATE FUNCTION regress_hostile.enqueue(overrides text) RETURNS text
LANGUAGE sql
RETURN regress_hostile.try(format(
    'SELECT (regen_enqueue(gen_random_uuid(), %L::jsonb)).payload', overrides));

-- The same with overrides built in SQL.
CREATE FUNCTION regress_hostile.enqueue_jsonb(overrides jsonb) RETURNS text
LANGUAGE sql
RETURN regress_hostile.enqueue(overrides::text);

CREATE FUNCTION regress_hostile.noop(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN jsonb_build_object('topic', job.payload #>> '{overrides,topic}');
SELECT regen_register_handler('plan_regeneration', 'regress_hostile.noop(regen_queue.job_queue)');

-- The queue's relations, functions and handlers as they are now, to compare with at the end.
CREATE TABLE regress_hostile.catalog_before AS
SELECT 'relation' AS kind, c.oid::regclass::text AS name FROM pg_class c
 WHERE c.relnamespace = 'regen_queue'::regnamespace
UNION ALL
SELECT 'function', p.oid::regprocedure::text FROM pg_proc p
  JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue')
UNION ALL
SELECT 'handler', job_type || ' ' || handler FROM regen_queue.handler;

\pset tuples_only on

------------------------------------------------------------------------------------------------
-- NUL: jsonb cannot hold \u0000 (22P05), so no NUL reaches regen_enqueue, from SQL or from an
-- HTTP body; json can hold it, but regen_enqueue takes no json, and text holds no NUL at all.
-- A backslash followed by u0000 as plain text is six characters of data.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'NUL escapes';

SELECT regress_hostile.enqueue('{"topic": "abc\u0000def"}');
SELECT regress_hostile.enqueue('{"top\u0000ic": "abc"}');
SELECT regress_hostile.enqueue('{"notes": "\u0000"}');
SELECT regress_hostile.enqueue('{"skillLevel": "beginner\u0000"}');
SELECT regress_hostile.enqueue('{"startDate": "2024-01-01\u0000"}');
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
                                                   '{"topic": "abc\u0000def"}'::json)).payload$$);
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
                                    '{"topic": "abc\u0000def"}'::json::jsonb)).payload$$);
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
    regen_queue.http_request_overrides('{"overrides": {"topic": "abc\u0000def"}}'))).payload$$);
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
                                                   jsonb_build_object('topic', chr(0)))).payload$$);
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('topic', E'abc\\u0000def'));

------------------------------------------------------------------------------------------------
-- Surrogates: a lone high or low surrogate escape, a reversed pair, a high one followed by
-- something else, in values and in keys, are not JSON that jsonb accepts (22P02); a proper
-- pair is one character. As UTF-8 bytes, surrogates are invalid (22021).
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'lone surrogates';

SELECT regress_hostile.enqueue('{"topic": "\ud800"}');
SELECT regress_hostile.enqueue('{"topic": "abc\udfff"}');
SELECT regress_hostile.enqueue('{"topic": "\udc00\ud800abc"}');
SELECT regress_hostile.enqueue('{"topic": "\ud800abc"}');
SELECT regress_hostile.enqueue('{"topic": "\ud800\u0041bc"}');
SELECT regress_hostile.enqueue('{"topic": "\ud800\ud800\udc00"}');
SELECT regress_hostile.enqueue('{"notes": "\udbff"}');
SELECT regress_hostile.enqueue('{"\ud800": "abc"}');
SELECT regress_hostile.enqueue('{"topic\udfff": "abc"}');
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
    regen_queue.http_request_overrides('{"overrides": {"topic": "\ud800abc"}}'))).payload$$);
-- a pair is one character: three of them are a topic, two are not
SELECT regress_hostile.enqueue('{"topic": "\ud83d\ude00\ud83d\ude00\ud83d\ude00"}');
SELECT regress_hostile.enqueue('{"topic": "\ud83d\ude00\ud83d\ude00"}');
-- surrogates and CESU-8 pairs written as bytes
SELECT regress_hostile.try($$SELECT convert_from('\xeda080'::bytea, 'UTF8')$$);
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(), jsonb_build_object(
    'topic', convert_from('\x61eda0bdedb88062'::bytea, 'UTF8')))).payload$$);

------------------------------------------------------------------------------------------------
-- Invalid UTF-8: in a UTF8 database no text holds it (22021 wherever bytes become text), so
-- none reaches regen_enqueue; the SQL_ASCII database at the end shows what happens when it does.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'invalid UTF-8 (UTF8 database)';

SELECT b AS bytes,
       regress_hostile.try(format(
           $$SELECT (regen_enqueue(gen_random_uuid(),
                convert_from('\x7b22746f706963223a2022%s22207d'::bytea, 'UTF8')::jsonb)).payload$$,
           b)) AS as_topic,
       regress_hostile.try(format(
           $$SELECT (regen_enqueue(gen_random_uuid(),
                convert_from('\x7b22%s223a20317d'::bytea, 'UTF8')::jsonb)).payload$$,
           b)) AS as_key
  FROM (VALUES ('c328'), ('c0af'), ('e08080'), ('f4908080'), ('ff'), ('e282'),
               ('616263ed9fbf80')) AS v(b)
 ORDER BY b;
SELECT regress_hostile.try($$SELECT regen_queue.http_request_overrides(
    convert_from('\x7b226f7665727269646573223a207b22746f706963223a2022ff227d7d'::bytea, 'UTF8'))$$);

------------------------------------------------------------------------------------------------
-- Deep JSON: 10,000 levels reach regen_enqueue and are refused by type, wherever they are;
-- 100,000 levels exceed PostgreSQL's stack depth while parsing (54001).
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'deep JSON';

SELECT regress_hostile.enqueue(
    '{"topic": ' || repeat('[', 10000) || repeat(']', 10000) || '}');
SELECT regress_hostile.enqueue(
    '{"notes": ' || repeat('{"a": ', 10000) || 'null' || repeat('}', 10000) || '}');
SELECT regress_hostile.enqueue(
    '{"weeklyHours": ' || repeat('[', 10000) || '10' || repeat(']', 10000) || '}');
SELECT regress_hostile.enqueue(
    '{"deep": ' || repeat('{"deep": ', 10000) || '1' || repeat('}', 10000) || '}');
SELECT regress_hostile.enqueue(repeat('[', 10000) || repeat(']', 10000));
SELECT regress_hostile.enqueue(
    '{"topic": ' || repeat('[', 100000) || repeat(']', 100000) || '}');
SELECT regress_hostile.try(format(
    $$SELECT (regen_enqueue(gen_random_uuid(), regen_queue.http_request_overrides(%L))).payload$$,
    '{"overrides": {"topic": ' || repeat('[', 10000) || repeat(']', 10000) || '}}'));

------------------------------------------------------------------------------------------------
-- Huge JSON: megabytes of value or key are refused; an unknown key is named cut to 80 bytes
-- (message and column name) and 64 bytes (detail); of 100,000 unknown keys, the one jsonb
-- orders first (the shortest) is named. A number of 100,000 decimals is more than numeric
-- holds (22003, before regen_enqueue). The longest values allowed are accepted.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'huge JSON';

SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('notes', repeat('n', 5000000)));
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('topic', repeat('t', 5000000)));
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('skillLevel', repeat('s', 5000000)));
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('startDate', repeat('2', 5000000)));
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object(repeat('k', 1000000), 1));
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('topic', 'Rust', repeat('é', 1000000), 1));
SELECT regress_hostile.enqueue_jsonb(
    (SELECT jsonb_object_agg('key' || n, n) FROM generate_series(100000, 199999) n));
SELECT regress_hostile.enqueue('{"weeklyHours": 1' || repeat('0', 100000) || '}');
SELECT regress_hostile.enqueue('{"weeklyHours": 0.' || repeat('0', 100000) || '1}');
SELECT regress_hostile.enqueue(
    '{"weeklyHours": ' || repeat('[1, ', 100000) || '1' || repeat(']', 100000) || '}');
SELECT regress_hostile.try(format(
    $$SELECT format('topic %%s characters, notes %%s characters, payload %%s bytes',
                    length(j.payload #>> '{overrides,topic}'),
                    length(j.payload #>> '{overrides,notes}'), octet_length(j.payload::text))
        FROM regen_enqueue(gen_random_uuid(), %L::jsonb) j$$,
    jsonb_build_object('topic', ' ' || repeat('😀', 200) || ' ',
                       'notes', ' ' || repeat('😀', 2000) || ' ')));

------------------------------------------------------------------------------------------------
-- Every override with every kind of JSON value: numbers as strings, fractions, booleans,
-- null, arrays, objects, huge and tiny numbers, -0 (jsonb stores 0), out of range.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'wrong types';

\pset tuples_only off
SELECT k AS override, v AS value,
       regress_hostile.enqueue(format('{"%s": %s}', k, v)) AS outcome
  FROM unnest(ARRAY['topic', 'notes', 'skillLevel', 'weeklyHours', 'learningStyle',
                    'startDate', 'deadlineDate']) WITH ORDINALITY AS keys(k, key_order),
       unnest(ARRAY['"10"', '10', '2.5', '80.5', '1e400', '-1e400', '1e-400', '-0', '-1',
                    '81', 'true', 'false', 'null', '[]', '["beginner"]', '{}',
                    '{"topic": "Rust"}', '""']) WITH ORDINALITY AS vals(v, value_order)
 ORDER BY key_order, value_order;
\pset tuples_only on

-- numbers that are whole in disguise, and are normalised
SELECT regress_hostile.enqueue('{"weeklyHours": ' || v || '}')
  FROM unnest(ARRAY['-0', '-0.0', '80.000', '8e1', '0.8e2', '800e-1', '0e400', '1E1']) AS v;

------------------------------------------------------------------------------------------------
-- Duplicate keys: jsonb keeps the last value of a key (json too, once cast), so the last one
-- is what regen_enqueue sees; keys that only look alike are other keys.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'duplicate keys';

SELECT regress_hostile.enqueue('{"topic": "Rust basics", "topic": "x"}');
SELECT regress_hostile.enqueue('{"topic": "x", "topic": "Rust basics"}');
SELECT regress_hostile.enqueue('{"weeklyHours": "ten", "weeklyHours": 10}');
SELECT regress_hostile.enqueue('{"weeklyHours": 10, "weeklyHours": "ten"}');
SELECT regress_hostile.enqueue('{"notes": "kept?", "notes": null, "notes": "last"}');
SELECT regress_hostile.enqueue('{"color": 1, "color": 2}');
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
    '{"skillLevel": "expert", "skillLevel": "advanced"}'::json::jsonb)).payload$$);
SELECT regress_hostile.enqueue('{"topic": "Rust basics", "Topic": "Rust basics"}');
SELECT regress_hostile.enqueue('{"\uff54\uff4f\uff50\uff49\uff43": "Rust basics"}');
SELECT regress_hostile.enqueue('{"top\u200bic": "Rust basics"}');
SELECT regress_hostile.enqueue('{"topic\u00a0": "Rust basics"}');
SELECT regress_hostile.enqueue('{" topic": "Rust basics"}');
SELECT regress_hostile.enqueue('{"to\u0301pic": "Rust basics"}');

------------------------------------------------------------------------------------------------
-- SQL text in values and keys is data: accepted values are stored exactly as given, refused
-- ones are named in the error, and nothing of it is executed.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'SQL text';

CREATE TABLE regress_hostile.sql_text (n integer PRIMARY KEY, topic text);
INSERT INTO regress_hostile.sql_text VALUES
    (1, $t$'); DROP TABLE regen_queue.job_queue; --$t$),
    (2, $t$Robert'); DELETE FROM regen_queue.handler; --$t$),
    (3, $t$$$; TRUNCATE regen_queue.job_queue; $$$t$),
    (4, $t$\'; SELECT pg_sleep(10); --$t$),
    (5, $t$" || (SELECT current_user) || "$t$),
    (6, $t$%s%s%s%n%x %1$s$t$),
    (7, $t$*/ DROP SCHEMA regen_queue CASCADE; /*$t$),
    (8, $t$'; COPY regen_queue.job_queue TO PROGRAM 'touch /tmp/x'; --$t$);
SELECT n, regress_hostile.enqueue_jsonb(jsonb_build_object('topic', topic, 'notes', topic))
  FROM regress_hostile.sql_text ORDER BY n;
-- what was stored is what was given, byte for byte
SELECT count(*) AS stored_exactly FROM regress_hostile.sql_text s
  JOIN regen_queue.job_queue j ON j.payload #>> '{overrides,topic}' = s.topic
                              AND j.payload #>> '{overrides,notes}' = s.topic;

-- in keys, and in values that must be one of a list or a date
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object(topic, 'x'))
  FROM regress_hostile.sql_text ORDER BY n;
SELECT regress_hostile.enqueue_jsonb(jsonb_build_object('skillLevel', $t$beginner' OR '1'='1$t$));
SELECT regress_hostile.enqueue_jsonb(
    jsonb_build_object('learningStyle', $t$video'); DROP TABLE regen_queue.job_queue; --$t$));
SELECT regress_hostile.enqueue_jsonb(
    jsonb_build_object('startDate', $t$2024-01-01'); DROP TABLE regen_queue.job_queue; --$t$));
-- in the job type, which is looked up as a value
SELECT regress_hostile.try(format(
    'SELECT (regen_enqueue(gen_random_uuid(), job_type => %L)).status', topic))
  FROM regress_hostile.sql_text ORDER BY n;
SELECT regress_hostile.try($$SELECT (regen_enqueue(gen_random_uuid(),
                                     job_type => $t$x' OR '1'='1$t$)).status$$);
-- through an HTTP body
SELECT regress_hostile.try(format(
    $$SELECT (regen_enqueue(gen_random_uuid(), regen_queue.http_request_overrides(%L))).payload$$,
    jsonb_build_object('overrides', jsonb_build_object('topic', topic))::text))
  FROM regress_hostile.sql_text WHERE n = 1;
SELECT regress_hostile.try(format(
    $$SELECT regen_queue.http_request_overrides(%L)$$,
    jsonb_build_object('overrides', '{}'::jsonb, topic, 1)::text))
  FROM regress_hostile.sql_text WHERE n = 1;

-- The jobs carrying SQL text drain like any other: the handler reads it back as data.
SET regen_queue.max_jobs_per_drain = 1000;
SELECT regen_drain(1000);
RESET regen_queue.max_jobs_per_drain;
SELECT count(*) AS results_are_the_topics FROM regress_hostile.sql_text s
  JOIN regen_queue.job_queue j ON j.result ->> 'topic' = s.topic AND j.status = 'completed';

------------------------------------------------------------------------------------------------
-- Trimming of topic and notes: which characters around a value are trimmed (Unicode
-- White_Space and U+FEFF, as JavaScript's trim) and which are kept as part of it (zero-width
-- and direction marks, controls, other format characters); inside a value nothing changes.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'odd whitespace and Unicode';

\pset tuples_only off
SELECT 'U+' || upper(h) AS around,
       regress_hostile.enqueue_jsonb(
           jsonb_build_object('topic', chr(cp) || 'abc' || chr(cp))) AS topic,
       regress_hostile.enqueue_jsonb(jsonb_build_object('notes', chr(cp))) AS notes_of_it_alone
  FROM unnest(ARRAY['0009', '000a', '000b', '000c', '000d', '0020', '0085', '00a0', '1680',
                    '2000', '2001', '2002', '2003', '2004', '2005', '2006', '2007', '2008',
                    '2009', '200a', '2028', '2029', '202f', '205f', '3000', 'feff',
                    -- kept
                    '0001', '001b', '001f', '007f', '009f', '00ad', '034f', '061c', '180e',
                    '200b', '200c', '200d', '200e', '200f', '202a', '202b', '202c', '202d',
                    '202e', '2060', '2066', '2067', '2068', '2069', 'fffc', 'fffe', 'e0001'])
       WITH ORDINALITY AS c(h, n),
       LATERAL (SELECT ('x' || lpad(h, 8, '0'))::bit(32)::integer AS cp) AS code
 ORDER BY n;
\pset tuples_only on

-- A topic of three invisible characters is three characters; one of three combining
-- sequences is six; spaces inside a value stay.
SELECT regress_hostile.enqueue('{"topic": "\u200b\u200b\u200b"}');
SELECT regress_hostile.enqueue('{"topic": "\u200b\u200b"}');
SELECT regress_hostile.enqueue('{"topic": "e\u0301e\u0301e\u0301"}');
SELECT regress_hostile.enqueue('{"topic": " a\u00a0\u3000\tb "}');
SELECT regress_hostile.enqueue('{"topic": "\u202eabc\u202c"}');
SELECT regress_hostile.enqueue('{"notes": "\u00a0\u2028\ufeff\t\r\n"}');
-- no trimming, no case folding, no normalisation in fields that must match exactly
SELECT regress_hostile.enqueue('{"skillLevel": "beginner\u00a0"}');
SELECT regress_hostile.enqueue('{"skillLevel": "begi\u200bnner"}');
SELECT regress_hostile.enqueue('{"learningStyle": "\ufeffvideo"}');
SELECT regress_hostile.enqueue('{"learningStyle": "VIDEO"}');
SELECT regress_hostile.enqueue('{"startDate": "\uff12\uff10\uff12\uff14-01-01"}');
SELECT regress_hostile.enqueue('{"startDate": "2024-01-01\u200f"}');
SELECT regress_hostile.enqueue('{"startDate": " 2024-01-01"}');
SELECT regress_hostile.enqueue('{"deadlineDate": "2024-01-01T00:00:00Z"}');
SELECT regress_hostile.enqueue('{"deadlineDate": "+2024-01-01"}');
SELECT regress_hostile.enqueue('{"deadlineDate": "0000-01-01"}');
SELECT regress_hostile.enqueue('{"deadlineDate": "9999-12-31"}');

------------------------------------------------------------------------------------------------
-- The other arguments: plan_id, user_id, priority, run_at, max_attempts, job_type. Values of
-- the wrong type are refused when the call is built (22P02, 22003, 22007, 42883); NULLs take
-- the defaults, except plan_id's.
------------------------------------------------------------------------------------------------

SET regress_hostile.class = 'other arguments';

SELECT regress_hostile.try(format('SELECT (regen_enqueue(%s)).plan_id', a))
  FROM unnest(ARRAY['NULL', $$'not a uuid'$$, $$''$$, $$'00000000-0000-0000-0000-00000000000'$$,
                    $$'00000000-0000-0000-0000-0000000000001'$$,
                    $$'g0000000-0000-0000-0000-000000000001'$$,
                    $$'{00000000-0000-0000-0000-0000000000AB}'$$,
                    $$'00000000000000000000000000000ABC'$$, '42', $$'{}'::jsonb$$]) AS a;
SELECT regress_hostile.try(format(
           'SELECT (regen_enqueue(gen_random_uuid(), user_id => %s)).user_id', a))
  FROM unnest(ARRAY['NULL', $$'nobody'$$, $$'00000000-0000-0000-0000-00000000000G'$$,
                    $$'00000000-0000-0000-0000-0000000000CD'$$]) AS a;
SELECT regress_hostile.try(format(
           'SELECT (regen_enqueue(gen_random_uuid(), priority => %s)).priority', a))
  FROM unnest(ARRAY['NULL', '1000001', '-1000001', '2147483647', '-2147483648', '2147483648',
                    '2.5', $$'2.5'$$, $$'1e3'$$, $$'7'$$, '1000000', '-1000000']) AS a;
SELECT regress_hostile.try(format(
           $$SELECT (regen_enqueue(gen_random_uuid(), run_at => %s)).scheduled_for
                        AT TIME ZONE 'UTC'$$, a))
  FROM unnest(ARRAY[$$'infinity'$$, $$'-infinity'$$, $$'tomorrow-ish'$$, $$'2024-02-30'$$,
                    $$'294277-01-01 00:00:00+00'$$, $$'294276-12-31 23:59:59+00'$$,
                    $$'4714-11-24 00:00:00+00 BC'$$, $$'2024-06-01 12:00:00+00'$$]) AS a;
SELECT regress_hostile.try(format(
           'SELECT (regen_enqueue(gen_random_uuid(), run_at => NULL)).scheduled_for = now()'));
SELECT regress_hostile.try(format(
           'SELECT (regen_enqueue(gen_random_uuid(), max_attempts => %s)).max_attempts', a))
  FROM unnest(ARRAY['NULL', '0', '-1', '101', '2147483647', '-2147483648', '1.5', '1', '100'])
       AS a;
SELECT regress_hostile.try(format(
           'SELECT (regen_enqueue(gen_random_uuid(), job_type => %s)).job_type', a))
  FROM unnest(ARRAY['NULL', $$''$$, $$'PLAN_REGENERATION'$$, $$'plan_regeneration '$$,
                    $$' plan_regeneration'$$, $$E'plan_regeneration\n'$$,
                    $$'plan_regeneration' || chr(8203)$$, $$'plan_régénération'$$,
                    $$repeat('j', 1000000)$$, $$repeat('😀', 1000)$$, $$E'\x01\x1b[2J'$$,
                    $$'plan_regeneration'$$]) AS a;

------------------------------------------------------------------------------------------------
-- After all of it: what was queued is only what was accepted, and the queue's tables,
-- functions and handlers are exactly as before.
------------------------------------------------------------------------------------------------

\pset tuples_only off
SELECT class, count(*) AS cases, count(*) FILTER (WHERE state <> 'ok') AS refused,
       coalesce(sum(queued) FILTER (WHERE state <> 'ok'), 0) AS queued_by_refused,
       count(*) FILTER (WHERE state = 'ok') AS accepted,
       coalesce(sum(queued) FILTER (WHERE state = 'ok'), 0) AS queued_by_accepted
  FROM regress_hostile.outcomes GROUP BY class ORDER BY min(n);
SELECT (SELECT count(*) FROM regen_queue.job_queue) AS jobs,
       (SELECT count(*) FROM regress_hostile.outcomes WHERE state = 'ok') AS accepted_calls;
SELECT kind, name FROM regress_hostile.catalog_before
EXCEPT ALL
(SELECT 'relation', c.oid::regclass::text FROM pg_class c
  WHERE c.relnamespace = 'regen_queue'::regnamespace
 UNION ALL
 SELECT 'function', p.oid::regprocedure::text FROM pg_proc p
   JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
  WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'regen_queue')
 UNION ALL
 SELECT 'handler', job_type || ' ' || handler FROM regen_queue.handler);
SELECT count(*) AS catalog_entries FROM regress_hostile.catalog_before;

------------------------------------------------------------------------------------------------
-- A SQL_ASCII database: text there is bytes, and jsonb carries bytes that are not UTF-8 to
-- regen_enqueue, which refuses them in text fields, does not match them in the others, and
-- names a key or job type holding them with U+FFFD in their place. (Bytes are shown escaped.)
------------------------------------------------------------------------------------------------

SELECT current_database() AS regress_database \gset
CREATE DATABASE regress_hostile_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'
    TEMPLATE template0;
\c regress_hostile_ascii
SET client_min_messages = warning;
CREATE EXTENSION regen_queue;
CREATE SCHEMA regress_ascii;
CREATE FUNCTION regress_ascii.noop(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{}'::jsonb;
SELECT regen_register_handler('plan_regeneration', 'regress_ascii.noop(regen_queue.job_queue)');

-- Bytes written as \ooo (octal) when they are not printable ASCII.
CREATE FUNCTION regress_ascii.shown(s text) RETURNS text
LANGUAGE sql IMMUTABLE RETURN encode(convert_to(s, 'SQL_ASCII'), 'escape');

CREATE TABLE regress_ascii.outcomes (n serial, state text, queued bigint);
CREATE FUNCTION regress_ascii.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    jobs_before bigint := (SELECT count(*) FROM regen_queue.job_queue);
    queued bigint;
    answer text;
    state text;
    message text;
    detail text;
    field text;
BEGIN
    BEGIN
        EXECUTE statement INTO answer;
        state := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL, field = COLUMN_NAME;
    END;
    queued := (SELECT count(*) FROM regen_queue.job_queue) - jobs_before;
    INSERT INTO regress_ascii.outcomes (state, queued) VALUES (state, queued);
    RETURN concat_ws(' | ', state || coalesce(': ' || regress_ascii.shown(answer), ''),
                     regress_ascii.shown(message), regress_ascii.shown(nullif(detail, '')),
                     'column ' || regress_ascii.shown(nullif(field, '')),
                     format('queued %s', queued));
END
$$;

-- Overrides whose JSON text is these bytes (hexadecimal).
CREATE FUNCTION regress_ascii.enqueue(json_hex text) RETURNS text
LANGUAGE sql
RETURN regress_ascii.try(format(
    $$SELECT (regen_enqueue(gen_random_uuid(),
                            convert_from(%L::bytea, 'SQL_ASCII')::jsonb)).payload$$,
    '\x' || json_hex));

-- jsonb holds the bytes as they are
SELECT regress_ascii.shown(convert_from('\x7b22746f706963223a2022ff4142c0af227d', 'SQL_ASCII')
                           ::jsonb ->> 'topic') AS bytes_in_jsonb;
-- {"topic": "<bytes>ABC"}, {"notes": ...}, {"skillLevel": ...}, {"startDate": ...}
SELECT b AS bytes,
       regress_ascii.enqueue('7b22746f706963223a2022' || b || '414243227d') AS topic,
       regress_ascii.enqueue('7b226e6f746573223a2022' || b || '414243227d') AS notes
  FROM unnest(ARRAY['ff', 'c328', 'c0af', 'eda080', 'eda0bdedb880', 'f4908080', 'e282', '80',
                    'c2a0']) AS b;
SELECT regress_ascii.enqueue('7b22736b696c6c4c6576656c223a2022626567696e6e6572ff227d');
SELECT regress_ascii.enqueue('7b2273746172744461746522203a2022323032342d30312d3031ff227d');
-- keys: named with U+FFFD (bytes 357 277 275) for each invalid sequence, in message, detail
-- and column name
SELECT regress_ascii.enqueue('7b22746f706963ff223a2022616263227d');
SELECT regress_ascii.enqueue('7b22' || repeat('ff', 100) || '223a20317d');
-- valid UTF-8 is counted in characters, as in a UTF8 database
SELECT regress_ascii.enqueue('7b22746f706963223a2022c3a9c3a9c3a9227d');
SELECT regress_ascii.enqueue('7b22746f706963223a2022c3a9c3a9227d');
-- \u escapes beyond ASCII have no SQL_ASCII form (0A000), before regen_enqueue
SELECT regress_ascii.try($$SELECT (regen_enqueue(gen_random_uuid(),
                                                 '{"topic": "caf\u00e9"}')).payload$$);
-- the job type
SELECT regress_ascii.try($$SELECT (regen_enqueue(gen_random_uuid(),
    job_type => convert_from('\x706c616eff5f726567656e65726174696f6e', 'SQL_ASCII'))).status$$);
\pset tuples_only off
SELECT 'invalid UTF-8 (SQL_ASCII database)' AS class, count(*) AS cases,
       count(*) FILTER (WHERE state <> 'ok') AS refused,
       coalesce(sum(queued) FILTER (WHERE state <> 'ok'), 0) AS queued_by_refused,
       count(*) FILTER (WHERE state = 'ok') AS accepted,
       coalesce(sum(queued) FILTER (WHERE state = 'ok'), 0) AS queued_by_accepted
  FROM regress_ascii.outcomes;
SELECT count(*) AS jobs, count(*) FILTER (WHERE payload::text ~ '[\x80-\xff]') AS with_bytes
  FROM regen_queue.job_queue;
\pset tuples_only on

\c :regress_database
DROP DATABASE regress_hostile_ascii;
SET client_min_messages = warning;

SELECT regen_unregister_handler('plan_regeneration');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_hostile CASCADE;
