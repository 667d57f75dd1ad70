// A libmicrohttpd server on 127.0.0.1 (an ephemeral port) for the HTTP client's unit tests,
// which answers by path:
//   /json                 200 {"ok": true}
//   /status/<code>        that status; ?retry=<value> adds Retry-After
//   /sleep/<ms>           200 after that long
//   /big/<bytes>          200 with that many bytes (Content-Length given)
//   /stream/<bytes>       200 with that many bytes, chunked (no Content-Length)
//   /trickle              200 with a body that takes 2 s to arrive
//   /redirect             302 to /json
//   /echo                 200 with the request's signature headers and body, as JSON
#pragma once

#include <gtest/gtest.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>

namespace local_http
{

struct ServerState
{
    std::atomic<int> in_flight{0};
    std::atomic<int> most_in_flight{0};
    std::atomic<int> json_hits{0};
};

struct RequestBody
{
    std::string body;
};

inline MHD_Result
respond(MHD_Connection *connection, unsigned status, const std::string &body,
        const std::map<std::string, std::string> &headers = {})
{
    MHD_Response *response = MHD_create_response_from_buffer(
        body.size(), const_cast<char *>(body.data()), MHD_RESPMEM_MUST_COPY);
    for (const auto &[name, value] : headers)
        MHD_add_response_header(response, name.c_str(), value.c_str());
    MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

// A body of `remaining` bytes in pieces, each after `pause_ms`.
struct Stream
{
    std::size_t remaining;
    int pause_ms;
    std::size_t piece; // bytes at a time
};

inline ssize_t
stream_piece(void *cls, uint64_t, char *buffer, size_t max)
{
    auto *stream = static_cast<Stream *>(cls);
    if (stream->remaining == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (stream->pause_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(stream->pause_ms));
    std::size_t piece = std::min<std::size_t>({max, stream->remaining, stream->piece});
    std::memset(buffer, 'x', piece);
    stream->remaining -= piece;
    return static_cast<ssize_t>(piece);
}

inline MHD_Result
respond_streaming(MHD_Connection *connection, std::size_t bytes, int pause_ms,
                  std::size_t piece_limit)
{
    auto *stream = new Stream{bytes, pause_ms, piece_limit};
    MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, piece_limit, &stream_piece, stream,
                                          [](void *cls) { delete static_cast<Stream *>(cls); });
    MHD_Result queued = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return queued;
}

inline MHD_Result
handle(void *cls, MHD_Connection *connection, const char *url, const char *, const char *,
       const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    auto *state = static_cast<ServerState *>(cls);
    if (*req_cls == nullptr)
    {
        *req_cls = new RequestBody();
        return MHD_YES;
    }
    auto *request = static_cast<RequestBody *>(*req_cls);
    if (*upload_data_size > 0)
    {
        request->body.append(upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    std::string path = url;
    int now = ++state->in_flight;
    int most = state->most_in_flight;
    while (now > most && !state->most_in_flight.compare_exchange_weak(most, now))
        ;
    MHD_Result result = MHD_NO;

    if (path == "/json")
    {
        state->json_hits++;
        result = respond(connection, 200, "{\"ok\": true}");
    }
    else if (path.rfind("/status/", 0) == 0)
    {
        std::map<std::string, std::string> headers;
        if (const char *retry =
                MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "retry"))
            headers["Retry-After"] = retry;
        result = respond(connection, std::stoi(path.substr(8)), "{}", headers);
    }
    else if (path.rfind("/sleep/", 0) == 0)
    {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(path.substr(7))));
        result = respond(connection, 200, "{\"slept\": true}");
    }
    else if (path.rfind("/big/", 0) == 0)
        result = respond(connection, 200, std::string(std::stoul(path.substr(5)), 'x'));
    else if (path.rfind("/stream/", 0) == 0)
        result = respond_streaming(connection, std::stoul(path.substr(8)), 0, 4096);
    else if (path == "/trickle")
        result = respond_streaming(connection, 10, 200, 1);
    else if (path == "/redirect")
        result = respond(connection, 302, "", {{"Location", "/json"}});
    else if (path == "/echo")
    {
        auto header = [&](const char *name)
        {
            const char *value = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
            return std::string(value != nullptr ? value : "");
        };
        result = respond(connection, 200,
                         header("X-Regen-Timestamp") + "\n" + header("X-Regen-Signature") + "\n" +
                             header("Content-Type") + "\n" + request->body);
    }
    else
        result = respond(connection, 404, "{}");

    state->in_flight--;
    return result;
}

// A server per test.
class LocalServerTest : public ::testing::Test
{
  protected:
    void SetUp() override
    {
        struct sockaddr_in address = {};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        daemon_ = MHD_start_daemon(
            MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, nullptr, nullptr,
            &handle, &state_, MHD_OPTION_SOCK_ADDR, &address, MHD_OPTION_NOTIFY_COMPLETED,
            +[](void *, MHD_Connection *, void **req_cls, MHD_RequestTerminationCode)
            {
                delete static_cast<RequestBody *>(*req_cls);
                *req_cls = nullptr;
            },
            nullptr, MHD_OPTION_END);
        ASSERT_NE(daemon_, nullptr);
        port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    }

    void TearDown() override { MHD_stop_daemon(daemon_); }

    std::string url(const std::string &path) const
    {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

    ServerState state_;
    MHD_Daemon *daemon_ = nullptr;
    uint16_t port_ = 0;
};

} // namespace local_http
