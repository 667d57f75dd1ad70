// Unit tests for GET /metrics: the counters and the histogram, and the exposition read back as
// Prometheus' text format.
#include "shim/metrics.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace
{

using namespace regen::shim;

struct Sample
{
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Reads an exposition in Prometheus' text format, failing the test at any line that does not
// follow it: comments are HELP or TYPE lines, samples are `name{labels} value` or `name value`,
// a family has one TYPE line before its samples, and a sample follows its own family's TYPE
// (so, with one TYPE per family, no family is split up).
std::vector<Sample>
read_exposition(const std::string &text)
{
    static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
    static const std::regex kType(
        R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
    static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^{}]*)\})? (\S+))");
    static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)\")");

    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::string current_family;

    EXPECT_TRUE(text.empty() || text.back() == '\n') << "the exposition ends with a newline";
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
    {
        std::smatch m;
        if (std::regex_match(line, m, kHelp))
            continue;
        if (std::regex_match(line, m, kType))
        {
            EXPECT_EQ(types.count(m[1]), 0u) << "second TYPE for " << m[1];
            types[m[1]] = m[2];
            current_family = m[1];
            continue;
        }
        if (!std::regex_match(line, m, kSample))
        {
            ADD_FAILURE() << "not a sample line: \"" << line << "\"";
            continue;
        }

        Sample sample;
        sample.name = m[1];
        std::string labels = m[3];
        std::string value = m[4];
        if (value == "+Inf")
            sample.value = INFINITY;
        else
        {
            char *end = nullptr;
            sample.value = std::strtod(value.c_str(), &end);
            EXPECT_TRUE(!value.empty() && *end == '\0') << "bad value in \"" << line << "\"";
        }

        // Labels are name="value" pairs separated by commas, each name once.
        std::string rest = labels;
        while (!rest.empty())
        {
            std::smatch label;
            if (!std::regex_search(rest, label, kLabel) || label.position(0) != 0)
            {
                ADD_FAILURE() << "bad labels in \"" << line << "\"";
                break;
            }
            EXPECT_TRUE(sample.labels.emplace(label[1], label[2]).second) << line;
            rest = label.suffix();
            if (!rest.empty())
            {
                EXPECT_EQ(rest.front(), ',') << line;
                rest.erase(0, 1);
                EXPECT_FALSE(rest.empty()) << "trailing comma in \"" << line << "\"";
            }
        }

        // The sample belongs to the family whose TYPE came last.
        std::string family = sample.name;
        if (types[current_family] == "histogram")
            for (const char *suffix : {"_bucket", "_sum", "_count"})
            {
                std::string s = suffix;
                if (family.size() > s.size() &&
                    family.compare(family.size() - s.size(), s.size(), s) == 0 &&
                    family.substr(0, family.size() - s.size()) == current_family)
                    family = current_family;
            }
        EXPECT_EQ(family, current_family) << "sample outside its family: \"" << line << "\"";
        samples.push_back(std::move(sample));
    }
    return samples;
}

// The value of the one sample with this name and these labels; fails when there is not one.
double
value_of(const std::vector<Sample> &samples, const std::string &name,
         const std::map<std::string, std::string> &labels = {})
{
    const Sample *found = nullptr;
    for (const Sample &sample : samples)
        if (sample.name == name && sample.labels == labels)
        {
            EXPECT_EQ(found, nullptr) << "two samples of " << name;
            found = &sample;
        }
    EXPECT_NE(found, nullptr) << "no sample " << name;
    return found != nullptr ? found->value : NAN;
}

std::size_t
count_named(const std::vector<Sample> &samples, const std::string &name)
{
    std::size_t n = 0;
    for (const Sample &sample : samples)
        n += sample.name == name;
    return n;
}

// The reader above must refuse what Prometheus would, or the tests below prove nothing.
TEST(ExpositionReader, RefusesMalformedText)
{
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na\n"), "not a sample line");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na 1 2\n"), "not a sample line");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na{x=y} 1\n"), "bad labels");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na{x=\"y\",} 1\n"), "trailing comma");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na one\n"), "bad value");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\nb 1\n"), "outside its family");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\n# TYPE a gauge\n"), "second TYPE");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na 1"), "ends with a newline");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a nonsense\n"), "not a sample line");
    EXPECT_NONFATAL_FAILURE(read_exposition("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n"),
                            "outside its family");
    std::vector<Sample> good =
        read_exposition("# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\n"
                        "h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n");
    EXPECT_EQ(good.size(), 4u);
}

const std::vector<Route> kRoutes = {Route::Enqueue, Route::Drain, Route::Health, Route::Metrics,
                                    Route::Unknown};

