// Unit tests for what the shim answers: SQL errors mapped to HTTP statuses and codes, and the
// JSON it writes (escaping, error bodies, the 409 and 202 bodies).
#include "shim/answer.hpp"

#include "json_check.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace
{

using namespace regen::shim;
using json_check::parse_object;
using json_check::parse_string;

const std::string kFffd = "\xEF\xBF\xBD";
const std::vector<SqlStep> kSteps = {SqlStep::TokenCheck, SqlStep::Enqueue, SqlStep::Drain};

const char *
step_name(SqlStep step)
{
    switch (step)
    {
        case SqlStep::TokenCheck:
            return "token check";
        case SqlStep::Enqueue:
            return "enqueue";
        case SqlStep::Drain:
            return "drain";
    }
    return "?";
}

SqlError
sql_error(std::string sqlstate, std::string message = "some message", std::string detail = {},
          std::string field = {})
{
    return {std::move(sqlstate), std::move(message), std::move(detail), std::move(field)};
}

// The answer's body as members, failing the test when it is not one JSON object.
json_check::Reader::Members
members_of(const Answer &answer)
{
    std::optional<json_check::Reader::Members> members = parse_object(answer.body);
    EXPECT_TRUE(members.has_value()) << answer.body;
    return members.value_or(json_check::Reader::Members{});
}

void
expect_error(const Answer &answer, int status, const std::string &code, bool retry_later,
             const std::string &context)
{
    EXPECT_EQ(answer.status, status) << context;
    EXPECT_EQ(answer.retry_later, retry_later) << context;
    json_check::Reader::Members members = members_of(answer);
    EXPECT_EQ(members["ok"], "false") << context;
    EXPECT_EQ(members["error"], code) << context;
}

// --- answer_sql_error -------------------------------------------------------------------------

TEST(AnswerSqlError, NoServerAnswerIsUnavailableInEveryStep)
{
    for (SqlStep step : kSteps)
        for (const char *state :
             {"", "08000", "08001", "08003", "08004", "08006", "08P01", "57P01", "57P02", "57P03"})
            expect_error(answer_sql_error(step, sql_error(state)), 503, "database_unavailable",
                         true, std::string(step_name(step)) + " " + state);
}

TEST(AnswerSqlError, TokenCheck)
{
    // A wrong token is the check's answer (false), not an error; its only error is a
    // production server without a token.
    Answer answer = answer_sql_error(SqlStep::TokenCheck,
                                     sql_error("55000", "regen_queue.worker_token is not set"));
    expect_error(answer, 503, "worker_token_not_configured", false, "55000");
    EXPECT_EQ(members_of(answer).count("message"), 0u);
}

TEST(AnswerSqlError, InvalidPasswordIsInternalInEveryStep)
{
    for (SqlStep step : kSteps)
        expect_error(answer_sql_error(step, sql_error("28P01")), 500, "internal_error", false,
                     step_name(step));
}

TEST(AnswerSqlError, CancelledStatementIsUnavailable)
{
    for (SqlStep step : kSteps)
        expect_error(answer_sql_error(step, sql_error("57014")), 503, "query_canceled", true,
                     step_name(step));
}

TEST(AnswerSqlError, DisabledQueue)
{
    for (SqlStep step : {SqlStep::Enqueue, SqlStep::Drain})
        expect_error(answer_sql_error(step, sql_error("55000")), 503, "queue_disabled", false,
                     step_name(step));
}

TEST(AnswerSqlError, ReadOnlyAndBusyInEveryStep)
{
    for (SqlStep step : kSteps)
    {
        expect_error(answer_sql_error(step, sql_error("25006")), 503, "database_read_only", true,
                     step_name(step));
        for (const char *state : {"53000", "53300"})
            expect_error(answer_sql_error(step, sql_error(state)), 503, "server_busy", true,
                         std::string(step_name(step)) + " " + state);
    }
}

TEST(AnswerSqlError, InvalidJsonCarriesMessageAndDetail)
{
    for (const char *state : {"22P02", "22021", "22P05"})
    {
        Answer answer = answer_sql_error(
            SqlStep::Enqueue,
            sql_error(state, "invalid input syntax for type json", "Token \"x\" is invalid."));
        expect_error(answer, 400, "invalid_json", false, state);
        json_check::Reader::Members members = members_of(answer);
        EXPECT_EQ(members["message"], "invalid input syntax for type json: Token \"x\" is invalid.")
            << state;
        // The quoted name is in the detail, not the message: it names no field.
        EXPECT_EQ(members.count("field"), 0u) << state;
    }
}

TEST(AnswerSqlError, InvalidJsonWithoutDetail)
{
    Answer answer = answer_sql_error(SqlStep::Enqueue, sql_error("22P02", "bad json"));
    expect_error(answer, 400, "invalid_json", false, "22P02");
    EXPECT_EQ(members_of(answer)["message"], "bad json");
}

TEST(AnswerSqlError, InvalidOverridesNameTheFieldOfTheError)
{
    Answer answer = answer_sql_error(
        SqlStep::Enqueue,
        sql_error("22023", "invalid value for override \"topic\"",
                  "\"topic\" must be between 1 and 200 characters long.", "topic"));
    expect_error(answer, 400, "invalid_overrides", false, "override value");
    json_check::Reader::Members members = members_of(answer);
    EXPECT_EQ(members["field"], "topic");
    EXPECT_EQ(members["message"], "invalid value for override \"topic\": \"topic\" must be "
                                  "between 1 and 200 characters long.");

    // The field is the error's, not a guess from the message: a key with a quote stays whole.
    answer = answer_sql_error(SqlStep::Enqueue,
                              sql_error("22023", "unknown override \"a\"b\"", "", "a\"b"));
    EXPECT_EQ(members_of(answer)["field"], "a\"b");
}

TEST(AnswerSqlError, NoFieldFromTheMessageAlone)
{
    Answer answer =
        answer_sql_error(SqlStep::Enqueue, sql_error("22023", "unknown override \"colour\""));
    EXPECT_EQ(members_of(answer).count("field"), 0u);
}

TEST(AnswerSqlError, BodyThatIsNoObjectNamesNoField)
{
    Answer answer =
        answer_sql_error(SqlStep::Enqueue, sql_error("22023", "request body must be a JSON object",
                                                     "It is a JSON array."));
    expect_error(answer, 400, "invalid_overrides", false, "body");
    json_check::Reader::Members members = members_of(answer);
    EXPECT_EQ(members.count("field"), 0u);
    EXPECT_EQ(members["message"], "request body must be a JSON object: It is a JSON array.");
}

TEST(AnswerSqlError, TooDeeplyNestedJson)
{
    expect_error(
        answer_sql_error(SqlStep::Enqueue, sql_error("54001", "stack depth limit exceeded")), 400,
        "invalid_json", false, "54001");
}

TEST(AnswerSqlError, AlreadyQueuedNamesTheJob)
{
    Answer answer =
        answer_sql_error(SqlStep::Enqueue, sql_error("23505", "plan x already has an active job",
                                                     "Job 42 is pending."));
    expect_error(answer, 409, "already_queued", false, "23505");
    json_check::Reader::Members members = members_of(answer);
    EXPECT_EQ(members["jobId"], "42");
    EXPECT_EQ(members["status"], "pending");
    EXPECT_EQ(members.size(), 4u) << answer.body;

    answer = answer_sql_error(SqlStep::Enqueue, sql_error("23505", "m", "Job 9f1c is processing."));
    members = members_of(answer);
    EXPECT_EQ(members["jobId"], "9f1c");
    EXPECT_EQ(members["status"], "processing");
}

TEST(AnswerSqlError, AlreadyQueuedWithAnUnreadableDetail)
{
    for (const char *detail : {"", "Job 42 is pending", "job 42 is pending.", "Job 42 pending."})
    {
        Answer answer = answer_sql_error(
            SqlStep::Enqueue, sql_error("23505", "plan x already has an active job", detail));
        expect_error(answer, 409, "already_queued", false, detail);
        json_check::Reader::Members members = members_of(answer);
        EXPECT_EQ(members.count("jobId"), 0u) << detail;
        EXPECT_EQ(members["message"], "plan x already has an active job") << detail;
    }
}

TEST(AnswerSqlError, NoHandler)
{
    expect_error(
        answer_sql_error(SqlStep::Enqueue,
                         sql_error("42704", "no handler is registered for job type \"x\"")),
        503, "handler_not_registered", false, "42704");
}

TEST(AnswerSqlError, EnqueueCodesMeanNothingElsewhere)
{
    for (SqlStep step : {SqlStep::TokenCheck, SqlStep::Drain})
        for (const char *state : {"22P02", "22021", "22P05", "22023", "54001", "23505", "42704"})
            expect_error(answer_sql_error(step, sql_error(state, "m", "Job 1 is pending.")), 500,
                         "internal_error", false, std::string(step_name(step)) + " " + state);
}

TEST(AnswerSqlError, AnythingElseIsInternalAndSaysNoMore)
{
    for (SqlStep step : kSteps)
        for (const char *state :
             {"XX000", "42883", "42501", "40001", "40P01", "53100", "53200", "57P04", "8", "P0001"})
        {
            Answer answer =
                answer_sql_error(step, sql_error(state, "secret internals", "more internals"));
            expect_error(answer, 500, "internal_error", false,
                         std::string(step_name(step)) + " " + state);
            EXPECT_EQ(answer.body.find("internals"), std::string::npos) << answer.body;
        }
}

// --- json_string ------------------------------------------------------------------------------

TEST(JsonString, PlainText)
{
    EXPECT_EQ(json_string(""), "\"\"");
    EXPECT_EQ(json_string("abc / xyz"), "\"abc / xyz\"");
}

TEST(JsonString, QuotesAndBackslashes)
{
    EXPECT_EQ(json_string("a\"b"), "\"a\\\"b\"");
    EXPECT_EQ(json_string("a\\b"), "\"a\\\\b\"");
    EXPECT_EQ(json_string("\\\""), "\"\\\\\\\"\"");
}

TEST(JsonString, ControlCharacters)
{
    EXPECT_EQ(json_string(std::string("\0", 1)), "\"\\u0000\"");
    EXPECT_EQ(json_string("\n\r\t"), "\"\\u000a\\u000d\\u0009\"");
    EXPECT_EQ(json_string("\x1f"), "\"\\u001f\"");
    EXPECT_EQ(json_string("\x7f"), "\"\\u007f\"");
    EXPECT_EQ(json_string("\x20"), "\" \"");
}

TEST(JsonString, ValidUtf8IsKept)
{
    EXPECT_EQ(json_string("\xC3\xA9"), "\"\xC3\xA9\"");                 // é
    EXPECT_EQ(json_string("\xE2\x82\xAC"), "\"\xE2\x82\xAC\"");         // €
    EXPECT_EQ(json_string("\xF0\x9F\x98\x80"), "\"\xF0\x9F\x98\x80\""); // U+1F600
    EXPECT_EQ(json_string("\xF4\x8F\xBF\xBF"), "\"\xF4\x8F\xBF\xBF\""); // U+10FFFF
}

TEST(JsonString, InvalidUtf8BecomesReplacementCharacters)
{
    EXPECT_EQ(json_string("\xFF"), "\"" + kFffd + "\"");
    EXPECT_EQ(json_string("a\xFF"
                          "b"),
              "\"a" + kFffd + "b\"");
    EXPECT_EQ(json_string("\xC3"), "\"" + kFffd + "\"");     // cut short at the end
    EXPECT_EQ(json_string("\xE2\x82"), "\"" + kFffd + "\""); // one maximal subpart
    EXPECT_EQ(json_string("\xE2\x82"
                          "a"),
              "\"" + kFffd + "a\"");
    EXPECT_EQ(json_string("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");             // overlong
    EXPECT_EQ(json_string("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\""); // surrogate
    EXPECT_EQ(json_string("\xF4\x90\x80\x80"), "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
    EXPECT_EQ(json_string("\x80"), "\"" + kFffd + "\""); // lone continuation
    // A broken sequence does not swallow the quote after it.
    EXPECT_EQ(json_string("\xC3\""), "\"" + kFffd + "\\\"\"");
}

TEST(JsonString, EveryByteGivesValidJson)
{
    for (int b = 0; b < 256; b++)
    {
        std::string text = "x" + std::string(1, static_cast<char>(b)) + "y";
        std::string out = json_string(text);
        std::optional<std::string> decoded = parse_string(out);
        ASSERT_TRUE(decoded.has_value()) << b << ": " << out;
        if (b < 0x80)
            EXPECT_EQ(*decoded, text) << b;
        else
            EXPECT_EQ(*decoded, "x" + kFffd + "y") << b;
    }
}

TEST(JsonString, RoundTripsValidText)
{
    const std::string text =
        "tab\there \"q\" \\ back \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \x01\x7f end";
    std::optional<std::string> decoded = parse_string(json_string(text));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, text);
}

// --- error_body, error_answer, enqueued_answer, drained_answer --------------------------------

TEST(ErrorBody, CodeOnly)
{
    EXPECT_EQ(error_body("not_found"), "{\"ok\":false,\"error\":\"not_found\"}");
}

TEST(ErrorBody, MessageAndField)
{
    EXPECT_EQ(error_body("invalid_plan_id", "planId must be a uuid", "planId"),
              "{\"ok\":false,\"error\":\"invalid_plan_id\",\"message\":\"planId must be a uuid\","
              "\"field\":\"planId\"}");
    EXPECT_EQ(error_body("c", "", "f"), "{\"ok\":false,\"error\":\"c\",\"field\":\"f\"}");
}

TEST(ErrorBody, EscapesWhatItQuotes)
{
    std::string body = error_body("c\"", "line\nbreak \"q\" \xFF", "f\\");
    std::optional<json_check::Reader::Members> members = parse_object(body);
    ASSERT_TRUE(members.has_value()) << body;
    EXPECT_EQ((*members)["error"], "c\"");
    EXPECT_EQ((*members)["message"], "line\nbreak \"q\" " + kFffd);
    EXPECT_EQ((*members)["field"], "f\\");
}

TEST(ErrorAnswer, StatusAndBody)
{
    Answer answer = error_answer(404, "not_found");
    EXPECT_EQ(answer.status, 404);
    EXPECT_FALSE(answer.retry_later);
    EXPECT_EQ(answer.body, error_body("not_found"));

    answer = error_answer(400, "invalid_json", "the body contains a NUL byte");
    EXPECT_EQ(members_of(answer)["message"], "the body contains a NUL byte");
}

TEST(EnqueuedAnswer, IsValidJsonWithEveryField)
{
    Answer answer = enqueued_answer("0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "17", "pending");
    EXPECT_EQ(answer.status, 202);
    EXPECT_FALSE(answer.retry_later);
    json_check::Reader::Members members = members_of(answer);
    EXPECT_EQ(members["ok"], "true");
    EXPECT_EQ(members["planId"], "0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b");
    EXPECT_EQ(members["jobId"], "17");
    EXPECT_EQ(members["status"], "pending");
    EXPECT_EQ(members.size(), 4u);
}

TEST(EnqueuedAnswer, EscapesOddValues)
{
    Answer answer = enqueued_answer("a\"b", "\\\n", "\xFF");
    json_check::Reader::Members members = members_of(answer);
    EXPECT_EQ(members["planId"], "a\"b");
    EXPECT_EQ(members["jobId"], "\\\n");
    EXPECT_EQ(members["status"], kFffd);
}

TEST(DrainedAnswer, PassesTheCountsThrough)
{
    const std::string counts =
        "{\"ok\":true,\"processedCount\":3,\"completedCount\":2,\"failedCount\":1}";
    Answer answer = drained_answer(counts);
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, counts);
}

// --- parse_existing_job -----------------------------------------------------------------------

TEST(ParseExistingJob, TheDetailOfRegenEnqueue)
{
    std::string job_id;
    std::string status;
    ASSERT_TRUE(parse_existing_job("Job 42 is pending.", job_id, status));
    EXPECT_EQ(job_id, "42");
    EXPECT_EQ(status, "pending");

    ASSERT_TRUE(parse_existing_job("Job 0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b is processing.",
                                   job_id, status));
    EXPECT_EQ(job_id, "0b7f6f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b");
    EXPECT_EQ(status, "processing");
}

TEST(ParseExistingJob, SplitsAtTheFirstIs)
{
    std::string job_id;
    std::string status;
    ASSERT_TRUE(parse_existing_job("Job 1 is a is b.", job_id, status));
    EXPECT_EQ(job_id, "1");
    EXPECT_EQ(status, "a is b");
}

TEST(ParseExistingJob, MalformedDetails)
{
    for (const char *detail :
         {"", ".", "Job", "Job .", "Job 42 is pending", "job 42 is pending.", "JOB 42 is pending.",
          " Job 42 is pending.", "Job  is pending.", "Job 42 is .", "Job 42 is.", "Job 42 pending.",
          "Job is pending.", "Job 42 is pending. ", "Job 42is pending."})
    {
        std::string job_id = "unchanged";
        std::string status = "unchanged";
        EXPECT_FALSE(parse_existing_job(detail, job_id, status)) << detail;
        EXPECT_EQ(job_id, "unchanged") << detail;
        EXPECT_EQ(status, "unchanged") << detail;
    }
}

} // namespace
