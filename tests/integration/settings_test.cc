// Integration: settings in base units equal SHOW; pending restarts.

#include <map>

#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

// "128MB" -> bytes, "5min" -> seconds, "on" -> 1, as SHOW prints them.
double ParseShow(const std::string& text) {
  if (text == "on") return 1;
  if (text == "off") return 0;
  size_t pos = 0;
  const double number = std::stod(text, &pos);
  const std::string unit = text.substr(pos);
  static const std::map<std::string, double> kFactor = {
      {"", 1},
      {"B", 1},
      {"kB", 1024},
      {"MB", 1024.0 * 1024},
      {"GB", 1024.0 * 1024 * 1024},
      {"TB", 1024.0 * 1024 * 1024 * 1024},
      {"us", 1e-6},
      {"ms", 1e-3},
      {"s", 1},
      {"min", 60},
      {"h", 3600},
      {"d", 86400}};
  return number * kFactor.at(unit);
}

TEST_F(IntegrationTest, SettingsEqualShow) {
  auto target = MakeTarget(kDatabase);
  const Families out = Scrape(*target);
  pqxx::nontransaction& tx = Admin();
  const std::map<std::string, std::string> metrics = {
      {"max_connections", "pg_settings_max_connections"},
      {"shared_buffers", "pg_settings_shared_buffers_bytes"},
      {"work_mem", "pg_settings_work_mem_bytes"},
      {"maintenance_work_mem", "pg_settings_maintenance_work_mem_bytes"},
      {"effective_cache_size", "pg_settings_effective_cache_size_bytes"},
      {"max_wal_size", "pg_settings_max_wal_size_bytes"},
      {"wal_buffers", "pg_settings_wal_buffers_bytes"},
      {"checkpoint_timeout", "pg_settings_checkpoint_timeout_seconds"},
      {"random_page_cost", "pg_settings_random_page_cost"},
      {"seq_page_cost", "pg_settings_seq_page_cost"},
      {"fsync", "pg_settings_fsync"},
      {"autovacuum", "pg_settings_autovacuum"},
      {"max_locks_per_transaction", "pg_settings_max_locks_per_transaction"},
      {"autovacuum_max_workers", "pg_settings_autovacuum_max_workers"},
      {"superuser_reserved_connections",
       "pg_settings_superuser_reserved_connections"},
      {"effective_io_concurrency", "pg_settings_effective_io_concurrency"},
  };
  for (const auto& [setting, metric] : metrics) {
    const std::string shown =
        tx.exec("SHOW " + setting)[0][0].as<std::string>();
    const auto value = Sample(out, metric);
    ASSERT_TRUE(value.has_value()) << metric;
    EXPECT_DOUBLE_EQ(*value, ParseShow(shown)) << setting << " = " << shown;
  }
  // -1 stays -1 whatever the unit.
  EXPECT_EQ(tx.exec("SHOW log_min_duration_statement")[0][0].as<std::string>(),
            "-1");
  EXPECT_EQ(Sample(out, "pg_settings_log_min_duration_statement_seconds"), -1);
  // Other tests may leave a pending change behind (it survives until a
  // restart), so compare with the view rather than with 0.
  EXPECT_EQ(
      Sample(out, "pg_settings_pending_restart"),
      tx.exec("SELECT count(*) FROM pg_settings WHERE pending_restart")[0][0]
          .as<double>());
}

TEST_F(IntegrationTest, PendingRestartCountsChangedSettings) {
  pqxx::nontransaction& tx = Admin();
  const std::string current =
      tx.exec("SHOW max_locks_per_transaction")[0][0].as<std::string>();
  tx.exec("ALTER SYSTEM SET max_locks_per_transaction = " +
          std::to_string(std::stoi(current) + 1));
  tx.exec("SELECT pg_reload_conf()");
  auto target = MakeTarget(kDatabase);
  const bool seen = WaitFor([&] {
    return Sample(Scrape(*target), "pg_settings_pending_restart") == 1;
  });
  tx.exec("ALTER SYSTEM RESET max_locks_per_transaction");
  tx.exec("SELECT pg_reload_conf()");
  EXPECT_TRUE(seen);
  // PostgreSQL keeps the flag until a restart even after the change is
  // reverted, so this test runs last and asserts only the transition.
}

}  // namespace
}  // namespace pgwarden::testing
