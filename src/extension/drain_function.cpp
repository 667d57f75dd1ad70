// regen_drain(): run a drain in a background worker process and wait for its counts.
//
// The drain runs in its own process so that it does not depend on the caller's transaction:
// each batch commits on its own, so results survive a caller that rolls back or hits
// statement_timeout. The worker connects as the caller's session user and takes on the
// caller's current role, so handlers run with the caller's privileges. A caller that is
// cancelled or exits asks the worker to stop after its current batch.
#include "pg.hpp"

#include "core_call.hpp"
#include "drain.hpp"
#include "guc.hpp"

#include "../core/drain_counts.hpp"

extern "C"
{
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/wait_event.h"
}

#include <cstring>
#include <string>

namespace regen::pg
{

namespace
{

constexpr int kMessageBytes = 1024;

// Lives in a dynamic shared memory segment shared by the caller and its drain worker.
struct DrainRequest
{
    pg_atomic_uint32 stop_requested;
    Oid database;
    Oid authenticated_role; // who logged in: may log in, unlike a SET SESSION AUTHORIZATION role
    Oid session_role;
    Oid current_role;
    int64 max_jobs;
    int lease_ms;
    int job_timeout_ms;

    // Written by the worker before it exits.
    bool finished;
    bool failed;
    int sqlerrcode;
    char message[kMessageBytes];
    char detail[kMessageBytes];
    char hint[kMessageBytes];
    core::DrainCounts counts;
};

Datum
counts_jsonb(const core::DrainCounts &counts)
{
    char json[256];

    call_core([&] { strlcpy(json, core::drain_counts_json(counts).c_str(), sizeof(json)); });
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

int64
effective_max_jobs(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        return guc_max_jobs_per_drain;

    int requested = PG_GETARG_INT32(0);
    if (requested < 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_jobs must not be negative"),
                 errdetail("The value given was %d.", requested)));
    // The GUC bounds every drain, so that setting it to 0 sheds load for every caller.
    return Min((int64)requested, (int64)guc_max_jobs_per_drain);
}

void
request_stop(dsm_segment *, Datum request)
{
    pg_atomic_write_u32(&reinterpret_cast<DrainRequest *>(DatumGetPointer(request))->stop_requested,
                        1);
}

BackgroundWorkerHandle *
start_drain_worker(dsm_segment *segment)
{
    BackgroundWorker bgw = {};
    BackgroundWorkerHandle *handle;

    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_ConsistentState;
    bgw.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(bgw.bgw_library_name, kLibraryName, BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "regen_drain_worker_main", BGW_MAXLEN);
    snprintf(bgw.bgw_name, BGW_MAXLEN, "regen_queue drain for PID %d", MyProcPid);
    strlcpy(bgw.bgw_type, "regen_queue drain", BGW_MAXLEN);
    bgw.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(segment));
    bgw.bgw_notify_pid = MyProcPid;

    if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
                        errmsg("could not start a regen_queue drain worker"),
                        errdetail("Every background worker slot is in use."),
                        errhint("Raise max_worker_processes (now %d), or drain less often.",
                                max_worker_processes)));
    return handle;
}

constexpr const char *kDrainAppNameFormat = "regen_queue drain for PID %d";

// A drain worker and the regen_drain() caller it serves.
struct DrainPair
{
    int caller;
    int worker;
};

// The drain workers running now, read from their application_name (bgworkers only: any session
// can choose its application_name). Fills at most `max` pairs.
int
running_drains(DrainPair *pairs, int max)
{
    int count = 0;

    pgstat_clear_snapshot(); // a fresh view of the backends at each check
    int backends = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= backends && count < max; i++)
    {
        LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
        if (local == nullptr || local->backendStatus.st_backendType != B_BG_WORKER)
            continue;
        int caller;
        if (sscanf(local->backendStatus.st_appname, kDrainAppNameFormat, &caller) == 1)
            pairs[count++] = {caller, local->backendStatus.st_procpid};
    }
    return count;
}

