// regen_enqueue(): validate a regeneration request and queue it as a pending job.
#include "core_call.hpp"
#include "guc.hpp"
#include "job_state.hpp"
#include "queue_sql.hpp"
#include "server_text.hpp"
#include "spi_plan.hpp"
#include "wakeup.hpp"

#include "../core/overrides.hpp"

extern "C"
{
#include "storage/proc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
}

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace regen::pg
{

namespace
{

constexpr int kDefaultMaxAttempts = 3;
constexpr int kMaxAttemptsLimit = 100;
constexpr int kPriorityLimit = 1000000; // as job_queue_priority_check
constexpr int kInsertTries = 3;

SPIPlanPtr insert_plan = nullptr;
SPIPlanPtr find_active_plan = nullptr;
SPIPlanPtr handler_exists_plan = nullptr;

// The top level of the overrides object, flattened for the core validator (palloc'd).
struct FlatOverrides
{
    int count;
    char **keys;
    core::JsonKind *kinds;
    char **texts;
};

core::JsonKind
kind_of(const JsonbValue &value, char **text)
{
    *text = nullptr;
    switch (value.type)
    {
        case jbvNull:
            return core::JsonKind::Null;
        case jbvString:
            *text = text_for_core(value.val.string.val, value.val.string.len);
            return core::JsonKind::String;
        case jbvNumeric:
            *text = DatumGetCString(
                DirectFunctionCall1(numeric_out, NumericGetDatum(value.val.numeric)));
            return core::JsonKind::Number;
        case jbvBool:
            *text = pstrdup(value.val.boolean ? "true" : "false");
            return core::JsonKind::Bool;
        case jbvBinary:
            return JsonContainerIsObject(value.val.binary.data) ? core::JsonKind::Object
                                                                : core::JsonKind::Array;
        default:
            elog(ERROR, "unexpected jsonb value type %d", (int)value.type);
    }
}

FlatOverrides
flatten_overrides(Jsonb *overrides)
{
    if (!JB_ROOT_IS_OBJECT(overrides) || JB_ROOT_IS_SCALAR(overrides))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("overrides must be a JSON object"),
                        err_generic_string(PG_DIAG_COLUMN_NAME, "overrides")));

    int capacity = JB_ROOT_COUNT(overrides);
    FlatOverrides flat = {
        0, static_cast<char **>(palloc0(sizeof(char *) * (capacity + 1))),
        static_cast<core::JsonKind *>(palloc0(sizeof(core::JsonKind) * (capacity + 1))),
        static_cast<char **>(palloc0(sizeof(char *) * (capacity + 1)))};
    JsonbIterator *it = JsonbIteratorInit(&overrides->root);
    JsonbValue value;
    JsonbIteratorToken token;

    while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
    {
        if (token == WJB_KEY)
            flat.keys[flat.count] = text_for_core(value.val.string.val, value.val.string.len);
        else if (token == WJB_VALUE)
        {
            flat.kinds[flat.count] = kind_of(value, &flat.texts[flat.count]);
            flat.count++;
        }
    }
    return flat;
}

char *
malloc_copy(const std::string &s)
{
    char *copy = static_cast<char *>(malloc(s.size() + 1));
    if (copy == nullptr)
        throw std::bad_alloc();
    memcpy(copy, s.c_str(), s.size() + 1);
    return copy;
}

// palloc'd copy of a malloc'd string, which is freed.
char *
adopt(char *copy)
{
    if (copy == nullptr)
        return nullptr;
    char *result = pstrdup(copy);
    free(copy);
    return result;
}

// A name taken from the caller (an override key, a job type), fit to quote in an error
// message: control characters and invalid UTF-8 replaced, at most 80 bytes long.
char *
shown_name(const char *name)
{
    return cleaned_text(name, 80);
}

// Validate the overrides and return the job's payload as JSON text, or raise the error.
char *
payload_from_overrides(Jsonb *overrides)
{
    FlatOverrides flat = flatten_overrides(overrides);
    core::OverrideProblem problem = core::OverrideProblem::None;
    char *field = nullptr;
    char *detail = nullptr;
    char *payload = nullptr;

    call_core(
        [&]
        {
            std::vector<core::OverrideField> fields;
            for (int i = 0; i < flat.count; i++)
                fields.push_back(
                    {flat.keys[i], {flat.kinds[i], flat.texts[i] ? flat.texts[i] : ""}});

            core::OverrideResult result = core::validate_overrides(fields);
            problem = result.problem;
            field = malloc_copy(result.field);
            detail = malloc_copy(result.detail);
            payload = malloc_copy("{\"overrides\": " + result.normalized_json + "}");
        });
    field = text_from_core(adopt(field));
    detail = text_from_core(adopt(detail));
    if (problem != core::OverrideProblem::None)
        field = shown_name(field);
    payload = text_from_core(adopt(payload));

    // The field also goes in the error's column-name field, for clients that must not parse
    // messages (the HTTP shim's "field").
    if (problem == core::OverrideProblem::UnknownKey)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown override \"%s\"", field),
                 errdetail("%s", detail), err_generic_string(PG_DIAG_COLUMN_NAME, field)));
    if (problem == core::OverrideProblem::InvalidValue)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid value for override \"%s\"", field), errdetail("%s", detail),
                        err_generic_string(PG_DIAG_COLUMN_NAME, field)));
    return payload;
}

