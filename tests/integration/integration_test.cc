// Integration tests against a real PostgreSQL named by PGWARDEN_TEST_DSN
// (a superuser on a throwaway cluster with pg_stat_statements preloaded;
// tests/run.sh starts one). Each test builds the situation it measures with
// its own sessions and asserts exact values.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <libpq-fe.h>

#include <pqxx/pqxx>
#include <thread>

#include "collectors/collector.h"
#include "collectors/custom.h"
#include "exporter/engine.h"
#include "exporter/session.h"
#include "exporter/text.h"
#include "tests/test_util.h"

namespace pgwarden {
namespace {

using ::testing::HasSubstr;
using testing::Sample;
using testing::SampleCount;
using testing::SumSamples;

constexpr char kDatabase[] = "pgwarden_it";

std::string BaseDsn() {
  const char* dsn = std::getenv("PGWARDEN_TEST_DSN");
  return dsn ? dsn : "";
}

std::string DsnFor(const std::string& dbname, const std::string& extra = "") {
  return BaseDsn() + " dbname=" + dbname + (extra.empty() ? "" : " " + extra);
}

// Polls `condition` every 50 ms for at most `seconds`.
bool WaitFor(const std::function<bool()>& condition, double seconds = 20) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

// A client session of the test's own, able to run statements in the
// background (statements that block). Ended by pg_terminate_backend in
// TearDown. Plain libpq: libpqxx 6.4 leaks a result when its connection is
// terminated inside exec(), which LeakSanitizer rightly reports.
class Client {
 public:
  explicit Client(const std::string& application_name,
                  const std::string& user = "postgres")
      : conn_(PQconnectdb(DsnFor(kDatabase, "application_name=" + application_name +
                                                " user=" + user)
                              .c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      throw std::runtime_error(std::string("client: ") + PQerrorMessage(conn_));
    }
    pid_ = PQbackendPID(conn_);
  }
  ~Client() {
    if (background_.valid()) background_.wait();
    PQfinish(conn_);
  }
  int pid() const { return pid_; }
  // Runs `sql` (several statements allowed) and waits for it.
  void Exec(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(res);
    const std::string error = PQresultErrorMessage(res);
    PQclear(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("client: " + error);
    }
  }
  // Starts `sql` without waiting for it; its outcome (usually termination
  // by the test's cleanup) is ignored.
  void Start(const std::string& sql) {
    background_ = std::async(std::launch::async, [this, sql] {
      PQclear(PQexec(conn_, sql.c_str()));
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
    });
  }

 private:
  PGconn* conn_;
  int pid_;
  std::future<void> background_;
};

class IntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(BaseDsn().empty())
        << "PGWARDEN_TEST_DSN is not set: run the integration tests through "
           "tests/run.sh, which starts a PostgreSQL for them";
    pqxx::connection admin(DsnFor("postgres"));
    pqxx::nontransaction tx(admin);
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = '" + std::string(kDatabase) + "'")
            .empty()) {
      tx.exec(std::string("CREATE DATABASE ") + kDatabase);
    }
    pqxx::connection db(DsnFor(kDatabase));
    pqxx::nontransaction t(db);
    t.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    t.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
        "'workload') THEN CREATE ROLE workload LOGIN; END IF; END $$");
    t.exec("GRANT ALL ON SCHEMA public TO workload");
  }

  void TearDown() override {
    // End every session the test started (blocked or sleeping), so tests
    // do not see each other's situations.
    pqxx::connection admin(DsnFor("postgres"));
    pqxx::nontransaction(admin).exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name LIKE 'it-%'");
    WaitFor([&] {
      return pqxx::nontransaction(admin)
                 .exec("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'it-%'")
                 .empty();
    });
    clients_.clear();
  }

  Client& NewClient(const std::string& name, const std::string& user = "postgres") {
    clients_.push_back(std::make_unique<Client>("it-" + name, user));
    return *clients_.back();
  }

  static std::unique_ptr<Engine> MakeEngine(
      const std::string& dbname, CollectorOptions options = {},
      std::vector<std::unique_ptr<Collector>> extra = {}) {
    if (options.long_running_thresholds_seconds.size() == 4) {
      options.long_running_thresholds_seconds = {1, 3600};
    }
    auto collectors = CreateCollectors(ResolveCollectors("all"), options);
    for (auto& c : extra) collectors.push_back(std::move(c));
    const Dsn dsn = WithSessionSettings(Dsn::Parse(DsnFor(dbname)), SessionSettings{});
    return std::make_unique<Engine>(dsn.Redacted(), NewPostgresDatabase(dsn),
                                    std::move(collectors));
  }

  static Families Scrape(Engine& engine, int timeout_ms = 10000) {
    return engine.Scrape(Clock::now() + std::chrono::milliseconds(timeout_ms));
  }

  static int WaitingOnLocks(pqxx::connection& c) {
    return pqxx::nontransaction(c)
        .exec("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
              "AND application_name LIKE 'it-%'")[0][0]
        .as<int>();
  }

  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_F(IntegrationTest, AllCollectorsSucceedAndOutputPassesPromtool) {
  auto engine = MakeEngine(kDatabase);
  const Families out = Scrape(*engine);
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  for (const auto& r : RegisteredCollectors()) {
    EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", r.name}}), 1) << r.name;
  }
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 0);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 1);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, LongRunningQuery) {
  Client& sleeper = NewClient("sleeper");
  sleeper.Start("SELECT pg_sleep(600)");
  pqxx::connection admin(DsnFor(kDatabase));
  ASSERT_TRUE(WaitFor([&] {
    return !pqxx::nontransaction(admin)
                .exec("SELECT 1 FROM pg_stat_activity WHERE pid = " +
                      std::to_string(sleeper.pid()) +
                      " AND state = 'active' AND now() - query_start > interval '1.2 s'")
                .empty();
  }));
  auto engine = MakeEngine(kDatabase);
  const Families out = Scrape(*engine);
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
                   {{"datname", kDatabase}, {"state", "active"},
                    {"application_name", "it-sleeper"}, {"usename", "postgres"},
                    {"backend_type", "client backend"}, {"wait_event_type", "Timeout"},
                    {"wait_event", "PgSleep"}}),
            1);
  // The exporter's own backend is not counted.
  EXPECT_EQ(SumSamples(out, "pg_stat_activity_count",
                       {{"datname", kDatabase}, {"application_name", "pgwarden"}}),
            0);
}

