#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Collector> Make(std::vector<double> thresholds = {60, 300}) {
  CollectorOptions options;
  options.long_running_thresholds_seconds = std::move(thresholds);
  return testing::NewCollector("activity", options);
}

const std::vector<std::string> kColumns = {"kind",
                                           "datname",
                                           "state",
                                           "usename",
                                           "application_name",
                                           "backend_type",
                                           "wait_event_type",
                                           "wait_event",
                                           "count",
                                           "max_tx_duration",
                                           "max_query_duration",
                                           "max_state_duration",
                                           "long_0",
                                           "long_1"};

TEST(ActivityCollectorTest, QueryHasOneColumnPerThreshold) {
  for (int version : {120000, 130000, 140000, 170000}) {
    ServerInfo server;
    server.version_num = version;
    const std::string sql = Make({1, 2.5, 3600})->Query(server);
    EXPECT_THAT(sql, HasSubstr("AS long_0"));
    EXPECT_THAT(sql, HasSubstr("AS long_2"));
    EXPECT_THAT(sql, ::testing::Not(HasSubstr("AS long_3")));
    EXPECT_THAT(sql, HasSubstr("make_interval(secs => 2.500000)"));
    EXPECT_THAT(sql, HasSubstr("pid <> pg_backend_pid()"));
    EXPECT_EQ(sql.find('%'), std::string::npos) << "unreplaced placeholder";
  }
}

TEST(ActivityCollectorTest, CountsAndZeroFillsPerDatabase) {
  const Rows rows = MakeRows(
      kColumns,
      {{"session", "app", "active", "bob", "psql", "client backend", "", "",
        "2", "75.5", "70", "70", "1", "0"},
       {"session", "app", "active", "bob", "psql", "client backend", "Lock",
        "transactionid", "1", "400", "400", "10", "1", "1"},
       {"session", "app", "idle in transaction", "eve", "job", "client backend",
        "Client", "ClientRead", "1", "900", "\\N", "850", "0", "0"},
       {"session", "", "", "", "", "checkpointer", "Activity",
        "CheckpointerMain", "1", "\\N", "\\N", "\\N", "0", "0"},
       {"database", "app", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "0", "\\N",
        "\\N", "\\N", "\\N", "\\N"},
       {"database", "empty", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "0",
        "\\N", "\\N", "\\N", "\\N", "\\N"}});
  Families out;
  Make()->Parse(ServerInfo{}, rows, out);

  EXPECT_EQ(Sample(out, "pg_stat_activity_count",
                   {{"datname", "app"},
                    {"state", "active"},
                    {"usename", "bob"},
                    {"wait_event", ""}}),
            2);
  EXPECT_EQ(Sample(out, "pg_stat_activity_count",
                   {{"datname", "app"},
                    {"state", "active"},
                    {"wait_event", "transactionid"}}),
            1);
  // Zero-filled: every database gets the six states with empty labels.
  EXPECT_EQ(Sample(out, "pg_stat_activity_count",
                   {{"datname", "empty"}, {"state", "idle"}, {"usename", ""}}),
            0);
  EXPECT_EQ(testing::SumSamples(out, "pg_stat_activity_count",
                                {{"datname", "empty"}}),
            0);
  // Background workers keep datname="".
  EXPECT_EQ(
      Sample(out, "pg_stat_activity_count", {{"backend_type", "checkpointer"}}),
      1);
  EXPECT_EQ(Sample(out, "pg_stat_activity_max_tx_duration",
                   {{"datname", "app"},
                    {"state", "idle in transaction"},
                    {"usename", "eve"}}),
            900);
  // Max across label sets of one (datname, state).
  EXPECT_EQ(Sample(out, "pg_stat_activity_max_query_duration_seconds",
                   {{"datname", "app"}, {"state", "active"}}),
            400);
  // NULL query age (no query yet) reads as 0, the series stays.
  EXPECT_EQ(Sample(out, "pg_stat_activity_max_query_duration_seconds",
                   {{"datname", "app"}, {"state", "idle in transaction"}}),
            0);
  EXPECT_EQ(Sample(out, "pg_stat_activity_max_state_duration_seconds",
                   {{"datname", "app"}, {"state", "idle in transaction"}}),
            850);
  EXPECT_EQ(Sample(out, "pg_long_running_queries",
                   {{"datname", "app"}, {"threshold_seconds", "60"}}),
            2);
  EXPECT_EQ(Sample(out, "pg_long_running_queries",
                   {{"datname", "app"}, {"threshold_seconds", "300"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_long_running_queries",
                   {{"datname", "empty"}, {"threshold_seconds", "300"}}),
            0);
  // 2 databases x 6 states + 4 live label sets.
  EXPECT_EQ(SampleCount(out, "pg_stat_activity_count"), 16u);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(ActivityCollectorTest, HostileLabelTextStaysValid) {
  std::vector<std::vector<std::string>> cells;
  for (const std::string& s : testing::HostileStrings()) {
    cells.push_back({"session", s, "active", s, s, "client backend", "", "",
                     "1", "1", "1", "1", "0", "0"});
    cells.push_back({"database", s, "\\N", "\\N", "\\N", "\\N", "\\N", "\\N",
                     "0", "\\N", "\\N", "\\N", "\\N", "\\N"});
  }
  Families out;
  Make()->Parse(ServerInfo{}, MakeRows(kColumns, cells), out);
  EXPECT_EQ(Sample(out, "pg_stat_activity_count",
                   {{"datname", "} 1\nfake_metric 1"},
                    {"state", "active"},
                    {"usename", "} 1\nfake_metric 1"}}),
            1);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(ActivityCollectorTest, NoRowsGivesNoSeries) {
  Families out;
  Make()->Parse(ServerInfo{}, MakeRows(kColumns, {}), out);
  EXPECT_EQ(SampleCount(out, "pg_stat_activity_count"), 0u);
}

}  // namespace
}  // namespace pgwarden::testing
