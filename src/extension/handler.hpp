// Handlers: the function registered for a job type in regen_queue.handler, and how its errors
// are classified.
#pragma once

#include "pg.hpp"

#include "../core/retry_policy.hpp"

namespace regen::pg
{

constexpr int kHandlerCacheSize = 8;

// What regen_queue.handler says of a job type.
struct Registration
{
    bool registered = false;
    bool http = false;          // an HTTP endpoint rather than a SQL function
    Oid function = InvalidOid;  // a SQL handler's function; invalid once it is gone
    char *signature = nullptr;  // a SQL handler's registered signature
    char *endpoint = nullptr;   // an HTTP handler's URL; nullptr: regen_queue.http_endpoint
    int timeout_ms = 0;         // an HTTP handler's; 0: regen_queue.http_timeout
    int max_concurrency = 0;    // an HTTP handler's; 0: no limit of its own
    bool shape_checked = false; // the function was found to have a handler's shape
};

// Registrations looked up during one batch, by job type, kept in `memory` (which must outlive
// the cache).
struct HandlerCache
{
    MemoryContext memory = nullptr;
    int count = 0;
    struct
    {
        char job_type[NAMEDATALEN];
        Registration registration;
    } entries[kHandlerCacheSize];
    Registration uncached; // the last one looked up when the cache was full
};

// The registration of `job_type`, valid until the next call; never raises for a type that has
// none. Needs SPI.
Registration &registration_of(HandlerCache &cache, const char *job_type);

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
