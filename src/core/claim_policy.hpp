// Which of the candidate jobs a drain claims together in one batch.
//
// Jobs of one batch share a lease: if the process running them dies, every job of the batch is
// reclaimed and nobody knows which one killed it. Such jobs come back flagged run_alone and are
// then claimed one at a time, so a job that keeps killing its worker is charged its attempts
// alone and its batch-mates are not.
#pragma once

#include <cstddef>
#include <vector>

namespace regen::core
{

constexpr std::size_t kMaxClaimBatch = 64; // stays within PostgreSQL's cached subtransaction ids

// Given the run_alone flags of the candidates in claim order, how many to claim now: one when
// the first is run_alone, otherwise all candidates before the first run_alone one; zero for
// none. The caller bounds the candidates by next_batch_size(). Throws nothing.
std::size_t claimable_prefix(const std::vector<bool> &run_alone);

// Size of the next batch when `remaining` jobs may still be processed in this drain:
// min(kMaxClaimBatch, remaining), and 0 when remaining <= 0. Throws nothing.
std::size_t next_batch_size(long remaining);

} // namespace regen::core
