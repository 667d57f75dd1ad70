#include "retention.hpp"

#include "drain.hpp"
#include "guc.hpp"
#include "spi_plan.hpp"

namespace regen::pg
{

namespace
{

TimestampTz last_pass = 0;
bool more_left = false; // the last pass stopped at its bound with rows left to delete

// One batch through regen_prune(), the operators' own function, in the extension's schema
// (looked up each time: the extension may have been created again elsewhere). As the bootstrap
// superuser: the worker role need not be allowed to prune. Needs SPI.
int64
prune_batch()
{
    static Oid types[] = {INT4OID, INT4OID};
    Datum args[] = {Int32GetDatum(guc_retention_s), Int32GetDatum(kPruneBatch)};
    if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e"
                    " JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
                    " WHERE e.extname = 'regen_queue'",
                    true, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
        elog(ERROR, "the schema of extension regen_queue was not found");
    const char *call = psprintf("SELECT %s.regen_prune($1 * interval '1 second', $2)",
                                SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));

    SPIPlanPtr plan = SPI_prepare(call, 2, types);
    if (plan == nullptr)
        elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    exec_plan_as_superuser(plan, args, SPI_OK_SELECT);
    bool isnull;
    return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
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
    for (int batches = 0; batches < kPruneBatchesPerPass && batch == kPruneBatch; batches++)
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
                             "regen_queue.retention (%d s)",
                             (long long)removed, guc_retention_s),
                      more_left ? errdetail("More are left for the next pass.") : 0));
}

} // namespace regen::pg
