// Jobs whose handler is an HTTP endpoint (issue 4): handed over by the batch that locked them,
// called outside any transaction, many at once, and their verdicts recorded as they arrive.
//
// Life of such a job in a drain:
//   1. the batch that locked it hands it over (http_hand_over): its lease becomes its own
//      (lease_size 1, so that a dead process is charged the attempt) and its request body is
//      built; the hand-over commits with the batch;
//   2. after that commit its call may start; while it waits and while it is in flight no
//      transaction is open and no row is locked, and http_pump() renews its lease so that no
//      other drain reclaims it;
//   3. each verdict is recorded in a short transaction of its own as soon as it arrives: a
//      crash loses no finished call and repeats at most the calls whose verdicts were not yet
//      committed.
#pragma once

#include "pg.hpp"

#include "../core/drain_counts.hpp"

namespace regen::pg
{

// A locked job whose handler is an HTTP endpoint; strings live until the hand-over.
struct HttpJob
{
    Datum id;
    int attempt;
    int max_attempts;
    const char *job_type;
    const char *endpoint; // nullptr: regen_queue.http_endpoint
    int timeout_ms;       // 0: regen_queue.http_timeout
    int max_concurrency;  // 0: no limit of its own
};

// Start a drain: read the settings, and forget the calls of an earlier drain of this process
// that ended in an error (their jobs come back when their leases expire). Calls that the
// previous drain left in flight on purpose (http_end_drain) go on.
void http_begin_drain(int lease_ms);

// End a drain that ran without error; `calls_left`: it left calls waiting or in flight for
// the next drain of the process, which must start at once.
void http_end_drain(bool calls_left);

// Hand `count` locked jobs over to HTTP in the current transaction (SPI connected).
void http_hand_over(const HttpJob *jobs, int count);

// In a batch's transaction, before it runs SQL handlers: renew the leases of the jobs waiting
// for calls, in them, or with verdicts not yet recorded, and keep them locked until the batch
// commits, so that no other drain reclaims them however long the handlers run. Needs SPI.
void http_hold_leases();

// The transaction that handed jobs over has committed: their calls may start.
void http_committed();

// Whether the drain should claim more jobs: fewer are waiting for a call than may be in flight.
bool http_wants_more();

// Whether no call is waiting, in flight, or finished but not yet recorded.
bool http_idle();

// Move calls along without waiting and keep what finished, for the next http_pump(). Called
// between the SQL jobs of a batch, so that answers are read while those run.
void http_poll();

// Outside any transaction: start the calls that may start, wait up to wait_ms for answers,
// record every finished call and renew the leases of the jobs still waiting. Honours a reload,
// postmaster death and SIGTERM (when the process exits, jobs not called yet go back to the
// queue and calls in flight fail their attempt as retryable). With `stopping`, jobs whose calls
// have not started go back to the queue and only the calls in flight are waited for.
void http_pump(core::DrainCounts &counts, int wait_ms, bool stopping);

} // namespace regen::pg
