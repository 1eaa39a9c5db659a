#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<Collector> Make(int limit = 100, bool include_query = false) {
  CollectorOptions options;
  options.stat_statements_limit = limit;
  options.stat_statements_include_query = include_query;
  options.stat_statements_query_length = 40;
  return testing::NewCollector("stat_statements", options);
}

ServerInfo Server(int version, int ext_version = 0) {
  ServerInfo s;
  s.version_num = version;
  s.pgss_available = true;
  s.pgss_schema = "public";
  s.pgss_version_num = ext_version;
  return s;
}

const std::vector<std::string> kColumns = {"user",
                                           "datname",
                                           "queryid",
                                           "calls",
                                           "seconds",
                                           "rows",
                                           "block_read_seconds",
                                           "block_write_seconds",
                                           "plan_seconds",
                                           "query"};

TEST(StatStatementsCollectorTest, ColumnsFollowTheVersion) {
  const std::string v12 = Make()->Query(Server(120000));
  EXPECT_THAT(v12, HasSubstr("sum(total_time)"));
  EXPECT_THAT(v12, HasSubstr("sum(blk_read_time)"));
  EXPECT_THAT(v12, Not(HasSubstr("total_exec_time")));
  EXPECT_THAT(v12, Not(HasSubstr("total_plan_time")));
  for (int v : {130000, 140000, 160000}) {
    const std::string sql = Make()->Query(Server(v));
    EXPECT_THAT(sql, HasSubstr("sum(total_exec_time)")) << v;
    EXPECT_THAT(sql, HasSubstr("sum(total_plan_time)")) << v;
    EXPECT_THAT(sql, HasSubstr("sum(blk_write_time)")) << v;
  }
  for (int v : {170000, 180000}) {
    const std::string sql = Make()->Query(Server(v));
    EXPECT_THAT(sql, HasSubstr("sum(shared_blk_read_time)")) << v;
    EXPECT_THAT(sql, HasSubstr("sum(shared_blk_write_time)")) << v;
    EXPECT_THAT(sql, Not(HasSubstr("sum(blk_read_time)"))) << v;
  }
}

TEST(StatStatementsCollectorTest, ExtensionVersionWinsOverServerVersion) {
  // A server upgraded to 17 that still has extension 1.10 has no
  // shared_blk_read_time column.
  const std::string sql = Make()->Query(Server(170000, 11000));
  EXPECT_THAT(sql, HasSubstr("sum(blk_read_time)"));
  EXPECT_THAT(sql, HasSubstr("sum(total_exec_time)"));
}

TEST(StatStatementsCollectorTest, QueryHasLimitSchemaAndNoText) {
  ServerInfo s = Server(150000);
  s.pgss_schema = "mon\"itor";
  const std::string sql = Make(7)->Query(s);
  EXPECT_THAT(sql, HasSubstr("<= 7"));
  EXPECT_THAT(sql, HasSubstr("FROM \"mon\"\"itor\".pg_stat_statements(false)"));
  EXPECT_THAT(sql, Not(HasSubstr("left(query")));
  EXPECT_EQ(sql.find('%'), std::string::npos);
  EXPECT_THAT(Make(7, true)->Query(s), HasSubstr("pg_stat_statements(true)"));
  EXPECT_THAT(Make(7, true)->Query(s), HasSubstr("left(query, 40)"));
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

TEST(StatStatementsCollectorTest, ParsesTopAndOther) {
  const Rows rows = MakeRows(
      kColumns,
      {{"alice", "app", "123", "10", "1.5", "100", "0.25", "0", "0.125", "\\N"},
       {"alice", "app", "other", "90", "0.5", "7", "0", "0", "0", "\\N"},
       {"bob", "\\N", "-45", "1", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N"}});
  Families out;
  Make()->Parse(Server(150000), rows, out);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 1);
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"user", "alice"}, {"datname", "app"}, {"queryid", "123"}}),
            10);
  EXPECT_EQ(
      Sample(out, "pg_stat_statements_seconds_total", {{"queryid", "other"}}),
      0.5);
  EXPECT_EQ(Sample(out, "pg_stat_statements_rows_total", {{"queryid", "123"}}),
            100);
  EXPECT_EQ(Sample(out, "pg_stat_statements_block_read_seconds_total",
                   {{"queryid", "123"}}),
            0.25);
  EXPECT_EQ(Sample(out, "pg_stat_statements_plan_seconds_total",
                   {{"queryid", "123"}}),
            0.125);
  // NULL cells read as 0; a NULL database name is an empty label.
  EXPECT_EQ(Sample(out, "pg_stat_statements_seconds_total",
                   {{"user", "bob"}, {"datname", ""}, {"queryid", "-45"}}),
            0);
  EXPECT_EQ(testing::SumSamples(out, "pg_stat_statements_calls_total"), 101);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_query_id"), 0u);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(StatStatementsCollectorTest, NoPlanTimeBefore13) {
  const Rows rows = MakeRows(
      kColumns, {{"alice", "app", "1", "1", "1", "1", "0", "0", "0", "\\N"}});
  Families out;
  Make()->Parse(Server(120000), rows, out);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_plan_seconds_total"), 0u);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_calls_total"), 1u);
}

TEST(StatStatementsCollectorTest,
     QueryTextOncePerQueryidAndHostileTextStaysValid) {
  std::vector<std::vector<std::string>> cells;
  int id = 1;
  for (const auto& s : testing::HostileStrings()) {
    const std::string qid = std::to_string(id++);
    cells.push_back({"alice", "app", qid, "1", "1", "1", "0", "0", "0", s});
    cells.push_back({s, s, qid, "1", "1", "1", "0", "0", "0", s});
  }
  Families out;
  Make(100, true)->Parse(Server(170000), MakeRows(kColumns, cells), out);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_query_id"),
            testing::HostileStrings().size());
  EXPECT_EQ(Sample(out, "pg_stat_statements_query_id", {{"queryid", "4"}}), 1);
  EXPECT_TRUE(testing::ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden::testing