TEST_F(IntegrationTest, RowLockWithThreeWaiters) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction(admin).exec(
      "DROP TABLE IF EXISTS it_row; CREATE TABLE it_row (id int PRIMARY KEY, v int);"
      "INSERT INTO it_row VALUES (1, 0)");
  Client& holder = NewClient("holder");
  holder.Exec("BEGIN; UPDATE it_row SET v = v + 1 WHERE id = 1");
  Client& w1 = NewClient("w1");
  w1.Start("UPDATE it_row SET v = v + 1 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks(admin) == 1; }));
  NewClient("w2").Start("UPDATE it_row SET v = v + 1 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks(admin) == 2; }));
  NewClient("w3").Start("UPDATE it_row SET v = v + 1 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks(admin) == 3; }));

  auto engine = MakeEngine(kDatabase);
  const Families out = Scrape(*engine);
  // Blocking: one root (the holder, idle in transaction) blocks all three.
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", kDatabase}}), 3);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", kDatabase}}), 1);
  EXPECT_EQ(SampleCount(out, "pg_blocking_session_info"), 1u);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info",
                   {{"pid", std::to_string(holder.pid())}, {"datname", kDatabase},
                    {"usename", "postgres"}, {"application_name", "it-holder"},
                    {"state", "idle in transaction"}}),
            3);
  EXPECT_GT(*Sample(out, "pg_blocked_max_wait_seconds", {{"datname", kDatabase}}), 0);
  // Locks: the first waiter waits on the holder's transaction id (a lock
  // without a database that postgres_exporter's pg_locks_count never sees),
  // the other two on the tuple lock the first one holds.
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", kDatabase}, {"mode", "sharelock"}, {"locktype", "transactionid"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", kDatabase}, {"mode", "exclusivelock"}, {"locktype", "tuple"}}),
            2);
  EXPECT_EQ(SumSamples(out, "pg_locks_waiting"), 3);
  // Four sessions hold RowExclusiveLock on the table and on its index; the
  // tuple lock is held once and wanted twice.
  EXPECT_EQ(Sample(out, "pg_locks_count", {{"datname", kDatabase}, {"mode", "rowexclusivelock"}}),
            8);
  EXPECT_EQ(Sample(out, "pg_locks_count", {{"datname", kDatabase}, {"mode", "exclusivelock"}}), 3);
  EXPECT_EQ(Sample(out, "pg_locks_count", {{"datname", kDatabase}, {"mode", "accessexclusivelock"}}),
            0);
  EXPECT_GT(*Sample(out, "pg_locks_max_wait_seconds", {{"datname", kDatabase}}), 0);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, BlockingChainABC) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction(admin).exec(
      "DROP TABLE IF EXISTS it_a, it_b; CREATE TABLE it_a (id int PRIMARY KEY, v int);"
      "CREATE TABLE it_b (id int); INSERT INTO it_a VALUES (1, 0)");
  Client& a = NewClient("a");
  a.Exec("BEGIN; UPDATE it_a SET v = 1 WHERE id = 1");
  Client& b = NewClient("b");
  b.Start("BEGIN; LOCK TABLE it_b IN ACCESS EXCLUSIVE MODE; UPDATE it_a SET v = 2 WHERE id = 1");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks(admin) == 1; }));
  Client& c = NewClient("c");
  c.Start("SELECT * FROM it_b");
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks(admin) == 2; }));

  auto engine = MakeEngine(kDatabase);
  const Families out = Scrape(*engine);
  EXPECT_EQ(Sample(out, "pg_blocked_sessions", {{"datname", kDatabase}}), 2);
  EXPECT_EQ(Sample(out, "pg_blocking_root_sessions", {{"datname", kDatabase}}), 1);
  EXPECT_EQ(Sample(out, "pg_blocking_session_info",
                   {{"pid", std::to_string(a.pid())}, {"application_name", "it-a"}}),
            2);
  // B blocks C but is blocked itself: not a root.
  EXPECT_EQ(Sample(out, "pg_blocking_session_info", {{"pid", std::to_string(b.pid())}}),
            std::nullopt);
  EXPECT_EQ(Sample(out, "pg_locks_waiting",
                   {{"datname", kDatabase}, {"mode", "accesssharelock"}, {"locktype", "relation"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_locks_count",
                   {{"datname", kDatabase}, {"mode", "accessexclusivelock"}}),
            1);
  (void)c;
}

// "128MB" -> bytes, "5min" -> seconds, "on" -> 1, as SHOW prints them.
double ParseShow(const std::string& text) {
  if (text == "on") return 1;
  if (text == "off") return 0;
  size_t pos = 0;
  const double number = std::stod(text, &pos);
  const std::string unit = text.substr(pos);
  static const std::map<std::string, double> kFactor = {
      {"", 1},         {"B", 1},       {"kB", 1024},     {"MB", 1024.0 * 1024},
      {"GB", 1024.0 * 1024 * 1024},    {"TB", 1024.0 * 1024 * 1024 * 1024},
      {"us", 1e-6},    {"ms", 1e-3},   {"s", 1},         {"min", 60},
      {"h", 3600},     {"d", 86400}};
  return number * kFactor.at(unit);
}

TEST_F(IntegrationTest, SettingsEqualShow) {
  auto engine = MakeEngine(kDatabase);
  const Families out = Scrape(*engine);
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  const std::map<std::string, std::string> metrics = {
      {"max_connections", "pg_settings_max_connections"},
      {"shared_buffers", "pg_settings_shared_buffers_bytes"},
      {"work_mem", "pg_settings_work_mem_bytes"},
      {"maintenance_work_mem", "pg_settings_maintenance_work_mem_bytes"},
      {"effective_cache_size", "pg_settings_effective_cache_size_bytes"},
      {"max_wal_size", "pg_settings_max_wal_size_bytes"},
      {"wal_buffers", "pg_settings_wal_buffers_bytes"},
      {"checkpoint_timeout", "pg_settings_checkpoint_timeout_seconds"},
      {"random_page_cost", "pg_settings_random_page_cost"},
      {"seq_page_cost", "pg_settings_seq_page_cost"},
      {"fsync", "pg_settings_fsync"},
      {"autovacuum", "pg_settings_autovacuum"},
      {"max_locks_per_transaction", "pg_settings_max_locks_per_transaction"},
      {"autovacuum_max_workers", "pg_settings_autovacuum_max_workers"},
      {"superuser_reserved_connections", "pg_settings_superuser_reserved_connections"},
      {"effective_io_concurrency", "pg_settings_effective_io_concurrency"},
  };
  for (const auto& [setting, metric] : metrics) {
    const std::string shown = tx.exec("SHOW " + setting)[0][0].as<std::string>();
    const auto value = Sample(out, metric);
    ASSERT_TRUE(value.has_value()) << metric;
    EXPECT_DOUBLE_EQ(*value, ParseShow(shown)) << setting << " = " << shown;
  }
  // -1 stays -1 whatever the unit.
  EXPECT_EQ(tx.exec("SHOW log_min_duration_statement")[0][0].as<std::string>(), "-1");
  EXPECT_EQ(Sample(out, "pg_settings_log_min_duration_statement_seconds"), -1);
  // Other tests may leave a pending change behind (it survives until a
  // restart), so compare with the view rather than with 0.
  EXPECT_EQ(Sample(out, "pg_settings_pending_restart"),
            tx.exec("SELECT count(*) FROM pg_settings WHERE pending_restart")[0][0].as<double>());
}

TEST_F(IntegrationTest, StatStatementsTopNPlusOtherSumsMatchTheView) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  constexpr int kTables = 40, kLimit = 10;
  for (int i = 0; i < kTables; ++i) {
    tx.exec("CREATE TABLE IF NOT EXISTS it_s" + std::to_string(i) + " (x int)");
  }
  tx.exec("GRANT SELECT ON ALL TABLES IN SCHEMA public TO workload");
  tx.exec("SELECT pg_stat_statements_reset()");
  {
    Client& w = NewClient("stmts", "workload");
    for (int i = 0; i < kTables; ++i) {
      // Statement i runs i+1 times and costs more the larger i is, so the
      // ranking by execution time follows i.
      for (int k = 0; k <= i; ++k) {
        w.Exec("SELECT count(*) FROM it_s" + std::to_string(i) + ", generate_series(1, " +
               std::to_string(300 * (i + 1)) + ")");
      }
    }
  }
  CollectorOptions options;
  options.stat_statements_limit = kLimit;
  auto engine = MakeEngine(kDatabase, options);
  const Families out = Scrape(*engine);
  ASSERT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "stat_statements"}}), 1);

  const std::map<std::string, std::string> workload = {{"user", "workload"},
                                                       {"datname", kDatabase}};
  // At most N statements by queryid in all, plus one "other" per user and db.
  const auto* calls = testing::FindFamily(out, "pg_stat_statements_calls_total");
  ASSERT_NE(calls, nullptr);
  std::map<std::pair<std::string, std::string>, int> others;
  int by_queryid = 0;
  for (const auto& m : calls->metric) {
    std::string user, db, qid;
    for (const auto& l : m.label) {
      if (l.name == "user") user = l.value;
      if (l.name == "datname") db = l.value;
      if (l.name == "queryid") qid = l.value;
    }
    if (qid == "other") {
      const int seen = ++others[std::make_pair(user, db)];
      EXPECT_EQ(seen, 1) << "two 'other' series for " << user << "/" << db;
    } else {
      ++by_queryid;
    }
  }
  EXPECT_LE(by_queryid, kLimit);
  EXPECT_TRUE(others.count(std::make_pair(std::string("workload"), std::string(kDatabase))));

  const int version = tx.exec("SHOW server_version_num")[0][0].as<int>();
  const std::string exec_time = version >= 130000 ? "total_exec_time" : "total_time";
  const auto view = tx.exec(
      "SELECT sum(calls), sum(" + exec_time + ") / 1000, sum(rows) FROM pg_stat_statements "
      "WHERE userid = 'workload'::regrole AND dbid = (SELECT oid FROM pg_database "
      "WHERE datname = current_database())")[0];
  EXPECT_EQ(SumSamples(out, "pg_stat_statements_calls_total", workload), view[0].as<double>());
  EXPECT_NEAR(SumSamples(out, "pg_stat_statements_seconds_total", workload),
              view[1].as<double>(), 1e-9 + view[1].as<double>() * 1e-9);
  EXPECT_EQ(SumSamples(out, "pg_stat_statements_rows_total", workload), view[2].as<double>());
  // The busiest statement (it_s39: 40 calls, each the most expensive) has
  // the most execution time by far, so it keeps its own queryid.
  const auto top = tx.exec(
      "SELECT queryid::text FROM pg_stat_statements WHERE query LIKE '%it_s39%' "
      "AND userid = 'workload'::regrole")[0][0].as<std::string>();
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"user", "workload"}, {"queryid", top}}),
            40);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, MissingExtensionIsNotAScrapeError) {
  pqxx::connection admin(DsnFor("postgres"));
  pqxx::nontransaction(admin).exec("DROP EXTENSION IF EXISTS pg_stat_statements");
  auto engine = MakeEngine("postgres");
  const Families out = Scrape(*engine);
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 0);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "stat_statements"}}), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 0);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_calls_total"), 0u);
  EXPECT_FALSE(engine->Status().pgss_available);
}

