#include "collectors/custom.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using testing::FindFamily;
using ::testing::HasSubstr;
using testing::MakeRows;
using testing::Sample;

// Every usage kind of postgres_exporter's queries.yaml, in its own style.
constexpr char kQueries[] = R"yaml(
pg_replication_state:
  query: "SELECT application_name, state, lag_ms, sent, 'x' AS junk FROM t"
  master: true
  cache_seconds: 30
  metrics:
    - application_name:
        usage: "LABEL"
        description: "Standby name"
    - state:
        usage: "MAPPEDMETRIC"
        description: "Streaming state"
        mapping:
          streaming: 1
          catchup: 0
    - lag_ms:
        usage: "DURATION"
        description: "Replay lag"
    - sent:
        usage: "COUNTER"
        description: "Bytes sent"
    - junk:
        usage: "DISCARD"
        description: "Unused"
pg_new_only:
  query: "SELECT 1 AS one"
  runonserver: ">=14.0.0 <17.0.0"
  timeout_seconds: 2.5
  metrics:
    - one:
        usage: "GAUGE"
        description: "One"
)yaml";

std::string ErrorOf(const std::string& yaml) {
  try {
    ParseCustomQueries(yaml, "q.yaml");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(CustomQueriesTest, ParsesEveryUsage) {
  const auto queries = ParseCustomQueries(kQueries, "q.yaml");
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[0].name, "pg_replication_state");
  EXPECT_EQ(queries[0].cache_seconds, 30);
  ASSERT_EQ(queries[0].metrics.size(), 5u);
  EXPECT_EQ(queries[0].metrics[1].mapping.at("streaming"), 1);
  EXPECT_EQ(queries[1].min_server_version, 140000);
  EXPECT_EQ(queries[1].max_server_version, 169999);
  EXPECT_EQ(queries[1].timeout_seconds, 2.5);
}

TEST(CustomQueriesTest, CollectorEmitsPostgresExporterNames) {
  auto queries = ParseCustomQueries(kQueries, "q.yaml");
  auto c = NewCustomCollector(queries[0], false);
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
  NewCustomCollector(queries[0], true)
      ->Parse(testing::ServerAt(150000), rows, legacy);
  EXPECT_EQ(Sample(legacy, "pg_replication_state_lag_ms_milliseconds",
                   {{"application_name", "standby1"}}),
            1500);
}

TEST(CustomQueriesTest, TimestampColumnsBecomeUnixSeconds) {
  auto q = ParseCustomQueries(
      "pg_t:\n  query: \"SELECT now() AS at\"\n  metrics:\n"
      "    - at: {usage: GAUGE, description: at}\n",
      "q.yaml");
  Families out;
  NewCustomCollector(q[0], false)
      ->Parse(testing::ServerAt(150000),
              MakeRows({"at"}, {{"2026-11-22 04:47:49.5+02"}, {"not a time"}}),
              out);
  // 04:47:49.5 at +02:00 is 02:47:49.5 UTC.
  EXPECT_EQ(testing::SampleCount(out, "pg_t_at"), 1u);
  EXPECT_EQ(Sample(out, "pg_t_at"), 1795315669.5);
}

TEST(CustomQueriesTest, VersionBoundsAndTimeout) {
  auto queries = ParseCustomQueries(kQueries, "q.yaml");
  auto c = NewCustomCollector(queries[1], false);
  EXPECT_EQ(c->Query(testing::ServerAt(130000)), "");
  EXPECT_EQ(c->Query(testing::ServerAt(140005)), "SELECT 1 AS one");
  EXPECT_EQ(c->Query(testing::ServerAt(170000)), "");
  EXPECT_EQ(c->TimeoutMs(), 2500);
  EXPECT_EQ(NewCustomCollector(queries[0], false)->TimeoutMs(), 0);
}

TEST(CustomQueriesTest, BrokenFilesNameFileLineAndReason) {
  EXPECT_THAT(ErrorOf("a:\n  query: [unclosed\n"), HasSubstr("q.yaml:"));
  EXPECT_THAT(ErrorOf("pg_x:\n  query: \"SELECT 1\"\n  metrics:\n    - v:\n"
                      "        usage: \"HISTOGRAM\"\n"),
              HasSubstr("q.yaml:5: v: unsupported usage \"HISTOGRAM\""));
  EXPECT_THAT(ErrorOf("pg_x:\n  metrics:\n    - v: {usage: GAUGE}\n"),
              HasSubstr("q.yaml:1: pg_x: no query"));
  EXPECT_THAT(ErrorOf("pg_x:\n  query: \"SELECT 1\"\n"),
              HasSubstr("no metrics"));
  EXPECT_THAT(ErrorOf("locks:\n  query: \"SELECT 1\"\n  metrics:\n    - v: "
                      "{usage: GAUGE}\n"),
              HasSubstr("built-in collector"));
  EXPECT_THAT(ErrorOf("pg-x:\n  query: \"SELECT 1\"\n  metrics:\n    - v: "
                      "{usage: GAUGE}\n"),
              HasSubstr("not a valid metric name"));
  EXPECT_THAT(ErrorOf("pg_x:\n  query: \"SELECT 1\"\n  metrics:\n    - v:\n"
                      "        usage: MAPPEDMETRIC\n"),
              HasSubstr("needs a mapping"));
  EXPECT_THAT(
      ErrorOf("pg_x:\n  query: \"SELECT 1\"\n  per_database: true\n  metrics:\n"
              "    - v: {usage: GAUGE}\n"),
      HasSubstr("LABEL column named datname"));
  EXPECT_THAT(
      ErrorOf(
          "pg_x:\n  query: \"SELECT 1\"\n  cache_seconds: soon\n  metrics:\n"
          "    - v: {usage: GAUGE}\n"),
      HasSubstr("q.yaml:3:"));
  EXPECT_THAT(
      ErrorOf(
          "pg_x:\n  query: \"SELECT 1\"\n  runonserver: \"~>9\"\n  metrics:\n"
          "    - v: {usage: GAUGE}\n"),
      HasSubstr("runonserver"));
  EXPECT_EQ(ErrorOf(""), "");  // an empty file: no queries, not an error
}

TEST(CustomQueriesTest, UnreadableFile) {
  EXPECT_THROW(LoadCustomQueries("/nonexistent/queries.yaml"),
               std::invalid_argument);
}

}  // namespace
}  // namespace pgwarden
