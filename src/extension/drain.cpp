// The drain: reclaim expired leases, claim due jobs in batches, run each job's handler.
//
// Transactions of one drain:
//   1. reap expired leases and claim the first batch; commit (the attempts are now counted);
//   2. lock the batch, run each job's handler in a subtransaction of its own, so that one job's
//      error undoes nothing else; complete the successful jobs with one statement, so that each
//      handler's writes and its job's completion commit together; then claim the next batch in
//      the same transaction; commit; repeat.
// Claiming the next batch in the transaction that finishes the previous one halves the number of
// commits; the claim still commits before any of its handlers run. A batch also commits in its
// middle, completing the jobs run so far and locking the rest again, when its transaction holds
// many subtransaction ids or has run for a while (core::commit_before_next_job). Batch sizes
// follow the jobs' run time (core::next_batch_size).
#include "drain.hpp"

#include "core_call.hpp"
#include "guc.hpp"
#include "handler.hpp"
#include "http_jobs.hpp"
#include "job_state.hpp"
#include "queue_sql.hpp"
#include "spi_plan.hpp"

#include "../core/claim_policy.hpp"

extern "C"
{
#include "access/xact.h"
#include "storage/proc.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "commands/prepare.h"
#include "libpq/be-fsstubs.h"
#include "utils/portal.h"
#include "commands/trigger.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "access/table.h"
#include "catalog/namespace.h"
}

#include <vector>

