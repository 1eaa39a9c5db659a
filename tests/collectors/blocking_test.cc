#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Collector> Make(int top = 5) {
  CollectorOptions options;
  options.blocking_top_roots = top;
  return testing::NewCollector("blocking", options);
}

const std::vector<std::string> kColumns = {
    "kind",  "pid",      "datname",     "usename", "application_name",
    "state", "blockers", "wait_seconds"};

std::vector<std::string> Session(const std::string& pid,
                                 const std::string& blockers,
                                 const std::string& wait = "\\N",
                                 const std::string& db = "app") {
  return {"session",   pid,
          db,          "u" + pid,
          "app" + pid, blockers.empty() ? "idle in transaction" : "active",
          blockers,    wait};
}

TEST(BlockingCollectorTest, WaitStartByVersion) {
  ServerInfo old_server, new_server;
  old_server.version_num = 130000;
  new_server.version_num = 140000;
  EXPECT_THAT(Make()->Query(old_server),
              ::testing::Not(HasSubstr("waitstart")));
  EXPECT_THAT(Make()->Query(new_server), HasSubstr("min(l.waitstart)"));
  EXPECT_THAT(Make()->Query(new_server), HasSubstr("wait_event_type = 'Lock'"));
}

TEST(BlockingCollectorTest, ChainHasOneRootBlockingTwo) {
  // 100 blocks 200 blocks 300.
  const Rows rows = MakeRows(
      kColumns,
      {Session("100", ""),
       Session("200", "100", "5"),
       Session("300", "200", "2"),
       {"database", "\\N", "app", "\\N", "\\N", "\\N", "\\N", "\\N"},
       {"database", "\\N", "quiet", "\\N", "\\N", "\\N", "\\N", "\\N"}});
  Families out;
  Make()->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", "app"}}), 2);
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", "quiet"}}), 0);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", "app"}}), 1);
  EXPECT_EQ(Sample(out, "pg_blocked_max_wait_seconds", {{"datname", "app"}}),
            5);
  EXPECT_EQ(SampleCount(out, "pg_blocking_session_info"), 1u);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info",
                   {{"pid", "100"},
                    {"usename", "u100"},
                    {"application_name", "app100"},
                    {"state", "idle in transaction"},
                    {"datname", "app"}}),
            2);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(BlockingCollectorTest, RootQueryOnlyWhenAsked) {
  CollectorOptions options;
  options.blocking_query_length = 40;
  auto with_query = testing::NewCollector("blocking", options);
  ServerInfo server;
  server.version_num = 150000;
  EXPECT_THAT(with_query->Query(server),
              HasSubstr("left(a.query, 40) AS query"));
  EXPECT_THAT(Make()->Query(server), HasSubstr("NULL::text AS query"));
  std::vector<std::string> columns = kColumns;
  columns.push_back("query");
  auto root = Session("100", "");
  root.push_back("UPDATE ledger SET balance = balance + 1 WHERE id = 1");
  auto waiter = Session("200", "100", "5");
  waiter.push_back("UPDATE ledger SET balance = 0");
  const Rows rows = MakeRows(columns, {root, waiter});
  Families out, without;
  with_query->Parse(server, rows, out);
  Make()->Parse(server, rows, without);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info",
                   {{"pid", "100"},
                    {"query",
                     "UPDATE ledger SET balance = balance + 1 WHERE id = 1"}}),
            1);
  EXPECT_EQ(Sample(without, "pg_blocking_session_info", {{"pid", "100"}}), 1);
  for (const auto& l : testing::FindFamily(without, "pg_blocking_session_info")
                           ->metric[0]
                           .label) {
    EXPECT_NE(l.name, "query");
  }
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(BlockingCollectorTest, RowLockWithThreeWaitersQueue) {
  // Waiter 2 waits for the tuple lock held by waiter 1; waiter 3 queues
  // behind both: all three are blocked, one root.
  const Rows rows = MakeRows(
      kColumns, {Session("10", ""), Session("11", "10", "3"),
                 Session("12", "11", "2"), Session("13", "11,12", "1")});
  Families out;
  Make()->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", "app"}}), 3);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", "app"}}), 1);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info", {{"pid", "10"}}), 3);
}

TEST(BlockingCollectorTest, TopKRootsOrderedBySessionsBlocked) {
  const Rows rows = MakeRows(
      kColumns, {Session("1", ""), Session("2", ""), Session("3", ""),
                 Session("21", "2"), Session("22", "2"), Session("31", "3"),
                 Session("11", "1"), Session("23", "2")});
  Families out;
  Make(2)->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", "app"}}), 3);
  EXPECT_EQ(SampleCount(out, "pg_blocking_session_info"), 2u);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info", {{"pid", "2"}}), 3);
  // Ties broken by the lower pid.
  EXPECT_EQ(Sample(out, "pg_blocking_session_info", {{"pid", "1"}}), 1);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info", {{"pid", "3"}}),
            std::nullopt);
}

TEST(BlockingCollectorTest, PreparedTransactionIsARoot) {
  // pg_blocking_pids() reports a prepared transaction as pid 0, which has no
  // pg_stat_activity row.
  const Rows rows = MakeRows(kColumns, {Session("50", "0", "9")});
  Families out;
  Make()->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(
      Sample(out, "pg_blocking_session_info",
             {{"pid", "0"}, {"datname", "app"}, {"state", "prepared or gone"}}),
      1);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", "app"}}), 1);
}

TEST(BlockingCollectorTest, DeadlockCycleHasNoRoot) {
  const Rows rows = MakeRows(kColumns, {Session("7", "8"), Session("8", "7")});
  Families out;
  Make()->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", "app"}}), 2);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", "app"}}),
            std::nullopt);
  EXPECT_EQ(SampleCount(out, "pg_blocking_session_info"), 0u);
}

TEST(BlockingCollectorTest, MalformedPidListThrows) {
  Families out;
  EXPECT_THROW(Make()->Parse(ServerInfo{},
                             MakeRows(kColumns, {Session("5", "1,x")}), out),
               std::runtime_error);
}

TEST(BlockingCollectorTest, HostileLabels) {
  std::vector<std::vector<std::string>> cells;
  int pid = 1000;
  for (const auto& s : testing::HostileStrings()) {
    const std::string root = std::to_string(pid++);
    cells.push_back({"session", root, s, s, s, s, "", "\\N"});
    cells.push_back(
        {"session", std::to_string(pid++), s, s, s, "active", root, "1"});
  }
  Families out;
  Make(100)->Parse(ServerInfo{}, MakeRows(kColumns, cells), out);
  EXPECT_EQ(SampleCount(out, "pg_blocking_session_info"),
            testing::HostileStrings().size());
  EXPECT_TRUE(testing::ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden::testing
