// Validation and normalization of the overrides of a plan regeneration.
#include "overrides.hpp"

#include "text_clean.hpp"
#include "utf8.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace regen::core
{
namespace
{

constexpr std::size_t kTopicMinChars = 3;
constexpr std::size_t kTopicMaxChars = 200;
constexpr std::size_t kNotesMaxChars = 2000;
constexpr int kWeeklyHoursMin = 0;
constexpr int kWeeklyHoursMax = 80;
constexpr std::size_t kMaxEchoedKeyBytes = 64; // an unknown key is repeated in the detail

// The JSON text of an accepted value, or the errdetail sentence for a refused one.
struct FieldOutcome
{
    bool accepted = false;
    std::string text;
};

FieldOutcome
accept(std::string json)
{
    return {true, std::move(json)};
}

FieldOutcome
refuse(std::string detail)
{
    return {false, std::move(detail)};
}

std::string
json_string(std::string_view text)
{
    std::string json;
    append_json_string(json, std::string(text));
    return json;
}

// "key" must <requirement>.
std::string
must(std::string_view key, std::string_view requirement)
{
    std::string detail = "\"";
    detail += key;
    detail += "\" must ";
    detail += requirement;
    detail += ".";
    return detail;
}

const char *
kind_phrase(JsonKind kind)
{
    switch (kind)
    {
        case JsonKind::Null:
            return "null";
        case JsonKind::Bool:
            return "a boolean";
        case JsonKind::Number:
            return "a number";
        case JsonKind::String:
            return "a string";
        case JsonKind::Object:
            return "an object";
        case JsonKind::Array:
            return "an array";
    }
    return "of an unknown type";
}

FieldOutcome
wrong_kind(std::string_view key, std::string_view expected, JsonKind actual)
{
    std::string requirement = "be ";
    requirement += expected;
    requirement += ", not ";
    requirement += kind_phrase(actual);
    return refuse(must(key, requirement));
}

// The whitespace trimmed from topic and notes: Unicode White_Space plus U+FEFF, the set that
// JavaScript's String.prototype.trim() (the old service) removes, and U+0085.
bool
is_trimmed_space(char32_t code_point) noexcept
{
    switch (code_point)
    {
        case 0x09:
        case 0x0A:
        case 0x0B:
        case 0x0C:
        case 0x0D:
        case 0x20:
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
        case 0xFEFF:
            return true;
        default:
            return code_point >= 0x2000 && code_point <= 0x200A;
    }
}

struct TrimmedText
{
    bool valid_utf8 = true;
    std::string_view text;
    std::size_t code_points = 0;
};

TrimmedText
trim(std::string_view text)
{
    TrimmedText result;
    std::size_t begin = text.size();
    std::size_t end = text.size();
    std::size_t first_index = 0;
    std::size_t last_index = 0;

    std::size_t index = 0;
    for (std::size_t pos = 0; pos < text.size(); ++index)
    {
        const utf8::Decoded next = utf8::decode(text, pos);
        result.valid_utf8 = result.valid_utf8 && next.valid;
        if (!next.valid || !is_trimmed_space(next.code_point))
        {
            if (begin == text.size())
            {
                begin = pos;
                first_index = index;
            }
            end = pos + next.length;
            last_index = index;
        }
        pos += next.length;
    }

    if (begin < end)
    {
        result.text = text.substr(begin, end - begin);
        result.code_points = last_index - first_index + 1;
    }
    return result;
}

FieldOutcome
check_topic(std::string_view key, const JsonScalar &value)
{
    if (value.kind != JsonKind::String)
        return wrong_kind(key, "a string", value.kind);

    const TrimmedText topic = trim(value.text);
    if (!topic.valid_utf8)
        return refuse(must(key, "be valid UTF-8 text"));
    if (topic.code_points < kTopicMinChars || topic.code_points > kTopicMaxChars)
        return refuse(must(key, "be between " + std::to_string(kTopicMinChars) + " and " +
                                    std::to_string(kTopicMaxChars) + " characters after trimming"));
    return accept(json_string(topic.text));
}

FieldOutcome
check_notes(std::string_view key, const JsonScalar &value)
{
    if (value.kind == JsonKind::Null)
        return accept("null");
    if (value.kind != JsonKind::String)
        return wrong_kind(key, "a string or null", value.kind);

    const TrimmedText notes = trim(value.text);
    if (!notes.valid_utf8)
        return refuse(must(key, "be valid UTF-8 text"));
    if (notes.code_points > kNotesMaxChars)
        return refuse(must(key, "be at most " + std::to_string(kNotesMaxChars) +
                                    " characters after trimming"));
    if (notes.code_points == 0)
        return accept("null");
    return accept(json_string(notes.text));
}

// A string that must equal one of the choices exactly.
template <std::size_t N>
FieldOutcome
check_choice(std::string_view key, const JsonScalar &value,
             const std::array<std::string_view, N> &choices)
{
    if (value.kind != JsonKind::String)
        return wrong_kind(key, "a string", value.kind);

    for (std::string_view choice : choices)
    {
        if (value.text == choice)
            return accept(json_string(choice));
    }

    std::string requirement = "be one of ";
    for (std::size_t i = 0; i < N; ++i)
    {
        if (i > 0)
            requirement += i + 1 == N ? " or " : ", ";
        requirement += json_string(choices[i]);
    }
    return refuse(must(key, requirement));
}

FieldOutcome
check_skill_level(std::string_view key, const JsonScalar &value)
{
    static constexpr std::array<std::string_view, 3> kLevels = {"beginner", "intermediate",
                                                                "advanced"};
    return check_choice(key, value, kLevels);
}

FieldOutcome
check_learning_style(std::string_view key, const JsonScalar &value)
{
    static constexpr std::array<std::string_view, 4> kStyles = {"reading", "video", "practice",
                                                                "mixed"};
    return check_choice(key, value, kStyles);
}

bool
is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// Advance pos over a run of digits and return it; empty when there is none.
std::string_view
take_digits(std::string_view text, std::size_t &pos)
{
    const std::size_t begin = pos;
    while (pos < text.size() && is_digit(text[pos]))
        ++pos;
    return text.substr(begin, pos - begin);
}

// The exponent of a number literal, saturated far beyond any magnitude that matters here.
int64_t
saturated_exponent(std::string_view digits, bool negative)
{
    constexpr int64_t kLimit = 1000000000;
    int64_t value = 0;
    for (char c : digits)
        value = std::min(kLimit, value * 10 + (c - '0'));
    return negative ? -value : value;
}

// The value of a JSON number literal (exponent allowed) if it is a whole number of at most three
// digits; anything else, including text that is not a number literal, gives nullopt.
std::optional<int>
small_integer_value(std::string_view literal)
{
    std::size_t pos = 0;
    const bool negative = pos < literal.size() && literal[pos] == '-';
    if (negative)
        ++pos;

    const std::string_view whole = take_digits(literal, pos);
    if (whole.empty())
        return std::nullopt;

    std::string_view fraction;
    if (pos < literal.size() && literal[pos] == '.')
    {
        ++pos;
        fraction = take_digits(literal, pos);
        if (fraction.empty())
            return std::nullopt;
    }

    int64_t exponent = 0;
    if (pos < literal.size() && (literal[pos] == 'e' || literal[pos] == 'E'))
    {
        ++pos;
        const bool negative_exponent = pos < literal.size() && literal[pos] == '-';
        if (pos < literal.size() && (literal[pos] == '-' || literal[pos] == '+'))
            ++pos;
        const std::string_view digits = take_digits(literal, pos);
        if (digits.empty())
            return std::nullopt;
        exponent = saturated_exponent(digits, negative_exponent);
    }
    if (pos != literal.size())
        return std::nullopt;

    // value = significand * 10^scale, with the significand's outer zeros removed.
    std::string significand = std::string(whole) + std::string(fraction);
    int64_t scale = exponent - static_cast<int64_t>(fraction.size());
    const std::size_t first = significand.find_first_not_of('0');
    if (first == std::string::npos)
        return 0;
    const std::size_t last = significand.find_last_not_of('0');
    scale += static_cast<int64_t>(significand.size() - 1 - last);
    significand = significand.substr(first, last - first + 1);

    if (scale < 0 || static_cast<int64_t>(significand.size()) + scale > 3)
        return std::nullopt;

    int value = 0;
    for (char c : significand)
        value = value * 10 + (c - '0');
    for (int64_t i = 0; i < scale; ++i)
        value *= 10;
    return negative ? -value : value;
}

FieldOutcome
check_weekly_hours(std::string_view key, const JsonScalar &value)
{
    if (value.kind != JsonKind::Number)
        return wrong_kind(key, "a number", value.kind);

    const std::optional<int> hours = small_integer_value(value.text);
    if (!hours || *hours < kWeeklyHoursMin || *hours > kWeeklyHoursMax)
        return refuse(must(key, "be a whole number between " + std::to_string(kWeeklyHoursMin) +
                                    " and " + std::to_string(kWeeklyHoursMax)));
    return accept(std::to_string(*hours));
}

FieldOutcome
check_date(std::string_view key, const JsonScalar &value)
{
    if (value.kind == JsonKind::Null)
        return accept("null");
    if (value.kind != JsonKind::String)
        return wrong_kind(key, "a string or null", value.kind);

    if (!is_iso_date(value.text))
        return refuse(must(key, "be a valid calendar date written as YYYY-MM-DD, or null"));
    return accept(json_string(value.text));
}

struct FieldRule
{
    std::string_view key;
    FieldOutcome (*check)(std::string_view key, const JsonScalar &value);
};

// Every accepted override in canonical order, which is also the order fields are checked in.
constexpr std::array<FieldRule, 7> kRules = {{
    {"topic", check_topic},
    {"notes", check_notes},
    {"skillLevel", check_skill_level},
    {"weeklyHours", check_weekly_hours},
    {"learningStyle", check_learning_style},
    {"startDate", check_date},
    {"deadlineDate", check_date},
}};

std::optional<std::size_t>
rule_index(std::string_view key)
{
    for (std::size_t i = 0; i < kRules.size(); ++i)
    {
        if (kRules[i].key == key)
            return i;
    }
    return std::nullopt;
}

OverrideResult
unknown_key(const std::string &key)
{
    OverrideResult result;
    result.problem = OverrideProblem::UnknownKey;
    result.field = key;

    // The key is caller input: shown bounded, valid UTF-8 and escaped.
    append_json_string(result.detail, clean_error_text(key, kMaxEchoedKeyBytes));
    result.detail += " is not a known override; the allowed overrides are ";
    for (std::size_t i = 0; i < kRules.size(); ++i)
    {
        if (i > 0)
            result.detail += i + 1 == kRules.size() ? " and " : ", ";
        result.detail += json_string(kRules[i].key);
    }
    result.detail += ".";
    return result;
}

OverrideResult
invalid_value(std::string_view key, std::string detail)
{
    OverrideResult result;
    result.problem = OverrideProblem::InvalidValue;
    result.field = std::string(key);
    result.detail = std::move(detail);
    return result;
}

bool
is_leap_year(int year) noexcept
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int
days_in_month(int year, int month) noexcept
{
    static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap_year(year))
        return 29;
    return kDays[static_cast<std::size_t>(month - 1)];
}

// The number written by the digits text[pos, pos + count); the caller has checked they are digits.
int
digits_value(std::string_view text, std::size_t pos, std::size_t count) noexcept
{
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i)
        value = value * 10 + (text[i] - '0');
    return value;
}

