#include "exporter/web_config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

#include "exporter/strings.h"
#include "exporter/yaml_reader.h"

namespace pgwarden {
namespace {

using Parser = YamlReader;

int TlsVersion(Parser& p, const YAML::Node& v, const std::string& key) {
  const std::string s = p.Str(v, key);
  if (s == "TLS10") return 0x0301;
  if (s == "TLS11") return 0x0302;
  if (s == "TLS12") return 0x0303;
  if (s == "TLS13") return 0x0304;
  p.Fail(v, "unknown TLS version: " + s);
}

bool KnownCurve(const std::string& name) {
  return name == "CurveP256" || name == "CurveP384" || name == "CurveP521" ||
         name == "X25519";
}

// Go's tls.CipherSuites(): the suites exporter-toolkit accepts by name.
const std::set<std::string>& KnownCiphers() {
  static const auto* names = new std::set<std::string>{
      "TLS_RSA_WITH_AES_128_CBC_SHA",
      "TLS_RSA_WITH_AES_256_CBC_SHA",
      "TLS_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_AES_128_GCM_SHA256",
      "TLS_AES_256_GCM_SHA384",
      "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
      "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
      "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  };
  return *names;
}

// $2a$/$2b$/$2y$, a two-digit cost 04-31, 22 characters of salt and 31 of
// hash: what bcrypt.Cost accepts.
bool IsBcrypt(const std::string& h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' ||
      h[6] != '$') {
    return false;
  }
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(h[4])) ||
      !std::isdigit(static_cast<unsigned char>(h[5]))) {
    return false;
  }
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  for (size_t i = 7; i < h.size(); ++i) {
    const char c = h[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '/') {
      return false;
    }
  }
  return true;
}

void ParseTls(Parser& p, const YAML::Node& node, TlsServerConfig& t) {
  bool sans_set = false;
  YAML::Mark sans_mark;
  p.Map(
      node, "tls_server_config",
      {"cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file",
       "client_auth_type", "cipher_suites", "curve_preferences", "min_version",
       "max_version", "prefer_server_cipher_suites", "client_allowed_sans"},
      [&](const std::string& k, const YAML::Node& key, const YAML::Node& v) {
        if (k == "cert") t.cert = p.Str(v, k);
        if (k == "key") t.key = p.Str(v, k);
        if (k == "client_ca") t.client_ca = p.Str(v, k);
        if (k == "cert_file") t.cert_file = p.Path(p.Str(v, k));
        if (k == "key_file") t.key_file = p.Path(p.Str(v, k));
        if (k == "client_ca_file") t.client_ca_file = p.Path(p.Str(v, k));
        if (k == "client_auth_type") {
          const std::string a = p.Str(v, k);
          using A = TlsServerConfig::ClientAuth;
          t.client_auth_set = !a.empty();
          if (a.empty() || a == "NoClientCert") {
            t.client_auth = A::kNoClientCert;
          } else if (a == "RequestClientCert") {
            t.client_auth = A::kRequestClientCert;
          } else if (a == "RequireAnyClientCert" || a == "RequireClientCert") {
            t.client_auth = A::kRequireAnyClientCert;
          } else if (a == "VerifyClientCertIfGiven") {
            t.client_auth = A::kVerifyClientCertIfGiven;
          } else if (a == "RequireAndVerifyClientCert") {
            t.client_auth = A::kRequireAndVerifyClientCert;
          } else {
            p.Fail(v, "invalid ClientAuth: " + a);
          }
        }
        if (k == "cipher_suites") {
          t.cipher_suites = p.List(v, k);
          for (const auto& c : t.cipher_suites) {
            if (!KnownCiphers().count(c)) p.Fail(v, "unknown cipher: " + c);
          }
        }
        if (k == "curve_preferences") {
          t.curve_preferences = p.List(v, k);
          for (const auto& c : t.curve_preferences) {
            if (!KnownCurve(c)) p.Fail(v, "unknown curve: " + c);
          }
        }
        if (k == "min_version") t.min_version = TlsVersion(p, v, k);
        if (k == "max_version") t.max_version = TlsVersion(p, v, k);
        if (k == "prefer_server_cipher_suites") {
          t.prefer_server_cipher_suites = p.Bool(v, k);
        }
        if (k == "client_allowed_sans") {
          t.client_allowed_sans = p.List(v, k);
          sans_set = true;
          sans_mark = key.Mark();
        }
      });
  if (!t.Enabled()) return;
  const YAML::Mark at = node.Mark();
  if (t.cert_file.empty() && t.cert.empty()) {
    p.Fail(at, "tls_server_config: missing one of cert or cert_file");
  }
  if (t.key_file.empty() && t.key.empty()) {
    p.Fail(at, "tls_server_config: missing one of key or key_file");
  }
  using A = TlsServerConfig::ClientAuth;
  if ((!t.client_ca_file.empty() || !t.client_ca.empty()) &&
      t.client_auth == A::kNoClientCert) {
    p.Fail(at,
           "tls_server_config: client CA's have been configured without a "
           "Client Auth Policy (set client_auth_type)");
  }
  if (sans_set && t.client_auth != A::kRequireAnyClientCert &&
      t.client_auth != A::kRequireAndVerifyClientCert) {
    p.Fail(sans_mark,
           "client_allowed_sans requires client_auth_type to be one of "
           "RequireAnyClientCert or RequireAndVerifyClientCert");
  }
  if (t.min_version > t.max_version) {
    p.Fail(at, "tls_server_config: min_version is above max_version");
  }
}

