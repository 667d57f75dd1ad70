// HTTP handlers: what a drain decides after calling a job type's HTTP endpoint, and the pieces
// of the request it sends. The call itself (libcurl) and the HMAC are src/http_client's; this
// is the part that unit tests reach without a server.
//
// Terms: a *call* is one POST of one claimed job to its endpoint; its *outcome* is what came
// back (or how the transport failed); the *verdict* is what happens to the job.
//
// None of these functions throws anything but std::bad_alloc.
#pragma once

#include "retry_policy.hpp"

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace regen::core
{

constexpr std::size_t kDefaultMaxResponseBytes = 1024 * 1024;

// How the transport ended, before any status is looked at.
enum class Transport
{
    Answered,      // a complete response with a status line
    TimedOut,      // the call's own timeout
    ConnectFailed, // refused, unreachable, name not resolved, TLS handshake or verification
    Broken,        // the connection failed after the request went out (reset, short body)
    TooLarge,      // the body passed the limit and was cut off
};

struct CallOutcome
{
    Transport transport = Transport::Answered;
    long status = 0;              // the HTTP status, when Answered
    std::string_view retry_after; // the Retry-After header, empty when absent
    std::string_view reason;      // a short transport message (libcurl's), no URL in it
    double elapsed_s = 0;
};

enum class Verdict
{
    Complete, // 2xx: the body (JSON) becomes the job's result
    Retry,    // a retryable failure: the retry policy decides when, or whether attempts are left
    Fail,     // permanent: retrying cannot help
};

struct CallDecision
{
    Verdict verdict = Verdict::Fail;
    int64_t min_delay_ms = 0; // Retry-After of a 429 or 503: the next attempt waits at least this
    std::string error;        // for last_error: status or transport, short reason, elapsed time
};

// The verdict on a call. 2xx completes; timeouts, connection failures, 408, 425, 429 and 5xx are
// retried (a Retry-After on 429 or 503 sets min_delay_ms); a cut-off body and any other status
// (other 4xx, 1xx, and 3xx: redirects are not followed) fail the job. `now` reads Retry-After
// dates. The error text holds no URL and no header but Retry-After's delay.
CallDecision decide_call(const CallOutcome &outcome, std::time_t now);

// Retry-After as delay-seconds or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), in
// milliseconds from `now` (0 for a date in the past); nothing for anything else. Capped at a day.
std::optional<int64_t> parse_retry_after(std::string_view value, std::time_t now);

// The delay before a retried job's next attempt: the retry policy's, but never less than what
// the endpoint asked for.
int64_t retry_delay_ms(const FailureDecision &policy, const CallDecision &call);

// Whether an endpoint URL may be registered: http:// or https:// (any case), a host, no
// credentials (user:password@ would end up in logs), no blank or control character. On
// refusal, `why` says what is wrong, without repeating the URL.
bool acceptable_endpoint(std::string_view url, std::string &why);

// Text without the blanks (spaces and tabs) HTTP allows around a header value.
std::string_view trim_http_blanks(std::string_view text);

// Bytes as lower-case hexadecimal (digests in signatures and in the shim's token check).
std::string lower_hex(const unsigned char *bytes, std::size_t count);

// What the endpoint's signature covers: the timestamp (Unix seconds), the method, the request
// target and the body's SHA-256 in lower-case hex, one per line.
std::string signature_base(int64_t timestamp, std::string_view method, std::string_view target,
                           std::string_view body_sha256_hex);

} // namespace regen::core
