#include "exporter/web_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgwarden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using A = TlsServerConfig::ClientAuth;

constexpr char kHash[] =
    "$2b$04$Lc6LkN9b6Fob79NEzod4Se5ApZrdN1RzoyOrm/PPQNF.OytPy75ba";

WebConfig Parse(const std::string& text) {
  return ParseWebConfig(text, "/etc/pgwarden/web.yml");
}

std::string Error(const std::string& text) {
  try {
    Parse(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

// The cases of exporter-toolkit's web/testdata, rewritten: what it accepts
// is accepted with the same meaning, what it rejects is rejected.
TEST(WebConfigTest, EmptyFileIsPlainHttpWithoutAuth) {
  const WebConfig c = Parse("");
  EXPECT_FALSE(c.tls.Enabled());
  EXPECT_TRUE(c.basic_auth_users.empty());
  EXPECT_EQ(c.rate_limit_interval_seconds, 0);
}

TEST(WebConfigTest, TlsDefaultsAndRelativePaths) {
  const WebConfig c = Parse(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: "
      "/abs/server.key\n");
  EXPECT_TRUE(c.tls.Enabled());
  EXPECT_EQ(c.tls.cert_file, "/etc/pgwarden/server.crt");
  EXPECT_EQ(c.tls.key_file, "/abs/server.key");
  EXPECT_EQ(c.tls.min_version, 0x0303);  // TLS 1.2
  EXPECT_EQ(c.tls.max_version, 0x0304);  // TLS 1.3
  EXPECT_EQ(c.tls.client_auth, A::kNoClientCert);
  EXPECT_TRUE(c.tls.prefer_server_cipher_suites);
  EXPECT_TRUE(c.http2);
}

TEST(WebConfigTest, EveryTlsKey) {
  const WebConfig c = Parse(R"(tls_server_config:
  cert: "-----BEGIN CERTIFICATE-----"
  key: "-----BEGIN PRIVATE KEY-----"
  client_ca: "-----BEGIN CERTIFICATE-----"
  client_auth_type: RequireAndVerifyClientCert
  client_allowed_sans: [prometheus.example, 10.0.0.1]
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [CurveP256, X25519]
  min_version: TLS13
  max_version: TLS13
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
)");
  EXPECT_EQ(c.tls.client_auth, A::kRequireAndVerifyClientCert);
  EXPECT_THAT(c.tls.client_allowed_sans,
              ElementsAre("prometheus.example", "10.0.0.1"));
  EXPECT_THAT(c.tls.cipher_suites,
              ElementsAre("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
  EXPECT_THAT(c.tls.curve_preferences, ElementsAre("CurveP256", "X25519"));
  EXPECT_EQ(c.tls.min_version, 0x0304);
  EXPECT_FALSE(c.tls.prefer_server_cipher_suites);
  EXPECT_FALSE(c.http2);
}

TEST(WebConfigTest, ClientAuthTypesAsUpstream) {
  const std::string head =
      "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: "
      "ca\n  client_auth_type: ";
  EXPECT_EQ(Parse(head + "RequestClientCert").tls.client_auth,
            A::kRequestClientCert);
  EXPECT_EQ(Parse(head + "RequireAnyClientCert").tls.client_auth,
            A::kRequireAnyClientCert);
  EXPECT_EQ(Parse(head + "RequireClientCert").tls.client_auth,
            A::kRequireAnyClientCert);  // upstream's old spelling
  EXPECT_EQ(Parse(head + "VerifyClientCertIfGiven").tls.client_auth,
            A::kVerifyClientCertIfGiven);
  EXPECT_THAT(Error(head + "Sometimes"), HasSubstr("invalid ClientAuth"));
}

TEST(WebConfigTest, RejectedAsUpstreamRejectsThem) {
  EXPECT_THAT(Error("tls_server_config:\n  key_file: k\n"),
              HasSubstr("missing one of cert or cert_file"));
  EXPECT_THAT(Error("tls_server_config:\n  cert_file: c\n  key_file: \"\"\n"),
              HasSubstr("missing one of key or key_file"));
  EXPECT_THAT(
      Error("tls_server_config:\n  cert_file: c\n  key_file: k\n  "
            "client_ca_file: ca\n"),
      HasSubstr("client CA's have been configured without a Client Auth "
                "Policy"));
  EXPECT_THAT(
      Error("tls_server_config:\n  cert_file: c\n  key_file: k\n  "
            "client_ca_file: ca\n  client_auth_type: VerifyClientCertIfGiven\n"
            "  client_allowed_sans: [x]\n"),
      HasSubstr("client_allowed_sans requires client_auth_type"));
  EXPECT_THAT(Error("tls_server_config:\n  cert_file: c\n  key_file: k\n  "
                    "client_allowed_sans: [x]\n"),
              HasSubstr("client_allowed_sans requires client_auth_type"));
  EXPECT_THAT(Error("tls_server_config:\n  cert_file: c\n  key_file: k\n  "
                    "cipher_suites: [TLS_INVENTED_WITH_NOTHING]\n"),
              HasSubstr("unknown cipher: TLS_INVENTED_WITH_NOTHING"));
  EXPECT_THAT(Error("tls_server_config:\n  cert_file: c\n  key_file: k\n  "
                    "curve_preferences: [CurveP257]\n"),
              HasSubstr("unknown curve: CurveP257"));
  EXPECT_THAT(Error("tls_server_config:\n  cert_file: c\n  key_file: k\n  "
                    "min_version: TLS111\n"),
              HasSubstr("unknown TLS version: TLS111"));
  EXPECT_THAT(Error("basic_auth_users:\n  alice: notahash\n"),
              HasSubstr("not a bcrypt hash"));
  EXPECT_THAT(Error("http_server_config:\n  headers:\n    X-Custom: 1\n"),
              HasSubstr("HTTP header \"X-Custom\" can not be configured"));
  EXPECT_THAT(Error("http_server_config:\n  headers:\n    "
                    "X-Content-Type-Options: sniff\n"),
              HasSubstr("invalid value for X-Content-Type-Options"));
  EXPECT_THAT(Error("http_server_config:\n  headers:\n    "
                    "X-Frame-Options: allow\n"),
              HasSubstr("invalid value for X-Frame-Options"));
  EXPECT_THAT(Error("some junk: [\n"), HasSubstr("yaml"));
  EXPECT_THAT(Error("tls_server_config:\n  cert_filee: c\n"),
              HasSubstr("unknown key \"cert_filee\""));
}

TEST(WebConfigTest, ErrorsNameFileAndLine) {
  EXPECT_EQ(Error("basic_auth_users:\n  alice: " + std::string(kHash) +
                  "\nbogus: 1\n"),
            "/etc/pgwarden/web.yml:3: unknown key \"bogus\" in the web "
            "configuration");
}

TEST(WebConfigTest, UsersHeadersRateLimit) {
  const WebConfig c =
      Parse("basic_auth_users:\n  alice: " + std::string(kHash) +
            "\nhttp_server_config:\n  headers:\n"
            "    X-Frame-Options: deny\n"
            "    Strict-Transport-Security: max-age=60\n"
            "rate_limit:\n  interval: 1m30s\n  burst: 5\n");
  EXPECT_THAT(c.basic_auth_users, ElementsAre(Pair("alice", kHash)));
  EXPECT_THAT(c.headers,
              ElementsAre(Pair("X-Frame-Options", "deny"),
                          Pair("Strict-Transport-Security", "max-age=60")));
  EXPECT_EQ(c.rate_limit_interval_seconds, 90);
  EXPECT_EQ(c.rate_limit_burst, 5);
  // Upstream accepts burst 0: every request is refused.
  EXPECT_EQ(Parse("rate_limit:\n  interval: 1s\n  burst: 0\n").rate_limit_burst,
            0);
}

TEST(WebConfigTest, FilesToWatch) {
  const WebConfig c = Parse(
      "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: "
      "ca\n  client_auth_type: RequireAnyClientCert\n");
  EXPECT_THAT(
      WebConfigFiles(c),
      ElementsAre("/etc/pgwarden/c", "/etc/pgwarden/k", "/etc/pgwarden/ca"));
}

TEST(GoDurationTest, UnitsAndErrors) {
  EXPECT_EQ(ParseGoDuration("0"), 0);
  EXPECT_EQ(ParseGoDuration("250ms"), 0.25);
  EXPECT_EQ(ParseGoDuration("1h2m3s"), 3723);
  EXPECT_DOUBLE_EQ(ParseGoDuration("1.5s"), 1.5);
  for (const char* bad : {"", "5", "1x", "s", "-1s", "1s2"}) {
    EXPECT_THROW(ParseGoDuration(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace pgwarden::testing
