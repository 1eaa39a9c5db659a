// stat_user_tables: activity and vacuum state of the largest user tables of
// every database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_user_tables, every database: scans, rows, vacuum state, sizes";

// The largest %LIMIT% tables (kLargestTablesCte), their statistics read
// with the functions pg_stat_user_tables is built on. A vacuum or analyze
// that never ran reads 0.
constexpr char kStatUserTablesQuery[] = R"sql(%TOP%
SELECT current_database()::text AS datname, top.schemaname, top.relname,
       pg_stat_get_numscans(top.oid) AS seq_scan,
       pg_stat_get_tuples_returned(top.oid) AS seq_tup_read,
       coalesce((SELECT sum(pg_stat_get_numscans(x.indexrelid)) FROM pg_index x
                 WHERE x.indrelid = top.oid), 0) AS idx_scan,
       coalesce((SELECT sum(pg_stat_get_tuples_fetched(x.indexrelid)) FROM pg_index x
                 WHERE x.indrelid = top.oid), 0)
         + pg_stat_get_tuples_fetched(top.oid) AS idx_tup_fetch,
       pg_stat_get_tuples_inserted(top.oid) AS n_tup_ins,
       pg_stat_get_tuples_updated(top.oid) AS n_tup_upd,
       pg_stat_get_tuples_deleted(top.oid) AS n_tup_del,
       pg_stat_get_tuples_hot_updated(top.oid) AS n_tup_hot_upd,
       pg_stat_get_live_tuples(top.oid) AS n_live_tup,
       pg_stat_get_dead_tuples(top.oid) AS n_dead_tup,
       pg_stat_get_mod_since_analyze(top.oid) AS n_mod_since_analyze,
       coalesce(extract(epoch FROM pg_stat_get_last_vacuum_time(top.oid)), 0) AS last_vacuum,
       coalesce(extract(epoch FROM pg_stat_get_last_autovacuum_time(top.oid)), 0)
         AS last_autovacuum,
       coalesce(extract(epoch FROM pg_stat_get_last_analyze_time(top.oid)), 0) AS last_analyze,
       coalesce(extract(epoch FROM pg_stat_get_last_autoanalyze_time(top.oid)), 0)
         AS last_autoanalyze,
       pg_stat_get_vacuum_count(top.oid) AS vacuum_count,
       pg_stat_get_autovacuum_count(top.oid) AS autovacuum_count,
       pg_stat_get_analyze_count(top.oid) AS analyze_count,
       pg_stat_get_autoanalyze_count(top.oid) AS autoanalyze_count,
       top.index_bytes AS index_size_bytes, top.table_bytes AS table_size_bytes
FROM top ORDER BY top.table_bytes + top.index_bytes DESC, 2, 3)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"seq_scan", "pg_stat_user_tables_seq_scan", "Sequential scans started.",
       C},
      {"seq_tup_read", "pg_stat_user_tables_seq_tup_read",
       "Rows fetched by sequential scans.", C},
      {"idx_scan", "pg_stat_user_tables_idx_scan", "Index scans started.", C},
      {"idx_tup_fetch", "pg_stat_user_tables_idx_tup_fetch",
       "Rows fetched by index scans.", C},
      {"n_tup_ins", "pg_stat_user_tables_n_tup_ins", "Rows inserted.", C},
      {"n_tup_upd", "pg_stat_user_tables_n_tup_upd", "Rows updated.", C},
      {"n_tup_del", "pg_stat_user_tables_n_tup_del", "Rows deleted.", C},
      {"n_tup_hot_upd", "pg_stat_user_tables_n_tup_hot_upd",
       "Rows HOT updated.", C},
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
      {"vacuum_count", "pg_stat_user_tables_vacuum_count", "Manual vacuums.",
       C},
      {"autovacuum_count", "pg_stat_user_tables_autovacuum_count",
       "Autovacuums.", C},
      {"analyze_count", "pg_stat_user_tables_analyze_count", "Manual analyzes.",
       C},
      {"autoanalyze_count", "pg_stat_user_tables_autoanalyze_count",
       "Autoanalyzes.", C},
      {"index_size_bytes", "pg_stat_user_tables_index_size_bytes",
       "Size of the table's indexes (as of the last VACUUM/ANALYZE)."},
      {"table_size_bytes", "pg_stat_user_tables_table_size_bytes",
       "Size of the table with its TOAST data (as of the last "
       "VACUUM/ANALYZE)."},
  };
}

class StatUserTablesCollector final : public ColumnCollector {
 public:
  explicit StatUserTablesCollector(const CollectorOptions& o)
      : ColumnCollector(
            "stat_user_tables", o,
            Substitute(kStatUserTablesQuery, "%TOP%", kLargestTablesCte),
            TableLabels(), Metrics(), Scope::kPerDatabase) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_user_tables, OnByDefault(60),
                            ::pgwarden::StatUserTablesCollector);
