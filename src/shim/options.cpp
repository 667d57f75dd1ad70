#include "options.hpp"

#include <arpa/inet.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace regen::shim
{

namespace
{

struct IntSetting
{
    const char *flag;
    const char *env;
    long long min;
    long long max;
};

constexpr IntSetting kPoolSize = {"--pool-size", "REGEN_HTTP_POOL_SIZE", 1, 256};
constexpr IntSetting kPoolTimeout = {"--pool-timeout", "REGEN_HTTP_POOL_TIMEOUT", 1, 3600};
constexpr IntSetting kMaxBody = {"--max-body", "REGEN_HTTP_MAX_BODY", 0, 16 * 1024 * 1024};
constexpr IntSetting kRequestTimeout = {"--request-timeout", "REGEN_HTTP_REQUEST_TIMEOUT", 1, 3600};
constexpr IntSetting kMaxConnections = {"--max-connections", "REGEN_HTTP_MAX_CONNECTIONS", 1,
                                        10000};
constexpr IntSetting kShutdownTimeout = {"--shutdown-timeout", "REGEN_HTTP_SHUTDOWN_TIMEOUT", 0,
                                         3600};
constexpr const char *kListenEnv = "REGEN_HTTP_LISTEN";
constexpr const char *kDatabaseEnv = "DATABASE_URL";

bool
parse_integer(const std::string &text, const IntSetting &setting, long long &value,
              std::string &error)
{
    char *end = nullptr;
    errno = 0;
    long long parsed = text.empty() ? 0 : std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || parsed < setting.min || parsed > setting.max)
    {
        error = std::string(setting.flag) + " (" + setting.env + ") must be an integer from " +
                std::to_string(setting.min) + " to " + std::to_string(setting.max) + ", not \"" +
                text + "\"";
        return false;
    }
    value = parsed;
    return true;
}

// host:port with an IPv4 address, or [address]:port with an IPv6 one.
bool
parse_listen(const std::string &text, Options &options, std::string &error)
{
    error = "--listen (" + std::string(kListenEnv) +
            ") must be an IP address and a port, like 127.0.0.1:8080 or [::1]:8080, not \"" + text +
            "\"";

    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
        return false;
    std::string host = text.substr(0, colon);
    std::string port = text.substr(colon + 1);

    // An IPv6 address must be bracketed: in "::1:8080" the port could be part of the address.
    unsigned char address[sizeof(struct in6_addr)];
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    {
        host = host.substr(1, host.size() - 2);
        if (inet_pton(AF_INET6, host.c_str(), address) != 1)
            return false;
    }
    else if (inet_pton(AF_INET, host.c_str(), address) != 1)
        return false;

    long long port_number = 0;
    std::string ignored;
    if (!parse_integer(port, {"--listen", kListenEnv, 1, 65535}, port_number, ignored))
        return false;

    options.listen_host = host;
    options.listen_port = static_cast<std::uint16_t>(port_number);
    error.clear();
    return true;
}

} // namespace

