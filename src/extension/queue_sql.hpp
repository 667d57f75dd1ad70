// Every statement the drain and the enqueue run against regen_queue.job_queue, in one place.
//
// Times the drain writes use clock_timestamp(), because one transaction runs a whole batch and
// now() would stamp every job of it with the batch's start.
#pragma once

namespace regen::pg::sql
{

// Returns each job with the attempt during which its lease expired.
// Jobs of an expired lease go back to pending, or fail when the lease
// was theirs alone and they have no attempt left. When the lease was shared, nobody knows which
// job killed the process: the attempt is given back and the job is claimed alone from now on.
constexpr const char *kReapExpiredLeases = R"SQL(
WITH expired AS (
    SELECT id, attempts FROM regen_queue.job_queue
     WHERE status = 'processing' AND lease_expires_at < statement_timestamp()
     ORDER BY lease_expires_at
     LIMIT 1000
       FOR UPDATE SKIP LOCKED)
UPDATE regen_queue.job_queue j
   SET status = CASE WHEN coalesce(j.lease_size, 1) <= 1 AND j.attempts >= j.max_attempts
                     THEN 'failed' ELSE 'pending' END::regen_queue.job_status,
       attempts = CASE WHEN coalesce(j.lease_size, 1) > 1 THEN j.attempts - 1 ELSE j.attempts END,
       run_alone = j.run_alone OR coalesce(j.lease_size, 1) > 1,
       completed_at = CASE WHEN coalesce(j.lease_size, 1) <= 1 AND j.attempts >= j.max_attempts
                           THEN clock_timestamp() END,
       scheduled_for = clock_timestamp(),
       last_error = format('lease expired during attempt %s: the process running it (pid %s) '
                           'stopped before the job finished', j.attempts, j.lease_owner),
       lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
  FROM expired
 WHERE j.id = expired.id
RETURNING j.id, j.status::text, expired.attempts, j.run_alone
)SQL";

// $1 drain id, $2 how many, $3 the drain's notion of now, ($4, $5, $6) the position after
// which to look, in claim order. Jobs this drain already ran are skipped so that no job is
// counted twice in one drain. Resuming from the last claim's position matters: every job
// claimed earlier leaves a dead entry at the front of the claim index, and while any snapshot
// older than the drain exists (the regen_drain() caller's, for one) those entries cannot be
// removed, so a scan from the front would walk them all again at each claim.
constexpr const char *kSelectClaimCandidates = R"SQL(
SELECT id, run_alone, -priority, created_at FROM regen_queue.job_queue
 WHERE status = 'pending' AND scheduled_for <= $3
   AND lease_drain IS DISTINCT FROM $1
   AND (-priority, created_at, id) > ($4, $5, $6)
 ORDER BY -priority, created_at, id
 LIMIT $2
   FOR UPDATE SKIP LOCKED
)SQL";

// $1 ids, $2 drain id, $3 lease lifetime in ms, $4 number of jobs sharing the lease.
// The attempt is counted here, committed before any handler runs.
constexpr const char *kClaimJobs = R"SQL(
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = attempts + 1,
       started_at = clock_timestamp(), updated_at = clock_timestamp(),
       lease_owner = pg_backend_pid(), lease_drain = $2, lease_size = $4,
       lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond'
 WHERE id = ANY($1)
)SQL";

// $1 ids, $2 drain id. Locks the claimed jobs for the run of their batch (the reaper skips
// locked rows), in claim order; "ours" is false for a job cancelled since its claim. The claim
// checks stay out of the WHERE clause on purpose: status = 'processing' there matches the
// predicate of job_queue_one_active_idx, and the planner then ANDs the id lookup with a scan of
// that whole index, which grows with the backlog.
constexpr const char *kLockClaimedJobs = R"SQL(
SELECT j.id, j.job_type, j.attempts, j.max_attempts, j,
       j.status = 'processing' AND j.lease_drain = $2 AND j.lease_owner = pg_backend_pid()
  FROM regen_queue.job_queue j
 WHERE j.id = ANY($1)
 ORDER BY -j.priority, j.created_at, j.id
   FOR UPDATE
)SQL";

// $1 job type. The signature resolves to NULL once its function is gone; no signature means
// an HTTP handler (1.2). Its columns are read through to_jsonb so that the library also works
// with the tables of 1.0 and 1.1 until ALTER EXTENSION ... UPDATE has run.
constexpr const char *kLookupHandler = R"SQL(
SELECT pg_catalog.to_regprocedure(h.handler)::oid, h.handler, h.handler IS NULL,
       pg_catalog.to_jsonb(h) ->> 'endpoint',
       (pg_catalog.to_jsonb(h) ->> 'timeout_ms')::integer,
       (pg_catalog.to_jsonb(h) ->> 'max_concurrency')::integer
  FROM regen_queue.handler h
 WHERE h.job_type = $1
)SQL";

// $1 id, $2 attempt, $3 result. A job that is not processing at that attempt is left alone, so
// completing a finished job changes nothing.
constexpr const char *kCompleteJob = R"SQL(
UPDATE regen_queue.job_queue
   SET status = 'completed', result = $3,
       completed_at = clock_timestamp(), updated_at = clock_timestamp(),
       lease_owner = NULL, lease_expires_at = NULL
 WHERE id = $1 AND status = 'processing' AND attempts = $2
)SQL";

