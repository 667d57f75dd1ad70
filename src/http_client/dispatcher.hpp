// The calls of one drain process's HTTP jobs: which claimed job is called when, against which
// endpoint, and the verdict on each call. It keeps the limits (calls in flight per process and
// per job type), resolves the default endpoint and timeout, signs each request as it starts,
// and turns libcurl's answers into core::CallDecision. The drain (src/extension/http_jobs.cpp)
// feeds it jobs and records its verdicts; no PostgreSQL headers here, so unit tests drive it
// against a local server.
//
// Not thread-safe, like Caller.
#pragma once

#include "caller.hpp"

#include <array>
#include <cstddef>
#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace regen::http
{

using JobId = std::array<unsigned char, 16>; // a job's uuid, as its 16 bytes

// One claimed job of an HTTP handler, waiting for its call or in it.
struct JobCall
{
    JobId id{};
    int attempt = 0;
    int max_attempts = 0;
    std::int64_t claim = 0; // the claim's drain id (lease_drain): a verdict is for that claim only
    std::string job_type;
    std::string endpoint;    // empty: DispatchSettings::default_endpoint
    long timeout_ms = 0;     // 0: DispatchSettings::default_timeout_ms
    int max_concurrency = 0; // calls of this job type in flight at once; 0: no limit of its own
    std::string body;        // the JSON document POSTed
};

struct DispatchSettings
{
    std::string default_endpoint; // regen_queue.http_endpoint
    std::string secret;           // regen_queue.http_signing_secret; empty: unsigned
    long default_timeout_ms = 30000;
    std::size_t concurrency = 16; // calls in flight at once, all job types together
    std::size_t max_response_bytes = core::kDefaultMaxResponseBytes;
};

struct FinishedCall
{
    JobCall job;
    core::CallDecision decision;
    std::string body; // the answer's body (the job's result when the verdict is Complete)
    long status = 0;  // 0 when no answer came
    double elapsed_s = 0;
};

class Dispatcher
{
  public:
    Dispatcher();
    ~Dispatcher();
    Dispatcher(const Dispatcher &) = delete;
    Dispatcher &operator=(const Dispatcher &) = delete;

    // Settings for calls started from now on (calls in flight keep theirs).
    void configure(const DispatchSettings &settings);

    // Queue a job's call. It does not start before the next commit(): the drain commits the
    // job's hand-over to HTTP first.
    void add(JobCall job);
    void commit();

    // Start the calls that may start, move the calls along for at most wait_ms (less when one
    // finishes) and return the finished ones. `now` stamps signatures and reads Retry-After.
    // A call that cannot be made (no endpoint, or one that is not acceptable) finishes at once.
    std::vector<FinishedCall> progress(int wait_ms, std::time_t now);

    std::size_t waiting() const { return waiting_.size(); } // added, not started
    std::size_t in_flight() const { return in_flight_.size(); }
    bool idle() const { return waiting_.empty() && in_flight_.empty(); }
    // Whether the drain should claim more: fewer jobs wait than may be in flight at once.
    bool wants_more() const { return waiting_.size() < settings_.concurrency; }

    // The ids of every job waiting or in flight (their leases must be kept alive).
    std::vector<JobId> job_ids() const;

    // Take back the jobs whose calls have not started / abandon the calls in flight.
    std::vector<JobCall> drop_waiting();
    std::vector<JobCall> drop_in_flight();

  private:
    struct Waiting
    {
        JobCall job;
        bool committed = false;
    };

    void start_ready(std::time_t now, std::vector<FinishedCall> &finished);
    bool type_has_room(const JobCall &job) const;

    DispatchSettings settings_;
    std::unique_ptr<Caller> caller_;
    std::deque<Waiting> waiting_;
    std::unordered_map<std::uint64_t, JobCall> in_flight_; // by call tag
    std::unordered_map<std::string, int> in_flight_by_type_;
    std::uint64_t next_tag_ = 1;
};

} // namespace regen::http
