#include "answer.hpp"

#include "../core/utf8.hpp"

#include <cstdio>

namespace regen::shim
{

namespace
{

bool
starts_with(std::string_view text, std::string_view prefix)
{
    return text.substr(0, prefix.size()) == prefix;
}

// The client's own mistake: its message (and detail) are about its input and safe to return.
// The field comes from the error's column name, which regen_enqueue() and
// regen_queue.http_request_overrides() set to the override or key at fault.
Answer
bad_request(std::string_view code, const SqlError &error)
{
    std::string message = error.message;
    if (!error.detail.empty())
        message += ": " + error.detail;
    return {400, error_body(code, message, error.field)};
}

Answer
conflict(const SqlError &error)
{
    std::string job_id;
    std::string status;
    if (!parse_existing_job(error.detail, job_id, status))
        return {409, error_body("already_queued", error.message)};
    return {409, "{\"ok\":false,\"error\":\"already_queued\",\"jobId\":" + json_string(job_id) +
                     ",\"status\":" + json_string(status) + "}"};
}

Answer
unavailable(std::string_view code)
{
    Answer answer = error_answer(503, code);
    answer.retry_later = true;
    return answer;
}

} // namespace

std::string
json_string(std::string_view text)
{
    std::string out = "\"";
    for (std::size_t pos = 0; pos < text.size();)
    {
        core::utf8::Decoded decoded = core::utf8::decode(text, pos);
        auto c = static_cast<unsigned char>(text[pos]);
        if (!decoded.valid)
            core::utf8::append(out, core::utf8::kReplacementChar);
        else if (c == '"' || c == '\\')
            out += std::string("\\") + static_cast<char>(c);
        else if (c < 0x20 || c == 0x7f)
        {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        }
        else
            out.append(text.substr(pos, decoded.length));
        pos += decoded.length;
    }
    return out + "\"";
}

std::string
error_body(std::string_view code, std::string_view message, std::string_view field)
{
    std::string body = "{\"ok\":false,\"error\":" + json_string(code);
    if (!message.empty())
        body += ",\"message\":" + json_string(message);
    if (!field.empty())
        body += ",\"field\":" + json_string(field);
    return body + "}";
}

Answer
error_answer(int status, std::string_view code, std::string_view message)
{
    return {status, error_body(code, message)};
}

bool
parse_existing_job(std::string_view detail, std::string &job_id, std::string &status)
{
    constexpr std::string_view kPrefix = "Job ";
    constexpr std::string_view kIs = " is ";

    if (!starts_with(detail, kPrefix) || detail.empty() || detail.back() != '.')
        return false;
    detail.remove_prefix(kPrefix.size());
    detail.remove_suffix(1);

    std::size_t is = detail.find(kIs);
    if (is == std::string_view::npos || is == 0 || is + kIs.size() >= detail.size())
        return false;
    job_id = std::string(detail.substr(0, is));
    status = std::string(detail.substr(is + kIs.size()));
    return true;
}

Answer
answer_sql_error(SqlStep step, const SqlError &error)
{
    const std::string &state = error.sqlstate;

    // No answer from the server at all, or the server going away: worth trying again.
    if (state.empty() || starts_with(state, "08") || state == "57P01" || state == "57P02" ||
        state == "57P03")
        return unavailable("database_unavailable");

    if (step == SqlStep::TokenCheck && state == "55000")
        return error_answer(503, "worker_token_not_configured");

    if (state == "55000")
        return error_answer(503, "queue_disabled");
    if (state == "25006")
        return unavailable("database_read_only");
    if (state == "53000" || state == "53300")
        return unavailable("server_busy");
    // statement_timeout of the shim's role (a drain goes on in its worker regardless).
    if (state == "57014")
        return unavailable("query_canceled");

    if (step == SqlStep::Enqueue)
    {
        // 54001: nested too deep for the server's stack.
        if (state == "22P02" || state == "22021" || state == "22P05" || state == "54001")
            return bad_request("invalid_json", error);
        if (state == "22023")
            return bad_request("invalid_overrides", error);
        if (state == "23505")
            return conflict(error);
        if (state == "42704")
            return error_answer(503, "handler_not_registered");
    }
    return error_answer(500, "internal_error");
}

Answer
enqueued_answer(std::string_view plan_id, std::string_view job_id, std::string_view status)
{
    return {202, "{\"ok\":true,\"planId\":" + json_string(plan_id) + ",\"jobId\":" +
                     json_string(job_id) + ",\"status\":" + json_string(status) + "}"};
}

Answer
drained_answer(std::string_view counts_json)
{
    return {200, std::string(counts_json)};
}

} // namespace regen::shim
