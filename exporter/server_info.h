#pragma once

#include <string>

#include "exporter/rows.h"

namespace pgwarden {

// What pgwarden knows about a connected server. Read once per connection
// and refreshed now and then; collectors choose their SQL from it. It sits
// below both the collectors and the engine, which both depend on it.
struct ServerInfo {
  int version_num = 0;  // server_version_num, e.g. 150004
  std::string version;  // server_version, e.g. "15.4 (Debian ...)"
  bool in_recovery = false;
  // pg_stat_statements: usable only when the extension exists in the
  // connected database and the library is preloaded.
  bool pgss_available = false;
  std::string database;      // current_database() of this connection
  std::string pgss_schema;   // schema holding the extension
  int pgss_version_num = 0;  // extversion "1.10" -> 11000

  bool operator==(const ServerInfo& o) const {
    return version_num == o.version_num && version == o.version &&
           in_recovery == o.in_recovery && database == o.database &&
           pgss_available == o.pgss_available && pgss_schema == o.pgss_schema &&
           pgss_version_num == o.pgss_version_num;
  }
};

// The query that reads a ServerInfo: one row, any server version pgwarden
// supports, any role.
extern const char kServerInfoQuery[];

// The ServerInfo in the result of kServerInfoQuery. Throws
// std::runtime_error unless `rows` holds exactly one row.
ServerInfo ParseServerInfo(const Rows& rows);

// "15.4 (Debian 15.4-1)" -> "15.4.0", as postgres_exporter's short_version;
// "" when `version` does not start with a number.
std::string ShortVersion(const std::string& version);

}  // namespace pgwarden
