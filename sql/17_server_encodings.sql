-- Databases whose encoding is not UTF8 (LATIN1, EUC_JP): text there is in the server's
-- encoding, so regen_enqueue counts the characters of a topic in it and accepts any of them,
-- and a handler's error keeps its characters in last_error, which stays valid in the server's
-- encoding (readable, and within 4,000 bytes). The client reads everything as UTF8.
SET client_min_messages = warning;
SELECT current_database() AS regress_database \gset

CREATE DATABASE regress_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
    TEMPLATE template0;
CREATE DATABASE regress_euc_jp ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C'
    TEMPLATE template0;

------------------------------------------------------------------------------------------------
-- LATIN1
------------------------------------------------------------------------------------------------

\c regress_latin1
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE EXTENSION regen_queue;
CREATE SCHEMA regress_encoding;

-- 'ok' and the payload, or the SQLSTATE, message and column name.
CREATE FUNCTION regress_encoding.enqueue(overrides jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb;
    state text;
    message text;
    field text;
BEGIN
    SELECT j.payload INTO payload FROM regen_enqueue(gen_random_uuid(), overrides) j;
    IF length(payload::text) > 100 THEN
        RETURN format('ok: notes of %s characters', length(payload #>> '{overrides,notes}'));
    END IF;
    RETURN 'ok: ' || payload::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            field = COLUMN_NAME;
    RETURN concat_ws(' | ', state, message, 'column ' || nullif(field, ''));
END
$$;

CREATE FUNCTION regress_encoding.fail(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', job.payload #>> '{overrides,notes}'
        USING ERRCODE = 'RQ001', DETAIL = 'für ' || (job.payload #>> '{overrides,topic}');
END
$$;
SELECT regen_register_handler('plan_regeneration',
                              'regress_encoding.fail(regen_queue.job_queue)');

\pset tuples_only on
SELECT regress_encoding.enqueue('{"topic": "Café basics"}');
SELECT regress_encoding.enqueue('{"topic": "\u00a0Crème brûlée\u00a0"}');
SELECT regress_encoding.enqueue('{"topic": "ééé", "notes": "é"}');
SELECT regress_encoding.enqueue('{"topic": "éé"}');
SELECT regress_encoding.enqueue(jsonb_build_object('notes', repeat('é', 2000)));
SELECT regress_encoding.enqueue(jsonb_build_object('notes', repeat('é', 2001)));
SELECT regress_encoding.enqueue('{"clé": 1}');
\pset tuples_only off

-- Handler errors, of jobs queued directly (whatever regen_enqueue makes of their text): the
-- handler raises the notes, with the topic in its detail.
TRUNCATE regen_queue.job_queue;
INSERT INTO regen_queue.job_queue (plan_id, payload, max_attempts)
SELECT gen_random_uuid(),
       jsonb_build_object('overrides', jsonb_build_object('topic', t, 'notes', m)), 1
  FROM (VALUES ('Café', 'échec'), ('long', repeat('é', 5000))) AS c(t, m);
SELECT regen_drain();
SELECT payload #>> '{overrides,topic}' AS topic, status,
       CASE WHEN octet_length(last_error) > 100
            THEN left(last_error, 12) || ' ... ' || right(last_error, 12) ELSE last_error END
           AS last_error,
       octet_length(last_error) <= 4000 AS bounded,
       last_error = full_error
           OR (last_error LIKE '%...' AND starts_with(full_error, left(last_error, -3)))
           AS whole_or_cut
  FROM regen_queue.job_queue,
       LATERAL (SELECT 'RQ001: ' || (payload #>> '{overrides,notes}') || ' (für '
                       || (payload #>> '{overrides,topic}') || ')' AS full_error) AS f
 ORDER BY octet_length(payload::text);

\c :regress_database
DROP DATABASE regress_latin1;

------------------------------------------------------------------------------------------------
-- EUC_JP: two bytes per kana or kanji
------------------------------------------------------------------------------------------------

\c regress_euc_jp
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE EXTENSION regen_queue;
CREATE SCHEMA regress_encoding;

CREATE FUNCTION regress_encoding.enqueue(overrides jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb;
    state text;
    message text;
    field text;
BEGIN
    SELECT j.payload INTO payload FROM regen_enqueue(gen_random_uuid(), overrides) j;
    IF length(payload::text) > 100 THEN
        RETURN format('ok: notes of %s characters', length(payload #>> '{overrides,notes}'));
    END IF;
    RETURN 'ok: ' || payload::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            field = COLUMN_NAME;
    RETURN concat_ws(' | ', state, message, 'column ' || nullif(field, ''));
END
$$;

CREATE FUNCTION regress_encoding.fail(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', job.payload #>> '{overrides,notes}'
        USING ERRCODE = 'RQ001', DETAIL = (job.payload #>> '{overrides,topic}') || 'のため';
END
$$;
SELECT regen_register_handler('plan_regeneration',
                              'regress_encoding.fail(regen_queue.job_queue)');

\pset tuples_only on
SELECT regress_encoding.enqueue('{"topic": "日本語", "notes": "生成に失敗しました"}');
SELECT regress_encoding.enqueue('{"topic": "\u3000日本語の基礎\u3000"}');
SELECT regress_encoding.enqueue('{"topic": "日本"}');
SELECT regress_encoding.enqueue(
    jsonb_build_object('topic', 'エラー', 'notes', repeat('エ', 2000)));
SELECT regress_encoding.enqueue(jsonb_build_object('notes', repeat('エ', 2001)));
SELECT regress_encoding.enqueue('{"話題": 1}');
\pset tuples_only off

-- Handler errors, of jobs queued directly (whatever regen_enqueue makes of their text): the
-- handler raises the notes, with the topic in its detail.
TRUNCATE regen_queue.job_queue;
INSERT INTO regen_queue.job_queue (plan_id, payload, max_attempts)
SELECT gen_random_uuid(),
       jsonb_build_object('overrides', jsonb_build_object('topic', t, 'notes', m)), 1
  FROM (VALUES ('日本語', '生成に失敗しました'), ('長い', repeat('エ', 3000))) AS c(t, m);
SELECT regen_drain();
SELECT payload #>> '{overrides,topic}' AS topic, status,
       CASE WHEN octet_length(last_error) > 100
            THEN left(last_error, 12) || ' ... ' || right(last_error, 12) ELSE last_error END
           AS last_error,
       octet_length(last_error) <= 4000 AS bounded,
       last_error = full_error
           OR (last_error LIKE '%...' AND starts_with(full_error, left(last_error, -3)))
           AS whole_or_cut
  FROM regen_queue.job_queue,
       LATERAL (SELECT 'RQ001: ' || (payload #>> '{overrides,notes}') || ' ('
                       || (payload #>> '{overrides,topic}') || 'のため)' AS full_error) AS f
 ORDER BY octet_length(payload::text);

\c :regress_database
DROP DATABASE regress_euc_jp;
