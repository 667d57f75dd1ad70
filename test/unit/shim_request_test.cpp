// Unit tests for what the shim reads from a request: routes, methods, uuids, the worker token,
// the user id, Content-Length and the printable form of client text in logs.
#include "shim/request.hpp"

#include <gtest/gtest.h>

#include <string>

namespace
{

using namespace regen::shim;

const std::string kUuid = "0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";

// --- match_route ------------------------------------------------------------------------------

TEST(MatchRoute, FixedPaths)
{
    EXPECT_EQ(match_route("/api/internal/jobs/regeneration/process").route, Route::Drain);
    EXPECT_EQ(match_route("/healthz").route, Route::Health);
    EXPECT_EQ(match_route("/metrics").route, Route::Metrics);
}

TEST(MatchRoute, FixedPathsCarryNoPlanId)
{
    EXPECT_EQ(match_route("/healthz").plan_id, "");
    EXPECT_EQ(match_route("/api/internal/jobs/regeneration/process").plan_id, "");
}

TEST(MatchRoute, EnqueueTakesThePlanIdAsSent)
{
    RouteMatch match = match_route("/api/v1/plans/" + kUuid + "/regenerate");
    EXPECT_EQ(match.route, Route::Enqueue);
    EXPECT_EQ(match.plan_id, kUuid);

    // Validation is the caller's: any one segment matches the route.
    match = match_route("/api/v1/plans/not-a-uuid/regenerate");
    EXPECT_EQ(match.route, Route::Enqueue);
    EXPECT_EQ(match.plan_id, "not-a-uuid");
}

TEST(MatchRoute, EmptyPlanIdStillMatchesTheRoute)
{
    RouteMatch match = match_route("/api/v1/plans//regenerate");
    EXPECT_EQ(match.route, Route::Enqueue);
    EXPECT_EQ(match.plan_id, "");
}

TEST(MatchRoute, TrailingSlashIsNoRoute)
{
    EXPECT_EQ(match_route("/healthz/").route, Route::Unknown);
    EXPECT_EQ(match_route("/metrics/").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/internal/jobs/regeneration/process/").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/v1/plans/" + kUuid + "/regenerate/").route, Route::Unknown);
}

TEST(MatchRoute, ExtraSegmentsAreNoRoute)
{
    EXPECT_EQ(match_route("/api/v1/plans/a/b/regenerate").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/v1/plans/" + kUuid + "/regenerate/again").route, Route::Unknown);
    EXPECT_EQ(match_route("/x/api/v1/plans/" + kUuid + "/regenerate").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/v1/plans///regenerate").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/internal/jobs/regeneration/process/x").route, Route::Unknown);
    EXPECT_EQ(match_route("/healthz/x").route, Route::Unknown);
}

TEST(MatchRoute, PrefixOnlyPathsAreNoRoute)
{
    EXPECT_EQ(match_route("").route, Route::Unknown);
    EXPECT_EQ(match_route("/").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/v1/plans/").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/v1/plans").route, Route::Unknown);
    // Prefix and suffix overlapping on the slash: no segment between them.
    EXPECT_EQ(match_route("/api/v1/plans/regenerate").route, Route::Unknown);
    EXPECT_EQ(match_route("/regenerate").route, Route::Unknown);
    EXPECT_EQ(match_route("/api/internal/jobs/regeneration").route, Route::Unknown);
    EXPECT_EQ(match_route("/health").route, Route::Unknown);
}

TEST(MatchRoute, CaseAndQueryAreNotIgnored)
{
    EXPECT_EQ(match_route("/HEALTHZ").route, Route::Unknown);
    EXPECT_EQ(match_route("/API/v1/plans/" + kUuid + "/regenerate").route, Route::Unknown);
    EXPECT_EQ(match_route("/healthz?x=1").route, Route::Unknown);
}

TEST(MatchRoute, UnknownCarriesNoPlanId)
{
    EXPECT_EQ(match_route("/api/v1/plans/a/b/regenerate").plan_id, "");
}

// --- methods ----------------------------------------------------------------------------------

TEST(Methods, AllowedPerRoute)
{
    for (Route route : {Route::Enqueue, Route::Drain})
    {
        EXPECT_TRUE(method_allowed(route, "POST"));
        for (const char *method : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "post", ""})
            EXPECT_FALSE(method_allowed(route, method)) << method;
        EXPECT_STREQ(allowed_methods(route), "POST");
    }
    for (Route route : {Route::Health, Route::Metrics})
    {
        EXPECT_TRUE(method_allowed(route, "GET"));
        EXPECT_TRUE(method_allowed(route, "HEAD"));
        for (const char *method : {"POST", "PUT", "get", "head", ""})
            EXPECT_FALSE(method_allowed(route, method)) << method;
        EXPECT_STREQ(allowed_methods(route), "GET, HEAD");
    }
}

