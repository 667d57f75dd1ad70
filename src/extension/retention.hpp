// Retention: the background worker deletes finished jobs older than regen_queue.retention.
#pragma once

#include "pg.hpp"

namespace regen::pg
{

// Rows one pruning transaction deletes at most, and transactions one pass runs at most.
constexpr int kPruneBatch = 1000;
constexpr int kPruneBatchesPerPass = 10;

// When a pass is due (every tenth of the retention, at most a minute apart, never more often
// than the drain interval), delete completed and failed jobs whose completed_at is older than
// regen_queue.retention with regen_prune() (bounded batches that skip locked rows), each batch
// in a transaction of its own. Outside any transaction. Does nothing when the retention is 0.
void prune_finished_jobs_if_due();

} // namespace regen::pg
