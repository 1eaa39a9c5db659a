#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "exporter/database.h"
#include "exporter/database_visitor.h"
#include "exporter/metrics.h"
#include "exporter/sampler.h"

namespace pgwarden {

// What the landing page shows about a target.
struct TargetStatus {
  std::string target;                   // redacted DSN
  std::vector<std::string> collectors;  // enabled, in order
  bool ever_connected = false;
  bool up = false;
  std::string server_version;
  std::string last_error;       // empty when the last scrape was clean
  size_t open_connections = 0;  // after the last collection
  uint64_t scrapes = 0;
  // Collector name -> what the operator should know (Collector::Notice).
  std::vector<std::pair<std::string, std::string>> notices;
};

struct TargetOptions {
  // Collector name -> minimum seconds between its queries. Within that
  // time its last successful result is served again, and
  // pgwarden_collector_result_age_seconds says how old it is.
  std::map<std::string, double> min_interval_seconds;
  // Where and how the per-database collectors run: in the background, on
  // the visitor's own connections (a per-database collector without a
  // minimum interval visits every 15 s).
  DatabaseVisitor::Options databases;
  // Whether a scrape's answer carries the process' own families (build
  // info, process_*): yes for the process' one /metrics target, no for
  // /probe targets, whose answers describe the target alone.
  bool process_metrics = true;
  // Whether collectors queried every scrape keep their last result to skip
  // parsing unchanged rows (CollectorSlot::remember_every_result): less CPU
  // per scrape for the memory of one result per collector. Yes for the
  // process' own target; no for /probe targets, which are many and whose
  // memory would grow by their whole output each.
  bool remember_every_result = true;
  // The activity sampler: its own connection (sampler.open) and thread,
  // sampling every sampler.interval; its families join every answer. Off
  // without `open` or with a zero interval.
  SamplerOptions sampler;
};

// One monitored server and everything pgwarden keeps for it: its
// connections (the main one and the per-database pool), its collectors and
// their memos, single-flight, its counters and its activity sampler. A process
// may hold many; nothing here is shared between targets.
//
// Thread-safe: concurrent Scrape() calls share one in-flight collection, so
// the database sees one round of queries however many clients scrape at
// once. The collection runs on its own thread, which holds shared
// references: a collection stuck on a frozen server can finish safely after
// every scrape waiting on it has gone, and meanwhile new scrapes join it
// instead of piling queries or connections onto the server.
class Target {
 public:
  Target(std::string name, std::unique_ptr<Database> database,
         std::vector<std::unique_ptr<Collector>> collectors,
         TargetOptions options = {});
  ~Target();  // waits at most 1 s for an in-flight collection
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  // The target's families and the self-metrics. Never blocks past
  // `deadline` (plus scheduling noise): collectors not finished by then
  // report pg_scrape_collector_success 0. Never throws for the database's
  // sake.
  Exposition Scrape(Clock::time_point deadline);

  TargetStatus Status() const;

 private:
  struct Runtime;
  std::shared_ptr<Runtime> runtime_;
};

}  // namespace pgwarden
