// What the shim reads from an HTTP request: the route, the worker token, ids and lengths.
//
// Pure functions over strings (no libmicrohttpd, no libpq), so that unit tests and the fuzz
// target reach them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace regen::shim
{

enum class Route
{
    Enqueue, // POST /api/v1/plans/:planId/regenerate
    Drain,   // POST /api/internal/jobs/regeneration/process
    Health,  // GET /healthz
    Metrics, // GET /metrics
    Unknown,
};

constexpr int kRouteCount = 5;

struct RouteMatch
{
    Route route = Route::Unknown;
    std::string plan_id; // the :planId segment of Enqueue, as sent (not yet validated)
};

// The route of a request path (without its query string).
RouteMatch match_route(std::string_view path);

// Methods a route answers, as the Allow header lists them.
const char *allowed_methods(Route route);
bool method_allowed(Route route, std::string_view method);

// Name of a route in logs and metrics labels: its template, never the path as sent.
const char *route_name(Route route);

// A uuid in its canonical 8-4-4-4-12 hexadecimal form, either case.
bool is_canonical_uuid(std::string_view text);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

enum class TokenPresence
{
    None,      // neither header
    Present,   // exactly one usable token
    Malformed, // both headers, a header twice, an empty token or another scheme
};

struct TokenResult
{
    TokenPresence presence = TokenPresence::None;
    std::string token;
};

// The worker token of a request: `Authorization: Bearer <token>` (scheme in any case,
// surrounding spaces and tabs trimmed) or `x-regeneration-worker-token: <token>`. A token is
// visible UTF-8 characters; one with a blank, control character (NUL included) or invalid
// UTF-8 inside is Malformed.
TokenResult extract_token(const HeaderList &headers);

enum class UserIdPresence
{
    None,
    Present,
    Invalid, // not a canonical uuid, or the header twice
};

struct UserIdResult
{
    UserIdPresence presence = UserIdPresence::None;
    std::string user_id;
};

// The optional user id of an enqueue, from the `x-user-id` header.
UserIdResult extract_user_id(const HeaderList &headers);

// A Content-Length value: decimal digits only, without overflow.
std::optional<std::uint64_t> parse_content_length(std::string_view text);

// Why the framing of a request cannot be trusted, or nullptr when it can: two Content-Length
// headers (or one with a list), Content-Length together with Transfer-Encoding, a
// Transfer-Encoding other than chunked, or HTTP/1.1 without Host. Such requests are how one
// request is smuggled inside another past a proxy that reads them differently.
const char *framing_problem(const HeaderList &headers, std::string_view version);

// Printable ASCII version of client text for a log line, cut at max_bytes.
std::string printable(std::string_view text, std::size_t max_bytes = 200);

} // namespace regen::shim
