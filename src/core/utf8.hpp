// UTF-8 decoding shared by the core modules; internal to src/core, not part of its interface.
//
// Well-formedness follows the Unicode standard (table 3-7): overlong forms, surrogates and code
// points above U+10FFFF are invalid. An invalid sequence is reported as its maximal subpart (the
// longest prefix that could have started a valid sequence, at least one byte), which is the unit
// a replacement character stands for.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace regen::core::utf8
{

constexpr char32_t kReplacementChar = 0xFFFD;

struct Decoded
{
    char32_t code_point = 0; // meaningful only when valid
    std::size_t length = 1;  // bytes consumed, at least 1
    bool valid = false;
};

// Decode the character starting at text[pos]; pos must be < text.size().
Decoded decode(std::string_view text, std::size_t pos) noexcept;

// Append the UTF-8 encoding of a valid code point.
void append(std::string &out, char32_t code_point);

} // namespace regen::core::utf8
