// Unit tests of the HTTP handlers' dispatcher (src/http_client/dispatcher.hpp): when calls
// start, the limits on calls in flight, default endpoint and timeout, refused endpoints, and
// taking jobs back. Against the local server of local_http_server.hpp.
#include "http_client/dispatcher.hpp"

#include "local_http_server.hpp"

#include <cstdlib>
#include <set>

namespace
{

using namespace regen;
using Clock = std::chrono::steady_clock;

class DispatcherTest : public local_http::LocalServerTest
{
  protected:
    http::JobCall job(unsigned char n, const std::string &path, const std::string &type = "t")
    {
        http::JobCall call;
        call.id[0] = n;
        call.attempt = 1;
        call.max_attempts = 3;
        call.job_type = type;
        call.endpoint = path.empty() ? "" : url(path);
        call.body = "{\"n\": " + std::to_string(n) + "}";
        return call;
    }

    http::DispatchSettings settings(std::size_t concurrency = 8)
    {
        http::DispatchSettings s;
        s.concurrency = concurrency;
        s.default_timeout_ms = 5000;
        return s;
    }

    // Progress until `count` calls finished (or 20 s passed).
    std::vector<http::FinishedCall> finish(http::Dispatcher &dispatcher, std::size_t count)
    {
        std::vector<http::FinishedCall> all;
        Clock::time_point deadline = Clock::now() + std::chrono::seconds(20);
        while (all.size() < count && Clock::now() < deadline)
            for (http::FinishedCall &call : dispatcher.progress(100, std::time(nullptr)))
                all.push_back(std::move(call));
        EXPECT_EQ(all.size(), count);
        return all;
    }
};

TEST_F(DispatcherTest, CallsStartOnlyAfterCommit)
{
    http::Dispatcher dispatcher;
    dispatcher.configure(settings());
    dispatcher.add(job(1, "/json"));
    EXPECT_TRUE(dispatcher.progress(50, std::time(nullptr)).empty());
    EXPECT_EQ(dispatcher.waiting(), 1u);
    EXPECT_EQ(dispatcher.in_flight(), 0u);
    EXPECT_EQ(state_.json_hits, 0);

    dispatcher.commit();
    std::vector<http::FinishedCall> done = finish(dispatcher, 1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].job.id[0], 1);
    EXPECT_EQ(done[0].decision.verdict, core::Verdict::Complete);
    EXPECT_EQ(done[0].status, 200);
    EXPECT_EQ(done[0].body, "{\"ok\": true}");
    EXPECT_TRUE(dispatcher.idle());
    EXPECT_EQ(state_.json_hits, 1);
}

TEST_F(DispatcherTest, ConcurrencyBoundsAllJobTypesTogether)
{
    http::Dispatcher dispatcher;
    dispatcher.configure(settings(3));
    for (unsigned char n = 1; n <= 9; n++)
        dispatcher.add(job(n, "/sleep/300", n % 2 == 0 ? "even" : "odd"));
    dispatcher.commit();
    std::vector<http::FinishedCall> done = finish(dispatcher, 9);
    std::set<int> ids;
    for (const http::FinishedCall &call : done)
    {
        EXPECT_EQ(call.decision.verdict, core::Verdict::Complete);
        ids.insert(call.job.id[0]);
    }
    EXPECT_EQ(ids.size(), 9u);
    EXPECT_LE(state_.most_in_flight, 3);
    EXPECT_GE(state_.most_in_flight, 2) << "calls did not overlap";
}

TEST_F(DispatcherTest, AJobTypeKeepsItsOwnLimit)
{
    http::Dispatcher dispatcher;
    dispatcher.configure(settings(8));
    for (unsigned char n = 1; n <= 6; n++)
    {
        http::JobCall call = job(n, "/sleep/300");
        call.max_concurrency = 2;
        dispatcher.add(std::move(call));
    }
    dispatcher.commit();
    (void)dispatcher.progress(0, std::time(nullptr));
    EXPECT_EQ(dispatcher.in_flight(), 2u);
    EXPECT_EQ(dispatcher.waiting(), 4u);
    finish(dispatcher, 6);
    EXPECT_EQ(state_.most_in_flight, 2);
}

TEST_F(DispatcherTest, DefaultsComeFromTheSettings)
{
    http::Dispatcher dispatcher;
    http::DispatchSettings s = settings();
    s.default_endpoint = url("/sleep/3000");
    s.default_timeout_ms = 200;
    dispatcher.configure(s);
    dispatcher.add(job(1, ""));
    http::JobCall own_timeout = job(2, "/sleep/300");
    own_timeout.timeout_ms = 5000;
    dispatcher.add(std::move(own_timeout));
    dispatcher.commit();

    std::vector<http::FinishedCall> done = finish(dispatcher, 2);
    for (const http::FinishedCall &call : done)
    {
        if (call.job.id[0] == 1)
        {
            EXPECT_EQ(call.decision.verdict, core::Verdict::Retry);
            EXPECT_NE(call.decision.error.find("timed out"), std::string::npos);
            EXPECT_LT(call.elapsed_s, 2.0);
        }
        else
            EXPECT_EQ(call.decision.verdict, core::Verdict::Complete);
    }
}

