// regen_queue.http_check_token(): the worker token check of the HTTP shim, done where the
// token is (a superuser-only setting) so that the shim's role never needs to read it.
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

// Whether two texts are equal, in a time that depends on neither: both are hashed (so their
// lengths do not matter) and every byte of the digests is compared.
bool
equal_in_constant_time(const char *a, size_t a_len, const char *b, size_t b_len)
{
    uint8 digest_a[PG_SHA256_DIGEST_LENGTH];
    uint8 digest_b[PG_SHA256_DIGEST_LENGTH];
    volatile uint8 difference = 0;

    sha256(a, a_len, digest_a);
    sha256(b, b_len, digest_b);
    for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
        difference |= digest_a[i] ^ digest_b[i];
    return difference == 0;
}

void
reject_token(const char *why)
{
    ereport(ERROR, (errcode(ERRCODE_INVALID_PASSWORD), errmsg("worker token rejected"),
                    errdetail("%s", why)));
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
            PG_RETURN_VOID();
        }

        if (PG_ARGISNULL(0))
            reject_token("No token was presented.");

        text *presented = PG_GETARG_TEXT_PP(0);
        if (!equal_in_constant_time(VARDATA_ANY(presented), VARSIZE_ANY_EXHDR(presented),
                                    configured, strlen(configured)))
            reject_token("The token does not match regen_queue.worker_token.");
        PG_RETURN_VOID();
    }

} // extern "C"
