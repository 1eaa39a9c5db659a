#include "exporter/database_visitor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "tests/fake_server.h"

namespace pgwarden::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

std::vector<std::string> Names(const std::optional<VisitSchedule::Visit>& v) {
  return v ? std::vector<std::string>{v->database} : std::vector<std::string>{};
}

TEST(VisitScheduleTest, NewDatabasesAreDueAtOnceAndSpreadOverTheInterval) {
  VisitSchedule s({seconds(60)});
  s.SetDatabases({"b", "a", "c"}, kT0);
  // 60 s over three databases: one visit every 1 s at most (the cap), in
  // the order they were listed.
  EXPECT_EQ(s.Spacing(), seconds(1));
  Clock::time_point wake;
  auto v = s.Next(kT0, wake);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->database, "b");
  EXPECT_THAT(v->jobs, ElementsAre(0u));
  EXPECT_FALSE(s.Next(kT0, wake));  // the pace holds the next one back
  EXPECT_EQ(wake, kT0 + seconds(1));
  EXPECT_EQ(Names(s.Next(kT0 + seconds(1), wake)),
            (std::vector<std::string>{"a"}));
  s.Done(*v, kT0);
  EXPECT_EQ(Names(s.Next(kT0 + seconds(2), wake)),
            (std::vector<std::string>{"c"}));
  // b is next due one interval after its visit started.
  EXPECT_FALSE(s.Next(kT0 + seconds(30), wake));
  EXPECT_EQ(wake, kT0 + seconds(60));
}

TEST(VisitScheduleTest, ManyDatabasesShareTheShortestInterval) {
  VisitSchedule s({seconds(60), seconds(300)});
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i)
    names.push_back("db" + std::to_string(1000 + i));
  s.SetDatabases(names, kT0);
  EXPECT_EQ(s.Spacing(), milliseconds(300));
  // Visiting as fast as allowed: the round takes one interval, and each
  // database is visited once in it.
  std::map<std::string, int> visits;
  Clock::time_point now = kT0, wake;
  while (now < kT0 + seconds(60)) {
    auto v = s.Next(now, wake);
    if (!v) {
      now = wake;
      continue;
    }
    ++visits[v->database];
    EXPECT_THAT(v->jobs, ElementsAre(0u, 1u));  // both due on the first
    s.Done(*v, now);
  }
  EXPECT_EQ(visits.size(), 200u);
  for (const auto& [db, n] : visits) EXPECT_EQ(n, 1) << db;
}

TEST(VisitScheduleTest, LateWakeUpsDoNotStretchTheRound) {
  VisitSchedule s({seconds(60)});
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i)
    names.push_back("db" + std::to_string(1000 + i));
  s.SetDatabases(names, kT0);
  // A worker that always asks 20 ms after it was told to (a busy machine):
  // the round still ends within one interval, not 200 * 20 ms later.
  std::set<std::string> visited;
  Clock::time_point now = kT0, wake;
  while (now < kT0 + seconds(60) + milliseconds(20)) {
    auto v = s.Next(now, wake);
    if (!v) {
      now = wake + milliseconds(20);
      continue;
    }
    EXPECT_TRUE(visited.insert(v->database).second) << v->database;
    s.Done(*v, now);
  }
  EXPECT_EQ(visited.size(), 200u);
  // Nor does it run ahead: never two visits less than a spacing apart
  // unless the first was late by more than one.
  VisitSchedule pace({seconds(60)});
  pace.SetDatabases(names, kT0);
  ASSERT_TRUE(pace.Next(kT0, wake));
  EXPECT_FALSE(pace.Next(kT0 + milliseconds(299), wake));
  EXPECT_EQ(wake, kT0 + milliseconds(300));
  // Asked 1 s late: that visit goes, and so does the next one, at once...
  ASSERT_TRUE(pace.Next(kT0 + milliseconds(1300), wake));
  ASSERT_TRUE(pace.Next(kT0 + milliseconds(1300), wake));
  // ...then the pace holds again.
  EXPECT_FALSE(pace.Next(kT0 + milliseconds(1300), wake));
  EXPECT_EQ(wake, kT0 + milliseconds(1600));
}

