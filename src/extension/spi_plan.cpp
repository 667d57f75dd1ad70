// Prepared statements kept for the life of the process.
#include "spi_plan.hpp"

extern "C"
{
#include "catalog/pg_authid.h"
}

namespace regen::pg
{

SPIPlanPtr
keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
    if (*slot != nullptr)
        return *slot;

    SPIPlanPtr plan = SPI_prepare(sql, nargs, const_cast<Oid *>(argtypes));
    if (plan == nullptr)
        elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    if (SPI_keepplan(plan) != 0)
        elog(ERROR, "SPI_keepplan failed");

    *slot = plan;
    return plan;
}

void
exec_plan(SPIPlanPtr plan, const Datum *values, int expected, bool read_only)
{
    int rc = SPI_execute_plan(plan, const_cast<Datum *>(values), nullptr, read_only, 0);
    if (rc != expected)
        elog(ERROR, "SPI_execute_plan returned %s, expected %s", SPI_result_code_string(rc),
             SPI_result_code_string(expected));
}

void
exec_plan_as_superuser(SPIPlanPtr plan, const Datum *values, int expected, bool read_only)
{
    Oid user;
    int context;

    GetUserIdAndSecContext(&user, &context);
    SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, context | SECURITY_LOCAL_USERID_CHANGE);
    PG_TRY();
    {
        exec_plan(plan, values, expected, read_only);
    }
    PG_FINALLY();
    {
        SetUserIdAndSecContext(user, context);
    }
    PG_END_TRY();
}

int
pin_search_path()
{
    int level = NewGUCNestLevel();
    (void)set_config_option("search_path", kPinnedSearchPath, PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
    return level;
}

void
restore_search_path(int level)
{
    AtEOXact_GUC(true, level);
}

} // namespace regen::pg
