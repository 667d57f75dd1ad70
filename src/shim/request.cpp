#include "request.hpp"

#include "../core/http_call.hpp"
#include "../core/utf8.hpp"

#include <cctype>
#include <limits>

namespace regen::shim
{

namespace
{

constexpr std::string_view kEnqueuePrefix = "/api/v1/plans/";
constexpr std::string_view kEnqueueSuffix = "/regenerate";
constexpr std::string_view kDrainPath = "/api/internal/jobs/regeneration/process";
constexpr std::string_view kTokenHeader = "x-regeneration-worker-token";
constexpr std::string_view kUserIdHeader = "x-user-id";

bool
equal_ignoring_case(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); i++)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

// A token is visible characters only: no blank, control character or invalid UTF-8 (the
// configured one cannot hold them, so such a header is a client's mistake, or an attack).
bool
usable_token(std::string_view token)
{
    if (token.empty())
        return false;
    for (std::size_t pos = 0; pos < token.size();)
    {
        auto c = static_cast<unsigned char>(token[pos]);
        core::utf8::Decoded decoded = core::utf8::decode(token, pos);
        if (c <= ' ' || c == 0x7f || !decoded.valid)
            return false;
        pos += decoded.length;
    }
    return true;
}

// The token of an Authorization value, or nothing when it is not "Bearer <one token>".
std::optional<std::string>
bearer_token(std::string_view value)
{
    constexpr std::string_view kScheme = "bearer";

    value = core::trim_http_blanks(value);
    if (value.size() <= kScheme.size() ||
        !equal_ignoring_case(value.substr(0, kScheme.size()), kScheme) ||
        !is_blank(value[kScheme.size()]))
        return std::nullopt;

    std::string_view token = core::trim_http_blanks(value.substr(kScheme.size()));
    if (!usable_token(token))
        return std::nullopt;
    return std::string(token);
}

} // namespace

RouteMatch
match_route(std::string_view path)
{
    RouteMatch match;

    if (path == kDrainPath)
        match.route = Route::Drain;
    else if (path == "/healthz")
        match.route = Route::Health;
    else if (path == "/metrics")
        match.route = Route::Metrics;
    else if (path.size() >= kEnqueuePrefix.size() + kEnqueueSuffix.size() &&
             path.substr(0, kEnqueuePrefix.size()) == kEnqueuePrefix &&
             path.substr(path.size() - kEnqueueSuffix.size()) == kEnqueueSuffix)
    {
        std::string_view id = path.substr(
            kEnqueuePrefix.size(), path.size() - kEnqueuePrefix.size() - kEnqueueSuffix.size());
        // One path segment only: /plans/a/b/regenerate is no route of ours.
        if (id.find('/') == std::string_view::npos)
        {
            match.route = Route::Enqueue;
            match.plan_id = std::string(id);
        }
    }
    return match;
}

const char *
allowed_methods(Route route)
{
    switch (route)
    {
        case Route::Enqueue:
        case Route::Drain:
            return "POST";
        case Route::Health:
        case Route::Metrics:
            return "GET, HEAD";
        case Route::Unknown:
            break;
    }
    return "";
}

bool
method_allowed(Route route, std::string_view method)
{
    switch (route)
    {
        case Route::Enqueue:
        case Route::Drain:
            return method == "POST";
        case Route::Health:
        case Route::Metrics:
            return method == "GET" || method == "HEAD";
        case Route::Unknown:
            break;
    }
    return false;
}

const char *
route_name(Route route)
{
    switch (route)
    {
        case Route::Enqueue:
            return "/api/v1/plans/:planId/regenerate";
        case Route::Drain:
            return "/api/internal/jobs/regeneration/process";
        case Route::Health:
            return "/healthz";
        case Route::Metrics:
            return "/metrics";
        case Route::Unknown:
            break;
    }
    return "unknown";
}

bool
is_canonical_uuid(std::string_view text)
{
    if (text.size() != 36)
        return false;
    for (std::size_t i = 0; i < text.size(); i++)
    {
        bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i])))
            return false;
    }
    return true;
}

TokenResult
extract_token(const HeaderList &headers)
{
    int authorization_count = 0;
    int custom_count = 0;
    std::string_view authorization;
    std::string_view custom;

    for (const auto &[name, value] : headers)
    {
        if (equal_ignoring_case(name, "authorization"))
        {
            authorization_count++;
            authorization = value;
        }
        else if (equal_ignoring_case(name, kTokenHeader))
        {
            custom_count++;
            custom = value;
        }
    }

    TokenResult result;
    if (authorization_count == 0 && custom_count == 0)
        return result;

    result.presence = TokenPresence::Malformed;
    if (authorization_count + custom_count > 1)
        return result;

    if (authorization_count == 1)
    {
        std::optional<std::string> token = bearer_token(authorization);
        if (!token)
            return result;
        result.token = std::move(*token);
    }
    else
    {
        std::string_view token = core::trim_http_blanks(custom);
        if (!usable_token(token))
            return result;
        result.token = std::string(token);
    }
    result.presence = TokenPresence::Present;
    return result;
}

UserIdResult
extract_user_id(const HeaderList &headers)
{
    UserIdResult result;
    int count = 0;

    for (const auto &[name, value] : headers)
        if (equal_ignoring_case(name, kUserIdHeader))
        {
            count++;
            result.user_id = std::string(core::trim_http_blanks(value));
        }

    if (count == 0)
        result.presence = UserIdPresence::None;
    else if (count == 1 && is_canonical_uuid(result.user_id))
        result.presence = UserIdPresence::Present;
    else
        result.presence = UserIdPresence::Invalid;
    if (result.presence != UserIdPresence::Present)
        result.user_id.clear();
    return result;
}

std::optional<std::uint64_t>
parse_content_length(std::string_view text)
{
    if (text.empty())
        return std::nullopt;

    std::uint64_t value = 0;
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    for (char c : text)
    {
        if (c < '0' || c > '9')
            return std::nullopt;
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (kMax - digit) / 10)
            return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

const char *
framing_problem(const HeaderList &headers, std::string_view version)
{
    int lengths = 0;
    int encodings = 0;
    int hosts = 0;
    bool chunked_only = true;

    for (const auto &[name, value] : headers)
    {
        if (equal_ignoring_case(name, "content-length"))
            lengths++;
        else if (equal_ignoring_case(name, "transfer-encoding"))
        {
            encodings++;
            chunked_only =
                chunked_only && equal_ignoring_case(core::trim_http_blanks(value), "chunked");
        }
        else if (equal_ignoring_case(name, "host"))
            hosts++;
    }

    if (lengths > 1)
        return "more than one Content-Length";
    if (lengths == 1 && encodings > 0)
        return "both Content-Length and Transfer-Encoding";
    if (encodings > 1 || !chunked_only)
        return "a Transfer-Encoding other than chunked";
    if (version == "HTTP/1.1" && hosts != 1)
        return "HTTP/1.1 without exactly one Host";
    return nullptr;
}

std::string
printable(std::string_view text, std::size_t max_bytes)
{
    std::string out;
    for (char c : text.substr(0, max_bytes))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (text.size() > max_bytes)
        out += "...";
    return out;
}

} // namespace regen::shim
