#include "collectors/queries_yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

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
pg_process_idle:
  query: "SELECT 'a' AS application_name, 1 AS seconds_sum, 1 AS seconds_count, ARRAY[1] AS seconds, ARRAY[1] AS seconds_bucket"
  metrics:
    - application_name:
        usage: "LABEL"
        description: "Application Name"
    - seconds:
        usage: "HISTOGRAM"
        description: "Idle time of server processes"
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

TEST(QueriesYamlTest, ParsesEveryUsage) {
  const auto queries = ParseCustomQueries(kQueries, "q.yaml");
  ASSERT_EQ(queries.size(), 3u);
  EXPECT_EQ(queries[0].name, "pg_replication_state");
  EXPECT_EQ(queries[0].cache_seconds, 30);
  ASSERT_EQ(queries[0].metrics.size(), 5u);
  EXPECT_EQ(queries[0].metrics[1].mapping.at("streaming"), 1);
  EXPECT_EQ(queries[1].metrics.at(1).usage, CustomMetric::Usage::kHistogram);
  EXPECT_EQ(queries[2].min_server_version, 140000);
  EXPECT_EQ(queries[2].max_server_version, 169999);
  EXPECT_EQ(queries[2].timeout_seconds, 2.5);
}

TEST(QueriesYamlTest, BrokenFilesNameFileLineAndReason) {
  EXPECT_THAT(ErrorOf("a:\n  query: [unclosed\n"), HasSubstr("q.yaml:"));
  EXPECT_THAT(ErrorOf("pg_x:\n  query: \"SELECT 1\"\n  metrics:\n    - v:\n"
                      "        usage: \"GAUGES\"\n"),
              HasSubstr("q.yaml:5: v: unsupported usage \"GAUGES\""));
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

TEST(QueriesYamlTest, UnreadableFile) {
  EXPECT_THROW(LoadCustomQueries("/nonexistent/queries.yaml"),
               std::invalid_argument);
}

TEST(QueriesYamlTest, NamesAreCheckedAndUnique) {
  EXPECT_THAT(ErrorOf("pg_x:\n  query: \"SELECT 1\"\n  metrics:\n    - 9v: "
                      "{usage: GAUGE}\n"),
              HasSubstr("q.yaml:4: \"9v\" is not a valid metric name"));
  EXPECT_THAT(ErrorOf("pg_x:\n  query: \"SELECT 1\"\n  metrics:\n    - __v: "
                      "{usage: LABEL}\n"),
              HasSubstr("\"__v\" is not a valid label name"));
  EXPECT_THAT(
      ErrorOf(
          "pg_x:\n  query: \"SELECT 1\"\n  metrics:\n    - v: {usage: GAUGE}\n"
          "pg_x:\n  query: \"SELECT 2\"\n  metrics:\n    - v: {usage: "
          "GAUGE}\n"),
      ::testing::AnyOf(HasSubstr("appears twice"), HasSubstr("duplicate")));
  // A namespace may hold a colon, as Prometheus' recording rule names do.
  EXPECT_EQ(ErrorOf("pg:x:\n  query: \"SELECT 1\"\n  metrics:\n    - v: "
                    "{usage: GAUGE}\n"),
            "");
}

}  // namespace
}  // namespace pgwarden::testing
