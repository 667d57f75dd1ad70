-- Handler errors of megabytes and with odd bytes, and results of megabytes. last_error is
-- "<SQLSTATE>: <message> (<detail>)" with message and detail each taken up to 4,000 bytes, then
-- cleaned (text_clean.cpp): C0 controls but tab and newline, DEL, C1 controls and each maximal
-- invalid UTF-8 sequence become U+FFFD, and a text over 4,000 bytes is cut at a character
-- boundary to end in "..." within 4,000 bytes. HINT and CONTEXT are not kept. Each case's
-- last_error is compared with the text that rule gives, and the job still ends in a real state:
-- pending with its attempt counted, then failed at max_attempts (at once when permanent).
-- regen_queue.fail_job() cleans its error text the same way. A SQL_ASCII database at the end
-- raises bytes that are not UTF-8.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_errors;

-- Text with every character outside printable ASCII written as <U+XXXX>.
CREATE FUNCTION regress_errors.visible(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT string_agg(CASE WHEN ascii(c) BETWEEN 32 AND 126 THEN c
                       ELSE format('<U+%s>', upper(lpad(to_hex(ascii(c)),
                                                        greatest(4, length(to_hex(ascii(c)))),
                                                        '0'))) END,
                  '' ORDER BY n)
  FROM regexp_split_to_table(s, '') WITH ORDINALITY AS t(c, n)
$$;

-- What each job's handler does, by the job's topic: raise (sqlstate, message, detail, hint),
-- run a statement that fails (statement), or return a result. expected is the last_error the
-- rule above gives, written out independently of it.
CREATE TABLE regress_errors.cases (
    n         integer PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    sqlstate  text,
    message   text,
    detail    text,
    hint      text,
    statement text,
    result    jsonb,
    expected  text
);

CREATE FUNCTION regress_errors.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c regress_errors.cases;
BEGIN
    SELECT * INTO STRICT c FROM regress_errors.cases
     WHERE name = job.payload #>> '{overrides,topic}';
    IF c.statement IS NOT NULL THEN
        EXECUTE c.statement;
    ELSIF c.sqlstate IS NULL THEN
        RETURN c.result;
    ELSIF c.detail IS NULL AND c.hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = c.sqlstate, MESSAGE = c.message;
    ELSIF c.hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = c.sqlstate, MESSAGE = c.message, DETAIL = c.detail;
    ELSIF c.detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = c.sqlstate, MESSAGE = c.message, HINT = c.hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = c.sqlstate, MESSAGE = c.message, DETAIL = c.detail,
                              HINT = c.hint;
    END IF;
    RETURN '{}';
END
$$;
SELECT regen_register_handler('regress_errors', 'regress_errors.run(regen_queue.job_queue)');

INSERT INTO regress_errors.cases (n, name, sqlstate, message, detail, hint, expected) VALUES
    (1, 'message of 5 MB', 'P0001', repeat('m', 5000000), NULL, NULL,
     'P0001: ' || repeat('m', 3990) || '...'),
    (2, 'message and detail of 5 MB', 'P0001', repeat('m', 5000000), repeat('d', 5000000), NULL,
     'P0001: ' || repeat('m', 3990) || '...'),
    (3, 'detail and hint of 5 MB', 'P0001', 'short', repeat('d', 5000000), repeat('h', 5000000),
     'P0001: short (' || repeat('d', 3983) || '...'),
    (4, 'hint of 5 MB', 'P0001', 'hinted', NULL, repeat('h', 5000000), 'P0001: hinted'),
    (5, 'two-byte characters', 'P0001', repeat('é', 3000000), NULL, NULL,
     'P0001: ' || repeat('é', 1995) || '...'),
    (6, 'three-byte characters', 'P0001', repeat('€', 2000000), NULL, NULL,
     'P0001: ' || repeat('€', 1330) || '...'),
    (7, 'four-byte characters', 'P0001', repeat('😀', 2000000), NULL, NULL,
     'P0001: ' || repeat('😀', 997) || '...'),
    (8, 'detail cut inside a character', 'P0001', 'x', repeat('😀', 2000000), NULL,
     'P0001: x (' || repeat('😀', 996) || '...'),
    (9, 'exactly 4,000 bytes', 'P0001', repeat('m', 3993), NULL, NULL,
     'P0001: ' || repeat('m', 3993)),
    (10, 'one byte over 4,000', 'P0001', repeat('m', 3994), NULL, NULL,
     'P0001: ' || repeat('m', 3990) || '...'),
    (11, 'exactly 4,000 bytes with detail', 'P0001', 'm', repeat('d', 3989), NULL,
     'P0001: m (' || repeat('d', 3989) || ')'),
    (12, 'C0 controls and DEL', 'P0001',
     (SELECT string_agg(chr(i), '' ORDER BY i) FROM generate_series(1, 31) i) || chr(127), NULL,
     NULL,
     'P0001: ' || (SELECT string_agg(CASE WHEN i IN (9, 10) THEN chr(i) ELSE chr(65533) END, ''
                                     ORDER BY i)
                     FROM generate_series(1, 31) i) || chr(65533)),
    (13, 'C1 controls', 'P0001',
     (SELECT string_agg(chr(i), '' ORDER BY i) FROM generate_series(128, 159) i), NULL, NULL,
     'P0001: ' || repeat(chr(65533), 32)),
    (14, 'terminal escapes', 'P0001',
     E'\x1b[2J\x1b[31mred\x1b[0m \x1b]8;;http://evil.example/\x07link\x1b]8;;\x07 \u009b31m',
     E'\x1b[1A\rforged line', NULL,
     'P0001: ' || replace(replace(replace(replace(
         E'\x1b[2J\x1b[31mred\x1b[0m \x1b]8;;http://evil.example/\x07link\x1b]8;;\x07 \u009b31m'
         || E' (\x1b[1A\rforged line)', E'\x1b', chr(65533)), E'\x07', chr(65533)),
                                  E'\r', chr(65533)), E'\u009b', chr(65533))),
    (15, 'tabs and newlines are kept', 'P0001', E'line one\nline two\n\tindented', E'a\tb', NULL,
     E'P0001: line one\nline two\n\tindented (a\tb)'),
    (16, 'format characters are kept', 'P0001',
     E'\u202Egnp.exe\u202C \u200B\u2028\uFEFF\uFFFE\uFFFF' || chr(917505), NULL, NULL,
     E'P0001: \u202Egnp.exe\u202C \u200B\u2028\uFEFF\uFFFE\uFFFF' || chr(917505)),
    (17, 'controls across the cut', 'P0001', repeat(chr(1), 5000), NULL, NULL,
     'P0001: ' || repeat(chr(65533), 1330) || '...'),
    (18, 'empty message', 'P0001', '', NULL, NULL, 'P0001: '),
    (19, 'permanent, of 5 MB', 'RQ001', repeat('p', 5000000), repeat('q', 5000000), NULL,
     'RQ001: ' || repeat('p', 3990) || '...');
-- An empty detail adds nothing.
INSERT INTO regress_errors.cases (n, name, sqlstate, message, detail, hint, expected) VALUES
    (21, 'empty detail', 'P0001', 'x', '', NULL, 'P0001: x');
-- A statement of 5 MB that fails: its text is in the error's CONTEXT, which is not kept.
INSERT INTO regress_errors.cases (n, name, statement, expected) VALUES
    (20, 'context of 5 MB', 'SELECT 1 / 0 /* ' || repeat('c', 5000000) || ' */',
     '22012: division by zero');

-- Jobs of the cases, two attempts each, in order.
SELECT count((regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', name),
                            priority => 100 - n, max_attempts => 2,
                            job_type => 'regress_errors')).id) AS queued
  FROM regress_errors.cases ORDER BY 1;

