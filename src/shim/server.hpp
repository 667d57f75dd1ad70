// The HTTP server: libmicrohttpd with a thread per connection, the routes, and the guard that
// closes connections whose requests arrive too slowly.
#pragma once

#include "database.hpp"
#include "metrics.hpp"
#include "options.hpp"

#include <microhttpd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace regen::shim
{

class Server
{
  public:
    Server(const Options &options, Database &database);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Start listening; false (and a log line) when the address cannot be used.
    bool start();

    // Stop accepting, let requests in flight finish for at most `grace`, then stop.
    void shut_down(std::chrono::seconds grace);

    struct Request;

  private:
    enum class Phase
    {
        Idle,      // between requests of a keep-alive connection
        Receiving, // the request line has come; headers and body are arriving
        Answering, // the whole request is here and a route is working on it
    };

    struct ConnectionState
    {
        int fd = -1;
        Phase phase = Phase::Idle;
        std::chrono::steady_clock::time_point since;
        bool cut = false; // the guard has shut its socket down
    };

    static MHD_Result on_request(void *cls, MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls);
    static void *on_request_line(void *cls, const char *uri, MHD_Connection *connection);
    static void on_completed(void *cls, MHD_Connection *connection, void **req_cls,
                             MHD_RequestTerminationCode code);
    static void on_connection(void *cls, MHD_Connection *connection, void **socket_context,
                              MHD_ConnectionNotificationCode code);

    MHD_Result look_at_headers(MHD_Connection *connection, Request &request);
    MHD_Result receive(MHD_Connection *connection, Request &request, const char *upload_data,
                       size_t *upload_data_size);
    Answer route(MHD_Connection *connection, Request &request);
    Answer enqueue(MHD_Connection *connection, Request &request);
    Answer drain(MHD_Connection *connection);
    Answer health();
    Answer metrics();
    // The token check of both POST routes; an answer to send when the request may not go on.
    std::optional<Answer> authorize(MHD_Connection *connection, Database::Lease &lease);
    // Run a POST route on a pooled connection once its token passed.
    template <typename Route> Answer with_authorized_lease(MHD_Connection *connection, Route route);
    MHD_Result send(MHD_Connection *connection, Request &request, const Answer &answer,
                    const char *content_type = "application/json");

    void set_phase(MHD_Connection *connection, Phase phase);
    void cut_off(int busy, std::chrono::seconds grace);
    void guard_loop();

    const Options options_;
    Database &database_;
    Metrics metrics_;
    MHD_Daemon *daemon_ = nullptr;

    std::mutex connections_mutex_;
    std::unordered_map<MHD_Connection *, ConnectionState> connections_;
    std::atomic<bool> stopping_{false};

    std::mutex guard_mutex_;
    std::condition_variable guard_wake_;
    bool guard_stop_ = false;
    std::thread guard_;
};

} // namespace regen::shim
