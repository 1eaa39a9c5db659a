#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden {
namespace {

using ::testing::HasSubstr;
using testing::MakeRows;
using testing::Sample;
using testing::SampleCount;

std::unique_ptr<Collector> Make(const std::string& name, int limit = 100) {
  CollectorOptions o;
  o.relation_limit = limit;
  return std::move(CreateCollectors({name}, o).at(0));
}

TEST(IndexesCollectorTest, UnusedInvalidAndByType) {
  EXPECT_THAT(Make("indexes", 7)->Query(ServerInfo{}), HasSubstr("LIMIT 7"));
  const Rows rows = MakeRows(
      {"kind", "datname", "schemaname", "relname", "indexrelname", "type", "n",
       "size_bytes"},
      {{"type", "app", "\\N", "\\N", "\\N", "btree", "4", "81920"},
       {"type", "app", "\\N", "\\N", "\\N", "gin", "1", "16384"},
       {"summary", "app", "\\N", "\\N", "\\N", "\\N", "1", "16384"},
       {"invalid_summary", "app", "\\N", "\\N", "\\N", "\\N", "1", "0"},
       {"unused", "app", "public", "docs", "docs_body_gin", "gin", "1",
        "16384"},
       {"invalid", "app", "public", "t", "t_x_ccnew", "btree", "1", "8192"},
       {"summary", "other", "\\N", "\\N", "\\N", "\\N", "0", "0"},
       {"invalid_summary", "other", "\\N", "\\N", "\\N", "\\N", "0", "0"}});
  Families out;
  Make("indexes")->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_indexes_size_bytes",
                   {{"datname", "app"}, {"type", "gin"}}),
            16384);
  EXPECT_EQ(Sample(out, "pg_indexes_unused_indexes", {{"datname", "app"}}), 1);
  EXPECT_EQ(Sample(out, "pg_indexes_unused_indexes", {{"datname", "other"}}),
            0);
  EXPECT_EQ(Sample(out, "pg_indexes_unused_size_bytes",
                   {{"indexrelname", "docs_body_gin"}}),
            16384);
  EXPECT_EQ(Sample(out, "pg_indexes_invalid", {{"indexrelname", "t_x_ccnew"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_indexes_invalid_indexes", {{"datname", "other"}}),
            0);
  EXPECT_EQ(SampleCount(out, "pg_indexes_invalid"), 1u);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(PartitionsCollectorTest, RunwayOnlyWhereKnown) {
  EXPECT_TRUE(Make("partitions")->PerDatabase());
  const Rows rows =
      MakeRows({"datname", "schemaname", "relname", "children", "has_default",
                "upper_bound"},
               {{"app", "public", "events", "12", "0", "1798761600"},
                {"app", "public", "by_region", "4", "1", "\\N"}});
  Families out;
  Make("partitions")->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(Sample(out, "pg_partitions_children", {{"relname", "events"}}), 12);
  EXPECT_EQ(
      Sample(out, "pg_partitions_has_default", {{"relname", "by_region"}}), 1);
  EXPECT_EQ(Sample(out, "pg_partitions_range_upper_bound_timestamp_seconds",
                   {{"datname", "app"},
                    {"schemaname", "public"},
                    {"relname", "events"}}),
            1798761600);
  EXPECT_EQ(
      SampleCount(out, "pg_partitions_range_upper_bound_timestamp_seconds"),
      1u);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST(StatProgressVacuumCollectorTest, OnePhaseSetPerVacuum) {
  const Rows rows = MakeRows(
      {"datname", "relname", "phase", "heap_blks", "heap_blks_scanned"},
      {{"app", "public.big", "2", "1000", "400"}});
  Families out;
  Make("stat_progress_vacuum")->Parse(ServerInfo{}, rows, out);
  EXPECT_EQ(SampleCount(out, "pg_stat_progress_vacuum_phase"), 7u);
  EXPECT_EQ(Sample(out, "pg_stat_progress_vacuum_phase",
                   {{"phase", "vacuuming indexes"}}),
            1);
  EXPECT_EQ(Sample(out, "pg_stat_progress_vacuum_phase",
                   {{"phase", "scanning heap"}}),
            0);
  EXPECT_EQ(Sample(out, "pg_stat_progress_vacuum_heap_blks_scanned",
                   {{"relname", "public.big"}}),
            400);
}

TEST(StatUserTablesCollectorTest, LimitedAndPerDatabase) {
  auto c = Make("stat_user_tables", 25);
  EXPECT_TRUE(c->PerDatabase());
  EXPECT_THAT(c->Query(ServerInfo{}), HasSubstr("LIMIT 25"));
  // Sizes come from pg_class, so a table locked by ALTER TABLE cannot make
  // the exporter wait.
  EXPECT_THAT(c->Query(ServerInfo{}),
              ::testing::Not(HasSubstr("pg_table_size")));
  Families out;
  c->Parse(ServerInfo{},
           MakeRows({"datname", "schemaname", "relname", "n_dead_tup",
                     "seq_scan", "last_vacuum"},
                    {{"app", "public", "t", "42", "7", "0"}}),
           out);
  EXPECT_EQ(
      Sample(out, "pg_stat_user_tables_n_dead_tup",
             {{"datname", "app"}, {"schemaname", "public"}, {"relname", "t"}}),
      42);
  EXPECT_EQ(Sample(out, "pg_stat_user_tables_last_vacuum", {{"relname", "t"}}),
            0);
  EXPECT_TRUE(testing::ValidExposition(out));
}

}  // namespace
}  // namespace pgwarden