std::string QuoteIdent(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

std::string QuoteLiteral(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// A value in libpq's key=value syntax.
std::string QuoteConninfo(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

TEST_F(IntegrationTest, HostileNamesAndQueryTextStayValid) {
  // Names are at most 63 bytes in PostgreSQL; the 10 KB string goes into
  // application_name (which the server truncates) and the query text.
  const std::string evil_db = "db\"} 1\nfake_metric{a=\"b\"} 1\n\\";
  const std::string evil_role = "r\"\\\n} 1\nfake_metric 1";
  const std::string long_text(10 * 1024, 'q');
  pqxx::connection admin(DsnFor("postgres"));
  pqxx::nontransaction tx(admin);
  tx.exec("DROP DATABASE IF EXISTS " + QuoteIdent(evil_db));
  // SQL_ASCII: the one encoding in which text that is not UTF-8 gets in, and
  // other databases' sessions then read it from pg_stat_activity as is.
  tx.exec("CREATE DATABASE " + QuoteIdent(evil_db) +
          " ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
  tx.exec("DROP ROLE IF EXISTS " + QuoteIdent(evil_role));
  tx.exec("CREATE ROLE " + QuoteIdent(evil_role) + " LOGIN SUPERUSER");
  {
    pqxx::connection evil(BaseDsn() + " dbname=" + QuoteConninfo(evil_db) +
                          " user=" + QuoteConninfo(evil_role));
    pqxx::nontransaction e(evil);
    e.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    e.exec("SET application_name = " + QuoteLiteral("app\"} 1\nfake_metric 1\\" + long_text));
    // pg_stat_statements keeps comments and identifiers (constants become
    // $n), so the hostile text reaches the query-text series.
    for (int i = 0; i < 3; ++i) {
      e.exec("SELECT 1 AS " + QuoteIdent(long_text.substr(0, 60) + "\n\"x") +
             " /* } 1\nfake_metric 1 \"\\ \xFF\xC3\x28 */, '" + long_text + "'");
    }
    e.exec("SET application_name = " + QuoteLiteral("it-\"} 1\nfake_metric 1"));
    // Valid UTF-8 but hostile query text in a UTF-8 database.
    Client& w = NewClient("hostile-sql");
    w.Exec("SELECT 1 /* } 1\nfake_metric 1 \"\\ */, '" + long_text + "'");

    // Default: no query text is read, every collector succeeds.
    auto engine = MakeEngine(kDatabase);
    const Families out = Scrape(*engine);
    EXPECT_EQ(Sample(out, "pg_up"), 1);
    const double all = static_cast<double>(ResolveCollectors("all").size());
    EXPECT_EQ(SumSamples(out, "pg_scrape_collector_success"), all)
        << engine->Status().last_error;
    // The hostile database and role show up as label values, intact.
    EXPECT_EQ(Sample(out, "pg_locks_count", {{"datname", evil_db}, {"mode", "sireadlock"}}), 0);
    EXPECT_GE(SumSamples(out, "pg_stat_statements_calls_total", {{"user", evil_role}}), 3);
    EXPECT_TRUE(testing::ValidExposition(out));

    // With query text, PostgreSQL itself refuses to convert the SQL_ASCII
    // database's text: that collector fails, with the reason, and only it.
    CollectorOptions options;
    options.stat_statements_include_query = true;
    options.stat_statements_query_length = 20000;
    auto text_engine = MakeEngine(kDatabase, options);
    const Families with_text = Scrape(*text_engine);
    EXPECT_EQ(Sample(with_text, "pg_scrape_collector_success", {{"collector", "stat_statements"}}),
              0);
    EXPECT_EQ(SumSamples(with_text, "pg_scrape_collector_success"), all - 1);
    EXPECT_THAT(text_engine->Status().last_error, HasSubstr("invalid byte sequence"));

    // Without those entries the hostile (valid) text becomes label values.
    pqxx::connection it_db(DsnFor(kDatabase));
    pqxx::nontransaction(it_db).exec("SELECT pg_stat_statements_reset()");
    w.Exec("SELECT 1 /* } 1\nfake_metric 1 \"\\ */, '" + long_text + "'");
    const Families cleaned = Scrape(*text_engine);
    EXPECT_EQ(SumSamples(cleaned, "pg_scrape_collector_success"), all)
        << text_engine->Status().last_error;
    EXPECT_GE(SampleCount(cleaned, "pg_stat_statements_query_id"), 1u);
    EXPECT_TRUE(testing::ValidExposition(cleaned));
    EXPECT_EQ(Serialize(cleaned).find("\nfake_metric"), std::string::npos);
  }
  tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
          QuoteLiteral(evil_db));
  pqxx::connection watcher(DsnFor("postgres"));
  WaitFor([&] {
    return pqxx::nontransaction(watcher)
        .exec("SELECT 1 FROM pg_stat_activity WHERE datname = " + QuoteLiteral(evil_db))
        .empty();
  });
  tx.exec("DROP DATABASE IF EXISTS " + QuoteIdent(evil_db));
}

// Reads the exporter session's own settings through a collector.
class SessionSettingsCollector : public Collector {
 public:
  std::string_view Name() const override { return "it_session"; }
  std::string Query(const ServerInfo&) const override {
    return "SELECT current_setting('application_name') AS app, "
           "current_setting('statement_timeout') AS st, "
           "current_setting('lock_timeout') AS lt, "
           "current_setting('transaction_read_only') AS ro";
  }
  void Parse(const ServerInfo&, const Rows& rows, Families& out) const override {
    RowView row(rows, 0);
    FamilyBuilder("it_session", "x", prometheus::MetricType::Gauge)
        .Add({{"app", row.Text("app")}, {"st", row.Text("st")},
              {"lt", row.Text("lt")}, {"ro", row.Text("ro")}},
             1)
        .MoveTo(out);
  }
};

TEST_F(IntegrationTest, SessionIsReadOnlyWithTimeouts) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<SessionSettingsCollector>());
  auto engine = MakeEngine(kDatabase, {}, std::move(extra));
  const Families out = Scrape(*engine);
  EXPECT_EQ(Sample(out, "it_session",
                   {{"app", "pgwarden"}, {"st", "5s"}, {"lt", "1s"}, {"ro", "on"}}),
            1);
}

class SleepCollector : public Collector {
 public:
  std::string_view Name() const override { return "it_sleep"; }
  std::string Query(const ServerInfo&) const override {
    return "SELECT pg_sleep(4) AS slept";
  }
  void Parse(const ServerInfo&, const Rows&, Families&) const override {}
};

TEST_F(IntegrationTest, SlowQueryIsCancelledAtTheDeadline) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<SleepCollector>());
  auto engine = MakeEngine(kDatabase, {}, std::move(extra));
  const Families out = Scrape(*engine, 800);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "it_sleep"}}), 0);
  // Collectors that ran before the slow one are served.
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "activity"}}), 1);
  EXPECT_GE(SampleCount(out, "pg_stat_activity_count"), 1u);
  // The server stopped working on it (cancelled, not abandoned), and the
  // connection is still the first one.
  pqxx::connection admin(DsnFor(kDatabase));
  EXPECT_TRUE(WaitFor([&] {
    return pqxx::nontransaction(admin)
        .exec("SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgwarden' "
              "AND state = 'active' AND datname = current_database()")
        .empty();
  }, 3));
  const Families next = Scrape(*engine, 800);
  EXPECT_EQ(Sample(next, "pg_up"), 1);
  EXPECT_EQ(Sample(next, "pgwarden_connections_opened_total"), 1);
}

