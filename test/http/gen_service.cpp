// Generation service: a test-only HTTP endpoint for HTTP handlers (issue 4), not part of the
// product. Integration tests and the benchmark register a job type's endpoint on it; the query
// string of that endpoint picks the answer (status, delay, body, a dropped connection, failures
// before success), and GET /stats reports what arrived. Flags and parameters: README.md here.
//
// Terms as in src/core/http_call.hpp: a *call* is one POST of one job; it is *accepted* when it
// passes the signature check (or no secret is set), *rejected* when it does not.

#include "core/http_call.hpp"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace
{

using std::chrono::milliseconds;

constexpr std::size_t kMaxRequestBytes = 1024 * 1024;
constexpr unsigned int kConnectionLimit = 1024;
constexpr int64_t kMaxPauseMs = 10 * 60 * 1000;
constexpr int64_t kMaxBodyBytes = 64 * 1024 * 1024;
constexpr int64_t kSlowPieces = 10;

struct Options
{
    uint16_t port = 0;
    std::string secret; // empty: calls are not checked
    int64_t max_skew_s = 300;
    int64_t max_seconds = 900;
};

Options options;

// One request while its body arrives; created from the request line, freed when it completes.
struct Request
{
    std::string target; // path and query as sent: what the signature covers
    std::string body;
    bool seen = false; // the handler has looked at the headers
    bool too_large = false;
};

// What arrived since the start or the last POST /reset.
struct Counters
{
    int64_t calls = 0;
    int64_t rejected = 0;
    int64_t in_flight = 0;
    int64_t max_in_flight = 0;
    std::map<std::string, int64_t> rejected_why; // by signature_problem()'s reason
    std::map<std::string, int64_t> jobs;
    std::map<std::string, int64_t> paths;
    std::string last = "null"; // JSON
};

std::mutex counters_mutex;
Counters counters;

// Latencies and slow bodies wait on this, so that stopping does not wait for them to run out.
std::mutex stop_mutex;
std::condition_variable stop_wake;
bool stopping = false;

// How to answer a call, from its query parameters.
struct Plan
{
    int64_t status = 200;
    int64_t latency_ms = 0;
    std::optional<std::string> retry_after;
    std::optional<std::string> body;
    std::optional<int64_t> body_bytes;
    int64_t slow_body_ms = 0;
    bool drop = false;
    int64_t fail_first = 0;
    int64_t fail_status = 503;
};

void
pause_for(milliseconds delay)
{
    std::unique_lock<std::mutex> lock(stop_mutex);
    stop_wake.wait_for(lock, delay, [] { return stopping; });
}

bool
is_stopping()
{
    std::lock_guard<std::mutex> lock(stop_mutex);
    return stopping;
}

std::string
json_string(std::string_view text)
{
    std::string out = "\"";
    for (char c : text)
    {
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\')
        {
            out += '\\';
            out += c;
        }
        else if (byte < 0x20 || byte == 0x7f)
        {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
            out += escaped;
        }
        else
            out += c;
    }
    out += '"';
    return out;
}

bool
parse_int(std::string_view text, int64_t low, int64_t high, int64_t &out)
{
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < low || value > high)
        return false;
    out = value;
    return true;
}

// --- Finding the job id in a body -----------------------------------------------------------
// Only the top-level "jobId" counts: the payload may hold a key of the same name.

std::size_t
skip_blanks(std::string_view json, std::size_t at)
{
    while (at < json.size() &&
           (json[at] == ' ' || json[at] == '\t' || json[at] == '\r' || json[at] == '\n'))
        at++;
    return at;
}

// Just past the string that opens at `at`; npos when it is not closed.
std::size_t
skip_string(std::string_view json, std::size_t at)
{
    for (std::size_t i = at + 1; i < json.size(); i++)
    {
        if (json[i] == '\\')
            i++;
        else if (json[i] == '"')
            return i + 1;
    }
    return std::string_view::npos;
}