TEST(VisitScheduleTest, AVisitRunsTheJobsDueThenOnly) {
  VisitSchedule s({seconds(10), seconds(30)});
  s.SetDatabases({"a"}, kT0);
  Clock::time_point wake;
  auto v = s.Next(kT0, wake);
  ASSERT_TRUE(v);
  s.Done(*v, kT0);
  v = s.Next(kT0 + seconds(10), wake);
  ASSERT_TRUE(v);
  EXPECT_THAT(v->jobs, ElementsAre(0u));
  s.Done(*v, kT0 + seconds(10));
  s.Done(*s.Next(kT0 + seconds(20), wake), kT0 + seconds(20));
  v = s.Next(kT0 + seconds(30), wake);
  ASSERT_TRUE(v);
  EXPECT_THAT(v->jobs, ElementsAre(0u, 1u));
}

TEST(VisitScheduleTest, ABusyDatabaseIsNotVisitedTwiceAndForgottenOnesEnd) {
  VisitSchedule s({milliseconds(100)});
  s.SetDatabases({"a", "b"}, kT0);
  Clock::time_point wake;
  auto a = s.Next(kT0, wake);
  ASSERT_TRUE(a);
  auto b = s.Next(kT0 + seconds(1), wake);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->database, "b");
  s.Done(*b, kT0 + seconds(1));
  // a is still in its visit, long overdue: only b comes up.
  EXPECT_EQ(Names(s.Next(kT0 + seconds(5), wake)),
            (std::vector<std::string>{"b"}));
  EXPECT_THAT(s.SetDatabases({"b", "c"}, kT0 + seconds(5)), ElementsAre("a"));
  s.Done(*a, kT0);  // a forgotten visit ends harmlessly
  EXPECT_FALSE(s.Has("a"));
  EXPECT_THAT(s.Databases(), ElementsAre("b", "c"));
}

// A collector that asks one statement per database and emits two
// families, the first with a series per row.
class Tables : public Collector {
 public:
  std::string_view Name() const override { return "tables"; }
  std::string Query(const ServerInfo&) const override { return "SELECT t"; }
  bool PerDatabase() const override { return true; }
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    FamilyBuilder f("tables_rows", "rows", prometheus::MetricType::Gauge);
    for (size_t i = 0; i < rows.size(); ++i) {
      f.Add({{"datname", RowView(rows, i).Text("datname")}}, 1);
    }
    f.MoveTo(out);
    FamilyBuilder("tables_visits", "visits", prometheus::MetricType::Counter)
        .Add(1)
        .MoveTo(out);
  }
};

class DatabaseVisitorTest : public ::testing::Test {
 protected:
  std::unique_ptr<DatabaseVisitor> Start(
      DatabaseVisitor::Options o, Clock::duration interval = seconds(60)) {
    o.open = [server = server_](const std::string& name) {
      return std::make_unique<FakeServerDatabase>(server,
                                                  name.empty() ? "main" : name);
    };
    return std::make_unique<DatabaseVisitor>(
        "host=h", std::move(o),
        std::vector<DatabaseVisitor::Job>{
            {std::make_shared<Tables>(), interval}});
  }

