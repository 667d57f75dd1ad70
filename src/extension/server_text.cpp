// Text between the database's encoding and the core's UTF-8.
#include "server_text.hpp"

extern "C"
{
#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
}

#include <cstring>

namespace regen::pg
{

namespace
{

// UTF8 and SQL_ASCII: the database's text is the core's as it is.
bool
is_utf8_or_ascii()
{
    int encoding = GetDatabaseEncoding();
    return encoding == PG_UTF8 || encoding == PG_SQL_ASCII;
}

// Whether text goes to the core unconverted: also in an encoding PostgreSQL cannot convert to
// UTF-8 (MULE_INTERNAL), where only its ASCII is understood and other bytes count as invalid.
// A process stays in one database, so the answer is kept.
bool
passes_through()
{
    static int known = -1;
    if (known < 0)
        known = is_utf8_or_ascii() ||
                !OidIsValid(FindDefaultConversionProc(GetDatabaseEncoding(), PG_UTF8)) ||
                !OidIsValid(FindDefaultConversionProc(PG_UTF8, GetDatabaseEncoding()));
    return known == 1;
}

} // namespace

char *
text_for_core(const char *text, int len)
{
    if (passes_through())
        return pnstrdup(text, len);
    // Text of the database is valid in its encoding, and it has a conversion to UTF-8.
    char *converted = pg_server_to_any(text, len, PG_UTF8);
    return converted == text ? pnstrdup(text, len) : converted;
}

char *
text_from_core(const char *utf8)
{
    if (is_utf8_or_ascii())
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
    // Everything else came from the database's own text or is ASCII, so it converts back (or,
    // unconverted, is that text's valid bytes: what the core kept of it is valid UTF-8, which
    // MULE_INTERNAL's bytes above 0x7F never are).
    if (passes_through())
        return buf.data;
    char *converted = pg_any_to_server(buf.data, buf.len, PG_UTF8);
    return converted == buf.data ? buf.data : converted;
}

} // namespace regen::pg
