// Unit tests for the override rules of regen_enqueue().
#include "core/overrides.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace
{

using regen::core::JsonKind;
using regen::core::JsonScalar;
using regen::core::OverrideField;
using regen::core::OverrideProblem;
using regen::core::OverrideResult;
using regen::core::validate_overrides;

JsonScalar
str(std::string text)
{
    return {JsonKind::String, std::move(text)};
}

JsonScalar
num(std::string literal)
{
    return {JsonKind::Number, std::move(literal)};
}

JsonScalar
null()
{
    return {JsonKind::Null, ""};
}

OverrideResult
validate_one(const std::string &key, JsonScalar value)
{
    return validate_overrides({{key, std::move(value)}});
}

// The normalized JSON of a single accepted field, or a marker that makes a comparison fail.
std::string
accepted_json(const std::string &key, JsonScalar value)
{
    const OverrideResult result = validate_one(key, std::move(value));
    if (result.problem != OverrideProblem::None)
        return "<rejected: " + result.detail + ">";
    return result.normalized_json;
}

void
expect_invalid(const std::string &key, JsonScalar value)
{
    const OverrideResult result = validate_one(key, std::move(value));
    EXPECT_EQ(result.problem, OverrideProblem::InvalidValue)
        << key << ": " << result.normalized_json;
    EXPECT_EQ(result.field, key);
    EXPECT_EQ(result.detail.rfind("\"" + key + "\" must ", 0), 0u) << result.detail;
    ASSERT_FALSE(result.detail.empty());
    EXPECT_EQ(result.detail.back(), '.');
    EXPECT_TRUE(result.normalized_json.empty());
}

std::string
repeat(const std::string &piece, int times)
{
    std::string out;
    for (int i = 0; i < times; ++i)
        out += piece;
    return out;
}

TEST(Overrides, EmptyObjectIsAccepted)
{
    const OverrideResult result = validate_overrides({});
    EXPECT_EQ(result.problem, OverrideProblem::None);
    EXPECT_EQ(result.normalized_json, "{}");
}

TEST(Overrides, AllowedKeysAreInCanonicalOrder)
{
    const std::vector<std::string> expected = {"topic",       "notes",         "skillLevel",
                                               "weeklyHours", "learningStyle", "startDate",
                                               "deadlineDate"};
    EXPECT_EQ(regen::core::allowed_override_keys(), expected);
}

TEST(Overrides, TopicIsTrimmed)
{
    EXPECT_EQ(accepted_json("topic", str("  abc  ")), R"({"topic": "abc"})");
    EXPECT_EQ(accepted_json("topic", str("\t\n rust  basics \r\n")),
              R"({"topic": "rust  basics"})");
}

TEST(Overrides, TopicTrimsUnicodeWhitespace)
{
    // U+00A0, U+3000, U+FEFF, U+2003 and U+205F around the text.
    EXPECT_EQ(accepted_json("topic", str("\u00A0\u3000abc\uFEFF\u2003\u205F")),
              R"({"topic": "abc"})");
    // Inside the text they stay.
    EXPECT_EQ(accepted_json("topic", str("a\u00A0b")), "{\"topic\": \"a\u00A0b\"}");
}

TEST(Overrides, TopicTooShortIsRejected)
{
    expect_invalid("topic", str("ab"));
    expect_invalid("topic", str("   ab   "));
    expect_invalid("topic", str(""));
    expect_invalid("topic", str("\u3000\u00A0ab\uFEFF"));
    EXPECT_EQ(validate_one("topic", str("ab")).detail,
              "\"topic\" must be between 3 and 200 characters after trimming.");
}

TEST(Overrides, TopicLengthCountsCodePoints)
{
    // Three characters of two, three and four bytes each.
    EXPECT_EQ(accepted_json("topic", str("é€😀")), "{\"topic\": \"é€😀\"}");

    for (const std::string ch : {"é", "€", "😀"})
    {
        EXPECT_EQ(validate_one("topic", str(repeat(ch, 200))).problem, OverrideProblem::None) << ch;
        expect_invalid("topic", str(repeat(ch, 201)));
    }
    EXPECT_EQ(validate_one("topic", str(repeat("x", 200))).problem, OverrideProblem::None);
    expect_invalid("topic", str(repeat("x", 201)));
    // Whitespace outside the limit does not count.
    EXPECT_EQ(validate_one("topic", str("   " + repeat("é", 200) + "   ")).problem,
              OverrideProblem::None);
}

TEST(Overrides, TopicMustBeAString)
{
    expect_invalid("topic", null());
    expect_invalid("topic", num("123"));
    expect_invalid("topic", {JsonKind::Bool, "true"});
    expect_invalid("topic", {JsonKind::Object, ""});
    expect_invalid("topic", {JsonKind::Array, ""});
    EXPECT_EQ(validate_one("topic", null()).detail, "\"topic\" must be a string, not null.");
    EXPECT_EQ(validate_one("topic", num("1")).detail, "\"topic\" must be a string, not a number.");
}

TEST(Overrides, InvalidUtf8StringIsRejected)
{
    expect_invalid("topic", str("abc\xff"));
    expect_invalid("notes", str("\xC3"));
}

TEST(Overrides, NotesBlankBecomesNull)
{
    EXPECT_EQ(accepted_json("notes", str("   ")), R"({"notes": null})");
    EXPECT_EQ(accepted_json("notes", str("")), R"({"notes": null})");
    EXPECT_EQ(accepted_json("notes", str("\u3000\n")), R"({"notes": null})");
    EXPECT_EQ(accepted_json("notes", null()), R"({"notes": null})");
    EXPECT_EQ(accepted_json("notes", str("  keep it short ")), R"({"notes": "keep it short"})");
}

TEST(Overrides, NotesLengthLimit)
{
    EXPECT_EQ(validate_one("notes", str(repeat("€", 2000))).problem, OverrideProblem::None);
    expect_invalid("notes", str(repeat("€", 2001)));
    EXPECT_EQ(validate_one("notes", str(repeat("n", 2001))).detail,
              "\"notes\" must be at most 2000 characters after trimming.");
    expect_invalid("notes", num("1"));
    expect_invalid("notes", {JsonKind::Bool, "false"});
}

TEST(Overrides, SkillLevelChoices)
{
    for (const std::string level : {"beginner", "intermediate", "advanced"})
        EXPECT_EQ(accepted_json("skillLevel", str(level)), "{\"skillLevel\": \"" + level + "\"}");

    expect_invalid("skillLevel", str("expert"));
    expect_invalid("skillLevel", str("Beginner"));
    expect_invalid("skillLevel", str(" beginner"));
    expect_invalid("skillLevel", null());
    EXPECT_EQ(validate_one("skillLevel", str("expert")).detail,
              "\"skillLevel\" must be one of \"beginner\", \"intermediate\" or \"advanced\".");
}

TEST(Overrides, LearningStyleChoices)
{
    for (const std::string style : {"reading", "video", "practice", "mixed"})
        EXPECT_EQ(accepted_json("learningStyle", str(style)),
                  "{\"learningStyle\": \"" + style + "\"}");

    expect_invalid("learningStyle", str("audio"));
    expect_invalid("learningStyle", str("VIDEO"));
    expect_invalid("learningStyle", num("1"));
}

TEST(Overrides, WeeklyHoursAcceptsIntegerValues)
{
    EXPECT_EQ(accepted_json("weeklyHours", num("10")), R"({"weeklyHours": 10})");
    EXPECT_EQ(accepted_json("weeklyHours", num("10.0")), R"({"weeklyHours": 10})");
    EXPECT_EQ(accepted_json("weeklyHours", num("1e1")), R"({"weeklyHours": 10})");
    EXPECT_EQ(accepted_json("weeklyHours", num("1E+1")), R"({"weeklyHours": 10})");
    EXPECT_EQ(accepted_json("weeklyHours", num("100e-1")), R"({"weeklyHours": 10})");
    EXPECT_EQ(accepted_json("weeklyHours", num("0.8e2")), R"({"weeklyHours": 80})");
    EXPECT_EQ(accepted_json("weeklyHours", num("0")), R"({"weeklyHours": 0})");
    EXPECT_EQ(accepted_json("weeklyHours", num("-0")), R"({"weeklyHours": 0})");
    EXPECT_EQ(accepted_json("weeklyHours", num("0.000")), R"({"weeklyHours": 0})");
    EXPECT_EQ(accepted_json("weeklyHours", num("80")), R"({"weeklyHours": 80})");
    EXPECT_EQ(accepted_json("weeklyHours", num("0e999999999999999999")), R"({"weeklyHours": 0})");
}

TEST(Overrides, WeeklyHoursRejectsOtherValues)
{
    for (const std::string literal : {"-5",
                                      "-1",
                                      "81",
                                      "100",
                                      "10.5",
                                      "0.1",
                                      "80.0001",
                                      "1e2",
                                      "1e-1",
                                      "1e999999999999999999",
                                      "1e-999999999999999999",
                                      "",
                                      "-",
                                      "1.",
                                      ".5",
                                      "1e",
                                      "10x",
                                      "NaN",
                                      "Infinity",
                                      "+10"})
        expect_invalid("weeklyHours", num(literal));

    EXPECT_EQ(validate_one("weeklyHours", num("10.5")).detail,
              "\"weeklyHours\" must be a whole number between 0 and 80.");
}

TEST(Overrides, WeeklyHoursMustBeANumber)
{
    expect_invalid("weeklyHours", str("10"));
    expect_invalid("weeklyHours", null());
    expect_invalid("weeklyHours", {JsonKind::Bool, "true"});
    EXPECT_EQ(validate_one("weeklyHours", str("10")).detail,
              "\"weeklyHours\" must be a number, not a string.");
}

TEST(Overrides, DatesAreCalendarDatesOrNull)
{
    for (const std::string key : {"startDate", "deadlineDate"})
    {
        EXPECT_EQ(accepted_json(key, str("2024-02-29")), "{\"" + key + "\": \"2024-02-29\"}");
        EXPECT_EQ(accepted_json(key, null()), "{\"" + key + "\": null}");
        expect_invalid(key, str("2023-02-29"));
        expect_invalid(key, str("2024-13-01"));
        expect_invalid(key, str("2024-1-01"));
        expect_invalid(key, str(" 2024-01-01"));
        expect_invalid(key, str(""));
        expect_invalid(key, num("20240101"));
    }
}

TEST(Overrides, IsIsoDate)
{
    using regen::core::is_iso_date;
    EXPECT_TRUE(is_iso_date("2024-02-29"));
    EXPECT_TRUE(is_iso_date("2000-02-29"));
    EXPECT_TRUE(is_iso_date("0001-01-01"));
    EXPECT_TRUE(is_iso_date("9999-12-31"));
    EXPECT_TRUE(is_iso_date("2023-04-30"));
    EXPECT_TRUE(is_iso_date("2023-01-31"));

    EXPECT_FALSE(is_iso_date("2023-02-29"));
    EXPECT_FALSE(is_iso_date("1900-02-29"));
    EXPECT_FALSE(is_iso_date("2024-02-30"));
    EXPECT_FALSE(is_iso_date("2023-04-31"));
    EXPECT_FALSE(is_iso_date("2024-13-01"));
    EXPECT_FALSE(is_iso_date("2024-00-10"));
    EXPECT_FALSE(is_iso_date("2024-01-00"));
    EXPECT_FALSE(is_iso_date("2024-01-32"));
    EXPECT_FALSE(is_iso_date("0000-01-01"));
    EXPECT_FALSE(is_iso_date("2024-1-01"));
    EXPECT_FALSE(is_iso_date("2024-01-1"));
    EXPECT_FALSE(is_iso_date("20240101"));
    EXPECT_FALSE(is_iso_date("2024/01/01"));
    EXPECT_FALSE(is_iso_date("2024-01-01T00:00:00Z"));
    EXPECT_FALSE(is_iso_date("2024-01-01 "));
    EXPECT_FALSE(is_iso_date("+024-01-01"));
    EXPECT_FALSE(is_iso_date("２０２４-01-01"));
    EXPECT_FALSE(is_iso_date(""));
}

TEST(Overrides, UnknownKeyIsRejected)
{
    const OverrideResult result = validate_one("difficulty", str("hard"));
    EXPECT_EQ(result.problem, OverrideProblem::UnknownKey);
    EXPECT_EQ(result.field, "difficulty");
    EXPECT_EQ(result.detail, "\"difficulty\" is not a known override; the allowed overrides are "
                             "\"topic\", \"notes\", \"skillLevel\", \"weeklyHours\", "
                             "\"learningStyle\", \"startDate\" and \"deadlineDate\".");
    EXPECT_TRUE(result.normalized_json.empty());

    // Keys are case-sensitive.
    EXPECT_EQ(validate_one("Topic", str("abc")).problem, OverrideProblem::UnknownKey);
    EXPECT_EQ(validate_one("weekly_hours", num("1")).problem, OverrideProblem::UnknownKey);
}

TEST(Overrides, UnknownKeyIsEscapedAndBoundedInDetail)
{
    const OverrideResult quoted = validate_one("a\"b\\c", num("1"));
    EXPECT_EQ(quoted.field, "a\"b\\c");
    EXPECT_EQ(quoted.detail.rfind(R"("a\"b\\c" is not a known override)", 0), 0u) << quoted.detail;

    const OverrideResult long_key = validate_one(repeat("k", 5000), num("1"));
    EXPECT_EQ(long_key.problem, OverrideProblem::UnknownKey);
    EXPECT_EQ(long_key.field.size(), 5000u);
    EXPECT_LT(long_key.detail.size(), 400u);
}

TEST(Overrides, UnknownKeyIsReportedBeforeInvalidValues)
{
    const OverrideResult result =
        validate_overrides({{"topic", str("x")}, {"weeklyHours", num("99")}, {"colour", str("")}});
    EXPECT_EQ(result.problem, OverrideProblem::UnknownKey);
    EXPECT_EQ(result.field, "colour");
}

TEST(Overrides, FirstProblemInCanonicalOrderIsReported)
{
    // Given in reverse order, still the topic is reported first.
    const OverrideResult result = validate_overrides(
        {{"deadlineDate", str("2023-02-29")}, {"weeklyHours", num("99")}, {"topic", str("x")}});
    EXPECT_EQ(result.problem, OverrideProblem::InvalidValue);
    EXPECT_EQ(result.field, "topic");

    const OverrideResult later = validate_overrides(
        {{"deadlineDate", str("2023-02-29")}, {"weeklyHours", num("99")}, {"topic", str("xyz")}});
    EXPECT_EQ(later.field, "weeklyHours");
}

TEST(Overrides, NormalizedJsonHasCanonicalOrder)
{
    const OverrideResult result = validate_overrides({
        {"deadlineDate", null()},
        {"startDate", str("2024-03-01")},
        {"learningStyle", str("mixed")},
        {"weeklyHours", num("1.2e1")},
        {"skillLevel", str("advanced")},
        {"notes", str(" n ")},
        {"topic", str(" Linear algebra ")},
    });
    ASSERT_EQ(result.problem, OverrideProblem::None) << result.detail;
    EXPECT_EQ(result.normalized_json,
              R"({"topic": "Linear algebra", "notes": "n", "skillLevel": "advanced", )"
              R"("weeklyHours": 12, "learningStyle": "mixed", "startDate": "2024-03-01", )"
              R"("deadlineDate": null})");
    EXPECT_TRUE(result.field.empty());
    EXPECT_TRUE(result.detail.empty());
}

TEST(Overrides, OnlyGivenKeysAppear)
{
    EXPECT_EQ(validate_overrides({{"weeklyHours", num("5")}, {"notes", null()}}).normalized_json,
              R"({"notes": null, "weeklyHours": 5})");
}

TEST(Overrides, RepeatedKeyKeepsLastValue)
{
    const OverrideResult result =
        validate_overrides({{"topic", str("first")}, {"topic", str("second")}});
    EXPECT_EQ(result.normalized_json, R"({"topic": "second"})");
}

TEST(Overrides, NormalizedJsonEscapesStrings)
{
    EXPECT_EQ(accepted_json("topic", str("say \"hi\"\nto C:\\temp\x01\x1f\tend")),
              R"({"topic": "say \"hi\"\nto C:\\temp\u0001\u001f\tend"})");
    EXPECT_EQ(accepted_json("notes", str("line1\r\nline2\b\f/")),
              R"({"notes": "line1\r\nline2\b\f/"})");
}

TEST(AppendJsonString, EscapesWhatRfc8259Requires)
{
    std::string out = "prefix:";
    regen::core::append_json_string(out, std::string("a\"b\\c\n\r\t\b\f\x00\x07\x1f\x7f", 14));
    EXPECT_EQ(out, "prefix:\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0000\\u0007\\u001f\x7f\"");
}

TEST(AppendJsonString, PassesValidUtf8Through)
{
    std::string out;
    regen::core::append_json_string(out, "héllo € 😀 \u2028 /");
    EXPECT_EQ(out, "\"héllo € 😀 \u2028 /\"");
}

TEST(AppendJsonString, ReplacesInvalidUtf8)
{
    std::string out;
    regen::core::append_json_string(out, "a\xff"
                                         "b\xC3");
    EXPECT_EQ(out, "\"a\uFFFDb\uFFFD\"");
}

TEST(AppendJsonString, EmptyString)
{
    std::string out;
    regen::core::append_json_string(out, "");
    EXPECT_EQ(out, "\"\"");
}

} // namespace