TEST(Methods, UnknownRouteAllowsNothing)
{
    for (const char *method : {"GET", "HEAD", "POST", ""})
        EXPECT_FALSE(method_allowed(Route::Unknown, method)) << method;
    EXPECT_STREQ(allowed_methods(Route::Unknown), "");
}

TEST(Methods, AllowListAgreesWithMethodAllowed)
{
    for (Route route : {Route::Enqueue, Route::Drain, Route::Health, Route::Metrics})
    {
        std::string allow = allowed_methods(route);
        for (const char *method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
        {
            bool listed = false;
            std::size_t start = 0;
            while (start <= allow.size())
            {
                std::size_t end = allow.find(", ", start);
                std::string item =
                    allow.substr(start, end == std::string::npos ? end : end - start);
                listed = listed || item == method;
                if (end == std::string::npos)
                    break;
                start = end + 2;
            }
            EXPECT_EQ(listed, method_allowed(route, method)) << allow << " / " << method;
        }
    }
}

TEST(RouteName, TemplatesNotPaths)
{
    EXPECT_STREQ(route_name(Route::Enqueue), "/api/v1/plans/:planId/regenerate");
    EXPECT_STREQ(route_name(Route::Drain), "/api/internal/jobs/regeneration/process");
    EXPECT_STREQ(route_name(Route::Health), "/healthz");
    EXPECT_STREQ(route_name(Route::Metrics), "/metrics");
    EXPECT_STREQ(route_name(Route::Unknown), "unknown");
}

// --- is_canonical_uuid ------------------------------------------------------------------------

TEST(CanonicalUuid, AcceptsEitherCase)
{
    EXPECT_TRUE(is_canonical_uuid(kUuid));
    EXPECT_TRUE(is_canonical_uuid("0B7F6F1E-2C3D-4E5F-8A9B-0C1D2E3F4A5B"));
    EXPECT_TRUE(is_canonical_uuid("00000000-0000-0000-0000-000000000000"));
    EXPECT_TRUE(is_canonical_uuid("ffffffff-FFFF-ffff-FFFF-ffffffffffff"));
}

TEST(CanonicalUuid, RejectsOtherForms)
{
    EXPECT_FALSE(is_canonical_uuid(""));
    EXPECT_FALSE(is_canonical_uuid("0b7f6f1e2c3d4e5f8a9b0c1d2e3f4a5b"));        // no dashes
    EXPECT_FALSE(is_canonical_uuid("{" + kUuid + "}"));                         // braces
    EXPECT_FALSE(is_canonical_uuid(kUuid.substr(1)));                           // too short
    EXPECT_FALSE(is_canonical_uuid(kUuid + "0"));                               // too long
    EXPECT_FALSE(is_canonical_uuid(" " + kUuid.substr(1)));                     // blank
    EXPECT_FALSE(is_canonical_uuid("0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5g"));    // not hex
    EXPECT_FALSE(is_canonical_uuid("0b7f6f1e-2c3d-4e5f-8a9b0-c1d2e3f4a5b"));    // dash moved
    EXPECT_FALSE(is_canonical_uuid("0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5\xC3")); // high byte
    EXPECT_FALSE(is_canonical_uuid(std::string("0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5\0", 36)));
}

TEST(CanonicalUuid, EveryDashPositionMatters)
{
    for (std::size_t i : {8u, 13u, 18u, 23u})
    {
        std::string text = kUuid;
        text[i] = 'a';
        EXPECT_FALSE(is_canonical_uuid(text)) << i;
    }
    for (std::size_t i = 0; i < kUuid.size(); i++)
    {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            continue;
        std::string text = kUuid;
        text[i] = '-';
        EXPECT_FALSE(is_canonical_uuid(text)) << i;
    }
}

// --- extract_token ----------------------------------------------------------------------------

TokenResult
token_of(const HeaderList &headers)
{
    return extract_token(headers);
}

void
expect_present(const HeaderList &headers, const std::string &token)
{
    TokenResult result = extract_token(headers);
    EXPECT_EQ(result.presence, TokenPresence::Present);
    EXPECT_EQ(result.token, token);
}

void
expect_malformed(const HeaderList &headers)
{
    TokenResult result = extract_token(headers);
    EXPECT_EQ(result.presence, TokenPresence::Malformed);
    EXPECT_EQ(result.token, "");
}

TEST(ExtractToken, NoHeaders)
{
    TokenResult result = token_of({});
    EXPECT_EQ(result.presence, TokenPresence::None);
    EXPECT_EQ(result.token, "");

    result = token_of({{"content-type", "application/json"}, {"x-user-id", kUuid}});
    EXPECT_EQ(result.presence, TokenPresence::None);
}

TEST(ExtractToken, BearerSchemeInAnyCase)
{
    for (const char *scheme : {"Bearer", "bearer", "BEARER", "bEaReR"})
        expect_present({{"Authorization", std::string(scheme) + " s3cret"}}, "s3cret");
}

TEST(ExtractToken, HeaderNamesInAnyCase)
{
    expect_present({{"authorization", "Bearer abc"}}, "abc");
    expect_present({{"AUTHORIZATION", "Bearer abc"}}, "abc");
    expect_present({{"X-Regeneration-Worker-Token", "abc"}}, "abc");
    expect_present({{"X-REGENERATION-WORKER-TOKEN", "abc"}}, "abc");
}

TEST(ExtractToken, BlanksAroundAreTrimmed)
{
    expect_present({{"Authorization", "  Bearer   abc  "}}, "abc");
    expect_present({{"Authorization", "\tBearer\tabc\t"}}, "abc");
    expect_present({{"Authorization", "Bearer \t abc \t "}}, "abc");
    expect_present({{"x-regeneration-worker-token", "  abc\t"}}, "abc");
    expect_present({{"x-regeneration-worker-token", "\t\tabc"}}, "abc");
}

TEST(ExtractToken, TokenKeepsItsCaseAndPunctuation)
{
    expect_present({{"Authorization", "Bearer AbC-._~+/="}}, "AbC-._~+/=");
    expect_present({{"x-regeneration-worker-token", "AbC-._~+/="}}, "AbC-._~+/=");
}

TEST(ExtractToken, CustomHeaderAlone)
{
    expect_present({{"x-regeneration-worker-token", "tok"}}, "tok");
    // Other headers around it do not matter.
    expect_present({{"host", "x"}, {"x-regeneration-worker-token", "tok"}, {"accept", "*/*"}},
                   "tok");
}

TEST(ExtractToken, BothHeadersAreMalformed)
{
    expect_malformed({{"Authorization", "Bearer tok"}, {"x-regeneration-worker-token", "tok"}});
    expect_malformed({{"x-regeneration-worker-token", "a"}, {"Authorization", "Bearer b"}});
    // Even when one of them is empty.
    expect_malformed({{"Authorization", ""}, {"x-regeneration-worker-token", "tok"}});
}

TEST(ExtractToken, DuplicatesAreMalformed)
{
    expect_malformed({{"Authorization", "Bearer tok"}, {"Authorization", "Bearer tok"}});
    expect_malformed({{"Authorization", "Bearer a"}, {"authorization", "Bearer b"}});
    expect_malformed(
        {{"x-regeneration-worker-token", "tok"}, {"x-regeneration-worker-token", "tok"}});
    expect_malformed({{"x-regeneration-worker-token", "a"}, {"X-Regeneration-Worker-Token", "b"}});
    expect_malformed({{"x-regeneration-worker-token", ""}, {"x-regeneration-worker-token", "b"}});
}

TEST(ExtractToken, EmptyTokensAreMalformed)
{
    expect_malformed({{"Authorization", ""}});
    expect_malformed({{"Authorization", "   "}});
    expect_malformed({{"Authorization", "Bearer "}});
    expect_malformed({{"Authorization", "Bearer \t "}});
    expect_malformed({{"x-regeneration-worker-token", ""}});
    expect_malformed({{"x-regeneration-worker-token", " \t "}});
}

TEST(ExtractToken, BearerAloneIsMalformed)
{
    expect_malformed({{"Authorization", "Bearer"}});
    expect_malformed({{"Authorization", "  bearer  "}});
}

TEST(ExtractToken, OtherSchemesAreMalformed)
{
    expect_malformed({{"Authorization", "Basic dXNlcjpwYXNz"}});
    expect_malformed({{"Authorization", "Token abc"}});
    expect_malformed({{"Authorization", "abc"}});
    expect_malformed({{"Authorization", "Bearerabc"}}); // no blank after the scheme
    expect_malformed({{"Authorization", "Bearer:abc"}});
    expect_malformed({{"Authorization", "Bear abc"}});
    expect_malformed({{"Authorization", "BearerX abc"}});
}

TEST(ExtractToken, InnerBlanksAreMalformed)
{
    expect_malformed({{"Authorization", "Bearer ab cd"}});
    expect_malformed({{"Authorization", "Bearer ab\tcd"}});
    expect_malformed({{"Authorization", "Bearer Bearer abc"}});
    expect_malformed({{"x-regeneration-worker-token", "ab cd"}});
    expect_malformed({{"x-regeneration-worker-token", "Bearer abc"}});
}

TEST(ExtractToken, ControlCharactersAndInvalidUtf8AreMalformed)
{
    using namespace std::string_literals;
    expect_malformed({{"Authorization", "Bearer tok\0junk"s}}); // NUL cuts nothing short
    expect_malformed({{"x-regeneration-worker-token", "tok\0"s}});
    expect_malformed({{"Authorization", "Bearer tok\x7f"}});
    expect_malformed({{"Authorization", "Bearer tok\x01en"}});
    expect_malformed({{"Authorization", "Bearer tok\xff"}});
    expect_malformed({{"x-regeneration-worker-token", "\xc3\x28"}});
    expect_malformed({{"x-regeneration-worker-token", "tok\ren"}});
}

TEST(ExtractToken, NonAsciiUtf8IsAToken)
{
    TokenResult result = token_of({{"x-regeneration-worker-token", "t\xc3\xa9l\xc3\xa9"}});
    EXPECT_EQ(result.presence, TokenPresence::Present);
    EXPECT_EQ(result.token, "t\xc3\xa9l\xc3\xa9");
}

TEST(ExtractToken, SimilarHeaderNamesAreIgnored)
{
    TokenResult result = token_of({{"x-regeneration-worker-token2", "a"},
                                   {"proxy-authorization", "Bearer b"},
                                   {"authorization ", "Bearer c"}});
    EXPECT_EQ(result.presence, TokenPresence::None);
}

// --- framing_problem --------------------------------------------------------------------------

TEST(FramingProblem, OrdinaryRequestsAreFine)
{
    EXPECT_EQ(framing_problem({{"Host", "a"}, {"Content-Length", "5"}}, "HTTP/1.1"), nullptr);
    EXPECT_EQ(framing_problem({{"host", "a"}, {"Transfer-Encoding", " Chunked "}}, "HTTP/1.1"),
              nullptr);
    EXPECT_EQ(framing_problem({{"Host", "a"}}, "HTTP/1.1"), nullptr);
    EXPECT_EQ(framing_problem({}, "HTTP/1.0"), nullptr); // HTTP/1.0 needs no Host
}

TEST(FramingProblem, AmbiguousLengthsAreRefused)
{
    EXPECT_NE(framing_problem({{"Host", "a"}, {"Content-Length", "5"}, {"content-length", "6"}},
                              "HTTP/1.1"),
              nullptr);
    EXPECT_NE(framing_problem({{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "5"}},
                              "HTTP/1.1"),
              nullptr);
    EXPECT_NE(
        framing_problem({{"Host", "a"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}},
                        "HTTP/1.1"),
        nullptr);
}

TEST(FramingProblem, OtherTransferEncodingsAreRefused)
{
    for (const char *encoding : {"gzip, chunked", "identity", "gzip", "chunked, chunked", ""})
        EXPECT_NE(framing_problem({{"Host", "a"}, {"Transfer-Encoding", encoding}}, "HTTP/1.1"),
                  nullptr)
            << encoding;
    EXPECT_NE(
        framing_problem(
            {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}},
            "HTTP/1.1"),
        nullptr);
}