TEST(Metrics, EmptyRenderIsValid)
{
    Metrics metrics;
    std::vector<Sample> samples = read_exposition(metrics.render(std::nullopt, 0));
    EXPECT_EQ(value_of(samples, "regen_queue_database_up"), 0);
    EXPECT_EQ(value_of(samples, "regen_http_requests_in_flight"), 0);
    EXPECT_EQ(count_named(samples, "regen_http_requests_total"), 0u);
    EXPECT_EQ(value_of(samples, "regen_http_drains_total", {{"outcome", "ok"}}), 0);
    EXPECT_EQ(value_of(samples, "regen_http_drains_total", {{"outcome", "error"}}), 0);
}

TEST(Metrics, DatabaseDownShowsNoQueueGauges)
{
    Metrics metrics;
    std::vector<Sample> samples = read_exposition(metrics.render(std::nullopt, 3));
    EXPECT_EQ(value_of(samples, "regen_queue_database_up"), 0);
    EXPECT_EQ(value_of(samples, "regen_http_requests_in_flight"), 3);
    for (const char *name :
         {"regen_queue_jobs", "regen_queue_due_jobs", "regen_queue_oldest_pending_age_seconds",
          "regen_queue_expired_leases", "regen_queue_failed_last_hour"})
        EXPECT_EQ(count_named(samples, name), 0u) << name;
}

TEST(Metrics, QueueStats)
{
    QueueStats stats;
    stats.pending = 5;
    stats.due = 4;
    stats.processing = 3;
    stats.completed = 1000000000000LL;
    stats.failed = 2;
    stats.oldest_pending_age_seconds = 12.5;
    stats.expired_leases = 1;
    stats.failed_last_hour = 7;

    Metrics metrics;
    std::vector<Sample> samples = read_exposition(metrics.render(stats, 0));
    EXPECT_EQ(value_of(samples, "regen_queue_database_up"), 1);
    EXPECT_EQ(value_of(samples, "regen_queue_jobs", {{"status", "pending"}}), 5);
    EXPECT_EQ(value_of(samples, "regen_queue_jobs", {{"status", "processing"}}), 3);
    EXPECT_EQ(value_of(samples, "regen_queue_jobs", {{"status", "completed"}}), 1e12);
    EXPECT_EQ(value_of(samples, "regen_queue_jobs", {{"status", "failed"}}), 2);
    EXPECT_EQ(value_of(samples, "regen_queue_due_jobs"), 4);
    EXPECT_DOUBLE_EQ(value_of(samples, "regen_queue_oldest_pending_age_seconds"), 12.5);
    EXPECT_EQ(value_of(samples, "regen_queue_expired_leases"), 1);
    EXPECT_EQ(value_of(samples, "regen_queue_failed_last_hour"), 7);
}

TEST(Metrics, RequestCountersByRouteAndStatus)
{
    Metrics metrics;
    for (int i = 0; i < 3; i++)
        metrics.record_request(Route::Enqueue, 202, 0.001);
    metrics.record_request(Route::Enqueue, 409, 0.001);
    metrics.record_request(Route::Drain, 200, 0.2);
    metrics.record_request(Route::Unknown, 404, 0.0001);
    metrics.record_request(Route::Unknown, 404, 0.0001);

    std::vector<Sample> samples = read_exposition(metrics.render(std::nullopt, 0));
    const std::string enqueue = "/api/v1/plans/:planId/regenerate";
    EXPECT_EQ(
        value_of(samples, "regen_http_requests_total", {{"route", enqueue}, {"status", "202"}}), 3);
    EXPECT_EQ(
        value_of(samples, "regen_http_requests_total", {{"route", enqueue}, {"status", "409"}}), 1);
    EXPECT_EQ(value_of(samples, "regen_http_requests_total",
                       {{"route", "/api/internal/jobs/regeneration/process"}, {"status", "200"}}),
              1);
    EXPECT_EQ(
        value_of(samples, "regen_http_requests_total", {{"route", "unknown"}, {"status", "404"}}),
        2);
    // Only the pairs that happened.
    EXPECT_EQ(count_named(samples, "regen_http_requests_total"), 4u);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndEndAtCount)
{
    Metrics metrics;
    const std::vector<double> health = {0.0001, 0.0005, 0.0007, 0.001, 0.003,
                                        0.3,    9.9,    10,     11,    500};
    for (double seconds : health)
        metrics.record_request(Route::Health, 200, seconds);
    metrics.record_request(Route::Drain, 200, 0.02);

    std::vector<Sample> samples = read_exposition(metrics.render(std::nullopt, 0));
    for (Route route : kRoutes)
    {
        std::string name = route_name(route);
        std::vector<std::pair<double, double>> buckets; // (le, count) in order of output
        for (const Sample &sample : samples)
            if (sample.name == "regen_http_request_duration_seconds_bucket" &&
                sample.labels.at("route") == name)
            {
                ASSERT_EQ(sample.labels.size(), 2u);
                const std::string &le = sample.labels.at("le");
                buckets.emplace_back(le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr),
                                     sample.value);
            }
        ASSERT_EQ(buckets.size(), Metrics::kBuckets.size() + 1) << name;
        for (std::size_t i = 0; i < Metrics::kBuckets.size(); i++)
            EXPECT_DOUBLE_EQ(buckets[i].first, Metrics::kBuckets[i]) << name;
        for (std::size_t i = 1; i < buckets.size(); i++)
        {
            EXPECT_LT(buckets[i - 1].first, buckets[i].first) << name;
            EXPECT_LE(buckets[i - 1].second, buckets[i].second)
                << name << " le " << buckets[i].first;
        }
        EXPECT_TRUE(std::isinf(buckets.back().first));
        double count =
            value_of(samples, "regen_http_request_duration_seconds_count", {{"route", name}});
        EXPECT_EQ(buckets.back().second, count) << name;

        // Each bucket holds exactly the observations at or under its bound.
        const std::vector<double> observed = route == Route::Health  ? health
                                             : route == Route::Drain ? std::vector<double>{0.02}
                                                                     : std::vector<double>{};
        EXPECT_EQ(count, observed.size()) << name;
        for (const auto &[le, got] : buckets)
        {
            std::size_t expected = 0;
            for (double seconds : observed)
                expected += seconds <= le;
            EXPECT_EQ(got, expected) << name << " le " << le;
        }
        double sum = 0;
        for (double seconds : observed)
            sum += seconds;
        EXPECT_NEAR(value_of(samples, "regen_http_request_duration_seconds_sum", {{"route", name}}),
                    sum, 1e-5)
            << name;
    }
}

