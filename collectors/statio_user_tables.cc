// statio_user_tables: block I/O of the largest user tables of every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

// The same %LIMIT% largest tables as stat_user_tables.
constexpr char kStatioUserTablesQuery[] = R"sql(
SELECT current_database()::text AS datname, s.schemaname::text AS schemaname,
       s.relname::text AS relname, s.heap_blks_read, s.heap_blks_hit,
       coalesce(s.idx_blks_read, 0) AS idx_blks_read,
       coalesce(s.idx_blks_hit, 0) AS idx_blks_hit,
       coalesce(s.toast_blks_read, 0) AS toast_blks_read,
       coalesce(s.toast_blks_hit, 0) AS toast_blks_hit,
       coalesce(s.tidx_blks_read, 0) AS tidx_blks_read,
       coalesce(s.tidx_blks_hit, 0) AS tidx_blks_hit
FROM pg_statio_user_tables s JOIN pg_class c ON c.oid = s.relid
ORDER BY greatest(c.relpages, 0) + coalesce((SELECT sum(greatest(i.relpages, 0))
                                                 FROM pg_index x
                                JOIN pg_class i ON i.oid = x.indexrelid
                                WHERE x.indrelid = s.relid), 0) DESC, 2, 3
LIMIT %LIMIT%)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"heap_blks_read", "pg_statio_user_tables_heap_blocks_read",
       "Disk blocks read from the table.", C},
      {"heap_blks_hit", "pg_statio_user_tables_heap_blocks_hit",
       "Buffer hits in the table.", C},
      {"idx_blks_read", "pg_statio_user_tables_idx_blocks_read",
       "Disk blocks read from the table's indexes.", C},
      {"idx_blks_hit", "pg_statio_user_tables_idx_blocks_hit",
       "Buffer hits in the table's indexes.", C},
      {"toast_blks_read", "pg_statio_user_tables_toast_blocks_read",
       "Disk blocks read from the table's TOAST table.", C},
      {"toast_blks_hit", "pg_statio_user_tables_toast_blocks_hit",
       "Buffer hits in the table's TOAST table.", C},
      {"tidx_blks_read", "pg_statio_user_tables_tidx_blocks_read",
       "Disk blocks read from the TOAST table's indexes.", C},
      {"tidx_blks_hit", "pg_statio_user_tables_tidx_blocks_hit",
       "Buffer hits in the TOAST table's indexes.", C},
  };
}

class StatioUserTablesCollector final : public ColumnCollector {
 public:
  explicit StatioUserTablesCollector(const CollectorOptions& o)
      : ColumnCollector(o, TableLabels(), Metrics(), Scope::kPerDatabase) {}
  std::string_view Name() const override { return "statio_user_tables"; }
  std::string Query(const ServerInfo&) const override {
    return WithRelationLimit(kStatioUserTablesQuery);
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(statio_user_tables, true,
                            "pg_statio_user_tables of every database: block reads and "
                            "hits (largest --relation_limit)",
                            ::pgwarden::StatioUserTablesCollector);
