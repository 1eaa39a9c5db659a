// stat_user_indexes: scans and size of the largest indexes of every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_user_indexes, every database: scans and size of the largest";

// Sizes from pg_class, lock-free (see stat_user_tables).
constexpr char kStatUserIndexesQuery[] = R"sql(
SELECT current_database()::text AS datname, s.schemaname::text AS schemaname,
       s.relname::text AS relname, s.indexrelname::text AS indexrelname,
       s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
       greatest(c.relpages, 0)::float8 * current_setting('block_size')::int AS size_bytes
FROM pg_stat_user_indexes s JOIN pg_class c ON c.oid = s.indexrelid
ORDER BY greatest(c.relpages, 0) DESC, 2, 3, 4
LIMIT %LIMIT%)sql";

class StatUserIndexesCollector final : public ColumnCollector {
 public:
  explicit StatUserIndexesCollector(const CollectorOptions& o)
      : ColumnCollector(
            "stat_user_indexes", o, kStatUserIndexesQuery, IndexLabels(),
            {{"idx_scan", "pg_stat_user_indexes_idx_scan_total",
              "Index scans started on the index.", Kind::kCounter},
             {"idx_tup_read", "pg_stat_user_indexes_idx_tup_read_total",
              "Index entries returned by scans of the index.", Kind::kCounter},
             {"idx_tup_fetch", "pg_stat_user_indexes_idx_tup_fetch_total",
              "Live table rows fetched by simple scans of the index.",
              Kind::kCounter},
             {"size_bytes", "pg_stat_user_indexes_size_bytes",
              "Size of the index (as of the last VACUUM/ANALYZE)."}},
            Scope::kPerDatabase) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_user_indexes, OffByDefault(60),
                            ::pgwarden::StatUserIndexesCollector);
