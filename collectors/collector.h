#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/metrics.h"
#include "exporter/rows.h"

namespace pgwarden {

// What the engine knows about the connected server. Read once per connection
// (and refreshed now and then); collectors choose their SQL from it.
struct ServerInfo {
  int version_num = 0;          // server_version_num, e.g. 150004
  std::string version;          // server_version, e.g. "15.4 (Debian ...)"
  bool in_recovery = false;
  // pg_stat_statements: usable only when the extension exists in the
  // connected database and the library is preloaded.
  bool pgss_available = false;
  std::string database;         // current_database() of this connection
  std::string pgss_schema;      // schema holding the extension
  int pgss_version_num = 0;     // extversion "1.10" -> 11000

  bool operator==(const ServerInfo& o) const {
    return version_num == o.version_num && version == o.version &&
           in_recovery == o.in_recovery && database == o.database &&
           pgss_available == o.pgss_available &&
           pgss_schema == o.pgss_schema && pgss_version_num == o.pgss_version_num;
  }
};

// One catalog query turned into metric families. Implementations are
// stateless and const, so one instance serves every target and thread.
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

  // True when the query reads per-database catalogs (tables, indexes,
  // partitions): the engine then runs it in every discovered database and
  // parses the rows of all of them together. Such a query must return the
  // database's name in a `datname` column.
  virtual bool PerDatabase() const { return false; }

  // statement_timeout for this collector's query in milliseconds; 0: the
  // session's (--statement_timeout_ms).
  virtual int TimeoutMs() const { return 0; }
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

using CollectorFactory =
    std::function<std::unique_ptr<Collector>(const CollectorOptions&)>;

struct CollectorRegistration {
  std::string name;
  bool enabled_by_default;
  std::string description;  // one line for --help and the README table
  CollectorFactory factory;
};

// Registered collectors, sorted by name.
const std::vector<CollectorRegistration>& RegisteredCollectors();

// Use once at namespace scope at the bottom of each collector's .cc file.
bool RegisterCollector(CollectorRegistration registration);

// Resolves a --collectors value: a comma list of names, "default" (the
// default set), "all", "+name" (add) and "-name" (remove), applied in order.
// An empty spec means "default". Throws std::invalid_argument naming the
// unknown collector. Returns names in registry order.
std::vector<std::string> ResolveCollectors(std::string_view spec);

// Creates the named collectors; names must come from ResolveCollectors.
std::vector<std::unique_ptr<Collector>> CreateCollectors(
    const std::vector<std::string>& names, const CollectorOptions& options);

}  // namespace pgwarden

#define PGWARDEN_REGISTER_COLLECTOR(name, default_enabled, description, Class) \
  static const bool pgwarden_registered_##name = ::pgwarden::RegisterCollector( \
      {#name, default_enabled, description,                                    \
       [](const ::pgwarden::CollectorOptions& options)                         \
           -> std::unique_ptr<::pgwarden::Collector> {                         \
         return std::make_unique<Class>(options);                              \
       }})
