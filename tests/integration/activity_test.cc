// Integration: every collector on a live server; long-running queries,
// lock waits, blocking chains and deadlocks built by the test.

#include <set>

#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

TEST_F(IntegrationTest, AllCollectorsSucceedAndOutputPassesPromtool) {
  auto target = MakeTarget(kDatabase);
  const Families out = Scrape(*target);
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  for (const auto& r : RegisteredCollectors()) {
    EXPECT_EQ(CollectorSuccess(out, r.name), 1) << r.name;
  }
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 0);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 1);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, LongRunningQuery) {
  Client& sleeper = NewClient("sleeper");
  sleeper.Start("SELECT pg_sleep(600)");
  ASSERT_TRUE(WaitFor([&] {
    return !Admin()
                .exec("SELECT 1 FROM pg_stat_activity WHERE pid = " +
                      std::to_string(sleeper.pid()) +
                      " AND state = 'active' AND now() - query_start > "
                      "interval '1.2 s'")
                .empty();
  }));
  auto target = MakeTarget(kDatabase);
  const Families out = Scrape(*target);
  EXPECT_EQ(Sample(out, "pg_long_running_queries",
                   {{"datname", kDatabase}, {"threshold_seconds", "1"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_long_running_queries",
                   {{"datname", kDatabase}, {"threshold_seconds", "3600"}}),
            0);
  EXPECT_GE(*Sample(out, "pg_stat_activity_max_query_duration_seconds",
                    {{"datname", kDatabase}, {"state", "active"}}),
            1.2);
  EXPECT_EQ(Sample(out, "pg_stat_activity_count",
                   {{"datname", kDatabase},
                    {"state", "active"},
                    {"application_name", "it-sleeper"},
                    {"usename", "postgres"},
                    {"backend_type", "client backend"},
                    {"wait_event_type", "Timeout"},
                    {"wait_event", "PgSleep"}}),
            1);
  // The exporter's own backend is not counted.
  EXPECT_EQ(
      SumSamples(out, "pg_stat_activity_count",
                 {{"datname", kDatabase}, {"application_name", "pgwarden"}}),
      0);
}

TEST_F(IntegrationTest, RowLockWithThreeWaiters) {
  Admin().exec(
      "DROP TABLE IF EXISTS it_row; CREATE TABLE it_row (id int PRIMARY KEY, v "
      "int);"
      "INSERT INTO it_row VALUES (1, 0)");
  Client& holder = NewClient("holder");
  holder.Exec("BEGIN; UPDATE it_row SET v = v + 1 WHERE id = 1");
  Client& w1 = NewClient("w1");
  w1.Start("UPDATE it_row SET v = v + 1 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 1; }));
  NewClient("w2").Start("UPDATE it_row SET v = v + 1 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 2; }));
  NewClient("w3").Start("UPDATE it_row SET v = v + 1 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 3; }));

  auto target = MakeTarget(kDatabase);
  const Families out = Scrape(*target);
  // Blocking: one root (the holder, idle in transaction) blocks all three.
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", kDatabase}}), 3);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", kDatabase}}),
            1);
  EXPECT_EQ(SampleCount(out, "pg_blocking_session_info"), 1u);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info",
                   {{"pid", std::to_string(holder.pid())},
                    {"datname", kDatabase},
                    {"usename", "postgres"},
                    {"application_name", "it-holder"},
                    {"state", "idle in transaction"}}),
            3);
  EXPECT_GT(
      *Sample(out, "pg_blocked_max_wait_seconds", {{"datname", kDatabase}}), 0);
  // Locks: the first waiter waits on the holder's transaction id (a lock
  // without a database that postgres_exporter's pg_locks_count never sees),
  // the other two on the tuple lock the first one holds.
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", kDatabase},
                    {"mode", "sharelock"},
                    {"locktype", "transactionid"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", kDatabase},
                    {"mode", "exclusivelock"},
                    {"locktype", "tuple"}}),
            2);
  EXPECT_EQ(SumSamples(out, "pg_locks_waiting"), 3);
  // Four sessions hold RowExclusiveLock on the table and on its index; the
  // tuple lock is held once and wanted twice.
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", kDatabase}, {"mode", "rowexclusivelock"}}),
            8);
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", kDatabase}, {"mode", "exclusivelock"}}),
            3);
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", kDatabase}, {"mode", "accessexclusivelock"}}),
            0);
  EXPECT_GT(*Sample(out, "pg_locks_max_wait_seconds", {{"datname", kDatabase}}),
            0);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, BlockingChainABC) {
  Admin().exec(
      "DROP TABLE IF EXISTS it_a, it_b; CREATE TABLE it_a (id int PRIMARY KEY, "
      "v int);"
      "CREATE TABLE it_b (id int); INSERT INTO it_a VALUES (1, 0)");
  Client& a = NewClient("a");
  a.Exec("BEGIN; UPDATE it_a SET v = 1 WHERE id = 1");
  Client& b = NewClient("b");
  b.Start(
      "BEGIN; LOCK TABLE it_b IN ACCESS EXCLUSIVE MODE; UPDATE it_a SET v = 2 "
      "WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 1; }));
  Client& c = NewClient("c");
  c.Start("SELECT * FROM it_b");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 2; }));

  auto target = MakeTarget(kDatabase);
  const Families out = Scrape(*target);
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", kDatabase}}), 2);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", kDatabase}}),
            1);
  EXPECT_EQ(
      Sample(out, "pg_blocking_session_info",
             {{"pid", std::to_string(a.pid())}, {"application_name", "it-a"}}),
      2);
  // B blocks C but is blocked itself: not a root.
  EXPECT_EQ(Sample(out, "pg_blocking_session_info",
                   {{"pid", std::to_string(b.pid())}}),
            std::nullopt);
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", kDatabase},
                    {"mode", "accesssharelock"},
                    {"locktype", "relation"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", kDatabase}, {"mode", "accessexclusivelock"}}),
            1);
  (void)c;
}

TEST_F(IntegrationTest, DeadlockIsCounted) {
  pqxx::nontransaction& tx = Admin();
  tx.exec(
      "DROP TABLE IF EXISTS dl; CREATE TABLE dl (id int PRIMARY KEY); "
      "INSERT INTO dl VALUES (1), (2); GRANT ALL ON dl TO workload");
  auto target = MakeTarget(kDatabase);
  const auto deadlocks = [&] {
    return Sample(Scrape(*target), "pg_stat_database_deadlocks",
                  {{"datname", kDatabase}})
        .value_or(-1);
  };
  const double before = deadlocks();
  ASSERT_GE(before, 0);
  Client& a = NewClient("deadlock-a");
  Client& b = NewClient("deadlock-b");
  a.Exec("BEGIN; UPDATE dl SET id = id WHERE id = 1");
  b.Exec("BEGIN; UPDATE dl SET id = id WHERE id = 2");
  a.Start("UPDATE dl SET id = id WHERE id = 2");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks() == 1; }));
  // b closes the cycle; one of the two is chosen as the deadlock victim.
  try {
    b.Exec("UPDATE dl SET id = id WHERE id = 1");
  } catch (const std::exception&) {
  }
  // A backend reports its statistics when idle outside a transaction or
  // when it exits; end both sessions so the count is flushed now.
  Admin().exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name LIKE 'it-deadlock-%'");
  // The statistics collector (before 15) reports with a delay.
  EXPECT_TRUE(WaitFor([&] { return deadlocks() == before + 1; }));
}

}  // namespace
}  // namespace pgwarden::testing