// Raise undefined_object unless job_type has a handler. The answer is kept for the rest of the
// transaction, so that a statement queueing many jobs of one type looks it up once.
void
require_handler(const char *job_type)
{
    static const Oid types[] = {TEXTOID};
    static LocalTransactionId checked_in = InvalidLocalTransactionId;
    static char checked_type[NAMEDATALEN];
    Datum args[] = {text_datum(job_type)};

    if (checked_in == MyProc->lxid && strcmp(checked_type, job_type) == 0)
        return;

    exec_plan(keep_plan(&handler_exists_plan, sql::kHandlerExists, 1, types), args, SPI_OK_SELECT,
              true);
    if (SPI_processed > 0 && strlen(job_type) < NAMEDATALEN)
    {
        checked_in = MyProc->lxid;
        strlcpy(checked_type, job_type, NAMEDATALEN);
    }
    if (SPI_processed == 0)
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_OBJECT),
                 errmsg("no handler is registered for job type \"%s\"", shown_name(job_type)),
                 errhint("Register one with regen_register_handler() before queueing "
                         "jobs of this type.")));
}

// Raise the duplicate error when the plan has an active job; return quietly when it has none
// (it finished since the insert found it).
void
report_active_job(Datum plan_id, const char *job_type)
{
    static const Oid types[] = {UUIDOID, TEXTOID};
    Datum args[] = {plan_id, text_datum(job_type)};

    exec_plan(keep_plan(&find_active_plan, sql::kFindActiveJob, 2, types), args, SPI_OK_SELECT);
    if (SPI_processed == 0)
        return;

    char *job_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    char *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    ereport(ERROR, (errcode(ERRCODE_UNIQUE_VIOLATION),
                    errmsg("plan %s already has an active \"%s\" job",
                           DatumGetCString(DirectFunctionCall1(uuid_out, plan_id)), job_type),
                    errdetail("Job %s is %s.", job_id, status),
                    errhint("Wait for that job to finish, or cancel it with regen_cancel().")));
}

int
checked_priority(FunctionCallInfo fcinfo)
{
    int priority = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);

    if (priority < -kPriorityLimit || priority > kPriorityLimit)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("priority must be between %d and %d", -kPriorityLimit, kPriorityLimit),
                 errdetail("The value given was %d.", priority)));
    return priority;
}

int
checked_max_attempts(FunctionCallInfo fcinfo)
{
    int max_attempts = PG_ARGISNULL(5) ? kDefaultMaxAttempts : PG_GETARG_INT32(5);

    if (max_attempts < 1 || max_attempts > kMaxAttemptsLimit)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("max_attempts must be between 1 and %d", kMaxAttemptsLimit),
                        errdetail("The value given was %d.", max_attempts)));
    return max_attempts;
}

} // namespace

} // namespace regen::pg

using namespace regen::pg;

extern "C"
{

    PG_FUNCTION_INFO_V1(regen_enqueue);

    // regen_enqueue(plan_id, overrides, user_id, priority, run_at, max_attempts, job_type)
    // RETURNS regen_queue.job_queue
    Datum regen_enqueue(PG_FUNCTION_ARGS)
    {
        require_enabled();
        if (PG_ARGISNULL(0))
            ereport(ERROR,
                    (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("plan_id must not be null")));

        Datum plan_id = PG_GETARG_DATUM(0);
        char *payload = PG_ARGISNULL(1) ? pstrdup("{\"overrides\": {}}")
                                        : payload_from_overrides(PG_GETARG_JSONB_P(1));
        int priority = checked_priority(fcinfo);
        // An infinite run_at would never come due, and block the plan's next enqueue for good.
        if (!PG_ARGISNULL(4) && TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(4)))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("run_at must be a finite time")));
        int max_attempts = checked_max_attempts(fcinfo);
        char *job_type =
            PG_ARGISNULL(6) ? pstrdup("plan_regeneration") : text_to_cstring(PG_GETARG_TEXT_PP(6));
        static const Oid types[] = {TEXTOID, UUIDOID,  UUIDOID,       INT4OID,
                                    INT4OID, JSONBOID, TIMESTAMPTZOID};
        Datum values[] = {text_datum(job_type),
                          plan_id,
                          PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2),
                          Int32GetDatum(priority),
                          Int32GetDatum(max_attempts),
                          DirectFunctionCall1(jsonb_in, CStringGetDatum(payload)),
                          PG_ARGISNULL(4) ? (Datum)0 : PG_GETARG_DATUM(4)};
        char nulls[] = {' ', ' ', PG_ARGISNULL(2) ? 'n' : ' ', ' ',
                        ' ', ' ', PG_ARGISNULL(4) ? 'n' : ' '};

        SPI_connect();
        require_handler(job_type);

        SPIPlanPtr plan = keep_plan(&insert_plan, regen::pg::sql::kInsertJob, 7, types);
        for (int attempt = 0; attempt < kInsertTries; attempt++)
        {
            int rc = SPI_execute_plan(plan, values, nulls, false, 0);
            if (rc != SPI_OK_INSERT_RETURNING)
                elog(ERROR, "inserting a job failed: %s", SPI_result_code_string(rc));

            if (SPI_processed == 1)
            {
                bool isnull;
                Datum row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
                row = SPI_datumTransfer(row, false, -1);
                SPI_finish();
                if (guc_inline_processing)
                    wake_worker_on_commit();
                PG_RETURN_DATUM(row);
            }
            report_active_job(plan_id, job_type);
        }

        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("could not queue a job for plan %s",
                               DatumGetCString(DirectFunctionCall1(uuid_out, plan_id))),
                        errdetail("Its active job kept finishing while this one was being queued."),
                        errhint("Try again.")));
    }

} // extern "C"
