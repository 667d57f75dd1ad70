// Prepared statements kept for the life of the process.
#pragma once

#include "pg.hpp"

namespace regen::pg
{

// Return *slot, preparing and keeping the statement the first time. Needs SPI to be connected.
SPIPlanPtr keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);

// Run a kept plan with no NULL arguments; raise an error unless SPI reports `expected`.
void exec_plan(SPIPlanPtr plan, const Datum *values, int expected, bool read_only = false);

// A text Datum from a C string, in the current memory context.
inline Datum
text_datum(const char *s)
{
    return PointerGetDatum(cstring_to_text(s));
}

} // namespace regen::pg
