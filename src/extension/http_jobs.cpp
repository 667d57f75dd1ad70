// HTTP handlers: the drain's side of src/http_client's Dispatcher.
//
// The dispatcher and the finished calls live for the life of the process, allocated once and
// reached only inside call_core(); PostgreSQL code here reads their strings but never owns a
// C++ object in a frame that an error could jump over.
#include "http_jobs.hpp"

#include "core_call.hpp"
#include "drain.hpp"
#include "guc.hpp"
#include "job_state.hpp"
#include "queue_sql.hpp"
#include "spi_plan.hpp"

#include "../http_client/dispatcher.hpp"

extern "C"
{
#include "mb/pg_wchar.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/array.h"
#include "utils/jsonb.h"
}

#include <sys/resource.h>

#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace regen::pg
{

namespace
{

struct HttpState
{
    http::Dispatcher dispatcher;
    std::vector<http::FinishedCall> finished; // verdicts not yet recorded
    std::vector<http::JobId> ids;             // filled for a statement's uuid[]
};

HttpState *state = nullptr;
int current_lease_ms = 0;
bool calls_carried = false; // the previous drain left calls for this one (http_end_drain)
TimestampTz leases_renewed_at = 0;

SPIPlanPtr hand_over_plan = nullptr;
SPIPlanPtr renew_plan = nullptr;
SPIPlanPtr release_plan = nullptr;
SPIPlanPtr claim_plan = nullptr;

constexpr const char *kAbandonedMessage =
    "the drain process was stopped while the call was in flight";

void
configure()
{
    http::DispatchSettings settings;
    settings.default_endpoint = guc_http_endpoint != nullptr ? guc_http_endpoint : "";
    settings.secret = guc_http_signing_secret != nullptr ? guc_http_signing_secret : "";
    settings.default_timeout_ms = guc_http_timeout_ms;
    settings.concurrency = (std::size_t)guc_http_concurrency;
    settings.max_response_bytes = (std::size_t)guc_http_max_response_bytes;
    state->dispatcher.configure(settings);
}

Datum
id_datum(const http::JobId &id)
{
    auto *uuid = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    memcpy(uuid->data, id.data(), UUID_LEN);
    return UUIDPGetDatum(uuid);
}

// state->ids as a uuid[] (palloc'd).
Datum
id_array()
{
    std::size_t count = 0;
    call_core([&] { count = state->ids.size(); });
    Datum *datums = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
    for (std::size_t i = 0; i < count; i++)
        datums[i] = id_datum(state->ids[i]);
    return PointerGetDatum(
        construct_array(datums, (int)count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

// A 2xx body as the job's result: NULL when empty or blank, jsonb otherwise. Returns false with
// *error set when it is not JSON text (UTF-8, RFC 8259) or cannot be stored in the database's
// encoding; the conversion and the parse run in a subtransaction of their own.
bool
body_as_result(const char *body, std::size_t size, Datum *result, bool *is_null, char **error)
{
    *is_null = true;
    std::size_t blank = strspn(body, " \t\r\n");
    if (blank == size)
        return true;
    if (strlen(body) != size)
    {
        *error = pstrdup("the body holds a NUL byte");
        return false;
    }

    MemoryContext memory = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    volatile bool parsed = false;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(memory);
    PG_TRY();
    {
        char *text = pg_any_to_server(body, (int)size, PG_UTF8); // validates the UTF-8
        Datum value = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
        MemoryContextSwitchTo(memory);
        *result = PointerGetDatum(PG_DETOAST_DATUM_COPY(value));
        *is_null = false;
        parsed = true;
        ReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(memory);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        *error = edata->message;
    }
    PG_END_TRY();
    MemoryContextSwitchTo(memory);
    CurrentResourceOwner = owner;
    return parsed;
}

// Whether the claim that made a call still holds its job; locks the job if so. Needs SPI.
bool
claim_still_held(Datum id, const http::JobCall &job)
{
    static const Oid types[] = {UUIDOID, INT4OID, INT8OID};
    Datum args[] = {id, Int32GetDatum(job.attempt), Int64GetDatum(job.claim)};
    exec_plan(keep_plan(&claim_plan, sql::kLockHttpClaim, 3, types), args, SPI_OK_SELECT);
    return SPI_processed == 1;
}

// Record finished call i of state->finished, unless its job is no longer its claim's (then the
// verdict is dropped and counted nowhere). Needs SPI.
void
record_call(std::size_t i, core::DrainCounts &counts)
{
    const http::FinishedCall &call = state->finished[i];
    Datum id = id_datum(call.job.id);
    core::Verdict verdict = call.decision.verdict;
    const char *error = call.decision.error.c_str();

    if (!claim_still_held(id, call.job))
    {
        ereport(DEBUG1,
                (errmsg("regen_queue: the call of job %s attempt %d ended after the job "
                        "was cancelled or claimed again; its verdict is dropped",
                        DatumGetCString(DirectFunctionCall1(uuid_out, id)), call.job.attempt)));
        return;
    }

    if (verdict == core::Verdict::Complete)
    {
        Datum result = (Datum)0;
        bool is_null = true;
        char *why = nullptr;
        if (body_as_result(call.body.c_str(), call.body.size(), &result, &is_null, &why))
        {
            (void)complete_job(id, call.job.attempt, result, is_null);
            counts.processed++;
            counts.completed++;
            return;
        }
        verdict = core::Verdict::Fail;
        error = psprintf("HTTP %ld with a body that is not valid JSON text: %s after %.3f s",
                         call.status, why, call.elapsed_s);
    }

    auto kind = verdict == core::Verdict::Retry ? core::FailureKind::Retryable
                                                : core::FailureKind::Permanent;
    const char *status = fail_job(id, call.job.attempt, call.job.max_attempts, kind, error,
                                  call.decision.min_delay_ms);
    counts.processed++;
    counts.failed++;
    if (status != nullptr)
        report_failed_attempt(id, call.job.attempt, call.job.max_attempts, status, error);
}

bool
renewal_due()
{
    return TimestampDifferenceExceeds(leases_renewed_at, GetCurrentTimestamp(),
                                      Max(current_lease_ms / 3, 1));
}

// Push the lease of every job waiting, in flight or finished but not recorded forward by a whole
// lease; the rows stay locked until the transaction ends. Needs SPI.
void
renew_leases()
{
    static const Oid types[] = {UUIDARRAYOID, INT4OID};
    std::size_t count = 0;
    call_core(
        [&]
        {
            state->ids = state->dispatcher.job_ids();
            for (const http::FinishedCall &call : state->finished)
                state->ids.push_back(call.job.id);
            count = state->ids.size();
        });
    leases_renewed_at = GetCurrentTimestamp();
    if (count == 0)
        return;

    Datum args[] = {id_array(), Int32GetDatum(current_lease_ms)};
    exec_plan(keep_plan(&renew_plan, sql::kRenewLeases, 2, types), args, SPI_OK_UPDATE);
}

// Record every finished call, each in memory of its own that is freed before the next (answers
// can be large), and forget them. Needs SPI.
void
record_finished(core::DrainCounts &counts)
{
    std::size_t finished = 0;
    call_core([&] { finished = state->finished.size(); });
    if (finished == 0)
        return;

    MemoryContext call_memory = AllocSetContextCreate(CurrentMemoryContext, "regen_queue HTTP call",
                                                      ALLOCSET_DEFAULT_SIZES);
    for (std::size_t i = 0; i < finished; i++)
    {
        MemoryContext old = MemoryContextSwitchTo(call_memory);
        record_call(i, counts);
        MemoryContextSwitchTo(old);
        MemoryContextReset(call_memory);
        call_core([&] { std::string().swap(state->finished[i].body); });
    }
    MemoryContextDelete(call_memory);
    call_core([&] { state->finished.clear(); });
}

// SIGTERM or a stop: jobs whose calls have not started go back to the queue with their attempt
// given back; with `abandon_in_flight`, calls in flight are dropped and fail their attempt as
// retryable (the endpoint may have done the work: that is for the retry to find out).
void
give_back(bool abandon_in_flight, core::DrainCounts &counts)
{
    static const Oid types[] = {UUIDARRAYOID};
    std::size_t waiting = 0;
    call_core([&] { waiting = state->dispatcher.waiting(); });

    begin_unit("regen_queue: giving jobs back");
    if (waiting > 0)
    {
        call_core(
            [&]
            {
                state->ids.clear();
                for (const http::JobCall &job : state->dispatcher.drop_waiting())
                    state->ids.push_back(job.id);
            });
        Datum args[] = {id_array()};
        exec_plan(keep_plan(&release_plan, sql::kReleaseClaims, 1, types), args, SPI_OK_UPDATE);
    }
    if (abandon_in_flight)
    {
        call_core(
            [&]
            {
                for (http::JobCall &job : state->dispatcher.drop_in_flight())
                {
                    http::FinishedCall call;
                    call.job = std::move(job);
                    call.decision.verdict = core::Verdict::Retry;
                    call.decision.error = kAbandonedMessage;
                    state->finished.push_back(std::move(call));
                }
            });
    }
    record_finished(counts);
    end_unit();
}

// Before the process exits (SIGTERM, an error that ends it): give back what can be given back,
// as temporary tables are dropped then, in a transaction of its own. Not when the postmaster is
// gone: the leases expire instead.
void
give_back_at_exit(int, Datum)
{
    bool idle = true;
    call_core([&] { idle = state->dispatcher.idle() && state->finished.empty(); });
    if (idle || !PostmasterIsAlive())
        return;

    AbortOutOfAnyTransaction();
    HOLD_INTERRUPTS();
    PG_TRY();
    {
        core::DrainCounts counts;
        give_back(true, counts);
    }
    PG_CATCH();
    {
        EmitErrorReport();
        FlushErrorState();
        AbortOutOfAnyTransaction();
    }
    PG_END_TRY();
    RESUME_INTERRUPTS();
}

// Each call holds a socket: give them room beyond PostgreSQL's own files (max_files_per_process
// is counted against the soft limit the server started with).
void
raise_file_limit()
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
        return;
    rlim_t wanted = limit.rlim_cur + 2 * (rlim_t)kMaxHttpConcurrency + 64;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : Min(wanted, limit.rlim_max);
    (void)setrlimit(RLIMIT_NOFILE, &limit);
}

} // namespace

void
http_begin_drain(int lease_ms)
{
    bool keep = calls_carried;
    calls_carried = false;
    if (state == nullptr)
    {
        call_core([&] { state = new HttpState; });
        before_shmem_exit(give_back_at_exit, (Datum)0);
        raise_file_limit();
    }
    call_core(
        [&]
        {
            if (!keep)
            {
                (void)state->dispatcher.drop_waiting();
                (void)state->dispatcher.drop_in_flight();
                state->finished.clear();
            }
            configure();
        });
    current_lease_ms = lease_ms;
    if (!keep)
        leases_renewed_at = GetCurrentTimestamp();
}

void
http_end_drain(bool calls_left)
{
    calls_carried = calls_left;
}

void
http_hand_over(const HttpJob *jobs, int count)
{
    static const Oid types[] = {UUIDARRAYOID, INT4OID};
    if (count == 0)
        return;

    Datum *ids = static_cast<Datum *>(palloc(sizeof(Datum) * count));
    for (int i = 0; i < count; i++)
        ids[i] = jobs[i].id;
    Datum args[] = {
        PointerGetDatum(construct_array(ids, count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR)),
        Int32GetDatum(current_lease_ms)};
    exec_plan(keep_plan(&hand_over_plan, sql::kHandOverToHttp, 2, types), args,
              SPI_OK_UPDATE_RETURNING);

    // Everything that can raise a PostgreSQL error first: a caller that catches one rolls the
    // hand-over back, and the dispatcher must then have been given none of these jobs.
    struct HandedOver
    {
        const HttpJob *job;
        const pg_uuid_t *id;
        int64 claim;
        const char *body;
    };
    uint64 rows = SPI_processed;
    auto *handed = static_cast<HandedOver *>(palloc0(sizeof(HandedOver) * rows));
    for (uint64 row = 0; row < rows; row++)
    {
        bool isnull;
        HeapTuple tuple = SPI_tuptable->vals[row];
        HandedOver &it = handed[row];
        it.id = DatumGetUUIDP(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
        it.claim = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
        char *text = SPI_getvalue(tuple, SPI_tuptable->tupdesc, 3);
        it.body = pg_server_to_any(text, (int)strlen(text), PG_UTF8); // JSON text is UTF-8
        for (int i = 0; i < count && it.job == nullptr; i++)
            if (memcmp(DatumGetUUIDP(jobs[i].id)->data, it.id->data, UUID_LEN) == 0)
                it.job = &jobs[i];
    }

    for (uint64 row = 0; row < rows; row++)
    {
        const HandedOver &it = handed[row];
        if (it.job == nullptr)
            continue;

        call_core(
            [&]
            {
                http::JobCall call;
                memcpy(call.id.data(), it.id->data, UUID_LEN);
                call.attempt = it.job->attempt;
                call.max_attempts = it.job->max_attempts;
                call.claim = it.claim;
                call.job_type = it.job->job_type;
                call.endpoint = it.job->endpoint != nullptr ? it.job->endpoint : "";
                call.timeout_ms = it.job->timeout_ms;
                call.max_concurrency = it.job->max_concurrency;
                call.body = it.body;
                state->dispatcher.add(std::move(call));
            });
    }
}

void
http_hold_leases()
{
    bool idle = true;
    if (state != nullptr)
        call_core([&] { idle = state->dispatcher.idle() && state->finished.empty(); });
    if (!idle)
        renew_leases();
}

void
http_committed()
{
    if (state != nullptr)
        call_core([&] { state->dispatcher.commit(); });
}

bool
http_wants_more()
{
    bool wants = true;
    if (state != nullptr)
        call_core([&] { wants = state->dispatcher.wants_more(); });
    return wants;
}

bool
http_idle()
{
    bool idle = true;
    if (state != nullptr)
        call_core([&] { idle = state->dispatcher.idle() && state->finished.empty(); });
    return idle;
}

void
http_poll()
{
    if (state == nullptr)
        return;
    call_core(
        [&]
        {
            if (state->dispatcher.idle())
                return;
            for (http::FinishedCall &call : state->dispatcher.progress(0, std::time(nullptr)))
                state->finished.push_back(std::move(call));
        });
}

void
http_pump(core::DrainCounts &counts, int wait_ms, bool stopping)
{
    if (state == nullptr)
        return;

    if (ConfigReloadPending)
    {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
        call_core([&] { configure(); });
    }
    if (!PostmasterIsAlive())
        proc_exit(1);       // the leases of these jobs expire and they are claimed again
    CHECK_FOR_INTERRUPTS(); // SIGTERM: give_back_at_exit() hands the jobs back
    if (stopping)
    {
        std::size_t waiting = 0;
        call_core([&] { waiting = state->dispatcher.waiting(); });
        if (waiting > 0)
            give_back(false, counts);
    }

    // Bounded, so that signals are seen promptly: libcurl does not wake up for the latch.
    wait_ms = Min(wait_ms, 50);
    call_core(
        [&]
        {
            for (http::FinishedCall &call : state->dispatcher.progress(wait_ms, std::time(nullptr)))
                state->finished.push_back(std::move(call));
        });

    std::size_t finished = 0;
    call_core([&] { finished = state->finished.size(); });
    if (finished == 0 && !renewal_due())
        return;

    begin_unit("regen_queue: recording HTTP calls");
    record_finished(counts);
    if (renewal_due())
        renew_leases();
    end_unit();
}

} // namespace regen::pg

extern "C"
{

    PG_FUNCTION_INFO_V1(regen_http_endpoint_problem);

    // regen_queue.http_endpoint_problem(endpoint text) RETURNS text: why a URL cannot be an
    // endpoint (http::endpoint_problem), or NULL.
    Datum regen_http_endpoint_problem(PG_FUNCTION_ARGS)
    {
        char *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
        char problem[256] = "";
        bool acceptable = false;

        regen::pg::call_core(
            [&]
            {
                std::string why = regen::http::endpoint_problem(url);
                acceptable = why.empty();
                strlcpy(problem, why.c_str(), sizeof problem);
            });
        if (acceptable)
            PG_RETURN_NULL();
        PG_RETURN_TEXT_P(cstring_to_text(problem));
    }

} // extern "C"