// Just past the value that starts at `at`; npos when it does not end.
std::size_t
skip_value(std::string_view json, std::size_t at)
{
    if (at >= json.size())
        return std::string_view::npos;
    if (json[at] == '"')
        return skip_string(json, at);
    if (json[at] != '{' && json[at] != '[')
        return json.find_first_of(",}] \t\r\n", at); // a number, true, false or null

    int depth = 0;
    for (std::size_t i = at; i < json.size(); i++)
    {
        if (json[i] == '"')
        {
            i = skip_string(json, i);
            if (i == std::string_view::npos)
                return i;
            i--; // the loop steps past the closing quote
        }
        else if (json[i] == '{' || json[i] == '[')
            depth++;
        else if ((json[i] == '}' || json[i] == ']') && --depth == 0)
            return i + 1;
    }
    return std::string_view::npos;
}

// The string value of the top-level "jobId", as written; "" when there is none.
std::string
job_id_of(std::string_view json)
{
    std::size_t at = skip_blanks(json, 0);
    if (at >= json.size() || json[at] != '{')
        return "";
    at = skip_blanks(json, at + 1);

    while (at < json.size() && json[at] == '"')
    {
        std::size_t key_end = skip_string(json, at);
        if (key_end == std::string_view::npos)
            return "";
        std::string_view key = json.substr(at + 1, key_end - at - 2);
        at = skip_blanks(json, key_end);
        if (at >= json.size() || json[at] != ':')
            return "";
        at = skip_blanks(json, at + 1);

        std::size_t value_end = skip_value(json, at);
        if (value_end == std::string_view::npos)
            return "";
        if (key == "jobId")
            return json[at] == '"' ? std::string(json.substr(at + 1, value_end - at - 2)) : "";

        at = skip_blanks(json, value_end);
        if (at >= json.size() || json[at] != ',')
            return "";
        at = skip_blanks(json, at + 1);
    }
    return "";
}

// --- Answers ------------------------------------------------------------------------------

// A body sent in pieces, each after a pause, so that the client's transfer spans the time.
struct SlowBody
{
    std::string text;
    std::size_t piece = 1;
    milliseconds gap{0};
};

ssize_t
send_slow_piece(void *cls, uint64_t position, char *buffer, size_t max)
{
    auto *slow = static_cast<SlowBody *>(cls);
    if (position >= slow->text.size())
        return MHD_CONTENT_READER_END_OF_STREAM;

    // libmicrohttpd may ask for less than a piece at a time; only a piece's first bytes wait.
    if (position % slow->piece == 0)
    {
        pause_for(slow->gap);
        if (is_stopping())
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }

    std::size_t piece_left = slow->piece - position % slow->piece;
    std::size_t count = std::min({piece_left, max, slow->text.size() - position});
    std::memcpy(buffer, slow->text.data() + position, count);
    return static_cast<ssize_t>(count);
}

MHD_Result
queue(MHD_Connection *connection, unsigned int status, MHD_Response *response,
      const std::optional<std::string> &retry_after = std::nullopt)
{
    if (response == nullptr)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after && MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER,
                                               retry_after->c_str()) != MHD_YES)
    {
        MHD_destroy_response(response);
        return MHD_NO; // out of memory: read_plan has refused every value it would not take
    }
    MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

MHD_Result
respond(MHD_Connection *connection, unsigned int status, const std::string &body,
        const std::optional<std::string> &retry_after = std::nullopt)
{
    MHD_Response *response = MHD_create_response_from_buffer(
        body.size(), const_cast<char *>(body.data()), MHD_RESPMEM_MUST_COPY);
    return queue(connection, status, response, retry_after);
}

