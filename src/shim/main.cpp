// regen-queue-http: the old regeneration service's two routes, answered by regen_queue's SQL
// functions. The queue's logic, the worker token and the environment all live in the
// database; this program only translates HTTP to those calls and back.
#include "database.hpp"
#include "log.hpp"
#include "options.hpp"
#include "server.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef REGEN_QUEUE_VERSION
#define REGEN_QUEUE_VERSION "unknown"
#endif

int
main(int argc, char **argv)
{
    using namespace regen::shim;

    std::vector<std::string> args(argv + 1, argv + argc);
    ParsedOptions parsed = parse_options(args, [](const char *name) { return std::getenv(name); });
    if (!parsed.error.empty())
    {
        std::fprintf(stderr, "regen-queue-http: %s\nTry \"regen-queue-http --help\".\n",
                     parsed.error.c_str());
        return 2;
    }
    const Options &options = parsed.options;
    if (options.show_help)
    {
        std::fputs(usage_text().c_str(), stdout);
        return 0;
    }
    if (options.show_version)
    {
        std::printf("regen-queue-http %s\n", REGEN_QUEUE_VERSION);
        return 0;
    }

    // Signals are taken by sigwait() below, so every thread started from here blocks them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    Database database(options.database_url, options.pool_size,
                      std::chrono::seconds(options.pool_timeout_s));
    database.check_at_start();

    Server server(options, database);
    if (!server.start())
        return 1;

    // SIGHUP (a log rotation, systemctl reload) has nothing to reload: the settings that
    // matter are the database's, read at each request.
    int received = 0;
    while (sigwait(&signals, &received) == 0 && received == SIGHUP)
        log_line("received SIGHUP: nothing to reload (the token and environment are the "
                 "database's settings)");
    log_line("received %s: finishing requests in flight (at most %d s)", strsignal(received),
             options.shutdown_timeout_s);
    server.shut_down(std::chrono::seconds(options.shutdown_timeout_s));
    log_line("stopped");
    return 0;
}
