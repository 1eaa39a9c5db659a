#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST(StatWalReceiverCollectorTest, FlushedLsnColumnByVersion) {
  EXPECT_THAT(testing::NewCollector("stat_wal_receiver")
                  ->Query(testing::ServerAt(120000)),
              HasSubstr("pg_wal_lsn_diff(received_lsn, '0/0') AS flushed_lsn"));
  EXPECT_THAT(testing::NewCollector("stat_wal_receiver")
                  ->Query(testing::ServerAt(130000)),
              HasSubstr("pg_wal_lsn_diff(flushed_lsn, '0/0') AS flushed_lsn"));
}

}  // namespace
}  // namespace pgwarden::testing
