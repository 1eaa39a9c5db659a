#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Time = std::chrono::steady_clock::time_point;

std::unique_ptr<Collector> Make(int limit = 100, bool include_query = false) {
  CollectorOptions options;
  options.stat_statements_limit = limit;
  options.stat_statements_include_query = include_query;
  options.stat_statements_query_length = 40;
  return NewCollector("stat_statements", options);
}

ServerInfo Server(int version, int ext_version = 0) {
  ServerInfo s = ServerAt(version);
  s.pgss_available = true;
  s.pgss_schema = "public";
  s.pgss_version_num = ext_version;
  return s;
}

const std::vector<std::string> kColumns = {
    "userid",  "dbid", "user",    "datname",  "queryid", "toplevel", "calls",
    "exec_ms", "rows", "read_ms", "write_ms", "plan_ms", "since",    "query"};

// A scripted pg_stat_statements: entries whose cumulative counters the test
// moves forward, evicts or resets, the rows one read of the view returns,
// and the truth: every call and millisecond that ever happened.
class FakeView {
 public:
  // Runs statement `queryid` of `user` `calls` times for `ms` in all.
  void Run(const std::string& queryid, double calls, double ms,
           const std::string& user = "app") {
    Entry& e = entries_[{user, queryid}];
    e.calls += calls;
    e.ms += ms;
    truth_calls += calls;
    truth_seconds += ms / 1000;
  }
  // Drops an entry to make room, as pg_stat_statements does.
  void Evict(const std::string& queryid, const std::string& user = "app") {
    entries_.erase({user, queryid});
    ++dealloc_;
  }
  // pg_stat_statements_reset(): every entry gone.
  void Reset() {
    entries_.clear();
    reset_at_ += 1000;
  }
  Rows Read() const {
    std::vector<std::vector<std::string>> cells;
    for (const auto& [key, e] : entries_) {
      cells.push_back({key.first == "app" ? "10" : "11", "5", key.first, "shop",
                       key.second, "t", Number(e.calls), Number(e.ms),
                       Number(e.calls), "0", "0", "0", "\\N",
                       "SELECT " + key.second});
    }
    cells.push_back({"\\N", "\\N", "\\N", "\\N", "\\N", "\\N", Number(dealloc_),
                     "\\N", "\\N", "\\N", "\\N", "\\N", Number(reset_at_),
                     "\\N"});
    return MakeRows(kColumns, cells);
  }

  double truth_calls = 0;
  double truth_seconds = 0;

 private:
  struct Entry {
    double calls = 0, ms = 0;
  };
  static std::string Number(double v) {
    std::ostringstream out;
    out.precision(17);
    out << v;
    return out.str();
  }
  std::map<std::pair<std::string, std::string>, Entry> entries_;
  double dealloc_ = 0;
  double reset_at_ = 1.7e9;
};

// Reads the view the way a target does, and checks after every read that
// no counter went down and that the counters add up to the truth as
// Prometheus counts: the first read's values are where counting starts, a
// series that appears later counts from its first sample, and one that left
// the top N keeps the value it had. Every call and second there was is in
// that sum, except that a read may hold back the first increase of a user
// new since the first read, to count it at the next.
class Reader {
 public:
  explicit Reader(int limit) : collector_(Make(limit)), limit_(limit) {
    state_ = collector_->NewState();
  }

  enum class NewUser { kNo, kYes };

  Families Read(const FakeView& view, double seconds_later = 60,
                NewUser new_user = NewUser::kNo) {
    now_ +=
        std::chrono::milliseconds(static_cast<int64_t>(seconds_later * 1000));
    Families out;
    collector_->ParseWithState(Server(150000), view.Read(), *state_, now_, out);
    const double calls = Check(out, "pg_stat_statements_calls_total");
    const double seconds = Check(out, "pg_stat_statements_seconds_total");
    if (new_user == NewUser::kNo) {
      EXPECT_DOUBLE_EQ(calls, view.truth_calls) << "read " << reads_;
      EXPECT_NEAR(seconds, view.truth_seconds, 1e-9) << "read " << reads_;
    } else {
      EXPECT_LT(calls, view.truth_calls) << "read " << reads_;
    }
    EXPECT_LE(CountSamples(out, "pg_stat_statements_calls_total", {}) -
                  CountSamples(out, "pg_stat_statements_calls_total",
                               {{"queryid", "other"}}),
              static_cast<size_t>(limit_));
    if (reads_++ % 10 == 0) {
      EXPECT_TRUE(ValidExposition(out));
    }
    return out;
  }

