// Definitions of the regen_queue.* GUCs, mirroring the old service's environment variables.
//
// Everything that could loosen the queue's guard (switching it on, raising the drain bound,
// the token, the environment) is PGC_SUSET or PGC_SIGHUP, so an ordinary session cannot SET it.
#include "guc.hpp"

#include "pg.hpp"

#include "../http_client/caller.hpp"

#include <cstring>
#include <string>

extern "C"
{
#include "lib/stringinfo.h"
#include "utils/elog.h"
#include "utils/varlena.h"
}

namespace regen::pg
{

bool guc_enabled = true;
int guc_max_jobs_per_drain = kDefaultMaxJobsPerDrain;
char *guc_worker_token = nullptr;
bool guc_inline_processing = false;
char *guc_environment = nullptr;
char *guc_databases = nullptr;
int guc_drain_interval_ms = kDefaultDrainIntervalMs;
int guc_lease_timeout_s = kDefaultLeaseTimeoutS;
int guc_job_timeout_ms = 0;
char *guc_worker_role = nullptr;
int guc_retention_s = kDefaultRetentionS;
char *guc_http_endpoint = nullptr;
int guc_http_timeout_ms = kDefaultHttpTimeoutMs;
int guc_http_concurrency = kDefaultHttpConcurrency;
int guc_http_max_response_bytes = kDefaultHttpMaxResponseBytes;
char *guc_http_signing_secret = nullptr;

namespace
{

bool
check_environment(char **newval, void **, GucSource)
{
    if (strcmp(*newval, "production") == 0 || strcmp(*newval, "staging") == 0 ||
        strcmp(*newval, "development") == 0 || strcmp(*newval, "test") == 0)
        return true;

    GUC_check_errdetail("Valid values are production, staging, development and test.");
    return false;
}

bool
check_databases(char **newval, void **, GucSource)
{
    char *copy = pstrdup(*newval);
    List *names = NIL;

    if (!SplitIdentifierString(copy, ',', &names))
    {
        GUC_check_errdetail("List syntax is invalid.");
        return false;
    }
    if (list_length(names) > kMaxWorkerDatabases)
    {
        GUC_check_errdetail("At most %d databases can be drained by the background worker.",
                            kMaxWorkerDatabases);
        return false;
    }
    return true;
}

void
define_switches()
{
    DefineCustomBoolVariable("regen_queue.enabled",
                             "Master switch of the queue: off refuses enqueue and drain.",
                             "Mirrors REGENERATION_QUEUE_ENABLED.", &guc_enabled, true, PGC_SUSET,
                             0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "regen_queue.max_jobs_per_drain", "Largest number of jobs one drain processes.",
        "Also bounds an explicit regen_drain(max_jobs); 0 makes every drain a no-op (load "
        "shedding). Mirrors REGENERATION_MAX_JOBS_PER_DRAIN.",
        &guc_max_jobs_per_drain, kDefaultMaxJobsPerDrain, 0, kMaxJobsPerDrainLimit, PGC_SUSET, 0,
        nullptr, nullptr, nullptr);

    DefineCustomBoolVariable(
        "regen_queue.inline_processing",
        "Wakes the background worker as soon as an enqueue commits.",
        "Mirrors REGENERATION_INLINE_PROCESSING; needs regen_queue in shared_preload_libraries.",
        &guc_inline_processing, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
}

// GUC_SUPERUSER_ONLY still lets members of pg_read_all_settings read a setting; the token and
// the signing secret are for superusers alone, so everybody else sees a mask (an error here
// would break their SELECT * FROM pg_settings).
const char *
show_secret(const char *value)
{
    if (superuser())
        return value != nullptr ? value : "";
    return (value == nullptr || value[0] == '\0') ? "" : "********";
}

const char *
show_worker_token()
{
    return show_secret(guc_worker_token);
}

const char *
show_signing_secret()
{
    return show_secret(guc_http_signing_secret);
}

// The token is set for the whole server (postgresql.conf, ALTER SYSTEM) or by a superuser's SET,
// never per database, role or function: those settings are stored in catalogs that every role
// can read (pg_db_role_setting, pg_proc.proconfig).
bool
check_worker_token(char **newval, void **, GucSource source)
{
    // Clients send the token in an HTTP header, trimmed; a blank or control character in it
    // could never be matched (and a trailing one would not be seen in a config file).
    for (const char *at = *newval; *at != '\0'; at++)
        if (static_cast<unsigned char>(*at) <= ' ' || *at == 0x7f)
        {
            GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
            GUC_check_errmsg("regen_queue.worker_token must not contain blanks or control "
                             "characters");
            GUC_check_errhint("Clients send it in an HTTP header, which cannot carry them.");
            return false;
        }

    if (source == PGC_S_TEST || source == PGC_S_DATABASE || source == PGC_S_USER ||
        source == PGC_S_DATABASE_USER || source == PGC_S_GLOBAL)
    {
        GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
        GUC_check_errmsg("regen_queue.worker_token cannot be set per database, role or function");
        GUC_check_errdetail("Such settings are stored where every role can read them.");
        GUC_check_errhint("Use ALTER SYSTEM or postgresql.conf.");
        return false;
    }
    return true;
}

void
define_security()
{
    DefineCustomStringVariable(
        "regen_queue.worker_token", "Shared bearer token of the HTTP drain route.",
        "Mirrors REGENERATION_WORKER_TOKEN. Readable by superusers only.", &guc_worker_token, "",
        PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, check_worker_token,
        nullptr, show_worker_token);

    DefineCustomStringVariable("regen_queue.environment",
                               "Deployment environment: production requires a worker token.",
                               nullptr, &guc_environment, "development", PGC_SUSET, 0,
                               check_environment, nullptr, nullptr);
}

// An endpoint URL as regen_register_http_handler() would accept it, or empty.
bool
check_http_endpoint(char **newval, void **, GucSource)
{
    if (*newval == nullptr || (*newval)[0] == '\0')
        return true;
    char why[256] = "out of memory";
    bool acceptable = false;
    try
    {
        std::string reason = http::endpoint_problem(*newval);
        acceptable = reason.empty();
        strlcpy(why, reason.c_str(), sizeof why);
    }
    catch (...)
    {
        acceptable = false;
    }
    if (!acceptable)
    {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("%s", why);
    }
    return acceptable;
}

// HTTP handlers. Everything is PGC_SIGHUP: a drain process reads these itself (the
// regen_drain() caller's SETs do not reach it), and the secret is then never stored where
// other roles can read it (per database or role settings).
void
define_http_settings()
{
    DefineCustomStringVariable(
        "regen_queue.http_endpoint", "Endpoint of HTTP handlers registered without one.",
        "An http:// or https:// URL; empty means such handlers fail their jobs.",
        &guc_http_endpoint, "", PGC_SIGHUP, 0, check_http_endpoint, nullptr, nullptr);

    DefineCustomIntVariable("regen_queue.http_timeout",
                            "Time limit of one HTTP handler call, answer included.",
                            "For handlers registered without a timeout of their own.",
                            &guc_http_timeout_ms, kDefaultHttpTimeoutMs, 1, kMaxHttpTimeoutMs,
                            PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);

    DefineCustomIntVariable("regen_queue.http_concurrency",
                            "HTTP handler calls one drain process has in flight at once.", nullptr,
                            &guc_http_concurrency, kDefaultHttpConcurrency, 1, kMaxHttpConcurrency,
                            PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "regen_queue.http_max_response_size", "Largest response body of an HTTP handler call.",
        "A larger body is cut off and fails the job for good.", &guc_http_max_response_bytes,
        kDefaultHttpMaxResponseBytes, kMinHttpMaxResponseBytes, kMaxHttpMaxResponseBytes,
        PGC_SIGHUP, GUC_UNIT_BYTE, nullptr, nullptr, nullptr);

    DefineCustomStringVariable("regen_queue.http_signing_secret",
                               "Shared secret of HTTP handler request signatures.",
                               "Empty means requests are not signed. Readable by superusers only.",
                               &guc_http_signing_secret, "", PGC_SIGHUP,
                               GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr,
                               nullptr, show_signing_secret);
}

void
define_worker_settings()
{
    DefineCustomStringVariable("regen_queue.databases",
                               "Databases the background worker drains (comma-separated).",
                               "Empty means the background worker drains nothing.", &guc_databases,
                               "", PGC_SIGHUP, GUC_LIST_INPUT, check_databases, nullptr, nullptr);

    DefineCustomIntVariable(
        "regen_queue.drain_interval", "Time between two drains of the background worker.", nullptr,
        &guc_drain_interval_ms, kDefaultDrainIntervalMs, kMinDrainIntervalMs, kMaxDrainIntervalMs,
        PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "regen_queue.job_timeout", "How long one handler may run before it is cancelled.",
        "0 means no limit. A cancelled handler fails its attempt with 57014, which is retried.",
        &guc_job_timeout_ms, 0, 0, kMaxJobTimeoutMs, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);

    DefineCustomIntVariable(
        "regen_queue.retention", "How long finished jobs are kept before the worker deletes them.",
        "Completed and failed jobs older than this (by completed_at) are deleted in bounded "
        "batches; 0 keeps them forever.",
        &guc_retention_s, kDefaultRetentionS, 0, kMaxRetentionS, PGC_SIGHUP, GUC_UNIT_S, nullptr,
        nullptr, nullptr);

    DefineCustomIntVariable("regen_queue.lease_timeout",
                            "How long a claimed job may run before it is reclaimed as abandoned.",
                            nullptr, &guc_lease_timeout_s, kDefaultLeaseTimeoutS, kMinLeaseTimeoutS,
                            kMaxLeaseTimeoutS, PGC_SUSET, GUC_UNIT_S, nullptr, nullptr, nullptr);

    // A PGC_POSTMASTER setting can only be defined while the library is preloaded; loaded later
    // (CREATE EXTENSION without preloading), the library has no background worker to configure.
    if (process_shared_preload_libraries_in_progress)
        DefineCustomStringVariable("regen_queue.worker_role",
                                   "Role the background worker runs handlers as.",
                                   "Empty means the bootstrap superuser.", &guc_worker_role, "",
                                   PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
}

} // namespace

void
define_gucs()
{
    define_switches();
    define_security();
    define_worker_settings();
    define_http_settings();
    MarkGUCPrefixReserved("regen_queue");
}

namespace
{

emit_log_hook_type previous_emit_log_hook = nullptr;
constexpr size_t kMaskAnywhereLength = 8;

// A copy of `text` with every occurrence of `secret` replaced, or nullptr when there is none.
char *
masked(const char *text, const char *secret, const char *replacement)
{
    if (text == nullptr || strstr(text, secret) == nullptr)
        return nullptr;

    StringInfoData out;
    size_t secret_len = strlen(secret);
    initStringInfo(&out);
    for (const char *at = text; *at != '\0';)
    {
        const char *found = strstr(at, secret);
        if (found == nullptr)
        {
            appendStringInfoString(&out, at);
            break;
        }
        appendBinaryStringInfo(&out, at, (int)(found - at));
        appendStringInfoString(&out, replacement);
        at = found + secret_len;
    }
    return out.data;
}

// Mask `value`, the value of setting `name`, in a line bound for the server log.
void
mask_secret(ErrorData *edata, const char *name, const char *value)
{
    // In lines about the setting itself the value is masked where it stands quoted; elsewhere
    // a value of kMaskAnywhereLength or more is masked wherever it appears, so that a short or
    // careless one does not garble unrelated lines (or the setting's own name).
    bool about_it = edata->message != nullptr && strstr(edata->message, name) != nullptr;
    bool anywhere = !about_it && value != nullptr && strlen(value) >= kMaskAnywhereLength;
    if (value == nullptr || value[0] == '\0' || !edata->output_to_server || !(about_it || anywhere))
        return;

    const char *secret = anywhere ? value : psprintf("\"%s\"", value);
    const char *replacement = anywhere ? "********" : "\"********\"";
    char **fields[] = {&edata->message, &edata->detail, &edata->hint, &edata->context,
                       &edata->internalquery};
    bool found = false;
    for (char **field : fields)
        found = found || (*field != nullptr && strstr(*field, secret) != nullptr);

    if (found && edata->output_to_client)
    {
        // The client's own text (a failed statement quoting the secret, say). Masking it would
        // let the client test guesses of the secret; it is sent as it is and kept out of the log
        // instead.
        edata->output_to_server = false;
    }
    else if (found)
    {
        for (char **field : fields)
            if (char *text = masked(*field, secret, replacement))
                *field = text;
        // The statement that caused the line may hold the secret too, and is not ours to edit.
        edata->hide_stmt = true;
    }
}

// `text` with the first quoted literal after each mention of setting `name` masked (a logged
// statement that sets it: "... regen_queue.http_signing_secret = 'new value'"), or nullptr when
// there is none. The value being set is not the current one, so mask_secret() cannot find it.
char *
masked_setting_literal(const char *text, const char *name)
{
    if (text == nullptr || strstr(text, name) == nullptr)
        return nullptr;

    StringInfoData out;
    bool changed = false;
    initStringInfo(&out);
    for (const char *at = text; *at != '\0';)
    {
        const char *mention = strstr(at, name);
        const char *open = mention != nullptr ? strchr(mention + strlen(name), '\'') : nullptr;
        if (open == nullptr)
        {
            appendStringInfoString(&out, at);
            break;
        }
        const char *close = open + 1;
        while (*close != '\0' && !(*close == '\'' && close[1] != '\''))
            close += (*close == '\'' ? 2 : 1); // '' is a quote inside the literal
        appendBinaryStringInfo(&out, at, (int)(open - at));
        appendStringInfoString(&out, "'********'");
        changed = true;
        at = *close == '\0' ? close : close + 1;
    }
    return changed ? out.data : nullptr;
}

void
mask_setting_statement(ErrorData *edata, const char *name)
{
    if (!edata->output_to_server || edata->output_to_client)
        return;
    if (char *text = masked_setting_literal(edata->message, name))
    {
        edata->message = text;
        edata->hide_stmt = true;
    }
}

void
mask_secrets(ErrorData *edata)
{
    mask_setting_statement(edata, "regen_queue.worker_token");
    mask_setting_statement(edata, "regen_queue.http_signing_secret");
    mask_secret(edata, "regen_queue.worker_token", guc_worker_token);
    mask_secret(edata, "regen_queue.http_signing_secret", guc_http_signing_secret);
    if (previous_emit_log_hook != nullptr)
        previous_emit_log_hook(edata);
}

} // namespace

void
redact_secrets_in_logs()
{
    previous_emit_log_hook = emit_log_hook;
    emit_log_hook = mask_secrets;
}

void
require_enabled()
{
    if (!guc_enabled)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("regen_queue is disabled"),
                        errhint("Set regen_queue.enabled to on to accept and run jobs.")));
}

} // namespace regen::pg
