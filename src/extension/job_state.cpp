// Job state transitions, and their SQL entry points regen_queue.complete_job and fail_job.
#include "job_state.hpp"

#include "core_call.hpp"
#include "queue_sql.hpp"
#include "server_text.hpp"
#include "spi_plan.hpp"

#include "../core/text_clean.hpp"

extern "C"
{
#include "common/pg_prng.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
}

#include <algorithm>
#include <cstring>

namespace regen::pg
{

namespace
{

SPIPlanPtr complete_plan = nullptr;
SPIPlanPtr complete_many_plan = nullptr;
SPIPlanPtr fail_plan = nullptr;
SPIPlanPtr lock_attempt_plan = nullptr;

} // namespace

bool
complete_job(Datum id, int attempt, Datum result, bool result_is_null)
{
    static const Oid types[] = {UUIDOID, INT4OID, JSONBOID};
    SPIPlanPtr plan = keep_plan(&complete_plan, sql::kCompleteJob, 3, types);
    Datum values[] = {id, Int32GetDatum(attempt), result};
    char nulls[] = {' ', ' ', result_is_null ? 'n' : ' '};

    int rc = SPI_execute_plan(plan, values, nulls, false, 0);
    if (rc != SPI_OK_UPDATE)
        elog(ERROR, "completing a job failed: %s", SPI_result_code_string(rc));
    return SPI_processed == 1;
}

uint64
complete_jobs(int count, Datum *ids, Datum *attempts, Datum *results, bool *result_nulls)
{
    static const Oid types[] = {UUIDARRAYOID, INT4ARRAYOID, JSONBARRAYOID};
    SPIPlanPtr plan = keep_plan(&complete_many_plan, sql::kCompleteJobs, 3, types);
    int dims[] = {count};
    int lower_bounds[] = {1};
    Datum values[] = {
        PointerGetDatum(construct_array(ids, count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR)),
        PointerGetDatum(
            construct_array(attempts, count, INT4OID, sizeof(int32), true, TYPALIGN_INT)),
        PointerGetDatum(construct_md_array(results, result_nulls, 1, dims, lower_bounds, JSONBOID,
                                           -1, false, TYPALIGN_INT))};

    exec_plan(plan, values, SPI_OK_UPDATE);
    return SPI_processed;
}

const char *
fail_job(Datum id, int attempt, int max_attempts, core::FailureKind kind, const char *error_text,
         int64 min_delay_ms)
{
    static const Oid types[] = {UUIDOID, INT4OID, BOOLOID, INT8OID, TEXTOID};
    SPIPlanPtr plan = keep_plan(&fail_plan, sql::kFailJob, 5, types);
    core::FailureDecision decision;

    call_core(
        [&]
        {
            decision = core::decide_failure(attempt, max_attempts, kind,
                                            pg_prng_double(&pg_global_prng_state));
            decision.delay_ms = std::max<int64_t>(decision.delay_ms, min_delay_ms);
        });

    Datum values[] = {id, Int32GetDatum(attempt), BoolGetDatum(decision.retry),
                      Int64GetDatum(decision.delay_ms),
                      text_datum(cleaned_text(error_text, core::kMaxErrorBytes))};
    exec_plan(plan, values, SPI_OK_UPDATE_RETURNING);
    if (SPI_processed != 1)
        return nullptr;
    return decision.retry ? "pending" : "failed";
}

void
report_failed_attempt(Datum id, int attempt, int max_attempts, const char *status,
                      const char *description)
{
    ereport(strcmp(status, "failed") == 0 ? WARNING : LOG,
            (errmsg("regen_queue: job %s attempt %d of %d failed, job is now %s: %s",
                    DatumGetCString(DirectFunctionCall1(uuid_out, id)), attempt, max_attempts,
                    status, description)));
}

// The core call allocates only C++ memory; the result is copied into a palloc'd buffer.
char *
cleaned_text(const char *text, std::size_t max_bytes)
{
    const char *in = text_for_core(text, (int)strlen(text));
    char *out = static_cast<char *>(palloc(max_bytes + 1));

    call_core(
        [&]
        {
            std::string cleaned = core::clean_error_text(in, max_bytes);
            memcpy(out, cleaned.data(), cleaned.size());
            out[cleaned.size()] = '\0';
        });
    char *result = text_from_core(out);

    // Back in an encoding other than UTF-8, a character may take more bytes than it did there.
    int len = (int)strlen(result);
    if ((std::size_t)len > max_bytes && max_bytes >= 3)
    {
        int keep = pg_mbcliplen(result, len, (int)max_bytes - 3);
        strcpy(result + keep, "...");
    }
    else if ((std::size_t)len > max_bytes)
        result[pg_mbcliplen(result, len, (int)max_bytes)] = '\0';
    return result;
}

char *
describe_error(const ErrorData *edata)
{
    StringInfoData buf;

    // Only the start of a message and detail can end up in last_error or the server log; a
    // handler's error text may be any size.
    constexpr int kPartBytes = (int)core::kMaxErrorBytes;

    // Cut at a character boundary of the database's encoding, which may not be UTF-8.
    const char *message = edata->message ? edata->message : "(no message)";
    initStringInfo(&buf);
    appendStringInfo(&buf, "%s: %.*s", unpack_sql_state(edata->sqlerrcode),
                     pg_mbcliplen(message, (int)strlen(message), kPartBytes), message);
    if (edata->detail && edata->detail[0] != '\0')
        appendStringInfo(&buf, " (%.*s)",
                         pg_mbcliplen(edata->detail, (int)strlen(edata->detail), kPartBytes),
                         edata->detail);
    return cleaned_text(buf.data, core::kMaxErrorBytes);
}

} // namespace regen::pg

