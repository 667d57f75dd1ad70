// Cleaning of error text before it is stored in job_queue.last_error.
#include "text_clean.hpp"

#include "utf8.hpp"

#include <algorithm>

namespace regen::core
{
namespace
{

constexpr std::string_view kCutMarker = "...";

// C0 controls other than tab and newline, DEL and the C1 controls.
bool
is_unwanted_control(char32_t code_point) noexcept
{
    if (code_point == '\t' || code_point == '\n')
        return false;
    return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F);
}

bool
is_continuation_byte(char byte) noexcept
{
    return (static_cast<unsigned char>(byte) & 0xC0) == 0x80;
}

// Shorten valid UTF-8 that is longer than max_bytes so that it ends in the cut marker.
std::string
cut_with_marker(std::string text, std::size_t max_bytes)
{
    if (max_bytes < kCutMarker.size())
        return std::string(max_bytes, '.');

    std::size_t keep = max_bytes - kCutMarker.size();
    while (keep > 0 && is_continuation_byte(text[keep]))
        --keep;

    text.resize(keep);
    text += kCutMarker;
    return text;
}

} // namespace

std::string
clean_error_text(std::string_view text, std::size_t max_bytes)
{
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + kCutMarker.size());

    // Stop as soon as the output is known to need a cut: error text can be arbitrarily long.
    std::size_t pos = 0;
    while (pos < text.size() && out.size() <= max_bytes)
    {
        const utf8::Decoded next = utf8::decode(text, pos);
        if (next.valid && !is_unwanted_control(next.code_point))
            out.append(text.substr(pos, next.length));
        else
            utf8::append(out, utf8::kReplacementChar);
        pos += next.length;
    }

    if (out.size() <= max_bytes && pos == text.size())
        return out;
    return cut_with_marker(std::move(out), max_bytes);
}

} // namespace regen::core
