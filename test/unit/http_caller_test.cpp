// Unit tests of the HTTP handlers' client (src/http_client/caller.hpp) against the local server
// of local_http_server.hpp.
#include "http_client/caller.hpp"

#include "local_http_server.hpp"

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <unistd.h>

namespace
{

using namespace regen;
using Clock = std::chrono::steady_clock;

class CallerTest : public local_http::LocalServerTest
{
  protected:
    // Run one call to completion.
    http::CallResult call(http::Caller &caller, const std::string &path, long timeout_ms = 5000,
                          std::vector<std::string> headers = {}, std::string body = "{}")
    {
        caller.start({7, url(path), std::move(body), std::move(headers), timeout_ms});
        Clock::time_point deadline = Clock::now() + std::chrono::seconds(20);
        while (Clock::now() < deadline)
            for (http::CallResult &result : caller.progress(100))
                return result;
        ADD_FAILURE() << "no result for " << path;
        return {};
    }
};

TEST_F(CallerTest, SuccessKeepsStatusAndBody)
{
    http::Caller caller(4, 1024);
    http::CallResult result = call(caller, "/json");
    EXPECT_EQ(result.tag, 7u);
    EXPECT_EQ(result.transport, core::Transport::Answered);
    EXPECT_EQ(result.status, 200);
    EXPECT_EQ(result.body, "{\"ok\": true}");
    EXPECT_EQ(core::decide_call(result.outcome(), std::time(nullptr)).verdict,
              core::Verdict::Complete);
    EXPECT_EQ(caller.in_flight(), 0u);
}

TEST_F(CallerTest, StatusesAndRetryAfter)
{
    http::Caller caller(4, 1024);
    http::CallResult result = call(caller, "/status/503?retry=30");
    EXPECT_EQ(result.transport, core::Transport::Answered);
    EXPECT_EQ(result.status, 503);
    EXPECT_EQ(result.retry_after, "30");
    core::CallDecision decision = core::decide_call(result.outcome(), std::time(nullptr));
    EXPECT_EQ(decision.verdict, core::Verdict::Retry);
    EXPECT_EQ(decision.min_delay_ms, 30000);

    result = call(caller, "/status/404");
    EXPECT_EQ(result.status, 404);
    EXPECT_EQ(result.retry_after, "");
    EXPECT_EQ(core::decide_call(result.outcome(), std::time(nullptr)).verdict, core::Verdict::Fail);
}

TEST_F(CallerTest, RedirectsAreNotFollowed)
{
    http::Caller caller(4, 1024);
    http::CallResult result = call(caller, "/redirect");
    EXPECT_EQ(result.transport, core::Transport::Answered);
    EXPECT_EQ(result.status, 302);
    EXPECT_EQ(state_.json_hits, 0);
}

TEST_F(CallerTest, TimeoutEndsTheCall)
{
    // TimedOut itself says the call ended before the server's answer, 3 s later.
    http::Caller caller(4, 1024);
    http::CallResult result = call(caller, "/sleep/3000", 300);
    EXPECT_EQ(result.transport, core::Transport::TimedOut);
    EXPECT_GE(result.elapsed_s, 0.29);
}

TEST_F(CallerTest, ASlowBodyTimesOutToo)
{
    http::Caller caller(4, 1024);
    http::CallResult result = call(caller, "/trickle", 500);
    EXPECT_EQ(result.transport, core::Transport::TimedOut);
}

TEST_F(CallerTest, RefusedConnection)
{
    // A port of our own that nothing listens on: bound, then closed.
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    getsockname(probe, reinterpret_cast<sockaddr *>(&address), &length);
    close(probe);

    http::Caller caller(4, 1024);
    caller.start(
        {1, "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/", "{}", {}, 2000});
    std::vector<http::CallResult> results;
    for (int i = 0; i < 50 && results.empty(); i++)
        results = caller.progress(100);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].transport, core::Transport::ConnectFailed);
    EXPECT_NE(results[0].reason, "");
}

