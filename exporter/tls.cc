#include "exporter/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

// Debian 12's CivetWeb 1.15 loads OpenSSL at run time with
// dlopen("libssl.so") and looks up SSL_get_peer_certificate, which OpenSSL 3
// no longer exports (it became SSL_get1_peer_certificate), so its TLS cannot
// start. pgwarden links OpenSSL itself, exports this one function and is
// linked with the soname "libssl.so" (CMakeLists.txt): glibc's dlopen finds
// an already loaded object by soname first, so CivetWeb's dlopen returns
// pgwarden itself, whose symbol scope holds this function and, through its
// dependencies, the rest of libssl.so.3. The same OpenSSL serves both.
#undef SSL_get_peer_certificate
extern "C" __attribute__((visibility("default"))) X509*
SSL_get_peer_certificate(const SSL* ssl) {
  return SSL_get1_peer_certificate(ssl);
}

namespace pgwarden {

struct TlsMaterial::Handles {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  X509_STORE* client_ca = nullptr;                  // verification roots
  STACK_OF(X509_NAME) * client_ca_names = nullptr;  // sent to clients
  std::string tls12_ciphers;  // OpenSSL names; "" = OpenSSL's default

  ~Handles() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(client_ca);
    sk_X509_NAME_pop_free(client_ca_names, X509_NAME_free);
  }
};

namespace {

std::string ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::invalid_argument("failed to read " + what + " (" + path +
                                "): no such file or permission denied");
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no details";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in a PEM text, in order.
std::vector<X509*> ReadCertificates(const std::string& pem) {
  std::vector<X509*> out;
  Bio bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.push_back(cert);
  }
  ERR_clear_error();  // the end of the text reads as an error
  return out;
}

// Go's cipher-suite names (IANA) -> OpenSSL's, for TLS 1.2 and below.
std::map<std::string, std::string> OpenSslCipherNames() {
  std::map<std::string, std::string> out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return out;
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL");
  SSL* ssl = SSL_new(ctx);
  if (ssl) {
    STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
      const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
      if (const char* standard = SSL_CIPHER_standard_name(c)) {
        out[standard] = SSL_CIPHER_get_name(c);
      }
    }
    SSL_free(ssl);
  }
  SSL_CTX_free(ctx);
  return out;
}

std::string GroupName(const std::string& go_name) {
  if (go_name == "CurveP256") return "P-256";
  if (go_name == "CurveP384") return "P-384";
  if (go_name == "CurveP521") return "P-521";
  return go_name;  // X25519
}

int ExDataIndex() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::shared_ptr<const TlsMaterial>*>(ptr);
      });
  return index;
}

const TlsMaterial* MaterialOf(const SSL* ssl) {
  auto* held = static_cast<std::shared_ptr<const TlsMaterial>*>(
      SSL_get_ex_data(ssl, ExDataIndex()));
  return held ? held->get() : nullptr;
}

