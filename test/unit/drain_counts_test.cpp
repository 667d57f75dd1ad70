// Unit tests for the drain result text.
#include "core/drain_counts.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace
{

using regen::core::drain_counts_json;
using regen::core::DrainCounts;

TEST(DrainCounts, DefaultIsAllZero)
{
    EXPECT_EQ(drain_counts_json({}),
              R"({"ok": true, "processedCount": 0, "completedCount": 0, "failedCount": 0})");
}

TEST(DrainCounts, RunbookExample)
{
    DrainCounts counts;
    counts.processed = 1;
    counts.completed = 1;
    EXPECT_EQ(drain_counts_json(counts),
              R"({"ok": true, "processedCount": 1, "completedCount": 1, "failedCount": 0})");
}

TEST(DrainCounts, EachCountInItsPlace)
{
    DrainCounts counts;
    counts.processed = 7;
    counts.completed = 4;
    counts.failed = 3;
    EXPECT_EQ(drain_counts_json(counts),
              R"({"ok": true, "processedCount": 7, "completedCount": 4, "failedCount": 3})");
}

TEST(DrainCounts, LargeCounts)
{
    DrainCounts counts;
    counts.processed = std::numeric_limits<int64_t>::max();
    counts.completed = 10000000000;
    counts.failed = 0;
    EXPECT_EQ(drain_counts_json(counts), R"({"ok": true, "processedCount": 9223372036854775807, )"
                                         R"("completedCount": 10000000000, "failedCount": 0})");
}

} // namespace
