// Unit tests of what a drain decides after calling a job type's HTTP endpoint (issue 4).
#include "core/http_call.hpp"

#include <gtest/gtest.h>

#include <string>

namespace
{

using namespace regen::core;

// 2026-12-04 12:00:00 UTC.
constexpr std::time_t kNow = 1796385600;

CallOutcome
answered(long status, std::string_view retry_after = {}, double elapsed_s = 0.25)
{
    CallOutcome outcome;
    outcome.transport = Transport::Answered;
    outcome.status = status;
    outcome.retry_after = retry_after;
    outcome.elapsed_s = elapsed_s;
    return outcome;
}

CallOutcome
failed_transport(Transport transport, std::string_view reason = {})
{
    CallOutcome outcome;
    outcome.transport = transport;
    outcome.reason = reason;
    outcome.elapsed_s = 1.5;
    return outcome;
}

// --- decide_call ------------------------------------------------------------------------------

TEST(DecideCall, EverySuccessStatusCompletes)
{
    for (long status = 200; status <= 299; status++)
    {
        CallDecision decision = decide_call(answered(status), kNow);
        EXPECT_EQ(decision.verdict, Verdict::Complete) << status;
        EXPECT_EQ(decision.error, "") << status;
        EXPECT_EQ(decision.min_delay_ms, 0) << status;
    }
}

TEST(DecideCall, RetryableStatuses)
{
    for (long status : {408L, 425L, 429L, 500L, 502L, 503L, 504L, 599L})
    {
        CallDecision decision = decide_call(answered(status), kNow);
        EXPECT_EQ(decision.verdict, Verdict::Retry) << status;
        EXPECT_EQ(decision.error, "HTTP " + std::to_string(status) + " after 0.250 s") << status;
    }
}

TEST(DecideCall, OtherStatusesArePermanent)
{
    for (long status : {100L, 199L, 400L, 401L, 403L, 404L, 409L, 410L, 422L, 499L, 600L, 0L})
    {
        CallDecision decision = decide_call(answered(status), kNow);
        EXPECT_EQ(decision.verdict, Verdict::Fail) << status;
        EXPECT_EQ(decision.error, "HTTP " + std::to_string(status) + " after 0.250 s") << status;
    }
}

TEST(DecideCall, RedirectsArePermanentAndSaySo)
{
    for (long status : {301L, 302L, 307L, 308L})
    {
        CallDecision decision = decide_call(answered(status), kNow);
        EXPECT_EQ(decision.verdict, Verdict::Fail) << status;
        EXPECT_EQ(decision.error,
                  "HTTP " + std::to_string(status) + " (redirects are not followed) after 0.250 s");
    }
}

TEST(DecideCall, RetryAfterOn429And503)
{
    CallDecision decision = decide_call(answered(429, "30"), kNow);
    EXPECT_EQ(decision.verdict, Verdict::Retry);
    EXPECT_EQ(decision.min_delay_ms, 30000);
    EXPECT_EQ(decision.error, "HTTP 429 (Retry-After 30 s) after 0.250 s");

    decision = decide_call(answered(503, "Fri, 04 Dec 2026 12:02:00 GMT"), kNow);
    EXPECT_EQ(decision.min_delay_ms, 120000);
}

TEST(DecideCall, RetryAfterIsIgnoredOnOtherStatuses)
{
    for (long status : {500L, 502L, 408L, 200L, 404L})
        EXPECT_EQ(decide_call(answered(status, "30"), kNow).min_delay_ms, 0) << status;
}

TEST(DecideCall, UnreadableRetryAfterIsIgnored)
{
    CallDecision decision = decide_call(answered(503, "soon"), kNow);
    EXPECT_EQ(decision.verdict, Verdict::Retry);
    EXPECT_EQ(decision.min_delay_ms, 0);
    EXPECT_EQ(decision.error, "HTTP 503 after 0.250 s");
}

TEST(DecideCall, TransportFailures)
{
    CallDecision timed_out = decide_call(failed_transport(Transport::TimedOut), kNow);
    EXPECT_EQ(timed_out.verdict, Verdict::Retry);
    EXPECT_EQ(timed_out.error, "timed out after 1.500 s");

    CallDecision refused =
        decide_call(failed_transport(Transport::ConnectFailed, "Connection refused"), kNow);
    EXPECT_EQ(refused.verdict, Verdict::Retry);
    EXPECT_EQ(refused.error, "could not connect: Connection refused after 1.500 s");

    CallDecision broken = decide_call(failed_transport(Transport::Broken), kNow);
    EXPECT_EQ(broken.verdict, Verdict::Retry);
    EXPECT_EQ(broken.error, "connection failed after 1.500 s");

    CallDecision too_large = decide_call(failed_transport(Transport::TooLarge), kNow);
    EXPECT_EQ(too_large.verdict, Verdict::Fail);
    EXPECT_EQ(too_large.error, "response body too large, cut off after 1.500 s");
}

TEST(DecideCall, TransportReasonsAreCleanedAndBounded)
{
    std::string reason = "bad\x01" + std::string(500, 'x');
    CallDecision decision = decide_call(failed_transport(Transport::Broken, reason), kNow);
    EXPECT_EQ(decision.error.find('\x01'), std::string::npos);
    EXPECT_LT(decision.error.size(), 260u);
}

// --- parse_retry_after ------------------------------------------------------------------------

TEST(ParseRetryAfter, DelaySeconds)
{
    EXPECT_EQ(parse_retry_after("0", kNow), 0);
    EXPECT_EQ(parse_retry_after("120", kNow), 120000);
    EXPECT_EQ(parse_retry_after("  7 ", kNow), 7000);
    EXPECT_EQ(parse_retry_after("99999999999999999999", kNow), 86400000); // capped at a day
}

TEST(ParseRetryAfter, HttpDates)
{
    EXPECT_EQ(parse_retry_after("Fri, 04 Dec 2026 12:00:10 GMT", kNow), 10000);
    EXPECT_EQ(parse_retry_after("Fri, 04 Dec 2026 11:00:00 GMT", kNow), 0); // in the past
    EXPECT_EQ(parse_retry_after("Sat, 05 Dec 2026 12:00:00 GMT", kNow), 86400000);
    EXPECT_EQ(parse_retry_after("Sun, 06 Dec 2026 12:00:00 GMT", kNow), 86400000); // capped
}

TEST(ParseRetryAfter, AnythingElseIsNothing)
{
    for (const char *text : {"", " ", "-1", "1.5", "10s", "soon", "Fri, 04 Dec 2026 12:00:10 UTC",
                             "Friday, 04-Dec-26 12:00:10 GMT", "Fri Dec  4 12:00:10 2026",
                             "Fri, 4 Dec 2026 12:00:10 GMT", "Fri, 04 Dez 2026 12:00:10 GMT",
                             "Fri, 04 Dec 2026 24:00:10 GMT", "Xyz, 04 Dec 2026 12:00:10 GMT"})
        EXPECT_EQ(parse_retry_after(text, kNow), std::nullopt) << text;
}

TEST(RetryDelay, TheLongerOfPolicyAndEndpoint)
{
    FailureDecision policy{true, 4000};
    CallDecision call;
    call.min_delay_ms = 30000;
    EXPECT_EQ(retry_delay_ms(policy, call), 30000);
    call.min_delay_ms = 1000;
    EXPECT_EQ(retry_delay_ms(policy, call), 4000);
}

// --- endpoints and signatures -----------------------------------------------------------------

TEST(AcceptableEndpoint, HttpAndHttpsWithAHost)
{
    std::string why = "untouched";
    for (const char *url :
         {"http://gen.internal/v1/regenerate", "https://gen.example:8443",
          "HTTPS://GEN.EXAMPLE/x?y=1", "http://127.0.0.1:9000/", "http://[::1]:9000/regenerate"})
    {
        EXPECT_TRUE(acceptable_endpoint(url, why)) << url;
        EXPECT_EQ(why, "") << url;
    }
}

TEST(AcceptableEndpoint, RefusedWithAReason)
{
    struct Case
    {
        const char *url;
        const char *why;
    } cases[] = {
        {"ftp://gen.example/x", "an endpoint URL must start with http:// or https://"},
        {"file:///etc/passwd", "an endpoint URL must start with http:// or https://"},
        {"gen.example/x", "an endpoint URL must start with http:// or https://"},
        {"", "an endpoint URL must start with http:// or https://"},
        {"http://", "an endpoint URL must name a host"},
        {"http:///path", "an endpoint URL must name a host"},
        {"http://:80/path", "an endpoint URL must name a host"},
        {"http://user:secret@gen.example/",
         "an endpoint URL must not carry credentials (user:password@)"},
        {"http://gen.example/a b", "an endpoint URL must be ASCII without blanks or control "
                                   "characters"},
        {"http://gen.example/\xc3\xa9", "an endpoint URL must be ASCII without blanks or "
                                        "control characters"},
    };
    for (const Case &c : cases)
    {
        std::string why;
        EXPECT_FALSE(acceptable_endpoint(c.url, why)) << c.url;
        EXPECT_EQ(why, c.why) << c.url;
        EXPECT_EQ(why.find("secret"), std::string::npos) << "the reason repeats the URL";
    }
}

TEST(TrimHttpBlanks, SpacesAndTabsOnly)
{
    EXPECT_EQ(trim_http_blanks(" \t 30 \t"), "30");
    EXPECT_EQ(trim_http_blanks("a b"), "a b");
    EXPECT_EQ(trim_http_blanks(" \t "), "");
    EXPECT_EQ(trim_http_blanks("\r30\n"), "\r30\n"); // line ends are not blanks
}

TEST(LowerHex, TwoDigitsPerByte)
{
    const unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff};
    EXPECT_EQ(lower_hex(bytes, sizeof bytes), "000fa0ff");
    EXPECT_EQ(lower_hex(bytes, 0), "");
}

TEST(SignatureBase, OneFieldPerLine)
{
    EXPECT_EQ(signature_base(1796472000, "POST", "/v1/regenerate",
                             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
              "1796472000\nPOST\n/v1/regenerate\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

} // namespace