// Reports how many prepared statements the exporter's session holds, and
// reads a test table whose shape a test changes.
class PreparedProbeCollector : public Collector {
 public:
  explicit PreparedProbeCollector(std::string name, std::string sql)
      : name_(std::move(name)), sql_(std::move(sql)) {}
  std::string_view Name() const override { return name_; }
  std::string Query(const ServerInfo&) const override { return sql_; }
  void Parse(const ServerInfo&, const Rows& rows, Families& out) const override {
    FamilyBuilder("it_" + name_, "x", prometheus::MetricType::Gauge)
        .Add(RowView(rows, 0).NumberOr("n", -1))
        .MoveTo(out);
  }

 private:
  std::string name_, sql_;
};

TEST_F(IntegrationTest, StatementsArePreparedOnceAndReused) {
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<PreparedProbeCollector>(
      "prepared", "SELECT count(*) AS n FROM pg_prepared_statements"));
  auto engine = MakeEngine(kDatabase, {}, std::move(extra));
  std::vector<double> counts;
  for (int i = 0; i < 4; ++i) {
    counts.push_back(Sample(Scrape(*engine), "it_prepared").value_or(-1));
  }
  // The server-info query, each collector with something to ask this
  // server, and the probe, from the second scrape on (per-database queries
  // run after the probe), and no growth after that.
  const Dsn dsn = WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), SessionSettings{});
  const ServerInfo server = NewPostgresDatabase(dsn)->Prepare(Clock::now() + std::chrono::seconds(10));
  double asking = 0;
  for (const auto& c : CreateCollectors(ResolveCollectors("all"), CollectorOptions{})) {
    asking += c->Query(server).empty() ? 0 : 1;
  }
  EXPECT_GT(asking, 20);
  EXPECT_EQ(counts[1], 1 + asking + 1);
  EXPECT_EQ(counts[2], counts[1]);
  EXPECT_EQ(counts[3], counts[1]);
}

