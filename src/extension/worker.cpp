// The background workers.
//
// The launcher connects to no database (shared catalogs only). It starts one database worker per
// entry of regen_queue.databases, restarts a worker that exits (with backoff, so a missing database
// costs a log line a minute, not a crash loop), and stops workers whose database left the list.
// Started only once recovery has finished, so nothing drains on a standby until it is promoted.
#include "worker.hpp"

#include "pg.hpp"

#include "drain.hpp"
#include "http_jobs.hpp"
#include "retention.hpp"
#include "guc.hpp"
#include "wakeup.hpp"

extern "C"
{
#include "catalog/pg_database.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/varlena.h"
}

#include <cstring>

namespace regen::pg
{

namespace
{

constexpr int kLauncherRestartS = 5;
constexpr int kWorkerBackoffMaxS = 60;
constexpr int kLauncherTickMs = 1000;
constexpr int64 kStableRunUs = 60 * USECS_PER_SEC;
// How often an idle database worker checks whether someone wants its database to itself. DROP
// DATABASE and ALTER DATABASE ... RENAME wait 5 s for other sessions to leave, then give up.
constexpr long kDatabaseCheckMs = 1000;

struct DatabaseWorker
{
    bool wanted;
    char database[NAMEDATALEN];
    BackgroundWorkerHandle *handle;
    TimestampTz started_at;
    TimestampTz next_start;
    int failures;
};

DatabaseWorker workers[kMaxWorkerDatabases];

// Wait after `failures` drains in a row failed: 1 s doubling, at most kWorkerBackoffMaxS.
int
drain_backoff_ms(int failures)
{
    int shift = Min(Max(failures - 1, 0), 6);
    return Min(1000 << shift, kWorkerBackoffMaxS * 1000);
}

void
setup_signals()
{
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
}

// Apply a reload asked for by SIGHUP; return whether there was one.
bool
reload_config_if_asked()
{
    if (!ConfigReloadPending)
        return false;
    ConfigReloadPending = false;
    ProcessConfigFile(PGC_SIGHUP);
    return true;
}

// Mark the entries of regen_queue.databases wanted, giving new ones a free slot.
void
mark_wanted_databases()
{
    char *copy = pstrdup(guc_databases);
    List *names = NIL;
    ListCell *cell;

    for (auto &worker : workers)
        worker.wanted = false;
    if (!SplitIdentifierString(copy, ',', &names))
    {
        list_free(names);
        pfree(copy);
        return; // the check hook has already refused such a value
    }

    foreach (cell, names)
    {
        const char *name = static_cast<const char *>(lfirst(cell));
        DatabaseWorker *free_slot = nullptr;
        bool known = false;

        for (auto &worker : workers)
        {
            if (worker.database[0] != '\0' && strcmp(worker.database, name) == 0)
            {
                worker.wanted = true;
                known = true;
            }
            else if (worker.database[0] == '\0' && free_slot == nullptr)
                free_slot = &worker;
        }
        if (!known && free_slot != nullptr)
        {
            *free_slot = {true, {}, nullptr, 0, 0, 0};
            strlcpy(free_slot->database, name, NAMEDATALEN);
        }
    }
    list_free(names); // runs every tick of the launcher, in its long-lived memory
    pfree(copy);
}

void
start_worker(DatabaseWorker &worker, int slot)
{
    BackgroundWorker bgw = {};

    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(bgw.bgw_library_name, kLibraryName, BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "regen_database_worker_main", BGW_MAXLEN);
    snprintf(bgw.bgw_name, BGW_MAXLEN, "regen_queue worker for database %s", worker.database);
    strlcpy(bgw.bgw_type, "regen_queue worker", BGW_MAXLEN);
    bgw.bgw_main_arg = Int32GetDatum(slot);
    strlcpy(bgw.bgw_extra, worker.database, BGW_EXTRALEN);
    bgw.bgw_notify_pid = MyProcPid;

    worker.started_at = GetCurrentTimestamp();
    if (RegisterDynamicBackgroundWorker(&bgw, &worker.handle))
        return;

    worker.handle = nullptr;
    worker.failures++;
    worker.next_start = worker.started_at + kWorkerBackoffMaxS * USECS_PER_SEC;
    ereport(WARNING,
            (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
             errmsg("regen_queue: could not start the worker for database \"%s\"", worker.database),
             errhint("Raise max_worker_processes (now %d).", max_worker_processes)));
}

// Notice an exited worker and schedule its restart with exponential backoff.
void
collect_exited_worker(DatabaseWorker &worker, int slot)
{
    pid_t pid;

    if (worker.handle == nullptr || GetBackgroundWorkerPid(worker.handle, &pid) != BGWH_STOPPED)
        return;

    TimestampTz now = GetCurrentTimestamp();
    pfree(worker.handle);
    worker.handle = nullptr;
    if (take_worker_left_note(slot) || now - worker.started_at >= kStableRunUs)
        worker.failures = 1; // leaving a database that is being dropped is no failure
    else
        worker.failures++;

    int delay_s = Min(kWorkerBackoffMaxS, 1 << Min(worker.failures - 1, 6));
    worker.next_start = now + (int64)delay_s * USECS_PER_SEC;
    if (worker.wanted)
        ereport(LOG, (errmsg("regen_queue: worker for database \"%s\" exited; restarting it in "
                             "%d s",
                             worker.database, delay_s)));
}

// Bring the running workers in line with regen_queue.databases; return ms until the next
// scheduled restart (or the regular tick).
long
reconcile_workers()
{
    TimestampTz now = GetCurrentTimestamp();
    long wait_ms = kLauncherTickMs;

    mark_wanted_databases();
    for (int slot = 0; slot < kMaxWorkerDatabases; slot++)
    {
        DatabaseWorker &worker = workers[slot];

        if (worker.database[0] == '\0')
            continue;
        collect_exited_worker(worker, slot);

        if (!worker.wanted)
        {
            if (worker.handle != nullptr)
                TerminateBackgroundWorker(worker.handle);
            else
                worker.database[0] = '\0';
            continue;
        }
        if (worker.handle == nullptr && now >= worker.next_start)
            start_worker(worker, slot);
        else if (worker.handle == nullptr)
            wait_ms = Min(wait_ms, (long)((worker.next_start - now) / 1000) + 1);
    }
    return wait_ms;
}

// A launcher that exits takes its workers with it, so a restarted launcher never runs two
// workers for one database.
void
stop_all_workers(int, Datum)
{
    for (auto &worker : workers)
        if (worker.handle != nullptr)
            TerminateBackgroundWorker(worker.handle);
}

// Report a failed drain in one line the operator can act on: the statement text of the queue
// query that failed says nothing to them, the database and role do.
void
report_failed_drain(const char *database, ErrorData *edata, int failures)
{
    bool privileges = edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE;

    ereport(WARNING,
            (errcode(edata->sqlerrcode),
             errmsg("regen_queue: drain of database \"%s\" failed: %s", database, edata->message),
             edata->detail ? errdetail("%s", edata->detail) : 0,
             privileges ? errhint("The background worker runs as role \"%s\"; grant it what the "
                                  "README's Privileges section grants worker_role.",
                                  GetUserNameFromId(GetSessionUserId(), false))
                        : 0,
             failures > 1 ? errcontext("failure %d in a row; the next drain waits %d s", failures,
                                       drain_backoff_ms(failures) / 1000)
                          : 0));
}

// One drain. An error is logged and the worker goes on after the interval, or after a longer
// wait while drains keep failing (failed_drains counts them).
bool
drain_once(const char *database, int &failed_drains)
{
    static bool reported_missing = false;
    volatile bool budget_used_up = false;
    MemoryContext memory = CurrentMemoryContext;

    // Calls left in flight by the previous drain are seen through even when drains are off.
    if ((!guc_enabled || guc_max_jobs_per_drain == 0) && http_idle())
        return false;

    PG_TRY();
    {
        if (!extension_installed())
        {
            if (!reported_missing)
                ereport(LOG, (errmsg("regen_queue: extension \"regen_queue\" is not installed in "
                                     "database \"%s\"; waiting for it",
                                     database)));
            reported_missing = true;
        }
        else
        {
            reported_missing = false;
            DrainOptions options;
            options.max_jobs = guc_max_jobs_per_drain;
            options.lease_ms = guc_lease_timeout_s * 1000;
            options.job_timeout_ms = guc_job_timeout_ms;
            options.log_level = DEBUG1;
            // Without a worker role the worker is the bootstrap superuser: handlers then run as
            // the owners of their functions, never with more rights than those owners have.
            options.handlers_as_owner = guc_worker_role == nullptr || guc_worker_role[0] == '\0';
            options.leave_calls_in_flight = guc_enabled && options.max_jobs > 0;
            core::DrainCounts counts = drain_jobs(options, nullptr);
            // Drain again at once after a full drain, and when calls were left in flight.
            budget_used_up = counts.processed >= options.max_jobs || !http_idle();
            prune_finished_jobs_if_due();
        }
        failed_drains = 0;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(memory);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        AbortOutOfAnyTransaction(); // an error may escape from inside a job's subtransaction
        pgstat_report_activity(STATE_IDLE, nullptr);
        failed_drains++;
        StartTransactionCommand(); // the role's name comes from the catalogs
        report_failed_drain(database, edata, failed_drains);
        CommitTransactionCommand();
        FreeErrorData(edata);
    }
    PG_END_TRY();
    return budget_used_up;
}

// DROP DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE lock the database
// against new connections, then wait a few seconds for the sessions in it to leave. The worker
// is not a session anyone can ask to leave, so it watches for that lock and goes; the launcher
// starts it again after 1 s without counting a failure, and that start finds the database gone
// (then the usual backoff applies), renamed, or free again.
void
leave_if_database_wanted(const char *database, int slot)
{
    LOCKTAG tag;

    SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
    // The lock every new connection takes on its database: refused only while such a command
    // holds the database. Not waited for, and held by the session for an instant only.
    if (LockAcquire(&tag, RowExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
    {
        LockRelease(&tag, RowExclusiveLock, true);
        return;
    }
    ereport(LOG, (errmsg("regen_queue worker leaves database \"%s\": another session is "
                         "dropping, renaming or copying it",
                         database)));
    note_worker_left(slot);
    proc_exit(0);
}

// Take on regen_queue.worker_role, if set, as the session user: handlers run as that role.
// The worker connects as the bootstrap superuser, so the role need not be able to log in.
void
become_worker_role()
{
    if (guc_worker_role == nullptr || guc_worker_role[0] == '\0')
        return;
    StartTransactionCommand();
    Oid role = get_role_oid(guc_worker_role, true);
    if (!OidIsValid(role))
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_OBJECT),
                 errmsg("regen_queue.worker_role \"%s\" does not exist", guc_worker_role),
                 errhint("Create the role, or change regen_queue.worker_role and restart.")));
    SetSessionAuthorization(role, superuser_arg(role));
    CommitTransactionCommand();
}

} // namespace

