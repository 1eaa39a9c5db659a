#include "exporter/target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>

#include "exporter/text.h"
#include "tests/fake_server.h"

namespace pgwarden::testing {
namespace {

// A collector whose query is its name and whose Parse emits one gauge with
// the number of rows, or throws when asked to.
class StubCollector : public Collector {
 public:
  StubCollector(std::string name, bool throw_in_parse = false,
                bool no_query = false)
      : name_(std::move(name)), throw_(throw_in_parse), no_query_(no_query) {}
  std::string_view Name() const override { return name_; }
  std::string Query(const ServerInfo&) const override {
    return no_query_ ? "" : name_;
  }
  mutable std::atomic<int> parses{0};
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    ++parses;
    if (throw_) throw std::runtime_error("cannot parse");
    FamilyBuilder("stub_" + name_ + "_rows", "rows",
                  prometheus::MetricType::Gauge)
        .Add(static_cast<double>(rows.size()))
        .MoveTo(out);
  }

 private:
  std::string name_;
  bool throw_, no_query_;
};

// Scripted database: fails to connect, fails named queries, or blocks in
// Run until released.
class FakeDatabase : public Database {
 public:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool connect_fails = false;
    std::set<std::string> failing_queries;
    bool block = false;
    bool released = false;
    int extra_rows = 0;  // changes the rows every query returns
    std::string error = "ERROR: relation does not exist";
    int runs = 0;
    int prepares = 0;
    std::vector<std::string> last_queries;
  };
  explicit FakeDatabase(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  ServerInfo Open(Clock::time_point) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    ++s_->prepares;
    if (s_->connect_fails)
      throw std::runtime_error("cannot connect to host=h: refused");
    ServerInfo info;
    info.version_num = 150004;
    info.version = "15.4 (Debian 15.4-1)";
    return info;
  }

  bool Run(const std::vector<Statement>& statements, Clock::time_point,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    std::unique_lock<std::mutex> lock(s_->mu);
    ++s_->runs;
    s_->last_queries.clear();
    for (const auto& s : statements) s_->last_queries.push_back(s.sql);
    const std::vector<std::string>& queries = s_->last_queries;
    s_->cv.notify_all();
    s_->cv.wait(lock, [&] { return !s_->block || s_->released; });
    for (size_t i = 0; i < queries.size(); ++i) {
      QueryResult r;
      r.ok = !s_->failing_queries.count(queries[i]);
      if (r.ok) {
        r.rows = testing::MakeRows({"x"}, {{"1"}, {"2"}});
        for (int k = 0; k < s_->extra_rows; ++k) r.rows.Add({std::string("3")});
      } else {
        r.error = s_->error;
      }
      on_result(i, std::move(r));
    }
    return true;
  }

  uint64_t ConnectionsOpened() const override { return 1; }

 private:
  std::shared_ptr<Shared> s_;
};

std::unique_ptr<Target> MakeTarget(
    std::shared_ptr<FakeDatabase::Shared> shared) {
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<StubCollector>("alpha"));
  collectors.push_back(std::make_unique<StubCollector>("beta"));
  collectors.push_back(std::make_unique<StubCollector>("gamma", true));
  collectors.push_back(std::make_unique<StubCollector>("delta", false, true));
  return std::make_unique<Target>(
      "host=h", std::make_unique<FakeDatabase>(shared), std::move(collectors));
}

Clock::time_point In(int ms) {
  return Clock::now() + std::chrono::milliseconds(ms);
}

// A scrape's families in one vector.
Families Scrape(Target& target, Clock::time_point deadline) {
  return target.Scrape(deadline).Flatten();
}