TEST_F(CallerTest, OversizedBodiesAreCutOff)
{
    http::Caller caller(4, 1000);
    http::CallResult declared = call(caller, "/big/5000"); // Content-Length over the limit
    EXPECT_EQ(declared.transport, core::Transport::TooLarge);
    EXPECT_EQ(declared.body, "");

    http::CallResult streamed = call(caller, "/stream/5000"); // chunked, found while reading
    EXPECT_EQ(streamed.transport, core::Transport::TooLarge);
    EXPECT_EQ(streamed.body, "");

    http::CallResult at_limit = call(caller, "/big/1000");
    EXPECT_EQ(at_limit.transport, core::Transport::Answered);
    EXPECT_EQ(at_limit.body.size(), 1000u);
}

TEST_F(CallerTest, OnlyHttpAndHttps)
{
    http::Caller caller(4, 1024);
    caller.start({3, "ftp://127.0.0.1:" + std::to_string(port_) + "/", "{}", {}, 2000});
    std::vector<http::CallResult> results = caller.progress(100);
    for (int i = 0; i < 20 && results.empty(); i++)
        results = caller.progress(100);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].transport, core::Transport::ConnectFailed);
}

TEST_F(CallerTest, ManyCallsInFlightWithinTheBound)
{
    constexpr int kCalls = 12;
    constexpr std::size_t kBound = 4;
    http::Caller caller(kBound, 1024);
    int started = 0;
    int finished = 0;
    Clock::time_point began = Clock::now();

    while (finished < kCalls && Clock::now() - began < std::chrono::seconds(20))
    {
        while (started < kCalls && !caller.full())
            caller.start(
                {static_cast<std::uint64_t>(started++), url("/sleep/300"), "{}", {}, 5000});
        EXPECT_LE(caller.in_flight(), kBound);
        for (const http::CallResult &result : caller.progress(50))
        {
            EXPECT_EQ(result.status, 200) << result.tag;
            finished++;
        }
    }
    EXPECT_EQ(finished, kCalls);
    EXPECT_LE(state_.most_in_flight, static_cast<int>(kBound));
    EXPECT_GE(state_.most_in_flight, 2) << "calls did not overlap";
}

TEST_F(CallerTest, AbandonDropsCallsInFlight)
{
    http::Caller caller(4, 1024);
    caller.start({1, url("/sleep/3000"), "{}", {}, 10000});
    caller.progress(50);
    EXPECT_EQ(caller.in_flight(), 1u);
    caller.abandon_all();
    EXPECT_EQ(caller.in_flight(), 0u);
    EXPECT_TRUE(caller.progress(50).empty());
}

std::string
hex_of(const unsigned char *bytes, std::size_t count)
{
    std::string out;
    char pair[3];
    for (std::size_t i = 0; i < count; i++)
    {
        std::snprintf(pair, sizeof pair, "%02x", bytes[i]);
        out += pair;
    }
    return out;
}

TEST_F(CallerTest, SignedRequestsCarryAVerifiableSignature)
{
    const std::string secret = "shared-secret";
    const std::string body = "{\"jobId\": \"j1\"}";
    const std::string target_url = url("/echo");
    std::vector<std::string> headers =
        http::signature_headers(secret, 1796385600, target_url, body);
    ASSERT_EQ(headers.size(), 2u);

    http::Caller caller(4, 4096);
    http::CallResult result = call(caller, "/echo", 5000, headers, body);
    ASSERT_EQ(result.status, 200);

    // What the service received, checked the way a service would.
    std::string received = result.body;
    std::size_t first = received.find('\n');
    std::size_t second = received.find('\n', first + 1);
    std::size_t third = received.find('\n', second + 1);
    std::string timestamp = received.substr(0, first);
    std::string signature = received.substr(first + 1, second - first - 1);
    EXPECT_EQ(received.substr(second + 1, third - second - 1), "application/json");
    EXPECT_EQ(received.substr(third + 1), body);
    EXPECT_EQ(timestamp, "1796385600");

    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(body.data()), body.size(), digest);
    std::string base = timestamp + "\nPOST\n/echo\n" + hex_of(digest, sizeof digest);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char *>(base.data()), base.size(), mac, &mac_length);
    EXPECT_EQ(signature, "v1=" + hex_of(mac, mac_length));

    // Another secret gives another signature; no secret, no headers.
    EXPECT_NE(http::signature_headers("other", 1796385600, target_url, body)[1], headers[1]);
    EXPECT_TRUE(http::signature_headers("", 1796385600, target_url, body).empty());
}

} // namespace