void
register_launcher()
{
    BackgroundWorker bgw = {};

    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = kLauncherRestartS;
    strlcpy(bgw.bgw_library_name, kLibraryName, BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "regen_launcher_main", BGW_MAXLEN);
    strlcpy(bgw.bgw_name, "regen_queue launcher", BGW_MAXLEN);
    strlcpy(bgw.bgw_type, "regen_queue launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&bgw);
}

} // namespace regen::pg

using namespace regen::pg;

void
regen_launcher_main(Datum)
{
    setup_signals();

    // Shared catalogs only: enough to show up in pg_stat_activity, without holding a database.
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    // Before shared memory is detached: stopping the workers takes a lock, which needs PGPROC.
    before_shmem_exit(stop_all_workers, (Datum)0);
    pgstat_report_appname("regen_queue launcher");
    ereport(LOG, (errmsg("regen_queue launcher started")));

    for (;;)
    {
        CHECK_FOR_INTERRUPTS();
        reload_config_if_asked();
        long wait_ms = reconcile_workers();
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}

void
regen_database_worker_main(Datum arg)
{
    int slot = DatumGetInt32(arg);
    char database[NAMEDATALEN];

    strlcpy(database, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
    setup_signals();
    BackgroundWorkerInitializeConnection(database, nullptr, 0);
    become_worker_role();
    prepare_drain_session();
    pgstat_report_appname("regen_queue worker");
    publish_worker_latch(slot);
    ereport(LOG, (errmsg("regen_queue worker started for database \"%s\"", database)));

    int failed_drains = 0;
    bool drain_now = true;
    TimestampTz next_drain = 0;
    for (;;)
    {
        CHECK_FOR_INTERRUPTS();
        // A reload whose signal a handler's wait consumed during a drain still counts: the
        // next drain comes at once and its end schedules the one after by the new interval.
        if (reload_config_if_asked())
            drain_now = true;
        leave_if_database_wanted(database, slot);
        if (drain_now || GetCurrentTimestamp() >= next_drain)
        {
            if (drain_once(database, failed_drains))
                continue; // more jobs may be due right away
            long interval_ms = guc_drain_interval_ms;
            if (failed_drains > 0)
                interval_ms = Max(interval_ms, (long)drain_backoff_ms(failed_drains));
            next_drain = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), interval_ms);
        }

        long wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_drain);
        int events = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                               Min(wait_ms, kDatabaseCheckMs), PG_WAIT_EXTENSION);
        // An enqueue's wake-up or a reload. The latch is reset only when it was seen set: one
        // set after a timeout returned then wakes the next wait at once instead of being lost.
        drain_now = (events & WL_LATCH_SET) != 0;
        if (drain_now)
            ResetLatch(MyLatch);
    }
}
