// Shared memory of the database workers: the latch through which an enqueue wakes a worker as
// soon as it commits, and the note a worker leaves when it quits its database on purpose.
//
// Exists only when regen_queue is in shared_preload_libraries; without it the wake-up is a
// no-op and jobs wait for the next drain.
#pragma once

#include "pg.hpp"

namespace regen::pg
{

// Ask for the shared memory (from _PG_init, while preloading).
void request_wakeup_shmem();

// Make the enqueues of the current transaction wake this database's worker when it commits.
void wake_worker_on_commit();

// The database worker in slot `slot` publishes its latch (and withdraws it when it exits).
void publish_worker_latch(int slot);

// A database worker that leaves its database on purpose (someone drops, renames or copies it)
// notes it in its slot; the launcher takes the note and restarts it without counting a failure.
void note_worker_left(int slot);
bool take_worker_left_note(int slot);

} // namespace regen::pg