TEST_F(IntegrationTest, ChangedResultShapeIsPreparedAgain) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  tx.exec("DROP TABLE IF EXISTS it_shape; CREATE TABLE it_shape (n int); INSERT INTO it_shape VALUES (3)");
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<PreparedProbeCollector>("shape", "SELECT * FROM it_shape"));
  auto engine = MakeEngine(kDatabase, {}, std::move(extra));
  EXPECT_EQ(Sample(Scrape(*engine), "it_shape"), 3);
  tx.exec("ALTER TABLE it_shape ADD COLUMN extra int");
  // The old plan's result type no longer fits: that scrape may fail the
  // collector once; the next one prepares the statement again.
  Scrape(*engine);
  const Families out = Scrape(*engine);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "shape"}}), 1);
  EXPECT_EQ(Sample(out, "it_shape"), 3);
  EXPECT_EQ(Sample(out, "pgwarden_connections_opened_total"), 1);
}

TEST_F(IntegrationTest, SixteenConcurrentScrapesShareOneRoundOfQueries) {
  pqxx::connection admin(DsnFor(kDatabase));
  std::vector<std::unique_ptr<Collector>> extra;
  extra.push_back(std::make_unique<PreparedProbeCollector>(
      "slow", "SELECT pg_sleep(0.5) AS slept, 1 AS n"));
  auto engine = MakeEngine(kDatabase, {}, std::move(extra));
  Scrape(*engine);  // connect and prepare first
  pqxx::nontransaction(admin).exec("SELECT pg_stat_statements_reset()");
  std::vector<std::thread> clients;
  std::atomic<int> served{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] {
      if (Sample(Scrape(*engine), "it_slow") == 1) ++served;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(served, 16);
  pqxx::nontransaction tx(admin);
  // All sixteen got their answer from one execution of each query...
  EXPECT_EQ(tx.exec("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                    "WHERE query LIKE '%pg_sleep%slept%'")[0][0].as<int>(),
            1);
  EXPECT_EQ(tx.exec("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                    "WHERE query LIKE '%FROM pg_settings%vartype%'")[0][0].as<int>(),
            1);
  // ...over the one connection the exporter holds.
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'pgwarden' AND datname = current_database()")[0][0].as<int>(),
            1);
}

TEST_F(IntegrationTest, OneConnectionReusedAndReopenedAfterTermination) {
  auto engine = MakeEngine(kDatabase);
  Scrape(*engine);
  Scrape(*engine);
  const Families second = Scrape(*engine);
  EXPECT_EQ(Sample(second, "pgwarden_connections_opened_total"), 1);
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'pgwarden' AND datname = current_database()")[0][0].as<int>(),
            1);
  tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE application_name = 'pgwarden' AND datname = current_database()");
  // The scrape that meets the dead connection may fail; the exporter
  // reconnects by itself within the next one.
  Scrape(*engine);
  const Families recovered = Scrape(*engine);
  EXPECT_EQ(Sample(recovered, "pg_up"), 1);
  EXPECT_EQ(Sample(recovered, "pgwarden_connections_opened_total"), 2);
}

// One line of tests/compat/postgres_exporter_families.txt.
struct CompatFamily {
  std::string name, pe_type, type;
  std::set<std::string> labels;
  int min_major = 0;
  std::string needs;
};

std::vector<CompatFamily> ReadCompatFamilies() {
  std::ifstream in(std::string(PGWARDEN_SOURCE_DIR) + "/tests/compat/postgres_exporter_families.txt");
  std::vector<CompatFamily> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    CompatFamily f;
    std::string labels;
    fields >> f.name >> f.pe_type >> f.type >> labels >> f.min_major >> f.needs;
    if (labels != "-") {
      std::istringstream l(labels);
      std::string label;
      while (std::getline(l, label, ',')) f.labels.insert(label);
    }
    out.push_back(f);
  }
  return out;
}

std::string TypeName(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter: return "counter";
    case prometheus::MetricType::Gauge: return "gauge";
    case prometheus::MetricType::Untyped: return "untyped";
    default: return "other";
  }
}

