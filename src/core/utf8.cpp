// UTF-8 decoding shared by the core modules.
#include "utf8.hpp"

namespace regen::core::utf8
{
namespace
{

struct LeadByte
{
    std::size_t length;      // total length of the sequence, 0 when the byte cannot lead one
    unsigned char second_lo; // allowed range of the second byte; it excludes overlong forms,
    unsigned char second_hi; // surrogates and code points above U+10FFFF
};

LeadByte
classify_lead(unsigned char byte) noexcept
{
    if (byte >= 0xC2 && byte <= 0xDF)
        return {2, 0x80, 0xBF};
    if (byte == 0xE0)
        return {3, 0xA0, 0xBF};
    if (byte == 0xED)
        return {3, 0x80, 0x9F};
    if (byte >= 0xE1 && byte <= 0xEF)
        return {3, 0x80, 0xBF};
    if (byte == 0xF0)
        return {4, 0x90, 0xBF};
    if (byte >= 0xF1 && byte <= 0xF3)
        return {4, 0x80, 0xBF};
    if (byte == 0xF4)
        return {4, 0x80, 0x8F};
    return {0, 0, 0};
}

bool
in_range(unsigned char byte, unsigned char lo, unsigned char hi) noexcept
{
    return byte >= lo && byte <= hi;
}

} // namespace

Decoded
decode(std::string_view text, std::size_t pos) noexcept
{
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80)
        return {lead, 1, true};

    const LeadByte shape = classify_lead(lead);
    if (shape.length == 0)
        return {0, 1, false};

    char32_t code_point = lead & (0xFF >> (shape.length + 1));
    for (std::size_t i = 1; i < shape.length; ++i)
    {
        if (pos + i >= text.size())
            return {0, i, false};

        const auto byte = static_cast<unsigned char>(text[pos + i]);
        const bool fits =
            i == 1 ? in_range(byte, shape.second_lo, shape.second_hi) : in_range(byte, 0x80, 0xBF);
        if (!fits)
            return {0, i, false};

        code_point = (code_point << 6) | (byte & 0x3F);
    }
    return {code_point, shape.length, true};
}

void
append(std::string &out, char32_t code_point)
{
    if (code_point < 0x80)
    {
        out += static_cast<char>(code_point);
    }
    else if (code_point < 0x800)
    {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
    else if (code_point < 0x10000)
    {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
    else
    {
        out += static_cast<char>(0xF0 | (code_point >> 18));
        out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
}

} // namespace regen::core::utf8
