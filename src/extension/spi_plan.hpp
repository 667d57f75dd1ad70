// Prepared statements kept for the life of the process.
#pragma once

#include "pg.hpp"

namespace regen::pg
{

// The search_path of the queue's statements, and of handlers in a drain process that do not set
// their own: no schema an unprivileged role could have put objects in.
constexpr const char *kPinnedSearchPath = "pg_catalog, pg_temp";

// Return *slot, preparing and keeping the statement the first time. Needs SPI to be connected.
SPIPlanPtr keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);

// Run a kept plan with no NULL arguments; raise an error unless SPI reports `expected`.
void exec_plan(SPIPlanPtr plan, const Datum *values, int expected, bool read_only = false);

// exec_plan() as the bootstrap superuser, the current user restored however it ends: for what
// a drain reads or maintains that its own role need not be allowed to. Security-restricted
// in the same way as the caller.
void exec_plan_as_superuser(SPIPlanPtr plan, const Datum *values, int expected,
                            bool read_only = false);

// For a function called from SQL whose statements run with the caller's settings: pin
// search_path to kPinnedSearchPath until restore_search_path(level), as a SET clause of the
// function would. An error in between undoes it with the (sub)transaction.
int pin_search_path();
void restore_search_path(int level);

// A text Datum from a C string, in the current memory context.
inline Datum
text_datum(const char *s)
{
    return PointerGetDatum(cstring_to_text(s));
}

} // namespace regen::pg
