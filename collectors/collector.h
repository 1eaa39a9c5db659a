#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/metrics.h"
#include "exporter/rows.h"
#include "exporter/server_info.h"

namespace pgwarden {

// The remedy for a permission error on a catalog view or function.
inline constexpr char kNeedsPgMonitor[] =
    "the role needs pg_monitor: see deploy/sql/monitoring-role.sql";

// What a collector remembers about one target across scrapes. Most keep
// nothing; one that must (stat_statements: counters that stay monotonic as
// statements move in and out of its top N) subclasses this. The target
// makes one per collector with NewState() and touches it only from its
// collecting thread.
class CollectorState {
 public:
  virtual ~CollectorState() = default;
};

// One catalog query turned into metric families. Implementations are
// const, so one instance serves every target and thread; what a collector
// remembers per target lives in its CollectorState.
class Collector {
 public:
  virtual ~Collector() = default;

  // The collector's one name: its file, registry key, flag and metric
  // subsystem.
  virtual std::string_view Name() const = 0;

  // SQL for this server, one statement without a trailing semicolon. Empty
  // when the collector has nothing to ask this server (e.g. the view does
  // not exist on this version); Parse then gets empty Rows.
  virtual std::string Query(const ServerInfo& server) const = 0;

  // Rows of that query -> families. Pure: no I/O, no clock, the same output
  // for the same (server, rows), which lets the engine reuse the last
  // result when the rows have not changed. Throws on rows it cannot make
  // sense of; the engine reports that collector as failed.
  virtual void Parse(const ServerInfo& server, const Rows& rows,
                     Families& out) const = 0;

  // A collector that remembers what it saw returns a fresh state here; the
  // target then calls ParseWithState with it, and never serves the last
  // families again just because the rows are equal. Default: none.
  virtual std::unique_ptr<CollectorState> NewState() const { return nullptr; }

  // Parse with this target's `state`, for rows read at `now`. The default
  // ignores the state. Throws what Parse throws.
  virtual void ParseWithState(const ServerInfo& server, const Rows& rows,
                              CollectorState& state,
                              std::chrono::steady_clock::time_point now,
                              Families& out) const {
    (void)state;
    (void)now;
    Parse(server, rows, out);
  }

  // True when the query reads per-database catalogs (tables, indexes,
  // partitions): the engine then runs it in every discovered database and
  // parses the rows of all of them together. Such a query must return the
  // database's name in a `datname` column.
  virtual bool PerDatabase() const { return false; }

  // statement_timeout for this collector's query in milliseconds; 0: the
  // session's (--statement_timeout_ms).
  virtual int TimeoutMs() const { return 0; }

  // What the operator should know when this collector cannot do its whole
  // job on this server (an extension missing, say), with the fix; "" when
  // nothing. Not an error: the target logs it when it appears and shows it
  // on the landing page.
  virtual std::string Notice(const ServerInfo&) const { return ""; }

  // Advice to append to an error this collector's query got, or "". By
  // default a permission error points at the monitoring role.
  virtual std::string ErrorHint(std::string_view error) const {
    return error.find("permission denied") != std::string_view::npos
               ? kNeedsPgMonitor
               : "";
  }
};

// Settings that collectors read, filled once from flags in main(); tests set
// them directly.
struct CollectorOptions {
  std::vector<double> long_running_thresholds_seconds = {60, 300, 900, 3600};
  int blocking_top_roots = 5;
  // Characters of the root blockers' query text in pg_blocking_session_info
  // (label `query`); 0 leaves the label out.
  int blocking_query_length = 0;
  int stat_statements_limit = 100;
  bool stat_statements_include_query = false;
  int stat_statements_query_length = 120;
  // Also emit the names older dashboards and rules query (e.g.
  // pg_stat_bgwriter_* without _total, pg_replication_lag).
  bool legacy_names = false;
  // Per-table and per-index families: at most this many relations per
  // database (the largest), so big schemas cannot explode the series count.
  int relation_limit = 100;
  // Most series one custom query may emit; beyond, that query fails with
  // the count in its error (0: no limit).
  int custom_query_series_limit = 0;
};

// `sql` with every `placeholder` (e.g. "%WAITSTART%") replaced by `value`:
// how a collector fills its SQL constant for a server version or option.
inline std::string Substitute(std::string sql, std::string_view placeholder,
                              std::string_view value) {
  for (size_t p = sql.find(placeholder); p != std::string::npos;
       p = sql.find(placeholder, p + value.size())) {
    sql.replace(p, placeholder.size(), value);
  }
  return sql;
}

// How a collector runs unless flags say otherwise.
struct CollectorDefaults {
  bool enabled;  // part of --collectors=default
  // Its last result is served for this long before it is queried again
  // (--collector_min_interval); 0: every scrape.
  double min_interval_seconds = 0;
};
constexpr CollectorDefaults OnByDefault(double min_interval_seconds = 0) {
  return {true, min_interval_seconds};
}
constexpr CollectorDefaults OffByDefault(double min_interval_seconds = 0) {
  return {false, min_interval_seconds};
}

using CollectorFactory =
    std::function<std::unique_ptr<Collector>(const CollectorOptions&)>;

struct CollectorRegistration {
  std::string name;
  CollectorDefaults defaults;
  std::string description;  // one line for --help and the README table
  CollectorFactory factory;
};

// Registered collectors, sorted by name.
const std::vector<CollectorRegistration>& RegisteredCollectors();

// Use through PGWARDEN_REGISTER_COLLECTOR.
bool RegisterCollector(CollectorRegistration registration);

// Resolves a --collectors value: a comma list of names, "default" (the
// default set), "all", "none", "+name" (add) and "-name" (remove), applied
// in order.
// An empty spec means "default". Throws std::invalid_argument naming the
// unknown collector. Returns names in registry order.
std::vector<std::string> ResolveCollectors(std::string_view spec);

// Creates the named collectors; names must come from ResolveCollectors.
std::vector<std::unique_ptr<Collector>> CreateCollectors(
    const std::vector<std::string>& names, const CollectorOptions& options);

}  // namespace pgwarden

// Registers a collector; use once, at namespace scope at the bottom of its
// .cc file, e.g.
//   PGWARDEN_REGISTER_COLLECTOR(indexes, OnByDefault(300),
//                               ::pgwarden::IndexesCollector);
// `defaults` is OnByDefault(...) or OffByDefault(...), the minimum interval
// in seconds as the argument. `Class` takes CollectorOptions in its
// constructor. The file defines `kDescription` in pgwarden's anonymous
// namespace: one line for --help and the README.
#define PGWARDEN_REGISTER_COLLECTOR(name, defaults, Class)        \
  static const bool pgwarden_registered_##name =                  \
      ::pgwarden::RegisterCollector(                              \
          {#name, ::pgwarden::defaults, ::pgwarden::kDescription, \
           [](const ::pgwarden::CollectorOptions& options)        \
               -> std::unique_ptr<::pgwarden::Collector> {        \
             return std::make_unique<Class>(options);             \
           }})