MHD_Result
respond_slowly(MHD_Connection *connection, unsigned int status, std::string body, int64_t spread_ms,
               const std::optional<std::string> &retry_after)
{
    auto *slow = new SlowBody;
    slow->piece = std::max<std::size_t>(1, (body.size() + kSlowPieces - 1) / kSlowPieces);
    std::size_t pieces = (body.size() + slow->piece - 1) / slow->piece;
    slow->gap = milliseconds(pieces == 0 ? 0 : spread_ms / static_cast<int64_t>(pieces));
    slow->text = std::move(body);

    MHD_Response *response =
        MHD_create_response_from_callback(slow->text.size(), 64 * 1024, &send_slow_piece, slow,
                                          [](void *cls) { delete static_cast<SlowBody *>(cls); });
    if (response == nullptr)
        delete slow;
    return queue(connection, status, response, retry_after);
}

MHD_Result
respond_error(MHD_Connection *connection, unsigned int status, std::string_view error,
              std::string_view detail_key = {}, std::string_view detail = {})
{
    std::string body = "{\"error\":" + json_string(error);
    if (!detail_key.empty())
        body += "," + json_string(detail_key) + ":" + json_string(detail);
    return respond(connection, status, body + "}");
}

// --- Query parameters ----------------------------------------------------------------------

std::optional<std::string>
query_value(MHD_Connection *connection, const char *name)
{
    const char *value = nullptr;
    std::size_t size = 0;
    if (MHD_lookup_connection_value_n(connection, MHD_GET_ARGUMENT_KIND, name, std::strlen(name),
                                      &value, &size) != MHD_YES)
        return std::nullopt;
    return value == nullptr ? std::string() : std::string(value, size);
}

// Reads the plan; on a bad parameter, names it in `bad` and returns false.
bool
read_plan(MHD_Connection *connection, Plan &plan, std::string &bad)
{
    struct Number
    {
        const char *name;
        int64_t low, high;
        int64_t *out;
    };
    // 1xx are interim answers, not final ones: a client would wait for the real answer.
    const Number numbers[] = {
        {"status", 200, 599, &plan.status},
        {"latency_ms", 0, kMaxPauseMs, &plan.latency_ms},
        {"slow_body_ms", 0, kMaxPauseMs, &plan.slow_body_ms},
        {"fail_first", 0, INT64_MAX, &plan.fail_first},
        {"fail_status", 200, 599, &plan.fail_status},
    };
    for (const Number &number : numbers)
    {
        std::optional<std::string> text = query_value(connection, number.name);
        if (text && !parse_int(*text, number.low, number.high, *number.out))
        {
            bad = number.name;
            return false;
        }
    }

    if (std::optional<std::string> text = query_value(connection, "body_bytes"))
    {
        int64_t bytes = 0;
        if (!parse_int(*text, 2, kMaxBodyBytes, bytes)) // 2: the quotes
        {
            bad = "body_bytes";
            return false;
        }
        plan.body_bytes = bytes;
    }

    if (std::optional<std::string> drop = query_value(connection, "drop"))
    {
        if (*drop != "0" && *drop != "1")
        {
            bad = "drop";
            return false;
        }
        plan.drop = *drop == "1";
    }

    // libmicrohttpd refuses an empty header value, and one with a line break or NUL in it.
    plan.retry_after = query_value(connection, "retry_after");
    if (plan.retry_after &&
        (plan.retry_after->empty() ||
         plan.retry_after->find_first_of(std::string("\r\n\0", 3)) != std::string::npos))
    {
        bad = "retry_after";
        return false;
    }

    plan.body = query_value(connection, "body");
    return true;
}

// --- Signature ---------------------------------------------------------------------------

std::string_view
header_value(MHD_Connection *connection, const char *name)
{
    const char *value = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
    return regen::core::trim_http_blanks(value == nullptr ? std::string_view() : value);
}