 private:
  // Checks that no series of `name` went down; returns what Prometheus
  // counts of all its series so far.
  double Check(const Families& out, const std::string& name) {
    const auto* f = FindFamily(out, name);
    for (size_t i = 0; f && i < f->metric.size(); ++i) {
      std::string key = name;
      for (const auto& l : f->metric[i].label) key += "," + l.value;
      const double v = f->metric[i].counter.value;
      if (!first_.count(key)) first_[key] = reads_ == 0 ? 0 : v;
      EXPECT_GE(v, last_.count(key) ? last_[key] : v)
          << key << " went down at read " << reads_;
      last_[key] = v;
    }
    double sum = 0;
    for (const auto& [key, v] : last_) {
      if (key.rfind(name + ",", 0) == 0) sum += v - first_[key];
    }
    return sum;
  }

  std::unique_ptr<Collector> collector_;
  std::unique_ptr<CollectorState> state_;
  int limit_;
  Time now_ = std::chrono::steady_clock::now();
  std::map<std::string, double> first_, last_;
  int reads_ = 0;
};

std::optional<double> Calls(const Families& out, const std::string& queryid) {
  return Sample(out, "pg_stat_statements_calls_total", {{"queryid", queryid}});
}

TEST(StatStatementsCollectorTest, ColumnsFollowTheExtensionVersion) {
  const std::string v12 = Make()->Query(Server(120000));
  EXPECT_THAT(v12, HasSubstr("s.total_time AS exec_ms"));
  EXPECT_THAT(v12, HasSubstr("s.blk_read_time AS read_ms"));
  EXPECT_THAT(v12, HasSubstr("0::float8 AS plan_ms"));
  EXPECT_THAT(v12, HasSubstr("true AS toplevel"));
  EXPECT_THAT(v12, Not(HasSubstr("pg_stat_statements_info")));
  const std::string v13 = Make()->Query(Server(130000));
  EXPECT_THAT(v13, HasSubstr("s.total_exec_time AS exec_ms"));
  EXPECT_THAT(v13, HasSubstr("s.total_plan_time AS plan_ms"));
  EXPECT_THAT(v13, Not(HasSubstr("pg_stat_statements_info")));
  for (int v : {140000, 160000}) {
    const std::string sql = Make()->Query(Server(v));
    EXPECT_THAT(sql, HasSubstr("s.toplevel AS toplevel")) << v;
    EXPECT_THAT(sql, HasSubstr("FROM \"public\".pg_stat_statements_info")) << v;
    EXPECT_THAT(sql, HasSubstr("NULL::float8 AS since")) << v;
  }
  for (int v : {170000, 180000}) {
    const std::string sql = Make()->Query(Server(v));
    EXPECT_THAT(sql, HasSubstr("s.shared_blk_read_time AS read_ms")) << v;
    EXPECT_THAT(sql, HasSubstr("s.shared_blk_write_time AS write_ms")) << v;
    EXPECT_THAT(sql, HasSubstr("extract(epoch FROM s.stats_since)")) << v;
  }
  // A server upgraded to 17 that still has extension 1.10 has neither
  // shared_blk_read_time nor stats_since.
  const std::string old_ext = Make()->Query(Server(170000, 11000));
  EXPECT_THAT(old_ext, HasSubstr("s.blk_read_time AS read_ms"));
  EXPECT_THAT(old_ext, HasSubstr("NULL::float8 AS since"));
}

TEST(StatStatementsCollectorTest, QueryReadsRawEntriesWithoutTextUnlessAsked) {
  ServerInfo s = Server(150000);
  s.pgss_schema = "mon\"itor";
  const std::string sql = Make(7)->Query(s);
  EXPECT_THAT(sql, HasSubstr("FROM \"mon\"\"itor\".pg_stat_statements(false)"));
  EXPECT_THAT(sql, HasSubstr("NULL::text AS query"));
  EXPECT_THAT(sql, Not(HasSubstr("GROUP BY")));  // ranked in pgwarden
  EXPECT_EQ(sql.find('%'), std::string::npos);
  EXPECT_THAT(Make(7, true)->Query(s), HasSubstr("pg_stat_statements(true)"));
  EXPECT_THAT(Make(7, true)->Query(s), HasSubstr("left(s.query, 40)"));
}

TEST(StatStatementsCollectorTest, UnavailableIsNotAnError) {
  ServerInfo s = Server(150000);
  s.pgss_available = false;
  EXPECT_EQ(Make()->Query(s), "");
  Families out;
  Make()->Parse(s, Rows{}, out);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 0);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_calls_total"), 0u);
}

