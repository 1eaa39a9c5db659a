#include "collectors/custom.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exporter/text.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using U = CustomMetric::Usage;

// pg_replication_state with every usage kind (as queries.yaml spells it:
// see queries_yaml_test.cc).
CustomQuery ReplicationState() {
  CustomQuery q;
  q.name = "pg_replication_state";
  q.sql = "SELECT application_name, state, lag_ms, sent, 'x' AS junk FROM t";
  q.metrics = {{"application_name", U::kLabel, "Standby name", {}},
               {"state",
                U::kMappedMetric,
                "Streaming state",
                {{"streaming", 1}, {"catchup", 0}}},
               {"lag_ms", U::kDuration, "Replay lag", {}},
               {"sent", U::kCounter, "Bytes sent", {}},
               {"junk", U::kDiscard, "Unused", {}}};
  return q;
}

TEST(CustomCollectorTest, EmitsPostgresExporterNames) {
  auto c = NewCustomCollector(ReplicationState(), false);
  EXPECT_EQ(c->Name(), "pg_replication_state");
  const Rows rows =
      MakeRows({"application_name", "state", "lag_ms", "sent", "junk"},
               {{"standby1", "streaming", "1500", "4096", "x"},
                {"standby2", "unknown-state", "\\N", "10", "y"}});
  Families out;
  c->Parse(testing::ServerAt(150000), rows, out);
  EXPECT_EQ(Sample(out, "pg_replication_state_state",
                   {{"application_name", "standby1"}}),
            1);
  // Unmapped text and NULL give no sample rather than a made-up value.
  EXPECT_FALSE(Sample(out, "pg_replication_state_state",
                      {{"application_name", "standby2"}}));
  EXPECT_EQ(Sample(out, "pg_replication_state_lag_seconds",
                   {{"application_name", "standby1"}}),
            1.5);
  EXPECT_FALSE(Sample(out, "pg_replication_state_lag_seconds",
                      {{"application_name", "standby2"}}));
  EXPECT_EQ(Sample(out, "pg_replication_state_sent",
                   {{"application_name", "standby2"}}),
            10);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_junk"), nullptr);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_application_name"), nullptr);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_lag_ms_milliseconds"),
            nullptr);
  EXPECT_TRUE(testing::ValidExposition(out));

  Families legacy;
  NewCustomCollector(ReplicationState(), true)
      ->Parse(testing::ServerAt(150000), rows, legacy);
  EXPECT_EQ(Sample(legacy, "pg_replication_state_lag_ms_milliseconds",
                   {{"application_name", "standby1"}}),
            1500);
}