bool
is_lower_hex(std::string_view text)
{
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string
expected_signature(int64_t timestamp, const Request &request)
{
    unsigned char body_digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(request.body.data()), request.body.size(),
           body_digest);
    std::string base = regen::core::signature_base(
        timestamp, "POST", request.target, regen::core::lower_hex(body_digest, sizeof body_digest));

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    HMAC(EVP_sha256(), options.secret.data(), static_cast<int>(options.secret.size()),
         reinterpret_cast<const unsigned char *>(base.data()), base.size(), mac, &mac_length);
    return regen::core::lower_hex(mac, mac_length);
}

// Why a call is rejected ("missing", "malformed", "stale", "mismatch"), or "" when accepted.
std::string_view
signature_problem(MHD_Connection *connection, const Request &request)
{
    if (options.secret.empty())
        return "";

    std::string_view timestamp_text = header_value(connection, "X-Regen-Timestamp");
    std::string_view signature = header_value(connection, "X-Regen-Signature");
    if (timestamp_text.empty() || signature.empty())
        return "missing";

    constexpr std::string_view kScheme = "v1=";
    int64_t timestamp = 0;
    bool digits_only = timestamp_text.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits_only || !parse_int(timestamp_text, 0, INT64_MAX, timestamp) ||
        signature.substr(0, kScheme.size()) != kScheme)
        return "malformed";
    std::string_view mac = signature.substr(kScheme.size());
    if (mac.size() != 2 * SHA256_DIGEST_LENGTH || !is_lower_hex(mac))
        return "malformed";

    int64_t now = static_cast<int64_t>(std::time(nullptr));
    if (timestamp > now + options.max_skew_s || timestamp < now - options.max_skew_s)
        return "stale";

    std::string expected = expected_signature(timestamp, request);
    if (CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) != 0)
        return "mismatch";
    return "";
}

// --- Routes ------------------------------------------------------------------------------

std::string
counts_json(const std::map<std::string, int64_t> &counts)
{
    std::string out = "{";
    for (const auto &[key, calls] : counts)
    {
        if (out.size() > 1)
            out += ',';
        out += json_string(key) + ":" + std::to_string(calls);
    }
    return out + "}";
}

std::string
stats_json()
{
    std::lock_guard<std::mutex> lock(counters_mutex);
    return "{\"calls\":" + std::to_string(counters.calls) +
           ",\"rejected\":" + std::to_string(counters.rejected) +
           ",\"rejected_why\":" + counts_json(counters.rejected_why) +
           ",\"in_flight\":" + std::to_string(counters.in_flight) +
           ",\"max_in_flight\":" + std::to_string(counters.max_in_flight) +
           ",\"jobs\":" + counts_json(counters.jobs) + ",\"paths\":" + counts_json(counters.paths) +
           ",\"last\":" + counters.last + "}";
}

void
reset_counters()
{
    std::lock_guard<std::mutex> lock(counters_mutex);
    int64_t in_flight = counters.in_flight; // calls being answered still end and count down
    counters = Counters();
    counters.in_flight = in_flight;
    counters.max_in_flight = in_flight;
}

// A header's value as received, as JSON; null when the header is absent.
std::string
header_json(MHD_Connection *connection, const char *name)
{
    const char *value = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
    return value == nullptr ? "null" : json_string(value);
}

// Counts an accepted call and marks it in flight; returns its number among its job's calls.
int64_t
count_call(MHD_Connection *connection, const Request &request, const std::string &job_id,
           const std::string &path)
{
    std::string last = "{\"target\":" + json_string(request.target) +
                       ",\"timestamp\":" + header_json(connection, "X-Regen-Timestamp") +
                       ",\"signature\":" + header_json(connection, "X-Regen-Signature") +
                       ",\"content_type\":" + header_json(connection, "Content-Type") +
                       ",\"body\":" + json_string(request.body) + "}";

    std::lock_guard<std::mutex> lock(counters_mutex);
    counters.calls++;
    counters.paths[path]++;
    counters.last = std::move(last);
    counters.in_flight++;
    counters.max_in_flight = std::max(counters.max_in_flight, counters.in_flight);
    return ++counters.jobs[job_id];
}

