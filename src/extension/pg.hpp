// PostgreSQL's C headers, included once for the C++ files that talk to the server.
//
// Rule of the PostgreSQL side: ereport() unwinds with longjmp, so no object with a destructor
// may live in a frame that a PostgreSQL error can jump over. Code here uses palloc and plain
// structs; C++ containers stay in src/core and are reached through guarded calls (core_call.hpp).
#pragma once

extern "C"
{
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

namespace regen::pg
{

// Name of the shared library, as background workers must give it.
constexpr const char *kLibraryName = "regen_queue";

} // namespace regen::pg
