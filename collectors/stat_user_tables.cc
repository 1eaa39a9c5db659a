// stat_user_tables: activity and vacuum state of the largest user tables of
// every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

// Sizes come from pg_class (as of the last VACUUM/ANALYZE), not from
// pg_table_size(): the size functions take a lock on each table and would
// queue behind any ALTER TABLE. The largest %LIMIT% tables are reported.
// A vacuum or analyze that never ran reads 0.
constexpr char kStatUserTablesQuery[] = R"sql(
SELECT current_database()::text AS datname, s.schemaname::text AS schemaname,
       s.relname::text AS relname, s.seq_scan, s.seq_tup_read,
       coalesce(s.idx_scan, 0) AS idx_scan,
       coalesce(s.idx_tup_fetch, 0) AS idx_tup_fetch, s.n_tup_ins, s.n_tup_upd,
       s.n_tup_del, s.n_tup_hot_upd, s.n_live_tup, s.n_dead_tup,
       s.n_mod_since_analyze,
       coalesce(extract(epoch FROM s.last_vacuum), 0) AS last_vacuum,
       coalesce(extract(epoch FROM s.last_autovacuum), 0) AS last_autovacuum,
       coalesce(extract(epoch FROM s.last_analyze), 0) AS last_analyze,
       coalesce(extract(epoch FROM s.last_autoanalyze), 0) AS last_autoanalyze,
       s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
       sz.index_bytes AS index_size_bytes, sz.table_bytes AS table_size_bytes
FROM pg_stat_user_tables s
CROSS JOIN LATERAL (
  SELECT (greatest(c.relpages, 0) + greatest(coalesce(t.relpages, 0), 0))::float8
           * current_setting('block_size')::int AS table_bytes,
         coalesce((SELECT sum(greatest(i.relpages, 0)) FROM pg_index x
                   JOIN pg_class i ON i.oid = x.indexrelid
                   WHERE x.indrelid = s.relid), 0)::float8
           * current_setting('block_size')::int AS index_bytes
  FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE c.oid = s.relid) sz
ORDER BY sz.table_bytes + sz.index_bytes DESC, 2, 3
LIMIT %LIMIT%)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"seq_scan", "pg_stat_user_tables_seq_scan", "Sequential scans started.", C},
      {"seq_tup_read", "pg_stat_user_tables_seq_tup_read",
       "Rows fetched by sequential scans.", C},
      {"idx_scan", "pg_stat_user_tables_idx_scan", "Index scans started.", C},
      {"idx_tup_fetch", "pg_stat_user_tables_idx_tup_fetch",
       "Rows fetched by index scans.", C},
      {"n_tup_ins", "pg_stat_user_tables_n_tup_ins", "Rows inserted.", C},
      {"n_tup_upd", "pg_stat_user_tables_n_tup_upd", "Rows updated.", C},
      {"n_tup_del", "pg_stat_user_tables_n_tup_del", "Rows deleted.", C},
      {"n_tup_hot_upd", "pg_stat_user_tables_n_tup_hot_upd", "Rows HOT updated.", C},
      {"n_live_tup", "pg_stat_user_tables_n_live_tup", "Estimated live rows."},
      {"n_dead_tup", "pg_stat_user_tables_n_dead_tup", "Estimated dead rows."},
      {"n_mod_since_analyze", "pg_stat_user_tables_n_mod_since_analyze",
       "Estimated rows modified since the last analyze."},
      {"last_vacuum", "pg_stat_user_tables_last_vacuum",
       "Unix time of the last manual vacuum (0: never)."},
      {"last_autovacuum", "pg_stat_user_tables_last_autovacuum",
       "Unix time of the last autovacuum (0: never)."},
      {"last_analyze", "pg_stat_user_tables_last_analyze",
       "Unix time of the last manual analyze (0: never)."},
      {"last_autoanalyze", "pg_stat_user_tables_last_autoanalyze",
       "Unix time of the last autoanalyze (0: never)."},
      {"vacuum_count", "pg_stat_user_tables_vacuum_count", "Manual vacuums.", C},
      {"autovacuum_count", "pg_stat_user_tables_autovacuum_count", "Autovacuums.", C},
      {"analyze_count", "pg_stat_user_tables_analyze_count", "Manual analyzes.", C},
      {"autoanalyze_count", "pg_stat_user_tables_autoanalyze_count", "Autoanalyzes.", C},
      {"index_size_bytes", "pg_stat_user_tables_index_size_bytes",
       "Size of the table's indexes (as of the last VACUUM/ANALYZE)."},
      {"table_size_bytes", "pg_stat_user_tables_table_size_bytes",
       "Size of the table with its TOAST data (as of the last VACUUM/ANALYZE)."},
  };
}

class StatUserTablesCollector final : public ColumnCollector {
 public:
  explicit StatUserTablesCollector(const CollectorOptions& o)
      : ColumnCollector(o, TableLabels(), Metrics(), Scope::kPerDatabase) {}
  std::string_view Name() const override { return "stat_user_tables"; }
  std::string Query(const ServerInfo&) const override {
    return WithRelationLimit(kStatUserTablesQuery);
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_user_tables, true,
                            "pg_stat_user_tables of every database: scans, rows, "
                            "vacuum/analyze state, sizes (largest --relation_limit)",
                            ::pgwarden::StatUserTablesCollector);