TEST(TargetTest, HealthyScrapeReportsEachCollector) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->failing_queries = {"beta"};
  auto target = MakeTarget(shared);
  const Families out = Scrape(*target, In(5000));
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "stub_alpha_rows"), 2);
  EXPECT_EQ(testing::FindFamily(out, "stub_beta_rows"), nullptr);
  EXPECT_EQ(CollectorSuccess(out, "alpha"), 1);
  EXPECT_EQ(CollectorSuccess(out, "beta"), 0);
  EXPECT_EQ(CollectorSuccess(out, "gamma"), 0);
  // No query for this server: Parse gets empty rows and succeeds.
  EXPECT_EQ(CollectorSuccess(out, "delta"), 1);
  EXPECT_EQ(Sample(out, "stub_delta_rows"), 0);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  EXPECT_EQ(Sample(out, "pg_static",
                   {{"version", "15.4 (Debian 15.4-1)"},
                    {"short_version", "15.4.0"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_exporter_scrapes_total"), 1);
  EXPECT_TRUE(Sample(out, "process_resident_memory_bytes").value_or(0) > 0);
  EXPECT_EQ(target->Status().last_error,
            "beta: ERROR: relation does not exist");
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(TargetTest, UnchangedRowsReuseTheLastParse) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  std::vector<std::unique_ptr<Collector>> collectors;
  auto* stub = new StubCollector("alpha");
  collectors.emplace_back(stub);
  Target target("host=h", std::make_unique<FakeDatabase>(shared),
                std::move(collectors));
  EXPECT_EQ(Sample(Scrape(target, In(5000)), "stub_alpha_rows"), 2);
  EXPECT_EQ(Sample(Scrape(target, In(5000)), "stub_alpha_rows"), 2);
  EXPECT_EQ(stub->parses, 1);
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->extra_rows = 1;
  }
  EXPECT_EQ(Sample(Scrape(target, In(5000)), "stub_alpha_rows"), 3);
  EXPECT_EQ(stub->parses, 2);
}

// Makes alpha's family (as a custom query named like a built-in collector's
// family does) and one of its own.
class Repeater : public StubCollector {
 public:
  Repeater() : StubCollector("repeater") {}
  void Parse(const ServerInfo&, const Rows&, Families& out) const override {
    FamilyBuilder("repeater_own", "own", prometheus::MetricType::Gauge)
        .Add(7)
        .MoveTo(out);
    FamilyBuilder("stub_alpha_rows", "again", prometheus::MetricType::Gauge)
        .Add(99)
        .MoveTo(out);
  }
};

TEST(TargetTest, AFamilyTwoCollectorsMakeIsServedOnceFromTheFirst) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<StubCollector>("alpha"));
  collectors.push_back(std::make_unique<Repeater>());
  Target target("host=h", std::make_unique<FakeDatabase>(shared),
                std::move(collectors));
  const Exposition first = target.Scrape(In(5000));
  const std::string text = Serialize(first);
  EXPECT_EQ(text.find("# HELP stub_alpha_rows"),
            text.rfind("# HELP stub_alpha_rows"));
  const Families out = first.Flatten();
  EXPECT_EQ(testing::SampleCount(out, "stub_alpha_rows"), 1u);
  EXPECT_EQ(Sample(out, "stub_alpha_rows"), 2);
  EXPECT_EQ(Sample(out, "repeater_own"), 7);
  EXPECT_EQ(CollectorSuccess(out, "repeater"), 1);
  EXPECT_TRUE(testing::ValidExposition(out));
  // Unchanged rows: the same trimmed part, so its text is cached too.
  const Exposition second = target.Scrape(In(5000));
  ASSERT_EQ(second.parts.size(), first.parts.size());
  EXPECT_EQ(second.parts[1], first.parts[1]);
  EXPECT_EQ(second.parts[1]->size(), 1u);
}

TEST(TargetTest, MinIntervalServesTheLastResultWithItsAge) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<StubCollector>("alpha"));
  collectors.push_back(std::make_unique<StubCollector>("beta"));
  TargetOptions options;
  options.min_interval_seconds = {{"alpha", 3600}};
  Target target("host=h", std::make_unique<FakeDatabase>(shared),
                std::move(collectors), options);
  const Families first = Scrape(target, In(5000));
  EXPECT_EQ(Sample(first, "pgwarden_collector_result_age_seconds",
                   {{"collector", "alpha"}}),
            0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Families second = Scrape(target, In(5000));
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    EXPECT_EQ(shared->last_queries, std::vector<std::string>{"beta"});
  }
  EXPECT_EQ(Sample(second, "stub_alpha_rows"),
            2);  // served from the last result
  EXPECT_EQ(CollectorSuccess(second, "alpha"), 1);
  EXPECT_GE(*Sample(second, "pgwarden_collector_result_age_seconds",
                    {{"collector", "alpha"}}),
            0.02);
  EXPECT_EQ(Sample(second, "pgwarden_collector_result_age_seconds",
                   {{"collector", "beta"}}),
            0);
  EXPECT_TRUE(testing::ValidExposition(second));
}

TEST(TargetTest, DatabaseDownStillAnswersWithZeros) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->connect_fails = true;
  auto target = MakeTarget(shared);
  const Families out = Scrape(*target, In(5000));
  EXPECT_EQ(Sample(out, "pg_up"), 0);
  for (const char* name : {"alpha", "beta", "gamma", "delta"}) {
    EXPECT_EQ(CollectorSuccess(out, name), 0) << name;
  }
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  EXPECT_EQ(Sample(out, "pgwarden_connection_errors_total"), 1);
  EXPECT_EQ(testing::FindFamily(out, "pg_static"), nullptr);
  EXPECT_TRUE(testing::ValidExposition(out));
  // Recovery needs no restart.
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->connect_fails = false;
  }
  const Families later = Scrape(*target, In(5000));
  EXPECT_EQ(Sample(later, "pg_up"), 1);
  EXPECT_EQ(CollectorSuccess(later, "alpha"), 1);
  EXPECT_EQ(Sample(later, "pg_exporter_scrapes_total"), 2);
}

