#include "http_call.hpp"

#include "text_clean.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace regen::core
{

namespace
{

constexpr int64_t kMaxRetryAfterMs = int64_t{24} * 3600 * 1000;
constexpr std::size_t kMaxReasonBytes = 200;

std::string
elapsed(double seconds)
{
    char text[48];
    std::snprintf(text, sizeof text, " after %.3f s", seconds < 0 ? 0.0 : seconds);
    return text;
}

std::string
with_reason(const char *what, std::string_view reason)
{
    std::string text = what;
    if (!reason.empty())
        text += ": " + clean_error_text(reason, kMaxReasonBytes);
    return text;
}

bool
retryable_status(long status)
{
    return status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

// Digits only; false on anything else or an empty text. Saturates instead of overflowing.
bool
parse_digits(std::string_view text, int64_t &value, int64_t saturate_at)
{
    if (text.empty())
        return false;
    value = 0;
    for (char c : text)
    {
        if (c < '0' || c > '9')
            return false;
        value = std::min(saturate_at, value * 10 + (c - '0'));
    }
    return true;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110, 5.6.7) as Unix seconds.
std::optional<std::time_t>
parse_imf_fixdate(std::string_view text)
{
    static const char *const kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' ||
        text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
        return std::nullopt;
    if (std::none_of(std::begin(kDays), std::end(kDays),
                     [&](const char *day) { return text.substr(0, 3) == day; }))
        return std::nullopt;

    struct tm fields = {};
    int month = -1;
    for (int m = 0; m < 12; m++)
        if (text.substr(8, 3) == kMonths[m])
            month = m;
    int64_t day, year, hour, minute, second;
    if (month < 0 || !parse_digits(text.substr(5, 2), day, 99) ||
        !parse_digits(text.substr(12, 4), year, 9999) ||
        !parse_digits(text.substr(17, 2), hour, 99) ||
        !parse_digits(text.substr(20, 2), minute, 99) ||
        !parse_digits(text.substr(23, 2), second, 99) || day < 1 || day > 31 || hour > 23 ||
        minute > 59 || second > 60)
        return std::nullopt;

    fields.tm_year = static_cast<int>(year) - 1900;
    fields.tm_mon = month;
    fields.tm_mday = static_cast<int>(day);
    fields.tm_hour = static_cast<int>(hour);
    fields.tm_min = static_cast<int>(minute);
    fields.tm_sec = static_cast<int>(second);
    return timegm(&fields);
}

} // namespace

std::optional<int64_t>
parse_retry_after(std::string_view value, std::time_t now)
{
    value = trim_http_blanks(value);

    int64_t seconds = 0;
    if (parse_digits(value, seconds, kMaxRetryAfterMs / 1000))
        return seconds * 1000;

    std::optional<std::time_t> date = parse_imf_fixdate(value);
    if (!date)
        return std::nullopt;
    int64_t ahead_s = static_cast<int64_t>(*date) - static_cast<int64_t>(now);
    return std::clamp<int64_t>(ahead_s, 0, kMaxRetryAfterMs / 1000) * 1000;
}

CallDecision
decide_call(const CallOutcome &outcome, std::time_t now)
{
    CallDecision decision;
    std::string after = elapsed(outcome.elapsed_s);

    switch (outcome.transport)
    {
        case Transport::TimedOut:
            decision.verdict = Verdict::Retry;
            decision.error = "timed out" + after;
            return decision;
        case Transport::ConnectFailed:
            decision.verdict = Verdict::Retry;
            decision.error = with_reason("could not connect", outcome.reason) + after;
            return decision;
        case Transport::Broken:
            decision.verdict = Verdict::Retry;
            decision.error = with_reason("connection failed", outcome.reason) + after;
            return decision;
        case Transport::TooLarge:
            decision.verdict = Verdict::Fail;
            decision.error = "response body too large, cut off" + after;
            return decision;
        case Transport::Answered:
            break;
    }

    long status = outcome.status;
    if (status >= 200 && status <= 299)
    {
        decision.verdict = Verdict::Complete;
        return decision;
    }

    decision.error = "HTTP " + std::to_string(status);
    if (!retryable_status(status))
    {
        decision.verdict = Verdict::Fail;
        if (status >= 300 && status <= 399)
            decision.error += " (redirects are not followed)";
        decision.error += after;
        return decision;
    }

    decision.verdict = Verdict::Retry;
    if (status == 429 || status == 503)
        if (std::optional<int64_t> delay = parse_retry_after(outcome.retry_after, now))
        {
            decision.min_delay_ms = *delay;
            decision.error += " (Retry-After " + std::to_string(*delay / 1000) + " s)";
        }
    decision.error += after;
    return decision;
}

int64_t
retry_delay_ms(const FailureDecision &policy, const CallDecision &call)
{
    return std::max(policy.delay_ms, call.min_delay_ms);
}

bool
acceptable_endpoint(std::string_view url, std::string &why)
{
    for (char c : url)
        if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
        {
            why = "an endpoint URL must be ASCII without blanks or control characters";
            return false;
        }

    std::size_t colon = url.find("://");
    std::string scheme(url.substr(0, colon == std::string_view::npos ? 0 : colon));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "http" && scheme != "https")
    {
        why = "an endpoint URL must start with http:// or https://";
        return false;
    }

    std::string_view rest = url.substr(colon + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos)
    {
        why = "an endpoint URL must not carry credentials (user:password@)";
        return false;
    }
    if (authority.empty() || authority.front() == ':')
    {
        why = "an endpoint URL must name a host";
        return false;
    }
    why.clear();
    return true;
}

std::string_view
trim_http_blanks(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

std::string
lower_hex(const unsigned char *bytes, std::size_t count)
{
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(count * 2);
    for (std::size_t i = 0; i < count; i++)
    {
        out += kDigits[bytes[i] >> 4];
        out += kDigits[bytes[i] & 0x0f];
    }
    return out;
}

std::string
signature_base(int64_t timestamp, std::string_view method, std::string_view target,
               std::string_view body_sha256_hex)
{
    std::string base = std::to_string(timestamp);
    base += '\n';
    base += method;
    base += '\n';
    base += target;
    base += '\n';
    base += body_sha256_hex;
    return base;
}

} // namespace regen::core
