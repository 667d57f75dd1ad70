// Unit tests for the retry policy: classification, backoff and the failure decision.
#include "core/retry_policy.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <limits>

namespace
{

using regen::core::backoff_base_ms;
using regen::core::backoff_delay_ms;
using regen::core::classify_sqlstate;
using regen::core::decide_failure;
using regen::core::FailureDecision;
using regen::core::FailureKind;

TEST(ClassifySqlstate, RetryableCodes)
{
    for (const char *code :
         {"P0001", "40001", "40P01", "57014", "53300", "08006", "XX000", "23505"})
        EXPECT_EQ(classify_sqlstate(code), FailureKind::Retryable) << code;
}

TEST(ClassifySqlstate, PermanentCodes)
{
    for (const char *code :
         {"22023", "22P02", "22012", "42883", "42501", "42P01", "0A000", "RQ001", "RQ999"})
        EXPECT_EQ(classify_sqlstate(code), FailureKind::Permanent) << code;
}

TEST(ClassifySqlstate, OnlyFeatureNotSupportedItselfFromClass0A)
{
    EXPECT_EQ(classify_sqlstate("0A001"), FailureKind::Retryable);
}

TEST(ClassifySqlstate, MalformedCodesAreRetryable)
{
    for (const char *code : {"", "2", "22", "2202", "220233", "rq001", "22 23", "42-83", "RQ00"})
        EXPECT_EQ(classify_sqlstate(code), FailureKind::Retryable) << '"' << code << '"';
}

TEST(Backoff, BaseDoublesFromTwoSeconds)
{
    const int64_t expected[] = {2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000};
    for (int attempt = 1; attempt <= 8; ++attempt)
        EXPECT_EQ(backoff_base_ms(attempt), expected[attempt - 1]) << attempt;
}

TEST(Backoff, BaseIsCappedAtFiveMinutes)
{
    EXPECT_EQ(backoff_base_ms(9), 300000);
    EXPECT_EQ(backoff_base_ms(10), 300000);
    EXPECT_EQ(backoff_base_ms(64), 300000);
    EXPECT_EQ(backoff_base_ms(100), 300000);
    EXPECT_EQ(backoff_base_ms(INT_MAX), 300000);
}

TEST(Backoff, AttemptBelowOneCountsAsOne)
{
    EXPECT_EQ(backoff_base_ms(0), 2000);
    EXPECT_EQ(backoff_base_ms(-7), 2000);
    EXPECT_EQ(backoff_base_ms(INT_MIN), 2000);
}

TEST(Backoff, JitterBoundsForFirstAttempt)
{
    EXPECT_EQ(backoff_delay_ms(1, 0.0), 1500);
    EXPECT_EQ(backoff_delay_ms(1, 0.5), 2000);
    EXPECT_EQ(backoff_delay_ms(1, 1.0), 2500);
    EXPECT_EQ(backoff_delay_ms(1, 0.25), 1750);

    for (int step = 0; step <= 1000; ++step)
    {
        const int64_t delay = backoff_delay_ms(1, step / 1000.0);
        EXPECT_GE(delay, 1500);
        EXPECT_LE(delay, 2500);
    }
}

TEST(Backoff, JitterIsRounded)
{
    // 2000 * (0.75 + 0.5 * 0.0003) = 1500.3 and 2000 * (0.75 + 0.5 * 0.0007) = 1500.7
    EXPECT_EQ(backoff_delay_ms(1, 0.0003), 1500);
    EXPECT_EQ(backoff_delay_ms(1, 0.0007), 1501);
}

TEST(Backoff, JitterInputIsClamped)
{
    EXPECT_EQ(backoff_delay_ms(1, -3.0), 1500);
    EXPECT_EQ(backoff_delay_ms(1, 7.0), 2500);
    EXPECT_EQ(backoff_delay_ms(1, -std::numeric_limits<double>::infinity()), 1500);
    EXPECT_EQ(backoff_delay_ms(1, std::numeric_limits<double>::infinity()), 2500);
    EXPECT_EQ(backoff_delay_ms(1, std::nan("")), 2000);
}

TEST(Backoff, JitterAppliesAfterTheCap)
{
    EXPECT_EQ(backoff_delay_ms(20, 0.0), 225000);
    EXPECT_EQ(backoff_delay_ms(20, 1.0), 375000);
    EXPECT_EQ(backoff_delay_ms(3, 1.0), 10000);
}

TEST(DecideFailure, RetryableWithAttemptsLeftIsRetried)
{
    const FailureDecision first = decide_failure(1, 3, FailureKind::Retryable, 0.5);
    EXPECT_TRUE(first.retry);
    EXPECT_EQ(first.delay_ms, 2000);

    const FailureDecision second = decide_failure(2, 3, FailureKind::Retryable, 0.5);
    EXPECT_TRUE(second.retry);
    EXPECT_EQ(second.delay_ms, 4000);

    EXPECT_EQ(decide_failure(1, 3, FailureKind::Retryable, 0.0).delay_ms, 1500);
    EXPECT_EQ(decide_failure(2, 3, FailureKind::Retryable, 1.0).delay_ms, 5000);
}

TEST(DecideFailure, LastAttemptFails)
{
    const FailureDecision last = decide_failure(3, 3, FailureKind::Retryable, 0.5);
    EXPECT_FALSE(last.retry);
    EXPECT_EQ(last.delay_ms, 0);

    EXPECT_FALSE(decide_failure(4, 3, FailureKind::Retryable, 0.5).retry);
}

TEST(DecideFailure, PermanentFailsAtOnce)
{
    const FailureDecision decision = decide_failure(1, 3, FailureKind::Permanent, 0.5);
    EXPECT_FALSE(decision.retry);
    EXPECT_EQ(decision.delay_ms, 0);
    EXPECT_FALSE(decide_failure(1, 100, FailureKind::Permanent, 0.5).retry);
}

TEST(DecideFailure, TwoMaxAttempts)
{
    EXPECT_TRUE(decide_failure(1, 2, FailureKind::Retryable, 0.5).retry);
    EXPECT_FALSE(decide_failure(2, 2, FailureKind::Retryable, 0.5).retry);
}

TEST(DecideFailure, OneMaxAttemptNeverRetries)
{
    EXPECT_FALSE(decide_failure(1, 1, FailureKind::Retryable, 0.5).retry);
}

TEST(DecideFailure, ClassifiedCodesEndToEnd)
{
    EXPECT_TRUE(decide_failure(1, 3, classify_sqlstate("P0001"), 0.5).retry);
    EXPECT_FALSE(decide_failure(1, 3, classify_sqlstate("RQ001"), 0.5).retry);
}

} // namespace