void ParseHeaders(Parser& p, const YAML::Node& node, WebConfig& c) {
  // The headers exporter-toolkit allows, and their allowed values (none
  // listed: any value).
  static const auto* allowed = new std::map<std::string, std::set<std::string>>{
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
      {"Content-Security-Policy", {}},
  };
  p.Map(node, "http_server_config.headers", {},
        [&](const std::string& k, const YAML::Node& key, const YAML::Node& v) {
          const auto it = allowed->find(k);
          if (it == allowed->end()) {
            p.Fail(key, "HTTP header \"" + k + "\" can not be configured");
          }
          const std::string value = p.Str(v, k);
          if (!it->second.empty() && !it->second.count(value)) {
            std::string expected;
            for (const auto& a : it->second) {
              expected += (expected.empty() ? "" : ", ") + a;
            }
            p.Fail(v, "invalid value for " + k + ". Expected one of: " +
                          expected + ", but got: \"" + value + "\"");
          }
          for (char ch : value) {
            if (ch == '\r' || ch == '\n' || ch == '\0') {
              p.Fail(v, "header " + k + " contains a line break");
            }
          }
          c.headers.emplace_back(k, value);
        });
}

}  // namespace

bool TlsServerConfig::Enabled() const {
  return !cert.empty() || !key.empty() || !client_ca.empty() ||
         !cert_file.empty() || !key_file.empty() || !client_ca_file.empty() ||
         client_auth_set;
}

double ParseGoDuration(const std::string& text) {
  const auto bad = [&] {
    return std::invalid_argument("invalid duration \"" + text +
                                 "\" (e.g. 1s, 250ms, 1m30s)");
  };
  if (text == "0") return 0;
  if (text.empty()) throw bad();
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (
        j < text.size() &&
        (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) {
      ++j;
    }
    if (j == i) throw bad();
    double number = 0;
    try {
      size_t used = 0;
      number = std::stod(text.substr(i, j - i), &used);
      if (used != j - i) throw bad();
    } catch (const std::logic_error&) {
      throw bad();
    }
    size_t k = j;
    while (k < text.size() &&
           std::isalpha(static_cast<unsigned char>(text[k]))) {
      ++k;
    }
    const std::string unit = text.substr(j, k - j);
    double scale = 0;
    if (unit == "ns") scale = 1e-9;
    if (unit == "us") scale = 1e-6;
    if (unit == "ms") scale = 1e-3;
    if (unit == "s") scale = 1;
    if (unit == "m") scale = 60;
    if (unit == "h") scale = 3600;
    if (scale == 0) throw bad();
    total += number * scale;
    i = k;
  }
  if (!std::isfinite(total)) throw bad();
  return total;
}

WebConfig ParseWebConfig(const std::string& text, const std::string& path) {
  Parser p(path);
  WebConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    p.Fail(e.mark, "yaml: " + e.msg);
  }
  try {
    p.Map(root, "the web configuration",
          {"tls_server_config", "http_server_config", "basic_auth_users",
           "rate_limit"},
          [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
            if (k == "tls_server_config") ParseTls(p, v, c.tls);
            if (k == "http_server_config") {
              p.Map(v, "http_server_config", {"http2", "headers"},
                    [&](const std::string& hk, const YAML::Node&,
                        const YAML::Node& hv) {
                      if (hk == "http2") c.http2 = p.Bool(hv, hk);
                      if (hk == "headers") ParseHeaders(p, hv, c);
                    });
            }
            if (k == "basic_auth_users") {
              p.Map(v, "basic_auth_users", {},
                    [&](const std::string& user, const YAML::Node& key,
                        const YAML::Node& hash) {
                      const std::string h = p.Str(hash, user);
                      if (!IsBcrypt(h)) {
                        p.Fail(key, "basic_auth_users: the password of \"" +
                                        user + "\" is not a bcrypt hash");
                      }
                      c.basic_auth_users[user] = h;
                    });
            }
            if (k == "rate_limit") {
              p.Map(
                  v, "rate_limit", {"interval", "burst"},
                  [&](const std::string& rk, const YAML::Node&,
                      const YAML::Node& rv) {
                    if (rk == "interval") {
                      try {
                        c.rate_limit_interval_seconds =
                            ParseGoDuration(p.Str(rv, rk));
                      } catch (const std::invalid_argument& e) {
                        p.Fail(rv,
                               std::string("rate_limit.interval: ") + e.what());
                      }
                    }
                    if (rk == "burst") {
                      int burst = 0;
                      if (!YAML::convert<int>::decode(rv, burst) || burst < 0) {
                        p.Fail(rv, "rate_limit.burst must be a whole number");
                      }
                      c.rate_limit_burst = burst;
                    }
                  });
            }
          });
  } catch (const YAML::Exception& e) {
    p.Fail(e.mark, "yaml: " + e.msg);
  }
  return c;
}

WebConfig LoadWebConfig(const std::string& path) {
  return ParseWebConfig(ReadWholeFile(path), path);
}

std::vector<std::string> WebConfigFiles(const WebConfig& c) {
  std::vector<std::string> out;
  for (const auto* f :
       {&c.tls.cert_file, &c.tls.key_file, &c.tls.client_ca_file}) {
    if (!f->empty()) out.push_back(*f);
  }
  return out;
}

}  // namespace pgwarden
