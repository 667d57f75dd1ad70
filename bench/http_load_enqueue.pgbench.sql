-- What regen-queue-http runs for one POST /api/v1/plans/:planId/regenerate, as two statements
-- in autocommit (run with -M prepared, as the shim prepares them): the token check, then the
-- enqueue. Variables from bench/http_load.sh: token_sha256 (the digest the shim sends), body,
-- run and n (0; a counter per client),
-- so that each transaction sends a plan id of its own, like the wrk script.
\set n :n + 1
SELECT regen_queue.http_check_token(:token_sha256::bytea);
SELECT j.id::text, j.plan_id::text, j.status::text
  FROM public.regen_enqueue(
           plan_id => (lpad(to_hex(:client_id::bigint + 1), 8, '0') || '-'
                       || lpad(to_hex(:run::bigint), 4, '0') || '-4000-8000-'
                       || lpad(to_hex(:n::bigint), 12, '0'))::uuid,
           overrides => regen_queue.http_request_overrides(:body),
           user_id => NULL::uuid) AS j;