TEST(Metrics, Drains)
{
    Metrics metrics;
    metrics.record_drain(true, {3, 2, 1});
    metrics.record_drain(false, {});
    metrics.record_drain(true, {1, 1, 0});
    metrics.record_drain(false, {});
    metrics.record_drain(false, {});

    std::vector<Sample> samples = read_exposition(metrics.render(std::nullopt, 0));
    EXPECT_EQ(value_of(samples, "regen_http_drains_total", {{"outcome", "ok"}}), 2);
    EXPECT_EQ(value_of(samples, "regen_http_drains_total", {{"outcome", "error"}}), 3);
    EXPECT_EQ(value_of(samples, "regen_http_drained_jobs_total", {{"result", "processed"}}), 4);
    EXPECT_EQ(value_of(samples, "regen_http_drained_jobs_total", {{"result", "completed"}}), 3);
    EXPECT_EQ(value_of(samples, "regen_http_drained_jobs_total", {{"result", "failed"}}), 1);
}

TEST(Metrics, FullExpositionIsValid)
{
    Metrics metrics;
    for (Route route : kRoutes)
        for (int status : {200, 202, 400, 401, 404, 405, 409, 413, 500, 503})
            metrics.record_request(route, status, 0.004);
    metrics.record_drain(true, {10, 9, 1});
    QueueStats stats;
    stats.oldest_pending_age_seconds = 0.0005;

    std::string text = metrics.render(stats, 64);
    std::vector<Sample> samples = read_exposition(text);
    EXPECT_EQ(count_named(samples, "regen_http_requests_total"), kRoutes.size() * 10);
    for (const Sample &sample : samples)
    {
        EXPECT_TRUE(std::isfinite(sample.value) || sample.name.find("_bucket") != std::string::npos)
            << sample.name;
        EXPECT_GE(sample.value, 0) << sample.name;
    }
    // Every family has its HELP and TYPE.
    std::set<std::string> helped;
    std::set<std::string> typed;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
    {
        if (line.rfind("# HELP ", 0) == 0)
            helped.insert(line.substr(7, line.find(' ', 7) - 7));
        if (line.rfind("# TYPE ", 0) == 0)
            typed.insert(line.substr(7, line.find(' ', 7) - 7));
    }
    EXPECT_EQ(helped, typed);
    for (const char *family :
         {"regen_queue_database_up", "regen_queue_jobs", "regen_http_drains_total",
          "regen_http_drained_jobs_total", "regen_http_requests_in_flight",
          "regen_http_requests_total", "regen_http_request_duration_seconds"})
        EXPECT_EQ(typed.count(family), 1u) << family;
}

TEST(Metrics, CountsFromManyThreads)
{
    Metrics metrics;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back(
            [&metrics]
            {
                for (int i = 0; i < 1000; i++)
                {
                    metrics.record_request(Route::Drain, 200, 0.003);
                    metrics.record_drain(true, {1, 1, 0});
                }
            });
    for (std::thread &thread : threads)
        thread.join();

    std::vector<Sample> samples = read_exposition(metrics.render(std::nullopt, 0));
    const std::string drain = "/api/internal/jobs/regeneration/process";
    EXPECT_EQ(value_of(samples, "regen_http_requests_total", {{"route", drain}, {"status", "200"}}),
              4000);
    EXPECT_EQ(value_of(samples, "regen_http_request_duration_seconds_count", {{"route", drain}}),
              4000);
    EXPECT_EQ(value_of(samples, "regen_http_drains_total", {{"outcome", "ok"}}), 4000);
}

} // namespace
