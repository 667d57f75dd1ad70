// Which of the candidate jobs a drain claims together in one batch.
#include "claim_policy.hpp"

#include <algorithm>
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
next_batch_size(long remaining)
{
    if (remaining <= 0)
        return 0;
    return std::min(kMaxClaimBatch, static_cast<std::size_t>(remaining));
}

} // namespace regen::core