namespace regen::pg
{

namespace
{

using core::kMaxClaimBatch;

// Kept in place rather than palloc'd: a batch is claimed in one transaction and run in the next.
struct ClaimedBatch
{
    int count = 0;
    pg_uuid_t uuids[kMaxClaimBatch];
    Datum ids[kMaxClaimBatch]; // point into uuids
};

// Where the drain's next claim resumes, in claim order (-priority, created_at, id). Rewound to
// the front whenever a claim finds fewer jobs than it wanted, so that jobs queued ahead of the
// position during a long drain are still reached.
struct ClaimPosition
{
    int32 negated_priority;
    TimestampTz created_at;
    pg_uuid_t id;
};

constexpr ClaimPosition kFrontOfQueue = {PG_INT32_MIN, DT_NOBEGIN, {}};

struct Drain
{
    DrainOptions options;
    ClaimPosition position = kFrontOfQueue;
    bool at_front = true;
    int64 drain_id = 0;
    int64 claimed = 0;  // jobs claimed so far, against options.max_jobs
    int64 jobs_run = 0; // jobs run so far and their total run time, to size the batches
    double run_time_ms = 0;
    MemoryContext memory = nullptr;
    core::DrainCounts counts;
    bool exhausted = false; // a claim found nothing, or the drain may claim no more
    bool saw_http = false;  // some job of the drain was handed over to HTTP
};

SPIPlanPtr reap_plan = nullptr;
SPIPlanPtr candidates_plan = nullptr;
SPIPlanPtr claim_plan = nullptr;
SPIPlanPtr lock_plan = nullptr;

Datum
uuid_array(const Datum *ids, int count)
{
    return PointerGetDatum(
        construct_array(const_cast<Datum *>(ids), count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

// Give expired leases' jobs back to the queue (or fail them) and log each one.
void
reap_expired_leases()
{
    exec_plan(keep_plan(&reap_plan, sql::kReapExpiredLeases, 0, nullptr), nullptr,
              SPI_OK_UPDATE_RETURNING);

    for (uint64 i = 0; i < SPI_processed; i++)
    {
        HeapTuple row = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        char *id = SPI_getvalue(row, desc, 1);
        char *status = SPI_getvalue(row, desc, 2);
        char *attempts = SPI_getvalue(row, desc, 3);

        ereport(strcmp(status, "failed") == 0 ? WARNING : LOG,
                (errmsg("regen_queue: lease of job %s expired during attempt %s; job is now %s", id,
                        attempts, status)));
    }
}

// Lock up to `wanted` due jobs after the drain's position; they are left in SPI_tuptable.
uint64
find_candidates(const Drain &drain, std::size_t wanted)
{
    static const Oid types[] = {INT8OID, INT4OID, TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, UUIDOID};
    Datum args[] = {Int64GetDatum(drain.drain_id),
                    Int32GetDatum((int)wanted),
                    TimestampTzGetDatum(GetCurrentTimestamp()),
                    Int32GetDatum(drain.position.negated_priority),
                    TimestampTzGetDatum(drain.position.created_at),
                    UUIDPGetDatum(const_cast<pg_uuid_t *>(&drain.position.id))};

    exec_plan(keep_plan(&candidates_plan, sql::kSelectClaimCandidates, 6, types), args,
              SPI_OK_SELECT);
    return SPI_processed;
}

void
remember_position(Drain &drain, HeapTuple last_claimed)
{
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;

    drain.at_front = false;
    memcpy(&drain.position.id, DatumGetUUIDP(SPI_getbinval(last_claimed, desc, 1, &isnull)),
           UUID_LEN);
    drain.position.negated_priority = DatumGetInt32(SPI_getbinval(last_claimed, desc, 3, &isnull));
    drain.position.created_at = DatumGetTimestampTz(SPI_getbinval(last_claimed, desc, 4, &isnull));
}

// Claim the next batch of due jobs under one lease; its attempts commit with the transaction.
void
claim_batch(Drain &drain, ClaimedBatch &batch)
{
    static const Oid claim_types[] = {UUIDARRAYOID, INT8OID, INT4OID, INT4OID};
    bool run_alone[kMaxClaimBatch];
    std::size_t claimable = 0;

    batch.count = 0;
    std::size_t wanted = 0;
    core::BatchSizing sizing;
    sizing.remaining = (long)(drain.options.max_jobs - drain.claimed);
    sizing.jobs_run = (long)drain.jobs_run;
    sizing.run_time_ms = drain.run_time_ms;
    sizing.lease_ms = drain.options.lease_ms;
    call_core([&] { wanted = core::next_batch_size(sizing); });
    // Jobs handed over to HTTP wait for their calls under renewed leases: claim about as many
    // as can be in flight, not more.
    if (drain.saw_http)
        wanted = Min(wanted, (std::size_t)guc_http_concurrency);
    drain.exhausted = true;
    if (wanted == 0)
        return;

    uint64 found = find_candidates(drain, wanted);
    if (found < wanted && !drain.at_front)
    {
        drain.position = kFrontOfQueue;
        drain.at_front = true;
        found = find_candidates(drain, wanted);
    }

    for (uint64 i = 0; i < found; i++)
    {
        bool isnull;
        HeapTuple row = SPI_tuptable->vals[i];
        Datum id = SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull);

        memcpy(&batch.uuids[i], DatumGetUUIDP(id), UUID_LEN);
        batch.ids[i] = UUIDPGetDatum(&batch.uuids[i]);
        run_alone[i] = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
    }

    call_core(
        [&]
        {
            std::vector<bool> flags(run_alone, run_alone + found);
            claimable = core::claimable_prefix(flags);
        });
    if (claimable == 0)
        return;
    remember_position(drain, SPI_tuptable->vals[claimable - 1]);

    Datum claim_args[] = {uuid_array(batch.ids, (int)claimable), Int64GetDatum(drain.drain_id),
                          Int32GetDatum(drain.options.lease_ms), Int32GetDatum((int)claimable)};
    exec_plan(keep_plan(&claim_plan, sql::kClaimJobs, 4, claim_types), claim_args, SPI_OK_UPDATE);

    batch.count = (int)claimable;
    drain.claimed += (int64)claimable;
    drain.exhausted = false;
}

struct LockedJob
{
    Datum id;
    char *job_type;
    int attempt;
    int max_attempts;
    Datum row; // the whole regen_queue.job_queue row, as the handler's argument
};

// Lock claimed jobs for this transaction and copy what running them needs into the drain's
// memory, which lives until the end of the batch. Jobs no longer ours (cancelled, or reclaimed
// after their lease expired) are left out.
int
lock_batch(const Drain &drain, const Datum *ids, int count_ids, LockedJob *jobs)
{
    static const Oid types[] = {UUIDARRAYOID, INT8OID};
    Datum args[] = {uuid_array(ids, count_ids), Int64GetDatum(drain.drain_id)};

    exec_plan(keep_plan(&lock_plan, sql::kLockClaimedJobs, 2, types), args, SPI_OK_SELECT);

    MemoryContext old = MemoryContextSwitchTo(drain.memory);
    TupleDesc desc = SPI_tuptable->tupdesc;
    int count = 0;
    for (uint64 i = 0; i < SPI_processed; i++)
    {
        bool isnull;
        HeapTuple row = SPI_tuptable->vals[i];

        if (!DatumGetBool(SPI_getbinval(row, desc, 6, &isnull)) || isnull)
            continue;
        jobs[count].id = datumCopy(SPI_getbinval(row, desc, 1, &isnull), false, UUID_LEN);
        jobs[count].job_type = SPI_getvalue(row, desc, 2);
        jobs[count].attempt = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
        jobs[count].max_attempts = DatumGetInt32(SPI_getbinval(row, desc, 4, &isnull));
        jobs[count].row = datumCopy(SPI_getbinval(row, desc, 5, &isnull), false, -1);
        count++;
    }
    MemoryContextSwitchTo(old);
    return count;
}

char *
job_id_string(Datum id)
{
    return DatumGetCString(DirectFunctionCall1(uuid_out, id));
}

// Run `write` in a subtransaction of its own; return its error (nullptr: it committed into
// the batch's transaction). `write` must leave no object with a destructor behind on error.
template <typename Write>
ErrorData *
try_in_subtransaction(Write write)
{
    MemoryContext memory = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    ErrorData *volatile edata = nullptr;

    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(memory);
    PG_TRY();
    {
        write();
        ReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(memory);
        edata = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
    }
    PG_END_TRY();
    MemoryContextSwitchTo(memory);
    CurrentResourceOwner = owner;
    return edata;
}

// Record a failed attempt in a subtransaction of its own, so that even a failing write of the
// failure leaves the batch intact (the job is then reclaimed when its lease expires).
void
record_failure(Drain &drain, const LockedJob &job, ErrorData *edata)
{
    const char *volatile status = nullptr;
    auto kind = classify_handler_error(edata);
    char *description = describe_error(edata);

    ErrorData *write_error = try_in_subtransaction(
        [&] { status = fail_job(job.id, job.attempt, job.max_attempts, kind, description); });
    if (write_error != nullptr)
        ereport(WARNING, (errmsg("regen_queue: could not record the failure of job %s: %s",
                                 job_id_string(job.id), write_error->message)));

    drain.counts.failed++;
    if (status != nullptr)
        report_failed_attempt(job.id, job.attempt, job.max_attempts, status, description);
}

// What a batch writes just before its transaction commits: the completions of jobs whose
// handlers wrote nothing, in one statement, and the hand-over of jobs to HTTP.
struct Completions
{
    bool each_in_its_own = false; // see job_queue_may_refuse()
    int count = 0;
    Datum ids[kMaxClaimBatch];
    Datum attempts[kMaxClaimBatch];
    Datum results[kMaxClaimBatch];
    bool result_nulls[kMaxClaimBatch];
    LockedJob completing[kMaxClaimBatch];
    int http_count = 0;
    HttpJob http[kMaxClaimBatch];
    LockedJob handing_over[kMaxClaimBatch];
};

// What the extension itself puts on job_queue (every version so far).
constexpr int kOwnJobQueueChecks = 6;
constexpr int kOwnJobQueueIndexes = 5;

// Whether job_queue has something that could refuse one job's completion and not another's: a
// trigger, a rule, row security, NOT NULL on result, or constraints or indexes beyond the
// extension's own. Then every job is completed in its handler's subtransaction, so that a
// refusal undoes all the handler did, a NOTIFY included: that takes no transaction id, and
// with a handler that wrote nothing would otherwise commit with the batch.
bool
job_queue_may_refuse()
{
    Oid relid = get_relname_relid("job_queue", get_namespace_oid("regen_queue", false));
    Relation rel = table_open(relid, AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    List *indexes = RelationGetIndexList(rel);
    AttrNumber result = get_attnum(relid, "result");
    bool may = rel->rd_rel->relhastriggers || rel->rd_rel->relhasrules ||
               rel->rd_rel->relrowsecurity ||
               (desc->constr != nullptr ? desc->constr->num_check : 0) != kOwnJobQueueChecks ||
               list_length(indexes) != kOwnJobQueueIndexes ||
               (result != InvalidAttrNumber && TupleDescAttr(desc, result - 1)->attnotnull);
    list_free(indexes);
    table_close(rel, AccessShareLock);
    return may;
}

// Stop the job timeout (regen_queue.job_timeout) of a handler that has returned or failed. A
// cancel that the timeout requested but that the handler never reached is dropped, so that it
// does not hit the queue's own statements; any other cancel request stands.
void
stop_job_timeout()
{
    disable_timeout(STATEMENT_TIMEOUT, true); // keep the indicator: did it fire?
    if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
        QueryCancelPending = false;
}

// Leave nothing of a job's state to the next job, which may run as another role: its session
// advisory locks, prepared statements, open cursors and large-object descriptors (the last two
// would otherwise pass to the batch's transaction). Temporary objects and role changes are
// refused while a handler runs.
void
clear_job_session_state()
{
    LockReleaseSession(USER_LOCKMETHOD);
    DropAllPreparedStatements();
    PortalHashTableDeleteAll(); // the drain itself holds no portal between jobs
    AtEOXact_LargeObject(true); // closes whatever descriptors are open, if any
}

// Make every deferrable constraint immediate for the next handler: its violations then fail
// that job, in its subtransaction, rather than the commit of the whole batch. (A security-
// restricted operation could not queue deferred checks anyway.)
void
make_constraints_immediate()
{
    ConstraintsSetStmt *all_immediate = makeNode(ConstraintsSetStmt);
    all_immediate->constraints = NIL;
    all_immediate->deferred = false;
    AfterTriggerSetState(all_immediate);
}

// Whether a job started at `started` has outlived regen_queue.job_timeout.
bool
past_job_timeout(const Drain &drain, TimestampTz started)
{
    return drain.options.job_timeout_ms > 0 &&
           TimestampDifferenceExceeds(started, GetCurrentTimestamp(), drain.options.job_timeout_ms);
}

constexpr const char *kJobTimeoutMessage =
    "handler ran longer than regen_queue.job_timeout (%d ms)";

// Run one job's handler in a subtransaction of its own; on error record the failed attempt.
// A handler that wrote something has its job completed in that subtransaction, so that a
// completion that cannot be written (a trigger on job_queue refusing it, say) undoes the
// handler's writes with it and fails the attempt like a handler error; so does every handler
// when job_queue_may_refuse(). Otherwise a handler that wrote nothing has nothing to undo: its
// job is completed with the rest of the batch's such jobs by one statement at the end
// (complete_done), which costs no subtransaction id per job.
//
// The handler runs as a security-restricted operation (as PostgreSQL runs index expressions
// during maintenance): it cannot create temporary objects or change the session's roles, which
// a later job, possibly run with more rights, would otherwise inherit. Whatever else it changes
// or leaves open (settings, session advisory locks, cursors, large-object descriptors) is undone
// when it returns. A handler that outlives regen_queue.job_timeout fails its attempt even if it
// caught the cancel.
void
run_job(Drain &drain, const LockedJob &job, HandlerCache &handlers, Completions &done)
{
    MemoryContext memory = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    ErrorData *volatile edata = nullptr;
    volatile bool completed_here = false;
    volatile Datum result = (Datum)0;
    volatile bool result_is_null = true;
    Oid saved_user;
    int saved_context;

    GetUserIdAndSecContext(&saved_user, &saved_context);
    make_constraints_immediate();
    TimestampTz started = GetCurrentTimestamp();
    int settings_level = NewGUCNestLevel();
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(memory);
    PG_TRY();
    {
        bool is_null = false;
        SetUserIdAndSecContext(saved_user, saved_context | SECURITY_LOCAL_USERID_CHANGE |
                                               SECURITY_RESTRICTED_OPERATION);
        if (drain.options.job_timeout_ms > 0)
            enable_timeout_after(STATEMENT_TIMEOUT, drain.options.job_timeout_ms);
        // A snapshot of its own: a handler that only reads (a STABLE one runs on the active
        // snapshot) sees what committed since the batch began, and what earlier jobs wrote.
        PushActiveSnapshot(GetTransactionSnapshot());
        int handler_settings = NewGUCNestLevel();
        Datum value = call_handler(handlers, job.job_type, job.row, drain.options.handlers_as_owner,
                                   &is_null);
        // Nothing the handler set (search_path, transaction_read_only, ...) reaches the
        // completion below: settings are the drain session's again.
        AtEOXact_GUC(false, handler_settings);
        PopActiveSnapshot();
        stop_job_timeout();
        if (past_job_timeout(drain, started))
            ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                            errmsg(kJobTimeoutMessage, drain.options.job_timeout_ms)));

        completed_here =
            TransactionIdIsValid(GetCurrentTransactionIdIfAny()) || done.each_in_its_own;
        if (completed_here)
        {
            // It wrote, or job_queue may refuse completions. One that completed its own job
            // (regen_queue.complete_job) leaves this statement nothing to change; the job still
            // counts as completed. The statement runs as the drain, with the drain's settings.
            SetUserIdAndSecContext(saved_user, saved_context);
            (void)complete_job(job.id, job.attempt, value, is_null);
        }
        else
        {
            // The handler's value may point into memory or TOAST of the subtransaction.
            MemoryContextSwitchTo(drain.memory);
            result = is_null ? (Datum)0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(value));
            result_is_null = is_null;
            MemoryContextSwitchTo(memory);
        }
        ReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        stop_job_timeout();
        MemoryContextSwitchTo(memory);
        edata = CopyErrorData();
        FlushErrorState();
        // The timeout's own cancel says "statement timeout"; name the setting instead.
        if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && past_job_timeout(drain, started))
            edata->message = psprintf(kJobTimeoutMessage, drain.options.job_timeout_ms);
        RollbackAndReleaseCurrentSubTransaction();
    }
    PG_END_TRY();
    MemoryContextSwitchTo(memory);
    CurrentResourceOwner = owner;
    AtEOXact_GUC(false, settings_level); // false: undo even what a plain SET would keep
    SetUserIdAndSecContext(saved_user, saved_context);
    clear_job_session_state();