TEST(CustomCollectorTest, RowsWithTheSameLabelsKeepTheFirstInEveryFamily) {
  // Distinct text that sanitizes alike: one series per family, the first
  // row's, even where its cell is NULL (that family then has none), so the
  // families of one query never disagree on which row a label set means.
  const Rows rows =
      MakeRows({"application_name", "state", "lag_ms", "sent", "junk"},
               {{"s\xFF", "streaming", "\\N", "1", "x"},
                {"s\xFE", "catchup", "2000", "2", "y"},
                {"t", "catchup", "3000", "3", "z"}});
  Families out;
  NewCustomCollector(ReplicationState(), false)
      ->Parse(testing::ServerAt(150000), rows, out);
  const std::map<std::string, std::string> first = {
      {"application_name", "s\xEF\xBF\xBD"}};
  EXPECT_EQ(SampleCount(out, "pg_replication_state_sent"), 2u);
  EXPECT_EQ(Sample(out, "pg_replication_state_sent", first), 1);
  EXPECT_EQ(Sample(out, "pg_replication_state_state", first), 1);
  EXPECT_FALSE(Sample(out, "pg_replication_state_lag_seconds", first));
  EXPECT_EQ(Sample(out, "pg_replication_state_lag_seconds",
                   {{"application_name", "t"}}),
            3);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(CustomCollectorTest, TimestampColumnsBecomeUnixSeconds) {
  CustomQuery q;
  q.name = "pg_t";
  q.sql = "SELECT now() AS at";
  q.metrics = {{"at", U::kGauge, "at", {}}};
  Families out;
  NewCustomCollector(q, false)->Parse(
      testing::ServerAt(150000),
      MakeRows({"at"}, {{"2026-11-22 04:47:49.5+02"}, {"not a time"}}), out);
  // 04:47:49.5 at +02:00 is 02:47:49.5 UTC.
  EXPECT_EQ(testing::SampleCount(out, "pg_t_at"), 1u);
  EXPECT_EQ(Sample(out, "pg_t_at"), 1795315669.5);
}

TEST(CustomCollectorTest, VersionBoundsTimeoutAndScope) {
  CustomQuery q;
  q.name = "pg_new_only";
  q.sql = "SELECT 1 AS one";
  q.min_server_version = 140000;
  q.max_server_version = 169999;
  q.timeout_seconds = 2.5;
  q.per_database = true;
  auto c = NewCustomCollector(q, false);
  EXPECT_EQ(c->Query(testing::ServerAt(130000)), "");
  EXPECT_EQ(c->Query(testing::ServerAt(140005)), "SELECT 1 AS one");
  EXPECT_EQ(c->Query(testing::ServerAt(170000)), "");
  EXPECT_EQ(c->TimeoutMs(), 2500);
  EXPECT_TRUE(c->PerDatabase());
  auto plain = NewCustomCollector(ReplicationState(), false);
  EXPECT_EQ(plain->TimeoutMs(), 0);
  EXPECT_FALSE(plain->PerDatabase());
  EXPECT_EQ(plain->Query(testing::ServerAt(120000)), ReplicationState().sql);
}

// postgres_exporter's HISTOGRAM: the bounds in the column, the cumulative
// counts in <column>_bucket, and <column>_sum and <column>_count.
CustomQuery ProcessIdle() {
  CustomQuery q;
  q.name = "pg_process_idle";
  q.sql = "SELECT ...";
  q.metrics = {{"application_name", U::kLabel, "Application", {}},
               {"seconds", U::kHistogram, "Idle time", {}}};
  return q;
}

const std::vector<std::string> kIdleColumns = {"application_name",
                                               "seconds_sum", "seconds_count",
                                               "seconds", "seconds_bucket"};

TEST(CustomCollectorTest, HistogramAsPostgresExporterReadsIt) {
  Families out;
  NewCustomCollector(ProcessIdle(), false)
      ->Parse(ServerAt(150000),
              MakeRows(kIdleColumns,
                       {{"app", "95.5", "3", "{1,2,5,15}", "{0,1,2,3}"},
                        {"batch", "0", "0", "{1,2,5,15}", "{0,0,0,0}"}}),
              out);
  const auto* family = FindFamily(out, "pg_process_idle_seconds");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->type, prometheus::MetricType::Histogram);
  ASSERT_EQ(family->metric.size(), 2u);
  const auto& h = family->metric[0].histogram;
  EXPECT_EQ(h.sample_count, 3u);
  EXPECT_EQ(h.sample_sum, 95.5);
  ASSERT_EQ(h.bucket.size(), 4u);
  EXPECT_EQ(h.bucket[1].upper_bound, 2);
  EXPECT_EQ(h.bucket[1].cumulative_count, 1u);
  const std::string text = Serialize(out);
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "pg_process_idle_seconds_bucket{application_name="
                        "\"app\",le=\"5\"} 2\n"));
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "pg_process_idle_seconds_bucket{application_name="
                        "\"app\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(
      text, ::testing::HasSubstr("pg_process_idle_seconds_sum{application_name="
                                 "\"app\"} 95.5\n"));
  // The sibling columns are the histogram's, not metrics of their own.
  EXPECT_EQ(FindFamily(out, "pg_process_idle_seconds_bucket"), nullptr);
  EXPECT_EQ(FindFamily(out, "pg_process_idle_seconds_sum"), nullptr);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(CustomCollectorTest, RowsThatAreNotAHistogramFailTheQuery) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"a", "1", "3", "{1,2,5}", "{0,1}"}, "3 bucket bounds but 2 bucket"},
      {{"a", "1", "3", "\\N", "{0,1}"}, "seconds is NULL"},
      {{"a", "1", "3", "{1,2}", "\\N"}, "seconds_bucket is NULL"},
      {{"a", "1", "3", "{1,NULL}", "{0,1}"}, "non-numeric element"},
      {{"a", "1", "3", "{5,2}", "{0,1}"}, "not increasing"},
      {{"a", "1", "3", "{1,2}", "{2,1}"}, "not cumulative"},
      {{"a", "1", "3", "{1,2}", "{1,4}"}, "more than the count"},
      {{"a", "\\N", "3", "{1,2}", "{1,2}"}, "seconds_sum is missing"},
      {{"a", "1", "3", "1,2", "{1,2}"}, "not an array"},
  };
  for (const auto& [row, reason] : bad) {
    std::vector<std::vector<std::string>> cells = {
        {"ok", "1", "1", "{1}", "{1}"}, row};
    Families out;
    try {
      NewCustomCollector(ProcessIdle(), false)
          ->Parse(ServerAt(150000), MakeRows(kIdleColumns, cells), out);
      ADD_FAILURE() << "accepted: " << reason;
    } catch (const std::exception& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(reason));
    }
  }
}

TEST(CustomCollectorTest, SeriesLimitFailsTheQueryAlone) {
  const Rows rows = MakeRows(
      {"application_name", "state", "lag_ms", "sent", "junk"},
      {{"s1", "streaming", "1", "1", "x"}, {"s2", "streaming", "1", "1", "x"}});
  Families out;
  // Two rows, three value columns: six series.
  NewCustomCollector(ReplicationState(), false, 6)
      ->Parse(ServerAt(150000), rows, out);
  EXPECT_EQ(FindFamily(out, "pg_replication_state_sent")->metric.size(), 2u);
  Families over;
  try {
    NewCustomCollector(ReplicationState(), false, 5)
        ->Parse(ServerAt(150000), rows, over);
    ADD_FAILURE() << "six series passed a limit of five";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(),
                ::testing::HasSubstr(
                    "6 series, more than --custom_query_series_limit=5"));
  }
  EXPECT_TRUE(over.empty());
}

}  // namespace
}  // namespace pgwarden::testing
