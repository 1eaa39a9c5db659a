#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ReplicationSlotsCollectorTest, WalStatusFrom13) {
  EXPECT_THAT(testing::NewCollector("replication_slots")
                  ->Query(testing::ServerAt(120000)),
              Not(HasSubstr("wal_status")));
  EXPECT_THAT(testing::NewCollector("replication_slots")
                  ->Query(testing::ServerAt(130000)),
              HasSubstr("wal_status"));
  const Rows rows = MakeRows(
      {"slot_name", "database", "slot_type", "active", "wal_lsn_diff",
       "current_wal_lsn", "confirmed_flush_lsn", "safe_wal_size", "wal_status"},
      {{"standby1", "", "physical", "1", "4096", "90000", "\\N", "\\N",
        "reserved"},
       {"logical1", "app", "logical", "0", "1000000", "90000", "\\N", "5000",
        "extended"}});
  Families out;
  testing::NewCollector("replication_slots")
      ->Parse(testing::ServerAt(150000), rows, out);
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

}  // namespace
}  // namespace pgwarden::testing
