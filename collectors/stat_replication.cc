// stat_replication: the standbys (and other WAL senders) of this server.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "pg_stat_replication: each standby's lag in bytes and seconds";

constexpr char kStatReplicationQuery[] = R"sql(
SELECT r.pid::text AS pid, coalesce(r.application_name, '') AS application_name,
       coalesce(host(r.client_addr), '') AS client_addr,
       coalesce(r.state, '') AS state, coalesce(s.slot_name::text, '') AS slot_name,
       pg_wal_lsn_diff(c.lsn, '0/0') AS current_wal_lsn,
       pg_wal_lsn_diff(c.lsn, r.replay_lsn) AS wal_lsn_diff,
       pg_wal_lsn_diff(c.lsn, r.sent_lsn) AS sent_lag_bytes,
       extract(epoch FROM r.write_lag) AS write_lag,
       extract(epoch FROM r.flush_lag) AS flush_lag,
       extract(epoch FROM r.replay_lag) AS replay_lag
FROM pg_stat_replication r
LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
CROSS JOIN (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                        ELSE pg_current_wal_lsn() END AS lsn) c)sql";

std::vector<ColumnMetric> Metrics() {
  return {
      {"current_wal_lsn", "pg_stat_replication_pg_current_wal_lsn_bytes",
       "Current WAL position of this server, as bytes."},
      {"wal_lsn_diff", "pg_stat_replication_pg_wal_lsn_diff",
       "Bytes the standby has not yet replayed."},
      {"sent_lag_bytes", "pg_stat_replication_sent_lag_bytes",
       "Bytes not yet sent to the standby."},
      {"write_lag", "pg_stat_replication_write_lag_seconds",
       "Time until recent WAL was written on the standby."},
      {"flush_lag", "pg_stat_replication_flush_lag_seconds",
       "Time until recent WAL was flushed on the standby."},
      {"replay_lag", "pg_stat_replication_replay_lag_seconds",
       "Time until recent WAL was replayed on the standby."},
  };
}

class StatReplicationCollector final : public ColumnCollector {
 public:
  explicit StatReplicationCollector(const CollectorOptions& o)
      : ColumnCollector("stat_replication", o, kStatReplicationQuery,
                        {{"application_name", "application_name"},
                         {"client_addr", "client_addr"},
                         {"state", "state"},
                         {"slot_name", "slot_name"}},
                        Metrics()) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(stat_replication, OnByDefault(),
                            ::pgwarden::StatReplicationCollector);