// One read, with nothing remembered: the top N by time since the reset, the
// rest in "other", and the sums equal to the view's.
TEST(StatStatementsCollectorTest, OneReadRanksByTimeAndSumsTheRest) {
  const Rows rows = MakeRows(
      kColumns,
      {{"10", "5", "alice", "app", "123", "t", "10", "1500", "100", "250", "0",
        "125", "\\N", "\\N"},
       // The same statement run from a function (toplevel false): one series.
       {"10", "5", "alice", "app", "123", "f", "5", "500", "1", "0", "0", "0",
        "\\N", "\\N"},
       {"10", "5", "alice", "app", "7", "t", "90", "500", "7", "0", "0", "0",
        "\\N", "\\N"},
       {"10", "6", "alice", "", "8", "t", "1", "1", "\\N", "\\N", "\\N", "\\N",
        "\\N", "\\N"},
       {"\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "42", "\\N", "\\N", "\\N",
        "\\N", "\\N", "1700000000", "\\N"}});
  Families out;
  Make(1)->Parse(Server(150000), rows, out);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 1);
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"user", "alice"}, {"datname", "app"}, {"queryid", "123"}}),
            15);
  EXPECT_EQ(
      Sample(out, "pg_stat_statements_seconds_total", {{"queryid", "123"}}), 2);
  EXPECT_EQ(Sample(out, "pg_stat_statements_block_read_seconds_total",
                   {{"queryid", "123"}}),
            0.25);
  EXPECT_EQ(Sample(out, "pg_stat_statements_plan_seconds_total",
                   {{"queryid", "123"}}),
            0.125);
  // The rest, per user and database; a dropped database's name is "".
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"datname", "app"}, {"queryid", "other"}}),
            90);
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"datname", ""}, {"queryid", "other"}}),
            1);
  EXPECT_EQ(Calls(out, "7"), std::nullopt);
  EXPECT_EQ(SumSamples(out, "pg_stat_statements_calls_total"), 106);
  EXPECT_EQ(Sample(out, "pg_stat_statements_deallocations_total"), 42);
  EXPECT_EQ(Sample(out, "pg_stat_statements_stats_reset_timestamp_seconds"),
            1700000000);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_query_id"), 0u);
  EXPECT_TRUE(ValidExposition(out));
}

TEST(StatStatementsCollectorTest, NoPlanTimeBefore13) {
  Families out;
  Make()->Parse(Server(120000),
                MakeRows(kColumns, {{"1", "1", "a", "d", "1", "t", "1", "1",
                                     "1", "0", "0", "0", "\\N", "\\N"}}),
                out);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_plan_seconds_total"), 0u);
  // The statement, and "other" at 0: it exists for every user and database.
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total", {{"queryid", "1"}}),
            1);
  EXPECT_EQ(
      Sample(out, "pg_stat_statements_calls_total", {{"queryid", "other"}}), 0);
}

// The report that opened the issue: a statement ran 300 times fast and sat
// in "other"; one slow run moved it into the top N. "other" must not drop.
TEST(StatStatementsCollectorTest, EnteringTheTopNDoesNotEmptyOther) {
  FakeView view;
  for (int i = 1; i <= 5; ++i) view.Run("top" + std::to_string(i), 10, 5000);
  view.Run("fast", 300, 30);
  view.Run("rest", 243, 20);
  Reader reader(5);
  const Families before = reader.Read(view);
  EXPECT_EQ(Calls(before, "other"), 543);
  view.Run("fast", 1, 60000);  // one slow call
  const Families after = reader.Read(view);
  // It is in the top N now, as a new series from 0; what it did until it
  // got there, the slow call included, is in "other".
  EXPECT_EQ(Calls(after, "fast"), 0);
  EXPECT_EQ(Calls(after, "other"), 544);
  view.Run("fast", 2, 10);
  EXPECT_EQ(Calls(reader.Read(view), "fast"), 2);
}

