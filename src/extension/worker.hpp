// The background workers: a launcher, and one worker per database named in
// regen_queue.databases that drains it every regen_queue.drain_interval.
#pragma once

#include "pg.hpp"

namespace regen::pg
{

// Register the launcher (from _PG_init, while preloading).
void register_launcher();

} // namespace regen::pg

extern "C"
{
    PGDLLEXPORT void regen_launcher_main(Datum arg);
    PGDLLEXPORT void regen_database_worker_main(Datum arg);
}