// Append one ASCII character as it must appear inside a JSON string literal.
void
append_escaped_ascii(std::string &out, unsigned char byte)
{
    static constexpr char kHex[] = "0123456789abcdef";

    switch (byte)
    {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (byte < 0x20)
            {
                out += "\\u00";
                out += kHex[byte >> 4];
                out += kHex[byte & 0x0F];
            }
            else
            {
                out += static_cast<char>(byte);
            }
    }
}

} // namespace

const std::vector<std::string> &
allowed_override_keys()
{
    static const std::vector<std::string> keys = []
    {
        std::vector<std::string> names;
        for (const FieldRule &rule : kRules)
            names.emplace_back(rule.key);
        return names;
    }();
    return keys;
}

OverrideResult
validate_overrides(const std::vector<OverrideField> &fields)
{
    // Unknown keys are reported before any value, whatever their position.
    std::array<const JsonScalar *, kRules.size()> given{};
    for (const OverrideField &field : fields)
    {
        const std::optional<std::size_t> index = rule_index(field.key);
        if (!index)
            return unknown_key(field.key);
        given[*index] = &field.value; // a repeated key keeps its last value, as jsonb does
    }

    std::string json = "{";
    for (std::size_t i = 0; i < kRules.size(); ++i)
    {
        if (given[i] == nullptr)
            continue;

        FieldOutcome outcome = kRules[i].check(kRules[i].key, *given[i]);
        if (!outcome.accepted)
            return invalid_value(kRules[i].key, std::move(outcome.text));

        if (json.size() > 1)
            json += ", ";
        json += json_string(kRules[i].key);
        json += ": ";
        json += outcome.text;
    }
    json += "}";

    OverrideResult result;
    result.normalized_json = std::move(json);
    return result;
}

bool
is_iso_date(const std::string &text)
{
    if (text.size() != 10 || text[4] != '-' || text[7] != '-')
        return false;
    static constexpr std::array<std::size_t, 8> kDigitPositions = {0, 1, 2, 3, 5, 6, 8, 9};
    for (std::size_t i : kDigitPositions)
    {
        if (!is_digit(text[i]))
            return false;
    }

    const int year = digits_value(text, 0, 4);
    const int month = digits_value(text, 5, 2);
    const int day = digits_value(text, 8, 2);
    return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

void
append_json_string(std::string &out, const std::string &text)
{
    out += '"';
    for (std::size_t pos = 0; pos < text.size();)
    {
        const auto byte = static_cast<unsigned char>(text[pos]);
        if (byte < 0x80)
        {
            append_escaped_ascii(out, byte);
            ++pos;
            continue;
        }

        // Invalid UTF-8 would make the whole literal invalid JSON, so it becomes U+FFFD.
        const utf8::Decoded next = utf8::decode(text, pos);
        if (next.valid)
            out.append(text, pos, next.length);
        else
            utf8::append(out, utf8::kReplacementChar);
        pos += next.length;
    }
    out += '"';
}

} // namespace regen::core
