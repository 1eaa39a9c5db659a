// Integration: pg_stat_statements top N and "other" against the view.

#include <cmath>
#include <map>
#include <set>

#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

TEST_F(IntegrationTest, StatStatementsTopNPlusOtherSumsMatchTheView) {
  pqxx::nontransaction& tx = Admin();
  constexpr int kTables = 40, kLimit = 10;
  for (int i = 0; i < kTables; ++i) {
    tx.exec("CREATE TABLE IF NOT EXISTS it_s" + std::to_string(i) + " (x int)");
  }
  tx.exec("GRANT SELECT ON ALL TABLES IN SCHEMA public TO workload");
  tx.exec("SELECT pg_stat_statements_reset()");
  {
    Client& w = NewClient("stmts", "workload");
    for (int i = 0; i < kTables; ++i) {
      // Statement i runs i+1 times and costs more the larger i is, so the
      // ranking by execution time follows i.
      for (int k = 0; k <= i; ++k) {
        w.Exec("SELECT count(*) FROM it_s" + std::to_string(i) +
               ", generate_series(1, " + std::to_string(300 * (i + 1)) + ")");
      }
    }
  }
  CollectorOptions options;
  options.stat_statements_limit = kLimit;
  auto target = MakeTarget(kDatabase, options);
  const Families out = Scrape(*target);
  ASSERT_EQ(CollectorSuccess(out, "stat_statements"), 1);

  const std::map<std::string, std::string> workload = {{"user", "workload"},
                                                       {"datname", kDatabase}};
  // At most N statements by queryid in all, plus one "other" per user and db.
  const auto* calls =
      testing::FindFamily(out, "pg_stat_statements_calls_total");
  ASSERT_NE(calls, nullptr);
  std::map<std::pair<std::string, std::string>, int> others;
  int by_queryid = 0;
  for (const auto& m : calls->metric) {
    std::string user, db, qid;
    for (const auto& l : m.label) {
      if (l.name == "user") user = l.value;
      if (l.name == "datname") db = l.value;
      if (l.name == "queryid") qid = l.value;
    }
    if (qid == "other") {
      const int seen = ++others[std::make_pair(user, db)];
      EXPECT_EQ(seen, 1) << "two 'other' series for " << user << "/" << db;
    } else {
      ++by_queryid;
    }
  }
  EXPECT_LE(by_queryid, kLimit);
  EXPECT_TRUE(others.count(
      std::make_pair(std::string("workload"), std::string(kDatabase))));

  const int version = tx.exec("SHOW server_version_num")[0][0].as<int>();
  const std::string exec_time =
      version >= 130000 ? "total_exec_time" : "total_time";
  const auto view = tx.exec("SELECT sum(calls), sum(" + exec_time +
                            ") / 1000, sum(rows) FROM pg_stat_statements "
                            "WHERE userid = 'workload'::regrole AND dbid = "
                            "(SELECT oid FROM pg_database "
                            "WHERE datname = current_database())")[0];
  EXPECT_EQ(SumSamples(out, "pg_stat_statements_calls_total", workload),
            view[0].as<double>());
  EXPECT_NEAR(SumSamples(out, "pg_stat_statements_seconds_total", workload),
              view[1].as<double>(), 1e-9 + view[1].as<double>() * 1e-9);
  EXPECT_EQ(SumSamples(out, "pg_stat_statements_rows_total", workload),
            view[2].as<double>());
  // The busiest statement (it_s39: 40 calls, each the most expensive) has
  // the most execution time by far, so it keeps its own queryid.
  const auto top = tx.exec(
                         "SELECT queryid::text FROM pg_stat_statements WHERE "
                         "query LIKE '%it_s39%' "
                         "AND userid = 'workload'::regrole")[0][0]
                       .as<std::string>();
  EXPECT_EQ(Sample(out, "pg_stat_statements_calls_total",
                   {{"user", "workload"}, {"queryid", top}}),
            40);
  EXPECT_TRUE(testing::ValidExposition(out));
}

TEST_F(IntegrationTest, MissingExtensionIsNotAScrapeError) {
  Admin("postgres").exec("DROP EXTENSION IF EXISTS pg_stat_statements");
  auto target = MakeTarget("postgres");
  const Families out = Scrape(*target);
  EXPECT_EQ(Sample(out, "pg_up"), 1);
  EXPECT_EQ(Sample(out, "pg_stat_statements_available"), 0);
  EXPECT_EQ(CollectorSuccess(out, "stat_statements"), 1);
  EXPECT_EQ(Sample(out, "pg_exporter_last_scrape_error"), 0);
  EXPECT_EQ(SampleCount(out, "pg_stat_statements_calls_total"), 0u);
  ASSERT_EQ(target->Status().notices.size(), 1u);
  EXPECT_EQ(target->Status().notices[0].first, "stat_statements");
}

}  // namespace
}  // namespace pgwarden::testing
