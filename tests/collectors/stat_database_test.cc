#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatDatabaseCollectorTest, SessionTimesFrom14InSeconds) {
  auto c = testing::NewCollector("stat_database");
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
}  // namespace pgwarden::testing
