// Looking up and calling the handler of a job type.
#include "handler.hpp"

#include "core_call.hpp"
#include "queue_sql.hpp"
#include "spi_plan.hpp"

extern "C"
{
#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include <cstring>

namespace regen::pg
{

namespace
{

SPIPlanPtr lookup_plan = nullptr;

// What the registry says of a job type. It is read as the bootstrap superuser: running a
// function needs no USAGE on its schema, but looking its name up would, and a role allowed to
// execute a handler must not need more than that. Only the registry's text is read, through a
// fixed statement under the drain's pinned search_path. Strings go to `memory`.
Registration
lookup_registration(const char *job_type, MemoryContext memory)
{
    static const Oid types[] = {TEXTOID};
    Datum args[] = {text_datum(job_type)};
    Registration found;

    exec_plan_as_superuser(keep_plan(&lookup_plan, sql::kLookupHandler, 1, types), args,
                           SPI_OK_SELECT, true);
    if (SPI_processed == 0)
        return found;

    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;
    MemoryContext old = MemoryContextSwitchTo(memory);
    found.registered = true;
    found.http = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
    Datum function = SPI_getbinval(row, desc, 1, &isnull);
    found.function = isnull ? InvalidOid : DatumGetObjectId(function);
    found.signature = SPI_getvalue(row, desc, 2);
    found.endpoint = SPI_getvalue(row, desc, 4);
    Datum timeout = SPI_getbinval(row, desc, 5, &isnull);
    found.timeout_ms = isnull ? 0 : DatumGetInt32(timeout);
    Datum concurrency = SPI_getbinval(row, desc, 6, &isnull);
    found.max_concurrency = isnull ? 0 : DatumGetInt32(concurrency);
    MemoryContextSwitchTo(old);
    return found;
}

// The row type of regen_queue.job_queue.
Oid
job_row_type()
{
    Oid schema = get_namespace_oid("regen_queue", false);
    return get_rel_type_id(get_relname_relid("job_queue", schema));
}

// The function a job type resolves to still has a handler's shape. The registry resolves the
// handler by name at each drain, so the function found may have been created again since
// registration, returning something other than jsonb. A function's shape cannot change while
// it keeps its OID, so this is checked once per lookup, not at every call.
void
check_shape(Oid function, const char *job_type)
{
    HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
    if (!HeapTupleIsValid(tuple))
        return; // gone: check_callable says so
    auto *proc = (Form_pg_proc)GETSTRUCT(tuple);
    bool fits = proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
                proc->prorettype == JSONBOID && proc->pronargs == 1 &&
                proc->proargtypes.values[0] == job_row_type();
    ReleaseSysCache(tuple);
    if (!fits)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
                 errmsg("the handler of job type \"%s\" is no longer a handler", job_type),
                 errdetail("A handler takes one regen_queue.job_queue argument and returns jsonb "
                           "(not a set)."),
                 errhint("Register a new one with regen_register_handler().")));
}

// The SQL function that runs `job_type`, or the error that says why there is none.
Oid
handler_function(HandlerCache &cache, const char *job_type)
{
    Registration &found = registration_of(cache, job_type);

    if (!found.registered)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("no handler is registered for job type \"%s\"", job_type),
                        errhint("Register one with regen_register_handler().")));
    if (found.http)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("the handler of job type \"%s\" is an HTTP endpoint", job_type)));
    if (!OidIsValid(found.function))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                        errmsg("the handler of job type \"%s\" no longer exists", job_type),
                        errdetail("Function %s was registered.", found.signature),
                        errhint("Register a new one with regen_register_handler().")));
    if (!found.shape_checked)
        check_shape(found.function, job_type);
    found.shape_checked = true;
    return found.function;
}

// The handler still exists and the current role may execute it.
void
check_callable(Oid function, const char *job_type)
{
    if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(function)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                        errmsg("the handler of job type \"%s\" no longer exists", job_type),
                        errhint("Register a new one with regen_register_handler().")));

    AclResult acl = pg_proc_aclcheck(function, GetUserId(), ACL_EXECUTE);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(function));
    InvokeFunctionExecuteHook(function);
}

} // namespace

// The owner of a handler function that still exists (check_callable raises otherwise).
Oid
function_owner(Oid function)
{
    HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
    if (!HeapTupleIsValid(tuple))
        return InvalidOid;
    Oid owner = ((Form_pg_proc)GETSTRUCT(tuple))->proowner;
    ReleaseSysCache(tuple);
    return owner;
}

Datum
call_handler(HandlerCache &cache, const char *job_type, Datum job_row, bool as_owner, bool *is_null)
{
    Oid function = handler_function(cache, job_type);
    FmgrInfo flinfo;
    LOCAL_FCINFO(fcinfo, 1);
    Oid saved_user;
    int saved_context;

    GetUserIdAndSecContext(&saved_user, &saved_context);
    Oid owner = as_owner ? function_owner(function) : InvalidOid;
    if (OidIsValid(owner))
        SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);

    check_callable(function, job_type);

    // A fresh FmgrInfo per call: a function's cached state must not outlive an aborted
    // subtransaction.
    fmgr_info(function, &flinfo);
    InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, nullptr, nullptr);
    fcinfo->args[0].value = job_row;
    fcinfo->args[0].isnull = false;

    Datum result = FunctionCallInvoke(fcinfo);
    *is_null = fcinfo->isnull;
    SetUserIdAndSecContext(saved_user, saved_context);
    return result;
}

Registration &
registration_of(HandlerCache &cache, const char *job_type)
{
    for (int i = 0; i < cache.count; i++)
        if (strcmp(cache.entries[i].job_type, job_type) == 0)
            return cache.entries[i].registration;

    MemoryContext memory = cache.memory != nullptr ? cache.memory : CurrentMemoryContext;
    Registration found = lookup_registration(job_type, memory);
    if (cache.count < kHandlerCacheSize && strlen(job_type) < NAMEDATALEN)
    {
        auto &entry = cache.entries[cache.count++];
        strlcpy(entry.job_type, job_type, NAMEDATALEN);
        entry.registration = found;
        return entry.registration;
    }
    cache.uncached = found;
    return cache.uncached;
}

core::FailureKind
classify_handler_error(const ErrorData *edata)
{
    const char *sqlstate = unpack_sql_state(edata->sqlerrcode);
    core::FailureKind kind = core::FailureKind::Retryable;

    call_core([&] { kind = core::classify_sqlstate(sqlstate); });
    return kind;
}

} // namespace regen::pg