// A drop-in replacement: every family postgres_exporter's default
// collectors emit is here, with the same label names, on this major.
TEST_F(IntegrationTest, PostgresExporterFamiliesAreEmitted) {
  const auto families = ReadCompatFamilies();
  ASSERT_GT(families.size(), 100u);
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  const int major = tx.exec("SHOW server_version_num")[0][0].as<int>() / 10000;
  tx.exec("CREATE TABLE IF NOT EXISTS compat_t (id int PRIMARY KEY, v text)");
  tx.exec("INSERT INTO compat_t SELECT g, 'v' FROM generate_series(1, 100) g ON CONFLICT DO NOTHING");
  tx.exec("SELECT count(*) FROM compat_t");
  tx.exec("SELECT pg_create_physical_replication_slot('it_compat_slot', true) "
          "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = 'it_compat_slot')");
  auto engine = MakeEngine(kDatabase);
  const Families out = Scrape(*engine);
  tx.exec("SELECT pg_drop_replication_slot('it_compat_slot')");
  int checked = 0;
  for (const auto& f : families) {
    if (major < f.min_major) continue;
    if (f.needs != "-" && f.needs != "slot") continue;  // see the file's header
    const auto* family = testing::FindFamily(out, f.name);
    ASSERT_NE(family, nullptr) << f.name << " missing on PostgreSQL " << major;
    EXPECT_EQ(TypeName(family->type), f.type) << f.name;
    if (f.type != f.pe_type) {
      EXPECT_EQ(f.type, "untyped") << f.name << ": only promtool's lint may change a type";
    }
    ASSERT_FALSE(family->metric.empty()) << f.name;
    for (const auto& m : family->metric) {
      std::set<std::string> labels;
      for (const auto& l : m.label) labels.insert(l.name);
      EXPECT_EQ(labels, f.labels) << f.name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST_F(IntegrationTest, DeadlockIsCounted) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  tx.exec("DROP TABLE IF EXISTS dl; CREATE TABLE dl (id int PRIMARY KEY); "
          "INSERT INTO dl VALUES (1), (2); GRANT ALL ON dl TO workload");
  auto engine = MakeEngine(kDatabase);
  const auto deadlocks = [&] {
    return Sample(Scrape(*engine), "pg_stat_database_deadlocks", {{"datname", kDatabase}})
        .value_or(-1);
  };
  const double before = deadlocks();
  ASSERT_GE(before, 0);
  Client& a = NewClient("deadlock-a");
  Client& b = NewClient("deadlock-b");
  a.Exec("BEGIN; UPDATE dl SET id = id WHERE id = 1");
  b.Exec("BEGIN; UPDATE dl SET id = id WHERE id = 2");
  a.Start("UPDATE dl SET id = id WHERE id = 2");
  pqxx::connection watcher(DsnFor(kDatabase));
  ASSERT_TRUE(WaitFor([&] { return WaitingOnLocks(watcher) == 1; }));
  // b closes the cycle; one of the two is chosen as the deadlock victim.
  try {
    b.Exec("UPDATE dl SET id = id WHERE id = 1");
  } catch (const std::exception&) {
  }
  // A backend reports its statistics when idle outside a transaction or
  // when it exits; end both sessions so the count is flushed now.
  pqxx::nontransaction(watcher).exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name LIKE 'it-deadlock-%'");
  // The statistics collector (before 15) reports with a delay.
  EXPECT_TRUE(WaitFor([&] { return deadlocks() == before + 1; }));
}

TEST_F(IntegrationTest, IndexesAndPartitions) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  tx.exec("DROP TABLE IF EXISTS ix, ev, lp");
  tx.exec("CREATE TABLE ix (id int PRIMARY KEY, k int, body text)");
  tx.exec("INSERT INTO ix SELECT g, g % 10, 'x' FROM generate_series(1, 5000) g");
  tx.exec("CREATE INDEX ix_unused ON ix (body)");
  tx.exec("CREATE INDEX ix_used ON ix (k)");
  // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
  EXPECT_THROW(tx.exec("CREATE UNIQUE INDEX CONCURRENTLY ix_broken ON ix (k)"), std::exception);
  {
    // Its own session: a backend that exits reports its statistics at once
    // (before PostgreSQL 15 an idle one may hold them back).
    pqxx::connection reader(DsnFor(kDatabase));
    pqxx::nontransaction(reader).exec(
        "SET enable_seqscan = off; SELECT count(*) FROM ix WHERE k = 3");
  }
  tx.exec("CREATE TABLE ev (id int, at timestamptz) PARTITION BY RANGE (at)");
  tx.exec("CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM ('2030-01-01 00:00+00') TO ('2030-02-01 00:00+00')");
  tx.exec("CREATE TABLE ev_2 PARTITION OF ev FOR VALUES FROM ('2030-02-01 00:00+00') TO ('2030-03-01 00:00+00')");
  tx.exec("CREATE TABLE ev_max PARTITION OF ev FOR VALUES FROM ('2031-01-01 00:00+00') TO (MAXVALUE)");
  tx.exec("CREATE TABLE lp (id int, d date) PARTITION BY LIST (id)");
  tx.exec("CREATE TABLE lp_1 PARTITION OF lp FOR VALUES IN (1)");
  tx.exec("CREATE TABLE lp_d PARTITION OF lp DEFAULT");
  tx.exec("ANALYZE ix");
  auto engine = MakeEngine(kDatabase);
  const std::map<std::string, std::string> db = {{"datname", kDatabase}};
  // Index usage reaches the statistics a little later before PostgreSQL 15.
  Families out;
  ASSERT_TRUE(WaitFor([&] {
    out = Scrape(*engine);
    return !Sample(out, "pg_indexes_unused_size_bytes", {{"indexrelname", "ix_used"}});
  }));
  EXPECT_GT(Sample(out, "pg_indexes_unused_size_bytes",
                   {{"datname", kDatabase}, {"relname", "ix"}, {"indexrelname", "ix_unused"}})
                .value_or(0),
            0);
  // The primary key enforces uniqueness: never "unused".
  EXPECT_FALSE(Sample(out, "pg_indexes_unused_size_bytes", {{"indexrelname", "ix_pkey"}}));
  EXPECT_EQ(Sample(out, "pg_indexes_invalid", {{"indexrelname", "ix_broken"}}), 1);
  EXPECT_EQ(Sample(out, "pg_indexes_invalid_indexes", db), 1);
  EXPECT_GT(Sample(out, "pg_indexes_size_bytes", {{"datname", kDatabase}, {"type", "btree"}})
                .value_or(0),
            0);
  EXPECT_EQ(Sample(out, "pg_partitions_children", {{"relname", "ev"}}), 3);
  EXPECT_EQ(Sample(out, "pg_partitions_has_default", {{"relname", "ev"}}), 0);
  EXPECT_EQ(Sample(out, "pg_partitions_has_default", {{"relname", "lp"}}), 1);
  // 2030-03-01T00:00:00Z: the newest finite upper bound (MAXVALUE ignored).
  EXPECT_EQ(Sample(out, "pg_partitions_range_upper_bound_timestamp_seconds",
                   {{"datname", kDatabase}, {"schemaname", "public"}, {"relname", "ev"}}),
            1898553600);
  EXPECT_FALSE(Sample(out, "pg_partitions_range_upper_bound_timestamp_seconds",
                      {{"relname", "lp"}}));
  tx.exec("DROP TABLE ix, ev, lp");
}

// stat_user_tables and statio_user_tables read the statistics functions
// directly for the largest tables only; their values must be the views'.
TEST_F(IntegrationTest, TableStatisticsEqualTheViews) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  tx.exec("DROP TABLE IF EXISTS eq_t; CREATE TABLE eq_t (id int PRIMARY KEY, body text); "
          "ALTER TABLE eq_t ALTER body SET STORAGE EXTERNAL");  // TOASTed, uncompressed
  {
    // A session that exits reports its statistics at once; an idle one
    // may hold them back for seconds.
    pqxx::connection writer(DsnFor(kDatabase));
    pqxx::nontransaction(writer).exec(
        "INSERT INTO eq_t SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 2000) g; "
        "UPDATE eq_t SET body = 'short' WHERE id <= 10; DELETE FROM eq_t WHERE id > 1990; "
        "SELECT count(*) FROM eq_t; SET enable_seqscan = off; "
        "SELECT body FROM eq_t WHERE id = 5; SELECT length(body) FROM eq_t WHERE id = 500");
  }
  tx.exec("ANALYZE eq_t");
  auto engine = MakeEngine(kDatabase);
  const std::map<std::string, std::string> t = {{"datname", kDatabase}, {"relname", "eq_t"}};
  const std::vector<std::string> user_tables = {
      "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd",
      "n_tup_del", "n_tup_hot_upd", "n_live_tup", "n_dead_tup", "n_mod_since_analyze",
      "vacuum_count", "autovacuum_count", "analyze_count", "autoanalyze_count"};
  const std::vector<std::pair<std::string, std::string>> statio = {
      {"heap_blks_read", "heap_blocks_read"}, {"heap_blks_hit", "heap_blocks_hit"},
      {"idx_blks_read", "idx_blocks_read"},   {"idx_blks_hit", "idx_blocks_hit"},
      {"toast_blks_read", "toast_blocks_read"}, {"toast_blks_hit", "toast_blocks_hit"},
      {"tidx_blks_read", "tidx_blocks_read"}, {"tidx_blks_hit", "tidx_blocks_hit"}};
  // Statistics reach the views with a delay before PostgreSQL 15: compare
  // once both sides agree on the insert count, then every column.
  Families out;
  pqxx::result view, io;
  pqxx::connection viewer(DsnFor(kDatabase));
  ASSERT_TRUE(WaitFor([&] {
    out = Scrape(*engine);
    pqxx::nontransaction v(viewer);
    view = v.exec("SELECT * FROM pg_stat_user_tables WHERE relname = 'eq_t'");
    io = v.exec("SELECT * FROM pg_statio_user_tables WHERE relname = 'eq_t'");
    return !view.empty() && view[0]["n_tup_ins"].as<double>() == 2000 &&
           Sample(out, "pg_stat_user_tables_n_tup_ins", t) == 2000 &&
           Sample(out, "pg_stat_user_tables_seq_scan", t) == view[0]["seq_scan"].as<double>() &&
           Sample(out, "pg_statio_user_tables_heap_blocks_hit", t) ==
               io[0]["heap_blks_hit"].as<double>();
  }));
  for (const auto& column : user_tables) {
    EXPECT_EQ(Sample(out, "pg_stat_user_tables_" + column, t),
              view[0][column].is_null() ? 0 : view[0][column].as<double>())
        << column;
  }
  for (const auto& [column, name] : statio) {
    EXPECT_EQ(Sample(out, "pg_statio_user_tables_" + name, t),
              io[0][column].is_null() ? 0 : io[0][column].as<double>())
        << column;
  }
  EXPECT_GT(Sample(out, "pg_statio_user_tables_toast_blocks_hit", t).value_or(0) +
                Sample(out, "pg_statio_user_tables_toast_blocks_read", t).value_or(0),
            0);
  EXPECT_GT(Sample(out, "pg_stat_user_tables_table_size_bytes", t).value_or(0), 8192);
  tx.exec("DROP TABLE eq_t");
}

