#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

TEST(PartitionsCollectorTest, RunwayOnlyWhereKnown) {
  EXPECT_TRUE(testing::NewCollector("partitions")->PerDatabase());
  const Rows rows =
      MakeRows({"datname", "schemaname", "relname", "children", "has_default",
                "upper_bound"},
               {{"app", "public", "events", "12", "0", "1798761600"},
                {"app", "public", "by_region", "4", "1", "\\N"}});
  Families out;
  testing::NewCollector("partitions")->Parse(ServerInfo{}, rows, out);
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

}  // namespace
}  // namespace pgwarden::testing
