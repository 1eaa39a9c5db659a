#include "exporter/self_metrics.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

Outcome Ok(Clock::time_point fetched, double seconds) {
  Outcome o;
  o.state = Outcome::State::kOk;
  o.fetched = fetched;
  o.seconds = seconds;
  return o;
}

TEST(SelfMetricsTest, OneSeriesPerCollectorAndTheTargetCounters) {
  Collection::Snapshot s;
  s.done = true;
  s.up = true;
  s.server = testing::ServerAt(150004);
  s.server->version = "15.4 (Debian 15.4-1)";
  s.started = Clock::now();
  s.seconds = 0.25;
  s.outcomes.push_back(Ok(s.started + std::chrono::milliseconds(1), 0.125));
  // Served from its memo, read 30 s before this collection started.
  s.outcomes.push_back(Ok(s.started - std::chrono::seconds(30), 0));
  Outcome failed;
  failed.state = Outcome::State::kFailed;
  s.outcomes.push_back(failed);
  s.outcomes.emplace_back();  // still pending at the deadline
  TargetCounters counters;
  counters.scrapes = 7;
  counters.connection_errors = 2;
  counters.connections_opened = 3;
  counters.open_connections = 2;
  const Families out =
      SelfMetrics(s, {"fresh", "memo", "failed", "pending"}, counters);

  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "pg_static", {{"short_version", "15.4.0"}}), 1);
  EXPECT_EQ(CollectorSuccess(out, "fresh"), 1);
  EXPECT_EQ(CollectorSuccess(out, "memo"), 1);
  EXPECT_EQ(CollectorSuccess(out, "failed"), 0);
  EXPECT_EQ(CollectorSuccess(out, "pending"), 0);
  EXPECT_EQ(Sample(out, "pg_scrape_collector_duration_seconds",
                   {{"collector", "fresh"}}),
            0.125);
  EXPECT_EQ(Sample(out, "pgwarden_collector_result_age_seconds",
                   {{"collector", "fresh"}}),
            0);
  EXPECT_GE(*Sample(out, "pgwarden_collector_result_age_seconds",
                    {{"collector", "memo"}}),
            30);
  // Only collectors that served data have an age.
  EXPECT_FALSE(Sample(out, "pgwarden_collector_result_age_seconds",
                      {{"collector", "failed"}}));
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_scrapes_total"), 7);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_duration_seconds"), 0.25);
  EXPECT_EQ(Sample(out, "pgwarden_connection_errors_total"), 2);
  EXPECT_EQ(Sample(out, "pgwarden_connections_opened_total"), 3);
  EXPECT_EQ(Sample(out, "pgwarden_database_connections"), 2);
  EXPECT_EQ(Sample(out, "pgwarden_build_info", {{"version", PGWARDEN_VERSION}}),
            1);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(SelfMetricsTest, DownServesTheLastKnownVersionOrNone) {
  Collection::Snapshot s;
  s.outcomes.resize(1);
  TargetCounters counters;
  Families out = SelfMetrics(s, {"a"}, counters);
  EXPECT_EQ(Sample(out, "pg_up"), 0);
  EXPECT_EQ(testing::FindFamily(out, "pg_static"), nullptr);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 1);
  counters.last_server = testing::ServerAt(160002);
  counters.last_server->version = "16.2";
  out = SelfMetrics(s, {"a"}, counters);
  EXPECT_EQ(Sample(out, "pg_static",
                   {{"version", "16.2"}, {"short_version", "16.2.0"}}),
            1);
}

TEST(SelfMetricsTest, CleanScrapeHasNoError) {
  Collection::Snapshot s;
  s.up = true;
  s.started = Clock::now();
  s.outcomes.push_back(Ok(s.started, 0));
  EXPECT_EQ(Sample(SelfMetrics(s, {"a"}, {}), "pg_exporter_last_scrape_error"),
            0);
}

// A /probe target's answer describes the target alone: the process'
// families are /metrics' business.
TEST(SelfMetricsTest, ProcessFamiliesOnlyWhenAsked) {
  Collection::Snapshot s;
  s.up = true;
  s.started = Clock::now();
  auto has = [](const Families& families, const std::string& name) {
    for (const auto& f : families) {
      if (f.name == name) return true;
    }
    return false;
  };
  const Families own = SelfMetrics(s, {}, {}, true);
  const Families probed = SelfMetrics(s, {}, {}, false);
  EXPECT_TRUE(has(own, "pgwarden_build_info"));
  EXPECT_TRUE(has(own, "process_resident_memory_bytes"));
  EXPECT_FALSE(has(probed, "pgwarden_build_info"));
  EXPECT_FALSE(has(probed, "process_resident_memory_bytes"));
  EXPECT_TRUE(has(probed, "pg_up"));
  EXPECT_TRUE(has(ProcessFamilies(), "process_resident_memory_bytes"));
}

}  // namespace
}  // namespace pgwarden::testing
