// Command-line flags and environment variables of regen-queue-http.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace regen::shim
{

struct Options
{
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    std::string database_url;             // empty: libpq's PG* variables and defaults
    int pool_size = 8;                    // database connections, at most
    int pool_timeout_s = 5;               // wait for a free connection before answering 503
    std::uint64_t max_body_bytes = 65536; // larger bodies are answered 413
    int request_timeout_s = 10;           // to receive a whole request (headers and body)
    int max_connections = 256;            // client connections at once
    int shutdown_timeout_s = 30;          // for requests in flight after SIGTERM
    bool show_help = false;
    bool show_version = false;
};

// Reads a variable of the environment; returns nullptr when it is not set.
using EnvLookup = std::function<const char *(const char *)>;

struct ParsedOptions
{
    Options options;
    std::string error; // non-empty: what was wrong, for the usage message
};

// Flags win over environment variables, which win over defaults.
ParsedOptions parse_options(const std::vector<std::string> &args, const EnvLookup &env);

std::string usage_text();

} // namespace regen::shim