// Per-database collectors visit every database over their own connections,
// never more than --max_database_connections at once.
TEST_F(IntegrationTest, PerDatabaseCollectorsVisitEveryDatabase) {
  pqxx::connection admin(DsnFor("postgres"));
  pqxx::nontransaction tx(admin);
  const std::vector<std::string> extra = {"pgwarden_it_a", "pgwarden_it_b", "pgwarden_it_c"};
  for (const auto& name : extra) {
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = '" + name + "'").empty()) {
      tx.exec("CREATE DATABASE " + name);
    }
    pqxx::connection db(DsnFor(name));
    pqxx::nontransaction(db).exec("CREATE TABLE IF NOT EXISTS t_" + name.substr(12) +
                                  " (id int); ANALYZE");
  }
  SessionSettings session;
  session.application_name = "it-pgwarden-multi";
  const Dsn dsn = WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), session);
  EngineOptions options;
  options.max_database_connections = 2;
  options.exclude_databases = {"pgwarden_it_c"};
  std::atomic<int> opened{0};
  options.open_database = [&](const std::string& dbname) {
    ++opened;
    Dsn other = dsn;
    other.Set("dbname", dbname);
    return NewPostgresDatabase(other);
  };
  Engine engine(dsn.Redacted(), NewPostgresDatabase(dsn),
                CreateCollectors({"stat_user_tables", "activity"}, CollectorOptions{}), options);
  std::atomic<int> most{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    pqxx::connection w(DsnFor("postgres"));
    while (!done) {
      const int n = pqxx::nontransaction(w)
                        .exec("SELECT count(*) FROM pg_stat_activity "
                              "WHERE application_name = 'it-pgwarden-multi'")[0][0]
                        .as<int>();
      most = std::max(most.load(), n);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  Families out;
  for (int i = 0; i < 3; ++i) out = Scrape(engine);
  done = true;
  watcher.join();
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "stat_user_tables"}}), 1);
  const auto count = [&](const std::map<std::string, std::string>& labels) {
    return testing::CountSamples(out, "pg_stat_user_tables_seq_scan", labels);
  };
  EXPECT_EQ(count({{"datname", "pgwarden_it_a"}, {"relname", "t_a"}}), 1u);
  EXPECT_EQ(count({{"datname", "pgwarden_it_b"}, {"relname", "t_b"}}), 1u);
  EXPECT_EQ(count({{"datname", "pgwarden_it_c"}}), 0u);
  EXPECT_GE(count({{"datname", kDatabase}}), 1u);
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(Sample(out, "pgwarden_database_connections"), 2);
  // Three extra databases to visit (postgres, a, b) but one spare
  // connection: each scrape reopens them in turn, all counted.
  EXPECT_GE(opened.load(), 3);
  EXPECT_EQ(Sample(out, "pgwarden_connections_opened_total"), 1 + opened.load());
  EXPECT_TRUE(testing::ValidExposition(out));
}

