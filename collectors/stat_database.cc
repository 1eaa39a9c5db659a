// stat_database: pg_stat_database per database.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_database: transactions, I/O, rows, temp files, deadlocks";

// %PG14% adds the session statistics of PostgreSQL 14. Shared-object rows
// (datname NULL) are left out, as postgres_exporter does.
constexpr char kStatDatabaseQuery[] = R"sql(
SELECT datid::text AS datid, datname::text AS datname, numbackends,
       xact_commit, xact_rollback, blks_read, blks_hit, tup_returned,
       tup_fetched, tup_inserted, tup_updated, tup_deleted, conflicts,
       temp_files, temp_bytes, deadlocks, checksum_failures, blk_read_time,
       blk_write_time,
       coalesce(extract(epoch FROM stats_reset), 0) AS stats_reset%PG14%
FROM pg_stat_database WHERE datname IS NOT NULL)sql";

constexpr char kPg14Columns[] = R"sql(,
       active_time, session_time, idle_in_transaction_time, sessions,
       sessions_abandoned, sessions_fatal, sessions_killed)sql";

std::vector<ColumnMetric> Metrics() {
  constexpr Kind C = Kind::kCounter;
  return {
      {"numbackends", "pg_stat_database_numbackends",
       "Backends connected to this database."},
      {"xact_commit", "pg_stat_database_xact_commit", "Transactions committed.",
       C},
      {"xact_rollback", "pg_stat_database_xact_rollback",
       "Transactions rolled back.", C},
      {"blks_read", "pg_stat_database_blks_read", "Disk blocks read.", C},
      {"blks_hit", "pg_stat_database_blks_hit",
       "Disk blocks found in shared buffers.", C},
      {"tup_returned", "pg_stat_database_tup_returned",
       "Rows returned by queries.", C},
      {"tup_fetched", "pg_stat_database_tup_fetched",
       "Rows fetched by queries.", C},
      {"tup_inserted", "pg_stat_database_tup_inserted", "Rows inserted.", C},
      {"tup_updated", "pg_stat_database_tup_updated", "Rows updated.", C},
      {"tup_deleted", "pg_stat_database_tup_deleted", "Rows deleted.", C},
      {"conflicts", "pg_stat_database_conflicts",
       "Queries cancelled by conflicts with recovery (standbys only).", C},
      {"temp_files", "pg_stat_database_temp_files", "Temporary files created.",
       C},
      {"temp_bytes", "pg_stat_database_temp_bytes",
       "Bytes written to temporary files.", C},
      {"deadlocks", "pg_stat_database_deadlocks", "Deadlocks detected.", C},
      {"checksum_failures", "pg_stat_database_checksum_failures_total",
       "Data page checksum failures detected.", C},
      {"blk_read_time", "pg_stat_database_blk_read_time",
       "Time spent reading data file blocks, in milliseconds.", C},
      {"blk_write_time", "pg_stat_database_blk_write_time",
       "Time spent writing data file blocks, in milliseconds.", C},
      {"stats_reset", "pg_stat_database_stats_reset",
       "Unix time these statistics were last reset (0: never).", C},
      {"active_time", "pg_stat_database_active_time_seconds_total",
       "Time spent executing SQL statements (PostgreSQL 14+).", C, 0.001},
      {"session_time", "pg_stat_database_session_time_seconds_total",
       "Time spent by sessions (PostgreSQL 14+).", C, 0.001},
      {"idle_in_transaction_time",
       "pg_stat_database_idle_in_transaction_time_seconds_total",
       "Time sessions spent idle in a transaction (PostgreSQL 14+).", C, 0.001},
      {"sessions", "pg_stat_database_sessions_total",
       "Sessions established (14+).", C},
      {"sessions_abandoned", "pg_stat_database_sessions_abandoned_total",
       "Sessions ended because the client went away (14+).", C},
      {"sessions_fatal", "pg_stat_database_sessions_fatal_total",
       "Sessions ended by fatal errors (14+).", C},
      {"sessions_killed", "pg_stat_database_sessions_killed_total",
       "Sessions terminated by operator intervention (14+).", C},
  };
}

class StatDatabaseCollector final : public ColumnCollector {
 public:
  explicit StatDatabaseCollector(const CollectorOptions& o)
      : ColumnCollector("stat_database", o, "",
                        {{"datid", "datid"}, {"datname", "datname"}},
                        Metrics()) {}
  std::string Query(const ServerInfo& server) const override {
    return Substitute(kStatDatabaseQuery, "%PG14%",
                      server.version_num >= 140000 ? kPg14Columns : "");
  }
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_database, OnByDefault(),
                            ::pgwarden::StatDatabaseCollector);
