#include "exporter/tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A self-signed certificate and its key, as PEM, made in memory.
struct Pem {
  std::string cert, key;
};

Pem SelfSigned(const char* common_name) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  };
  Pem out{pem([&](BIO* b) { PEM_write_bio_X509(b, cert); }), pem([&](BIO* b) {
            PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr,
                                     nullptr);
          })};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

std::string LoadError(const TlsServerConfig& config) {
  try {
    TlsMaterial::Load(config);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(TlsMaterialTest, LoadsInlineCertificateKeyAndClientCa) {
  const Pem server = SelfSigned("localhost");
  const Pem ca = SelfSigned("client CA");
  TlsServerConfig c;
  c.cert = server.cert;
  c.key = server.key;
  c.client_ca = ca.cert;
  c.client_auth = TlsServerConfig::ClientAuth::kRequireAndVerifyClientCert;
  c.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                     "TLS_AES_128_GCM_SHA256"};
  EXPECT_EQ(LoadError(c), "(loaded)");
  TlsContext context(TlsMaterial::Load(c));
  EXPECT_NE(context.ssl_ctx(), nullptr);
}

TEST(TlsMaterialTest, RefusesWhatCannotServe) {
  const Pem a = SelfSigned("a");
  const Pem b = SelfSigned("b");
  TlsServerConfig c;
  c.cert = a.cert;
  c.key = b.key;
  const std::string mismatch = LoadError(c);
  EXPECT_THAT(mismatch, HasSubstr("private key does not match"));
  EXPECT_THAT(mismatch, Not(HasSubstr("PRIVATE KEY")));  // no key material
  c.key = "not a key";
  EXPECT_THAT(LoadError(c), HasSubstr("no private key in key"));
  c.cert = "not a certificate";
  EXPECT_THAT(LoadError(c), HasSubstr("no certificate in cert"));
  c.cert = a.cert;
  c.key = a.key;
  c.client_ca = "nothing here";
  c.client_auth = TlsServerConfig::ClientAuth::kRequireAnyClientCert;
  EXPECT_THAT(LoadError(c), HasSubstr("no certificate in client_ca"));
  c.client_ca.clear();
  c.cert_file = "/nonexistent/tls.crt";
  EXPECT_THAT(LoadError(c),
              HasSubstr("failed to read cert_file (/nonexistent/tls.crt)"));
}

}  // namespace
}  // namespace pgwarden::testing
