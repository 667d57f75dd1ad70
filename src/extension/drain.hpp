// One drain: claim due jobs in batches and run each job's handler.
#pragma once

#include "pg.hpp"

extern "C"
{
#include "port/atomics.h"
}

#include "../core/drain_counts.hpp"

namespace regen::pg
{

struct DrainOptions
{
    int64 max_jobs = 0;  // at most this many jobs are claimed
    int lease_ms = 0;    // lifetime of each claim's lease
    int log_level = LOG; // level of the summary line of a drain that did work
};

// Run one drain in the connected database, outside any transaction: each batch's claim and
// each batch's results commit on their own. Stops after the current batch once
// *stop_requested (may be null) is non-zero.
core::DrainCounts drain_jobs(const DrainOptions &options, pg_atomic_uint32 *stop_requested);

// Whether the regen_queue extension exists in the connected database (own transaction).
bool extension_installed();

} // namespace regen::pg
