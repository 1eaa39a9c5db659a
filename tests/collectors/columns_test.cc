#include "collectors/columns.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using prometheus::MetricType;

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

// Every table-driven collector, every row of its table: the column is in
// its SQL on some supported version, and a value in that column comes out
// under the metric's name, scaled, typed and labelled as the table says.
TEST(ColumnCollectorsTest, EveryColumnOfEveryTableComesOut) {
  int checked = 0;
  for (const auto& r : RegisteredCollectors()) {
    CollectorOptions options;
    options.legacy_names = true;
    auto collector = r.factory(options);
    const auto* c = dynamic_cast<const ColumnCollector*>(collector.get());
    if (!c) continue;
    ++checked;
    SCOPED_TRACE(r.name);
    std::string all_sql;
    ServerInfo newest;
    for (int version :
         {120000, 130000, 140000, 150000, 160000, 170000, 180000}) {
      const std::string sql = c->Query(testing::ServerAt(version));
      if (!sql.empty()) newest = testing::ServerAt(version);
      all_sql += sql;
    }
    std::vector<std::string> columns;
    std::vector<std::string> cells;
    auto add_column = [&](const std::string& column, const std::string& cell) {
      if (std::find(columns.begin(), columns.end(), column) != columns.end()) {
        return;
      }
      EXPECT_NE(all_sql.find(column), std::string::npos)
          << "column " << column << " is in no version's SQL";
      columns.push_back(column);
      cells.push_back(cell);
    };
    for (const LabelColumn& l : c->labels())
      add_column(l.column, "l_" + std::string(l.label));
    for (size_t i = 0; i < c->metrics().size(); ++i) {
      add_column(c->metrics()[i].column, std::to_string(i + 1));
    }
    Families out;
    c->Parse(newest, MakeRows(columns, {cells}), out);
    std::map<std::string, std::string> labels;
    for (const LabelColumn& l : c->labels())
      labels[l.label] = "l_" + std::string(l.label);
    for (const ColumnMetric& m : c->metrics()) {
      SCOPED_TRACE(m.name);
      const size_t at =
          std::find(columns.begin(), columns.end(), m.column) - columns.begin();
      const double value = std::stod(cells[at]) * m.scale;
      const auto* family = FindFamily(out, m.name);
      ASSERT_NE(family, nullptr);
      EXPECT_EQ(family->type, TypeFor(m.name, m.kind));
      EXPECT_EQ(family->metric.size(), 1u);
      EXPECT_EQ(Sample(out, m.name, labels), value);
      if (m.legacy_name) {
        EXPECT_EQ(Sample(out, m.legacy_name, labels), value);
      }
    }
    EXPECT_TRUE(testing::ValidExposition(out));
  }
  EXPECT_GE(checked, 15);
}

}  // namespace
}  // namespace pgwarden::testing
