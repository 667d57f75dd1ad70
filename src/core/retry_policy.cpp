// The retry policy: which failures are retried, and how long a job waits before its next attempt.
#include "retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace regen::core
{
namespace
{

// Five characters from [0-9A-Z], the only form PostgreSQL produces.
bool
is_well_formed_sqlstate(std::string_view sqlstate) noexcept
{
    if (sqlstate.size() != 5)
        return false;
    return std::all_of(sqlstate.begin(), sqlstate.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
}

} // namespace

FailureKind
classify_sqlstate(std::string_view sqlstate)
{
    // A code we cannot read tells nothing about the cause, so the job gets its remaining attempts.
    if (!is_well_formed_sqlstate(sqlstate))
        return FailureKind::Retryable;

    const std::string_view error_class = sqlstate.substr(0, 2);
    if (error_class == "RQ" || error_class == "22" || error_class == "42" || sqlstate == "0A000")
        return FailureKind::Permanent;
    return FailureKind::Retryable;
}

int64_t
backoff_base_ms(int attempt)
{
    // Doubling stops at the cap, so a huge attempt number can neither overflow nor loop long.
    const int doublings = std::max(attempt, 1) - 1;
    int64_t delay = kRetryBaseDelayMs;
    for (int i = 0; i < doublings && delay < kRetryMaxDelayMs; ++i)
        delay *= 2;
    return std::min(delay, kRetryMaxDelayMs);
}

int64_t
backoff_delay_ms(int attempt, double unit_random)
{
    const double unit = std::isnan(unit_random) ? 0.5 : std::clamp(unit_random, 0.0, 1.0);
    const double factor = kRetryJitterMin + (kRetryJitterMax - kRetryJitterMin) * unit;
    return static_cast<int64_t>(
        std::llround(static_cast<double>(backoff_base_ms(attempt)) * factor));
}

FailureDecision
decide_failure(int attempts, int max_attempts, FailureKind kind, double unit_random)
{
    if (kind == FailureKind::Permanent || attempts >= max_attempts)
        return {false, 0};
    return {true, backoff_delay_ms(attempts, unit_random)};
}

} // namespace regen::core
