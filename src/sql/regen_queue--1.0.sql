-- regen_queue 1.0: a job queue for plan regenerations that lives inside PostgreSQL.
--
-- Terms used throughout:
--   job      one row of regen_queue.job_queue: a request to regenerate one plan
--   handler  the SQL function registered for a job type; it does the work of one job
--   drain    one pass that claims due jobs and runs their handlers, up to a bound
--   claim    moving a due pending job to processing, counting the attempt, under a lease
--   lease    how long a claimed job belongs to the process that claimed it; after it expires
--            the job is reclaimed as if that process had died
--   attempt  one run of a job's handler; attempts is counted when the job is claimed
--
-- The API functions live in the schema the extension is installed into (public unless
-- CREATE EXTENSION ... SCHEMA says otherwise); tables, types and internals live in regen_queue.

\echo Use "CREATE EXTENSION regen_queue" to load this file. \quit

CREATE SCHEMA regen_queue;

CREATE TYPE regen_queue.job_status AS ENUM ('pending', 'processing', 'completed', 'failed');

-- A domain rather than a CHECK on the tables: a domain's check runs when a value is stored, a
-- table's CHECK on every UPDATE of the row, and the drain updates each job twice.
CREATE DOMAIN regen_queue.job_type_name AS text
    CONSTRAINT job_type_name_check CHECK (VALUE ~ '^[a-z][a-z0-9_]{0,62}$');

CREATE TABLE regen_queue.job_queue (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_type         regen_queue.job_type_name NOT NULL DEFAULT 'plan_regeneration',
    plan_id          uuid NOT NULL,
    user_id          uuid,
    status           regen_queue.job_status NOT NULL DEFAULT 'pending',
    priority         integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3,
    payload          jsonb NOT NULL DEFAULT '{}',
    result           jsonb,
    last_error       text,
    scheduled_for    timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- lease of the claim that is running the job; only meaningful while processing
    lease_owner      integer,
    lease_expires_at timestamptz,
    lease_drain      bigint,
    lease_size       integer,
    -- set when a lease shared with other jobs expired: the job is then claimed on its own
    run_alone        boolean NOT NULL DEFAULT false,

    CONSTRAINT job_queue_attempts_check
        CHECK (attempts >= 0 AND attempts <= max_attempts),
    CONSTRAINT job_queue_priority_check
        CHECK (priority BETWEEN -1000000 AND 1000000),
    CONSTRAINT job_queue_max_attempts_check
        CHECK (max_attempts BETWEEN 1 AND 100),
    CONSTRAINT job_queue_payload_check
        CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT job_queue_processing_lease_check
        CHECK (status <> 'processing' OR lease_expires_at IS NOT NULL),
    CONSTRAINT job_queue_terminal_check
        CHECK ((status IN ('completed', 'failed')) = (completed_at IS NOT NULL))
);

COMMENT ON TABLE regen_queue.job_queue IS
    'Queued plan regenerations; one row per job, kept after it finishes until pruned';

-- The claim: due pending jobs, highest priority first, then oldest. Keyed on -priority so that
-- one ascending row comparison can resume a drain's scan where its previous claim stopped.
CREATE INDEX job_queue_claim_idx ON regen_queue.job_queue ((-priority), created_at, id)
    WHERE status = 'pending';

