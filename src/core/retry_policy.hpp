// The retry policy: which failures are retried, and how long a job waits before its next attempt.
//
// None of these functions throws.
#pragma once

#include <cstdint>
#include <string_view>

namespace regen::core
{

constexpr int64_t kRetryBaseDelayMs = 2000;  // delay after the first failed attempt
constexpr int64_t kRetryMaxDelayMs = 300000; // cap before jitter
constexpr double kRetryJitterMin = 0.75;
constexpr double kRetryJitterMax = 1.25;

enum class FailureKind
{
    Retryable,
    Permanent
};

// How a handler error is treated, from its SQLSTATE (five characters). Permanent: the
// regen_queue class "RQ" (RQ001 is the documented way for a handler to give up), data
// exceptions (class 22), syntax errors and access rule violations (class 42) and feature not
// supported (0A000). Everything else, including a plain RAISE EXCEPTION (P0001), is retryable,
// and so is anything that is not five characters from [0-9A-Z] (it tells nothing of the cause).
FailureKind classify_sqlstate(std::string_view sqlstate);

// min(300 s, 2 s * 2^(attempt-1)) before jitter; an attempt below 1 counts as 1.
int64_t backoff_base_ms(int attempt);

// The base delay scaled by the jitter factor 0.75 + 0.5 * unit_random, rounded to the nearest
// millisecond. unit_random is clamped to [0, 1]; NaN counts as 0.5.
int64_t backoff_delay_ms(int attempt, double unit_random);

struct FailureDecision
{
    bool retry = false;   // back to pending when true, failed otherwise
    int64_t delay_ms = 0; // wait before the next attempt when retry
};

// What happens to a job whose attempt number `attempts` (already counted) just failed: a
// retryable failure with attempts < max_attempts is retried after backoff_delay_ms(attempts,
// unit_random); a permanent one, or one that used the last attempt, fails the job.
FailureDecision decide_failure(int attempts, int max_attempts, FailureKind kind,
                               double unit_random);

} // namespace regen::core
