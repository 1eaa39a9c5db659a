#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<Collector> Make(bool legacy = false) {
  CollectorOptions o;
  o.legacy_names = legacy;
  return testing::NewCollector("stat_bgwriter", o);
}

TEST(StatBgwriterCollectorTest, CheckpointFiguresFromCheckpointerOn17) {
  EXPECT_THAT(Make()->Query(testing::ServerAt(160000)),
              Not(HasSubstr("pg_stat_checkpointer")));
  const std::string sql17 = Make()->Query(testing::ServerAt(170000));
  EXPECT_THAT(sql17, HasSubstr("c.num_timed AS checkpoints_timed"));
  EXPECT_THAT(sql17, HasSubstr("pg_stat_io"));
}

TEST(StatBgwriterCollectorTest, TotalNamesAndLegacyAliases) {
  const Rows rows =
      MakeRows({"checkpoints_timed", "buffers_backend", "stats_reset"},
               {{"12", "340", "1700000000"}});
  Families plain, legacy;
  Make()->Parse(testing::ServerAt(150000), rows, plain);
  Make(true)->Parse(testing::ServerAt(150000), rows, legacy);
  EXPECT_EQ(Sample(plain, "pg_stat_bgwriter_checkpoints_timed_total"), 12);
  EXPECT_EQ(FindFamily(plain, "pg_stat_bgwriter_buffers_backend"), nullptr);
  // Grafana dashboard 9628 reads these names.
  EXPECT_EQ(Sample(legacy, "pg_stat_bgwriter_buffers_backend"), 340);
  EXPECT_EQ(Sample(legacy, "pg_stat_bgwriter_buffers_backend_total"), 340);
  EXPECT_EQ(Sample(legacy, "pg_stat_bgwriter_stats_reset_total"), 1700000000);
  EXPECT_TRUE(testing::ValidExposition(plain));
  EXPECT_TRUE(testing::ValidExposition(legacy));
}

}  // namespace
}  // namespace pgwarden::testing
