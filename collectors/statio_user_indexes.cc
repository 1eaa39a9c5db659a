// statio_user_indexes: block I/O of the largest indexes of every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_statio_user_indexes, every database: block reads and hits";

constexpr char kStatioUserIndexesQuery[] = R"sql(
SELECT current_database()::text AS datname, s.schemaname::text AS schemaname,
       s.relname::text AS relname, s.indexrelname::text AS indexrelname,
       s.idx_blks_read, s.idx_blks_hit
FROM pg_statio_user_indexes s JOIN pg_class c ON c.oid = s.indexrelid
ORDER BY greatest(c.relpages, 0) DESC, 2, 3, 4
LIMIT %LIMIT%)sql";

class StatioUserIndexesCollector final : public ColumnCollector {
 public:
  explicit StatioUserIndexesCollector(const CollectorOptions& o)
      : ColumnCollector(
            "statio_user_indexes", o, kStatioUserIndexesQuery, IndexLabels(),
            {{"idx_blks_read", "pg_statio_user_indexes_idx_blks_read_total",
              "Disk blocks read from the index.", Kind::kCounter},
             {"idx_blks_hit", "pg_statio_user_indexes_idx_blks_hit_total",
              "Buffer hits in the index.", Kind::kCounter}},
            Scope::kPerDatabase) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(statio_user_indexes, OffByDefault(60),
                            ::pgwarden::StatioUserIndexesCollector);