// With the default minimum interval, per-database connections close after
// each visit: a database pgwarden reads can be dropped right after.
TEST_F(IntegrationTest, PerDatabaseConnectionsDoNotBlockDropDatabase) {
  pqxx::connection admin(DsnFor("postgres"));
  pqxx::nontransaction tx(admin);
  tx.exec("DROP DATABASE IF EXISTS pgwarden_it_drop");
  tx.exec("CREATE DATABASE pgwarden_it_drop");
  {
    pqxx::connection db(DsnFor("pgwarden_it_drop"));
    pqxx::nontransaction(db).exec("CREATE TABLE t_drop (id int)");
  }
  const Dsn dsn = WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), SessionSettings{});
  EngineOptions options;
  options.min_interval_seconds = {{"stat_user_tables", 60}};
  options.open_database = [&](const std::string& dbname) {
    Dsn other = dsn;
    other.Set("dbname", dbname);
    return NewPostgresDatabase(other);
  };
  Engine engine(dsn.Redacted(), NewPostgresDatabase(dsn),
                CreateCollectors({"stat_user_tables"}, CollectorOptions{}), options);
  const Families out = Scrape(engine);
  EXPECT_EQ(testing::CountSamples(out, "pg_stat_user_tables_seq_scan",
                                  {{"datname", "pgwarden_it_drop"}, {"relname", "t_drop"}}),
            1u);
  EXPECT_EQ(Sample(out, "pgwarden_database_connections"), 1);
  EXPECT_NO_THROW(tx.exec("DROP DATABASE pgwarden_it_drop"));
}

TEST_F(IntegrationTest, CustomQueryTimeoutFailsOnlyThatQuery) {
  auto queries = ParseCustomQueries(R"yaml(
pg_it_fast:
  query: "SELECT 'x' AS tag, 42 AS v"
  metrics:
    - tag: {usage: LABEL, description: "tag"}
    - v: {usage: GAUGE, description: "v"}
pg_it_slow:
  query: "SELECT 1 AS v FROM pg_sleep(3)"
  timeout_seconds: 0.3
  metrics:
    - v: {usage: GAUGE, description: "v"}
)yaml", "it.yaml");
  std::vector<std::unique_ptr<Collector>> extra;
  for (auto& q : queries) extra.push_back(NewCustomCollector(q, false));
  auto engine = MakeEngine(kDatabase, {}, std::move(extra));
  const auto start = Clock::now();
  const Families out = Scrape(*engine);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(Sample(out, "pg_it_fast_v", {{"tag", "x"}}), 42);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "pg_it_slow"}}), 0);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "activity"}}), 1);
  EXPECT_LT(seconds, 2.5);  // cancelled by its own timeout, not the 3 s sleep
  EXPECT_THAT(engine->Status().last_error, HasSubstr("statement timeout"));
}

TEST_F(IntegrationTest, UnreachableServerAnswersPgUpZero) {
  const Dsn dsn = WithSessionSettings(Dsn::Parse("host=127.0.0.1 port=1 user=x password=hunter2"),
                                      SessionSettings{});
  Engine engine(dsn.Redacted(), NewPostgresDatabase(dsn),
                CreateCollectors(ResolveCollectors("default"), CollectorOptions{}));
  const Families out = Scrape(engine, 3000);
  EXPECT_EQ(Sample(out, "pg_up"), 0);
  EXPECT_EQ(SumSamples(out, "pg_scrape_collector_success"), 0);
  EXPECT_EQ(SampleCount(out, "pg_scrape_collector_success"),
            ResolveCollectors("default").size());
  EXPECT_THAT(engine.Status().last_error, HasSubstr("cannot connect to host=127.0.0.1 port=1"));
  EXPECT_THAT(engine.Status().last_error, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, PendingRestartCountsChangedSettings) {
  pqxx::connection admin(DsnFor(kDatabase));
  pqxx::nontransaction tx(admin);
  const std::string current = tx.exec("SHOW max_locks_per_transaction")[0][0].as<std::string>();
  tx.exec("ALTER SYSTEM SET max_locks_per_transaction = " +
          std::to_string(std::stoi(current) + 1));
  tx.exec("SELECT pg_reload_conf()");
  auto engine = MakeEngine(kDatabase);
  const bool seen = WaitFor([&] {
    return Sample(Scrape(*engine), "pg_settings_pending_restart") == 1;
  });
  tx.exec("ALTER SYSTEM RESET max_locks_per_transaction");
  tx.exec("SELECT pg_reload_conf()");
  EXPECT_TRUE(seen);
  // PostgreSQL keeps the flag until a restart even after the change is
  // reverted, so this test runs last and asserts only the transition.
}

}  // namespace
}  // namespace pgwarden
