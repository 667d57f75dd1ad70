// One line per event on standard error, with a UTC timestamp; never the worker token.
#pragma once

#include <cstdarg>

namespace regen::shim
{

// Newlines and tabs in the message become spaces, so that each event stays one line.
void log_line(const char *format, ...) __attribute__((format(printf, 1, 2)));
void log_line_v(const char *format, va_list args) __attribute__((format(printf, 1, 0)));

} // namespace regen::shim