void
call_done()
{
    std::lock_guard<std::mutex> lock(counters_mutex);
    counters.in_flight--;
}

std::string
answer_body(const Plan &plan, const std::string &job_id, int64_t call, const std::string &path)
{
    if (plan.body_bytes)
        return "\"" + std::string(static_cast<std::size_t>(*plan.body_bytes - 2), 'x') + "\"";
    if (plan.body)
        return *plan.body;
    return "{\"ok\":true,\"jobId\":" + json_string(job_id) + ",\"call\":" + std::to_string(call) +
           ",\"path\":" + json_string(path) + "}";
}

MHD_Result
answer_call(MHD_Connection *connection, const Request &request, const std::string &path)
{
    if (request.too_large)
        return respond_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large");

    Plan plan;
    std::string bad;
    if (!read_plan(connection, plan, bad))
        return respond_error(connection, MHD_HTTP_BAD_REQUEST, "bad_parameter", "name", bad);

    std::string_view problem = signature_problem(connection, request);
    if (!problem.empty())
    {
        {
            std::lock_guard<std::mutex> lock(counters_mutex);
            counters.rejected++;
            counters.rejected_why[std::string(problem)]++;
        }
        return respond_error(connection, MHD_HTTP_UNAUTHORIZED, "bad_signature", "why", problem);
    }

    std::string job_id = job_id_of(request.body);
    int64_t call = count_call(connection, request, job_id, path);
    pause_for(milliseconds(plan.latency_ms));

    // MHD_NO closes the connection with nothing written: the client sees it broken. A call cut
    // short by shutdown gets the same, rather than an answer that came too early.
    if (plan.drop || is_stopping())
    {
        call_done();
        return MHD_NO;
    }

    auto status =
        static_cast<unsigned int>(call <= plan.fail_first ? plan.fail_status : plan.status);
    std::string body = answer_body(plan, job_id, call, path);
    MHD_Result queued = plan.slow_body_ms > 0 ? respond_slowly(connection, status, std::move(body),
                                                               plan.slow_body_ms, plan.retry_after)
                                              : respond(connection, status, body, plan.retry_after);
    call_done();
    return queued;
}

