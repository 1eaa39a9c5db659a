#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "exporter/database.h"
#include "exporter/metrics.h"

namespace pgwarden {

// What the landing page shows about a target.
struct TargetStatus {
  std::string target;                  // redacted DSN
  std::vector<std::string> collectors;  // enabled, in order
  bool ever_connected = false;
  bool up = false;
  std::string server_version;
  std::string last_error;              // empty when the last scrape was clean
  bool pgss_wanted = false;            // stat_statements enabled
  bool pgss_available = false;
};

// Per-target options.
struct EngineOptions {
  // collector name -> minimum seconds between its queries. Within that
  // time its last successful result is served again, and
  // pgwarden_collector_result_age_seconds says how old it is.
  std::map<std::string, double> min_interval_seconds;

  // Per-database collectors (PerDatabase()) run in every database that
  // allows connections and that the role may connect to, filtered by these
  // lists of names (empty include = all), each over its own connection
  // opened by `open_database`. Without it they run only in the connected
  // database.
  std::function<std::unique_ptr<Database>(const std::string& dbname)> open_database;
  std::vector<std::string> include_databases;
  std::vector<std::string> exclude_databases;
  // Most connections the target holds at once, the main one included. With
  // more databases than that, the least recently used extra connection is
  // closed to make room. Extra connections stay open between scrapes only
  // while the per-database collectors run more often than every 10 s;
  // otherwise each visit opens and closes them, so pgwarden never blocks a
  // DROP DATABASE.
  int max_database_connections = 5;
};

// Scrapes one target. Thread-safe: concurrent Scrape() calls share one
// in-flight collection (single-flight), so the database sees one round of
// queries however many clients scrape at once, and the target never holds
// more than one connection.
class Engine {
 public:
  Engine(std::string target_name, std::unique_ptr<Database> database,
         std::vector<std::unique_ptr<Collector>> collectors,
         EngineOptions options = {});
  ~Engine();  // waits at most 1 s for an in-flight collection
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Returns the target's families and the self-metrics. Never blocks past
  // `deadline` (plus scheduling noise): collectors not finished by then
  // report pg_scrape_collector_success 0.
  Exposition Collect(Clock::time_point deadline);
  // Collect() as one vector of families (a copy), for tests and tools.
  Families Scrape(Clock::time_point deadline) { return Collect(deadline).Flatten(); }

  TargetStatus Status() const;

 private:
  struct Core;
  struct Collection;
  std::shared_ptr<Collection> StartOrJoin(Clock::time_point deadline);

  std::shared_ptr<Core> core_;
};

}  // namespace pgwarden
