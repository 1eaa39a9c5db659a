// statio_user_tables: block I/O of the largest user tables of every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_statio_user_tables, every database: block reads and hits";

// The same largest tables as stat_user_tables (kLargestTablesCte), their
// block counts read with the functions pg_statio_user_tables is built on.
constexpr char kStatioUserTablesQuery[] = R"sql(%TOP%,
io AS (
  SELECT top.*,
         (SELECT coalesce(sum(pg_stat_get_blocks_fetched(x.indexrelid)
                              - pg_stat_get_blocks_hit(x.indexrelid)), 0)
          FROM pg_index x WHERE x.indrelid = top.oid) AS idx_blks_read,
         (SELECT coalesce(sum(pg_stat_get_blocks_hit(x.indexrelid)), 0)
          FROM pg_index x WHERE x.indrelid = top.oid) AS idx_blks_hit,
         (SELECT coalesce(sum(pg_stat_get_blocks_fetched(x.indexrelid)
                              - pg_stat_get_blocks_hit(x.indexrelid)), 0)
          FROM pg_index x WHERE x.indrelid = top.reltoastrelid) AS tidx_blks_read,
         (SELECT coalesce(sum(pg_stat_get_blocks_hit(x.indexrelid)), 0)
          FROM pg_index x WHERE x.indrelid = top.reltoastrelid) AS tidx_blks_hit
  FROM top)
SELECT current_database()::text AS datname, schemaname, relname,
       pg_stat_get_blocks_fetched(oid) - pg_stat_get_blocks_hit(oid) AS heap_blks_read,
       pg_stat_get_blocks_hit(oid) AS heap_blks_hit,
       idx_blks_read, idx_blks_hit,
       CASE WHEN reltoastrelid <> 0
            THEN pg_stat_get_blocks_fetched(reltoastrelid)
                 - pg_stat_get_blocks_hit(reltoastrelid) ELSE 0 END AS toast_blks_read,
       CASE WHEN reltoastrelid <> 0
            THEN pg_stat_get_blocks_hit(reltoastrelid) ELSE 0 END AS toast_blks_hit,
       tidx_blks_read, tidx_blks_hit
FROM io ORDER BY table_bytes + index_bytes DESC, 2, 3)sql";

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
      : ColumnCollector(
            "statio_user_tables", o,
            Substitute(kStatioUserTablesQuery, "%TOP%", kLargestTablesCte),
            TableLabels(), Metrics(), Scope::kPerDatabase) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(statio_user_tables, OnByDefault(60),
                            ::pgwarden::StatioUserTablesCollector);
