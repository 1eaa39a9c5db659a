#include "exporter/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <condition_variable>
#include <thread>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using testing::Sample;

// A collector whose query is its name and whose Parse emits one gauge with
// the number of rows, or throws when asked to.
class StubCollector : public Collector {
 public:
  StubCollector(std::string name, bool throw_in_parse = false, bool no_query = false)
      : name_(std::move(name)), throw_(throw_in_parse), no_query_(no_query) {}
  std::string_view Name() const override { return name_; }
  std::string Query(const ServerInfo&) const override { return no_query_ ? "" : name_; }
  mutable std::atomic<int> parses{0};
  void Parse(const ServerInfo&, const Rows& rows, Families& out) const override {
    ++parses;
    if (throw_) throw std::runtime_error("cannot parse");
    FamilyBuilder("stub_" + name_ + "_rows", "rows", prometheus::MetricType::Gauge)
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
    int runs = 0;
    int prepares = 0;
    std::vector<std::string> last_queries;
  };
  explicit FakeDatabase(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  ServerInfo Prepare(Clock::time_point) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    ++s_->prepares;
    if (s_->connect_fails) throw std::runtime_error("cannot connect to host=h: refused");
    ServerInfo info;
    info.version_num = 150004;
    info.version = "15.4 (Debian 15.4-1)";
    return info;
  }

  bool Run(const std::vector<std::string>& queries, const std::vector<int>&,
           Clock::time_point,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    std::unique_lock<std::mutex> lock(s_->mu);
    ++s_->runs;
    s_->last_queries = queries;
    s_->cv.notify_all();
    s_->cv.wait(lock, [&] { return !s_->block || s_->released; });
    for (size_t i = 0; i < queries.size(); ++i) {
      QueryResult r;
      r.ok = !s_->failing_queries.count(queries[i]);
      if (r.ok) {
        r.rows = testing::MakeRows({"x"}, {{"1"}, {"2"}});
        for (int k = 0; k < s_->extra_rows; ++k) r.rows.Add({std::string("3")});
      } else {
        r.error = "ERROR: relation does not exist";
      }
      on_result(i, std::move(r));
    }
    return true;
  }

  uint64_t ConnectionsOpened() const override { return 1; }

 private:
  std::shared_ptr<Shared> s_;
};

std::unique_ptr<Engine> MakeEngine(std::shared_ptr<FakeDatabase::Shared> shared) {
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<StubCollector>("alpha"));
  collectors.push_back(std::make_unique<StubCollector>("beta"));
  collectors.push_back(std::make_unique<StubCollector>("gamma", true));
  collectors.push_back(std::make_unique<StubCollector>("delta", false, true));
  return std::make_unique<Engine>("host=h", std::make_unique<FakeDatabase>(shared),
                                  std::move(collectors));
}

