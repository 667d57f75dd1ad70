// A strict JSON reader (RFC 8259) for tests, written independently of the code under test: it
// says whether a text is valid JSON and hands back a top-level object's members.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace json_check
{

// Well-formed UTF-8 per Unicode table 3-7: no overlongs, surrogates or code points past U+10FFFF.
inline bool
valid_utf8(std::string_view text)
{
    for (std::size_t i = 0; i < text.size();)
    {
        const auto b = static_cast<unsigned char>(text[i]);
        std::size_t len = b < 0x80                 ? 1
                          : b >= 0xC2 && b <= 0xDF ? 2
                          : b >= 0xE0 && b <= 0xEF ? 3
                          : b >= 0xF0 && b <= 0xF4 ? 4
                                                   : 0;
        if (len == 0 || i + len > text.size())
            return false;
        unsigned long cp = len == 1 ? b : b & (0x7F >> len);
        for (std::size_t k = 1; k < len; ++k)
        {
            const auto c = static_cast<unsigned char>(text[i + k]);
            if ((c & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        const unsigned long min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

class Reader
{
  public:
    explicit Reader(std::string_view text) : text_(text) {}

    // A member's value: decoded text for a string, the raw JSON text otherwise.
    using Members = std::map<std::string, std::string>;

    std::optional<Members> whole_object()
    {
        Members members;
        blanks();
        if (!object(&members))
            return std::nullopt;
        blanks();
        if (pos_ != text_.size())
            return std::nullopt;
        return members;
    }

    std::optional<std::string> whole_string()
    {
        std::string out;
        if (!string(&out) || pos_ != text_.size())
            return std::nullopt;
        return out;
    }

    bool whole_value()
    {
        blanks();
        if (!value(nullptr))
            return false;
        blanks();
        return pos_ == text_.size();
    }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }

    void blanks()
    {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
            pos_++;
    }

    bool take(char c)
    {
        if (at_end() || peek() != c)
            return false;
        pos_++;
        return true;
    }

    bool literal(std::string_view word)
    {
        if (text_.substr(pos_, word.size()) != word)
            return false;
        pos_ += word.size();
        return true;
    }

    static void encode(std::string &out, unsigned long cp)
    {
        if (cp < 0x80)
            out += static_cast<char>(cp);
        else if (cp < 0x800)
        {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        else if (cp < 0x10000)
        {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        else
        {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool hex4(unsigned long &cp)
    {
        if (pos_ + 4 > text_.size())
            return false;
        cp = 0;
        for (int k = 0; k < 4; k++)
        {
            char c = text_[pos_++];
            int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
            if (digit < 0)
                return false;
            cp = cp * 16 + static_cast<unsigned long>(digit);
        }
        return true;
    }

    bool escape(std::string &out)
    {
        if (at_end())
            return false;
        char c = text_[pos_++];
        switch (c)
        {
            case '"':
                out += '"';
                return true;
            case '\\':
                out += '\\';
                return true;
            case '/':
                out += '/';
                return true;
            case 'b':
                out += '\b';
                return true;
            case 'f':
                out += '\f';
                return true;
            case 'n':
                out += '\n';
                return true;
            case 'r':
                out += '\r';
                return true;
            case 't':
                out += '\t';
                return true;
            case 'u':
                break;
            default:
                return false;
        }
        unsigned long cp = 0;
        if (!hex4(cp))
            return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return false; // a lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF)
        {
            unsigned long low = 0;
            if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF)
                return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        encode(out, cp);
        return true;
    }

    bool string(std::string *out)
    {
        std::string text;
        if (!take('"'))
            return false;
        std::size_t raw_start = pos_;
        while (true)
        {
            if (at_end())
                return false;
            char c = text_[pos_];
            if (c == '"')
                break;
            if (static_cast<unsigned char>(c) < 0x20)
                return false;
            pos_++;
            if (c == '\\')
            {
                if (!escape(text))
                    return false;
            }
            else
                text += c;
        }
        if (!valid_utf8(text_.substr(raw_start, pos_ - raw_start)))
            return false;
        pos_++;
        if (out != nullptr)
            *out = std::move(text);
        return true;
    }

    bool digits()
    {
        std::size_t start = pos_;
        while (!at_end() && peek() >= '0' && peek() <= '9')
            pos_++;
        return pos_ > start;
    }

    bool number()
    {
        take('-');
        if (take('0'))
        {
        }
        else if (!(peek() >= '1' && peek() <= '9') || !digits())
            return false;
        if (take('.') && !digits())
            return false;
        if (take('e') || take('E'))
        {
            if (!take('+'))
                take('-');
            if (!digits())
                return false;
        }
        return true;
    }

    bool array()
    {
        if (!take('['))
            return false;
        blanks();
        if (take(']'))
            return true;
        while (true)
        {
            blanks();
            if (!value(nullptr))
                return false;
            blanks();
            if (take(']'))
                return true;
            if (!take(','))
                return false;
        }
    }

    bool object(Members *members)
    {
        if (!take('{'))
            return false;
        blanks();
        if (take('}'))
            return true;
        while (true)
        {
            blanks();
            std::string key;
            if (!string(&key))
                return false;
            blanks();
            if (!take(':'))
                return false;
            blanks();
            std::string member;
            if (!value(&member))
                return false;
            if (members != nullptr && !members->emplace(key, member).second)
                return false; // duplicate keys: no client should have to guess
            blanks();
            if (take('}'))
                return true;
            if (!take(','))
                return false;
        }
    }

    bool value(std::string *out)
    {
        std::size_t start = pos_;
        bool ok;
        switch (peek())
        {
            case '"':
                return string(out);
            case '{':
                ok = object(nullptr);
                break;
            case '[':
                ok = array();
                break;
            case 't':
                ok = literal("true");
                break;
            case 'f':
                ok = literal("false");
                break;
            case 'n':
                ok = literal("null");
                break;
            default:
                ok = number();
                break;
        }
        if (ok && out != nullptr)
            *out = std::string(text_.substr(start, pos_ - start));
        return ok;
    }
};

inline std::optional<Reader::Members>
parse_object(std::string_view text)
{
    return Reader(text).whole_object();
}

inline std::optional<std::string>
parse_string(std::string_view text)
{
    return Reader(text).whole_string();
}

inline bool
is_json(std::string_view text)
{
    return Reader(text).whole_value();
}

} // namespace json_check
