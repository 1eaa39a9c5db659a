#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

TEST(StatProgressVacuumCollectorTest, OnePhaseSetPerVacuum) {
  const Rows rows = MakeRows(
      {"datname", "relname", "phase", "heap_blks", "heap_blks_scanned"},
      {{"app", "public.big", "2", "1000", "400"}});
  Families out;
  testing::NewCollector("stat_progress_vacuum")->Parse(ServerInfo{}, rows, out);
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

}  // namespace
}  // namespace pgwarden::testing
