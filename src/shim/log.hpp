// One line per event on standard error, with a UTC timestamp; never the worker token.
#pragma once

namespace regen::shim
{

void log_line(const char *format, ...) __attribute__((format(printf, 1, 2)));

} // namespace regen::shim
