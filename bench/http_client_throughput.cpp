// Throughput of the HTTP handlers' client alone (src/http_client), without a drain: N calls to a
// local libmicrohttpd server that answers each after a fixed latency, at most C in flight.
// Prints calls/s against what latency and concurrency allow, and the process's memory before
// and after. Bounded: N calls, each with a 10 s timeout. Run by bench/http_client.sh.
//
//   regen_http_client_bench [calls=2000] [latency_ms=200] [concurrency=64]
#include "http_client/caller.hpp"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace
{

int latency_ms = 200;

MHD_Result
answer_later(void *, MHD_Connection *connection, const char *, const char *, const char *,
             const char *, size_t *upload_data_size, void **req_cls)
{
    static int first_call;
    if (*req_cls == nullptr)
    {
        *req_cls = &first_call;
        return MHD_YES;
    }
    if (*upload_data_size > 0)
    {
        *upload_data_size = 0;
        return MHD_YES;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(latency_ms));
    static const char body[] = "{\"modules\": 4, \"tasks\": 12}";
    MHD_Response *response = MHD_create_response_from_buffer(
        sizeof body - 1, const_cast<char *>(body), MHD_RESPMEM_PERSISTENT);
    MHD_Result queued = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return queued;
}

long
resident_kib()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::atol(line.c_str() + 6);
    return -1;
}

} // namespace

int
main(int argc, char **argv)
{
    int calls = argc > 1 ? std::atoi(argv[1]) : 2000;
    latency_ms = argc > 2 ? std::atoi(argv[2]) : 200;
    int concurrency = argc > 3 ? std::atoi(argv[3]) : 64;

    struct sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    MHD_Daemon *server = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, nullptr, nullptr,
        &answer_later, nullptr, MHD_OPTION_SOCK_ADDR, &address, MHD_OPTION_CONNECTION_LIMIT,
        static_cast<unsigned>(concurrency * 2), MHD_OPTION_END);
    if (server == nullptr)
    {
        std::fprintf(stderr, "cannot start the local server\n");
        return 1;
    }
    std::string url = "http://127.0.0.1:" +
                      std::to_string(MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT)->port) +
                      "/regenerate";

    regen::http::Caller caller(static_cast<std::size_t>(concurrency), 1024 * 1024);
    long rss_before = resident_kib();
    int started = 0, completed = 0, failed = 0;
    std::string body = "{\"jobId\": \"00000000-0000-4000-8000-000000000000\", \"attempt\": 1}";
    auto began = std::chrono::steady_clock::now();

    while (completed + failed < calls)
    {
        while (started < calls && !caller.full())
        {
            regen::http::CallRequest request;
            request.tag = static_cast<std::uint64_t>(started++);
            request.url = url;
            request.body = body;
            request.headers = regen::http::signature_headers("bench-secret", 1796385600, url, body);
            request.timeout_ms = 10000;
            caller.start(request);
        }
        for (const regen::http::CallResult &result : caller.progress(50))
            (result.transport == regen::core::Transport::Answered && result.status == 200
                 ? completed
                 : failed)++;
    }

    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    double allowed = concurrency * 1000.0 / latency_ms;
    double rate = completed / seconds;
    std::printf("calls: %d completed, %d failed, in %.2f s\n", completed, failed, seconds);
    std::printf("throughput: %.1f calls/s; latency and concurrency allow %.1f (%.1f %%)\n", rate,
                allowed, 100.0 * rate / allowed);
    std::printf("memory: RSS %ld KiB before the calls, %ld KiB after\n", rss_before,
                resident_kib());
    MHD_stop_daemon(server);
    return failed == 0 ? 0 : 1;
}
