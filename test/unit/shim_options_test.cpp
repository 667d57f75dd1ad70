// Unit tests for regen-queue-http's flags and environment variables: defaults, precedence, both
// flag forms, every range bound, listen addresses and the errors of a bad command line.
#include "shim/options.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace
{

using namespace regen::shim;

using Env = std::map<std::string, std::string>;

ParsedOptions
parse(const std::vector<std::string> &args, const Env &env = {})
{
    return parse_options(args,
                         [&env](const char *name) -> const char *
                         {
                             auto found = env.find(name);
                             return found == env.end() ? nullptr : found->second.c_str();
                         });
}

struct IntCase
{
    const char *flag;
    const char *env;
    long long min;
    long long max;
    long long default_value;
    long long (*read)(const Options &);
};

const std::vector<IntCase> kIntSettings = {
    {"--pool-size", "REGEN_HTTP_POOL_SIZE", 1, 256, 8,
     [](const Options &o) -> long long { return o.pool_size; }},
    {"--pool-timeout", "REGEN_HTTP_POOL_TIMEOUT", 1, 3600, 5,
     [](const Options &o) -> long long { return o.pool_timeout_s; }},
    {"--max-body", "REGEN_HTTP_MAX_BODY", 0, 16 * 1024 * 1024, 65536,
     [](const Options &o) -> long long { return static_cast<long long>(o.max_body_bytes); }},
    {"--request-timeout", "REGEN_HTTP_REQUEST_TIMEOUT", 1, 3600, 10,
     [](const Options &o) -> long long { return o.request_timeout_s; }},
    {"--max-connections", "REGEN_HTTP_MAX_CONNECTIONS", 1, 10000, 256,
     [](const Options &o) -> long long { return o.max_connections; }},
    {"--shutdown-timeout", "REGEN_HTTP_SHUTDOWN_TIMEOUT", 0, 3600, 30,
     [](const Options &o) -> long long { return o.shutdown_timeout_s; }},
};

TEST(ParseOptions, Defaults)
{
    ParsedOptions parsed = parse({});
    ASSERT_EQ(parsed.error, "");
    const Options &o = parsed.options;
    EXPECT_EQ(o.listen_host, "127.0.0.1");
    EXPECT_EQ(o.listen_port, 8080);
    EXPECT_EQ(o.database_url, "");
    for (const IntCase &setting : kIntSettings)
        EXPECT_EQ(setting.read(o), setting.default_value) << setting.flag;
    EXPECT_FALSE(o.show_help);
    EXPECT_FALSE(o.show_version);
}

TEST(ParseOptions, BothFlagForms)
{
    for (const IntCase &setting : kIntSettings)
    {
        ParsedOptions parsed = parse({std::string(setting.flag) + "=7"});
        ASSERT_EQ(parsed.error, "") << setting.flag;
        EXPECT_EQ(setting.read(parsed.options), 7) << setting.flag;

        parsed = parse({setting.flag, "9"});
        ASSERT_EQ(parsed.error, "") << setting.flag;
        EXPECT_EQ(setting.read(parsed.options), 9) << setting.flag;
    }

    ParsedOptions parsed = parse({"--listen=127.0.0.2:9001", "--database-url", "host=/tmp x=1"});
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.listen_host, "127.0.0.2");
    EXPECT_EQ(parsed.options.listen_port, 9001);
    EXPECT_EQ(parsed.options.database_url, "host=/tmp x=1");

    parsed = parse({"--listen", "127.0.0.3:9002", "--database-url=postgres://u@h/db?a=b"});
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.listen_host, "127.0.0.3");
    EXPECT_EQ(parsed.options.listen_port, 9002);
    EXPECT_EQ(parsed.options.database_url, "postgres://u@h/db?a=b");
}

TEST(ParseOptions, EnvironmentOverDefaults)
{
    Env env = {{"REGEN_HTTP_LISTEN", "[::1]:9100"}, {"DATABASE_URL", "dbname=x"}};
    for (const IntCase &setting : kIntSettings)
        env[setting.env] = "11";
    ParsedOptions parsed = parse({}, env);
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.listen_host, "::1");
    EXPECT_EQ(parsed.options.listen_port, 9100);
    EXPECT_EQ(parsed.options.database_url, "dbname=x");
    for (const IntCase &setting : kIntSettings)
        EXPECT_EQ(setting.read(parsed.options), 11) << setting.env;
}

