#include "exporter/server_info.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

Rows InfoRows(const std::string& schema, const std::string& version,
              const std::string& preloaded) {
  return testing::MakeRows(
      {"version_num", "version", "in_recovery", "database", "pgss_schema",
       "pgss_version", "pgss_preloaded"},
      {{"170002", "17.2 (Debian)", "t", "app", schema, version, preloaded}});
}

TEST(ServerInfoTest, ParsesTheRow) {
  const ServerInfo info = ParseServerInfo(InfoRows("monitoring", "1.11", "t"));
  EXPECT_EQ(info.version_num, 170002);
  EXPECT_EQ(info.version, "17.2 (Debian)");
  EXPECT_TRUE(info.in_recovery);
  EXPECT_EQ(info.database, "app");
  EXPECT_EQ(info.pgss_schema, "monitoring");
  EXPECT_EQ(info.pgss_version_num, 11100);
  EXPECT_TRUE(info.pgss_available);
}

TEST(ServerInfoTest, PgStatStatementsNeedsTheExtensionAndThePreload) {
  EXPECT_FALSE(ParseServerInfo(InfoRows("\\N", "\\N", "t")).pgss_available);
  EXPECT_FALSE(ParseServerInfo(InfoRows("public", "1.10", "f")).pgss_available);
  EXPECT_EQ(ParseServerInfo(InfoRows("public", "1.10", "f")).pgss_version_num,
            11000);
}

TEST(ServerInfoTest, AnythingButOneRowIsAnError) {
  Rows none({"version_num"});
  EXPECT_THROW(ParseServerInfo(none), std::runtime_error);
}

TEST(ServerInfoTest, ShortVersion) {
  EXPECT_EQ(ShortVersion("15.4 (Debian 15.4-1)"), "15.4.0");
  EXPECT_EQ(ShortVersion("9.6.24"), "9.6.24");
  EXPECT_EQ(ShortVersion("18devel"), "18.0.0");
  EXPECT_EQ(ShortVersion("devel"), "");
}

}  // namespace
}  // namespace pgwarden::testing
