// Cleaning of error text before it is stored in job_queue.last_error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace regen::core
{

constexpr std::size_t kMaxErrorBytes = 4000;

// Replace invalid UTF-8 and control characters with U+FFFD, and cut the result at a character
// boundary so that it fits in max_bytes, marking a cut with a trailing "..." (counted in
// max_bytes; below 3 bytes a cut leaves only max_bytes dots).
//
// Control characters are C0 other than tab and newline (so carriage return too), DEL and C1.
// Invalid UTF-8 includes overlong forms, surrogates and code points above U+10FFFF; each
// maximal invalid subpart (Unicode's recommended practice) becomes one U+FFFD. Throws nothing
// but std::bad_alloc.
std::string clean_error_text(std::string_view text, std::size_t max_bytes = kMaxErrorBytes);

} // namespace regen::core
