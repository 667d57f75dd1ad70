-- regen_enqueue: validation of the overrides. Every invalid value is refused with 22023 and a
-- message naming the field; valid values are normalised into the job's payload.
SET client_min_messages = warning;
TRUNCATE regen_queue.job_queue;

CREATE SCHEMA regress_validation;

-- The outcome of a statement: 'ok', or its SQLSTATE, message and detail.
CREATE FUNCTION regress_validation.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || message || coalesce(' | ' || nullif(detail, ''), '');
END
$$;

-- The outcome of queueing plan 1 with these overrides.
CREATE FUNCTION regress_validation.enqueue(overrides jsonb) RETURNS text
LANGUAGE sql
RETURN regress_validation.try(format(
    'SELECT regen_enqueue(%L::uuid, %L::jsonb)',
    '00000000-0000-0000-0000-000000000001', overrides));

CREATE FUNCTION regress_validation.noop(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE sql RETURN '{}'::jsonb;
SELECT regen_register_handler('plan_regeneration',
                              'regress_validation.noop(regen_queue.job_queue)');

\pset tuples_only on

-- topic: a string of 3 to 200 characters after trimming
SELECT regress_validation.enqueue('{"topic": "ab"}');
SELECT regress_validation.enqueue('{"topic": "   ab \t\n "}');
SELECT regress_validation.enqueue(jsonb_build_object('topic', repeat('x', 201)));
SELECT regress_validation.enqueue(jsonb_build_object('topic', repeat('é', 201)));
SELECT regress_validation.enqueue('{"topic": 42}');
SELECT regress_validation.enqueue('{"topic": null}');
SELECT regress_validation.enqueue('{"topic": ""}');
-- Unicode spaces (no-break, ideographic, byte order mark) are trimmed too
SELECT regress_validation.enqueue('{"topic": "\u00a0\u3000ab\ufeff\u2003"}');

-- notes: at most 2000 characters after trimming
SELECT regress_validation.enqueue(jsonb_build_object('notes', repeat('n', 2001)));
SELECT regress_validation.enqueue(jsonb_build_object('notes', ' ' || repeat('ü', 2001) || ' '));
SELECT regress_validation.enqueue('{"notes": ["a"]}');

-- weeklyHours: a whole number from 0 to 80
SELECT regress_validation.enqueue('{"weeklyHours": -5}');
SELECT regress_validation.enqueue('{"weeklyHours": 81}');
SELECT regress_validation.enqueue('{"weeklyHours": 2.5}');
SELECT regress_validation.enqueue('{"weeklyHours": "10"}');
SELECT regress_validation.enqueue('{"weeklyHours": 1e3}');
SELECT regress_validation.enqueue('{"weeklyHours": true}');
SELECT regress_validation.enqueue('{"weeklyHours": null}');

-- skillLevel and learningStyle: one of a fixed list, exactly
SELECT regress_validation.enqueue('{"skillLevel": "expert"}');
SELECT regress_validation.enqueue('{"skillLevel": "Beginner"}');
SELECT regress_validation.enqueue('{"skillLevel": null}');
SELECT regress_validation.enqueue('{"learningStyle": "bad"}');
SELECT regress_validation.enqueue('{"learningStyle": " video"}');

-- startDate and deadlineDate: YYYY-MM-DD calendar dates, or null
SELECT regress_validation.enqueue('{"startDate": "2025-02-30"}');
SELECT regress_validation.enqueue('{"startDate": "tomorrow"}');
SELECT regress_validation.enqueue('{"startDate": "2025-1-05"}');
SELECT regress_validation.enqueue('{"deadlineDate": "2023-02-29"}');
SELECT regress_validation.enqueue('{"deadlineDate": "2025-13-01"}');
SELECT regress_validation.enqueue('{"deadlineDate": 20250101}');

-- unknown keys are refused, whatever their position, before any value is looked at
SELECT regress_validation.enqueue('{"color": "blue"}');
SELECT regress_validation.enqueue('{"topic": "ab", "zzz": 1}');
SELECT regress_validation.enqueue('{"Topic": "Rust basics"}');

-- overrides must be an object
SELECT regress_validation.enqueue('[]');
SELECT regress_validation.enqueue('[{"topic": "Rust"}]');
SELECT regress_validation.enqueue('"topic"');
SELECT regress_validation.enqueue('42');
SELECT regress_validation.enqueue('null');

\pset tuples_only off

-- Nothing was queued by any of the refused requests.
SELECT count(*) AS jobs FROM regen_queue.job_queue;

-- Valid overrides are normalised into the payload; each is queued for a plan of its own.
CREATE TABLE regress_validation.cases (n integer PRIMARY KEY, overrides jsonb);
INSERT INTO regress_validation.cases VALUES
    (1, '{}'),
    (2, '{"topic": "  Rust basics \t\n"}'),
    (3, '{"topic": "abc"}'),
    (4, jsonb_build_object('topic', repeat('t', 200))),
    (5, '{"notes": ""}'),
    (6, '{"notes": "   "}'),
    (7, '{"notes": null}'),
    (8, '{"notes": "  bring a laptop  "}'),
    (9, jsonb_build_object('notes', repeat('n', 2000))),
    (10, '{"weeklyHours": 0}'),
    (11, '{"weeklyHours": 80}'),
    (12, '{"weeklyHours": 10.0}'),
    (13, '{"skillLevel": "beginner", "learningStyle": "mixed"}'),
    (14, '{"skillLevel": "advanced", "learningStyle": "practice"}'),
    (15, '{"startDate": null, "deadlineDate": null}'),
    (16, '{"startDate": "2024-02-29", "deadlineDate": "2025-12-31"}'),
    (17, '{"deadlineDate": "2024-07-01", "weeklyHours": 12, "topic": "SQL", "notes": "x",
           "skillLevel": "intermediate", "learningStyle": "reading", "startDate": "2024-06-01"}'),
    (18, '{"topic": "\u00a0\u3000Rust \u00e9t\u00e9\ufeff", "notes": "\u2003\u2003"}');

SELECT c.n,
       CASE WHEN length(j.payload::text) > 200
            THEN 'length ' || length(j.payload::text) || ', topic length '
                 || coalesce(length(j.payload #>> '{overrides,topic}'), 0) || ', notes length '
                 || coalesce(length(j.payload #>> '{overrides,notes}'), 0)
            ELSE j.payload::text END AS payload,
       j.status, j.attempts, j.max_attempts, j.priority, j.job_type
  FROM regress_validation.cases c,
       LATERAL regen_enqueue(('00000000-0000-0000-0001-' || lpad(c.n::text, 12, '0'))::uuid,
                             c.overrides) j
 ORDER BY c.n;

-- Overrides given as NULL count as none.
SELECT payload FROM regen_enqueue('00000000-0000-0000-0002-000000000001', NULL);

SELECT regen_unregister_handler('plan_regeneration');
TRUNCATE regen_queue.job_queue;
DROP SCHEMA regress_validation CASCADE;
