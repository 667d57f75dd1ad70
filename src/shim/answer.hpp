// What the shim answers: the JSON bodies and the mapping of SQL errors to HTTP statuses.
//
// Error codes are part of the contract (README, "HTTP shim"): clients and alerts key on them.
#pragma once

#include <string>
#include <string_view>

namespace regen::shim
{

struct Answer
{
    int status = 500;
    std::string body;         // JSON
    bool retry_later = false; // send Retry-After: 1
};

// Which call a SQL error came from: the same SQLSTATE means different things in each.
enum class SqlStep
{
    TokenCheck, // regen_queue.http_check_token(); a refusal is its answer, not an error
    Enqueue,    // regen_enqueue() with regen_queue.http_request_overrides()
    Drain,      // regen_drain()
};

struct SqlError
{
    std::string sqlstate; // empty when the connection failed before the server answered
    std::string message;
    std::string detail;
    std::string field; // the error's column name: the override (or body key) at fault
};

// {"ok": false, "error": code} with an optional message and the field it names.
std::string error_body(std::string_view code, std::string_view message = {},
                       std::string_view field = {});

Answer error_answer(int status, std::string_view code, std::string_view message = {});

// The HTTP answer to a SQL error of a step.
Answer answer_sql_error(SqlStep step, const SqlError &error);

// The answer to a successful enqueue and drain.
Answer enqueued_answer(std::string_view plan_id, std::string_view job_id, std::string_view status);
Answer drained_answer(std::string_view counts_json);

// The job id and status of "Job <id> is <status>." (regen_enqueue's 23505 detail).
bool parse_existing_job(std::string_view detail, std::string &job_id, std::string &status);

// Text as a JSON string literal, quotes included; invalid UTF-8 bytes become U+FFFD.
std::string json_string(std::string_view text);

} // namespace regen::shim
