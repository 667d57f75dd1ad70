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
    int64 max_jobs = 0;     // at most this many jobs are claimed
    int lease_ms = 0;       // lifetime of each claim's lease
    int job_timeout_ms = 0; // a handler running longer is cancelled; 0: no limit
    int log_level = LOG;    // level of the summary line of a drain that did work
    // Run each handler as the owner of its function rather than as the drain's role: the
    // background worker does so when regen_queue.worker_role is empty (it is then superuser).
    bool handlers_as_owner = false;
    // A drain that claimed its whole budget returns without waiting for its last HTTP calls,
    // which the next drain of the process records: the background worker drains again at once
    // then, so that calls in flight never run out between drains. No caller of regen_drain()
    // could wait for them.
    bool leave_calls_in_flight = false;
};

// Settle the session of a process that drains: pin its search_path to kPinnedSearchPath.
void prepare_drain_session();

// Run one drain in the connected database, outside any transaction: each batch's claim and
// each batch's results commit on their own. Stops after the current batch once
// *stop_requested (may be null) is non-zero.
core::DrainCounts drain_jobs(const DrainOptions &options, pg_atomic_uint32 *stop_requested);

// One transaction of a drain, with SPI connected and a snapshot of its own; end_unit() commits
// it, and the HTTP calls of jobs it handed over may then start.
void begin_unit(const char *activity);
void end_unit();

// Whether the regen_queue extension exists in the connected database (own transaction).
bool extension_installed();

} // namespace regen::pg
