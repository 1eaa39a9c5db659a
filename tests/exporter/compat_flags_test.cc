#include "exporter/compat_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "exporter/flags.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(CompatFlagsTest, EveryRenameNamesARealFlagBothWays) {
  for (const char* spelled :
       {"web.listen-address", "web.telemetry-path", "web.config.file",
        "web.max-requests", "config.file", "extend.query-path",
        "include-databases", "exclude-databases", "log.level", "log.format",
        "collector.stat_statements.limit",
        "collector.stat_statements.include_query",
        "collector.stat_statements.query_length"}) {
    const std::string flag = RenamedFlag(spelled);
    gflags::CommandLineFlagInfo info;
    EXPECT_TRUE(gflags::GetCommandLineFlagInfo(flag.c_str(), &info)) << spelled;
    EXPECT_EQ(PostgresExporterSpelling(flag), spelled);
  }
  EXPECT_EQ(RenamedFlag("web_listen_address"), "");
  EXPECT_EQ(PostgresExporterSpelling("relation_limit"), "");
}

TEST(CompatFlagsTest, RefusalsNameTheReplacement) {
  EXPECT_THAT(RefusedFlag("constantLabels", "a=b"), HasSubstr("scrape_config"));
  EXPECT_THAT(RefusedFlag("web.systemd-socket", ""),
              HasSubstr("--web.listen-address"));
  EXPECT_THAT(
      RefusedFlag("collector.long_running_transactions.threshold", "1m"),
      HasSubstr("--long_running_thresholds"));
  EXPECT_EQ(RefusedFlag("metric-prefix", "pg"), "");
  EXPECT_THAT(RefusedFlag("metric-prefix", "postgres"),
              HasSubstr("not supported"));
  EXPECT_EQ(RefusedFlag("web.listen-address", ":9187"), "");
}

TEST(CompatFlagsTest, CollectorNames) {
  EXPECT_EQ(CollectorFor("stat_activity"), "activity");
  EXPECT_EQ(CollectorFor("replication_slot"), "replication_slots");
  EXPECT_EQ(CollectorFor("bgwriter"), "stat_bgwriter");
  EXPECT_EQ(CollectorFor("locks"), "locks");
  EXPECT_EQ(CollectorFor("process_idle"), "");
}

TEST(CompatFlagsTest, EnvironmentVariables) {
  setenv("PG_EXPORTER_EXTEND_QUERY_PATH", "/q.yaml", 1);
  setenv("PG_EXPORTER_METRIC_PREFIX", "", 1);  // empty: not set
  EXPECT_THAT(PostgresExporterEnvironment(),
              UnorderedElementsAre(Pair("extend.query-path", "/q.yaml")));
  unsetenv("PG_EXPORTER_EXTEND_QUERY_PATH");
  unsetenv("PG_EXPORTER_METRIC_PREFIX");
  EXPECT_TRUE(PostgresExporterEnvironment().empty());
}

}  // namespace
}  // namespace pgwarden::testing
