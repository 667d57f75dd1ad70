// Moving a claimed job to its next state: completed, back to pending for a retry, or failed.
#pragma once

#include "pg.hpp"

#include <cstddef>

#include "../core/retry_policy.hpp"

namespace regen::pg
{

// Complete job `id` at attempt `attempt` with `result` (may be NULL). Returns whether the job
// changed; a job that is no longer processing at that attempt is left alone. Needs SPI.
bool complete_job(Datum id, int attempt, Datum result, bool result_is_null);

// Complete the `count` jobs ids[i] at attempts[i] with results[i] (NULL where result_nulls[i])
// in one statement; jobs no longer processing at that attempt are left alone. Returns how many
// were completed. Needs SPI.
uint64 complete_jobs(int count, Datum *ids, Datum *attempts, Datum *results, bool *result_nulls);

// Fail attempt `attempt` of job `id`, applying the retry policy; a retried attempt waits at
// least min_delay_ms (an HTTP endpoint's Retry-After). `error_text` is stored cleaned and
// truncated. Returns the new status ("pending" or "failed"), or nullptr when the job is no
// longer processing at that attempt. Needs SPI.
const char *fail_job(Datum id, int attempt, int max_attempts, core::FailureKind kind,
                     const char *error_text, int64 min_delay_ms = 0);

// The server log's line about a failed attempt; a job that failed for good is a WARNING.
void report_failed_attempt(Datum id, int attempt, int max_attempts, const char *status,
                           const char *description);

// `text` with invalid UTF-8 and control characters replaced, cut to at most max_bytes
// (core::clean_error_text), in palloc'd memory.
char *cleaned_text(const char *text, std::size_t max_bytes);

// "SQLSTATE: message (detail)" of an error, for last_error.
char *describe_error(const ErrorData *edata);

} // namespace regen::pg
