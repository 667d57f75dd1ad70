// The regen_queue.* configuration parameters.
#pragma once

namespace regen::pg
{

// Ranges, as named constants so the GUC definitions and the docs agree.
constexpr int kDefaultMaxJobsPerDrain = 100;
constexpr int kMaxJobsPerDrainLimit = 1000000;
constexpr int kDefaultDrainIntervalMs = 1000;
constexpr int kMinDrainIntervalMs = 10;
constexpr int kMaxDrainIntervalMs = 3600 * 1000;
constexpr int kDefaultLeaseTimeoutS = 300;
constexpr int kMinLeaseTimeoutS = 1;
constexpr int kMaxLeaseTimeoutS = 7 * 24 * 3600;
constexpr int kMaxWorkerDatabases = 32;
constexpr int kMaxJobTimeoutMs = 24 * 3600 * 1000;
constexpr int kDefaultRetentionS = 7 * 24 * 3600;
constexpr int kMaxRetentionS = 3650 * 24 * 3600;
constexpr int kDefaultHttpTimeoutMs = 30 * 1000;
constexpr int kMaxHttpTimeoutMs = 3600 * 1000;
constexpr int kDefaultHttpConcurrency = 16;
constexpr int kMaxHttpConcurrency = 1000;
constexpr int kDefaultHttpMaxResponseBytes = 1024 * 1024;
constexpr int kMinHttpMaxResponseBytes = 1024;
constexpr int kMaxHttpMaxResponseBytes = 16 * 1024 * 1024;

extern bool guc_enabled;
extern int guc_max_jobs_per_drain;
extern char *guc_worker_token;
extern bool guc_inline_processing;
extern char *guc_environment;
extern char *guc_databases;
extern int guc_drain_interval_ms;
extern int guc_lease_timeout_s;
extern int guc_job_timeout_ms;
extern char *guc_worker_role;
extern int guc_retention_s;
extern char *guc_http_endpoint;
extern int guc_http_timeout_ms;
extern int guc_http_concurrency;
extern int guc_http_max_response_bytes;
extern char *guc_http_signing_secret;

void define_gucs();

// Mask the worker token and the signing secret wherever this process would write it to the server
// log, such as PostgreSQL's "parameter ... changed to ..." line on a reload. Installed when
// preloading.
void redact_secrets_in_logs();

// Raise the documented error when regen_queue.enabled is off.
void require_enabled();

} // namespace regen::pg