TEST_F(DispatcherTest, ACallWithoutAnAcceptableEndpointFailsAtOnce)
{
    http::Dispatcher dispatcher;
    dispatcher.configure(settings());
    dispatcher.add(job(1, ""));
    http::JobCall ftp = job(2, "");
    ftp.endpoint = "ftp://127.0.0.1/x";
    dispatcher.add(std::move(ftp));
    dispatcher.commit();

    std::vector<http::FinishedCall> done = dispatcher.progress(1000, std::time(nullptr));
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[0].decision.verdict, core::Verdict::Fail);
    EXPECT_NE(done[0].decision.error.find("no endpoint"), std::string::npos);
    EXPECT_EQ(done[1].decision.verdict, core::Verdict::Fail);
    EXPECT_NE(done[1].decision.error.find("not acceptable"), std::string::npos);
    EXPECT_EQ(done[1].decision.error.find("ftp://"), std::string::npos)
        << "the URL is not repeated";
    EXPECT_TRUE(dispatcher.idle());
}

TEST_F(DispatcherTest, RequestsAreSignedWhenASecretIsSet)
{
    for (const std::string secret : {"", "s3cret"})
    {
        http::Dispatcher dispatcher;
        http::DispatchSettings s = settings();
        s.secret = secret;
        dispatcher.configure(s);
        dispatcher.add(job(1, "/echo"));
        dispatcher.commit();
        std::vector<http::FinishedCall> done = finish(dispatcher, 1);
        ASSERT_EQ(done.size(), 1u);
        // /echo answers: timestamp, signature, content type and body, one per line.
        std::string body = done[0].body;
        std::string timestamp = body.substr(0, body.find('\n'));
        std::string signature = body.substr(timestamp.size() + 1);
        signature = signature.substr(0, signature.find('\n'));
        EXPECT_NE(body.find("{\"n\": 1}"), std::string::npos);
        if (secret.empty())
        {
            EXPECT_EQ(signature, "") << body;
            continue;
        }
        std::vector<std::string> expected =
            http::signature_headers(secret, std::stoll(timestamp), url("/echo"), "{\"n\": 1}");
        ASSERT_EQ(expected.size(), 2u);
        EXPECT_EQ("X-Regen-Signature: " + signature, expected[1]);
        EXPECT_LE(std::llabs(std::stoll(timestamp) - std::time(nullptr)), 5);
    }
}

TEST_F(DispatcherTest, JobsAreTakenBackAndListed)
{
    http::Dispatcher dispatcher;
    dispatcher.configure(settings(2));
    EXPECT_TRUE(dispatcher.wants_more());
    for (unsigned char n = 1; n <= 4; n++)
        dispatcher.add(job(n, "/sleep/2000"));
    EXPECT_FALSE(dispatcher.wants_more()) << "4 waiting, 2 may be in flight";
    dispatcher.commit();
    (void)dispatcher.progress(0, std::time(nullptr));
    EXPECT_EQ(dispatcher.in_flight(), 2u);
    EXPECT_EQ(dispatcher.job_ids().size(), 4u);

    std::vector<http::JobCall> waiting = dispatcher.drop_waiting();
    std::vector<http::JobCall> flying = dispatcher.drop_in_flight();
    EXPECT_EQ(waiting.size(), 2u);
    EXPECT_EQ(flying.size(), 2u);
    std::set<int> ids;
    for (const auto *list : {&waiting, &flying})
        for (const http::JobCall &call : *list)
            ids.insert(call.id[0]);
    EXPECT_EQ(ids, (std::set<int>{1, 2, 3, 4}));
    EXPECT_TRUE(dispatcher.idle());
    EXPECT_TRUE(dispatcher.progress(100, std::time(nullptr)).empty());
}

TEST(TargetAsSent, PathAndQueryAsLibcurlSendsThem)
{
    EXPECT_EQ(http::target_as_sent("http://gen.example"), "/");
    EXPECT_EQ(http::target_as_sent("http://gen.example/"), "/");
    EXPECT_EQ(http::target_as_sent("https://gen.example:8443/v1/regenerate"), "/v1/regenerate");
    EXPECT_EQ(http::target_as_sent("http://gen.example/v1?a=1&b=2"), "/v1?a=1&b=2");
    EXPECT_EQ(http::target_as_sent("http://gen.example?a=1"), "/?a=1");
    EXPECT_EQ(http::target_as_sent("http://gen.example/v1#part"), "/v1");
    EXPECT_EQ(http::target_as_sent("http://gen.example/a/../x"), "/x") << "dot segments";
    EXPECT_EQ(http::target_as_sent("http://gen.example/a/./b/"), "/a/b/");
}

TEST(EndpointProblem, LibcurlsParserHasTheLastWord)
{
    EXPECT_EQ(http::endpoint_problem("http://127.0.0.1:8080/generate"), "");
    EXPECT_EQ(http::endpoint_problem("ftp://a.test/"),
              "an endpoint URL must start with http:// or https://");
    EXPECT_NE(http::endpoint_problem("http://127.0.0.1:80\\x/"), "");
    EXPECT_NE(http::endpoint_problem("http://127.0.0.1:99999/"), "");
}

} // namespace