// The certificate's subject alternative names as exporter-toolkit compares
// them: DNS names, email addresses, IP addresses (canonical text) and URIs.
std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    const ASN1_STRING* s = nullptr;
    if (n->type == GEN_DNS || n->type == GEN_EMAIL || n->type == GEN_URI) {
      s = n->d.ia5;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       ASN1_STRING_length(s));
    } else if (n->type == GEN_IPADD) {
      s = n->d.ip;
      char text[INET6_ADDRSTRLEN] = {0};
      const int len = ASN1_STRING_length(s);
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family &&
          inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text))) {
        out.emplace_back(text);
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

int VerifyClient(int preverify_ok, X509_STORE_CTX* store) {
  const SSL* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const TlsMaterial* m = ssl ? MaterialOf(ssl) : nullptr;
  if (!m) return 0;
  using A = TlsServerConfig::ClientAuth;
  const A auth = m->config().client_auth;
  const bool verify = auth == A::kVerifyClientCertIfGiven ||
                      auth == A::kRequireAndVerifyClientCert;
  if (verify && !preverify_ok) return 0;
  const auto& allowed = m->config().client_allowed_sans;
  if (!allowed.empty() && X509_STORE_CTX_get_error_depth(store) == 0) {
    for (const std::string& san :
         SubjectAltNames(X509_STORE_CTX_get_current_cert(store))) {
      if (std::find(allowed.begin(), allowed.end(), san) != allowed.end()) {
        return 1;
      }
    }
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  return 1;
}

// Applies the current material to a connection at its ClientHello, before
// the protocol version and the certificate are chosen.
int OnClientHello(SSL* ssl, int* alert, void* arg) {
  auto* context = static_cast<TlsContext*>(arg);
  auto material = context->Current();
  const TlsMaterial::Handles& h = material->handles();
  const TlsServerConfig& c = material->config();
  SSL_set_ex_data(ssl, ExDataIndex(),
                  new std::shared_ptr<const TlsMaterial>(material));
  *alert = SSL_AD_INTERNAL_ERROR;
  if (!SSL_set_min_proto_version(ssl, c.min_version) ||
      !SSL_set_max_proto_version(ssl, c.max_version)) {
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (SSL_use_cert_and_key(ssl, h.cert, h.key, h.chain, 1) != 1) {
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (!h.tls12_ciphers.empty() &&
      !SSL_set_cipher_list(ssl, h.tls12_ciphers.c_str())) {
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (c.prefer_server_cipher_suites) {
    SSL_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_clear_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  if (!c.curve_preferences.empty()) {
    std::string groups;
    for (const auto& g : c.curve_preferences) {
      groups += (groups.empty() ? "" : ":") + GroupName(g);
    }
    if (!SSL_set1_groups_list(ssl, groups.c_str())) {
      return SSL_CLIENT_HELLO_ERROR;
    }
  }
  using A = TlsServerConfig::ClientAuth;
  int mode = SSL_VERIFY_NONE;
  switch (c.client_auth) {
    case A::kNoClientCert:
      break;
    case A::kRequestClientCert:
    case A::kVerifyClientCertIfGiven:
      mode = SSL_VERIFY_PEER;
      break;
    case A::kRequireAnyClientCert:
    case A::kRequireAndVerifyClientCert:
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      break;
  }
  SSL_set_verify(ssl, mode, mode == SSL_VERIFY_NONE ? nullptr : VerifyClient);
  if (mode != SSL_VERIFY_NONE) {
    if (h.client_ca && !SSL_set1_verify_cert_store(ssl, h.client_ca)) {
      return SSL_CLIENT_HELLO_ERROR;
    }
    if (h.client_ca_names) {
      SSL_set_client_CA_list(ssl, SSL_dup_CA_list(h.client_ca_names));
    }
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

TlsMaterial::~TlsMaterial() = default;

std::shared_ptr<const TlsMaterial> TlsMaterial::Load(
    const TlsServerConfig& config) {
  std::shared_ptr<TlsMaterial> m(new TlsMaterial());
  m->config_ = config;
  m->handles_ = std::make_unique<Handles>();
  Handles& h = *m->handles_;

  const std::string cert_pem = config.cert_file.empty()
                                   ? config.cert
                                   : ReadFile(config.cert_file, "cert_file");
  std::vector<X509*> certs = ReadCertificates(cert_pem);
  if (certs.empty()) {
    throw std::invalid_argument(
        "failed to load X509KeyPair: no certificate in " +
        (config.cert_file.empty() ? "cert" : config.cert_file));
  }
  h.cert = certs[0];
  h.chain = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(h.chain, certs[i]);

  const std::string key_pem = config.key_file.empty()
                                  ? config.key
                                  : ReadFile(config.key_file, "key_file");
  Bio key_bio = MemoryBio(key_pem);
  h.key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (!h.key) {
    ERR_clear_error();
    throw std::invalid_argument(
        "failed to load X509KeyPair: no private key in " +
        (config.key_file.empty() ? "key" : config.key_file));
  }
  if (X509_check_private_key(h.cert, h.key) != 1) {
    ERR_clear_error();
    throw std::invalid_argument(
        "failed to load X509KeyPair: private key does not match public key");
  }

  if (!config.client_ca_file.empty() || !config.client_ca.empty()) {
    const std::string ca_pem =
        config.client_ca_file.empty()
            ? config.client_ca
            : ReadFile(config.client_ca_file, "client_ca_file");
    std::vector<X509*> cas = ReadCertificates(ca_pem);
    if (cas.empty()) {
      throw std::invalid_argument("no certificate in " +
                                  (config.client_ca_file.empty()
                                       ? std::string("client_ca")
                                       : config.client_ca_file));
    }
    h.client_ca = X509_STORE_new();
    h.client_ca_names = sk_X509_NAME_new_null();
    for (X509* ca : cas) {
      X509_STORE_add_cert(h.client_ca, ca);
      sk_X509_NAME_push(h.client_ca_names,
                        X509_NAME_dup(X509_get_subject_name(ca)));
      X509_free(ca);
    }
  } else if (config.client_auth ==
                 TlsServerConfig::ClientAuth::kVerifyClientCertIfGiven ||
             config.client_auth ==
                 TlsServerConfig::ClientAuth::kRequireAndVerifyClientCert) {
    // As Go: no client CA given, verify against the system's roots.
    h.client_ca = X509_STORE_new();
    X509_STORE_set_default_paths(h.client_ca);
  }

  if (!config.cipher_suites.empty()) {
    static const auto* names =
        new std::map<std::string, std::string>(OpenSslCipherNames());
    for (const std::string& suite : config.cipher_suites) {
      // TLS 1.3 suites are not configurable, as in Go.
      if (suite.rfind("TLS_AES_", 0) == 0 ||
          suite.rfind("TLS_CHACHA20_", 0) == 0) {
        continue;
      }
      const auto it = names->find(suite);
      if (it == names->end()) {
        throw std::invalid_argument("cipher " + suite +
                                    " is not available in this OpenSSL");
      }
      h.tls12_ciphers += (h.tls12_ciphers.empty() ? "" : ":") + it->second;
    }
  }
  return m;
}

TlsContext::TlsContext(std::shared_ptr<const TlsMaterial> material)
    : material_(std::move(material)) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw std::runtime_error("TLS: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_client_hello_cb(ctx, OnClientHello, this);
  ctx_ = ctx;
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

void TlsContext::Use(std::shared_ptr<const TlsMaterial> material) {
  std::lock_guard<std::mutex> lock(mu_);
  material_ = std::move(material);
}

std::shared_ptr<const TlsMaterial> TlsContext::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return material_;
}

}  // namespace pgwarden
