// Integration: hostile database, role, application and query text.

#include "exporter/text.h"
#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(IntegrationTest, HostileNamesAndQueryTextStayValid) {
  // Names are at most 63 bytes in PostgreSQL; the 10 KB string goes into
  // application_name (which the server truncates) and the query text.
  const std::string evil_db = "db\"} 1\nfake_metric{a=\"b\"} 1\n\\";
  const std::string evil_role = "r\"\\\n} 1\nfake_metric 1";
  const std::string long_text(10 * 1024, 'q');
  pqxx::nontransaction& tx = Admin("postgres");
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(evil_db));
  // SQL_ASCII: the one encoding in which text that is not UTF-8 gets in, and
  // other databases' sessions then read it from pg_stat_activity as is.
  tx.exec(
      "CREATE DATABASE " + tx.quote_name(evil_db) +
      " ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
  tx.exec("DROP ROLE IF EXISTS " + tx.quote_name(evil_role));
  tx.exec("CREATE ROLE " + tx.quote_name(evil_role) + " LOGIN SUPERUSER");
  {
    pqxx::connection evil(BaseDsn() + " dbname=" + QuoteConninfoValue(evil_db) +
                          " user=" + QuoteConninfoValue(evil_role));
    pqxx::nontransaction e(evil);
    e.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    e.exec("SET application_name = " +
           e.quote("app\"} 1\nfake_metric 1\\" + long_text));
    // pg_stat_statements keeps comments and identifiers (constants become
    // $n), so the hostile text reaches the query-text series.
    for (int i = 0; i < 3; ++i) {
      e.exec("SELECT 1 AS " + e.quote_name(long_text.substr(0, 60) + "\n\"x") +
             " /* } 1\nfake_metric 1 \"\\ \xFF\xC3\x28 */, '" + long_text +
             "'");
    }
    e.exec("SET application_name = " + e.quote("it-\"} 1\nfake_metric 1"));
    // Valid UTF-8 but hostile query text in a UTF-8 database.
    Client& w = NewClient("hostile-sql");
    w.Exec("SELECT 1 /* } 1\nfake_metric 1 \"\\ */, '" + long_text + "'");

    // Default: no query text is read, every collector succeeds.
    auto target = MakeTarget(kDatabase);
    const Families out = Scrape(*target);
    EXPECT_EQ(Sample(out, "pg_up"), 1);
    const double all = static_cast<double>(ResolveCollectors("all").size());
    EXPECT_EQ(SumSamples(out, "pg_scrape_collector_success"), all)
        << target->Status().last_error;
    // The hostile database and role show up as label values, intact.
    EXPECT_EQ(Sample(out, "pg_locks_count",
                     {{"datname", evil_db}, {"mode", "sireadlock"}}),
              0);
    EXPECT_GE(SumSamples(out, "pg_stat_statements_calls_total",
                         {{"user", evil_role}}),
              3);
    EXPECT_TRUE(testing::ValidExposition(out));

    // With query text, PostgreSQL itself refuses to convert the SQL_ASCII
    // database's text: that collector fails, with the reason, and only it.
    CollectorOptions options;
    options.stat_statements_include_query = true;
    options.stat_statements_query_length = 20000;
    auto text_target = MakeTarget(kDatabase, options);
    const Families with_text = Scrape(*text_target);
    EXPECT_EQ(CollectorSuccess(with_text, "stat_statements"), 0);
    EXPECT_EQ(SumSamples(with_text, "pg_scrape_collector_success"), all - 1);
    EXPECT_THAT(text_target->Status().last_error,
                HasSubstr("invalid byte sequence"));

    // Without those entries the hostile (valid) text becomes label values.
    pqxx::connection it_db(DsnFor(kDatabase));
    pqxx::nontransaction(it_db).exec("SELECT pg_stat_statements_reset()");
    w.Exec("SELECT 1 /* } 1\nfake_metric 1 \"\\ */, '" + long_text + "'");
    const Families cleaned = Scrape(*text_target);
    EXPECT_EQ(SumSamples(cleaned, "pg_scrape_collector_success"), all)
        << text_target->Status().last_error;
    EXPECT_GE(SampleCount(cleaned, "pg_stat_statements_query_id"), 1u);
    EXPECT_TRUE(testing::ValidExposition(cleaned));
    EXPECT_EQ(Serialize(cleaned).find("\nfake_metric"), std::string::npos);
  }
  const std::string in_evil_db =
      " FROM pg_stat_activity WHERE datname = " + tx.quote(evil_db);
  tx.exec("SELECT pg_terminate_backend(pid)" + in_evil_db);
  WaitFor([&] { return tx.exec("SELECT 1" + in_evil_db).empty(); });
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(evil_db));
}

}  // namespace
}  // namespace pgwarden::testing