  // Waits (at most 5 s) until the job has results from `n` databases.
  static DatabaseVisitor::Results WaitFor(const DatabaseVisitor& v, size_t n) {
    DatabaseVisitor::Results r;
    for (int i = 0; i < 500; ++i) {
      r = v.ResultsOf(0);
      if (r.databases.size() >= n) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return r;
  }

  static std::vector<std::string> Visited(const DatabaseVisitor::Results& r) {
    std::vector<std::string> out;
    for (const auto& d : r.databases) out.push_back(d.database);
    return out;
  }

  std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
};

TEST_F(DatabaseVisitorTest, VisitsTheListedDatabasesIncludeAndExcludeAllow) {
  server_->SetDatabases({"app", "main", "scratch", "other"});
  DatabaseVisitor::Options o;
  o.exclude = {"scratch"};
  o.include = {"app", "main", "scratch"};
  auto v = Start(o);
  const auto r = WaitFor(*v, 2);
  EXPECT_THAT(Visited(r), ElementsAre("app", "main"));
  // Parsed in the visit: one part per family, the rows not kept.
  for (const auto& d : r.databases) {
    EXPECT_TRUE(d.ok) << d.error;
    EXPECT_FALSE(d.rows);
    ASSERT_EQ(d.parts.size(), 2u);
    EXPECT_EQ(Sample(*d.parts[0], "tables_rows", {{"datname", d.database}}), 1);
    EXPECT_EQ(d.parts[1]->front().name, "tables_visits");
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(server_->Opens("scratch"), 0);
  EXPECT_EQ(server_->Opens("other"), 0);
  // Closed after each visit; the listing's connection too.
  EXPECT_EQ(server_->Alive("app"), 0);
  EXPECT_EQ(server_->Alive("main"), 0);
  EXPECT_EQ(v->OpenConnections(), 0u);
  EXPECT_EQ(v->ConnectionsOpened(), 3u);  // listing, main, app
}

TEST_F(DatabaseVisitorTest, AFailingDatabaseIsCountedAndTheOthersServed) {
  server_->SetDatabases({"app", "broken", "main"});
  server_->Refuse("broken");
  auto v = Start({});
  const auto r = WaitFor(*v, 3);
  ASSERT_EQ(r.databases.size(), 3u);
  EXPECT_TRUE(r.databases[0].ok);
  EXPECT_FALSE(r.databases[1].ok);
  EXPECT_THAT(r.databases[1].error, HasSubstr("FATAL"));
  EXPECT_TRUE(r.databases[2].ok);
  const Families f = v->Collect();
  EXPECT_EQ(Sample(f, "pgwarden_database_visit_errors_total",
                   {{"datname", "broken"}}),
            1);
  EXPECT_EQ(CountSamples(f, "pgwarden_database_visit_errors_total", {}), 1u);
  EXPECT_EQ(Sample(f, "pgwarden_databases"), 3);
  EXPECT_EQ(Sample(f, "pgwarden_database_visits_total"), 3);
}

// A database whose queries hang holds one worker until the visit's
// deadline; the others are visited meanwhile.
TEST_F(DatabaseVisitorTest, AHangingDatabaseDoesNotStallTheOthers) {
  server_->SetDatabases({"a_locked", "b", "c", "main"});
  server_->Hang("a_locked");
  DatabaseVisitor::Options o;
  o.max_connections = 3;  // two workers
  o.visit_timeout = seconds(3);
  auto v = Start(o, milliseconds(400));  // a visit every 100 ms
  const auto start = Clock::now();
  DatabaseVisitor::Results r;
  for (int i = 0; i < 300 && r.databases.size() < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
    r = v->ResultsOf(0);
  }
  EXPECT_LT(Clock::now() - start, seconds(2));
  EXPECT_THAT(Visited(r), ElementsAre("b", "c", "main"));
  r = WaitFor(*v, 4);  // a_locked's visit gives up at its deadline
  ASSERT_EQ(r.databases.size(), 4u);
  EXPECT_FALSE(r.databases[0].ok);
  EXPECT_THAT(r.databases[0].error, HasSubstr("statement timeout"));
}

TEST_F(DatabaseVisitorTest, NewAndDroppedDatabasesArePickedUpWithoutARestart) {
  server_->SetDatabases({"a", "main"});
  auto v = Start({}, milliseconds(200));
  auto r = WaitFor(*v, 2);
  const uint64_t generation = r.generation;
  server_->SetDatabases({"b", "main"});
  for (int i = 0; i < 500; ++i) {
    r = v->ResultsOf(0);
    if (Visited(r) == std::vector<std::string>{"b", "main"}) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_THAT(Visited(r), ElementsAre("b", "main"));
  EXPECT_GT(r.generation, generation);
  EXPECT_EQ(Sample(v->Collect(), "pgwarden_databases"), 2);
}

TEST_F(DatabaseVisitorTest, KeptConnectionsStayWithinTheVisitorsShare) {
  server_->SetDatabases({"a", "b", "c", "main"});
  DatabaseVisitor::Options o;
  o.keep_connections = true;
  o.max_connections = 3;  // two workers: two connections at most
  auto v = Start(o);
  WaitFor(*v, 4);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(v->OpenConnections(), 2u);
  EXPECT_EQ(server_->Alive("a") + server_->Alive("b") + server_->Alive("c") +
                server_->Alive("main"),
            2);
  EXPECT_EQ(
      v->ConnectionsOpened(),
      static_cast<uint64_t>(server_->Opens("a") + server_->Opens("b") +
                            server_->Opens("c") + server_->Opens("main")));
}

TEST_F(DatabaseVisitorTest, EachDatabaseIsVisitedOncePerInterval) {
  server_->SetDatabases({"a", "b", "main"});
  auto v = Start({}, milliseconds(300));
  std::this_thread::sleep_for(milliseconds(1000));
  v.reset();
  // 1 s over a 300 ms interval: at most four visits each (at 0, 300, 600,
  // 900 ms), and at least two.
  for (const char* db : {"a", "b"}) {
    EXPECT_LE(server_->Batches(db), 4) << db;
    EXPECT_GE(server_->Batches(db), 2) << db;
  }
}

}  // namespace
}  // namespace pgwarden::testing
