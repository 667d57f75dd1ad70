-- regen_queue 1.1: what an HTTP front end (the shim, regen-queue-http) needs besides
-- regen_enqueue() and regen_drain(): the worker token check, and reading a request body.
--
-- Both live in the regen_queue schema: they are for front ends, not for applications.

\echo Use "ALTER EXTENSION regen_queue UPDATE TO '1.1'" to load this file. \quit

-- The token is regen_queue.worker_token, which only superusers can read; the front end's role
-- can only ask whether what a client presented matches it. The comparison takes the same time
-- whatever the token and the guess (it compares SHA-256 digests of both, every byte).
CREATE FUNCTION regen_queue.http_check_token(presented text) RETURNS void
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'regen_http_check_token';

COMMENT ON FUNCTION regen_queue.http_check_token(text) IS
    'raises 28P01 unless presented matches regen_queue.worker_token (NULL: no token presented); '
    'with no token configured it passes, except in production (regen_queue.environment), where '
    'it raises 55000';

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
                  DETAIL = 'A request body may only have "overrides".';
    END IF;

    RETURN coalesce(nullif(request -> 'overrides', 'null'::jsonb), '{}'::jsonb);
END;
$$;

COMMENT ON FUNCTION regen_queue.http_request_overrides(text) IS
    'the overrides of a regenerate request body ({"overrides": {...}}; empty or null: {}); '
    '22P02 when the body is not JSON, 22023 when it is not an object or has another key';

REVOKE EXECUTE ON FUNCTION
    regen_queue.http_check_token(text),
    regen_queue.http_request_overrides(text)
FROM PUBLIC;