Clock::time_point In(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

TEST(EngineTest, HealthyScrapeReportsEachCollector) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->failing_queries = {"beta"};
  auto engine = MakeEngine(shared);
  const Families out = engine->Scrape(In(5000));
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "stub_alpha_rows"), 2);
  EXPECT_EQ(testing::FindFamily(out, "stub_beta_rows"), nullptr);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "alpha"}}), 1);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "beta"}}), 0);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "gamma"}}), 0);
  // No query for this server: Parse gets empty rows and succeeds.
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "delta"}}), 1);
  EXPECT_EQ(Sample(out, "stub_delta_rows"), 0);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  EXPECT_EQ(Sample(out, "pg_static", {{"version", "15.4 (Debian 15.4-1)"},
                                      {"short_version", "15.4.0"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_exporter_scrapes_total"), 1);
  EXPECT_TRUE(Sample(out, "process_resident_memory_bytes").value_or(0) > 0);
  EXPECT_EQ(engine->Status().last_error, "beta: ERROR: relation does not exist");
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(EngineTest, UnchangedRowsReuseTheLastParse) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  std::vector<std::unique_ptr<Collector>> collectors;
  auto* stub = new StubCollector("alpha");
  collectors.emplace_back(stub);
  Engine engine("host=h", std::make_unique<FakeDatabase>(shared), std::move(collectors));
  EXPECT_EQ(Sample(engine.Scrape(In(5000)), "stub_alpha_rows"), 2);
  EXPECT_EQ(Sample(engine.Scrape(In(5000)), "stub_alpha_rows"), 2);
  EXPECT_EQ(stub->parses, 1);
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->extra_rows = 1;
  }
  EXPECT_EQ(Sample(engine.Scrape(In(5000)), "stub_alpha_rows"), 3);
  EXPECT_EQ(stub->parses, 2);
}

TEST(EngineTest, MinIntervalServesTheLastResultWithItsAge) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<StubCollector>("alpha"));
  collectors.push_back(std::make_unique<StubCollector>("beta"));
  EngineOptions options;
  options.min_interval_seconds = {{"alpha", 3600}};
  Engine engine("host=h", std::make_unique<FakeDatabase>(shared), std::move(collectors),
                options);
  const Families first = engine.Scrape(In(5000));
  EXPECT_EQ(Sample(first, "pgwarden_collector_result_age_seconds", {{"collector", "alpha"}}), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Families second = engine.Scrape(In(5000));
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    EXPECT_EQ(shared->last_queries, std::vector<std::string>{"beta"});
  }
  EXPECT_EQ(Sample(second, "stub_alpha_rows"), 2);  // served from the last result
  EXPECT_EQ(Sample(second, "pg_scrape_collector_success", {{"collector", "alpha"}}), 1);
  EXPECT_GE(*Sample(second, "pgwarden_collector_result_age_seconds", {{"collector", "alpha"}}),
            0.02);
  EXPECT_EQ(Sample(second, "pgwarden_collector_result_age_seconds", {{"collector", "beta"}}), 0);
  EXPECT_TRUE(testing::ValidExposition(second));
}

TEST(EngineTest, DatabaseDownStillAnswersWithZeros) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->connect_fails = true;
  auto engine = MakeEngine(shared);
  const Families out = engine->Scrape(In(5000));
  EXPECT_EQ(Sample(out, "pg_up"), 0);
  for (const char* name : {"alpha", "beta", "gamma", "delta"}) {
    EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", name}}), 0) << name;
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
  const Families later = engine->Scrape(In(5000));
  EXPECT_EQ(Sample(later, "pg_up"), 1);
  EXPECT_EQ(Sample(later, "pg_scrape_collector_success", {{"collector", "alpha"}}), 1);
  EXPECT_EQ(Sample(later, "pg_exporter_scrapes_total"), 2);
}

TEST(EngineTest, ConcurrentScrapesShareOneCollection) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->block = true;
  auto engine = MakeEngine(shared);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] {
      const Families out = engine->Scrape(In(30000));
      if (Sample(out, "pg_scrape_collector_success", {{"collector", "alpha"}}) == 1) ++ok;
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

TEST(EngineTest, DeadlineServesWhatFinishedAndZeroForTheRest) {
  auto shared = std::make_shared<FakeDatabase::Shared>();
  shared->block = true;
  auto engine = MakeEngine(shared);
  const Families out = engine->Scrape(In(200));
  // Connected, but no answer in time: the collectors that needed the
  // database report 0; the database itself did answer.
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "alpha"}}), 0);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "delta"}}), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  // A scrape while the first is still stuck joins it rather than piling a
  // second round of queries onto the database.
  const Families again = engine->Scrape(In(100));
  EXPECT_EQ(Sample(again, "pg_scrape_collector_success", {{"collector", "alpha"}}), 0);
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    EXPECT_EQ(shared->runs, 1);
    shared->released = true;
  }
  shared->cv.notify_all();
}

