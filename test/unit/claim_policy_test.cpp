// Unit tests for the batch claim policy.
#include "core/claim_policy.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <vector>

namespace
{

using regen::core::BatchSizing;
using regen::core::claimable_prefix;
using regen::core::commit_before_next_job;
using regen::core::kFirstClaimBatch;
using regen::core::kMaxClaimBatch;
using regen::core::kMillisecondsBeforeCommit;
using regen::core::kSubxactIdsBeforeCommit;
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

BatchSizing
sizing(long remaining, long jobs_run = 0, double run_time_ms = 0, long lease_ms = 300000)
{
    BatchSizing s;
    s.remaining = remaining;
    s.jobs_run = jobs_run;
    s.run_time_ms = run_time_ms;
    s.lease_ms = lease_ms;
    return s;
}

TEST(NextBatchSize, NothingLeft)
{
    EXPECT_EQ(next_batch_size(sizing(0)), 0u);
    EXPECT_EQ(next_batch_size(sizing(-1)), 0u);
    EXPECT_EQ(next_batch_size(sizing(LONG_MIN)), 0u);
    EXPECT_EQ(next_batch_size(sizing(0, 100, 1.0)), 0u);
}

TEST(NextBatchSize, FirstBatchBeforeAnyJobRan)
{
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX)), kFirstClaimBatch);
    EXPECT_EQ(next_batch_size(sizing(1000)), kFirstClaimBatch);
    EXPECT_EQ(next_batch_size(sizing(5)), 5u);
    EXPECT_EQ(next_batch_size(sizing(1)), 1u);
}

TEST(NextBatchSize, FastJobsGrowToTheMaximum)
{
    // 0.05 ms a job: a quarter of a 300 s lease fits far more than the maximum.
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 1000, 50.0)), kMaxClaimBatch);
    EXPECT_EQ(next_batch_size(sizing(1000000, 64, 0.0)), kMaxClaimBatch);
    EXPECT_EQ(next_batch_size(sizing(100, 1000, 50.0)), 100u);
    EXPECT_EQ(next_batch_size(sizing(static_cast<long>(kMaxClaimBatch) + 1, 10, 1.0)),
              kMaxClaimBatch);
}

TEST(NextBatchSize, SlowJobsFitAQuarterOfTheLease)
{
    // 2 s a job, 300 s lease: 75 s of budget, 37 jobs.
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 10, 20000.0)), 37u);
    // 10 s a job, 60 s lease: 15 s of budget, one job.
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 3, 30000.0, 60000)), 1u);
    // Slower than the whole budget: still one job, never zero.
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 1, 600000.0, 1000)), 1u);
    // A mean that does not divide evenly rounds down.
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 4, 1000.0, 4600)),
              4u); // 250 ms a job, 1150 ms budget
}

TEST(NextBatchSize, NonsenseTimingsFallBackToTheFirstBatch)
{
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 10, -5.0)), kFirstClaimBatch);
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 10, std::nan(""))), kFirstClaimBatch);
    EXPECT_EQ(next_batch_size(sizing(LONG_MAX, 10, 10.0, -1)), 1u);
}

TEST(CommitBeforeNextJob, OnManySubtransactionIds)
{
    EXPECT_FALSE(commit_before_next_job(0, 0.0));
    EXPECT_FALSE(commit_before_next_job(kSubxactIdsBeforeCommit - 1, 0.0));
    EXPECT_TRUE(commit_before_next_job(kSubxactIdsBeforeCommit, 0.0));
    EXPECT_LT(kSubxactIdsBeforeCommit, 64); // PGPROC_MAX_CACHED_SUBXIDS
}

TEST(CommitBeforeNextJob, OnElapsedTime)
{
    EXPECT_FALSE(commit_before_next_job(0, kMillisecondsBeforeCommit - 1));
    EXPECT_TRUE(commit_before_next_job(0, kMillisecondsBeforeCommit));
    EXPECT_TRUE(commit_before_next_job(1, 1e9));
}

} // namespace
