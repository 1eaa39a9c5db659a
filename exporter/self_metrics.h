#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "exporter/collection.h"
#include "exporter/metrics.h"

namespace pgwarden {

// What a target has counted across its scrapes.
struct TargetCounters {
  uint64_t scrapes = 0;  // including the one being served
  uint64_t connection_errors = 0;
  uint64_t connections_opened = 0;
  size_t open_connections = 0;
  // The server of the last collection that connected, if any did.
  std::optional<ServerInfo> last_server;
};

// The families a scrape reports about itself: pg_up, pg_static, each
// collector's success, duration and result age (`collectors` names the
// snapshot's outcomes in order), postgres_exporter's scrape counters,
// pgwarden's connection counters and, with `process`, ProcessFamilies().
Families SelfMetrics(const Collection::Snapshot& collection,
                     const std::vector<std::string>& collectors,
                     const TargetCounters& counters, bool process = true);

// The process' own families: pgwarden_build_info and process_*.
Families ProcessFamilies();

}  // namespace pgwarden
