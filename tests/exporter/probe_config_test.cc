#include "exporter/probe_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace pgwarden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Error(const std::string& text) {
  try {
    ParseProbeConfig(text, "/etc/pgwarden/pe.yml");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(ProbeConfigTest, PostgresExporterAuthModules) {
  const ProbeConfig c = ParseProbeConfig(R"(auth_modules:
  prod:
    type: userpass
    userpass:
      username: monitor
      password: s3cret
    options:
      sslmode: require
  mounted:
    type: userpass
    userpass:
      username: monitor
      password_file: secrets/pw
  certs:
    type: userpass
    options:
      sslcert: /etc/pgwarden/client.crt
allowed_targets: ["db-*.example.com:5432", "10.0.0.0/8", "fd00::/8"]
)",
                                         "/etc/pgwarden/pe.yml");
  ASSERT_EQ(c.auth_modules.size(), 3u);
  const AuthModule& prod = c.auth_modules.at("prod");
  EXPECT_EQ(prod.username, "monitor");
  EXPECT_EQ(prod.password, "s3cret");
  EXPECT_EQ(prod.options.at("sslmode"), "require");
  EXPECT_EQ(c.auth_modules.at("mounted").password_file,
            "/etc/pgwarden/secrets/pw");
  EXPECT_TRUE(c.auth_modules.at("certs").username.empty());
  EXPECT_THAT(c.allowed_targets,
              ElementsAre("db-*.example.com:5432", "10.0.0.0/8", "fd00::/8"));
}

TEST(ProbeConfigTest, Rejections) {
  EXPECT_EQ(Error("auth_modulez: {}\n"),
            "/etc/pgwarden/pe.yml:1: unknown key \"auth_modulez\" in the "
            "configuration");
  EXPECT_THAT(Error("auth_modules:\n  a:\n    type: token\n"),
              HasSubstr("type must be userpass"));
  EXPECT_THAT(Error("auth_modules:\n  a:\n    type: userpass\n    userpass:\n"
                    "      username: u\n      pasword: p\n"),
              HasSubstr("unknown key \"pasword\""));
  EXPECT_THAT(Error("auth_modules:\n  a:\n    type: userpass\n    userpass:\n"
                    "      password: p\n      password_file: f\n"),
              HasSubstr("not both"));
  EXPECT_THAT(Error("allowed_targets: [\"db.example.com\"]\n"),
              HasSubstr("neither host:port"));
  EXPECT_THAT(Error("allowed_targets: [\"10.0.0.0/33\"]\n"),
              HasSubstr("neither host:port"));
  EXPECT_THAT(Error("auth_modules: [\n"), HasSubstr("yaml"));
}

TEST(ProbeTargetTest, TheThreeSpellingsAndTheModule) {
  AuthModule m;
  m.username = "monitor";
  m.password = "s3cret";
  m.options["sslmode"] = "require";
  for (const std::string target :
       {"db1.example.com:6432/shop", "postgresql://db1.example.com:6432/shop",
        "host=db1.example.com port=6432 dbname=shop sslmode=disable"}) {
    const Dsn dsn = ProbeTarget(target, &m);
    EXPECT_EQ(dsn.Get("host"), "db1.example.com") << target;
    EXPECT_EQ(dsn.Get("port"), "6432") << target;
    EXPECT_EQ(dsn.Get("dbname"), "shop") << target;
    EXPECT_EQ(dsn.Get("user"), "monitor") << target;
    EXPECT_EQ(dsn.Get("password"), "s3cret") << target;
    EXPECT_EQ(dsn.Get("sslmode"), "require") << target;  // module wins
  }
  EXPECT_EQ(ProbeTarget("db1:5432", nullptr).Get("user"), "");
  EXPECT_EQ(ProbeTarget("db1:5432", nullptr).Get("dbname"), "postgres");
  EXPECT_THROW(ProbeTarget("", nullptr), std::invalid_argument);
}

TEST(ProbeTargetTest, PasswordFileIsReadWhenUsed) {
  char path[] = "/tmp/pgwarden-probe-pw.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  AuthModule m;
  m.username = "monitor";
  m.password_file = path;
  std::ofstream(path) << "first\n";
  EXPECT_EQ(ProbeTarget("db:5432", &m).Get("password"), "first");
  std::ofstream(path) << "rotated\n";
  EXPECT_EQ(ProbeTarget("db:5432", &m).Get("password"), "rotated");
  unlink(path);
  try {
    ProbeTarget("db:5432", &m);
    FAIL() << "a missing password_file was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr("rotated")));
  }
}