-- Reclaiming expired leases. The predicate deliberately does not mention status: a partial
-- index on status = 'processing' would attract the by-id lookups of the drain, which then walk
-- every dead entry left by earlier claims.
CREATE INDEX job_queue_lease_idx ON regen_queue.job_queue (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;

-- At most one active regeneration per plan and job type, even under concurrent enqueues.
CREATE UNIQUE INDEX job_queue_one_active_idx ON regen_queue.job_queue (plan_id, job_type)
    WHERE status IN ('pending', 'processing');

-- Pruning finished jobs by age.
CREATE INDEX job_queue_finished_idx ON regen_queue.job_queue (completed_at)
    WHERE status IN ('completed', 'failed');

CREATE TABLE regen_queue.handler (
    job_type      regen_queue.job_type_name PRIMARY KEY,
    -- The handler's signature, schema-qualified ('app.regenerate(regen_queue.job_queue)'),
    -- resolved when a drain looks it up. Text rather than regprocedure: pg_upgrade refuses
    -- tables with reg* columns, and an OID could come to name another function.
    handler       text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by name NOT NULL DEFAULT current_user
);

COMMENT ON TABLE regen_queue.handler IS
    'The function that runs each job type: f(regen_queue.job_queue) RETURNS jsonb';

-- Jobs and handlers are the queue's state: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('regen_queue.job_queue', '');
SELECT pg_catalog.pg_extension_config_dump('regen_queue.handler', '');

------------------------------------------------------------------------------------------------
-- The C functions
------------------------------------------------------------------------------------------------

CREATE FUNCTION regen_enqueue(
    plan_id      uuid,
    overrides    jsonb DEFAULT '{}',
    user_id      uuid DEFAULT NULL,
    priority     integer DEFAULT 0,
    run_at       timestamptz DEFAULT NULL,
    max_attempts integer DEFAULT 3,
    job_type     text DEFAULT 'plan_regeneration')
RETURNS regen_queue.job_queue
LANGUAGE c VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'regen_enqueue';

COMMENT ON FUNCTION regen_enqueue(uuid, jsonb, uuid, integer, timestamptz, integer, text) IS
    'Queue a regeneration of one plan; fails with 23505 if the plan already has an active job';

CREATE FUNCTION regen_drain(max_jobs integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'regen_drain';

COMMENT ON FUNCTION regen_drain(integer) IS
    'Run up to max_jobs due jobs in a separate worker process and return the counts';

-- Used by the drain itself; callable to complete or fail a job from outside a handler.
CREATE FUNCTION regen_queue.complete_job(job_id uuid, attempt integer, result jsonb)
RETURNS boolean
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'regen_complete_job';

CREATE FUNCTION regen_queue.fail_job(job_id uuid, attempt integer, error text,
                                     retryable boolean DEFAULT true)
RETURNS regen_queue.job_status
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'regen_fail_job';

COMMENT ON FUNCTION regen_queue.complete_job(uuid, integer, jsonb) IS
    'Complete a processing job at the given attempt; false (and no change) otherwise';
COMMENT ON FUNCTION regen_queue.fail_job(uuid, integer, text, boolean) IS
    'Fail a processing job at the given attempt, applying the retry policy; returns its new status';

------------------------------------------------------------------------------------------------
-- Handlers
------------------------------------------------------------------------------------------------

CREATE FUNCTION regen_register_handler(job_type text, handler regprocedure)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn pg_catalog.pg_proc;
BEGIN
    IF job_type IS NULL OR handler IS NULL THEN
        RAISE EXCEPTION 'job type and handler must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF job_type !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid job type "%"', left(job_type, 80)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A job type starts with a lower-case letter and has at most 63 '
                           'lower-case letters, digits and underscores.';
    END IF;

    SELECT * INTO fn FROM pg_catalog.pg_proc WHERE oid = handler;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'function with OID % does not exist', handler::oid
            USING ERRCODE = 'undefined_function';
    END IF;
    -- The registry keeps the name, resolved at each drain: a temporary function's name would
    -- pass to whichever session next gets that temporary schema.
    IF fn.pronamespace = pg_catalog.pg_my_temp_schema()
       OR pg_catalog.pg_is_other_temp_schema(fn.pronamespace) THEN
        RAISE EXCEPTION 'function % cannot be a handler', handler
            USING ERRCODE = 'invalid_function_definition',
                  DETAIL = 'A handler cannot be a temporary function.';
    END IF;
    IF fn.prokind <> 'f' OR fn.proretset
       OR fn.prorettype <> 'pg_catalog.jsonb'::pg_catalog.regtype
       OR fn.pronargs <> 1
       OR fn.proargtypes[0] <> 'regen_queue.job_queue'::pg_catalog.regtype THEN
        RAISE EXCEPTION 'function % cannot be a handler', handler
            USING ERRCODE = 'invalid_function_definition',
                  DETAIL = 'A handler takes one regen_queue.job_queue argument and returns '
                           'jsonb (not a set).';
    END IF;

    INSERT INTO regen_queue.handler AS h (job_type, handler)
    -- With search_path pinned to pg_catalog, the text form names every other schema.
    VALUES (regen_register_handler.job_type, regen_register_handler.handler::text)
    ON CONFLICT ON CONSTRAINT handler_pkey DO UPDATE
        SET handler = excluded.handler, registered_at = now(), registered_by = current_user;
END
$$;

CREATE FUNCTION regen_unregister_handler(job_type text)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH gone AS (
        DELETE FROM regen_queue.handler h WHERE h.job_type = regen_unregister_handler.job_type
        RETURNING 1)
    SELECT count(*) > 0 FROM gone;
END;

------------------------------------------------------------------------------------------------
-- Operations: retry, cancel, prune, stats
--
-- SECURITY DEFINER with a pinned search_path: an operator role needs EXECUTE on these and no
-- privilege on the tables, so it can change jobs only through these transitions.
------------------------------------------------------------------------------------------------

CREATE FUNCTION regen_retry(job_id uuid)
RETURNS regen_queue.job_queue
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job regen_queue.job_queue;
    active text;
BEGIN
    SELECT j.* INTO job FROM regen_queue.job_queue j WHERE j.id = regen_retry.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF job.status <> 'failed' THEN
        RAISE EXCEPTION 'job % is %, not failed', job_id, job.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only failed jobs can be retried.';
    END IF;

    BEGIN
        UPDATE regen_queue.job_queue j
           SET status = 'pending', attempts = 0, scheduled_for = now(), completed_at = NULL,
               started_at = NULL, run_alone = false, updated_at = now()
         WHERE j.id = regen_retry.job_id
        RETURNING j.* INTO job;
    EXCEPTION
        WHEN unique_violation THEN
            SELECT format('Job %s is %s.', a.id, a.status) INTO active
              FROM regen_queue.job_queue a
             WHERE a.plan_id = job.plan_id AND a.job_type = job.job_type
               AND a.status IN ('pending', 'processing');
            RAISE EXCEPTION 'plan % already has an active "%" job', job.plan_id, job.job_type
                USING ERRCODE = 'unique_violation',
                      DETAIL = coalesce(active, ''),
                      HINT = 'Wait for the active job to finish, then retry this one.';
    END;
    RETURN job;
END
$$;

CREATE FUNCTION regen_cancel(job_id uuid)
RETURNS regen_queue.job_queue
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job regen_queue.job_queue;
BEGIN
    -- A processing job is cancelled only once its runner no longer holds it (NOWAIT), so a
    -- running handler's completion never races the cancellation.
    SELECT j.* INTO job FROM regen_queue.job_queue j
     WHERE j.id = regen_cancel.job_id
       FOR UPDATE NOWAIT;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF job.status NOT IN ('pending', 'processing') THEN
        RAISE EXCEPTION 'job % is already %', job_id, job.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    UPDATE regen_queue.job_queue j
       SET status = 'failed', last_error = 'cancelled by ' || session_user,
           completed_at = now(), updated_at = now(), lease_expires_at = NULL
     WHERE j.id = regen_cancel.job_id
    RETURNING j.* INTO job;
    RETURN job;
EXCEPTION
    WHEN lock_not_available THEN
        RAISE EXCEPTION 'job % is running', job_id
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Try again when its handler has finished.';
END
$$;

CREATE FUNCTION regen_prune(older_than interval, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed bigint;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be a non-negative interval'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- One bounded batch; SKIP LOCKED keeps pruning out of the way of retries and cancels.
    WITH doomed AS (
        SELECT j.id FROM regen_queue.job_queue j
         WHERE j.status IN ('completed', 'failed') AND j.completed_at < now() - older_than
         ORDER BY j.completed_at
         LIMIT batch_size
           FOR UPDATE SKIP LOCKED)
    DELETE FROM regen_queue.job_queue j USING doomed WHERE j.id = doomed.id;
    GET DIAGNOSTICS removed = ROW_COUNT;

    RETURN removed;
END
$$;

CREATE FUNCTION regen_stats(
    OUT pending bigint, OUT due bigint, OUT processing bigint, OUT completed bigint,
    OUT failed bigint, OUT oldest_pending_age interval, OUT expired_leases bigint,
    OUT failed_last_hour bigint, OUT completed_last_5min bigint,
    OUT jobs_per_second_5min double precision)
RETURNS record
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT count(*) FILTER (WHERE j.status = 'pending'),
           count(*) FILTER (WHERE j.status = 'pending' AND j.scheduled_for <= now()),
           count(*) FILTER (WHERE j.status = 'processing'),
           count(*) FILTER (WHERE j.status = 'completed'),
           count(*) FILTER (WHERE j.status = 'failed'),
           now() - min(j.scheduled_for) FILTER (WHERE j.status = 'pending'
                                                  AND j.scheduled_for <= now()),
           count(*) FILTER (WHERE j.status = 'processing' AND j.lease_expires_at < now()),
           count(*) FILTER (WHERE j.status = 'failed' AND j.completed_at > now() - '1 hour'::interval),
           count(*) FILTER (WHERE j.status = 'completed'
                              AND j.completed_at > now() - '5 minutes'::interval),
           (count(*) FILTER (WHERE j.status = 'completed'
                               AND j.completed_at > now() - '5 minutes'::interval)) / 300.0
      FROM regen_queue.job_queue j;
END;

COMMENT ON FUNCTION regen_stats() IS
    'pending and due (pending with scheduled_for <= now()) jobs; processing, completed, failed; '
    'oldest_pending_age: how long the oldest due job has waited since it became due; '
    'expired_leases: processing jobs past their lease (their process died, or a handler runs '
    'longer than regen_queue.lease_timeout); failed_last_hour: jobs that ended failed in the last '
    'hour (attempts that will be retried are not counted); completed_last_5min and '
    'jobs_per_second_5min: completions in the last five minutes';

------------------------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; the README shows the grants for application and worker roles
------------------------------------------------------------------------------------------------

REVOKE ALL ON SCHEMA regen_queue FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA regen_queue FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    regen_enqueue(uuid, jsonb, uuid, integer, timestamptz, integer, text),
    regen_drain(integer),
    regen_queue.complete_job(uuid, integer, jsonb),
    regen_queue.fail_job(uuid, integer, text, boolean),
    regen_register_handler(text, regprocedure),
    regen_unregister_handler(text),
    regen_retry(uuid),
    regen_cancel(uuid),
    regen_prune(interval, integer),
    regen_stats()
FROM PUBLIC;