ParsedOptions
parse_options(const std::vector<std::string> &args, const EnvLookup &env)
{
    ParsedOptions parsed;
    Options &options = parsed.options;
    std::string &error = parsed.error;

    struct Target
    {
        const IntSetting *setting;
        long long value;
        std::string text; // from the environment or a flag; empty: the default stays
    };
    Target targets[] = {{&kPoolSize, options.pool_size, {}},
                        {&kPoolTimeout, options.pool_timeout_s, {}},
                        {&kMaxBody, static_cast<long long>(options.max_body_bytes), {}},
                        {&kRequestTimeout, options.request_timeout_s, {}},
                        {&kMaxConnections, options.max_connections, {}},
                        {&kShutdownTimeout, options.shutdown_timeout_s, {}}};

    // The environment first, then the flags over it.
    std::string listen = "127.0.0.1:8080";
    if (const char *value = env(kListenEnv); value != nullptr && *value != '\0')
        listen = value;
    if (const char *value = env(kDatabaseEnv); value != nullptr)
        options.database_url = value;
    for (Target &target : targets)
        if (const char *value = env(target.setting->env); value != nullptr)
            target.text = value;

    for (std::size_t i = 0; i < args.size(); i++)
    {
        const std::string &arg = args[i];
        std::string name = arg.substr(0, arg.find('='));
        bool inline_value = name.size() < arg.size();
        auto value = [&](std::string &out)
        {
            if (inline_value)
                out = arg.substr(name.size() + 1);
            else if (i + 1 < args.size())
                out = args[++i];
            else
            {
                error = name + " needs a value";
                return false;
            }
            return true;
        };

        if (arg == "--help" || arg == "-h")
            options.show_help = true;
        else if (arg == "--version")
            options.show_version = true;
        else if (name == "--listen")
        {
            if (!value(listen))
                return parsed;
        }
        else if (name == "--database-url")
        {
            if (!value(options.database_url))
                return parsed;
        }
        else
        {
            Target *target = nullptr;
            for (Target &candidate : targets)
                if (name == candidate.setting->flag)
                    target = &candidate;
            if (target == nullptr)
            {
                error = "unknown option \"" + arg + "\"";
                return parsed;
            }
            if (!value(target->text))
                return parsed;
            // A flag given empty is an error, unlike an empty variable (which is unset).
            if (target->text.empty())
                target->text = " ";
        }
    }
    if (options.show_help || options.show_version)
        return parsed;

    // Values are read only now, so that a flag replaces a variable that was wrong.
    for (Target &target : targets)
        if (!target.text.empty() &&
            !parse_integer(target.text, *target.setting, target.value, error))
            return parsed;
    if (!parse_listen(listen, options, error))
        return parsed;
    options.pool_size = static_cast<int>(targets[0].value);
    options.pool_timeout_s = static_cast<int>(targets[1].value);
    options.max_body_bytes = static_cast<std::uint64_t>(targets[2].value);
    options.request_timeout_s = static_cast<int>(targets[3].value);
    options.max_connections = static_cast<int>(targets[4].value);
    options.shutdown_timeout_s = static_cast<int>(targets[5].value);
    return parsed;
}

std::string
usage_text()
{
    return R"(regen-queue-http: the HTTP routes of the old regeneration service, over regen_queue.

Usage: regen-queue-http [options]

Every route calls regen_queue's SQL functions; the worker token and the environment are
the database's settings regen_queue.worker_token and regen_queue.environment.

Options (each also read from the environment variable shown; flags win):
  --listen ADDR:PORT       address to listen on; [ADDR]:PORT for IPv6
                           (REGEN_HTTP_LISTEN, default 127.0.0.1:8080)
  --database-url URL       libpq connection string or URI (DATABASE_URL; unset: the
                           PGHOST, PGPORT, PGDATABASE, PGUSER... variables and defaults)
  --pool-size N            database connections at most, 1-256 (REGEN_HTTP_POOL_SIZE, 8)
  --pool-timeout SECONDS   wait for a free connection before answering 503, 1-3600
                           (REGEN_HTTP_POOL_TIMEOUT, 5)
  --max-body BYTES         larger request bodies are answered 413, 0-16777216
                           (REGEN_HTTP_MAX_BODY, 65536)
  --request-timeout SECONDS
                           a client has this long to send a whole request (and an idle
                           connection is closed after it), 1-3600 (REGEN_HTTP_REQUEST_TIMEOUT, 10)
  --max-connections N      client connections at once, 1-10000 (REGEN_HTTP_MAX_CONNECTIONS, 256)
  --shutdown-timeout SECONDS
                           on SIGTERM or SIGINT, how long requests in flight may finish,
                           0-3600 (REGEN_HTTP_SHUTDOWN_TIMEOUT, 30)
  --version                print the version and exit
  -h, --help               print this text and exit

Routes:
  POST /api/v1/plans/:planId/regenerate          regen_enqueue(); body {"overrides": {...}}
                                                 or empty; optional header x-user-id: <uuid>
  POST /api/internal/jobs/regeneration/process   regen_drain()
  GET  /healthz                                  whether the database answers
  GET  /metrics                                  Prometheus text format
Both POST routes need the worker token when one is set: Authorization: Bearer <token>
or x-regeneration-worker-token: <token>.
)";
}

} // namespace regen::shim
