#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<Collector> Make() { return testing::NewCollector("locks"); }

const std::vector<std::string> kColumns = {"kind",     "datname", "mode",
                                           "locktype", "count",   "max_wait"};

TEST(LocksCollectorTest, WaitStartByVersion) {
  for (int version : {120000, 130000}) {
    ServerInfo server;
    server.version_num = version;
    const std::string sql = Make()->Query(server);
    EXPECT_THAT(sql, Not(HasSubstr("waitstart"))) << version;
    EXPECT_THAT(sql, HasSubstr("now() - a.query_start"));
  }
  for (int version : {140000, 170000, 180000}) {
    ServerInfo server;
    server.version_num = version;
    EXPECT_THAT(Make()->Query(server),
                HasSubstr("coalesce(l.waitstart, a.query_start)"))
        << version;
  }
}

TEST(LocksCollectorTest, CountsWaitsAndZeroFills) {
  const Rows rows = MakeRows(
      kColumns, {{"held", "app", "rowexclusivelock", "", "4", "\\N"},
                 {"held", "app", "exclusivelock", "", "2", "\\N"},
                 {"waiting", "app", "sharelock", "transactionid", "1", "12.5"},
                 {"waiting", "app", "exclusivelock", "tuple", "2", "3"},
                 {"waiting", "", "accessexclusivelock", "object", "1", "\\N"},
                 {"database", "app", "\\N", "\\N", "0", "\\N"},
                 {"database", "other", "\\N", "\\N", "0", "\\N"}});
  Families out;
  Make()->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", "app"}, {"mode", "rowexclusivelock"}}),
            4);
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", "other"}, {"mode", "sireadlock"}}),
            0);
  EXPECT_EQ(SampleCount(out, "pg_locks_count"), 18u);  // 2 databases x 9 modes
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", "app"},
                    {"mode", "sharelock"},
                    {"locktype", "transactionid"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", "app"},
                    {"mode", "exclusivelock"},
                    {"locktype", "tuple"}}),
            2);
  EXPECT_EQ(Sample(out, "pg_locks_max_wait_seconds", {{"datname", "app"}}),
            12.5);
  EXPECT_EQ(Sample(out, "pg_locks_max_wait_seconds", {{"datname", "other"}}),
            0);
  // A NULL wait start (a wait that just began) counts the lock, wait 0.
  EXPECT_EQ(Sample(out, "pg_locks_max_wait_seconds", {{"datname", ""}}), 0);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(LocksCollectorTest, NoWaitsStillPrintsWaitingFamily) {
  Families out;
  Make()->Parse(
      ServerInfo{},
      MakeRows(kColumns, {{"database", "app", "\\N", "\\N", "0", "\\N"}}), out);
  ASSERT_NE(testing::FindFamily(out, "pg_locks_waiting"), nullptr);
  EXPECT_EQ(SampleCount(out, "pg_locks_waiting"), 0u);
}

TEST(LocksCollectorTest, HostileDatabaseNames) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& s : testing::HostileStrings()) {
    cells.push_back({"database", s, "\\N", "\\N", "0", "\\N"});
    cells.push_back({"waiting", s, "sharelock", "transactionid", "1", "1"});
  }
  Families out;
  Make()->Parse(ServerInfo{}, MakeRows(kColumns, cells), out);
  EXPECT_TRUE(testing::ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden::testing
