#include "exporter/samples.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using testing::FindFamily;
using testing::MakeRows;
using testing::Sample;
using testing::SampleCount;
using testing::SumSamples;

SampledSession Session(long pid, std::string state, std::string type = "",
                       std::string event = "") {
  SampledSession s;
  s.pid = pid;
  s.backend_start = 1000 + pid;
  s.state = std::move(state);
  s.wait_event_type = std::move(type);
  s.wait_event = std::move(event);
  s.datname = "shop";
  s.usename = "app";
  s.application_name = "web";
  return s;
}

SampledSession Waiting(long pid, std::vector<long> blockers,
                       std::optional<double> wait_start = std::nullopt) {
  SampledSession s = Session(pid, "active", "Lock", "transactionid");
  s.blockers = std::move(blockers);
  s.wait_start = wait_start;
  return s;
}

ActivitySample At(double at, std::vector<SampledSession> sessions = {}) {
  return ActivitySample{at, std::move(sessions)};
}

// Collects twice: the first showing of a new series is 0, and what it
// counted joins at the next.
Families Settled(ActivityCounters& c) {
  c.Collect();
  return c.Collect();
}

// The lock-wait histogram of `datname`, or nullptr.
const prometheus::ClientMetric::Histogram* Waits(
    const Families& f, const std::string& datname = "shop") {
  const auto* family = FindFamily(f, "pg_lock_wait_duration_seconds");
  if (!family) return nullptr;
  for (const auto& m : family->metric) {
    for (const auto& l : m.label) {
      if (l.name == "datname" && l.value == datname) return &m.histogram;
    }
  }
  return nullptr;
}
double WaitCount(const Families& f) {
  const auto* h = Waits(f);
  return h ? static_cast<double>(h->sample_count) : 0;
}
double WaitSum(const Families& f) {
  const auto* h = Waits(f);
  return h ? h->sample_sum : 0;
}
// The cumulative count of the bucket whose upper bound is `le`.
double WaitsUpTo(const Families& f, double le) {
  const auto* h = Waits(f);
  for (const auto& b : h ? h->bucket : decltype(h->bucket){}) {
    if (b.upper_bound == le) return static_cast<double>(b.cumulative_count);
  }
  return -1;
}

TEST(ActivityCountersTest, AWaitRunsFromWaitStartToHalfwayPastItsLastSample) {
  ActivityCounters c(1, {});
  c.Add(At(100));
  c.Add(
      At(101, {Waiting(10, {20}, 100.3), Session(20, "idle in transaction")}));
  c.Add(
      At(102, {Waiting(10, {20}, 100.3), Session(20, "idle in transaction")}));
  c.Add(At(103, {Session(10, "active")}));  // granted
  const Families first = c.Collect();
  EXPECT_EQ(WaitCount(first), 0);  // a new series shows 0 first
  const Families f = c.Collect();
  EXPECT_EQ(WaitCount(f), 1);
  EXPECT_NEAR(WaitSum(f), 102.5 - 100.3, 1e-9);
  EXPECT_EQ(WaitsUpTo(f, 1), 0);
  EXPECT_EQ(WaitsUpTo(f, 2.5), 1);
  EXPECT_EQ(WaitsUpTo(f, 600), 1);
  EXPECT_EQ(Sample(f, "pg_blocked_seconds_total", {{"datname", "shop"}}), 2);
}

TEST(ActivityCountersTest, AWaitBetweenTwoSamplesIsNeverSeen) {
  ActivityCounters c(1, {});
  c.Add(At(100, {Session(10, "active")}));
  c.Add(At(101, {Session(10, "active")}));  // waited at 100.2-100.8
  const Families f = Settled(c);
  EXPECT_EQ(FindFamily(f, "pg_lock_wait_duration_seconds"), nullptr);
  EXPECT_EQ(FindFamily(f, "pg_blocked_seconds_total"), nullptr);
}

TEST(ActivityCountersTest, WithoutWaitStartAWaitStartsHalfwayBeforeItWasSeen) {
  ActivityCounters c(1, {});
  c.Add(At(100));
  c.Add(At(101, {Waiting(10, {20})}));
  c.Add(At(102, {Waiting(10, {20})}));
  c.Add(At(103));  // the session is gone while it waited
  const Families f = Settled(c);
  EXPECT_EQ(WaitCount(f), 1);
  EXPECT_NEAR(WaitSum(f), 102.5 - 100.5, 1e-9);
}

TEST(ActivityCountersTest, AReusedPidIsANewSessionAndANewWait) {
  ActivityCounters c(1, {});
  c.Add(At(100));
  c.Add(At(101, {Waiting(10, {20})}));
  SampledSession reused = Waiting(10, {20});
  reused.backend_start = 5000;
  c.Add(At(102, {reused}));
  c.Add(At(103));
  const Families f = Settled(c);
  EXPECT_EQ(WaitCount(f), 2);
  EXPECT_NEAR(WaitSum(f), 1.0 + 1.0, 1e-9);
}

