#include "exporter/dsn.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DsnTest, ParsesUriAndKeyValue) {
  const Dsn uri = Dsn::Parse(
      "postgresql://mon:pa%40ss@db.example:6543/app?sslmode=require");
  EXPECT_EQ(uri.Get("host"), "db.example");
  EXPECT_EQ(uri.Get("port"), "6543");
  EXPECT_EQ(uri.Get("user"), "mon");
  EXPECT_EQ(uri.Get("password"), "pa@ss");
  EXPECT_EQ(uri.Get("dbname"), "app");
  EXPECT_EQ(uri.Get("sslmode"), "require");
  const Dsn kv = Dsn::Parse("host=/run/pg user=mon password='it\\'s secret'");
  EXPECT_EQ(kv.Get("host"), "/run/pg");
  EXPECT_EQ(kv.Get("password"), "it's secret");
  EXPECT_FALSE(kv.Has("port"));
}

TEST(DsnTest, RedactedNeverShowsSecrets) {
  const Dsn dsn = Dsn::Parse(
      "host=h port=1 dbname=d user=u password=hunter2 sslpassword=keypass");
  EXPECT_EQ(dsn.Redacted(), "host=h port=1 dbname=d user=u");
  EXPECT_EQ(Dsn::Parse("").Redacted(), "(libpq defaults)");
}

TEST(DsnTest, ConnectionStringRoundTripsThroughLibpq) {
  Dsn dsn = Dsn::Parse("host=h user=u");
  dsn.Set("password", "it's a \\ 'tricky' one");
  dsn.Set("application_name", "x y");
  const Dsn again = Dsn::Parse(dsn.ConnectionString());
  EXPECT_EQ(again.Get("password"), "it's a \\ 'tricky' one");
  EXPECT_EQ(again.Get("application_name"), "x y");
  EXPECT_EQ(again.Get("host"), "h");
}

TEST(DsnTest, SessionSettingsGoInTheStartupPacket) {
  SessionSettings s;
  s.statement_timeout_ms = 1234;
  s.lock_timeout_ms = 99;
  const Dsn dsn =
      WithSessionSettings(Dsn::Parse("host=h options='-c work_mem=1MB'"), s);
  EXPECT_EQ(dsn.Get("application_name"), "pgwarden");
  EXPECT_EQ(dsn.Get("connect_timeout"), "5");
  const std::string options = dsn.Get("options");
  EXPECT_THAT(options, HasSubstr("-c work_mem=1MB"));
  EXPECT_THAT(options, HasSubstr("-c statement_timeout=1234"));
  EXPECT_THAT(options, HasSubstr("-c lock_timeout=99"));
  EXPECT_THAT(options, HasSubstr("-c default_transaction_read_only=on"));
  EXPECT_THAT(options, HasSubstr("-c idle_in_transaction_session_timeout="));
  // The user's own application_name and connect_timeout are kept.
  const Dsn own = WithSessionSettings(
      Dsn::Parse("application_name=mine connect_timeout=9"), s);
  EXPECT_EQ(own.Get("application_name"), "mine");
  EXPECT_EQ(own.Get("connect_timeout"), "9");
}

TEST(DsnTest, InvalidDsnErrorHidesThePassword) {
  for (const char* bad : {"postgresql://u:hunter2@h:5432/d?bogus=hunter2",
                          "host=h password=hunter2 nonsense",
                          "postgresql://u:hunter2@h/d?sslmode=hunter2%zz",
                          "password=hunter2 bogus_key=1",
                          // Found by the DSN fuzzer: libpq echoed the newline.
                          "postgres://u:hunter2@[bad\nhost:/d"}) {
    try {
      Dsn::Parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("invalid DSN"));
      EXPECT_THAT(e.what(), Not(HasSubstr("hunter2"))) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

TEST(DsnTest, ScrubSecretsFindsUriAndKeyValuePasswords) {
  EXPECT_EQ(ScrubSecrets("failed for s3cr3t", "postgres://u:s3cr3t@h/d"),
            "failed for ***");
  EXPECT_EQ(ScrubSecrets("x 'p w' y", "password='p w' host=h"), "x '***' y");
  EXPECT_EQ(ScrubSecrets("nothing here", "host=h"), "nothing here");
  // An empty password (found by the DSN fuzzer: it looped forever).
  EXPECT_EQ(ScrubSecrets("error text", "postgres://u:@h/d"), "error text");
  EXPECT_EQ(ScrubSecrets("error text", "password= host=h"), "error text");
}

}  // namespace
}  // namespace pgwarden::testing