TEST(ParseOptions, FlagsOverEnvironment)
{
    Env env = {{"REGEN_HTTP_LISTEN", "127.0.0.1:9100"}, {"DATABASE_URL", "dbname=env"}};
    std::vector<std::string> args = {"--listen", "127.0.0.1:9200", "--database-url=dbname=flag"};
    for (const IntCase &setting : kIntSettings)
    {
        env[setting.env] = "11";
        args.push_back(std::string(setting.flag) + "=12");
    }
    ParsedOptions parsed = parse(args, env);
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.listen_port, 9200);
    EXPECT_EQ(parsed.options.database_url, "dbname=flag");
    for (const IntCase &setting : kIntSettings)
        EXPECT_EQ(setting.read(parsed.options), 12) << setting.flag;
}

TEST(ParseOptions, EmptyEnvironmentValuesAreUnset)
{
    Env env = {{"REGEN_HTTP_LISTEN", ""}};
    for (const IntCase &setting : kIntSettings)
        env[setting.env] = "";
    ParsedOptions parsed = parse({}, env);
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.listen_port, 8080);
    for (const IntCase &setting : kIntSettings)
        EXPECT_EQ(setting.read(parsed.options), setting.default_value) << setting.env;
}

TEST(ParseOptions, LastFlagWins)
{
    ParsedOptions parsed = parse({"--pool-size", "2", "--pool-size=3"});
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.pool_size, 3);
}

TEST(ParseOptions, EveryRangeBoundThroughFlags)
{
    for (const IntCase &setting : kIntSettings)
    {
        for (long long ok : {setting.min, setting.max})
        {
            ParsedOptions parsed = parse({setting.flag, std::to_string(ok)});
            EXPECT_EQ(parsed.error, "") << setting.flag << " " << ok;
            EXPECT_EQ(setting.read(parsed.options), ok) << setting.flag;
        }
        for (long long bad : {setting.min - 1, setting.max + 1})
        {
            ParsedOptions parsed = parse({setting.flag, std::to_string(bad)});
            EXPECT_NE(parsed.error.find(setting.flag), std::string::npos)
                << setting.flag << " " << bad << ": " << parsed.error;
            EXPECT_NE(parsed.error.find(std::to_string(bad)), std::string::npos) << parsed.error;
        }
    }
}

TEST(ParseOptions, EveryRangeBoundThroughEnvironment)
{
    for (const IntCase &setting : kIntSettings)
    {
        for (long long ok : {setting.min, setting.max})
        {
            ParsedOptions parsed = parse({}, {{setting.env, std::to_string(ok)}});
            EXPECT_EQ(parsed.error, "") << setting.env << " " << ok;
            EXPECT_EQ(setting.read(parsed.options), ok) << setting.env;
        }
        for (long long bad : {setting.min - 1, setting.max + 1})
        {
            ParsedOptions parsed = parse({}, {{setting.env, std::to_string(bad)}});
            EXPECT_NE(parsed.error.find(setting.env), std::string::npos)
                << setting.env << " " << bad << ": " << parsed.error;
        }
    }
}

TEST(ParseOptions, NonIntegers)
{
    for (const char *text :
         {"", "abc", "1.5", "5x", "0x10", "1e3", "99999999999999999999", "-99999999999999999999"})
    {
        ParsedOptions parsed = parse({"--pool-size", text});
        EXPECT_NE(parsed.error, "") << text;
        EXPECT_NE(parsed.error.find("--pool-size"), std::string::npos) << parsed.error;

        parsed = parse({}, {{"REGEN_HTTP_MAX_BODY", text}});
        if (*text != '\0') // an empty variable counts as unset
        {
            EXPECT_NE(parsed.error.find("REGEN_HTTP_MAX_BODY"), std::string::npos) << text;
        }
    }
}

TEST(ParseOptions, GoodListenAddresses)
{
    struct Case
    {
        const char *text;
        const char *host;
        int port;
    };
    for (const Case &c : {Case{"127.0.0.1:1", "127.0.0.1", 1},
                          Case{"0.0.0.0:65535", "0.0.0.0", 65535}, Case{"[::1]:8080", "::1", 8080},
                          Case{"[::]:80", "::", 80}, Case{"[fe80::1:2]:443", "fe80::1:2", 443}})
    {
        ParsedOptions parsed = parse({"--listen", c.text});
        ASSERT_EQ(parsed.error, "") << c.text;
        EXPECT_EQ(parsed.options.listen_host, c.host) << c.text;
        EXPECT_EQ(parsed.options.listen_port, c.port) << c.text;
    }
}

