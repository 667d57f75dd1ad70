// Counters of the shim, rendered in Prometheus' text exposition format for GET /metrics.
//
// Bounded: labels come from fixed sets (routes by template, the statuses the shim answers,
// drain outcomes), never from what a client sent.
#pragma once

#include "request.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace regen::shim
{

// One row of regen_stats(), as GET /metrics shows it.
struct QueueStats
{
    std::int64_t pending = 0;
    std::int64_t due = 0;
    std::int64_t processing = 0;
    std::int64_t completed = 0;
    std::int64_t failed = 0;
    double oldest_pending_age_seconds = 0;
    std::int64_t expired_leases = 0;
    std::int64_t failed_last_hour = 0;
};

struct DrainCounts
{
    std::int64_t processed = 0;
    std::int64_t completed = 0;
    std::int64_t failed = 0;
};

class Metrics
{
  public:
    // Upper bounds of the latency histogram, in seconds.
    static constexpr std::array<double, 14> kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

    void record_request(Route route, int status, double seconds);
    void record_drain(bool succeeded, const DrainCounts &counts);

    // The whole exposition; stats is empty when the database could not be asked.
    std::string render(const std::optional<QueueStats> &stats, int in_flight) const;

  private:
    struct Latency
    {
        std::array<std::uint64_t, kBuckets.size()> buckets{};
        std::uint64_t count = 0;
        double sum = 0;
    };

    mutable std::mutex mutex_;
    std::map<std::pair<int, int>, std::uint64_t> requests_; // (route, status) -> count
    std::array<Latency, kRouteCount> latency_{};
    std::uint64_t drains_succeeded_ = 0;
    std::uint64_t drains_failed_ = 0;
    DrainCounts drained_{};
};

} // namespace regen::shim
