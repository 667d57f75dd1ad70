// How a drain sizes its batches.
#include "claim_policy.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace regen::core
{

std::size_t
claimable_prefix(const std::vector<bool> &run_alone)
{
    if (run_alone.empty())
        return 0;
    if (run_alone.front())
        return 1;

    const auto first_alone = std::find(run_alone.begin(), run_alone.end(), true);
    return static_cast<std::size_t>(std::distance(run_alone.begin(), first_alone));
}

std::size_t
next_batch_size(const BatchSizing &sizing)
{
    if (sizing.remaining <= 0)
        return 0;

    std::size_t size = kFirstClaimBatch;
    if (sizing.jobs_run > 0 && std::isfinite(sizing.run_time_ms) && sizing.run_time_ms >= 0)
    {
        const double mean_ms = sizing.run_time_ms / static_cast<double>(sizing.jobs_run);
        const double budget_ms = static_cast<double>(std::max(sizing.lease_ms, 0L)) /
                                 static_cast<double>(kLeaseShareDivisor);
        // A mean of 0 (jobs faster than the clock) fits any number of jobs.
        const double fits =
            mean_ms > 0 ? std::floor(budget_ms / mean_ms) : static_cast<double>(kMaxClaimBatch);
        size = fits >= static_cast<double>(kMaxClaimBatch) ? kMaxClaimBatch
                                                           : static_cast<std::size_t>(fits);
    }
    size = std::min(size, kMaxClaimBatch);
    if (static_cast<unsigned long>(sizing.remaining) < size)
        size = static_cast<std::size_t>(sizing.remaining);
    return std::max<std::size_t>(size, 1);
}

bool
commit_before_next_job(int subxact_ids, double ms_since_commit)
{
    return subxact_ids >= kSubxactIdsBeforeCommit || ms_since_commit >= kMillisecondsBeforeCommit;
}

} // namespace regen::core
