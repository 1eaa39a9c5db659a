#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatUserTablesCollectorTest, LimitedAndPerDatabase) {
  CollectorOptions limited;
  limited.relation_limit = 25;
  auto c = testing::NewCollector("stat_user_tables", limited);
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
}  // namespace pgwarden::testing
