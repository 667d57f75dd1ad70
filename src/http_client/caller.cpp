#include "caller.hpp"

#include <curl/curl.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace regen::http
{

namespace
{

using Clock = std::chrono::steady_clock;

bool
starts_with_ignoring_case(const char *text, std::size_t size, const char *prefix)
{
    std::size_t length = std::strlen(prefix);
    return size >= length && strncasecmp(text, prefix, length) == 0;
}

// How a finished transfer ended, from libcurl's code.
core::Transport
transport_of(CURLcode code, bool cut_off)
{
    if (cut_off || code == CURLE_FILESIZE_EXCEEDED)
        return core::Transport::TooLarge;
    switch (code)
    {
        case CURLE_OK:
            return core::Transport::Answered;
        case CURLE_OPERATION_TIMEDOUT:
            return core::Transport::TimedOut;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return core::Transport::ConnectFailed;
        default:
            return core::Transport::Broken;
    }
}

void
global_init_once()
{
    static std::once_flag done;
    std::call_once(done, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace

core::CallOutcome
CallResult::outcome() const
{
    core::CallOutcome outcome;
    outcome.transport = transport;
    outcome.status = status;
    outcome.retry_after = retry_after;
    outcome.reason = reason;
    outcome.elapsed_s = elapsed_s;
    return outcome;
}

// One transfer and what it has received so far.
struct Caller::Call
{
    CallResult result;
    CURL *easy = nullptr;
    std::string request_body;
    std::size_t sent = 0;
    std::size_t max_body = 0;
    bool cut_off = false;
    curl_slist *headers = nullptr;
    char error[CURL_ERROR_SIZE] = {};
    Clock::time_point started = Clock::now();

    static size_t on_body(char *data, size_t size, size_t count, void *self);
    static size_t on_send(char *buffer, size_t size, size_t count, void *self);
    static int on_seek(void *self, curl_off_t offset, int origin);
    static size_t on_header(char *data, size_t size, size_t count, void *self);
};

size_t
Caller::Call::on_body(char *data, size_t size, size_t count, void *self)
{
    auto *call = static_cast<Call *>(self);
    std::size_t bytes = size * count;
    if (call->result.body.size() + bytes > call->max_body)
    {
        // Returning less than was given ends the transfer (CURLE_WRITE_ERROR).
        call->cut_off = true;
        return 0;
    }
    // A body of known length gets its whole buffer at once: growing by doubling would hold up to
    // twice each answer while many arrive together.
    curl_off_t length = -1;
    if (call->result.body.empty() &&
        curl_easy_getinfo(call->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
        length > 0 && static_cast<std::size_t>(length) <= call->max_body)
        call->result.body.reserve(static_cast<std::size_t>(length));
    call->result.body.append(data, bytes);
    return bytes;
}

size_t
Caller::Call::on_send(char *buffer, size_t size, size_t count, void *self)
{
    auto *call = static_cast<Call *>(self);
    std::size_t bytes = std::min(size * count, call->request_body.size() - call->sent);
    std::memcpy(buffer, call->request_body.data() + call->sent, bytes);
    call->sent += bytes;
    return bytes;
}

// The body cannot be sent twice. libcurl resends a request on its own when a reused connection
// dies before any answer, up to five times; for a POST that may have reached the endpoint, that
// is for the retry policy to decide, once per attempt. So the call fails (broken connection,
// retried as an attempt) rather than rewinding.
int
Caller::Call::on_seek(void *, curl_off_t, int)
{
    return CURL_SEEKFUNC_CANTSEEK;
}

size_t
Caller::Call::on_header(char *data, size_t size, size_t count, void *self)
{
    auto *call = static_cast<Call *>(self);
    std::size_t bytes = size * count;
    constexpr const char *kRetryAfter = "retry-after:";

    // Headers of every response count, but only the last one's matter: a new status line
    // starts over.
    if (starts_with_ignoring_case(data, bytes, "HTTP/"))
        call->result.retry_after.clear();
    else if (starts_with_ignoring_case(data, bytes, kRetryAfter))
    {
        std::string_view value(data + std::strlen(kRetryAfter), bytes - std::strlen(kRetryAfter));
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
            value.remove_suffix(1);
        call->result.retry_after = std::string(core::trim_http_blanks(value).substr(0, 64));
    }
    return bytes;
}

struct Caller::Impl
{
    CURLM *multi = nullptr;
    std::size_t max_body = 0;
    std::unordered_map<CURL *, std::unique_ptr<Call>> calls;

    CallResult finish(CURL *easy, CURLcode code);
    void drop(CURL *easy);
};

Caller::Caller(std::size_t max_in_flight, std::size_t max_response_bytes)
    : max_in_flight_(1), impl_(std::make_unique<Impl>())
{
    global_init_once();
    impl_->multi = curl_multi_init();
    set_limits(max_in_flight, max_response_bytes);
}

void
Caller::set_limits(std::size_t max_in_flight, std::size_t max_response_bytes)
{
    max_in_flight_ = std::max<std::size_t>(1, max_in_flight);
    impl_->max_body = max_response_bytes;
    curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_in_flight_));
}

Caller::~Caller()
{
    abandon_all();
    curl_multi_cleanup(impl_->multi);
}

std::size_t
Caller::in_flight() const
{
    return impl_->calls.size();
}

void
Caller::start(const CallRequest &request)
{
    CURL *easy = curl_easy_init();
    auto call = std::make_unique<Call>();
    call->result.tag = request.tag;
    call->easy = easy;
    call->request_body = request.body;
    call->max_body = impl_->max_body;

    call->headers = curl_slist_append(call->headers, "Content-Type: application/json");
    call->headers = curl_slist_append(call->headers, "Accept: application/json");
    call->headers = curl_slist_append(call->headers, "Expect:"); // no 100-continue round trip
    for (const std::string &header : request.headers)
        call->headers = curl_slist_append(call->headers, header.c_str());

    // Redirects are not followed, only http and https are spoken, TLS is verified (libcurl's
    // defaults, set again so that nothing else can turn them off), libcurl sends no signals (a
    // drain process has its own handlers), and no proxy comes from the server's environment
    // (http_proxy and the like were set for something else, if at all).
    bool ok =
        easy != nullptr && call->headers != nullptr &&
        curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str()) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_PROXY, "") == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_POST, 1L) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size())) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, &Call::on_send) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_READDATA, call.get()) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &Call::on_seek) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_SEEKDATA, call.get()) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, std::max(1L, request.timeout_ms)) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(impl_->max_body)) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Call::on_body) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, call.get()) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Call::on_header) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, call.get()) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->error) == CURLE_OK &&
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "regen_queue") == CURLE_OK &&
        curl_multi_add_handle(impl_->multi, easy) == CURLM_OK;

    if (!ok)
    {
        // Reported like any failed call, at the next progress().
        call->result.transport = core::Transport::Broken;
        call->result.reason = "the call could not be started";
        if (easy != nullptr)
            curl_easy_cleanup(easy);
        curl_slist_free_all(call->headers);
        call->headers = nullptr;
        pending_failures_.push_back(std::move(call->result));
        return;
    }
    impl_->calls.emplace(easy, std::move(call));
}