TEST(FramingProblem, Http11NeedsOneHost)
{
    EXPECT_NE(framing_problem({}, "HTTP/1.1"), nullptr);
    EXPECT_NE(framing_problem({{"Host", "a"}, {"Host", "b"}}, "HTTP/1.1"), nullptr);
}

// --- extract_user_id --------------------------------------------------------------------------

TEST(ExtractUserId, Absent)
{
    UserIdResult result = extract_user_id({{"authorization", "Bearer x"}});
    EXPECT_EQ(result.presence, UserIdPresence::None);
    EXPECT_EQ(result.user_id, "");
}

TEST(ExtractUserId, OneCanonicalUuid)
{
    UserIdResult result = extract_user_id({{"x-user-id", kUuid}});
    EXPECT_EQ(result.presence, UserIdPresence::Present);
    EXPECT_EQ(result.user_id, kUuid);

    result = extract_user_id({{"X-User-Id", " \t" + kUuid + "\t "}});
    EXPECT_EQ(result.presence, UserIdPresence::Present);
    EXPECT_EQ(result.user_id, kUuid);
}

TEST(ExtractUserId, InvalidValues)
{
    for (const std::string &value :
         {std::string(""), std::string("  "), std::string("42"), std::string("not-a-uuid"),
          "{" + kUuid + "}", kUuid + "0", kUuid.substr(0, 35)})
    {
        UserIdResult result = extract_user_id({{"x-user-id", value}});
        EXPECT_EQ(result.presence, UserIdPresence::Invalid) << value;
        EXPECT_EQ(result.user_id, "") << value;
    }
}