-- The jobs now: status, attempts, whether last_error is what the rule gives, and whether it
-- keeps the bounds whatever the case (at most 4,000 bytes, no control character but tab and
-- newline).
CREATE VIEW regress_errors.outcome AS
SELECT c.n, c.name, j.status, j.attempts, octet_length(j.last_error) AS bytes,
       j.last_error = c.expected AS as_expected,
       octet_length(j.last_error) <= 4000
           AND j.last_error !~ '[\x01-\x08\x0b-\x1f\x7f-\x9f]' AS bounded_and_clean,
       CASE WHEN octet_length(j.last_error) <= 120 THEN regress_errors.visible(j.last_error)
            ELSE regress_errors.visible(left(j.last_error, 24)) || ' ... '
                 || regress_errors.visible(right(j.last_error, 12)) END AS last_error
  FROM regress_errors.cases c
  JOIN regen_queue.job_queue j ON j.payload #>> '{overrides,topic}' = c.name
 WHERE c.expected IS NOT NULL;

-- First attempt: the retryable errors (P0001) go back to pending with the attempt counted,
-- the permanent ones (RQ001, class 22) fail at once.
SELECT regen_drain();
SELECT * FROM regress_errors.outcome ORDER BY n;

-- Second and last attempt: every job has failed, with the same cleaned error.
UPDATE regen_queue.job_queue SET scheduled_for = now() WHERE status = 'pending';
SELECT regen_drain();
SELECT * FROM regress_errors.outcome ORDER BY n;
SELECT status, attempts, count(*) FROM regen_queue.job_queue GROUP BY status, attempts
 ORDER BY status, attempts;

