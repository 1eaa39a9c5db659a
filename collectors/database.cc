// database: size and connection limit of every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_database: size and connection limit per database";

// pg_database_size() needs CONNECT on the database or pg_read_all_stats
// (part of pg_monitor); without either the size is NULL and left out
// rather than failing the whole collector.
constexpr char kDatabaseQuery[] = R"sql(
SELECT datname::text AS datname, datconnlimit AS connection_limit,
       CASE WHEN has_database_privilege(oid, 'CONNECT')
              OR pg_has_role('pg_read_all_stats', 'MEMBER')
            THEN pg_database_size(oid) END AS size_bytes
FROM pg_database)sql";

class DatabaseCollector final : public ColumnCollector {
 public:
  explicit DatabaseCollector(const CollectorOptions& o)
      : ColumnCollector("database", o, kDatabaseQuery, {{"datname", "datname"}},
                        {{"size_bytes", "pg_database_size_bytes",
                          "Disk space used by the database."},
                         {"connection_limit", "pg_database_connection_limit",
                          "Connection limit of the database (-1: none)."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(database, OnByDefault(60),
                            ::pgwarden::DatabaseCollector);
