// regen_queue.http_check_token(): the worker token check of the HTTP shim, done where the
// token is (a superuser-only setting) so that the shim's role never needs to read it.
//
// The shim sends the SHA-256 digest of what a client presented, never the text itself, so
// that no guess (nor the token) is written to the server log by log_statement or
// log_min_duration_statement. Refusals return false rather than raise, for the same reason
// and because every client can cause them.
#include "guc.hpp"
#include "pg.hpp"

extern "C"
{
#include "common/cryptohash.h"
#include "common/sha2.h"
}

#include <cstring>

namespace regen::pg
{

namespace
{

// SHA-256 of `len` bytes at `data` into `digest`.
void
sha256(const char *data, size_t len, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
    pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

    if (pg_cryptohash_init(ctx) < 0 ||
        pg_cryptohash_update(ctx, reinterpret_cast<const uint8 *>(data), len) < 0 ||
        pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
        elog(ERROR, "could not compute a SHA-256 digest: %s", pg_cryptohash_error(ctx));
    pg_cryptohash_free(ctx);
}

// Whether two digests are equal, comparing every byte whatever the first difference.
bool
digests_equal(const uint8 *a, const uint8 *b)
{
    volatile uint8 difference = 0;

    for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
        difference |= a[i] ^ b[i];
    return difference == 0;
}

} // namespace

} // namespace regen::pg

extern "C"
{

    PG_FUNCTION_INFO_V1(regen_http_check_token);

    Datum regen_http_check_token(PG_FUNCTION_ARGS)
    {
        using namespace regen::pg;
        const char *configured = guc_worker_token != nullptr ? guc_worker_token : "";

        if (configured[0] == '\0')
        {
            if (guc_environment != nullptr && strcmp(guc_environment, "production") == 0)
                ereport(
                    ERROR,
                    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                     errmsg("regen_queue.worker_token is not set"),
                     errdetail("regen_queue.environment is production, which requires a token."),
                     errhint("Set it with ALTER SYSTEM SET regen_queue.worker_token and "
                             "SELECT pg_reload_conf().")));
            PG_RETURN_BOOL(true);
        }

        if (PG_ARGISNULL(0))
            PG_RETURN_BOOL(false);

        bytea *presented = PG_GETARG_BYTEA_PP(0);
        if (VARSIZE_ANY_EXHDR(presented) != PG_SHA256_DIGEST_LENGTH)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("token_sha256 must be a SHA-256 digest of %d bytes",
                                   PG_SHA256_DIGEST_LENGTH),
                            errdetail("It has %d bytes.", (int)VARSIZE_ANY_EXHDR(presented))));

        uint8 expected[PG_SHA256_DIGEST_LENGTH];
        sha256(configured, strlen(configured), expected);
        PG_RETURN_BOOL(
            digests_equal(reinterpret_cast<const uint8 *>(VARDATA_ANY(presented)), expected));
    }

} // extern "C"