using namespace regen::pg;

extern "C"
{

    PG_FUNCTION_INFO_V1(regen_complete_job);
    PG_FUNCTION_INFO_V1(regen_fail_job);

    // regen_queue.complete_job(job_id uuid, attempt integer, result jsonb) RETURNS boolean
    Datum regen_complete_job(PG_FUNCTION_ARGS)
    {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("job_id and attempt must not be null")));

        // Called from SQL with the caller's search_path, which must not pick our operators.
        int settings_level = pin_search_path();
        SPI_connect();
        bool changed =
            complete_job(PG_GETARG_DATUM(0), PG_GETARG_INT32(1),
                         PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
        SPI_finish();
        restore_search_path(settings_level);
        PG_RETURN_BOOL(changed);
    }

    // regen_queue.fail_job(job_id uuid, attempt integer, error text, retryable boolean)
    // RETURNS regen_queue.job_status; NULL when the job was not processing at that attempt.
    Datum regen_fail_job(PG_FUNCTION_ARGS)
    {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("job_id, attempt, error and retryable must not be null")));

        Datum id = PG_GETARG_DATUM(0);
        int attempt = PG_GETARG_INT32(1);
        char *error_text = text_to_cstring(PG_GETARG_TEXT_PP(2));
        auto kind = PG_GETARG_BOOL(3) ? regen::core::FailureKind::Retryable
                                      : regen::core::FailureKind::Permanent;
        static const Oid types[] = {UUIDOID, INT4OID};
        const char *status = nullptr;

        int settings_level = pin_search_path(); // as in complete_job()
        SPI_connect();
        Datum lock_args[] = {id, Int32GetDatum(attempt)};
        exec_plan(keep_plan(&lock_attempt_plan, regen::pg::sql::kLockJobAttempt, 2, types),
                  lock_args, SPI_OK_SELECT);
        if (SPI_processed == 1)
        {
            bool isnull;
            int max_attempts = DatumGetInt32(
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
            status = fail_job(id, attempt, max_attempts, kind, error_text);
        }
        SPI_finish();
        restore_search_path(settings_level);

        if (status == nullptr)
            PG_RETURN_NULL();

        Oid enum_type = get_fn_expr_rettype(fcinfo->flinfo);
        PG_RETURN_DATUM(
            OidFunctionCall2(F_ENUM_IN, CStringGetDatum(status), ObjectIdGetDatum(enum_type)));
    }

} // extern "C"
