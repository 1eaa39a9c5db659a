#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/check_names.h>

#include "collectors/collector.h"
#include "exporter/text.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

std::unique_ptr<Collector> Make() { return testing::NewCollector("settings"); }

const std::vector<std::string> kColumns = {
    "name", "setting", "unit", "vartype", "short_desc", "pending_restart"};

Families ParseRows(std::vector<std::vector<std::string>> cells) {
  Families out;
  Make()->Parse(ServerInfo{}, MakeRows(kColumns, std::move(cells)), out);
  return out;
}

TEST(SettingsCollectorTest, SameQueryOnEveryVersion) {
  for (int v : {120000, 130000, 140000, 170000}) {
    ServerInfo s;
    s.version_num = v;
    EXPECT_THAT(Make()->Query(s),
                ::testing::HasSubstr("vartype IN ('bool', 'integer', 'real')"));
  }
}

TEST(SettingsCollectorTest, ConvertsUnitsToBaseUnits) {
  const Families out = ParseRows({
      {"shared_buffers", "16384", "8kB", "integer", "Sets buffers.", "f"},
      {"work_mem", "4096", "kB", "integer", "d", "f"},
      {"max_wal_size", "1024", "MB", "integer", "d", "f"},
      {"wal_segment_size", "16777216", "B", "integer", "d", "f"},
      {"statement_timeout", "1500", "ms", "integer", "d", "f"},
      {"checkpoint_timeout", "300", "s", "integer", "d", "f"},
      {"log_rotation_age", "1440", "min", "integer", "d", "f"},
      {"log_min_duration_statement", "-1", "ms", "integer", "d", "f"},
      {"random_page_cost", "1.1", "", "real", "d", "f"},
      {"max_connections", "100", "", "integer", "d", "f"},
      {"fsync", "on", "", "bool", "d", "f"},
      {"full_page_writes", "off", "", "bool", "d", "f"},
  });
  EXPECT_EQ(Sample(out, "pg_settings_shared_buffers_bytes"), 16384.0 * 8192);
  EXPECT_EQ(Sample(out, "pg_settings_work_mem_bytes"), 4096.0 * 1024);
  EXPECT_EQ(Sample(out, "pg_settings_max_wal_size_bytes"),
            1024.0 * 1024 * 1024);
  EXPECT_EQ(Sample(out, "pg_settings_wal_segment_size_bytes"), 16777216);
  EXPECT_DOUBLE_EQ(*Sample(out, "pg_settings_statement_timeout_seconds"), 1.5);
  EXPECT_EQ(Sample(out, "pg_settings_checkpoint_timeout_seconds"), 300);
  EXPECT_EQ(Sample(out, "pg_settings_log_rotation_age_seconds"), 86400);
  EXPECT_EQ(Sample(out, "pg_settings_log_min_duration_statement_seconds"), -1);
  EXPECT_DOUBLE_EQ(*Sample(out, "pg_settings_random_page_cost"), 1.1);
  EXPECT_EQ(Sample(out, "pg_settings_max_connections"), 100);
  EXPECT_EQ(Sample(out, "pg_settings_fsync"), 1);
  EXPECT_EQ(Sample(out, "pg_settings_full_page_writes"), 0);
  EXPECT_EQ(Sample(out, "pg_settings_pending_restart"), 0);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(SettingsCollectorTest, PendingRestartExclusionsNullsAndOddNames) {
  const Families out = ParseRows({
      {"shared_buffers", "32768", "8kB", "integer", "d", "t"},
      {"max_connections", "200", "", "integer", "d", "t"},
      {"sync_commit_cancel_wait", "1", "", "integer", "d", "f"},
      {"myext.some-knob", "5", "", "integer", "d", "f"},
      {"myext.placeholder", "\\N", "", "integer", "d", "f"},
      {"myext.weird_unit", "5", "furlongs", "integer", "d", "f"},
      {"tcp_keepalives_count", "9", "", "integer", "d", "\\N"},
      // PostgreSQL 17+.
      {"wal_summary_keep_time", "14400", "min", "integer", "d", "f"},
      {"summarize_wal", "off", "", "bool", "d", "f"},
  });
  // promtool rejects "summary" in any metric name: the word is pluralized.
  EXPECT_EQ(Sample(out, "pg_settings_wal_summaries_keep_time_seconds"),
            14400 * 60);
  EXPECT_EQ(Sample(out, "pg_settings_summarize_wal"), 0);
  EXPECT_EQ(Sample(out, "pg_settings_pending_restart"), 2);
  EXPECT_EQ(testing::FindFamily(out, "pg_settings_sync_commit_cancel_wait"),
            nullptr);
  EXPECT_EQ(Sample(out, "pg_settings_myext_some_knob"), 5);
  EXPECT_EQ(testing::FindFamily(out, "pg_settings_myext_placeholder"), nullptr);
  EXPECT_EQ(testing::FindFamily(out, "pg_settings_myext_weird_unit"), nullptr);
  EXPECT_EQ(Sample(out, "pg_settings_tcp_keepalives_count"), 9);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(SettingsCollectorTest, HostileDescriptionsAndNamesStayValid) {
  std::vector<std::vector<std::string>> cells;
  int i = 0;
  for (const auto& s : testing::HostileStrings()) {
    cells.push_back(
        {"ext" + std::to_string(i++) + "." + s, "1", "", "integer", s, "f"});
  }
  // Two names that sanitize to one metric name: only the first is kept.
  cells.push_back({"alpha.beta", "1", "", "integer", "d", "f"});
  cells.push_back({"alpha-beta", "2", "", "integer", "d", "f"});
  const Families out = ParseRows(cells);
  EXPECT_EQ(Sample(out, "pg_settings_alpha_beta"), 1);
  for (const auto& f : out) {
    EXPECT_TRUE(prometheus::CheckMetricName(f.name)) << f.name;
  }
  const std::string text = Serialize(out);
  EXPECT_EQ(text.find("\nfake_metric"), std::string::npos);
  // Names made from hostile text may trip promtool's unit-name lint ("_s");
  // they must still parse.
  EXPECT_TRUE(testing::ValidExposition(out, /*allow_lint=*/true));
}

}  // namespace
}  // namespace pgwarden::testing
