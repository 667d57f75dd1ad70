#include "log.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <sys/time.h>

namespace regen::shim
{

void
log_line(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    log_line_v(format, args);
    va_end(args);
}

void
log_line_v(const char *format, va_list args)
{
    char line[2048];
    struct timeval now;
    struct tm utc;

    gettimeofday(&now, nullptr);
    gmtime_r(&now.tv_sec, &utc);
    int used = static_cast<int>(strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &utc));
    used += std::snprintf(line + used, sizeof line - used, ".%03dZ ", (int)(now.tv_usec / 1000));

    int wanted = std::vsnprintf(line + used, sizeof line - used - 1, format, args);
    int end = wanted < 0 ? used : std::min<int>(used + wanted, sizeof line - 2);

    // Messages from libpq and libmicrohttpd end in newlines and may hold more: keep one line.
    while (end > used && (line[end - 1] == '\n' || line[end - 1] == ' '))
        end--;
    for (int i = used; i < end; i++)
        if (line[i] == '\n' || line[i] == '\r' || line[i] == '\t')
            line[i] = ' ';
    used = end;
    line[used++] = '\n';

    // One write per line, so that lines of concurrent requests do not interleave.
    fwrite(line, 1, used, stderr);
    fflush(stderr);
}

} // namespace regen::shim
