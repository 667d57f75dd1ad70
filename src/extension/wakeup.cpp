// Shared memory of the database workers: the latch through which an enqueue wakes a worker as
// soon as it commits, and the note a worker leaves when it quits its database on purpose.
#include "wakeup.hpp"

#include "guc.hpp"

extern "C"
{
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
}

namespace regen::pg
{

namespace
{

struct WorkerSlot
{
    Oid database;
    Latch *latch;
};

struct WakeupShared
{
    slock_t mutex;
    WorkerSlot slots[kMaxWorkerDatabases];
    bool left[kMaxWorkerDatabases]; // outlives the slot's latch, until the launcher reads it
};

WakeupShared *shared = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;
bool wake_pending = false;
bool callback_registered = false;

void
on_shmem_request()
{
    if (previous_request_hook)
        previous_request_hook();
    RequestAddinShmemSpace(sizeof(WakeupShared));
}

void
on_shmem_startup()
{
    bool found;

    if (previous_startup_hook)
        previous_startup_hook();

    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    shared = static_cast<WakeupShared *>(
        ShmemInitStruct("regen_queue wakeup", sizeof(WakeupShared), &found));
    if (!found)
    {
        SpinLockInit(&shared->mutex);
        for (auto &slot : shared->slots)
            slot = {InvalidOid, nullptr};
        for (bool &left : shared->left)
            left = false;
    }
    LWLockRelease(AddinShmemInitLock);
}

void
wake_database_worker()
{
    Latch *latch = nullptr;

    if (shared == nullptr)
        return;

    SpinLockAcquire(&shared->mutex);
    for (const auto &slot : shared->slots)
        if (slot.database == MyDatabaseId && slot.latch != nullptr)
            latch = slot.latch;
    SpinLockRelease(&shared->mutex);

    if (latch != nullptr)
        SetLatch(latch);
}

void
on_transaction_end(XactEvent event, void *)
{
    if (event == XACT_EVENT_COMMIT && wake_pending)
        wake_database_worker();
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
        event == XACT_EVENT_PARALLEL_ABORT)
        wake_pending = false;
}

void
withdraw_latch(int, Datum slot_datum)
{
    int slot = DatumGetInt32(slot_datum);

    SpinLockAcquire(&shared->mutex);
    shared->slots[slot] = {InvalidOid, nullptr};
    SpinLockRelease(&shared->mutex);
}

} // namespace

void
request_wakeup_shmem()
{
    previous_request_hook = shmem_request_hook;
    shmem_request_hook = on_shmem_request;
    previous_startup_hook = shmem_startup_hook;
    shmem_startup_hook = on_shmem_startup;
}

void
wake_worker_on_commit()
{
    if (shared == nullptr)
        return;
    if (!callback_registered)
    {
        RegisterXactCallback(on_transaction_end, nullptr);
        callback_registered = true;
    }
    wake_pending = true;
}

void
publish_worker_latch(int slot)
{
    if (shared == nullptr || slot < 0 || slot >= kMaxWorkerDatabases)
        elog(ERROR, "regen_queue shared memory is not available for worker slot %d", slot);

    SpinLockAcquire(&shared->mutex);
    shared->slots[slot] = {MyDatabaseId, MyLatch};
    shared->left[slot] = false; // a note of an earlier worker the launcher never read
    SpinLockRelease(&shared->mutex);
    on_shmem_exit(withdraw_latch, Int32GetDatum(slot));
}

void
note_worker_left(int slot)
{
    if (shared == nullptr || slot < 0 || slot >= kMaxWorkerDatabases)
        return;
    SpinLockAcquire(&shared->mutex);
    shared->left[slot] = true;
    SpinLockRelease(&shared->mutex);
}

bool
take_worker_left_note(int slot)
{
    bool left = false;

    if (shared == nullptr || slot < 0 || slot >= kMaxWorkerDatabases)
        return false;
    SpinLockAcquire(&shared->mutex);
    left = shared->left[slot];
    shared->left[slot] = false;
    SpinLockRelease(&shared->mutex);
    return left;
}

} // namespace regen::pg
