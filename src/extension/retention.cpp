#include "retention.hpp"

#include "drain.hpp"
#include "guc.hpp"
#include "queue_sql.hpp"
#include "spi_plan.hpp"

extern "C"
{
#include "catalog/pg_authid.h"
}

namespace regen::pg
{

namespace
{

SPIPlanPtr prune_plan = nullptr;
TimestampTz last_pass = 0;
bool more_left = false; // the last pass stopped at its bound with rows left to delete

int64
prune_batch()
{
    static const Oid types[] = {INT4OID, INT4OID};
    Datum args[] = {Int32GetDatum(guc_retention_s), Int32GetDatum(kPruneBatch)};
    Oid user;
    int context;

    // The registry's owner prunes, not the worker role, which may not delete jobs.
    GetUserIdAndSecContext(&user, &context);
    SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, context | SECURITY_LOCAL_USERID_CHANGE);
    PG_TRY();
    {
        exec_plan(keep_plan(&prune_plan, sql::kPruneFinishedJobs, 2, types), args, SPI_OK_DELETE);
    }
    PG_FINALLY();
    {
        SetUserIdAndSecContext(user, context);
    }
    PG_END_TRY();
    return (int64)SPI_processed;
}

} // namespace

void
prune_finished_jobs_if_due()
{
    if (guc_retention_s <= 0)
        return;
    long period_ms = Min(60000L, (long)guc_retention_s * 100L); // a tenth of the retention
    period_ms = Max(period_ms, (long)guc_drain_interval_ms);
    if (!more_left && last_pass != 0 &&
        !TimestampDifferenceExceeds(last_pass, GetCurrentTimestamp(), (int)period_ms))
        return;
    last_pass = GetCurrentTimestamp();

    int64 removed = 0;
    int64 batch = kPruneBatch;
    int batches = 0;
    for (; batches < kPruneBatchesPerPass && batch == kPruneBatch; batches++)
    {
        CHECK_FOR_INTERRUPTS();
        begin_unit("regen_queue: pruning finished jobs");
        batch = prune_batch();
        end_unit();
        removed += batch;
    }
    more_left = batch == kPruneBatch;
    if (removed > 0)
        ereport(LOG, (errmsg("regen_queue: pruned %lld finished jobs older than "
                             "regen_queue.retention (%d s)%s",
                             (long long)removed, guc_retention_s,
                             more_left ? "; more are left for the next pass" : "")));
}

} // namespace regen::pg
