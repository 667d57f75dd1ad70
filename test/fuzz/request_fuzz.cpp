// libFuzzer target over what the shim reads from a request and what it writes back.
//
// The input is split (FuzzedDataProvider) into a method, a path, a SQL error (SQLSTATE,
// message, detail) and a list of headers. Each function is checked against an invariant
// written independently of it, not only for crashes; a broken invariant traps.
//
// Layout of an input, useful for seeds: strings come from the front, each ended by a backslash
// and one other byte ("\\" is a literal backslash); the few numbers come from the end.
//   method \ path \ sqlstate \ message \ detail \ name \ value \ name \ value ...
// A header name of one byte stands for a header the shim knows (see kKnownHeaders), and a
// SQLSTATE of one byte for a SQLSTATE it maps (see kKnownStates).
#include "shim/answer.hpp"
#include "shim/request.hpp"

#include "../unit/json_check.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <optional>
#include <string_view>

namespace
{

using namespace regen::shim;

#define CHECK(condition)                                                                           \
    do                                                                                             \
    {                                                                                              \
        if (!(condition))                                                                          \
        {                                                                                          \
            std::fprintf(stderr, "invariant broken at %s:%d: %s\n", __FILE__, __LINE__,            \
                         #condition);                                                              \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

const char *const kKnownHeaders[] = {
    "authorization",
    "Authorization",
    "x-regeneration-worker-token",
    "X-Regeneration-Worker-Token",
    "x-user-id",
    "X-USER-ID",
    "content-length",
    "host",
};

const char *const kKnownStates[] = {
    "",      "08006", "08P01", "57P01", "57P02", "57P03", "28P01", "55000", "25006", "53000",
    "53300", "22P02", "22021", "22P05", "22023", "54001", "23505", "42704", "XX000", "57014",
};

char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string
lowered(std::string_view text)
{
    std::string out;
    for (char c : text)
        out += lower(c);
    return out;
}

bool
blank(char c)
{
    return c == ' ' || c == '\t';
}

std::string_view
stripped(std::string_view text)
{
    std::size_t first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos)
        return {};
    std::size_t last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

bool
has_blank(std::string_view text)
{
    return text.find_first_of(" \t") != std::string_view::npos;
}

bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f');
}

// --- routes and methods -----------------------------------------------------------------------

// The route a path should have, by its segments.
Route
expected_route(std::string_view path, std::string &plan_id)
{
    if (path == "/api/internal/jobs/regeneration/process")
        return Route::Drain;
    if (path == "/healthz")
        return Route::Health;
    if (path == "/metrics")
        return Route::Metrics;

    std::string segments[7];
    std::size_t count = 0;
    std::size_t start = 0;
    while (count < 7)
    {
        std::size_t slash = path.find('/', start);
        segments[count++] = std::string(path.substr(start, slash - start));
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
        if (count == 7)
            return Route::Unknown; // more segments than the route has
    }
    if (count == 6 && segments[0].empty() && segments[1] == "api" && segments[2] == "v1" &&
        segments[3] == "plans" && segments[5] == "regenerate")
    {
        plan_id = segments[4];
        return Route::Enqueue;
    }
    return Route::Unknown;
}

void
check_route(std::string_view path, std::string_view method)
{
    RouteMatch match = match_route(path);
    std::string expected_plan;
    Route expected = expected_route(path, expected_plan);

    CHECK(match.route == expected);
    if (match.route == Route::Enqueue)
    {
        CHECK(match.plan_id == expected_plan);
        CHECK(path == "/api/v1/plans/" + match.plan_id + "/regenerate");
        CHECK(match.plan_id.find('/') == std::string::npos);
    }
    else
        CHECK(match.plan_id.empty());

    const char *name = route_name(match.route);
    CHECK(name != nullptr && name[0] != '\0');

    // method_allowed agrees with the Allow list, and only exact upper-case names pass.
    std::string allow = allowed_methods(match.route);
    bool listed = false;
    for (std::size_t start = 0; start <= allow.size();)
    {
        std::size_t end = allow.find(", ", start);
        std::string item = allow.substr(start, end == std::string::npos ? end : end - start);
        listed = listed || (!item.empty() && item == method);
        if (end == std::string::npos)
            break;
        start = end + 2;
    }
    CHECK(method_allowed(match.route, method) == listed);
    if (match.route == Route::Unknown)
        CHECK(allow.empty() && !listed);
}

void
check_uuid(std::string_view text)
{
    bool expected = text.size() == 36;
    for (std::size_t i = 0; expected && i < text.size(); i++)
        expected = (i == 8 || i == 13 || i == 18 || i == 23) ? text[i] == '-' : is_hex(text[i]);
    CHECK(is_canonical_uuid(text) == expected);
}

// --- headers ----------------------------------------------------------------------------------

// What a lone header value should give, or nothing when it is unusable.
bool
expected_token(bool authorization, std::string_view value, std::string &token)
{
    value = stripped(value);
    if (authorization)
    {
        std::size_t gap = value.find_first_of(" \t");
        if (gap == std::string_view::npos || lowered(value.substr(0, gap)) != "bearer")
            return false;
        value = stripped(value.substr(gap));
    }
    if (value.empty() || !json_check::valid_utf8(value))
        return false;
    for (char c : value)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            return false;
    token = std::string(value);
    return true;
}

void
check_token(const HeaderList &headers)
{
    int authorization = 0;
    int custom = 0;
    std::string_view value;
    for (const auto &[name, header_value] : headers)
    {
        std::string name_lower = lowered(name);
        if (name_lower == "authorization")
        {
            authorization++;
            value = header_value;
        }
        if (name_lower == "x-regeneration-worker-token")
        {
            custom++;
            value = header_value;
        }
    }

    TokenResult result = extract_token(headers);
    if (result.presence != TokenPresence::Present)
        CHECK(result.token.empty());

    if (authorization + custom == 0)
    {
        CHECK(result.presence == TokenPresence::None);
        return;
    }
    CHECK(result.presence != TokenPresence::None);
    if (authorization + custom > 1)
    {
        CHECK(result.presence == TokenPresence::Malformed);
        return;
    }

    std::string expected;
    bool usable = expected_token(authorization == 1, value, expected);
    CHECK((result.presence == TokenPresence::Present) == usable);
    if (result.presence == TokenPresence::Present)
    {
        CHECK(!result.token.empty());
        CHECK(!blank(result.token.front()) && !blank(result.token.back()));
        CHECK(!has_blank(result.token));
        CHECK(result.token == expected);
        CHECK(value.find(result.token) != std::string_view::npos);
    }
}

void
check_user_id(const HeaderList &headers)
{
    int count = 0;
    std::string_view value;
    for (const auto &[name, header_value] : headers)
        if (lowered(name) == "x-user-id")
        {
            count++;
            value = header_value;
        }

    UserIdResult result = extract_user_id(headers);
    if (count == 0)
        CHECK(result.presence == UserIdPresence::None);
    else if (count == 1 && is_canonical_uuid(stripped(value)))
    {
        CHECK(result.presence == UserIdPresence::Present);
        CHECK(result.user_id == stripped(value));
    }
    else
        CHECK(result.presence == UserIdPresence::Invalid);
    if (result.presence != UserIdPresence::Present)
        CHECK(result.user_id.empty());
}

// --- lengths and log text ---------------------------------------------------------------------

void
check_content_length(std::string_view text, std::uint64_t number)
{
    std::optional<std::uint64_t> parsed = parse_content_length(text);

    bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits)
        CHECK(!parsed);
    else
    {
        std::string_view significant =
            text.substr(std::min(text.find_first_not_of('0'), text.size()));
        const std::string_view kMax = "18446744073709551615";
        bool fits = significant.size() < kMax.size() ||
                    (significant.size() == kMax.size() && significant <= kMax);
        CHECK(parsed.has_value() == fits);
        if (parsed)
            CHECK(std::to_string(*parsed) == (significant.empty() ? "0" : significant));
    }

    // Every number round-trips through its decimal digits.
    std::optional<std::uint64_t> again = parse_content_length(std::to_string(number));
    CHECK(again && *again == number);
}

void
check_printable(std::string_view text, std::size_t max_bytes)
{
    std::string out = printable(text, max_bytes);
    std::size_t kept = std::min(text.size(), max_bytes);
    CHECK(out.size() == kept + (text.size() > max_bytes ? 3 : 0));
    for (char c : out)
        CHECK(c >= 0x20 && c <= 0x7e);
    for (std::size_t i = 0; i < kept; i++)
    {
        bool shown = text[i] >= 0x20 && text[i] <= 0x7e;
        CHECK(out[i] == (shown ? text[i] : '?'));
    }
}

// --- answers ----------------------------------------------------------------------------------

std::size_t
ascii_count(std::string_view text)
{
    std::size_t n = 0;
    for (char c : text)
        n += static_cast<unsigned char>(c) < 0x80;
    return n;
}

void
check_json_string(std::string_view text)
{
    std::string out = json_string(text);
    CHECK(out.size() >= 2 && out.front() == '"' && out.back() == '"');
    CHECK(json_check::valid_utf8(out));
    for (char c : out)
        CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);

    std::optional<std::string> decoded = json_check::parse_string(out);
    CHECK(decoded.has_value());
    if (json_check::valid_utf8(text))
        CHECK(*decoded == text);
    else
    {
        // Only the invalid bytes are replaced: every ASCII character survives, in order.
        CHECK(ascii_count(*decoded) == ascii_count(text));
        CHECK(decoded->find("\xEF\xBF\xBD") != std::string::npos);
    }
}

// A 400 about overrides names exactly the error's field, whatever it holds.
void
check_field(const SqlError &error)
{
    SqlError invalid = error;
    invalid.sqlstate = "22023";
    Answer answer = answer_sql_error(SqlStep::Enqueue, invalid);
    CHECK(answer.status == 400);
    std::optional<json_check::Reader::Members> members = json_check::parse_object(answer.body);
    CHECK(members.has_value());
    if (json_check::valid_utf8(error.field))
        CHECK(error.field.empty() ? members->count("field") == 0
                                  : (*members)["field"] == error.field);
}

// framing_problem() against a count of the headers that frame a request.
void
check_framing(const HeaderList &headers, std::string_view version)
{
    int lengths = 0, encodings = 0, hosts = 0;
    bool other_encoding = false;
    for (const auto &[name, value] : headers)
    {
        std::string lower = lowered(name);
        lengths += lower == "content-length";
        hosts += lower == "host";
        if (lower == "transfer-encoding")
        {
            encodings++;
            other_encoding = other_encoding || lowered(stripped(value)) != "chunked";
        }
    }
    bool expected = lengths > 1 || (lengths == 1 && encodings > 0) || encodings > 1 ||
                    other_encoding || (version == "HTTP/1.1" && hosts != 1);
    CHECK((framing_problem(headers, version) != nullptr) == expected);
}

void
check_existing_job(std::string_view detail, std::string_view id, std::string_view status)
{
    std::string job_id = "untouched";
    std::string job_status = "untouched";
    if (parse_existing_job(detail, job_id, job_status))
    {
        CHECK(!job_id.empty() && !job_status.empty());
        CHECK(job_id.find(" is ") == std::string::npos);
        CHECK("Job " + job_id + " is " + job_status + "." == detail);
    }
    else
        CHECK(job_id == "untouched" && job_status == "untouched");

    // A detail written the way regen_enqueue writes it is read back.
    if (!id.empty() && !status.empty() && !has_blank(id))
    {
        std::string written = "Job " + std::string(id) + " is " + std::string(status) + ".";
        CHECK(parse_existing_job(written, job_id, job_status));
        CHECK(job_id == id && job_status == status);
    }
}

bool
one_of(const std::string &code, std::initializer_list<const char *> codes)
{
    for (const char *c : codes)
        if (code == c)
            return true;
    return false;
}

void
check_sql_error(SqlStep step, const SqlError &error)
{
    Answer answer = answer_sql_error(step, error);
    CHECK(answer.status == 400 || answer.status == 401 || answer.status == 409 ||
          answer.status == 500 || answer.status == 503);
    CHECK(!answer.retry_later || answer.status == 503);

    std::optional<json_check::Reader::Members> body = json_check::parse_object(answer.body);
    CHECK(body.has_value());
    CHECK((*body)["ok"] == "false");
    const std::string code = (*body)["error"];
    switch (answer.status)
    {
        case 400:
            CHECK(step == SqlStep::Enqueue);
            CHECK(one_of(code, {"invalid_json", "invalid_overrides"}));
            break;
        case 401:
            CHECK(step == SqlStep::TokenCheck && code == "unauthorized");
            CHECK(body->size() == 2);
            break;
        case 409:
            CHECK(step == SqlStep::Enqueue && code == "already_queued");
            break;
        case 500:
            // Nothing of the server's error reaches the client.
            CHECK(code == "internal_error" && body->size() == 2);
            break;
        case 503:
            CHECK(one_of(code, {"database_unavailable", "worker_token_not_configured",
                                "queue_disabled", "database_read_only", "server_busy",
                                "handler_not_registered", "query_canceled"}));
            CHECK(body->size() == 2);
            break;
    }
    if (error.sqlstate.empty())
        CHECK(answer.status == 503 && code == "database_unavailable");
}

void
check_bodies(std::string_view a, std::string_view b, std::string_view c)
{
    Answer queued = enqueued_answer(a, b, c);
    CHECK(queued.status == 202);
    std::optional<json_check::Reader::Members> body = json_check::parse_object(queued.body);
    CHECK(body && body->size() == 4 && (*body)["ok"] == "true");
    if (json_check::valid_utf8(a) && json_check::valid_utf8(b) && json_check::valid_utf8(c))
        CHECK((*body)["planId"] == a && (*body)["jobId"] == b && (*body)["status"] == c);

    body = json_check::parse_object(error_body(a, b, c));
    CHECK(body.has_value());
    CHECK(body->size() == 2 + !b.empty() + !c.empty());
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    FuzzedDataProvider input(data, size);

    std::string method = input.ConsumeRandomLengthString(32);
    std::string path = input.ConsumeRandomLengthString(512);
    SqlError error;
    error.sqlstate = input.ConsumeRandomLengthString(8);
    if (error.sqlstate.size() == 1)
        error.sqlstate = input.PickValueInArray(kKnownStates);
    error.message = input.ConsumeRandomLengthString(512);
    error.detail = input.ConsumeRandomLengthString(512);
    error.field = input.ConsumeRandomLengthString(64);

    HeaderList headers;
    while (input.remaining_bytes() > 0 && headers.size() < 16)
    {
        std::string name = input.ConsumeRandomLengthString(64);
        if (name.size() == 1)
            name = kKnownHeaders[static_cast<unsigned char>(name[0]) %
                                 (sizeof kKnownHeaders / sizeof kKnownHeaders[0])];
        std::string value = input.ConsumeRandomLengthString(512);
        headers.emplace_back(std::move(name), std::move(value));
    }
    // Numbers from whatever is left: zeros once the input is used up.
    auto step = static_cast<SqlStep>(input.ConsumeIntegralInRange<int>(0, 2));
    std::size_t max_bytes = input.ConsumeIntegralInRange<std::size_t>(0, 600);
    auto number = input.ConsumeIntegral<std::uint64_t>();

    check_route(path, method);
    check_uuid(path);
    check_uuid(match_route(path).plan_id);
    check_token(headers);
    check_user_id(headers);
    check_content_length(method, number);
    check_content_length(error.detail, number);
    check_printable(path, max_bytes);
    check_printable(method, 16);

    for (const std::string *text : {&method, &path, &error.message, &error.detail})
        check_json_string(*text);
    for (const auto &[name, value] : headers)
    {
        check_json_string(value);
        check_content_length(value, number);
        check_uuid(value);
    }

    check_field(error);
    check_framing(headers, method.size() % 2 == 0 ? "HTTP/1.1" : "HTTP/1.0");
    check_existing_job(error.detail, method, error.message);
    check_sql_error(step, error);
    check_bodies(path, error.message, error.detail);
    return 0;
}