------------------------------------------------------------------------------------------------
-- regen_queue.fail_job(): the error text of a caller is cleaned and cut by the same rule
-- (without a SQLSTATE), and the job goes to pending or failed as asked.
------------------------------------------------------------------------------------------------

TRUNCATE regen_queue.job_queue;
CREATE TABLE regress_errors.failures (n integer PRIMARY KEY, error text, expected text);
INSERT INTO regress_errors.failures VALUES
    (1, repeat('x', 5000000), repeat('x', 3997) || '...'),
    (2, repeat('x', 4000), repeat('x', 4000)),
    (3, repeat('x', 4001), repeat('x', 3997) || '...'),
    (4, repeat('ü', 2001), repeat('ü', 1998) || '...'),
    (5, E'bell\x07 escape\x1b[0m cr\r del\x7f c1\u0085 tab\t nl\n',
     E'bell\uFFFD escape\uFFFD[0m cr\uFFFD del\uFFFD c1\uFFFD tab\t nl\n'),
    (6, '', '');
SELECT count((regen_enqueue(('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
                            job_type => 'regress_errors')).id) AS queued
  FROM regress_errors.failures;
-- Claimed by hand, as a tool running jobs outside handlers would have them.
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, started_at = now(), lease_owner = pg_backend_pid(),
       lease_expires_at = now() + interval '1 hour';
SELECT f.n, regen_queue.fail_job(j.id, 1, f.error, retryable => f.n % 2 = 0) AS status
  FROM regress_errors.failures f
  JOIN regen_queue.job_queue j
    ON j.plan_id = ('00000000-0000-0000-0000-' || lpad(f.n::text, 12, '0'))::uuid
 ORDER BY f.n;
SELECT f.n, j.status, j.attempts, octet_length(j.last_error) AS bytes,
       j.last_error = f.expected AS as_expected
  FROM regress_errors.failures f
  JOIN regen_queue.job_queue j
    ON j.plan_id = ('00000000-0000-0000-0000-' || lpad(f.n::text, 12, '0'))::uuid
 ORDER BY f.n;

------------------------------------------------------------------------------------------------
-- Results of megabytes, deep, or with odd text are stored as returned, and the job completes.
------------------------------------------------------------------------------------------------

TRUNCATE regen_queue.job_queue;
INSERT INTO regress_errors.cases (n, name, result) VALUES
    (101, 'result of 50 MB', jsonb_build_object('big', repeat('r', 50000000))),
    (102, 'result of 100,000 keys',
     (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i)),
    (103, 'result 10,000 levels deep', (repeat('[', 10000) || repeat(']', 10000))::jsonb),
    (104, 'result with SQL text and escapes',
     jsonb_build_object('sql', $t$'); DROP TABLE regen_queue.job_queue; --$t$,
                        'escapes', E'\x1b[31m\x07\u202E')),
    (105, 'result that is JSON null', 'null'),
    (106, 'result that is SQL NULL', NULL);
SELECT count((regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', name),
                            job_type => 'regress_errors')).id) AS queued
  FROM regress_errors.cases WHERE n > 100;
SELECT regen_drain();
SELECT c.name, j.status, j.attempts, j.last_error,
       j.result IS NOT DISTINCT FROM c.result AS stored_as_returned,
       j.result IS NULL AS sql_null, octet_length(j.result::text) AS result_bytes
  FROM regress_errors.cases c
  JOIN regen_queue.job_queue j ON j.payload #>> '{overrides,topic}' = c.name
 ORDER BY c.n;

SELECT regen_unregister_handler('regress_errors');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_errors CASCADE;

------------------------------------------------------------------------------------------------
-- A SQL_ASCII database, where a handler's error can hold bytes that are not UTF-8: each
-- maximal invalid sequence becomes one U+FFFD (bytes 357 277 275), so last_error is valid
-- UTF-8. (Bytes are shown escaped.)
------------------------------------------------------------------------------------------------

