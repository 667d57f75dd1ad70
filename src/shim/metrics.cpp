#include "metrics.hpp"

#include <cstdarg>
#include <cstdio>

namespace regen::shim
{

namespace
{

void append_line(std::string &out, const char *format, ...) __attribute__((format(printf, 2, 3)));

void
append_line(std::string &out, const char *format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    out += line;
    out += '\n';
}

void
append_help(std::string &out, const char *name, const char *type, const char *help)
{
    append_line(out, "# HELP %s %s", name, help);
    append_line(out, "# TYPE %s %s", name, type);
}

Route
route_at(int index)
{
    return static_cast<Route>(index);
}

} // namespace

void
Metrics::record_request(Route route, int status, double seconds)
{
    std::lock_guard<std::mutex> lock(mutex_);
    requests_[{static_cast<int>(route), status}]++;

    Latency &latency = latency_[static_cast<int>(route)];
    for (std::size_t i = 0; i < kBuckets.size(); i++)
        if (seconds <= kBuckets[i])
            latency.buckets[i]++;
    latency.count++;
    latency.sum += seconds;
}

void
Metrics::record_drain(bool succeeded, const DrainCounts &counts)
{
    std::lock_guard<std::mutex> lock(mutex_);
    (succeeded ? drains_succeeded_ : drains_failed_)++;
    drained_.processed += counts.processed;
    drained_.completed += counts.completed;
    drained_.failed += counts.failed;
}

std::string
Metrics::render(const std::optional<QueueStats> &stats, int in_flight) const
{
    std::string out;

    append_help(out, "regen_queue_database_up", "gauge",
                "Whether the last query of the queue's statistics succeeded.");
    append_line(out, "regen_queue_database_up %d", stats ? 1 : 0);
    if (stats)
    {
        append_help(out, "regen_queue_jobs", "gauge", "Jobs in regen_queue.job_queue by status.");
        append_line(out, "regen_queue_jobs{status=\"pending\"} %lld", (long long)stats->pending);
        append_line(out, "regen_queue_jobs{status=\"processing\"} %lld",
                    (long long)stats->processing);
        append_line(out, "regen_queue_jobs{status=\"completed\"} %lld",
                    (long long)stats->completed);
        append_line(out, "regen_queue_jobs{status=\"failed\"} %lld", (long long)stats->failed);
        append_help(out, "regen_queue_due_jobs", "gauge",
                    "Pending jobs whose scheduled_for has come.");
        append_line(out, "regen_queue_due_jobs %lld", (long long)stats->due);
        append_help(out, "regen_queue_oldest_pending_age_seconds", "gauge",
                    "How long the oldest due job has waited since it became due (0: none).");
        append_line(out, "regen_queue_oldest_pending_age_seconds %.3f",
                    stats->oldest_pending_age_seconds);
        append_help(out, "regen_queue_expired_leases", "gauge",
                    "Processing jobs past their lease.");
        append_line(out, "regen_queue_expired_leases %lld", (long long)stats->expired_leases);
        append_help(out, "regen_queue_failed_last_hour", "gauge",
                    "Jobs that ended failed in the last hour.");
        append_line(out, "regen_queue_failed_last_hour %lld", (long long)stats->failed_last_hour);
    }

    std::lock_guard<std::mutex> lock(mutex_);
    append_help(out, "regen_http_drains_total", "counter",
                "Drains run through POST /api/internal/jobs/regeneration/process, by outcome.");
    append_line(out, "regen_http_drains_total{outcome=\"ok\"} %llu",
                (unsigned long long)drains_succeeded_);
    append_line(out, "regen_http_drains_total{outcome=\"error\"} %llu",
                (unsigned long long)drains_failed_);
    append_help(out, "regen_http_drained_jobs_total", "counter",
                "Jobs those drains processed, completed and failed (failed attempts).");
    append_line(out, "regen_http_drained_jobs_total{result=\"processed\"} %lld",
                (long long)drained_.processed);
    append_line(out, "regen_http_drained_jobs_total{result=\"completed\"} %lld",
                (long long)drained_.completed);
    append_line(out, "regen_http_drained_jobs_total{result=\"failed\"} %lld",
                (long long)drained_.failed);

    append_help(out, "regen_http_requests_in_flight", "gauge", "Requests being answered.");
    append_line(out, "regen_http_requests_in_flight %d", in_flight);

    append_help(out, "regen_http_requests_total", "counter",
                "Requests answered, by route and status.");
    for (const auto &[key, count] : requests_)
        append_line(out, "regen_http_requests_total{route=\"%s\",status=\"%d\"} %llu",
                    route_name(route_at(key.first)), key.second, (unsigned long long)count);

    append_help(out, "regen_http_request_duration_seconds", "histogram",
                "Time from a request's arrival to its answer, by route.");
    for (int r = 0; r < kRouteCount; r++)
    {
        const Latency &latency = latency_[r];
        const char *name = route_name(route_at(r));
        for (std::size_t i = 0; i < kBuckets.size(); i++)
            append_line(out,
                        "regen_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu",
                        name, kBuckets[i], (unsigned long long)latency.buckets[i]);
        append_line(out,
                    "regen_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu",
                    name, (unsigned long long)latency.count);
        append_line(out, "regen_http_request_duration_seconds_sum{route=\"%s\"} %.6f", name,
                    latency.sum);
        append_line(out, "regen_http_request_duration_seconds_count{route=\"%s\"} %llu", name,
                    (unsigned long long)latency.count);
    }
    return out;
}

} // namespace regen::shim
