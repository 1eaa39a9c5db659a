#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pgwarden {

// The exporter-toolkit web configuration file (--web.config.file), the one
// Prometheus' exporters share, with its semantics: same keys, same defaults,
// same rejections. Differences are listed in the README.
struct TlsServerConfig {
  enum class ClientAuth {
    kNoClientCert,
    kRequestClientCert,
    kRequireAnyClientCert,
    kVerifyClientCertIfGiven,
    kRequireAndVerifyClientCert,
  };
  // PEM inline, or a file; relative file paths are resolved against the
  // configuration file's directory.
  std::string cert, key, client_ca;
  std::string cert_file, key_file, client_ca_file;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  bool client_auth_set = false;
  // A client certificate must carry one of these (DNS, email, IP or URI).
  std::vector<std::string> client_allowed_sans;
  std::vector<std::string> cipher_suites;      // IANA names, as Go spells them
  std::vector<std::string> curve_preferences;  // Go names: CurveP256, X25519
  int min_version = 0x0303;                    // TLS 1.2
  int max_version = 0x0304;                    // TLS 1.3
  bool prefer_server_cipher_suites = true;

  // Any TLS key set: the server speaks HTTPS.
  bool Enabled() const;
};

struct WebConfig {
  TlsServerConfig tls;
  // Accepted for compatibility; pgwarden serves HTTP/1.1 only.
  bool http2 = true;
  // Extra response headers, from the five upstream allows.
  std::vector<std::pair<std::string, std::string>> headers;
  // One global token bucket checked before authentication: `burst` tokens,
  // one more every `rate_limit_interval_seconds`; 0 = no limit.
  double rate_limit_interval_seconds = 0;
  int rate_limit_burst = 0;
  // User name -> bcrypt hash ($2a$, $2b$, $2y$).
  std::map<std::string, std::string> basic_auth_users;
};

// Parses the file's text. `path` names it in errors and anchors relative
// paths. Throws std::invalid_argument as "path:line: reason" for unknown
// keys, bad values and combinations upstream rejects. Does not read the
// certificate files (see TlsMaterial).
WebConfig ParseWebConfig(const std::string& text, const std::string& path);

// Reads and parses the file; throws std::invalid_argument.
WebConfig LoadWebConfig(const std::string& path);

// Names of the files a configuration reads (certificate, key, client CA),
// for noticing changes on disk.
std::vector<std::string> WebConfigFiles(const WebConfig& config);

// "1m30s", "250ms", "2h" (Go's time.ParseDuration units ns..h) in seconds;
// throws std::invalid_argument.
double ParseGoDuration(const std::string& text);

}  // namespace pgwarden
