#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST(IndexesCollectorTest, UnusedInvalidAndByType) {
  CollectorOptions limited;
  limited.relation_limit = 7;
  EXPECT_THAT(testing::NewCollector("indexes", limited)->Query(ServerInfo{}),
              HasSubstr("LIMIT 7"));
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
  testing::NewCollector("indexes")->Parse(ServerInfo{}, rows, out);
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

}  // namespace
}  // namespace pgwarden::testing
