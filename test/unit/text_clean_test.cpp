// Unit tests for the cleaning of error text stored in last_error.
#include "core/text_clean.hpp"
#include "json_check.hpp"

#include <gtest/gtest.h>

#include <string>

namespace
{

using regen::core::clean_error_text;

const std::string kFffd = "\xEF\xBF\xBD"; // U+FFFD

TEST(CleanErrorText, PlainTextIsUnchanged)
{
    EXPECT_EQ(clean_error_text("division by zero"), "division by zero");
    EXPECT_EQ(clean_error_text(""), "");
    EXPECT_EQ(clean_error_text("héllo € 😀"), "héllo € 😀");
}

TEST(CleanErrorText, TabAndNewlineAreKept)
{
    EXPECT_EQ(clean_error_text("line 1\n\tline 2"), "line 1\n\tline 2");
}

TEST(CleanErrorText, ControlCharactersAreReplaced)
{
    EXPECT_EQ(clean_error_text(std::string("a\0b", 3)), "a" + kFffd + "b");
    EXPECT_EQ(clean_error_text("a\rb"), "a" + kFffd + "b");
    EXPECT_EQ(clean_error_text("\x1b[31mred"), kFffd + "[31mred");
    EXPECT_EQ(clean_error_text("del\x7f"), "del" + kFffd);
    EXPECT_EQ(clean_error_text("c1\xC2\x85!"), "c1" + kFffd + "!"); // U+0085
    EXPECT_EQ(clean_error_text("nbsp\xC2\xA0!"), "nbsp\xC2\xA0!");  // U+00A0 is not a control
}

TEST(CleanErrorText, InvalidBytesAreReplacedOneEach)
{
    EXPECT_EQ(clean_error_text("a\xff"
                               "b"),
              "a" + kFffd + "b");
    EXPECT_EQ(clean_error_text("\x80\x80"), kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xfe\xff"), kFffd + kFffd);
    EXPECT_EQ(clean_error_text("end\xC3"), "end" + kFffd);
}

TEST(CleanErrorText, TruncatedSequenceIsOneReplacement)
{
    EXPECT_EQ(clean_error_text("\xE2\x82"
                               "A"),
              kFffd + "A");
    EXPECT_EQ(clean_error_text("\xF0\x9F\x98"
                               "A"),
              kFffd + "A");
    EXPECT_EQ(clean_error_text("\xF0\x9F\x98"), kFffd);
}

TEST(CleanErrorText, OverlongEncodingsAreInvalid)
{
    EXPECT_EQ(clean_error_text("\xC0\xAF"), kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xC1\xBF"), kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xE0\x80\xAF"), kFffd + kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xF0\x80\x80\xAF"), kFffd + kFffd + kFffd + kFffd);
}

TEST(CleanErrorText, SurrogatesAndOutOfRangeAreInvalid)
{
    EXPECT_EQ(clean_error_text("\xED\xA0\x80"), kFffd + kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xED\xBF\xBF"), kFffd + kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);
    EXPECT_EQ(clean_error_text("\xED\x9F\xBF"), "\xED\x9F\xBF");         // U+D7FF is fine
    EXPECT_EQ(clean_error_text("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF"); // U+10FFFF is fine
}

TEST(CleanErrorText, FittingTextIsNotCut)
{
    EXPECT_EQ(clean_error_text("abcde", 5), "abcde");
    EXPECT_EQ(clean_error_text("", 0), "");
}

TEST(CleanErrorText, CutIsMarked)
{
    EXPECT_EQ(clean_error_text("abcdef", 5), "ab...");
    EXPECT_EQ(clean_error_text("abcd", 3), "...");
}

TEST(CleanErrorText, CutFallsOnCharacterBoundary)
{
    const std::string euros = "ab€€€"; // 2 + 3 * 3 bytes
    EXPECT_EQ(clean_error_text(euros, 8), "ab€...");
    EXPECT_EQ(clean_error_text(euros, 7), "ab...");
    EXPECT_EQ(clean_error_text(euros, 6), "ab...");
    EXPECT_EQ(clean_error_text(euros, 10), "ab€...");
    EXPECT_EQ(clean_error_text(euros + "x", 11), "ab€€...");
    EXPECT_EQ(clean_error_text(euros, 11), euros);
    EXPECT_EQ(clean_error_text("😀😀", 7), "😀...");
    EXPECT_EQ(clean_error_text("😀😀", 6), "...");
}

TEST(CleanErrorText, CutResultIsBoundedAndValid)
{
    const std::string mixed = "a é € 😀 \xff\x80 \x01 " + std::string(30, 'z') + "ü";
    for (std::size_t max = 0; max <= mixed.size() + 8; ++max)
    {
        const std::string cleaned = clean_error_text(mixed, max);
        EXPECT_LE(cleaned.size(), max) << max;
        EXPECT_TRUE(json_check::valid_utf8(cleaned)) << max;
    }
}

TEST(CleanErrorText, TinyLimits)
{
    EXPECT_EQ(clean_error_text("abc", 0), "");
    EXPECT_EQ(clean_error_text("abc", 1), ".");
    EXPECT_EQ(clean_error_text("abc", 2), "..");
    EXPECT_EQ(clean_error_text("ab", 2), "ab");
    EXPECT_EQ(clean_error_text("\xff", 2), "..");
}

TEST(CleanErrorText, ReplacementsCountTowardsTheLimit)
{
    // Each invalid byte grows to three; 2000 of them cannot fit in 4000 bytes.
    const std::string cleaned = clean_error_text(std::string(2000, '\xff'));
    EXPECT_EQ(cleaned.size(), 1332 * 3 + 3u);
    EXPECT_EQ(cleaned.substr(cleaned.size() - 3), "...");
    EXPECT_EQ(cleaned.substr(0, 3), kFffd);
    EXPECT_TRUE(json_check::valid_utf8(cleaned));
}

TEST(CleanErrorText, DefaultLimitIsFourThousandBytes)
{
    EXPECT_EQ(regen::core::kMaxErrorBytes, 4000u);
    const std::string long_text(100000, 'x');
    const std::string cleaned = clean_error_text(long_text);
    EXPECT_EQ(cleaned, std::string(3997, 'x') + "...");
    EXPECT_EQ(clean_error_text(std::string(4000, 'x')), std::string(4000, 'x'));
}

} // namespace
