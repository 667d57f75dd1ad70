// Text between the database's encoding and the core's UTF-8.
#include "server_text.hpp"

extern "C"
{
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
}

#include <cstring>

namespace regen::pg
{

namespace
{

// The database's text is the core's as it is.
bool
passes_through()
{
    int encoding = GetDatabaseEncoding();
    return encoding == PG_UTF8 || encoding == PG_SQL_ASCII;
}

} // namespace

char *
text_for_core(const char *text, int len)
{
    if (passes_through())
        return pnstrdup(text, len);
    // Text of the database is valid in its encoding, and every encoding converts to UTF-8.
    char *converted = pg_server_to_any(text, len, PG_UTF8);
    return converted == text ? pnstrdup(text, len) : converted;
}

char *
text_from_core(const char *utf8)
{
    if (passes_through())
        return pstrdup(utf8);

    static const char kReplacement[] = "\xEF\xBF\xBD"; // U+FFFD in UTF-8
    StringInfoData buf;
    initStringInfo(&buf);
    for (const char *rest = utf8;;)
    {
        const char *found = strstr(rest, kReplacement);
        if (found == nullptr)
        {
            appendStringInfoString(&buf, rest);
            break;
        }
        appendBinaryStringInfo(&buf, rest, (int)(found - rest));
        appendStringInfoChar(&buf, '?');
        rest = found + strlen(kReplacement);
    }
    // Everything else came from the database's own text or is ASCII, so it converts back.
    char *converted = pg_any_to_server(buf.data, buf.len, PG_UTF8);
    return converted == buf.data ? buf.data : converted;
}

} // namespace regen::pg