// $1 ids, $2 attempts, $3 results: the successful jobs of one batch, completed by one statement
// in the batch's transaction (so with their handlers' writes). Joined by id alone, for the
// reason given at kLockClaimedJobs.
constexpr const char *kCompleteJobs = R"SQL(
UPDATE regen_queue.job_queue j
   SET status = 'completed', result = done.result,
       completed_at = clock_timestamp(), updated_at = clock_timestamp(),
       lease_owner = NULL, lease_expires_at = NULL
  FROM unnest($1::uuid[], $2::integer[], $3::jsonb[]) AS done(id, attempt, result)
 WHERE j.id = done.id AND j.status = 'processing' AND j.attempts = done.attempt
)SQL";

// $1 id, $2 attempt, $3 retry, $4 delay in ms, $5 error text.
constexpr const char *kFailJob = R"SQL(
UPDATE regen_queue.job_queue
   SET status = CASE WHEN $3 THEN 'pending' ELSE 'failed' END::regen_queue.job_status,
       scheduled_for = CASE WHEN $3 THEN clock_timestamp() + $4 * interval '1 millisecond'
                            ELSE scheduled_for END,
       completed_at = CASE WHEN $3 THEN NULL ELSE clock_timestamp() END,
       last_error = $5, updated_at = clock_timestamp(),
       lease_owner = NULL, lease_expires_at = NULL
 WHERE id = $1 AND status = 'processing' AND attempts = $2
RETURNING status::text
)SQL";

// $1 ids, $2 lease lifetime in ms: locked jobs handed over to HTTP (http_jobs.hpp). Each gets a
// lease of its own, so that a process that dies during the calls is charged each attempt, and
// its request body: what the endpoint is told of the job.
constexpr const char *kHandOverToHttp = R"SQL(
UPDATE regen_queue.job_queue j
   SET lease_size = 1, lease_expires_at = clock_timestamp() + $2 * interval '1 millisecond'
 WHERE j.id = ANY($1)
RETURNING j.id, j.lease_drain,
          json_build_object('jobId', j.id, 'jobType', j.job_type, 'planId', j.plan_id,
                            'userId', j.user_id, 'attempt', j.attempts,
                            'maxAttempts', j.max_attempts, 'payload', j.payload)::text
)SQL";

// $1 ids, $2 lease lifetime in ms: renew the leases of this process's jobs waiting for their
// HTTP calls or in them (some may have been claimed by the process's previous drain).
constexpr const char *kRenewLeases = R"SQL(
UPDATE regen_queue.job_queue
   SET lease_expires_at = clock_timestamp() + $2 * interval '1 millisecond'
 WHERE id = ANY($1) AND status = 'processing' AND lease_owner = pg_backend_pid()
)SQL";

// $1 ids: this process's claimed jobs whose calls never started go back to the queue, their
// attempt given back. lease_drain stays: the drain does not claim them again.
constexpr const char *kReleaseClaims = R"SQL(
UPDATE regen_queue.job_queue
   SET status = 'pending', attempts = attempts - 1, updated_at = clock_timestamp(),
       lease_owner = NULL, lease_expires_at = NULL
 WHERE id = ANY($1) AND status = 'processing' AND lease_owner = pg_backend_pid()
)SQL";

// $1 id, $2 attempt, $3 the claim's drain id: lock an HTTP job whose call has ended, if that
// claim still holds it. Otherwise the job was cancelled, or retried and claimed again (attempts
// start over after regen_retry()), and the call's verdict belongs to nobody.
constexpr const char *kLockHttpClaim = R"SQL(
SELECT 1 FROM regen_queue.job_queue
 WHERE id = $1 AND status = 'processing' AND attempts = $2 AND lease_drain = $3
   FOR UPDATE
)SQL";

// $1 id, $2 attempt: the attempt bounds of a job that is about to be failed from SQL.
constexpr const char *kLockJobAttempt = R"SQL(
SELECT max_attempts FROM regen_queue.job_queue
 WHERE id = $1 AND status = 'processing' AND attempts = $2
   FOR UPDATE
)SQL";

// $1 job type, $2 plan, $3 user, $4 priority, $5 max attempts, $6 payload, $7 run at.
constexpr const char *kInsertJob = R"SQL(
INSERT INTO regen_queue.job_queue AS j
       (job_type, plan_id, user_id, priority, max_attempts, payload, scheduled_for)
VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now()))
    ON CONFLICT (plan_id, job_type) WHERE status IN ('pending', 'processing') DO NOTHING
RETURNING j
)SQL";

// $1 plan, $2 job type.
constexpr const char *kFindActiveJob = R"SQL(
SELECT id, status::text FROM regen_queue.job_queue
 WHERE plan_id = $1 AND job_type = $2 AND status IN ('pending', 'processing')
)SQL";

// $1 job type.
constexpr const char *kHandlerExists = R"SQL(
SELECT 1 FROM regen_queue.handler WHERE job_type = $1
)SQL";

} // namespace regen::pg::sql