TEST(TargetTest, ConcurrentScrapesShareOneCollection) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->block = true;
  auto target = MakeTarget(shared);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] {
      const Families out = Scrape(*target, In(30000));
      if (CollectorSuccess(out, "alpha") == 1) ++ok;
    });
  }
  {
    std::unique_lock<std::mutex> lock(shared->mu);
    shared->cv.wait(lock, [&] { return shared->runs >= 1; });
  }
  // Give every client time to arrive while the first collection is held.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->released = true;
  }
  shared->cv.notify_all();
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 16);
  EXPECT_EQ(shared->runs, 1);
  EXPECT_EQ(shared->prepares, 1);
}

TEST(TargetTest, DeadlineServesWhatFinishedAndZeroForTheRest) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->block = true;
  auto target = MakeTarget(shared);
  const Families out = Scrape(*target, In(200));
  // Connected, but no answer in time: the collectors that needed the
  // database report 0; the database itself did answer.
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(CollectorSuccess(out, "alpha"), 0);
  EXPECT_EQ(CollectorSuccess(out, "delta"), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  // A scrape while the first is still stuck joins it rather than piling a
  // second round of queries onto the database.
  const Families again = Scrape(*target, In(100));
  EXPECT_EQ(CollectorSuccess(again, "alpha"), 0);
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    EXPECT_EQ(shared->runs, 1);
    shared->released = true;
  }
  shared->cv.notify_all();
}

class PerDatabaseStub : public Collector {
 public:
  std::string_view Name() const override { return "tables"; }
  std::string Query(const ServerInfo&) const override {
    return "SELECT tables";
  }
  bool PerDatabase() const override { return true; }
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    FamilyBuilder f("stub_tables", "rows per database",
                    prometheus::MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i)
      f.Add({{"datname", RowView(rows, i).Text("datname")}}, 1);
    f.MoveTo(out);
  }
};

// A target over a FakeServer whose main connection is to "main", with one
// per-database collector visited every `interval_seconds`.
std::unique_ptr<Target> PerDatabaseTarget(
    const std::shared_ptr<testing::FakeServer>& server, double interval_seconds,
    bool keep_connections = false) {
  TargetOptions options;
  options.databases.open = [server](const std::string& name) {
    return std::make_unique<testing::FakeServerDatabase>(
        server, name.empty() ? "main" : name);
  };
  options.databases.keep_connections = keep_connections;
  options.databases.visit_timeout = std::chrono::seconds(3);
  options.min_interval_seconds = {{"tables", interval_seconds}};
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<PerDatabaseStub>());
  return std::make_unique<Target>(
      "host=h", std::make_unique<testing::FakeServerDatabase>(server, "main"),
      std::move(collectors), options);
}

