-- regen_queue 1.1: what an HTTP front end (the shim, regen-queue-http) needs besides
-- regen_enqueue() and regen_drain(): the worker token check, and reading a request body.
--
-- Both live in the regen_queue schema: they are for front ends, not for applications.

\echo Use "ALTER EXTENSION regen_queue UPDATE TO '1.1'" to load this file. \quit

-- The token is regen_queue.worker_token, which only superusers can read; the front end's role
-- can only ask whether what a client presented matches it. It passes the SHA-256 digest of
-- what was presented, so that neither guesses nor the token reach the server log through
-- log_statement or log_min_duration_statement; the comparison of digests takes the same time
-- whatever they hold. A refusal is an answer (false), not an error, so clients that keep
-- guessing do not fill the log either.
CREATE FUNCTION regen_queue.http_check_token(token_sha256 bytea) RETURNS boolean
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'regen_http_check_token';

COMMENT ON FUNCTION regen_queue.http_check_token(bytea) IS
    'whether token_sha256 is the SHA-256 digest of regen_queue.worker_token (NULL: no token '
    'presented, false); with no token configured, true, except in production '
    '(regen_queue.environment), where it raises 55000';

-- The body of POST /api/v1/plans/:planId/regenerate is {"overrides": {...}}, or empty. This
-- takes it apart with PostgreSQL's own JSON parser, so that the HTTP route and a SQL caller
-- validate overrides alike (regen_enqueue() checks what is returned).
CREATE FUNCTION regen_queue.http_request_overrides(body text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    request jsonb;
    unknown_key text;
BEGIN
    IF body IS NULL OR btrim(body, E' \t\r\n') = '' THEN
        RETURN '{}';
    END IF;

    request := body::jsonb;
    IF jsonb_typeof(request) <> 'object' THEN
        RAISE EXCEPTION 'request body must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It is a JSON %s.', jsonb_typeof(request));
    END IF;

    SELECT k INTO unknown_key
      FROM jsonb_object_keys(request) AS k
     WHERE k <> 'overrides'
     ORDER BY k
     LIMIT 1;
    IF unknown_key IS NOT NULL THEN
        RAISE EXCEPTION 'unknown field "%" in request body', left(unknown_key, 100)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A request body may only have "overrides".',
                  COLUMN = left(unknown_key, 100);
    END IF;

    RETURN coalesce(nullif(request -> 'overrides', 'null'::jsonb), '{}'::jsonb);
END;
$$;

COMMENT ON FUNCTION regen_queue.http_request_overrides(text) IS
    'the overrides of a regenerate request body ({"overrides": {...}}; empty or null: {}); '
    '22P02 when the body is not JSON, 22023 when it is not an object or has another key';

REVOKE EXECUTE ON FUNCTION
    regen_queue.http_check_token(bytea),
    regen_queue.http_request_overrides(text)
FROM PUBLIC;