SELECT current_database() AS regress_database \gset
CREATE DATABASE regress_errors_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'
    TEMPLATE template0;
\c regress_errors_ascii
SET client_min_messages = warning;
CREATE EXTENSION regen_queue;
CREATE SCHEMA regress_ascii;

CREATE FUNCTION regress_ascii.bytes(hex text) RETURNS text
LANGUAGE sql IMMUTABLE RETURN convert_from(decode(hex, 'hex'), 'SQL_ASCII');
-- Whether text is valid UTF-8 (convert_from checks it).
CREATE FUNCTION regress_ascii.is_utf8(s text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convert_from(convert_to(s, 'SQL_ASCII'), 'UTF8');
    RETURN true;
EXCEPTION WHEN character_not_in_repertoire THEN
    RETURN false;
END
$$;

CREATE TABLE regress_ascii.cases (n integer PRIMARY KEY, message text, detail text,
                                  expected text);
INSERT INTO regress_ascii.cases VALUES
    (1, regress_ascii.bytes('41ff42fe43'), NULL, 'P0001: A' || regress_ascii.bytes('efbfbd')
        || 'B' || regress_ascii.bytes('efbfbd') || 'C'),
    (2, regress_ascii.bytes('c0af'), regress_ascii.bytes('eda080'),
     'P0001: ' || repeat(regress_ascii.bytes('efbfbd'), 2)
     || ' (' || repeat(regress_ascii.bytes('efbfbd'), 3) || ')'),
    (3, regress_ascii.bytes('f4908080') || 'x' || regress_ascii.bytes('e282') || 'y'
        || regress_ascii.bytes('f09f98'), NULL,
     'P0001: ' || repeat(regress_ascii.bytes('efbfbd'), 4) || 'x'
     || regress_ascii.bytes('efbfbd') || 'y' || regress_ascii.bytes('efbfbd')),
    (4, 'valid ' || regress_ascii.bytes('c3a9f09f9880') || ' ' || regress_ascii.bytes('1b07'),
     NULL, 'P0001: valid ' || regress_ascii.bytes('c3a9f09f9880') || ' '
           || repeat(regress_ascii.bytes('efbfbd'), 2)),
    (5, repeat(regress_ascii.bytes('ff'), 5000000), repeat(regress_ascii.bytes('80'), 5000000),
     'P0001: ' || repeat(regress_ascii.bytes('efbfbd'), 1330) || '...');

CREATE FUNCTION regress_ascii.run(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c regress_ascii.cases;
BEGIN
    SELECT * INTO STRICT c FROM regress_ascii.cases WHERE n = job.priority;
    IF c.detail IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = c.message;
    END IF;
    RAISE EXCEPTION USING MESSAGE = c.message, DETAIL = c.detail;
END
$$;
SELECT regen_register_handler('regress_ascii', 'regress_ascii.run(regen_queue.job_queue)');
SELECT count((regen_enqueue(gen_random_uuid(), priority => n, max_attempts => 1,
                            job_type => 'regress_ascii')).id) AS queued
  FROM regress_ascii.cases;
SELECT regen_drain();
SELECT c.n, j.status, j.attempts, octet_length(j.last_error) AS bytes,
       j.last_error = c.expected AS as_expected, regress_ascii.is_utf8(j.last_error) AS utf8,
       encode(convert_to(left(j.last_error, 40), 'SQL_ASCII'), 'escape') AS starts_with
  FROM regress_ascii.cases c JOIN regen_queue.job_queue j ON j.priority = c.n
 ORDER BY c.n;

-- fail_job() with such bytes
TRUNCATE regen_queue.job_queue;
SELECT count((regen_enqueue(gen_random_uuid(), job_type => 'regress_ascii')).id) AS queued;
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, started_at = now(), lease_owner = pg_backend_pid(),
       lease_expires_at = now() + interval '1 hour';
SELECT regen_queue.fail_job(id, 1, regress_ascii.bytes('6f6bff0d0a'), false)
  FROM regen_queue.job_queue;
SELECT status, attempts, regress_ascii.is_utf8(last_error) AS utf8,
       encode(convert_to(last_error, 'SQL_ASCII'), 'escape') AS last_error
  FROM regen_queue.job_queue;

\c :regress_database
DROP DATABASE regress_errors_ascii;
