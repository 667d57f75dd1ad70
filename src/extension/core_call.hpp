// Calling the pure C++ core from PostgreSQL frames.
//
// A C++ exception must never unwind through PostgreSQL's frames, and an ereport() must never
// jump over C++ frames that own memory. call_core() runs the core function inside try/catch and
// raises the PostgreSQL error only after every C++ object of the call has been destroyed.
#pragma once

#include "pg.hpp"

#include <new>
#include <utility>

namespace regen::pg
{

template <typename Fn>
void
call_core(Fn &&fn)
{
    bool out_of_memory = false;
    bool other_failure = false;

    try
    {
        std::forward<Fn>(fn)();
    }
    catch (const std::bad_alloc &)
    {
        out_of_memory = true;
    }
    catch (...)
    {
        other_failure = true;
    }

    if (out_of_memory)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory in regen_queue")));
    if (other_failure)
        elog(ERROR, "unexpected C++ exception in regen_queue");
}

} // namespace regen::pg