TEST(ParseOptions, BadListenAddresses)
{
    for (const char *text : {"",
                             "127.0.0.1",
                             "127.0.0.1:",
                             ":8080",
                             "localhost:8080",
                             "127.0.0.1:0",
                             "127.0.0.1:65536",
                             "127.0.0.1:-1",
                             "127.0.0.1:http",
                             "256.0.0.1:80",
                             "1.2.3:80",
                             "[::1]",
                             "::1",
                             "[::1]8080",
                             "[::1]:",
                             "[]:8080",
                             "[:8080",
                             "::1]:8080",
                             "[::g]:80",
                             "127.0.0.1:80:80"})
    {
        ParsedOptions parsed = parse({"--listen", text});
        EXPECT_NE(parsed.error.find("--listen"), std::string::npos) << "\"" << text << "\"";

        if (*text != '\0')
        {
            parsed = parse({}, {{"REGEN_HTTP_LISTEN", text}});
            EXPECT_NE(parsed.error.find("REGEN_HTTP_LISTEN"), std::string::npos) << text;
        }
    }
}

// The usage text and parse_listen() say an IPv6 address is written in brackets: without them
// the last colon is ambiguous (::1:8080 is itself an IPv6 address), so it must be refused rather
// than split at a guess.
TEST(ParseOptions, UnbracketedIpv6IsRefused)
{
    for (const char *text : {"::1:8080", "2001:db8::1:443", "::ffff:127.0.0.1:80"})
    {
        ParsedOptions parsed = parse({"--listen", text});
        EXPECT_NE(parsed.error, "") << text << " was taken as host " << parsed.options.listen_host
                                    << " port " << parsed.options.listen_port;
    }
}

TEST(ParseOptions, BadListenInEnvironmentIsOverriddenByFlag)
{
    ParsedOptions parsed =
        parse({"--listen", "127.0.0.1:9300"}, {{"REGEN_HTTP_LISTEN", "nonsense"}});
    ASSERT_EQ(parsed.error, "");
    EXPECT_EQ(parsed.options.listen_port, 9300);
}

// Flags win over the environment: a variable the flag replaces must not matter, as
// BadListenInEnvironmentIsOverriddenByFlag shows it does not for --listen.
TEST(ParseOptions, BadIntegerInEnvironmentIsOverriddenByFlag)
{
    for (const IntCase &setting : kIntSettings)
    {
        ParsedOptions parsed = parse({setting.flag, "3"}, {{setting.env, "nonsense"}});
        EXPECT_EQ(parsed.error, "") << setting.env;
        EXPECT_EQ(setting.read(parsed.options), 3) << setting.flag;
    }
}

TEST(ParseOptions, UnknownFlags)
{
    for (const char *arg :
         {"--bogus", "--bogus=1", "-x", "positional", "--pool", "--help=yes", "--Pool-Size=3", "-"})
    {
        ParsedOptions parsed = parse({arg});
        EXPECT_NE(parsed.error.find("unknown option"), std::string::npos) << arg;
        EXPECT_NE(parsed.error.find(arg), std::string::npos) << parsed.error;
    }
}

TEST(ParseOptions, MissingValues)
{
    for (const IntCase &setting : kIntSettings)
    {
        ParsedOptions parsed = parse({setting.flag});
        EXPECT_EQ(parsed.error, std::string(setting.flag) + " needs a value");
    }
    EXPECT_EQ(parse({"--listen"}).error, "--listen needs a value");
    EXPECT_EQ(parse({"--database-url"}).error, "--database-url needs a value");
    EXPECT_EQ(parse({"--pool-size", "2", "--max-body"}).error, "--max-body needs a value");

    // An empty inline value is a value, and not an integer.
    EXPECT_NE(parse({"--pool-size="}).error.find("--pool-size"), std::string::npos);
    EXPECT_NE(parse({"--listen="}).error.find("--listen"), std::string::npos);
    EXPECT_EQ(parse({"--database-url="}).error, "");
}

TEST(ParseOptions, HelpAndVersion)
{
    for (const char *arg : {"--help", "-h"})
    {
        ParsedOptions parsed = parse({arg});
        EXPECT_EQ(parsed.error, "");
        EXPECT_TRUE(parsed.options.show_help) << arg;
        EXPECT_FALSE(parsed.options.show_version);
    }
    ParsedOptions parsed = parse({"--version"});
    EXPECT_EQ(parsed.error, "");
    EXPECT_TRUE(parsed.options.show_version);
    EXPECT_FALSE(parsed.options.show_help);

    parsed = parse({"--pool-size", "4", "--help"});
    EXPECT_EQ(parsed.error, "");
    EXPECT_TRUE(parsed.options.show_help);
}

TEST(UsageText, NamesEveryFlagAndVariable)
{
    std::string usage = usage_text();
    for (const IntCase &setting : kIntSettings)
    {
        EXPECT_NE(usage.find(setting.flag), std::string::npos) << setting.flag;
        EXPECT_NE(usage.find(setting.env), std::string::npos) << setting.env;
    }
    for (const char *word :
         {"--listen", "REGEN_HTTP_LISTEN", "--database-url", "DATABASE_URL", "--version", "--help"})
        EXPECT_NE(usage.find(word), std::string::npos) << word;
}

} // namespace
