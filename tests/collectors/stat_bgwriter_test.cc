#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden {
namespace {

using testing::FindFamily;
using ::testing::HasSubstr;
using testing::MakeRows;
using ::testing::Not;
using testing::Sample;

std::unique_ptr<Collector> Make(bool legacy = false,
                                const std::string& name = "stat_bgwriter") {
  CollectorOptions o;
  o.legacy_names = legacy;
  return std::move(CreateCollectors({name}, o).at(0));
}

TEST(StatBgwriterCollectorTest, CheckpointFiguresFromCheckpointerOn17) {
  EXPECT_THAT(Make()->Query(testing::ServerAt(160000)),
              Not(HasSubstr("pg_stat_checkpointer")));
  const std::string sql17 = Make()->Query(testing::ServerAt(170000));
  EXPECT_THAT(sql17, HasSubstr("c.num_timed AS checkpoints_timed"));
  EXPECT_THAT(sql17, HasSubstr("pg_stat_io"));
}

TEST(StatBgwriterCollectorTest, TotalNamesAndLegacyAliases) {
  const Rows rows =
      MakeRows({"checkpoints_timed", "buffers_backend", "stats_reset"},
               {{"12", "340", "1700000000"}});
  Families plain, legacy;
  Make()->Parse(testing::ServerAt(150000), rows, plain);
  Make(true)->Parse(testing::ServerAt(150000), rows, legacy);
  EXPECT_EQ(Sample(plain, "pg_stat_bgwriter_checkpoints_timed_total"), 12);
  EXPECT_EQ(FindFamily(plain, "pg_stat_bgwriter_buffers_backend"), nullptr);
  // Grafana dashboard 9628 reads these names.
  EXPECT_EQ(Sample(legacy, "pg_stat_bgwriter_buffers_backend"), 340);
  EXPECT_EQ(Sample(legacy, "pg_stat_bgwriter_buffers_backend_total"), 340);
  EXPECT_EQ(Sample(legacy, "pg_stat_bgwriter_stats_reset_total"), 1700000000);
  EXPECT_TRUE(testing::ValidExposition(plain));
  EXPECT_TRUE(testing::ValidExposition(legacy));
}

TEST(StatCheckpointerCollectorTest, NothingToAskBefore17) {
  EXPECT_EQ(Make(false, "stat_checkpointer")->Query(testing::ServerAt(160004)),
            "");
  EXPECT_THAT(
      Make(false, "stat_checkpointer")->Query(testing::ServerAt(170000)),
      Not(HasSubstr("num_done")));
  EXPECT_THAT(
      Make(false, "stat_checkpointer")->Query(testing::ServerAt(180000)),
      HasSubstr(", num_done"));
  Families out;
  Make(false, "stat_checkpointer")
      ->Parse(testing::ServerAt(170000),
              MakeRows({"num_timed", "write_time"}, {{"3", "25.5"}}), out);
  EXPECT_EQ(Sample(out, "pg_stat_checkpointer_num_timed_total"), 3);
  EXPECT_EQ(Sample(out, "pg_stat_checkpointer_write_time_total"), 25.5);
  EXPECT_EQ(FindFamily(out, "pg_stat_checkpointer_num_done_total"), nullptr);
}

TEST(StatDatabaseCollectorTest, SessionTimesFrom14InSeconds) {
  auto c = Make(false, "stat_database");
  EXPECT_THAT(c->Query(testing::ServerAt(130000)),
              Not(HasSubstr("active_time")));
  EXPECT_THAT(c->Query(testing::ServerAt(140000)),
              HasSubstr("active_time, session_time"));
  Families out;
  c->Parse(testing::ServerAt(140000),
           MakeRows({"datid", "datname", "xact_commit", "deadlocks",
                     "active_time", "numbackends"},
                    {{"5", "app", "100", "2", "1500", "3"}}),
           out);
  EXPECT_EQ(Sample(out, "pg_stat_database_deadlocks",
                   {{"datid", "5"}, {"datname", "app"}}),
            2);
  EXPECT_EQ(Sample(out, "pg_stat_database_active_time_seconds_total",
                   {{"datname", "app"}}),
            1.5);
  EXPECT_EQ(FindFamily(out, "pg_stat_database_xact_commit")->type,
            prometheus::MetricType::Untyped);
  EXPECT_EQ(FindFamily(out, "pg_stat_database_numbackends")->type,
            prometheus::MetricType::Gauge);
  EXPECT_TRUE(testing::ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden
