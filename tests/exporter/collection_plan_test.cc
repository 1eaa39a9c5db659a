#include "exporter/collection_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exporter/text.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A collector with a fixed query (empty: nothing to ask) that counts its
// parses and emits one gauge holding the number of rows.
class Fixed : public Collector {
 public:
  Fixed(std::string name, std::string sql, bool per_database = false,
        int timeout_ms = 0)
      : name_(std::move(name)),
        sql_(std::move(sql)),
        per_database_(per_database),
        timeout_ms_(timeout_ms) {}
  std::string_view Name() const override { return name_; }
  std::string Query(const ServerInfo&) const override { return sql_; }
  bool PerDatabase() const override { return per_database_; }
  int TimeoutMs() const override { return timeout_ms_; }
  void Parse(const ServerInfo&, const Rows& rows,
             Families& out) const override {
    ++parses;
    FamilyBuilder("fixed_rows", "rows", prometheus::MetricType::Gauge)
        .Add(static_cast<double>(rows.size()))
        .MoveTo(out);
  }
  mutable int parses = 0;

 private:
  std::string name_, sql_;
  bool per_database_;
  int timeout_ms_;
};

CollectorSlot Slot(Collector* c, int interval_seconds = 0) {
  CollectorSlot slot;
  slot.collector.reset(c);
  slot.min_interval = std::chrono::seconds(interval_seconds);
  slot.state = c->NewState();
  return slot;
}

TEST(PlanCollectionTest, SortsCollectorsByWhatTheyNeed) {
  std::vector<CollectorSlot> slots;
  slots.push_back(Slot(new Fixed("a", "SELECT a", false, 250)));
  slots.push_back(Slot(new Fixed("none", "")));
  slots.push_back(Slot(new Fixed("tables", "SELECT t", true), 60));
  slots.push_back(Slot(new Fixed("b", "SELECT b")));
  slots.push_back(Slot(new Fixed("indexes", "SELECT i", true), 300));
  const CollectionPlan plan =
      PlanCollection(slots, testing::ServerAt(150000), Clock::now(), true);
  EXPECT_THAT(plan.reuse, IsEmpty());
  EXPECT_THAT(plan.parse_empty, ElementsAre(1));
  EXPECT_THAT(plan.server_wide.collectors, ElementsAre(0, 3));
  ASSERT_EQ(plan.server_wide.statements.size(), 2u);
  EXPECT_EQ(plan.server_wide.statements[0].sql, "SELECT a");
  EXPECT_EQ(plan.server_wide.statements[0].timeout_ms, 250);
  EXPECT_EQ(plan.server_wide.statements[1].timeout_ms, 0);
  EXPECT_THAT(plan.visited, ElementsAre(2, 4));
  // Without a visitor the per-database ones are asked in the batch (the
  // connected database only).
  const CollectionPlan inline_plan =
      PlanCollection(slots, testing::ServerAt(150000), Clock::now(), false);
  EXPECT_THAT(inline_plan.server_wide.collectors, ElementsAre(0, 2, 3, 4));
  EXPECT_THAT(inline_plan.visited, IsEmpty());
}

DatabaseVisitor::DatabaseResult Visited(std::string db, bool ok,
                                        Clock::time_point fetched,
                                        std::vector<std::string> names = {}) {
  DatabaseVisitor::DatabaseResult r;
  r.database = std::move(db);
  r.ok = ok;
  r.fetched = fetched;
  r.seconds = 0.25;
  if (ok) {
    std::vector<std::vector<std::string>> rows;
    for (auto& n : names) rows.push_back({r.database, n});
    r.rows = std::make_shared<const Rows>(
        testing::MakeRows({"datname", "relname"}, rows));
  } else {
    r.error = "ERROR: canceling statement due to statement timeout";
  }
  return r;
}

TEST(VisitedOutcomeTest, ParsesEveryDatabasesRowsTogetherWithTheOldestAge) {
  auto* c = new Fixed("tables", "SELECT t", true);
  CollectorSlot slot = Slot(c, 60);
  const auto t0 = Clock::now();
  DatabaseVisitor::Results results;
  EXPECT_EQ(VisitedOutcome(slot, testing::ServerAt(150000), results).state,
            Outcome::State::kNotYet);
  results.databases = {
      Visited("a", true, t0 - std::chrono::seconds(30), {"t1", "t2"}),
      Visited("b", true, t0, {"t3"})};
  const Outcome o = VisitedOutcome(slot, testing::ServerAt(150000), results);
  EXPECT_EQ(o.state, Outcome::State::kOk);
  ASSERT_TRUE(o.families);
  EXPECT_EQ(testing::Sample(*o.families, "fixed_rows"), 3);
  EXPECT_EQ(o.fetched, t0 - std::chrono::seconds(30));
  EXPECT_GE(o.seconds, 0.5);
  EXPECT_FALSE(slot.memo.families);  // the target keeps it, by generation
}

// Each database's share of a family, parsed in its visit, in turn: they
// print as one family.
TEST(VisitedOutcomeTest, InterleavesEachFamilysPartsFromEveryDatabase) {
  CollectorSlot slot = Slot(new Fixed("tables", "SELECT t", true), 60);
  const auto part = [](const std::string& family, const std::string& db) {
    FamilyBuilder f(family, "help", prometheus::MetricType::Gauge);
    f.Add({{"datname", db}}, 1);
    Families out;
    f.MoveTo(out);
    return std::make_shared<const Families>(std::move(out));
  };
  const auto t0 = Clock::now();
  DatabaseVisitor::Results results;
  for (const std::string db : {"a", "b"}) {
    DatabaseVisitor::DatabaseResult r;
    r.database = db;
    r.ok = true;
    r.fetched = t0;
    r.parts = {part("x_seq", db), part("x_size", db)};
    results.databases.push_back(r);
  }
  results.databases[1].parts.push_back(part("x_rare", "b"));
  const Outcome o = VisitedOutcome(slot, testing::ServerAt(150000), results);
  EXPECT_EQ(o.state, Outcome::State::kOk);
  EXPECT_FALSE(o.families);
  std::vector<std::string> order;
  for (const auto& p : o.parts) {
    order.push_back(p->front().name + "/" +
                    p->front().metric[0].label[0].value);
  }
  EXPECT_THAT(order, ElementsAre("x_seq/a", "x_seq/b", "x_size/a", "x_size/b",
                                 "x_rare/b"));
  Exposition e;
  e.parts = o.parts;
  EXPECT_TRUE(testing::ValidExposition(e.Flatten()));
  EXPECT_EQ(Serialize(e).find("# HELP x_seq"),
            Serialize(e).rfind("# HELP x_seq"));
  EXPECT_EQ(testing::CountSamples(e.Flatten(), "x_seq", {}), 2u);
}

TEST(VisitedOutcomeTest, AFailedDatabaseFailsItAndTheOthersAreServed) {
  CollectorSlot slot = Slot(new Fixed("tables", "SELECT t", true), 60);
  const auto t0 = Clock::now();
  DatabaseVisitor::Results results;
  results.databases = {Visited("a", true, t0, {"t1"}),
                       Visited("locked", false, t0),
                       Visited("z", true, t0, {"t2"})};
  const Outcome o = VisitedOutcome(slot, testing::ServerAt(150000), results);
  EXPECT_EQ(o.state, Outcome::State::kFailed);
  EXPECT_EQ(o.error,
            "database \"locked\": ERROR: canceling statement due to statement "
            "timeout");
  ASSERT_TRUE(o.families);
  EXPECT_EQ(testing::Sample(*o.families, "fixed_rows"), 2);
}

TEST(PlanCollectionTest, ReusesAMemoOnlyWithinItsIntervalOnTheSameServer) {
  std::vector<CollectorSlot> slots;
  slots.push_back(Slot(new Fixed("slow", "SELECT 1"), 60));
  slots.push_back(Slot(new Fixed("every", "SELECT 2")));
  const ServerInfo server = testing::ServerAt(150000);
  const auto t0 = Clock::now();
  for (auto& slot : slots) {
    ParseWithMemo(slot, server, testing::MakeRows({"x"}, {{"1"}}), t0);
  }
  EXPECT_THAT(
      PlanCollection(slots, server, t0 + std::chrono::seconds(59)).reuse,
      ElementsAre(0));
  // Its interval has passed, or the server changed: ask again.
  EXPECT_THAT(
      PlanCollection(slots, server, t0 + std::chrono::seconds(60)).reuse,
      IsEmpty());
  EXPECT_THAT(PlanCollection(slots, testing::ServerAt(160000),
                             t0 + std::chrono::seconds(1))
                  .reuse,
              IsEmpty());
}

