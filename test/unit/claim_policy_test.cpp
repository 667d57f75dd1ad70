// Unit tests for the batch claim policy.
#include "core/claim_policy.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <vector>

namespace
{

using regen::core::claimable_prefix;
using regen::core::kMaxClaimBatch;
using regen::core::next_batch_size;

TEST(ClaimablePrefix, NoCandidates)
{
    EXPECT_EQ(claimable_prefix({}), 0u);
}

TEST(ClaimablePrefix, NoRunAloneTakesAll)
{
    EXPECT_EQ(claimable_prefix({false}), 1u);
    EXPECT_EQ(claimable_prefix({false, false, false}), 3u);
    EXPECT_EQ(claimable_prefix(std::vector<bool>(kMaxClaimBatch, false)), kMaxClaimBatch);
}

TEST(ClaimablePrefix, RunAloneFirstIsClaimedAlone)
{
    EXPECT_EQ(claimable_prefix({true}), 1u);
    EXPECT_EQ(claimable_prefix({true, false, false}), 1u);
    EXPECT_EQ(claimable_prefix({true, true}), 1u);
}

TEST(ClaimablePrefix, StopsBeforeFirstRunAlone)
{
    EXPECT_EQ(claimable_prefix({false, true}), 1u);
    EXPECT_EQ(claimable_prefix({false, true, false}), 1u);
    EXPECT_EQ(claimable_prefix({false, false, true}), 2u);
    EXPECT_EQ(claimable_prefix({false, false, false, true, true}), 3u);
}

TEST(NextBatchSize, NothingLeft)
{
    EXPECT_EQ(next_batch_size(0), 0u);
    EXPECT_EQ(next_batch_size(-1), 0u);
    EXPECT_EQ(next_batch_size(LONG_MIN), 0u);
}

TEST(NextBatchSize, BoundedByMaxBatch)
{
    EXPECT_EQ(kMaxClaimBatch, 64u);
    EXPECT_EQ(next_batch_size(1), 1u);
    EXPECT_EQ(next_batch_size(63), 63u);
    EXPECT_EQ(next_batch_size(64), 64u);
    EXPECT_EQ(next_batch_size(65), 64u);
    EXPECT_EQ(next_batch_size(LONG_MAX), 64u);
}

} // namespace
