// Integration: 200 databases on one server. The per-database collectors
// visit them in the background: scrapes never wait, every database shows
// up within one interval and is visited at most once per interval, a
// dropped database disappears alone, and a locked one delays only itself.
// Runs once, on the integration stage's server (pg_stat_database.sessions
// needs PostgreSQL 14): its subject is the visitor, not the catalog.

#include <map>
#include <set>

#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

constexpr int kDatabases = 200;
constexpr double kInterval = 6;  // seconds, stat_user_tables' visits

std::string ManyName(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "pgwarden_many_%03d", i);
  return name;
}

class ManyDatabasesTest : public IntegrationTest {
 protected:
  void SetUp() override {
    pqxx::nontransaction& tx = Admin("postgres");
    Drop(tx);
    // One template with a table, copied: no connection to each database.
    tx.exec("CREATE DATABASE pgwarden_many_tpl");
    {
      pqxx::connection db(DsnFor("pgwarden_many_tpl"));
      pqxx::nontransaction(db).exec("CREATE TABLE many_t (id int)");
    }
    const bool file_copy =
        tx.exec("SHOW server_version_num")[0][0].as<int>() >= 150000;
    for (int i = 0; i < kDatabases; ++i) {
      tx.exec("CREATE DATABASE " + ManyName(i) + " TEMPLATE pgwarden_many_tpl" +
              (file_copy ? " STRATEGY FILE_COPY" : ""));
    }
  }

  void TearDown() override {
    locker_.reset();
    Drop(Admin("postgres"));
    IntegrationTest::TearDown();
  }

  static void Drop(pqxx::nontransaction& tx) {
    const pqxx::result r = tx.exec(
        "SELECT datname FROM pg_database WHERE datname LIKE 'pgwarden_many_%'");
    for (const auto& row : r) {
      tx.exec("DROP DATABASE IF EXISTS " + row[0].as<std::string>() +
              " WITH (FORCE)");
    }
  }

  // Sessions each database has had, by name (pg_stat_database.sessions).
  std::map<std::string, int64_t> Sessions() {
    std::map<std::string, int64_t> out;
    for (const auto& row :
         Admin("postgres")
             .exec("SELECT datname, sessions FROM pg_stat_database "
                   "WHERE datname LIKE 'pgwarden_many_0%' OR "
                   "datname LIKE 'pgwarden_many_1%'")) {
      out[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
    return out;
  }

  std::unique_ptr<pqxx::connection> locker_;
};

TEST_F(ManyDatabasesTest, VisitsStaySpreadBoundedAndIsolated) {
  const std::map<std::string, int64_t> sessions_before = Sessions();
  ASSERT_EQ(sessions_before.size(), static_cast<size_t>(kDatabases));
  const std::string locked = ManyName(3), dropped = ManyName(7);
  // A database whose catalog is locked: its visit waits for the lock until
  // the visit's deadline.
  locker_ = std::make_unique<pqxx::connection>(DsnFor(locked));
  pqxx::nontransaction(*locker_).exec(
      "BEGIN; LOCK TABLE pg_catalog.pg_class IN ACCESS EXCLUSIVE MODE");

  const Dsn dsn =
      WithSessionSettings(Dsn::Parse(DsnFor(kDatabase)), SessionSettings{});
  TargetOptions options;
  options.min_interval_seconds = {{"stat_user_tables", kInterval}};
  options.databases.max_connections = 4;  // three visits at once
  options.databases.visit_timeout = std::chrono::seconds(2);
  options.databases.open = [dsn](const std::string& dbname) {
    Dsn other = dsn;
    if (!dbname.empty()) other.Set("dbname", dbname);
    return NewPostgresDatabase(other);
  };
  Target target(
      dsn.Redacted(), NewPostgresDatabase(dsn),
      CreateCollectors({"stat_user_tables", "database"}, CollectorOptions{}),
      options);
  const auto start = Clock::now();
  const auto since = [&] {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  std::map<std::string, double> first_seen;
  Families out;
  bool dropped_yet = false;
  double last_scrape = 0;
  // Scrapes every second for about two and a half intervals, each with a
  // 2 s deadline.
  while (since() < 2.5 * kInterval) {
    const auto before = Clock::now();
    out = Scrape(target, 2000);
    const double took =
        std::chrono::duration<double>(Clock::now() - before).count();
    // The deadline holds (with room for a busy machine's scheduling).
    EXPECT_LT(took, 2.5) << "at " << since() << " s";
    EXPECT_EQ(Sample(out, "pg_up"), 1);
    const double now = since();
    const auto* f = FindFamily(out, "pg_stat_user_tables_seq_scan");
    for (size_t i = 0; f && i < f->metric.size(); ++i) {
      for (const auto& l : f->metric[i].label) {
        if (l.name == "datname") first_seen.emplace(l.value, now);
      }
    }
    if (!dropped_yet && now > kInterval / 2) {
      // Mid-run, maybe mid-visit.
      Admin("postgres").exec("DROP DATABASE " + dropped + " WITH (FORCE)");
      dropped_yet = true;
    }
    if (now > 1.5 * kInterval && locker_) {
      pqxx::nontransaction(*locker_).exec("ROLLBACK");
      locker_.reset();
    }
    last_scrape = now;
    std::this_thread::sleep_until(before + std::chrono::seconds(1));
  }
  // Every database but the locked one showed up within one interval (and a
  // scrape's second); the locked one after its lock went.
  for (int i = 0; i < kDatabases; ++i) {
    const std::string name = ManyName(i);
    if (name == dropped) continue;
    const auto it = first_seen.find(name);
    ASSERT_NE(it, first_seen.end()) << name << " never appeared";
    if (name != locked) {
      EXPECT_LE(it->second, kInterval + 1.5) << name;
    }
  }
  EXPECT_GT(first_seen.at(locked), 1.5 * kInterval);
  // The dropped database is gone from the answer; the others are served.
  EXPECT_EQ(
      CountSamples(out, "pg_stat_user_tables_seq_scan", {{"datname", dropped}}),
      0u);
  // The 199 others and their template (a database like any other).
  EXPECT_EQ(CountSamples(out, "pg_stat_user_tables_seq_scan",
                         {{"relname", "many_t"}}),
            static_cast<size_t>(kDatabases));
  EXPECT_EQ(CollectorSuccess(out, "stat_user_tables"), 1);
  EXPECT_EQ(CollectorSuccess(out, "database"), 1);
  EXPECT_GE(
      Sample(out, "pgwarden_database_visit_errors_total", {{"datname", locked}})
          .value_or(0),
      1);
  EXPECT_FALSE(Sample(out, "pgwarden_database_visit_errors_total",
                      {{"datname", dropped}})
                   .has_value());
  // At most one visit per interval: in 2.5 intervals, at most 3 sessions
  // each (a visit opens one and closes it).
  const std::map<std::string, int64_t> sessions_after = Sessions();
  for (const auto& [name, before] : sessions_before) {
    if (name == dropped) continue;
    // The locked database also had the locking session.
    const int64_t visits =
        sessions_after.at(name) - before - (name == locked ? 1 : 0);
    EXPECT_GE(visits, name == locked ? 1 : 2) << name;
    EXPECT_LE(visits, static_cast<int64_t>(last_scrape / kInterval) + 1)
        << name;
  }
  // Connections opened: one per visit and the listing's.
  EXPECT_LE(Sample(out, "pgwarden_connections_opened_total").value_or(0),
            1 + 1 + kDatabases * (last_scrape / kInterval + 1));
  EXPECT_TRUE(ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden::testing
