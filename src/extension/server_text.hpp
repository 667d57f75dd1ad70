// Text between the database's encoding and the UTF-8 that src/core validates and cleans.
//
// A UTF8 or SQL_ASCII database hands its bytes to the core as they are (SQL_ASCII text may hold
// any bytes; the core treats what is not UTF-8 as invalid), and so does MULE_INTERNAL, which
// PostgreSQL cannot convert to UTF-8. Text of any other database is converted to UTF-8 on the
// way in and back on the way out, so a LATIN1 or EUC_JP topic is checked by its characters like
// any other; lengths are then counted in Unicode code points.
#pragma once

#include "pg.hpp"

namespace regen::pg
{

// `len` bytes of `text`, in the database's encoding, as NUL-terminated UTF-8 (palloc'd).
char *text_for_core(const char *text, int len);

// NUL-terminated UTF-8 from the core back in the database's encoding (palloc'd). The core's
// replacement character U+FFFD becomes '?' where the encoding has no such character.
char *text_from_core(const char *utf8);

} // namespace regen::pg