TEST(ExtractUserId, TwiceIsInvalidEvenWhenEqual)
{
    UserIdResult result = extract_user_id({{"x-user-id", kUuid}, {"X-USER-ID", kUuid}});
    EXPECT_EQ(result.presence, UserIdPresence::Invalid);
    EXPECT_EQ(result.user_id, "");

    result = extract_user_id({{"x-user-id", "bad"}, {"x-user-id", kUuid}});
    EXPECT_EQ(result.presence, UserIdPresence::Invalid);
    EXPECT_EQ(result.user_id, "");
}

// --- parse_content_length ---------------------------------------------------------------------

TEST(ContentLength, Digits)
{
    EXPECT_EQ(parse_content_length("0"), 0u);
    EXPECT_EQ(parse_content_length("000"), 0u);
    EXPECT_EQ(parse_content_length("65536"), 65536u);
    EXPECT_EQ(parse_content_length("0065537"), 65537u);
}

TEST(ContentLength, LargestValueAndOverflow)
{
    EXPECT_EQ(parse_content_length("18446744073709551615"), 18446744073709551615ull);
    EXPECT_EQ(parse_content_length("018446744073709551615"), 18446744073709551615ull);
    EXPECT_EQ(parse_content_length("18446744073709551614"), 18446744073709551614ull);
    EXPECT_EQ(parse_content_length("18446744073709551616"), std::nullopt);
    EXPECT_EQ(parse_content_length("18446744073709551620"), std::nullopt);
    EXPECT_EQ(parse_content_length("99999999999999999999"), std::nullopt);
    EXPECT_EQ(parse_content_length("184467440737095516150"), std::nullopt);
    EXPECT_EQ(parse_content_length(std::string(400, '9')), std::nullopt);
}

