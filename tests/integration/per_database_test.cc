// Integration: per-database collectors (tables, indexes, partitions)
// across databases, and connections that never block DROP DATABASE.

#include <atomic>
#include <map>
#include <memory>

#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

TEST_F(IntegrationTest, IndexesAndPartitions) {
  pqxx::nontransaction& tx = Admin();
  tx.exec("DROP TABLE IF EXISTS ix, ev, lp");
  tx.exec("CREATE TABLE ix (id int PRIMARY KEY, k int, body text)");
  tx.exec(
      "INSERT INTO ix SELECT g, g % 10, 'x' FROM generate_series(1, 5000) g");
  tx.exec("CREATE INDEX ix_unused ON ix (body)");
  tx.exec("CREATE INDEX ix_used ON ix (k)");
  // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
  EXPECT_THROW(tx.exec("CREATE UNIQUE INDEX CONCURRENTLY ix_broken ON ix (k)"),
               std::exception);
  {
    // Its own session: a backend that exits reports its statistics at once
    // (before PostgreSQL 15 an idle one may hold them back).
    pqxx::connection reader(DsnFor(kDatabase));
    pqxx::nontransaction(reader).exec(
        "SET enable_seqscan = off; SELECT count(*) FROM ix WHERE k = 3");
  }
  tx.exec("CREATE TABLE ev (id int, at timestamptz) PARTITION BY RANGE (at)");
  tx.exec(
      "CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM ('2030-01-01 "
      "00:00+00') TO ('2030-02-01 00:00+00')");
  tx.exec(
      "CREATE TABLE ev_2 PARTITION OF ev FOR VALUES FROM ('2030-02-01 "
      "00:00+00') TO ('2030-03-01 00:00+00')");
  tx.exec(
      "CREATE TABLE ev_max PARTITION OF ev FOR VALUES FROM ('2031-01-01 "
      "00:00+00') TO (MAXVALUE)");
  tx.exec("CREATE TABLE lp (id int, d date) PARTITION BY LIST (id)");
  tx.exec("CREATE TABLE lp_1 PARTITION OF lp FOR VALUES IN (1)");
  tx.exec("CREATE TABLE lp_d PARTITION OF lp DEFAULT");
  tx.exec("ANALYZE ix");
  auto target = MakeTarget(kDatabase);
  const std::map<std::string, std::string> db = {{"datname", kDatabase}};
  // Index usage reaches the statistics a little later before PostgreSQL 15.
  Families out;
  ASSERT_TRUE(WaitFor([&] {
    out = Scrape(*target);
    return !Sample(out, "pg_indexes_unused_size_bytes",
                   {{"indexrelname", "ix_used"}});
  }));
  EXPECT_GT(Sample(out, "pg_indexes_unused_size_bytes",
                   {{"datname", kDatabase},
                    {"relname", "ix"},
                    {"indexrelname", "ix_unused"}})
                .value_or(0),
            0);
  // The primary key enforces uniqueness: never "unused".
  EXPECT_FALSE(Sample(out, "pg_indexes_unused_size_bytes",
                      {{"indexrelname", "ix_pkey"}}));
  EXPECT_EQ(Sample(out, "pg_indexes_invalid", {{"indexrelname", "ix_broken"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_indexes_invalid_indexes", db), 1);
  EXPECT_GT(Sample(out, "pg_indexes_size_bytes",
                   {{"datname", kDatabase}, {"type", "btree"}})
                .value_or(0),
            0);
  EXPECT_EQ(Sample(out, "pg_partitions_children", {{"relname", "ev"}}), 3);
  EXPECT_EQ(Sample(out, "pg_partitions_has_default", {{"relname", "ev"}}), 0);
  EXPECT_EQ(Sample(out, "pg_partitions_has_default", {{"relname", "lp"}}), 1);
  // 2030-03-01T00:00:00Z: the newest finite upper bound (MAXVALUE ignored).
  EXPECT_EQ(Sample(out, "pg_partitions_range_upper_bound_timestamp_seconds",
                   {{"datname", kDatabase},
                    {"schemaname", "public"},
                    {"relname", "ev"}}),
            1898553600);
  EXPECT_FALSE(Sample(out, "pg_partitions_range_upper_bound_timestamp_seconds",
                      {{"relname", "lp"}}));
  tx.exec("DROP TABLE ix, ev, lp");
}

// stat_user_tables and statio_user_tables read the statistics functions
// directly for the largest tables only; their values must be the views'.
TEST_F(IntegrationTest, TableStatisticsEqualTheViews) {
  pqxx::nontransaction& tx = Admin();
  tx.exec(
      "DROP TABLE IF EXISTS eq_t; CREATE TABLE eq_t (id int PRIMARY KEY, body "
      "text); "
      "ALTER TABLE eq_t ALTER body SET STORAGE EXTERNAL");  // TOASTed,
                                                            // uncompressed
  {
    // A session that exits reports its statistics at once; an idle one
    // may hold them back for seconds.
    pqxx::connection writer(DsnFor(kDatabase));
    pqxx::nontransaction(writer).exec(
        "INSERT INTO eq_t SELECT g, repeat(md5(g::text), 200) FROM "
        "generate_series(1, 2000) g; "
        "UPDATE eq_t SET body = 'short' WHERE id <= 10; DELETE FROM eq_t WHERE "
        "id > 1990; "
        "SELECT count(*) FROM eq_t; SET enable_seqscan = off; "
        "SELECT body FROM eq_t WHERE id = 5; SELECT length(body) FROM eq_t "
        "WHERE id = 500");
  }
  tx.exec("ANALYZE eq_t");
  auto target = MakeTarget(kDatabase);
  const std::map<std::string, std::string> t = {{"datname", kDatabase},
                                                {"relname", "eq_t"}};
  const std::vector<std::string> user_tables = {
      "seq_scan",         "seq_tup_read",        "idx_scan",
      "idx_tup_fetch",    "n_tup_ins",           "n_tup_upd",
      "n_tup_del",        "n_tup_hot_upd",       "n_live_tup",
      "n_dead_tup",       "n_mod_since_analyze", "vacuum_count",
      "autovacuum_count", "analyze_count",       "autoanalyze_count"};
  const std::vector<std::pair<std::string, std::string>> statio = {
      {"heap_blks_read", "heap_blocks_read"},
      {"heap_blks_hit", "heap_blocks_hit"},
      {"idx_blks_read", "idx_blocks_read"},
      {"idx_blks_hit", "idx_blocks_hit"},
      {"toast_blks_read", "toast_blocks_read"},
      {"toast_blks_hit", "toast_blocks_hit"},
      {"tidx_blks_read", "tidx_blocks_read"},
      {"tidx_blks_hit", "tidx_blocks_hit"}};
  // Statistics reach the views with a delay before PostgreSQL 15: compare
  // once both sides agree on the insert count, then every column.
  Families out;
  pqxx::result view, io;
  pqxx::connection viewer(DsnFor(kDatabase));
  ASSERT_TRUE(WaitFor([&] {
    out = Scrape(*target);
    pqxx::nontransaction v(viewer);
    view = v.exec("SELECT * FROM pg_stat_user_tables WHERE relname = 'eq_t'");
    io = v.exec("SELECT * FROM pg_statio_user_tables WHERE relname = 'eq_t'");
    return !view.empty() && view[0]["n_tup_ins"].as<double>() == 2000 &&
           Sample(out, "pg_stat_user_tables_n_tup_ins", t) == 2000 &&
           Sample(out, "pg_stat_user_tables_seq_scan", t) ==
               view[0]["seq_scan"].as<double>() &&
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
  EXPECT_GT(
      Sample(out, "pg_statio_user_tables_toast_blocks_hit", t).value_or(0) +
          Sample(out, "pg_statio_user_tables_toast_blocks_read", t).value_or(0),
      0);
  EXPECT_GT(Sample(out, "pg_stat_user_tables_table_size_bytes", t).value_or(0),
            8192);
  tx.exec("DROP TABLE eq_t");
}

// How many connections a target opened and held at once, as it holds them
// (the server's own count lags: a closed connection's backend takes a
// moment to exit). Shared: the visitor's threads may outlive the test.
struct ConnectionCounts {
  std::atomic<int> opened{0}, alive{0}, most_alive{0};
};

class CountedDatabase final : public Database {
 public:
  CountedDatabase(std::unique_ptr<Database> inner,
                  std::shared_ptr<ConnectionCounts> counts)
      : inner_(std::move(inner)), counts_(std::move(counts)) {
    ++counts_->opened;
    const int n = ++counts_->alive;
    for (int m = counts_->most_alive.load();
         n > m && !counts_->most_alive.compare_exchange_weak(m, n);) {
    }
  }
  ~CountedDatabase() override { --counts_->alive; }
  ServerInfo Open(Clock::time_point deadline) override {
    return inner_->Open(deadline);
  }
  bool Run(const std::vector<Statement>& statements, Clock::time_point deadline,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    return inner_->Run(statements, deadline, on_result);
  }
  uint64_t ConnectionsOpened() const override {
    return inner_->ConnectionsOpened();
  }

 private:
  std::unique_ptr<Database> inner_;
  std::shared_ptr<ConnectionCounts> counts_;
};

// Per-database collectors visit every database in the background over
// their own connections, never more than --max_database_connections at once.
TEST_F(IntegrationTest, PerDatabaseCollectorsVisitEveryDatabase) {
  pqxx::nontransaction& tx = Admin("postgres");
  const std::vector<std::string> extra = {"pgwarden_it_a", "pgwarden_it_b",
                                          "pgwarden_it_c"};
  for (const auto& name : extra) {
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = '" + name + "'")
            .empty()) {
      tx.exec("CREATE DATABASE " + name);
    }
    pqxx::connection db(DsnFor(name));
    pqxx::nontransaction(db).exec("CREATE TABLE IF NOT EXISTS t_" +
                                  name.substr(12) + " (id int); ANALYZE");
  }
  SessionSettings session;
  session.application_name = "it-pgwarden-multi";
  const Dsn dsn = WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), session);
  TargetOptions options;
  options.databases.max_connections = 2;  // the main one and one visitor's
  options.databases.exclude = {"pgwarden_it_c"};
  auto counts = std::make_shared<ConnectionCounts>();
  options.databases.open =
      [dsn, counts](const std::string& dbname) -> std::unique_ptr<Database> {
    Dsn other = dsn;
    if (!dbname.empty()) other.Set("dbname", dbname);
    return std::make_unique<CountedDatabase>(NewPostgresDatabase(other),
                                             counts);
  };
  Target target(
      dsn.Redacted(), NewPostgresDatabase(dsn),
      CreateCollectors({"stat_user_tables", "activity"}, CollectorOptions{}),
      options);
  std::atomic<int> most{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    pqxx::connection w(DsnFor("postgres"));
    while (!done) {
      const int n =
          pqxx::nontransaction(w)
              .exec(
                  "SELECT count(*) FROM pg_stat_activity "
                  "WHERE application_name = 'it-pgwarden-multi'")[0][0]
              .as<int>();
      most = std::max(most.load(), n);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto count = [](const Families& out,
                        const std::map<std::string, std::string>& labels) {
    return testing::CountSamples(out, "pg_stat_user_tables_seq_scan", labels);
  };
  // Visits run in the background, one database a second at most here.
  Families out;
  EXPECT_TRUE(WaitFor([&] {
    out = Scrape(target);
    return count(out, {{"relname", "t_a"}}) == 1 &&
           count(out, {{"relname", "t_b"}}) == 1 &&
           count(out, {{"datname", kDatabase}}) >= 1;
  }));
  done = true;
  watcher.join();
  EXPECT_EQ(CollectorSuccess(out, "stat_user_tables"), 1);
  EXPECT_EQ(count(out, {{"datname", "pgwarden_it_a"}, {"relname", "t_a"}}), 1u);
  EXPECT_EQ(count(out, {{"datname", "pgwarden_it_b"}, {"relname", "t_b"}}), 1u);
  EXPECT_EQ(count(out, {{"datname", "pgwarden_it_c"}}), 0u);
  // One visitor connection at a time, closed after each visit.
  EXPECT_EQ(counts->most_alive.load(), 1);
  EXPECT_GE(most.load(), 1);  // the server saw them, by application_name
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(Sample(out, "pgwarden_database_visits_total").value_or(0), 3);
  // The listing's connection and one per database visited so far.
  EXPECT_GE(counts->opened.load(), 4);
  out = Scrape(target);
  EXPECT_EQ(Sample(out, "pgwarden_connections_opened_total"),
            1 + counts->opened.load());
  EXPECT_TRUE(testing::ValidExposition(out));
}

// By default per-database connections close after each visit: a database
// pgwarden reads can be dropped right after.
TEST_F(IntegrationTest, PerDatabaseConnectionsDoNotBlockDropDatabase) {
  pqxx::nontransaction& tx = Admin("postgres");
  tx.exec("DROP DATABASE IF EXISTS pgwarden_it_drop");
  tx.exec("CREATE DATABASE pgwarden_it_drop");
  {
    pqxx::connection db(DsnFor("pgwarden_it_drop"));
    pqxx::nontransaction(db).exec("CREATE TABLE t_drop (id int)");
  }
  const Dsn dsn =
      WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), SessionSettings{});
  TargetOptions options;
  options.min_interval_seconds = {{"stat_user_tables", 60}};
  options.databases.open = [dsn](const std::string& dbname) {
    Dsn other = dsn;
    if (!dbname.empty()) other.Set("dbname", dbname);
    return NewPostgresDatabase(other);
  };
  Target target(dsn.Redacted(), NewPostgresDatabase(dsn),
                CreateCollectors({"stat_user_tables"}, CollectorOptions{}),
                options);
  // Until every database had its visit (then none is due for a minute) and
  // the last visit's connection is closed: a visit counts when its rows are
  // in, a moment before its connection goes. A kept connection never goes.
  Families out;
  EXPECT_TRUE(WaitFor([&] {
    out = Scrape(target);
    const auto known = Sample(out, "pgwarden_databases").value_or(0);
    return known > 0 &&
           Sample(out, "pgwarden_database_visits_total").value_or(0) >= known &&
           Sample(out, "pgwarden_database_connections") == 1;
  }));
  EXPECT_EQ(testing::CountSamples(
                out, "pg_stat_user_tables_seq_scan",
                {{"datname", "pgwarden_it_drop"}, {"relname", "t_drop"}}),
            1u);
  EXPECT_EQ(Sample(out, "pgwarden_database_connections"), 1);
  EXPECT_NO_THROW(tx.exec("DROP DATABASE pgwarden_it_drop"));
}

}  // namespace
}  // namespace pgwarden::testing
