// How a drain sizes its batches: which candidates it claims together, how many at a time, and
// when it commits in the middle of a batch.
//
// Jobs of one batch share a lease: if the process running them dies, every job of the batch is
// reclaimed and nobody knows which one killed it. Such jobs come back flagged run_alone and are
// then claimed one at a time, so a job that keeps killing its worker is charged its attempts
// alone and its batch-mates are not.
//
// A batch is claimed in one transaction and run in the next, each job in a subtransaction. Big
// batches save commits (one WAL flush each), but every job of a batch waits under the batch's
// lease, and every subtransaction that writes takes a subtransaction id: past 64 of them in one
// transaction, PostgreSQL stops caching them in shared memory and every snapshot of every
// session gets slower. So batches grow only as far as the jobs' observed run time allows within
// a part of the lease, and a batch commits early once it has used many subtransaction ids or run
// for a while.
#pragma once

#include <cstddef>
#include <vector>

namespace regen::core
{

constexpr std::size_t kMaxClaimBatch = 256;
constexpr std::size_t kFirstClaimBatch = 32;       // before any job of the drain has run
constexpr long kLeaseShareDivisor = 4;             // a batch is sized to run in 1/4 of the lease
constexpr int kSubxactIdsBeforeCommit = 48;        // below PostgreSQL's 64 cached per process
constexpr double kMillisecondsBeforeCommit = 1000; // finished work commits at least this often

// Given the run_alone flags of the candidates in claim order, how many to claim now: one when
// the first is run_alone, otherwise all candidates before the first run_alone one; zero for
// none. The caller bounds the candidates by next_batch_size(). Throws nothing.
std::size_t claimable_prefix(const std::vector<bool> &run_alone);

// What the drain knows when it sizes its next batch.
struct BatchSizing
{
    long remaining = 0;     // jobs this drain may still claim
    long jobs_run = 0;      // jobs run so far in this drain
    double run_time_ms = 0; // their total run time, handler and bookkeeping
    long lease_ms = 300000; // regen_queue.lease_timeout
};

// Size of the next batch: 0 when nothing remains; otherwise kFirstClaimBatch before any job
// has run, then as many jobs as the mean run time so far fits into lease_ms /
// kLeaseShareDivisor; never more than kMaxClaimBatch or `remaining`, never fewer than 1.
// Throws nothing.
std::size_t next_batch_size(const BatchSizing &sizing);

// Whether a batch should commit what it has finished before running its next job, given the
// subtransaction ids its transaction holds and the time since that transaction started.
// Throws nothing.
bool commit_before_next_job(int subxact_ids, double ms_since_commit);

} // namespace regen::core