MHD_Result
answer(MHD_Connection *connection, std::string_view method, const Request &request)
{
    std::string path = request.target.substr(0, request.target.find('?'));
    bool post = method == MHD_HTTP_METHOD_POST;

    if (path == "/stats" && method == MHD_HTTP_METHOD_GET)
        return respond(connection, MHD_HTTP_OK, stats_json());
    if (path == "/reset" && post)
    {
        reset_counters();
        return respond(connection, MHD_HTTP_OK, "{\"ok\":true}");
    }
    if (!post || path == "/stats")
        return respond_error(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
    return answer_call(connection, request, path);
}

// A body declared too large is refused before it is read; a chunked one is read and dropped.
bool
declares_too_much(MHD_Connection *connection)
{
    const char *length =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t bytes = 0;
    return length != nullptr && parse_int(length, 0, INT64_MAX, bytes) &&
           static_cast<uint64_t>(bytes) > kMaxRequestBytes;
}

MHD_Result
on_request(void *, MHD_Connection *connection, const char *, const char *method, const char *,
           const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    auto *request = static_cast<Request *>(*req_cls);
    if (request == nullptr)
        return MHD_NO; // the request-line callback failed to allocate

    if (!request->seen)
    {
        request->seen = true;
        if (declares_too_much(connection))
            return respond_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large");
        return MHD_YES;
    }

    if (*upload_data_size > 0)
    {
        if (request->body.size() + *upload_data_size > kMaxRequestBytes)
            request->too_large = true;
        else
            request->body.append(upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(connection, method, *request);
}

// Called with the request target before libmicrohttpd decodes it: the signature covers it as
// sent, and the query parameters are read decoded from libmicrohttpd later.
void *
on_request_line(void *, const char *uri, MHD_Connection *)
{
    auto *request = new (std::nothrow) Request;
    if (request != nullptr)
        request->target = uri;
    return request;
}

void
on_completed(void *, MHD_Connection *, void **req_cls, MHD_RequestTerminationCode)
{
    delete static_cast<Request *>(*req_cls);
    *req_cls = nullptr;
}

// --- Start and stop ----------------------------------------------------------------------

void
usage(const char *program)
{
    std::fprintf(stderr,
                 "usage: %s --port N [--secret S] [--max-skew SECONDS] [--max-seconds N] "
                 "[--threads]\n",
                 program);
}

bool
parse_options(int argc, char **argv)
{
    bool have_port = false;
    for (int i = 1; i < argc; i++)
    {
        std::string_view flag = argv[i];
        if (flag == "--threads")
            continue; // thread per connection is the only mode; accepted for scripts that ask
        if (i + 1 >= argc)
        {
            std::fprintf(stderr, "%s needs a value\n", argv[i]);
            return false;
        }
        std::string_view value = argv[++i];
        int64_t number = 0;
        if (flag == "--port" && parse_int(value, 1, 65535, number))
        {
            options.port = static_cast<uint16_t>(number);
            have_port = true;
        }
        else if (flag == "--secret" && !value.empty())
            options.secret = value;
        else if (flag == "--max-skew" && parse_int(value, 0, 365LL * 24 * 3600, number))
            options.max_skew_s = number;
        else if (flag == "--max-seconds" && parse_int(value, 1, 7LL * 24 * 3600, number))
            options.max_seconds = number;
        else
        {
            std::fprintf(stderr, "bad option %s %s\n", argv[i - 1], argv[i]);
            return false;
        }
    }
    if (!have_port)
        std::fprintf(stderr, "--port is required\n");
    return have_port;
}

MHD_Daemon *
start_daemon()
{
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(options.port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    // poll(), not select(): with hundreds of connections, descriptors pass FD_SETSIZE.
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    // clang-format off
    return MHD_start_daemon(
        flags, options.port, nullptr, nullptr, &on_request, nullptr,
        MHD_OPTION_SOCK_ADDR, &address,
        MHD_OPTION_CONNECTION_LIMIT, kConnectionLimit,
        MHD_OPTION_URI_LOG_CALLBACK, &on_request_line, nullptr,
        MHD_OPTION_NOTIFY_COMPLETED, &on_completed, nullptr,
        MHD_OPTION_END);
    // clang-format on
}

// Waits for SIGTERM or SIGINT, or for --max-seconds to pass.
void
wait_for_stop(const sigset_t &signals)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.max_seconds);
    for (;;)
    {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero())
        {
            std::fprintf(stderr, "stopping: --max-seconds %lld passed\n",
                         static_cast<long long>(options.max_seconds));
            return;
        }
        auto left_ms = std::chrono::duration_cast<milliseconds>(left).count() + 1;
        timespec wait = {static_cast<time_t>(left_ms / 1000),
                         static_cast<long>(left_ms % 1000) * 1000000L};
        int signal_number = sigtimedwait(&signals, nullptr, &wait);
        if (signal_number > 0)
            return;
    }
}

} // namespace

int
main(int argc, char **argv)
{
    if (!parse_options(argc, argv))
    {
        usage(argv[0]);
        return 2;
    }

    // Blocked before libmicrohttpd starts its threads, so that only sigtimedwait sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    MHD_Daemon *daemon = start_daemon();
    if (daemon == nullptr)
    {
        std::fprintf(stderr, "cannot listen on 127.0.0.1:%u (port taken?)\n",
                     static_cast<unsigned int>(options.port));
        return 1;
    }
    std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned int>(options.port));
    std::fflush(stdout);

    wait_for_stop(signals);

    {
        std::lock_guard<std::mutex> lock(stop_mutex);
        stopping = true;
    }
    stop_wake.notify_all();
    MHD_stop_daemon(daemon);
    return 0;
}