// Statements move in and out of the top N, an entry is evicted and created
// again, the view is reset: no counter goes down, and the counters add up
// to every call and second there was (Reader checks both at every read).
TEST(StatStatementsCollectorTest, CountersStayMonotonicThroughChurnAndResets) {
  FakeView view;
  Reader reader(3);
  for (int i = 0; i < 8; ++i) view.Run("q" + std::to_string(i), 1 + i, 10 * i);
  reader.Read(view);
  // Weights shift: q0..q2, quiet so far, become the busiest.
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i) view.Run("q" + std::to_string(i), 50, 9000);
    view.Run("q7", 1, 5);
    reader.Read(view);
  }
  Families out = reader.Read(view);
  for (const char* q : {"q0", "q1", "q2"}) {
    EXPECT_TRUE(Calls(out, q).has_value()) << q << " should be in the top 3";
  }
  EXPECT_FALSE(Calls(out, "q7").has_value());
  // An evicted entry comes back with a smaller count: that is a restart,
  // and all of its new count is new.
  view.Evict("q5");
  reader.Read(view);
  view.Run("q5", 2, 1);
  out = reader.Read(view);
  EXPECT_GE(Sample(out, "pgwarden_stat_statements_entries_restarted_total"), 0);
  // A full reset: every entry starts over, and the counters keep growing.
  view.Reset();
  view.Run("q1", 1, 1000);
  view.Run("new", 7, 7);
  out = reader.Read(view);
  EXPECT_GE(Sample(out, "pgwarden_stat_statements_entries_restarted_total"), 1);
  for (int round = 0; round < 5; ++round) {
    view.Run("new", 100, 100000);
    reader.Read(view);
  }
  out = reader.Read(view);
  EXPECT_TRUE(Calls(out, "new").has_value());
}

// A user (or database) first seen after the first read: its "other"
// starts at 0, which Prometheus takes as the starting point, and what it
// did by then shows at the next read.
TEST(StatStatementsCollectorTest, ANewUserIsCountedFromItsFirstRead) {
  FakeView view;
  Reader reader(1);
  view.Run("q1", 10, 1000);
  reader.Read(view);
  view.Run("q9", 4, 40, "ops");
  view.Run("q10", 3, 30, "ops");
  Families out = reader.Read(view, 60, Reader::NewUser::kYes);
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"user", "ops"}, {"queryid", "other"}}),
            0);
  out = reader.Read(view);
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"user", "ops"}, {"queryid", "other"}}),
            7);
}

// A member keeps its place against a newcomer only slightly busier lately,
// and gives it up to one clearly busier.
TEST(StatStatementsCollectorTest, TopNHasHysteresis) {
  FakeView view;
  Reader reader(1);
  view.Run("incumbent", 10, 1000);
  reader.Read(view);
  for (int round = 0; round < 5; ++round) {
    view.Run("incumbent", 10, 1000);
    view.Run("challenger", 10, 1100);  // 10% busier
    reader.Read(view);
  }
  Families out = reader.Read(view);
  EXPECT_TRUE(Calls(out, "incumbent").has_value());
  EXPECT_FALSE(Calls(out, "challenger").has_value());
  for (int round = 0; round < 3; ++round) {
    view.Run("incumbent", 10, 1000);
    view.Run("challenger", 10, 5000);
    reader.Read(view);
  }
  out = reader.Read(view);
  EXPECT_TRUE(Calls(out, "challenger").has_value());
  EXPECT_FALSE(Calls(out, "incumbent").has_value());
}

// What pgwarden remembers follows the view: entries gone for an hour are
// forgotten.
TEST(StatStatementsCollectorTest, ForgottenAfterAnHourAway) {
  FakeView view;
  Reader reader(10);
  for (int i = 0; i < 20; ++i) view.Run("q" + std::to_string(i), 1, 1);
  Families out = reader.Read(view);
  EXPECT_EQ(Sample(out, "pgwarden_stat_statements_tracked_entries"), 20);
  for (int i = 0; i < 15; ++i) view.Evict("q" + std::to_string(i));
  out = reader.Read(view, 3601);
  EXPECT_EQ(Sample(out, "pgwarden_stat_statements_tracked_entries"), 5);
}

TEST(StatStatementsCollectorTest,
     QueryTextOncePerQueryidAndHostileTextStaysValid) {
  std::vector<std::vector<std::string>> cells;
  int id = 1;
  for (const auto& s : HostileStrings()) {
    const std::string qid = std::to_string(id++);
    cells.push_back({"1", "1", "alice", "app", qid, "t", "1", "1", "1", "0",
                     "0", "0", "\\N", s});
    cells.push_back(
        {"2", "2", s, s, qid, "t", "1", "1", "1", "0", "0", "0", "\\N", s});
  }
  Families out;
  Make(100, true)->Parse(Server(170000), MakeRows(kColumns, cells), out);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_query_id"),
            HostileStrings().size());
  EXPECT_EQ(Sample(out, "pg_stat_statements_query_id", {{"queryid", "4"}}), 1);
  EXPECT_TRUE(ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden::testing
