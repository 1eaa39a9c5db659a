#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

TEST(ReplicationCollectorTest, LegacyLagName) {
  CollectorOptions o;
  o.legacy_names = true;
  Families out;
  testing::NewCollector("replication", o)
      ->Parse(testing::ServerAt(150000),
              MakeRows({"lag", "is_replica", "last_replay", "replay_lag_bytes",
                        "replay_paused"},
                       {{"12.5", "1", "12.5", "8192", "1"}}),
              out);
  EXPECT_EQ(Sample(out, "pg_replication_lag_seconds"), 12.5);
  EXPECT_EQ(Sample(out, "pg_replication_lag"), 12.5);  // postgres_mixin's alert
  EXPECT_EQ(Sample(out, "pg_replication_replay_paused"), 1);
}

TEST(ReplicationCollectorTest, PrimaryReportsLastReplayZero) {
  Families out;
  testing::NewCollector("replication", CollectorOptions{})
      ->Parse(testing::ServerAt(150000),
              MakeRows({"lag", "is_replica", "last_replay", "replay_lag_bytes",
                        "replay_paused"},
                       {{"0", "0", "0", "", ""}}),
              out);
  EXPECT_EQ(Sample(out, "pg_replication_is_replica"), 0);
  EXPECT_EQ(Sample(out, "pg_replication_last_replay_seconds"), 0);
}

}  // namespace
}  // namespace pgwarden::testing