CallResult
Caller::Impl::finish(CURL *easy, CURLcode code)
{
    Call &call = *calls.at(easy);
    CallResult result = std::move(call.result);

    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    result.status = status;
    result.transport = transport_of(code, call.cut_off);
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - call.started).count();
    if (result.transport != core::Transport::Answered)
    {
        result.reason = call.error[0] != '\0' ? call.error : curl_easy_strerror(code);
        if (result.transport == core::Transport::TooLarge)
            result.body.clear();
    }
    drop(easy);
    return result;
}

void
Caller::Impl::drop(CURL *easy)
{
    auto found = calls.find(easy);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    if (found != calls.end())
    {
        curl_slist_free_all(found->second->headers);
        calls.erase(found);
    }
}

std::vector<CallResult>
Caller::progress(int wait_ms)
{
    std::vector<CallResult> finished = std::move(pending_failures_);
    pending_failures_.clear();
    if (impl_->calls.empty())
        return finished;

    int running = 0;
    curl_multi_perform(impl_->multi, &running);
    if (finished.empty() && running == static_cast<int>(impl_->calls.size()) && wait_ms > 0)
    {
        curl_multi_poll(impl_->multi, nullptr, 0, wait_ms, nullptr);
        curl_multi_perform(impl_->multi, &running);
    }

    int queued = 0;
    while (CURLMsg *message = curl_multi_info_read(impl_->multi, &queued))
        if (message->msg == CURLMSG_DONE)
            finished.push_back(impl_->finish(message->easy_handle, message->data.result));
    return finished;
}

void
Caller::abandon_all()
{
    while (!impl_->calls.empty())
        impl_->drop(impl_->calls.begin()->first);
    pending_failures_.clear();
}

std::string
endpoint_problem(const std::string &url)
{
    std::string why;
    if (!core::acceptable_endpoint(url, why))
        return why;
    global_init_once();
    CURLU *parsed = curl_url();
    if (parsed == nullptr)
        throw std::bad_alloc();
    CURLUcode code = curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0);
    curl_url_cleanup(parsed);
    if (code != CURLUE_OK)
        return std::string("libcurl cannot parse it: ") + curl_url_strerror(code);
    return "";
}

std::string
target_as_sent(const std::string &url)
{
    global_init_once();
    CURLU *parsed = curl_url();
    if (parsed == nullptr)
        throw std::bad_alloc();
    std::string target;
    char *path = nullptr;
    char *query = nullptr;
    if (curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_PATH, &path, 0) == CURLUE_OK)
    {
        target = (path != nullptr && path[0] != '\0') ? path : "/";
        if (curl_url_get(parsed, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query != nullptr)
            target += std::string("?") + query;
    }
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(parsed);
    return target;
}

std::vector<std::string>
signature_headers(const std::string &secret, std::int64_t timestamp, const std::string &url,
                  const std::string &body)
{
    if (secret.empty())
        return {};

    unsigned char body_digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(body.data()), body.size(), body_digest);
    std::string base = core::signature_base(timestamp, "POST", target_as_sent(url),
                                            core::lower_hex(body_digest, sizeof body_digest));

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char *>(base.data()), base.size(), mac, &mac_length);

    return {"X-Regen-Timestamp: " + std::to_string(timestamp),
            "X-Regen-Signature: v1=" + core::lower_hex(mac, mac_length)};
}

} // namespace regen::http
