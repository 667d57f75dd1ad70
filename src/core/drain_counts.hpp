// The outcome of one drain, as regen_drain() reports it.
#pragma once

#include <cstdint>
#include <string>

namespace regen::core
{

struct DrainCounts
{
    int64_t processed = 0; // jobs whose handler ran in this drain (each counted once)
    int64_t completed = 0; // of those, completed
    int64_t failed = 0;    // of those, failed (whether scheduled for retry or terminal)
};

// {"ok": true, "processedCount": n, "completedCount": n, "failedCount": n}, spaced exactly so.
// Throws nothing but std::bad_alloc.
std::string drain_counts_json(const DrainCounts &counts);

} // namespace regen::core