    drain.counts.processed++;
    if (edata != nullptr)
        record_failure(drain, job, edata);
    else if (completed_here)
        drain.counts.completed++;
    else
    {
        done.ids[done.count] = job.id;
        done.attempts[done.count] = Int32GetDatum(job.attempt);
        done.results[done.count] = result;
        done.result_nulls[done.count] = result_is_null;
        done.completing[done.count] = job;
        done.count++;
    }
}

bool
stop_requested_now(pg_atomic_uint32 *stop_requested)
{
    return stop_requested != nullptr && pg_atomic_read_u32(stop_requested) != 0;
}

// Write what the batch left for its end (see Completions). A statement for many jobs that
// fails is repeated job by job, each in a subtransaction of its own, and a job whose write
// still fails has its attempt failed with that error, as a handler error would, rather than
// failing the batch. Every job completed here counts as completed, also one whose handler
// finished the job itself: so processedCount is always completedCount + failedCount.
void
complete_done(Drain &drain, Completions &done)
{
    ErrorData *error = nullptr;

    if (done.count > 0)
        error = try_in_subtransaction(
            [&] {
                (void)complete_jobs(done.count, done.ids, done.attempts, done.results,
                                    done.result_nulls);
            });
    for (int i = 0; i < done.count; i++)
    {
        ErrorData *job_error =
            error == nullptr
                ? nullptr
                : try_in_subtransaction(
                      [&]
                      {
                          (void)complete_job(done.ids[i], DatumGetInt32(done.attempts[i]),
                                             done.results[i], done.result_nulls[i]);
                      });
        if (job_error != nullptr)
            record_failure(drain, done.completing[i], job_error);
        else
            drain.counts.completed++;
    }
    done.count = 0;

    error = done.http_count > 0
                ? try_in_subtransaction([&] { http_hand_over(done.http, done.http_count); })
                : nullptr;
    for (int i = 0; error != nullptr && i < done.http_count; i++)
    {
        ErrorData *job_error = try_in_subtransaction([&] { http_hand_over(&done.http[i], 1); });
        if (job_error == nullptr)
            continue;
        drain.counts.processed++; // a job handed over is counted when its call is answered
        record_failure(drain, done.handing_over[i], job_error);
    }
    done.http_count = 0;
}

// Set a job aside for HTTP when its handler is an endpoint; false when it is not.
bool
set_aside_for_http(Drain &drain, const LockedJob &job, HandlerCache &handlers, Completions &done)
{
    const Registration &registration = registration_of(handlers, job.job_type);
    if (!registration.http)
        return false;

    done.handing_over[done.http_count] = job;
    HttpJob &http = done.http[done.http_count++];
    http.id = job.id;
    http.attempt = job.attempt;
    http.max_attempts = job.max_attempts;
    http.job_type = job.job_type;
    http.endpoint = registration.endpoint;
    http.timeout_ms = registration.timeout_ms;
    http.max_concurrency = registration.max_concurrency;
    drain.saw_http = true;
    return true;
}

// Commit what the batch has finished and lock its jobs from `next` on again in a new
// transaction; returns how many of them are still ours, now at the front of `jobs`.
int
commit_and_relock(Drain &drain, Completions &done, LockedJob *jobs, int next, int count)
{
    Datum rest[kMaxClaimBatch];

    complete_done(drain, done);
    for (int i = next; i < count; i++)
        rest[i - next] = jobs[i].id; // copies in the drain's memory, which outlives the commit
    end_unit();
    begin_unit("regen_queue: running jobs");
    return lock_batch(drain, rest, count - next, jobs);
}

bool
commit_due()
{
    int subxact_ids = MyProc->subxidStatus.count + (MyProc->subxidStatus.overflowed ? 64 : 0);
    double ms = (double)(GetCurrentTimestamp() - GetCurrentTransactionStartTimestamp()) / 1000.0;
    bool due = false;

    call_core([&] { due = core::commit_before_next_job(subxact_ids, ms); });
    return due;
}

// Run a claimed batch; claim the next one in the same transaction unless the drain is done.
void
run_batch(Drain &drain, ClaimedBatch &batch, pg_atomic_uint32 *stop_requested)
{
    LockedJob jobs[kMaxClaimBatch];
    Completions done;
    HandlerCache handlers;
    handlers.memory = drain.memory;
    // In the drain's memory, which outlives the commits in the middle of the batch.
    MemoryContext job_memory =
        AllocSetContextCreate(drain.memory, "regen_queue job", ALLOCSET_DEFAULT_SIZES);
    TimestampTz started = GetCurrentTimestamp();
    int ran = 0;
    bool http_leases_held = false; // in this transaction

    int count = lock_batch(drain, batch.ids, batch.count, jobs);
    done.each_in_its_own = job_queue_may_refuse();
    for (int i = 0; i < count; i++)
    {
        CHECK_FOR_INTERRUPTS();
        if (i > 0 && commit_due())
        {
            count = commit_and_relock(drain, done, jobs, i, count);
            done.each_in_its_own = job_queue_may_refuse();
            handlers = HandlerCache{}; // the new transaction may see a new registration
            handlers.memory = drain.memory;
            http_leases_held = false;
            i = -1;
            continue;
        }

        ran++;
        if (set_aside_for_http(drain, jobs[i], handlers, done))
            continue;
        if (!http_leases_held)
            http_hold_leases(); // a SQL handler may run past the leases of calls in flight
        http_leases_held = true;
        MemoryContext old = MemoryContextSwitchTo(job_memory);
        run_job(drain, jobs[i], handlers, done);
        MemoryContextSwitchTo(old);
        MemoryContextReset(job_memory);
        http_poll(); // answers to earlier calls are read while SQL jobs run
    }
    MemoryContextDelete(job_memory);

    complete_done(drain, done);
    drain.jobs_run += ran;
    drain.run_time_ms += (double)(GetCurrentTimestamp() - started) / 1000.0;

    batch.count = 0;
    if (stop_requested_now(stop_requested) || !guc_enabled)
        drain.exhausted = true;
    else if (http_wants_more())
        claim_batch(drain, batch);
}

} // namespace

