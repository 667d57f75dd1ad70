#include "server.hpp"

#include "log.hpp"
#include "request.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace regen::shim
{

using Clock = std::chrono::steady_clock;

// What the shim keeps of one request while it arrives and is answered.
struct Server::Request
{
    Clock::time_point started = Clock::now();
    RouteMatch match;
    std::string method;
    std::string path;
    std::string version;
    std::string body;
    bool checked = false;   // route, method and length have been looked at
    bool answering = false; // the whole request is here and a route works on it
    int status = 0;         // what was answered; 0 until then
};

namespace
{

constexpr auto kGuardTick = std::chrono::milliseconds(200);

// The headers as sent, with their lengths: a value with a NUL inside stays whole, so that
// "Bearer <token>\0junk" is not taken for "Bearer <token>".
HeaderList
request_headers(MHD_Connection *connection)
{
    HeaderList headers;
    MHD_get_connection_values_n(
        connection, MHD_HEADER_KIND,
        [](void *cls, MHD_ValueKind, const char *key, size_t key_size, const char *value,
           size_t value_size)
        {
            static_cast<HeaderList *>(cls)->emplace_back(
                std::string(key, key_size),
                value != nullptr ? std::string(value, value_size) : std::string());
            return MHD_YES;
        },
        &headers);
    return headers;
}

// Paths are routed as sent: "%2F" must not become a "/" that a proxy in front never saw, nor
// "%00" end the path early. None of the routes needs a percent-encoded character.
size_t
keep_escaped(void *, MHD_Connection *, char *text)
{
    return std::strlen(text);
}

// libmicrohttpd's own messages (a malformed request it refused itself, say), in our format.
void
log_from_microhttpd(void *, const char *format, va_list args)
{
    log_line_v(format, args);
}

double
seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

Server::Server(const Options &options, Database &database) : options_(options), database_(database)
{
}

Server::~Server()
{
    if (daemon_ != nullptr)
        shut_down(std::chrono::seconds(0));
}

bool
Server::start()
{
    struct sockaddr_storage address = {};
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_ITC | MHD_USE_ERROR_LOG;
    auto *v4 = reinterpret_cast<sockaddr_in *>(&address);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&address);
    if (inet_pton(AF_INET, options_.listen_host.c_str(), &v4->sin_addr) == 1)
    {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(options_.listen_port);
    }
    else if (inet_pton(AF_INET6, options_.listen_host.c_str(), &v6->sin6_addr) == 1)
    {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(options_.listen_port);
        flags |= MHD_USE_IPv6;
    }

    // Each connection's memory (headers and MHD's buffers) is bounded; bodies are ours to
    // bound, by --max-body.
    // clang-format off
    daemon_ = MHD_start_daemon(
        flags, 0, nullptr, nullptr, &Server::on_request, this,
        MHD_OPTION_EXTERNAL_LOGGER, &log_from_microhttpd, nullptr, // first: it logs the others
        MHD_OPTION_SOCK_ADDR, &address,
        MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(options_.max_connections),
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned int>(options_.request_timeout_s),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(32 * 1024),
        MHD_OPTION_THREAD_STACK_SIZE, static_cast<size_t>(512 * 1024),
        MHD_OPTION_UNESCAPE_CALLBACK, &keep_escaped, nullptr,
        MHD_OPTION_URI_LOG_CALLBACK, &Server::on_request_line, this,
        MHD_OPTION_NOTIFY_COMPLETED, &Server::on_completed, this,
        MHD_OPTION_NOTIFY_CONNECTION, &Server::on_connection, this,
        MHD_OPTION_END);
    // clang-format on
    if (daemon_ == nullptr)
    {
        log_line("cannot listen on %s port %u: %s", options_.listen_host.c_str(),
                 options_.listen_port, std::strerror(errno));
        return false;
    }

    guard_ = std::thread(&Server::guard_loop, this);
    log_line("listening on %s port %u", options_.listen_host.c_str(), options_.listen_port);
    return true;
}

void
Server::shut_down(std::chrono::seconds grace)
{
    stopping_ = true;
    MHD_socket listener = MHD_quiesce_daemon(daemon_);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);

    // Requests being received or answered may finish; idle connections are closed now, and
    // others as soon as they fall idle.
    Clock::time_point deadline = Clock::now() + grace;
    for (;;)
    {
        int busy = 0;
        {
            std::lock_guard<std::mutex> lock(connections_mutex_);
            for (auto &[connection, state] : connections_)
                if (state.phase == Phase::Idle && !state.cut)
                {
                    shutdown(state.fd, SHUT_RDWR);
                    state.cut = true;
                }
                else if (state.phase != Phase::Idle)
                    busy++;
        }
        if (busy == 0 || Clock::now() >= deadline)
        {
            if (busy > 0)
                cut_off(busy, grace);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    {
        std::lock_guard<std::mutex> lock(guard_mutex_);
        guard_stop_ = true;
    }
    guard_wake_.notify_all();
    if (guard_.joinable())
        guard_.join();
    MHD_stop_daemon(daemon_);
    daemon_ = nullptr;
}

// Statements still running are cancelled (a drain goes on in its database worker and commits
// what it finishes) and their clients cut off, so that stopping takes --shutdown-timeout and
// not as long as the longest drain.
void
Server::cut_off(int busy, std::chrono::seconds grace)
{
    log_line("stopping with %d request(s) unfinished after %lld s", busy,
             static_cast<long long>(grace.count()));
    database_.cancel_in_use();

    std::lock_guard<std::mutex> lock(connections_mutex_);
    for (auto &[connection, state] : connections_)
        if (!state.cut)
        {
            shutdown(state.fd, SHUT_RDWR);
            state.cut = true;
        }
}

void
Server::guard_loop()
{
    const auto limit = std::chrono::seconds(options_.request_timeout_s);
    std::unique_lock<std::mutex> guard_lock(guard_mutex_);

    while (!guard_wake_.wait_for(guard_lock, kGuardTick, [this] { return guard_stop_; }))
    {
        Clock::time_point now = Clock::now();
        std::lock_guard<std::mutex> lock(connections_mutex_);
        for (auto &[connection, state] : connections_)
        {
            // A connection holds its thread while a request trickles in, so a client has
            // --request-timeout to send a whole request (or to start the next one). MHD's
            // own timeout only closes connections that stay silent for that long.
            bool too_slow = state.phase != Phase::Answering && now - state.since > limit;
            if (!state.cut && too_slow)
            {
                if (state.phase == Phase::Receiving)
                    log_line("closed a connection: its request did not arrive within %d s",
                             options_.request_timeout_s);
                // The socket stays open until MHD's connection-closed notification, which
                // takes connections_mutex_ first, so this fd is still this connection's.
                shutdown(state.fd, SHUT_RDWR);
                state.cut = true;
            }
        }
    }
}

void
Server::on_connection(void *cls, MHD_Connection *connection, void **,
                      MHD_ConnectionNotificationCode code)
{
    auto *server = static_cast<Server *>(cls);
    std::lock_guard<std::mutex> lock(server->connections_mutex_);

    if (code == MHD_CONNECTION_NOTIFY_STARTED)
    {
        const MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        ConnectionState state;
        state.fd = info != nullptr ? info->connect_fd : -1;
        state.since = Clock::now();
        server->connections_[connection] = state;
    }
    else
        server->connections_.erase(connection);
}

void
Server::set_phase(MHD_Connection *connection, Phase phase)
{
    std::lock_guard<std::mutex> lock(connections_mutex_);
    auto found = connections_.find(connection);
    if (found != connections_.end())
    {
        found->second.phase = phase;
        found->second.since = Clock::now();
    }
}

void *
Server::on_request_line(void *cls, const char *, MHD_Connection *connection)
{
    auto *server = static_cast<Server *>(cls);
    {
        // The request's clock starts when its first line has come (or, for the first request
        // of a connection, when it was accepted).
        std::lock_guard<std::mutex> lock(server->connections_mutex_);
        auto found = server->connections_.find(connection);
        if (found != server->connections_.end() && found->second.phase == Phase::Idle)
            found->second.phase = Phase::Receiving;
    }
    return new Request();
}

void
Server::on_completed(void *cls, MHD_Connection *connection, void **req_cls,
                     MHD_RequestTerminationCode code)
{
    auto *server = static_cast<Server *>(cls);
    auto *request = static_cast<Request *>(*req_cls);
    *req_cls = nullptr;

    if (request != nullptr)
    {
        if (request->status != 0)
        {
            double seconds = seconds_since(request->started);
            server->metrics_.record_request(request->match.route, request->status, seconds);
            bool known = request->match.route != Route::Unknown;
            log_line("%s %s %d %.2f ms%s", printable(request->method, 16).c_str(),
                     known ? route_name(request->match.route) : printable(request->path).c_str(),
                     request->status, seconds * 1000.0,
                     code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection lost)");
        }
        delete request;
    }
    server->set_phase(connection, Phase::Idle);
}

MHD_Result
Server::on_request(void *cls, MHD_Connection *connection, const char *url, const char *method,
                   const char *version, const char *upload_data, size_t *upload_data_size,
                   void **req_cls)
{
    auto *server = static_cast<Server *>(cls);
    if (*req_cls == nullptr)
        *req_cls = new Request();
    auto *request = static_cast<Request *>(*req_cls);

    try
    {
        if (!request->checked)
        {
            request->checked = true;
            request->method = method;
            request->path = url;
            request->version = version;
            request->match = match_route(url);
            return server->look_at_headers(connection, *request);
        }
        return server->receive(connection, *request, upload_data, upload_data_size);
    }
    catch (const std::exception &error)
    {
        log_line("internal error answering %s: %s", route_name(request->match.route), error.what());
        if (request->status != 0)
            return MHD_NO;
        return server->send(connection, *request, error_answer(500, "internal_error"));
    }
}

MHD_Result
Server::look_at_headers(MHD_Connection *connection, Request &request)
{
    // The headers are here and the body (if any) is not: refuse what needs no body first.
    if (const char *problem = framing_problem(request_headers(connection), request.version))
        return send(connection, request, error_answer(400, "bad_request", problem));
    if (request.match.route == Route::Unknown)
        return send(connection, request, error_answer(404, "not_found"));
    if (!method_allowed(request.match.route, request.method))
        return send(connection, request, error_answer(405, "method_not_allowed"));

    const char *length =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != nullptr)
    {
        std::optional<std::uint64_t> bytes = parse_content_length(length);
        if (bytes && *bytes > options_.max_body_bytes)
            return send(connection, request, error_answer(413, "payload_too_large"));
    }
    return MHD_YES;
}

MHD_Result
Server::receive(MHD_Connection *connection, Request &request, const char *upload_data,
                size_t *upload_data_size)
{
    if (*upload_data_size > 0)
    {
        // A body without Content-Length (chunked) that passes the limit: there is no way to
        // answer before it has all arrived, so the connection is closed instead.
        if (request.body.size() + *upload_data_size > options_.max_body_bytes)
        {
            log_line("closed a connection: its %s body passed %llu bytes",
                     printable(request.method, 16).c_str(),
                     static_cast<unsigned long long>(options_.max_body_bytes));
            return MHD_NO;
        }
        request.body.append(upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (request.status != 0)
        return MHD_YES; // answered already (404, 405, 413)

    set_phase(connection, Phase::Answering);
    request.answering = true;
    Answer answer = route(connection, request);
    return send(connection, request, answer);
}

Answer
Server::route(MHD_Connection *connection, Request &request)
{
    switch (request.match.route)
    {
        case Route::Enqueue:
            return enqueue(connection, request);
        case Route::Drain:
            return drain(connection);
        case Route::Health:
            return health();
        case Route::Metrics:
            return metrics();
        case Route::Unknown:
            break;
    }
    return error_answer(404, "not_found");
}

namespace
{

Answer
no_connection(bool busy)
{
    Answer answer = error_answer(503, busy ? "server_busy" : "database_unavailable");
    answer.retry_later = true;
    return answer;
}

// The answer to a failed statement, and a log line when it is the shim's or the server's
// problem rather than the client's.
Answer
failed(SqlStep step, const char *what, const SqlResult &result)
{
    Answer answer = answer_sql_error(step, result.error);
    if (answer.status >= 500)
        log_line("%s failed: %s%s%s", what,
                 result.error.sqlstate.empty() ? "" : result.error.sqlstate.c_str(),
                 result.error.sqlstate.empty() ? "" : ": ", result.error.message.c_str());
    return answer;
}

} // namespace

std::optional<Answer>
Server::authorize(MHD_Connection *connection, Database::Lease &lease)
{
    TokenResult token = extract_token(request_headers(connection));
    SqlResult checked =
        lease.check_token(token.presence == TokenPresence::Present ? &token.token : nullptr);
    if (!checked.ok)
        return failed(SqlStep::TokenCheck, "token check", checked);
    if (checked.row.empty() || checked.row[0] != "t")
        return error_answer(401, "unauthorized");

    // Without a token configured (outside production) the check passes whatever was sent,
    // but a request that sends both headers, one twice, or an empty one is refused all the
    // same: its sender is misconfigured and should hear so now, not when a token is set.
    if (token.presence == TokenPresence::Malformed)
        return error_answer(401, "unauthorized");
    return std::nullopt;
}

template <typename Route>
Answer
Server::with_authorized_lease(MHD_Connection *connection, Route route)
{
    bool busy = false;
    std::optional<Database::Lease> lease = database_.acquire(busy);
    if (!lease)
        return no_connection(busy);
    if (std::optional<Answer> refused = authorize(connection, *lease))
        return *refused;
    return route(*lease);
}

Answer
Server::enqueue(MHD_Connection *connection, Request &request)
{
    return with_authorized_lease(
        connection,
        [&](Database::Lease &lease) -> Answer
        {
            if (!is_canonical_uuid(request.match.plan_id))
                return {400, error_body("invalid_plan_id", "planId must be a uuid", "planId")};
            UserIdResult user = extract_user_id(request_headers(connection));
            if (user.presence == UserIdPresence::Invalid)
                return {400,
                        error_body("invalid_user_id", "x-user-id must be one uuid", "x-user-id")};
            // libpq passes parameters as C strings: a NUL would cut the body short unnoticed.
            if (request.body.find('\0') != std::string::npos)
                return {400, error_body("invalid_json", "the body contains a NUL byte")};

            SqlResult queued =
                lease.enqueue(request.match.plan_id, request.body,
                              user.presence == UserIdPresence::Present ? &user.user_id : nullptr);
            if (!queued.ok)
                return failed(SqlStep::Enqueue, "regen_enqueue()", queued);
            return enqueued_answer(queued.row.at(1), queued.row.at(0), queued.row.at(2));
        });
}

Answer
Server::drain(MHD_Connection *connection)
{
    return with_authorized_lease(connection,
                                 [&](Database::Lease &lease) -> Answer
                                 {
                                     SqlResult drained = lease.drain();
                                     if (!drained.ok)
                                     {
                                         metrics_.record_drain(false, {});
                                         return failed(SqlStep::Drain, "regen_drain()", drained);
                                     }
                                     DrainCounts counts;
                                     counts.processed = std::stoll(drained.row.at(1));
                                     counts.completed = std::stoll(drained.row.at(2));
                                     counts.failed = std::stoll(drained.row.at(3));
                                     metrics_.record_drain(true, counts);
                                     return drained_answer(drained.row.at(0));
                                 });
}

Answer
Server::health()
{
    bool busy = false;
    std::optional<Database::Lease> lease = database_.acquire(busy, Database::Use::Monitor);
    if (!lease)
        return no_connection(busy);
    SqlResult pong = lease->ping();
    if (!pong.ok)
        return failed(SqlStep::Drain, "health check", pong);
    return {200, "{\"ok\":true,\"database\":\"up\"}"};
}

Answer
Server::metrics()
{
    std::optional<QueueStats> stats;
    bool busy = false;
    if (std::optional<Database::Lease> lease = database_.acquire(busy, Database::Use::Monitor))
    {
        SqlResult row = lease->stats();
        if (row.ok && row.row.size() == 8)
        {
            QueueStats s;
            s.pending = std::stoll(row.row[0]);
            s.due = std::stoll(row.row[1]);
            s.processing = std::stoll(row.row[2]);
            s.completed = std::stoll(row.row[3]);
            s.failed = std::stoll(row.row[4]);
            s.oldest_pending_age_seconds = std::stod(row.row[5]);
            s.expired_leases = std::stoll(row.row[6]);
            s.failed_last_hour = std::stoll(row.row[7]);
            stats = s;
        }
        else if (!row.ok)
            failed(SqlStep::Drain, "regen_stats()", row);
    }

    int in_flight = 0;
    {
        std::lock_guard<std::mutex> lock(connections_mutex_);
        for (const auto &[connection, state] : connections_)
            in_flight += state.phase == Phase::Answering ? 1 : 0;
    }
    return {200, metrics_.render(stats, in_flight)};
}

MHD_Result
Server::send(MHD_Connection *connection, Request &request, const Answer &answer,
             const char *content_type)
{
    if (request.match.route == Route::Metrics && answer.status == 200)
        content_type = "text/plain; version=0.0.4; charset=utf-8";

    MHD_Response *response = MHD_create_response_from_buffer(
        answer.body.size(), const_cast<char *>(answer.body.data()), MHD_RESPMEM_MUST_COPY);
    if (response == nullptr)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (answer.status == 405)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW,
                                allowed_methods(request.match.route));
    if (answer.retry_later)
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    // A refused body is not read, and a request framed ambiguously may hide another: the
    // connection cannot carry another request after them.
    if (answer.status == 413 || (answer.status == 400 && !request.answering) || stopping_)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");

    MHD_Result queued =
        MHD_queue_response(connection, static_cast<unsigned>(answer.status), response);
    MHD_destroy_response(response);
    if (queued == MHD_YES)
        request.status = answer.status;
    return queued;
}

} // namespace regen::shim