TEST(ParseWithMemoTest, SameRowsSameFamiliesWithoutParsing) {
  auto* c = new Fixed("a", "SELECT a");
  std::vector<CollectorSlot> slots;
  slots.push_back(Slot(c));
  const ServerInfo server = testing::ServerAt(150000);
  const auto rows = testing::MakeRows({"x"}, {{"1"}, {"2"}});
  const auto first = ParseWithMemo(slots[0], server, rows, Clock::now());
  const auto second = ParseWithMemo(slots[0], server, rows, Clock::now());
  EXPECT_EQ(first, second);
  EXPECT_EQ(c->parses, 1);
  const auto third = ParseWithMemo(
      slots[0], server, testing::MakeRows({"x"}, {{"1"}}), Clock::now());
  EXPECT_NE(third, first);
  EXPECT_EQ(c->parses, 2);
  EXPECT_EQ(testing::Sample(*third, "fixed_rows"), 1);
}

// A /probe target's collectors queried every scrape hold nothing between
// scrapes; one with a minimum interval still keeps what it serves again.
TEST(ParseWithMemoTest, WithoutRememberEveryResultOnlyIntervalsKeepAMemo) {
  auto* every = new Fixed("a", "SELECT a");
  auto* sometimes = new Fixed("b", "SELECT b");
  std::vector<CollectorSlot> slots;
  slots.push_back(Slot(every));
  slots.push_back(Slot(sometimes, 60));
  for (auto& slot : slots) slot.remember_every_result = false;
  const ServerInfo server = testing::ServerAt(150000);
  const auto rows = testing::MakeRows({"x"}, {{"1"}, {"2"}});
  for (int i = 0; i < 2; ++i) {
    ParseWithMemo(slots[0], server, rows, Clock::now());
    ParseWithMemo(slots[1], server, rows, Clock::now());
  }
  EXPECT_EQ(every->parses, 2);  // nothing kept, so parsed again
  EXPECT_FALSE(slots[0].memo.families);
  EXPECT_EQ(slots[0].memo.rows, RowsDigest{});
  EXPECT_EQ(sometimes->parses, 1);
  EXPECT_TRUE(slots[1].memo.families);
}

// A collector whose Parse cannot make sense of anything.
class Unparsable : public Fixed {
 public:
  Unparsable() : Fixed("bad", "SELECT 1") {}
  void Parse(const ServerInfo&, const Rows&, Families&) const override {
    throw std::runtime_error("no such column");
  }
};

TEST(ParseOutcomeTest, OkFailedAndUnparsable) {
  std::vector<CollectorSlot> slots;
  slots.push_back(Slot(new Fixed("a", "SELECT a")));
  slots.push_back(Slot(new Unparsable()));
  const ServerInfo server = ServerAt(150000);
  const Rows rows = MakeRows({"x"}, {{"1"}, {"2"}});

  const Outcome ok =
      ParseOutcome(slots[0], server, QueryResult{true, rows, "", 0.25});
  EXPECT_EQ(ok.state, Outcome::State::kOk);
  ASSERT_NE(ok.families, nullptr);
  EXPECT_EQ(Sample(*ok.families, "fixed_rows"), 2);
  EXPECT_GE(ok.seconds, 0.25);

  const Outcome failed =
      ParseOutcome(slots[0], server, QueryResult{false, {}, "ERROR: boom", 0});
  EXPECT_EQ(failed.state, Outcome::State::kFailed);
  EXPECT_EQ(failed.error, "ERROR: boom");
  EXPECT_EQ(failed.families, nullptr);

  const Outcome bad =
      ParseOutcome(slots[1], server, QueryResult{true, rows, "", 0});
  EXPECT_EQ(bad.state, Outcome::State::kFailed);
  EXPECT_EQ(bad.error, "parse: no such column");
  EXPECT_EQ(bad.families, nullptr);
}

TEST(ReusedTest, ServesTheMemoAsFetchedThen) {
  std::vector<CollectorSlot> slots;
  slots.push_back(Slot(new Fixed("a", "SELECT a")));
  const auto then = Clock::now() - std::chrono::seconds(30);
  ParseWithMemo(slots[0], ServerAt(150000), MakeRows({"x"}, {{"1"}}), then);
  const Outcome o = Reused(slots[0].memo);
  EXPECT_EQ(o.state, Outcome::State::kOk);
  EXPECT_EQ(o.families, slots[0].memo.families);
  EXPECT_EQ(o.fetched, then);
}

}  // namespace
}  // namespace pgwarden::testing