// Scrapes until `done` holds for the answer (at most 5 s): the visitor
// works in the background.
Families ScrapeUntil(Target& target,
                     const std::function<bool(const Families&)>& done) {
  Families out;
  for (int i = 0; i < 500; ++i) {
    out = Scrape(target, In(5000));
    if (done(out)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return out;
}

TEST(TargetTest, PerDatabaseCollectorServesWhatItGotAndNamesTheFailedDatabase) {
  auto server = std::make_shared<testing::FakeServer>();
  server->SetDatabases({"app", "broken", "main"});
  server->Refuse("broken");
  auto target = PerDatabaseTarget(server, 60);
  const Families out = ScrapeUntil(*target, [](const Families& f) {
    return CountSamples(f, "stub_tables", {}) == 2 &&
           CollectorSuccess(f, "tables").has_value();
  });
  EXPECT_EQ(Sample(out, "stub_tables", {{"datname", "main"}}), 1);
  EXPECT_EQ(Sample(out, "stub_tables", {{"datname", "app"}}), 1);
  EXPECT_EQ(CollectorSuccess(out, "tables"), 0);
  EXPECT_EQ(Sample(out, "pgwarden_database_visit_errors_total",
                   {{"datname", "broken"}}),
            1);
  EXPECT_THAT(target->Status().last_error,
              ::testing::HasSubstr("tables: database \"broken\": FATAL"));
  // Within its interval no database is visited again, however often it is
  // scraped.
  for (int i = 0; i < 5; ++i) Scrape(*target, In(5000));
  EXPECT_EQ(server->Batches("app"), 1);
}

// A scrape never waits for a visit: a database whose queries hang leaves
// the collector unreported (neither success nor failure) until its visit
// ends, and the scrape answers at once.
TEST(TargetTest, AScrapeNeverWaitsForAVisit) {
  auto server = std::make_shared<testing::FakeServer>();
  server->SetDatabases({"main"});
  server->Hang("main");
  auto target = PerDatabaseTarget(server, 60);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // in its visit
  const auto start = Clock::now();
  const Families out = Scrape(*target, In(2000));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_FALSE(CollectorSuccess(out, "tables").has_value());
  EXPECT_EQ(CountSamples(out, "stub_tables", {}), 0u);
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 0);
}

TEST(TargetTest, DatabaseConnectionsCloseAfterEachVisitUnlessKept) {
  auto server = std::make_shared<testing::FakeServer>();
  server->SetDatabases({"app", "main"});
  auto closing = PerDatabaseTarget(server, 3600);
  Families out = ScrapeUntil(*closing, [](const Families& f) {
    return CountSamples(f, "stub_tables", {}) == 2;
  });
  EXPECT_EQ(server->Alive("app"), 0);  // closed after the visit
  EXPECT_EQ(Sample(out, "pgwarden_database_connections"), 1);
  closing.reset();
  server = std::make_shared<testing::FakeServer>();
  server->SetDatabases({"app", "main"});
  auto keeping = PerDatabaseTarget(server, 3600, true);
  out = ScrapeUntil(*keeping, [](const Families& f) {
    return CountSamples(f, "stub_tables", {}) == 2;
  });
  out = Scrape(*keeping, In(5000));
  EXPECT_EQ(server->Alive("app"), 1);
  // The main connection, app's and the visitor's own to main.
  EXPECT_EQ(Sample(out, "pgwarden_database_connections"), 3);
  EXPECT_EQ(Sample(out, "pgwarden_connections_opened_total"),
            server->Opens("app") + server->Opens("main"));
}

// A collector that needs something the server may lack, as stat_statements
// needs its extension.
class NeedsExtension : public StubCollector {
 public:
  NeedsExtension() : StubCollector("needy") {}
  std::string Notice(const ServerInfo& server) const override {
    return server.pgss_available ? "" : "install the extension";
  }
};

TEST(TargetTest, NoticesShowOnTheStatusAndAreNotErrors) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<NeedsExtension>());
  collectors.push_back(std::make_unique<StubCollector>("alpha"));
  Target target("host=h", std::make_unique<FakeDatabase>(shared),
                std::move(collectors));
  const Families out = Scrape(target, In(5000));
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 0);
  const TargetStatus status = target.Status();
  ASSERT_EQ(status.notices.size(), 1u);
  EXPECT_EQ(status.notices[0].first, "needy");
  EXPECT_EQ(status.notices[0].second, "install the extension");
  EXPECT_EQ(status.last_error, "");
}

TEST(TargetTest, PermissionErrorsCarryTheCollectorsHint) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->failing_queries = {"alpha"};
  shared->error = "ERROR: permission denied for function pg_ls_waldir";
  auto target = MakeTarget(shared);
  Scrape(*target, In(5000));
  EXPECT_EQ(target->Status().last_error,
            "alpha: ERROR: permission denied for function pg_ls_waldir (" +
                std::string(kNeedsPgMonitor) + ")");
}

TEST(TargetTest, TwoTargetsInOneProcessShareNothing) {
  auto one = std::make_shared<FakeDatabase::Shared>();
  auto two = std::make_shared<FakeDatabase::Shared>();
  two->connect_fails = true;
  auto first = MakeTarget(one);
  auto second = MakeTarget(two);
  std::thread other([&] {
    for (int i = 0; i < 3; ++i) Scrape(*second, In(5000));
  });
  Families out;
  for (int i = 0; i < 2; ++i) out = Scrape(*first, In(5000));
  other.join();
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_scrapes_total"), 2);
  EXPECT_EQ(Sample(out, "pgwarden_connection_errors_total"), 0);
  const Families down = Scrape(*second, In(5000));
  EXPECT_EQ(Sample(down, "pg_up"), 0);
  EXPECT_EQ(Sample(down, "pg_exporter_scrapes_total"), 4);
  EXPECT_EQ(Sample(down, "pgwarden_connection_errors_total"), 4);
  EXPECT_EQ(first->Status().last_error, "gamma: parse: cannot parse");
  EXPECT_THAT(second->Status().last_error, ::testing::HasSubstr("refused"));
}

}  // namespace
}  // namespace pgwarden::testing
