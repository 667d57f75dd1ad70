-- regen_queue 1.2: HTTP handlers. A job type's handler may be an HTTP endpoint instead of a SQL
-- function: the drain POSTs each claimed job to it (many calls in flight at once, each signed,
-- none inside a transaction) and stores the JSON it answers as the job's result.
--
-- The calls' settings that are not per job type are GUCs (regen_queue.http_*), and so is the
-- signing secret: a secret in a table would be in every dump and readable by the table's owner.

\echo Use "ALTER EXTENSION regen_queue UPDATE TO '1.2'" to load this file. \quit

-- A row with a handler names a SQL function; a row without one is an HTTP handler.
ALTER TABLE regen_queue.handler
    ALTER COLUMN handler DROP NOT NULL,
    -- NULL: regen_queue.http_endpoint, read when each call starts
    ADD COLUMN endpoint text,
    -- NULL: regen_queue.http_timeout
    ADD COLUMN timeout_ms integer,
    -- calls of this job type in flight at once in one drain process; NULL: no limit of its own
    -- (regen_queue.http_concurrency bounds all job types together)
    ADD COLUMN max_concurrency integer,
    ADD CONSTRAINT handler_endpoint_check CHECK (length(endpoint) <= 2048),
    ADD CONSTRAINT handler_timeout_check CHECK (timeout_ms BETWEEN 1 AND 3600000),
    ADD CONSTRAINT handler_max_concurrency_check CHECK (max_concurrency BETWEEN 1 AND 1000);

-- Registering a SQL function for a job type that had an endpoint drops the endpoint's settings,
-- whichever way the row was written.
CREATE FUNCTION regen_queue.handler_kind() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.handler IS NOT NULL THEN
        NEW.endpoint := NULL;
        NEW.timeout_ms := NULL;
        NEW.max_concurrency := NULL;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER handler_kind BEFORE INSERT OR UPDATE ON regen_queue.handler
    FOR EACH ROW EXECUTE FUNCTION regen_queue.handler_kind();

COMMENT ON TABLE regen_queue.handler IS
    'What runs each job type: a SQL function f(regen_queue.job_queue) RETURNS jsonb (handler), '
    'or, when handler is NULL, an HTTP endpoint called with each job';

-- Why an endpoint URL cannot be registered, or NULL when it can: http:// or https://, a host,
-- no user name or password (they would end up in logs), no blank or control character.
CREATE FUNCTION regen_queue.http_endpoint_problem(endpoint text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'regen_http_endpoint_problem';

CREATE FUNCTION regen_register_http_handler(
    job_type        text,
    endpoint        text DEFAULT NULL,
    timeout         interval DEFAULT NULL,
    max_concurrency integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    timeout_ms numeric;
BEGIN
    IF job_type IS NULL THEN
        RAISE EXCEPTION 'job type must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF job_type !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid job type "%"', left(job_type, 80)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A job type starts with a lower-case letter and has at most 63 '
                           'lower-case letters, digits and underscores.';
    END IF;

    IF endpoint IS NOT NULL THEN
        problem := CASE WHEN length(endpoint) > 2048 THEN 'It is longer than 2048 characters.'
                        ELSE regen_queue.http_endpoint_problem(endpoint) END;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'invalid endpoint for job type "%"', job_type
                USING ERRCODE = 'invalid_parameter_value', DETAIL = problem,
                      COLUMN = 'endpoint';
        END IF;
    END IF;

    IF timeout IS NOT NULL THEN
        timeout_ms := extract(epoch FROM timeout) * 1000;
        IF timeout_ms < 1 OR timeout_ms > 3600000 THEN
            RAISE EXCEPTION 'invalid timeout % for job type "%"', timeout, job_type
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A call''s timeout is between 1 millisecond and 1 hour.',
                      COLUMN = 'timeout';
        END IF;
    END IF;

    IF max_concurrency IS NOT NULL AND (max_concurrency < 1 OR max_concurrency > 1000) THEN
        RAISE EXCEPTION 'invalid max_concurrency % for job type "%"', max_concurrency, job_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It is between 1 and 1000.',
                  COLUMN = 'max_concurrency';
    END IF;

    INSERT INTO regen_queue.handler AS h
           (job_type, handler, endpoint, timeout_ms, max_concurrency)
    VALUES (regen_register_http_handler.job_type, NULL, regen_register_http_handler.endpoint,
            round(timeout_ms)::integer, regen_register_http_handler.max_concurrency)
    ON CONFLICT ON CONSTRAINT handler_pkey DO UPDATE
        SET handler = NULL, endpoint = excluded.endpoint, timeout_ms = excluded.timeout_ms,
            max_concurrency = excluded.max_concurrency,
            registered_at = now(), registered_by = current_user;
END
$$;

COMMENT ON FUNCTION regen_register_http_handler(text, text, interval, integer) IS
    'Make an HTTP endpoint the handler of a job type (NULL endpoint: regen_queue.http_endpoint; '
    'NULL timeout: regen_queue.http_timeout; NULL max_concurrency: no limit of its own)';

REVOKE EXECUTE ON FUNCTION
    regen_register_http_handler(text, text, interval, integer),
    regen_queue.http_endpoint_problem(text),
    regen_queue.handler_kind()
FROM PUBLIC;
