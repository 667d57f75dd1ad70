// TLS verification of the HTTP handlers' client: a server on 127.0.0.1 whose certificate no CA
// signed (made here, in memory) is refused before any request reaches it.
#include "http_client/caller.hpp"

#include "local_http_server.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace
{

using namespace regen;

std::string
pem_of(int (*write)(BIO *, void *), void *object)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || write(bio.get(), object) != 1)
        return "";
    char *data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

// A self-signed certificate for 127.0.0.1 and its key, as PEM.
bool
self_signed(std::string &key_pem, std::string &cert_pem)
{
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
    if (!key || !cert)
        return false;
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME *name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                              const_cast<char *>("IP:127.0.0.1"));
    if (san == nullptr)
        return false;
    X509_add_ext(cert.get(), san, -1);
    X509_EXTENSION_free(san);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
        return false;

    key_pem = pem_of(
        [](BIO *bio, void *k)
        {
            return PEM_write_bio_PrivateKey(bio, static_cast<EVP_PKEY *>(k), nullptr, nullptr, 0,
                                            nullptr, nullptr);
        },
        key.get());
    cert_pem =
        pem_of([](BIO *bio, void *c) { return PEM_write_bio_X509(bio, static_cast<X509 *>(c)); },
               cert.get());
    return !key_pem.empty() && !cert_pem.empty();
}

TEST(CallerTlsTest, AnUntrustedCertificateIsRefused)
{
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        GTEST_FAIL() << "libmicrohttpd was built without TLS";

    std::string key_pem, cert_pem;
    ASSERT_TRUE(self_signed(key_pem, cert_pem));

    local_http::ServerState state;
    struct sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, nullptr,
        nullptr, &local_http::handle, &state, MHD_OPTION_SOCK_ADDR, &address,
        MHD_OPTION_HTTPS_MEM_KEY, key_pem.c_str(), MHD_OPTION_HTTPS_MEM_CERT, cert_pem.c_str(),
        MHD_OPTION_END);
    ASSERT_NE(daemon, nullptr);
    uint16_t port = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT)->port;

    http::Caller caller(2, 1024);
    caller.start({1, "https://127.0.0.1:" + std::to_string(port) + "/json", "{}", {}, 5000});
    std::vector<http::CallResult> results;
    for (int i = 0; i < 100 && results.empty(); i++)
        results = caller.progress(100);
    MHD_stop_daemon(daemon);

    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].transport, core::Transport::ConnectFailed) << results[0].reason;
    EXPECT_NE(results[0].reason.find("certificate"), std::string::npos) << results[0].reason;
    EXPECT_EQ(state.json_hits, 0) << "the request reached a server that was not verified";
}

} // namespace
