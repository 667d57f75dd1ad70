// Validation of the overrides a caller may attach to a plan regeneration.
//
// Pure C++: no PostgreSQL headers, so the rules can be unit-tested without a server. The
// PostgreSQL side flattens the top level of the jsonb object into OverrideField values and turns
// the normalized JSON text back into jsonb.
//
// None of these functions throws anything but std::bad_alloc; callers in PostgreSQL frames catch
// it at the boundary.
#pragma once

#include <string>
#include <vector>

namespace regen::core
{

enum class JsonKind
{
    Null,
    Bool,
    Number,
    String,
    Object,
    Array
};

// One top-level value of the overrides object. For strings, text holds the decoded UTF-8 value;
// for numbers a JSON number literal, such as PostgreSQL prints it ("10", "10.0", "1000"; an
// exponent like "1e3" is accepted too); for booleans "true" or "false"; nested objects and
// arrays carry no text.
struct JsonScalar
{
    JsonKind kind = JsonKind::Null;
    std::string text;
};

struct OverrideField
{
    std::string key;
    JsonScalar value;
};

enum class OverrideProblem
{
    None,
    UnknownKey,
    InvalidValue
};

struct OverrideResult
{
    OverrideProblem problem = OverrideProblem::None;
    std::string field; // the offending key when problem != None
    // A full sentence for errdetail that names the field, e.g.
    // "topic" must be between 3 and 200 characters after trimming.
    std::string detail;
    // When problem == None: a JSON object with only the keys given, in the canonical order
    // topic, notes, skillLevel, weeklyHours, learningStyle, startDate, deadlineDate.
    std::string normalized_json;
};

// The overrides every job accepts, in canonical order.
const std::vector<std::string> &allowed_override_keys();

// Check every field against the rules of DESIGN.md and normalize the accepted values. Unknown
// keys are reported first (the first one in input order), then the known fields are checked in
// canonical order; only the first problem is reported. A repeated key (which jsonb never
// produces) keeps its last value. Strings that are not valid UTF-8 are an InvalidValue.
OverrideResult validate_overrides(const std::vector<OverrideField> &fields);

// True for a calendar-valid ISO date "YYYY-MM-DD" (years 0001-9999).
bool is_iso_date(const std::string &text);

// Append text to out as a JSON string literal (with quotes), escaping as RFC 8259 requires:
// '"', '\\' and control characters below 0x20 (\n, \t, ... or \u00XX). Valid UTF-8 passes
// through unchanged; each invalid sequence becomes U+FFFD so the result is always valid JSON.
void append_json_string(std::string &out, const std::string &text);

} // namespace regen::core
