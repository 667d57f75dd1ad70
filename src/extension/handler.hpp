// Handlers: the function registered for a job type in regen_queue.handler, and how its errors
// are classified.
#pragma once

#include "pg.hpp"

#include "../core/retry_policy.hpp"

namespace regen::pg
{

constexpr int kHandlerCacheSize = 8;

// Handler functions looked up during one batch, by job type.
struct HandlerCache
{
    int count = 0;
    struct
    {
        char job_type[NAMEDATALEN];
        Oid function;
    } entries[kHandlerCacheSize];
};

// Call the handler of `job_type` with the job's row and return its jsonb result, as the current
// role or, with as_owner, as the owner of the handler function. Raises undefined_object when no
// handler is registered, undefined_function when it was dropped, and insufficient_privilege
// when the role may not execute it. Needs SPI and a transaction; the caller restores the
// current user after an error (a subtransaction's abort does).
Datum call_handler(HandlerCache &cache, const char *job_type, Datum job_row, bool as_owner,
                   bool *is_null);

// Retryable or permanent, from the error's SQLSTATE.
core::FailureKind classify_handler_error(const ErrorData *edata);

} // namespace regen::pg