TEST(ActivityCountersTest, ANewWaitStartIsANewWaitOfTheSameSession) {
  ActivityCounters c(1, {});
  c.Add(At(100));
  c.Add(At(101, {Waiting(10, {20}, 100.2)}));
  c.Add(At(102, {Waiting(10, {20}, 101.8)}));
  c.Add(At(103));
  const Families f = Settled(c);
  EXPECT_EQ(WaitCount(f), 2);
  // 100.2 -> 101.5 (halfway), then 101.8 -> 102.5.
  EXPECT_NEAR(WaitSum(f), 1.3 + 0.7, 1e-9);
}

TEST(ActivityCountersTest, TimeGoesToStateWaitEventAndCpu) {
  ActivityCounters c(1, {});
  for (double t : {100.0, 101.0, 102.0}) {
    c.Add(
        At(t, {Session(1, "active"), Session(2, "active", "Timeout", "PgSleep"),
               Session(3, "idle in transaction", "Client", "ClientRead"),
               Session(4, "idle")}));
  }
  const Families f = Settled(c);
  const auto wait = [&](const char* type, const char* event) {
    return Sample(f, "pg_wait_event_seconds_total",
                  {{"datname", "shop"},
                   {"wait_event_type", type},
                   {"wait_event", event}})
        .value_or(-1);
  };
  EXPECT_EQ(wait("CPU", "CPU"), 3);
  EXPECT_EQ(wait("Timeout", "PgSleep"), 3);
  EXPECT_EQ(wait("Client", "ClientRead"), 3);
  EXPECT_EQ(Sample(f, "pg_session_seconds_total",
                   {{"datname", "shop"}, {"state", "active"}}),
            6);
  EXPECT_EQ(Sample(f, "pg_session_seconds_total",
                   {{"datname", "shop"}, {"state", "idle in transaction"}}),
            3);
  EXPECT_EQ(SampleCount(f, "pg_session_seconds_total"), 2u);  // idle: none
}

TEST(ActivityCountersTest, BlockingTimeGoesToTheRootBlockersSplitEvenly) {
  ActivityCounters c(1, {});
  SampledSession root =
      Session(20, "idle in transaction", "Client", "ClientRead");
  root.usename = "app_rw";
  root.application_name = "billing-1";
  SampledSession other_root = Session(21, "idle");  // advisory lock holder
  other_root.usename = "batch";
  other_root.application_name = "cron";
  for (double t : {100.0, 101.0}) {
    c.Add(At(t, {root, other_root, Waiting(10, {20}), Waiting(11, {10, 21})}));
  }
  const Families f = Settled(c);
  EXPECT_EQ(Sample(f, "pg_blocked_seconds_total", {{"datname", "shop"}}), 4);
  // 10 waits on 20 (root): 2 s; 11 waits on 10 (blocked by 20) and 21: its
  // roots are 20 and 21, 1 s each.
  EXPECT_EQ(Sample(f, "pg_blocking_seconds_total",
                   {{"usename", "app_rw"}, {"application_name", "billing-1"}}),
            3);
  EXPECT_EQ(Sample(f, "pg_blocking_seconds_total",
                   {{"usename", "batch"}, {"application_name", "cron"}}),
            1);
  // The idle root is no session time.
  EXPECT_EQ(Sample(f, "pg_session_seconds_total", {{"state", "idle"}}),
            std::nullopt);
}

TEST(ActivityCountersTest, APreparedTransactionAsRootIsNamedSo) {
  ActivityCounters c(1, {});
  c.Add(At(100, {Waiting(10, {0})}));
  const Families f = Settled(c);
  EXPECT_EQ(Sample(f, "pg_blocking_seconds_total",
                   {{"application_name", "prepared transaction"}}),
            1);
}

TEST(ActivityCountersTest, ACycleCreditsTheDirectBlockers) {
  ActivityCounters c(1, {});
  c.Add(At(100, {Waiting(10, {11}), Waiting(11, {10})}));
  const Families f = Settled(c);
  EXPECT_EQ(SumSamples(f, "pg_blocking_seconds_total"), 2);
}

TEST(ActivityCountersTest,
     AfterAGapASampleCountsOneIntervalAndNothingGoesBack) {
  ActivityCounters c(1, {});
  c.Add(At(100, {Session(1, "active")}));
  c.Add(At(101, {Session(1, "active")}));
  const double before =
      *Sample(Settled(c), "pg_session_seconds_total", {{"state", "active"}});
  // The sampler lost its connection for 9 s, then reconnected.
  c.Add(At(110, {Session(1, "active")}));
  c.Add(At(111, {Session(1, "active")}));
  // The server's clock stepped back.
  c.Add(At(105, {Session(1, "active")}));
  const double after =
      *Sample(c.Collect(), "pg_session_seconds_total", {{"state", "active"}});
  EXPECT_EQ(before, 2);
  EXPECT_EQ(after, 5);
}

