// Entry point of the regen_queue library.
#include "pg.hpp"

#include "guc.hpp"
#include "wakeup.hpp"
#include "worker.hpp"

extern "C"
{

    PG_MODULE_MAGIC;

    PGDLLEXPORT void _PG_init(void);

    void _PG_init(void)
    {
        regen::pg::define_gucs();

        // The background workers and the enqueue wake-up need the library preloaded; the SQL
        // functions, regen_drain() included, work without it.
        if (!process_shared_preload_libraries_in_progress)
            return;
        regen::pg::request_wakeup_shmem();
        regen::pg::register_launcher();
        regen::pg::redact_secrets_in_logs();
    }

} // extern "C"
