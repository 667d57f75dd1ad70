// The HTTP side of HTTP handlers: many POSTs in flight at once through libcurl's multi
// interface, each with its own timeout, no redirects, http and https only, TLS verified, and
// response bodies bounded. No PostgreSQL headers: the drain (src/extension)
// drives it between its transactions, and unit tests drive it against a local server.
//
// Not thread-safe: one Caller belongs to one thread (a drain process has one).
#pragma once

#include "../core/http_call.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace regen::http
{

struct CallRequest
{
    std::uint64_t tag = 0; // the caller's name for the call (a job's place in its batch)
    std::string url;
    std::string body;                 // sent as application/json
    std::vector<std::string> headers; // more "Name: value" lines (the signature)
    long timeout_ms = 30000;          // the whole call: connecting, sending, the whole answer
};

struct CallResult
{
    std::uint64_t tag = 0;
    core::Transport transport = core::Transport::Broken;
    long status = 0;
    std::string retry_after; // the Retry-After header's value, empty when absent
    std::string body;        // at most the Caller's max_response_bytes
    std::string reason;      // libcurl's message when the transport failed
    double elapsed_s = 0;

    // The view core::decide_call() takes; valid while this result lives.
    core::CallOutcome outcome() const;
};

class Caller
{
  public:
    Caller(std::size_t max_in_flight, std::size_t max_response_bytes);
    ~Caller();
    Caller(const Caller &) = delete;
    Caller &operator=(const Caller &) = delete;

    std::size_t in_flight() const;
    bool full() const { return in_flight() >= max_in_flight_; }

    // New limits, for calls started from now on (a reload). libcurl keeps at most
    // max_in_flight idle connections for reuse, so sockets stay within twice the bound.
    void set_limits(std::size_t max_in_flight, std::size_t max_response_bytes);

    // Start a call; the caller makes sure the Caller is not full. A call that cannot even
    // start (libcurl refused its options) finishes at once, with transport Broken.
    void start(const CallRequest &request);

    // Move calls along for at most wait_ms (less when one finishes) and return those that
    // finished. With nothing in flight it returns at once.
    std::vector<CallResult> progress(int wait_ms);

    // Drop every call in flight without waiting for its answer (shutdown).
    void abandon_all();

  private:
    struct Call;
    struct Impl;

    std::size_t max_in_flight_;
    std::unique_ptr<Impl> impl_;
    std::vector<CallResult> pending_failures_; // calls that could not start, to report
};

// Why libcurl would not call `url`, or empty when it would: core::acceptable_endpoint's rules,
// then libcurl's own URL parser (what it refuses, the call would fail every time).
std::string endpoint_problem(const std::string &url);

// The request target libcurl sends for `url`: its path, dot segments resolved, and its query;
// "/" when the URL has none. Empty when libcurl cannot parse the URL.
std::string target_as_sent(const std::string &url);

// The signature headers of a request (issue 4, "each request is signed"):
//   X-Regen-Timestamp: <Unix seconds>
//   X-Regen-Signature: v1=<hex HMAC-SHA256(secret, core::signature_base(timestamp, "POST",
//                                           target_as_sent(url), hex SHA-256 of the body))>
// Empty when secret is empty (calls are then unsigned).
std::vector<std::string> signature_headers(const std::string &secret, std::int64_t timestamp,
                                           const std::string &url, const std::string &body);

} // namespace regen::http