// One database of a server for per-database collection: answers the
// discovery query with `databases` and every other query with one row
// naming itself; "broken" cannot be connected to.
class NamedDatabase : public Database {
 public:
  NamedDatabase(std::string name, std::vector<std::string> databases)
      : name_(std::move(name)), databases_(std::move(databases)) {}
  ServerInfo Prepare(Clock::time_point) override {
    if (name_ == "broken") throw std::runtime_error("FATAL: database \"broken\" is gone");
    ServerInfo info;
    info.version_num = 150000;
    info.database = name_;
    return info;
  }
  bool Run(const std::vector<std::string>& queries, const std::vector<int>&, Clock::time_point,
           const std::function<void(size_t, QueryResult)>& on_result) override {
    for (size_t i = 0; i < queries.size(); ++i) {
      QueryResult r;
      r.ok = true;
      if (queries[i].find("FROM pg_database") != std::string::npos) {
        r.rows = Rows({"datname"});
        for (const auto& d : databases_) r.rows.Add({d});
      } else {
        r.rows = testing::MakeRows({"datname"}, {{name_}});
      }
      on_result(i, std::move(r));
    }
    return true;
  }
  uint64_t ConnectionsOpened() const override { return 1; }

 private:
  std::string name_;
  std::vector<std::string> databases_;
};

class PerDatabaseStub : public Collector {
 public:
  std::string_view Name() const override { return "tables"; }
  std::string Query(const ServerInfo&) const override { return "SELECT tables"; }
  bool PerDatabase() const override { return true; }
  void Parse(const ServerInfo&, const Rows& rows, Families& out) const override {
    FamilyBuilder f("stub_tables", "rows per database", prometheus::MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) f.Add({{"datname", RowView(rows, i).Text("datname")}}, 1);
    f.MoveTo(out);
  }
};

TEST(EngineTest, PerDatabaseCollectorServesWhatItGotAndNamesTheFailedDatabase) {
  const std::vector<std::string> all = {"app", "broken", "main", "skipped"};
  EngineOptions options;
  options.exclude_databases = {"skipped"};
  std::vector<std::string> opened;
  options.open_database = [&](const std::string& name) {
    opened.push_back(name);
    return std::make_unique<NamedDatabase>(name, all);
  };
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<PerDatabaseStub>());
  Engine engine("host=h", std::make_unique<NamedDatabase>("main", all), std::move(collectors),
                options);
  const Families out = engine.Scrape(Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Sample(out, "stub_tables", {{"datname", "main"}}), 1);
  EXPECT_EQ(Sample(out, "stub_tables", {{"datname", "app"}}), 1);
  EXPECT_FALSE(Sample(out, "stub_tables", {{"datname", "skipped"}}));
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "tables"}}), 0);
  EXPECT_THAT(engine.Status().last_error, ::testing::HasSubstr("database \"broken\""));
  // The connected database is reused, never opened twice.
  EXPECT_EQ(opened, (std::vector<std::string>{"app", "broken"}));
}

TEST(EngineTest, OneConnectionMeansTheConnectedDatabaseOnly) {
  const std::vector<std::string> all = {"app", "main"};
  EngineOptions options;
  options.max_database_connections = 1;
  int opened = 0;
  options.open_database = [&](const std::string& name) {
    ++opened;
    return std::make_unique<NamedDatabase>(name, all);
  };
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<PerDatabaseStub>());
  Engine engine("host=h", std::make_unique<NamedDatabase>("main", all), std::move(collectors),
                options);
  const Families out = engine.Scrape(Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Sample(out, "stub_tables", {{"datname", "main"}}), 1);
  EXPECT_FALSE(Sample(out, "stub_tables", {{"datname", "app"}}));
  EXPECT_EQ(Sample(out, "pg_scrape_collector_success", {{"collector", "tables"}}), 1);
  EXPECT_EQ(opened, 0);
}

}  // namespace
}  // namespace pgwarden
