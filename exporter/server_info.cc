#include "exporter/server_info.h"

#include <cstdio>
#include <stdexcept>

namespace pgwarden {
namespace {

// "1.10" -> 11000.
int ParseExtensionVersion(const std::string& text) {
  int major = 0, minor = 0;
  if (std::sscanf(text.c_str(), "%d.%d", &major, &minor) < 1) return 0;
  return major * 10000 + minor * 100;
}

}  // namespace

const char kServerInfoQuery[] = R"sql(
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       pg_is_in_recovery() AS in_recovery,
       current_database() AS database,
       (SELECT n.nspname FROM pg_extension e
          JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements') AS pgss_schema,
       (SELECT extversion FROM pg_extension
        WHERE extname = 'pg_stat_statements') AS pgss_version,
       coalesce((SELECT 'pg_stat_statements' = ANY(string_to_array(
                    replace(setting, ' ', ''), ','))
                 FROM pg_settings WHERE name = 'shared_preload_libraries'),
                true) AS pgss_preloaded)sql";

ServerInfo ParseServerInfo(const Rows& rows) {
  if (rows.size() != 1) {
    throw std::runtime_error("server info: " + std::to_string(rows.size()) +
                             " rows instead of 1");
  }
  RowView row(rows, 0);
  ServerInfo info;
  info.version_num = static_cast<int>(row.NumberOr("version_num", 0));
  info.version = row.Text("version");
  info.in_recovery = row.NumberOr("in_recovery", 0) != 0;
  info.database = row.Text("database");
  info.pgss_schema = row.Text("pgss_schema");
  info.pgss_version_num = ParseExtensionVersion(row.Text("pgss_version"));
  info.pgss_available = row.Get("pgss_schema").has_value() &&
                        row.NumberOr("pgss_preloaded", 0) != 0;
  return info;
}

std::string ShortVersion(const std::string& version) {
  int major = 0, minor = 0, patch = 0;
  const int n =
      std::sscanf(version.c_str(), "%d.%d.%d", &major, &minor, &patch);
  if (n < 1) return "";
  return std::to_string(major) + "." + std::to_string(n >= 2 ? minor : 0) +
         "." + std::to_string(n >= 3 ? patch : 0);
}

}  // namespace pgwarden