void
begin_unit(const char *activity)
{
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, activity);
}

void
end_unit()
{
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    http_committed();
    pgstat_report_stat(false);
    pgstat_report_activity(STATE_IDLE, nullptr);
}

void
prepare_drain_session()
{
    SetConfigOption("search_path", kPinnedSearchPath, PGC_SUSET, PGC_S_SESSION);
    // The claim relies on READ COMMITTED: under REPEATABLE READ a FOR UPDATE SKIP LOCKED that
    // meets a row claimed and committed by another drain since its snapshot fails with 40001
    // instead of skipping it. A database or role default must not change that.
    SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_SESSION);
}

bool
extension_installed()
{
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    bool installed = OidIsValid(get_extension_oid("regen_queue", true));
    CommitTransactionCommand();
    return installed;
}

core::DrainCounts
drain_jobs(const DrainOptions &options, pg_atomic_uint32 *stop_requested)
{
    Drain drain;
    ClaimedBatch batch;
    TimestampTz started = GetCurrentTimestamp();

    drain.options = options;
    drain.drain_id = (int64)pg_prng_uint64(&pg_global_prng_state);
    // One context for the life of the process: a drain that ends in an error leaks nothing.
    static MemoryContext drain_memory = nullptr;
    if (drain_memory == nullptr)
        drain_memory =
            AllocSetContextCreate(TopMemoryContext, "regen_queue drain", ALLOCSET_DEFAULT_SIZES);
    MemoryContextReset(drain_memory);
    drain.memory = drain_memory;

    http_begin_drain(options.lease_ms);
    begin_unit("regen_queue: claiming jobs");
    reap_expired_leases();
    claim_batch(drain, batch);
    end_unit();

    // Batches run while there are any; calls of jobs handed over to HTTP are moved along
    // between batches and waited for once nothing else is left to do.
    bool calls_left = false;
    for (;;)
    {
        CHECK_FOR_INTERRUPTS();
        bool stopping = stop_requested_now(stop_requested) || !guc_enabled;
        if (batch.count > 0)
        {
            begin_unit("regen_queue: running jobs");
            run_batch(drain, batch, stop_requested);
            end_unit();
            MemoryContextReset(drain.memory);
        }
        else if (!drain.exhausted && !stopping && http_wants_more())
        {
            begin_unit("regen_queue: claiming jobs");
            claim_batch(drain, batch);
            end_unit();
        }

        bool more_batches = batch.count > 0 || (!drain.exhausted && !stopping);
        if (http_idle())
        {
            if (!more_batches)
                break;
            continue;
        }
        if (!more_batches && !stopping && options.leave_calls_in_flight &&
            drain.claimed >= options.max_jobs)
        {
            http_pump(drain.counts, 0, false); // record what has finished
            calls_left = true;
            break;
        }
        // Wait for answers only when no batch can run meanwhile.
        bool can_claim = more_batches && http_wants_more();
        http_pump(drain.counts, can_claim ? 0 : options.lease_ms, stopping);
    }

    http_end_drain(calls_left);
    if (drain.counts.processed > 0)
        ereport(options.log_level,
                (errmsg("regen_queue: drain processed %lld jobs (%lld completed, %lld failed) in "
                        "%.1f ms",
                        (long long)drain.counts.processed, (long long)drain.counts.completed,
                        (long long)drain.counts.failed,
                        (double)(GetCurrentTimestamp() - started) / 1000.0)));
    return drain.counts;
}

} // namespace regen::pg