// Whether `pid` waits, directly or through other backends, for a lock this backend holds. Then
// the drain worker would wait for its caller, and its caller for it: a deadlock that
// PostgreSQL's detector cannot see, as a caller waits on its latch rather than on a lock. The
// walk follows lock waits (pg_blocking_pids) and, from another regen_drain() caller, its drain
// worker, so a cycle through a second caller is found too.
bool
waits_for_me(pid_t pid)
{
    constexpr int kMaxVisited = 64;
    constexpr int kMaxDrains = 64;
    int queue[kMaxVisited];
    int visited = 0;
    DrainPair drains[kMaxDrains];
    int drain_count = running_drains(drains, kMaxDrains);

    auto visit = [&](int next_pid)
    {
        for (int k = 0; k < visited; k++)
            if (queue[k] == next_pid)
                return;
        if (visited < kMaxVisited)
            queue[visited++] = next_pid;
    };

    queue[visited++] = pid;
    for (int next = 0; next < visited; next++)
    {
        ArrayType *blockers =
            DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(queue[next])));
        int count = ArrayGetNItems(ARR_NDIM(blockers), ARR_DIMS(blockers));
        const int32 *pids = reinterpret_cast<const int32 *>(ARR_DATA_PTR(blockers));

        for (int i = 0; i < count; i++)
        {
            if (pids[i] == MyProcPid)
                return true;
            visit(pids[i]);
        }
        for (int d = 0; d < drain_count; d++)
            if (drains[d].caller == queue[next] && queue[next] != MyProcPid)
                visit(drains[d].worker);
    }
    return false;
}

// Wait for the worker to exit. Every deadlock_timeout, check that the worker is not waiting for
// a lock of the caller's transaction (a handler updating a row the caller has updated). If this
// backend errors out or is cancelled meanwhile, ask the worker to stop after its current batch.
void
wait_for_drain(BackgroundWorkerHandle *handle, DrainRequest *request)
{
    MemoryContext check_memory = AllocSetContextCreate(
        CurrentMemoryContext, "regen_queue deadlock check", ALLOCSET_SMALL_SIZES);

    PG_TRY();
    {
        TimestampTz last_check = GetCurrentTimestamp();
        for (;;)
        {
            pid_t pid = 0;
            BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

            if (status == BGWH_STOPPED)
                break;
            if (status == BGWH_POSTMASTER_DIED)
                ereport(FATAL, (errcode(ERRCODE_ADMIN_SHUTDOWN),
                                errmsg("postmaster exited during a regen_queue drain")));

            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                            DeadlockTimeout, WAIT_EVENT_BGWORKER_SHUTDOWN);
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();

            // Checked by elapsed time, not on the wait's timeout alone: a latch set often (by
            // notifications, say) must not postpone the check forever.
            TimestampTz now = GetCurrentTimestamp();
            if (!TimestampDifferenceExceeds(last_check, now, DeadlockTimeout))
                continue;
            last_check = now;
            // pg_blocking_pids() allocates a copy of the lock table's state and frees nothing:
            // give each check a context of its own.
            MemoryContext caller_memory = MemoryContextSwitchTo(check_memory);
            bool deadlocked = status == BGWH_STARTED && waits_for_me(pid);
            MemoryContextSwitchTo(caller_memory);
            MemoryContextReset(check_memory);
            if (deadlocked)
                ereport(ERROR, (errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
                                errmsg("regen_drain() would wait forever for its drain worker"),
                                errdetail("The drain worker (PID %d) waits for a lock held by this "
                                          "transaction.",
                                          (int)pid),
                                errhint("Call regen_drain() outside transactions that write what "
                                        "handlers write. Jobs finished so far stay committed.")));
        }
    }
    PG_CATCH();
    {
        pg_atomic_write_u32(&request->stop_requested, 1);
        PG_RE_THROW();
    }
    PG_END_TRY();
    MemoryContextDelete(check_memory);
}

void
raise_worker_error(const DrainRequest *request)
{
    if (!request->finished)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("regen_queue drain worker exited before it finished"),
                        errhint("The server log has the reason. Jobs it had claimed are "
                                "reclaimed when their lease expires.")));

    ereport(ERROR, (errcode(request->sqlerrcode), errmsg("%s", request->message),
                    request->detail[0] ? errdetail("%s", request->detail) : 0,
                    request->hint[0] ? errhint("%s", request->hint) : 0,
                    errcontext("regen_queue drain worker")));
}