TEST(TargetAllowedTest, PatternsAndRanges) {
  const std::vector<std::string> allowed = {"db-*.example.com:5432",
                                            "10.1.0.0/16", "fd00::/8"};
  EXPECT_EQ(TargetAllowed(allowed, "db-7.example.com", 5432, {"192.0.2.1"}),
            Allowed::kByName);
  EXPECT_EQ(TargetAllowed(allowed, "db-7.example.com", 5433, {"192.0.2.1"}),
            Allowed::kNo);
  EXPECT_EQ(TargetAllowed(allowed, "pg.internal", 5432, {"10.1.2.3"}),
            Allowed::kByAddress);
  EXPECT_EQ(TargetAllowed(allowed, "pg6.internal", 5432, {"fd12::1"}),
            Allowed::kByAddress);
  // Every resolved address must be inside the range.
  EXPECT_EQ(
      TargetAllowed(allowed, "pg.internal", 5432, {"10.1.2.3", "127.0.0.1"}),
      Allowed::kNo);
  EXPECT_EQ(TargetAllowed(allowed, "pg.internal", 5432, {}), Allowed::kNo);
  EXPECT_EQ(TargetAllowed(allowed, "169.254.169.254", 80, {"169.254.169.254"}),
            Allowed::kNo);
  EXPECT_EQ(TargetAllowed({}, "db", 5432, {"10.1.2.3"}), Allowed::kNo);
  // A pattern's * does not reach a Unix socket.
  EXPECT_EQ(TargetAllowed({"*:5432"}, "/run/postgresql", 5432, {}),
            Allowed::kNo);
  EXPECT_EQ(TargetAllowed({"*:5432"}, "any.example.com", 5432, {}),
            Allowed::kByName);
}

TEST(ProbeTargetTest, TheTargetSaysWhereNotWhatFilesToRead) {
  for (const std::string target :
       {"host=db sslkey=/etc/shadow", "host=db hostaddr=127.0.0.1",
        "host=db service=prod", "host=db passfile=/root/.pgpass",
        "postgresql://db/x?sslrootcert=/etc/ssl/private/k",
        "host=db options='-c default_transaction_read_only=off'"}) {
    try {
      ProbeTarget(target, nullptr);
      ADD_FAILURE() << "accepted " << target;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("target may not set")) << target;
    }
  }
  EXPECT_THROW(ProbeTarget("host=a,b", nullptr), std::invalid_argument);
  EXPECT_THROW(ProbeTarget("dbname=x", nullptr), std::invalid_argument);
  // A module is the operator's: its options may set files.
  AuthModule m;
  m.options["sslrootcert"] = "/etc/pgwarden/ca.pem";
  EXPECT_EQ(ProbeTarget("db:5432", &m).Get("sslrootcert"),
            "/etc/pgwarden/ca.pem");
}

TEST(ProbeConfigFileTest, ReloadKeepsTheLastGood) {
  char path[] = "/tmp/pgwarden-probe-config.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "allowed_targets: [\"10.0.0.0/8\"]\n";
  ProbeConfigFile file(path);
  EXPECT_EQ(file.Current()->allowed_targets.size(), 1u);
  std::ofstream(path) << "allowed_targetz: []\n";
  EXPECT_FALSE(file.Reload());
  EXPECT_EQ(file.Current()->allowed_targets.size(), 1u);
  Families metrics = file.Metrics();
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0].name, "pgwarden_config_last_reload_successful");
  EXPECT_EQ(metrics[0].metric[0].gauge.value, 0);
  std::ofstream(path) << "allowed_targets: []\n";
  EXPECT_TRUE(file.Reload());
  EXPECT_TRUE(file.Current()->allowed_targets.empty());
  EXPECT_EQ(file.Metrics()[0].metric[0].gauge.value, 1);
  unlink(path);
  // A missing file is a warning, as in postgres_exporter.
  EXPECT_NO_THROW(ProbeConfigFile("/nonexistent/postgres_exporter.yml"));
  EXPECT_TRUE(ProbeConfigFile("").Metrics().empty());
}

}  // namespace
}  // namespace pgwarden::testing
