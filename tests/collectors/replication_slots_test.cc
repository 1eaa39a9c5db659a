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

std::unique_ptr<Collector> Make(const std::string& name) {
  return std::move(CreateCollectors({name}, CollectorOptions{}).at(0));
}

TEST(ReplicationSlotsCollectorTest, WalStatusFrom13) {
  EXPECT_THAT(Make("replication_slots")->Query(testing::ServerAt(120000)),
              Not(HasSubstr("wal_status")));
  EXPECT_THAT(Make("replication_slots")->Query(testing::ServerAt(130000)),
              HasSubstr("wal_status"));
  const Rows rows = MakeRows(
      {"slot_name", "database", "slot_type", "active", "wal_lsn_diff",
       "current_wal_lsn", "confirmed_flush_lsn", "safe_wal_size", "wal_status"},
      {{"standby1", "", "physical", "1", "4096", "90000", "\\N", "\\N",
        "reserved"},
       {"logical1", "app", "logical", "0", "1000000", "90000", "\\N", "5000",
        "extended"}});
  Families out;
  Make("replication_slots")->Parse(testing::ServerAt(150000), rows, out);
  EXPECT_EQ(
      Sample(out, "pg_replication_slots_active", {{"slot_name", "standby1"}}),
      1);
  EXPECT_EQ(Sample(out, "pg_replication_slots_pg_wal_lsn_diff",
                   {{"slot_name", "logical1"}, {"database", "app"}}),
            1000000);
  EXPECT_EQ(Sample(out, "pg_replication_slots_slot_is_active",
                   {{"slot_name", "logical1"}, {"slot_type", "logical"}}),
            0);
  EXPECT_EQ(Sample(out, "pg_replication_slots_wal_status",
                   {{"slot_name", "standby1"}, {"wal_status", "reserved"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_replication_slots_safe_wal_size_bytes",
                   {{"slot_name", "logical1"}}),
            5000);
  EXPECT_FALSE(Sample(out, "pg_replication_slots_safe_wal_size_bytes",
                      {{"slot_name", "standby1"}}));
  EXPECT_EQ(FindFamily(out, "pg_replication_slots_slot_confirmed_flush_lsn"),
            nullptr);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(StatWalReceiverCollectorTest, FlushedLsnColumnByVersion) {
  EXPECT_THAT(Make("stat_wal_receiver")->Query(testing::ServerAt(120000)),
              HasSubstr("pg_wal_lsn_diff(received_lsn, '0/0') AS flushed_lsn"));
  EXPECT_THAT(Make("stat_wal_receiver")->Query(testing::ServerAt(130000)),
              HasSubstr("pg_wal_lsn_diff(flushed_lsn, '0/0') AS flushed_lsn"));
}

TEST(ReplicationCollectorTest, LegacyLagName) {
  CollectorOptions o;
  o.legacy_names = true;
  Families out;
  CreateCollectors({"replication"}, o)
      .at(0)
      ->Parse(testing::ServerAt(150000),
              MakeRows({"lag", "is_replica", "last_replay", "replay_lag_bytes",
                        "replay_paused"},
                       {{"12.5", "1", "12.5", "8192", "1"}}),
              out);
  EXPECT_EQ(Sample(out, "pg_replication_lag_seconds"), 12.5);
  EXPECT_EQ(Sample(out, "pg_replication_lag"), 12.5);  // postgres_mixin's alert
  EXPECT_EQ(Sample(out, "pg_replication_replay_paused"), 1);
}

}  // namespace
}  // namespace pgwarden
