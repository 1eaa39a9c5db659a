#include "collectors/columns.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace pgwarden {
namespace {

using prometheus::MetricType;
using testing::FindFamily;
using testing::MakeRows;
using testing::Sample;

TEST(ColumnsTest, TypeForKeepsNamesLintClean) {
  EXPECT_EQ(TypeFor("pg_x_total", Kind::kCounter), MetricType::Counter);
  // postgres_exporter's counters without _total: untyped, not a lint error.
  EXPECT_EQ(TypeFor("pg_stat_database_xact_commit", Kind::kCounter),
            MetricType::Untyped);
  EXPECT_EQ(TypeFor("pg_x_bytes", Kind::kGauge), MetricType::Gauge);
  EXPECT_EQ(TypeFor("pg_stat_archiver_archived_count", Kind::kCounter),
            MetricType::Untyped);
  EXPECT_EQ(TypeFor("pg_x_count", Kind::kGauge), MetricType::Untyped);
}

TEST(ColumnsTest, OneSamplePerNumericCellLabelledFromRow) {
  const Rows rows =
      MakeRows({"db", "n", "ms", "word"}, {{"a", "1", "1500", "x"},
                                           {"b", "\\N", "20", "y"},
                                           {"\\N", "3", "\\N", "z"}});
  Families out;
  EmitColumns(rows, {{"datname", "db"}},
              {{"n", "pg_t_n", "n."},
               {"ms", "pg_t_seconds_total", "time.", Kind::kCounter, 0.001},
               {"word", "pg_t_word", "not a number."},
               {"absent", "pg_t_absent", "no such column."}},
              false, out);
  EXPECT_EQ(Sample(out, "pg_t_n", {{"datname", "a"}}), 1);
  EXPECT_FALSE(Sample(out, "pg_t_n", {{"datname", "b"}}));  // NULL: left out
  EXPECT_EQ(Sample(out, "pg_t_n", {{"datname", ""}}), 3);   // NULL label: ""
  EXPECT_EQ(Sample(out, "pg_t_seconds_total", {{"datname", "a"}}), 1.5);
  EXPECT_EQ(FindFamily(out, "pg_t_seconds_total")->type, MetricType::Counter);
  EXPECT_EQ(FindFamily(out, "pg_t_word"), nullptr);
  EXPECT_EQ(FindFamily(out, "pg_t_absent"), nullptr);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(ColumnsTest, LegacyNamesOnlyWhenAsked) {
  const Rows rows = MakeRows({"v"}, {{"7"}});
  const std::vector<ColumnMetric> metrics = {
      {"v", "pg_t_v_total", "v.", Kind::kCounter, 1, "pg_t_v"}};
  Families plain, legacy;
  EmitColumns(rows, {}, metrics, false, plain);
  EmitColumns(rows, {}, metrics, true, legacy);
  EXPECT_EQ(FindFamily(plain, "pg_t_v"), nullptr);
  EXPECT_EQ(Sample(legacy, "pg_t_v"), 7);
  EXPECT_EQ(Sample(legacy, "pg_t_v_total"), 7);
  EXPECT_EQ(FindFamily(legacy, "pg_t_v")->type, MetricType::Untyped);
  EXPECT_TRUE(testing::ValidExposition(legacy));
}

}  // namespace
}  // namespace pgwarden