TEST(ActivityCountersTest, RolesApplicationsAndQueriesAreBoundedByTopN) {
  ActivityCounters c(1, SampleLimits{2, 3});
  double total = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<SampledSession> sessions;
    for (int i = 0; i < 6; ++i) {
      SampledSession root = Session(100 + i, "idle in transaction");
      root.application_name = "app-" + std::to_string(round * 6 + i);
      sessions.push_back(root);
      sessions.push_back(Waiting(200 + i, {100 + i}));
      SampledSession q = Session(300 + i, "active");
      q.query_id = std::to_string(round * 6 + i + 1);
      sessions.push_back(q);
    }
    c.Add(At(100 + round, sessions));
    total += 6;
    const Families f = c.Collect();
    EXPECT_LE(SampleCount(f, "pg_blocking_seconds_total"), 3u);
    EXPECT_LE(SampleCount(f, "pg_query_active_seconds_total"), 4u);
  }
  const Families f = c.Collect();
  EXPECT_EQ(SumSamples(f, "pg_blocking_seconds_total"), total);
  EXPECT_EQ(SumSamples(f, "pg_query_active_seconds_total"), total);
  EXPECT_GT(*Sample(f, "pg_blocking_seconds_total",
                    {{"usename", "other"}, {"application_name", "other"}}),
            0);
  EXPECT_GT(*Sample(f, "pg_query_active_seconds_total", {{"queryid", "other"}}),
            0);
}

TEST(ActivityCountersTest, CountersNeverDecreaseAndSurviveHostileLabels) {
  ActivityCounters c(1, {});
  std::map<std::string, double> last;
  const auto hostile = testing::HostileStrings();
  for (int i = 0; i < 30; ++i) {
    SampledSession s = Waiting(10 + i % 3, {50});
    s.datname = hostile[i % hostile.size()];
    SampledSession root = Session(50, "idle in transaction");
    root.application_name = hostile[(i + 1) % hostile.size()];
    root.query_id = "42";
    c.Add(At(100 + i, {s, root}));
    const Families f = c.Collect();
    ASSERT_TRUE(testing::ValidExposition(f));
    for (const char* name :
         {"pg_blocked_seconds_total", "pg_blocking_seconds_total",
          "pg_session_seconds_total", "pg_wait_event_seconds_total"}) {
      const double sum = SumSamples(f, name);
      EXPECT_GE(sum, last[name]) << name;
      last[name] = sum;
    }
  }
}

TEST(ActivitySampleQueryTest, AsksForQueryIdAndWaitStartWhereTheyExist) {
  const std::string q13 = ActivitySampleQuery(testing::ServerAt(130000));
  const std::string q14 = ActivitySampleQuery(testing::ServerAt(140000));
  EXPECT_EQ(q13.find("pg_locks"), std::string::npos);
  EXPECT_NE(q13.find("NULL::bigint AS query_id"), std::string::npos);
  EXPECT_NE(q14.find("min(l.waitstart)"), std::string::npos);
  EXPECT_NE(q14.find("query_id AS query_id"), std::string::npos);
}

TEST(ParseActivitySampleTest, ReadsSessionsAndTheTimeOfAnIdleServer) {
  const std::vector<std::string> columns = {
      "sampled_at",       "pid",        "backend_start", "state",
      "wait_event_type",  "wait_event", "datname",       "usename",
      "application_name", "query_id",   "blockers",      "waitstart"};
  const ActivitySample idle = ParseActivitySample(
      MakeRows(columns, {{"1700000000.5", "\\N", "\\N", "\\N", "\\N", "\\N",
                          "\\N", "\\N", "\\N", "\\N", "\\N", "\\N"}}));
  EXPECT_EQ(idle.at, 1700000000.5);
  EXPECT_TRUE(idle.sessions.empty());

  const ActivitySample busy = ParseActivitySample(MakeRows(
      columns, {{"1700000001", "42", "1699999000.25", "active", "Lock", "tuple",
                 "shop", "app", "web", "0", "7,8", "1700000000.75"}}));
  ASSERT_EQ(busy.sessions.size(), 1u);
  const SampledSession& s = busy.sessions[0];
  EXPECT_EQ(s.pid, 42);
  EXPECT_EQ(s.backend_start, 1699999000.25);
  EXPECT_EQ(s.blockers, (std::vector<long>{7, 8}));
  EXPECT_EQ(s.wait_start, 1700000000.75);
  EXPECT_EQ(s.query_id, "");  // 0: not computed

  EXPECT_THROW(ParseActivitySample(MakeRows(columns, {})), std::runtime_error);
  EXPECT_THROW(ParseActivitySample(MakeRows(
                   columns, {{"1", "42", "1", "active", "Lock", "tuple", "d",
                              "u", "a", "\\N", "7,x", "\\N"}})),
               std::runtime_error);
}

}  // namespace
}  // namespace pgwarden