void
record_worker_error(DrainRequest *request)
{
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *edata = CopyErrorData();

    request->sqlerrcode = edata->sqlerrcode;
    strlcpy(request->message, edata->message ? edata->message : "", kMessageBytes);
    strlcpy(request->detail, edata->detail ? edata->detail : "", kMessageBytes);
    strlcpy(request->hint, edata->hint ? edata->hint : "", kMessageBytes);
    request->failed = true;
    request->finished = true;
}

} // namespace

} // namespace regen::pg

using namespace regen::pg;

extern "C"
{

    PG_FUNCTION_INFO_V1(regen_drain);
    PGDLLEXPORT void regen_drain_worker_main(Datum arg);

    // regen_drain(max_jobs integer DEFAULT NULL) RETURNS jsonb
    Datum regen_drain(PG_FUNCTION_ARGS)
    {
        require_enabled();
        int64 max_jobs = effective_max_jobs(fcinfo);
        if (max_jobs == 0)
            PG_RETURN_DATUM(counts_jsonb(regen::core::DrainCounts{}));
        if (RecoveryInProgress())
            ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                            errmsg("cannot drain jobs during recovery"),
                            errhint("Drain on the primary.")));

        dsm_segment *segment = dsm_create(sizeof(DrainRequest), 0);
        auto *request = static_cast<DrainRequest *>(dsm_segment_address(segment));
        memset(static_cast<void *>(request), 0, sizeof(DrainRequest));
        pg_atomic_init_u32(&request->stop_requested, 0);
        request->database = MyDatabaseId;
        request->authenticated_role = GetAuthenticatedUserId();
        request->session_role = GetSessionUserId();
        request->current_role = GetUserId();
        request->max_jobs = max_jobs;
        request->lease_ms = guc_lease_timeout_s * 1000;
        request->job_timeout_ms = guc_job_timeout_ms;
        on_dsm_detach(segment, request_stop, PointerGetDatum(request));

        BackgroundWorkerHandle *handle = start_drain_worker(segment);
        wait_for_drain(handle, request);

        if (!request->finished || request->failed)
            raise_worker_error(request);
        Datum result = counts_jsonb(request->counts);
        dsm_detach(segment);
        PG_RETURN_DATUM(result);
    }

    void regen_drain_worker_main(Datum arg)
    {
        pqsignal(SIGTERM, die);
        pqsignal(SIGHUP, SignalHandlerForConfigReload); // seen while waiting on HTTP calls
        BackgroundWorkerUnblockSignals();

        dsm_segment *segment = dsm_attach(DatumGetUInt32(arg));
        if (segment == nullptr)
            return; // the caller gave up before this worker started: nothing was claimed
        auto *request = static_cast<DrainRequest *>(dsm_segment_address(segment));

        // Connect as the role that logged in, then take on the caller's session user and
        // current role, as parallel workers do: the session user may be a role that cannot log
        // in (SET SESSION AUTHORIZATION), which a connection as that role would refuse.
        BackgroundWorkerInitializeConnectionByOid(request->database, request->authenticated_role,
                                                  0);
        StartTransactionCommand();
        if (request->session_role != request->authenticated_role)
            SetSessionAuthorization(request->session_role, superuser_arg(request->session_role));
        if (request->current_role != request->session_role)
            SetCurrentRoleId(request->current_role, superuser_arg(request->current_role));
        CommitTransactionCommand();
        // Names the caller, so that other callers' deadlock checks can follow it to this worker.
        char appname[NAMEDATALEN];
        snprintf(appname, sizeof(appname), kDrainAppNameFormat, MyBgworkerEntry->bgw_notify_pid);
        pgstat_report_appname(appname);
        prepare_drain_session();

        DrainOptions options;
        options.max_jobs = request->max_jobs;
        options.lease_ms = request->lease_ms;
        options.job_timeout_ms = request->job_timeout_ms;
        options.log_level = DEBUG1;

        PG_TRY();
        {
            request->counts = drain_jobs(options, &request->stop_requested);
            request->finished = true;
        }
        PG_CATCH();
        {
            record_worker_error(request);
            PG_RE_THROW();
        }
        PG_END_TRY();
    }

} // extern "C"