TEST(ContentLength, NonDigits)
{
    for (const std::string &text :
         {std::string(""), std::string(" "), std::string(" 5"), std::string("5 "),
          std::string("+5"), std::string("-5"), std::string("5a"), std::string("0x10"),
          std::string("1e3"), std::string("1.0"), std::string("1,2"), std::string("٣"),
          std::string("5\0", 2)})
        EXPECT_EQ(parse_content_length(text), std::nullopt) << text;
}

// --- printable --------------------------------------------------------------------------------

TEST(Printable, KeepsPrintableAscii)
{
    EXPECT_EQ(printable("GET /healthz ~!"), "GET /healthz ~!");
    EXPECT_EQ(printable(""), "");
}

TEST(Printable, ReplacesEveryOtherByte)
{
    EXPECT_EQ(printable("a\r\nb\tc\x7f"), "a??b?c?");
    EXPECT_EQ(printable(std::string("x\0y", 3)), "x?y");
    EXPECT_EQ(printable("\xC3\xA9"), "??"); // one byte, one mark
    EXPECT_EQ(printable("\x1b[31m"), "?[31m");
}

TEST(Printable, CutsAtMaxBytes)
{
    EXPECT_EQ(printable("abcdef", 3), "abc...");
    EXPECT_EQ(printable("abc", 3), "abc");
    EXPECT_EQ(printable("abcd", 0), "...");
    EXPECT_EQ(printable("", 0), "");
    EXPECT_EQ(printable(std::string(200, 'a')), std::string(200, 'a'));
    EXPECT_EQ(printable(std::string(201, 'a')), std::string(200, 'a') + "...");
}

} // namespace
