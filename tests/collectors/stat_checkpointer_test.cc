#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatCheckpointerCollectorTest, NothingToAskBefore17) {
  EXPECT_EQ(testing::NewCollector("stat_checkpointer")
                ->Query(testing::ServerAt(160004)),
            "");
  EXPECT_THAT(testing::NewCollector("stat_checkpointer")
                  ->Query(testing::ServerAt(170000)),
              Not(HasSubstr("num_done")));
  EXPECT_THAT(testing::NewCollector("stat_checkpointer")
                  ->Query(testing::ServerAt(180000)),
              HasSubstr(", num_done"));
  Families out;
  testing::NewCollector("stat_checkpointer")
      ->Parse(testing::ServerAt(170000),
              MakeRows({"num_timed", "write_time"}, {{"3", "25.5"}}), out);
  EXPECT_EQ(Sample(out, "pg_stat_checkpointer_num_timed_total"), 3);
  EXPECT_EQ(Sample(out, "pg_stat_checkpointer_write_time_total"), 25.5);
  EXPECT_EQ(FindFamily(out, "pg_stat_checkpointer_num_done_total"), nullptr);
}

}  // namespace
}  // namespace pgwarden::testing
