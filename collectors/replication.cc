// replication: is this a standby, and how far behind is its replay.

#include "collectors/columns.h"

namespace pgwarden {
namespace {

constexpr char kDescription[] =
    "standby status, replay lag (seconds and bytes), paused replay";

// lag is postgres_exporter's: 0 on a primary or when everything received
// has been replayed, else the age of the last replayed transaction;
// last_replay too is 0 on a primary, as postgres_exporter has it. The
// byte gap and the paused flag tell a stuck standby from an idle primary.
constexpr char kReplicationQuery[] = R"sql(
SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
       END AS lag,
       pg_is_in_recovery()::int AS is_replica,
       CASE WHEN pg_is_in_recovery() THEN
         greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
         ELSE 0
       END AS last_replay,
       CASE WHEN pg_is_in_recovery() THEN
         greatest(0, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()))
       END AS replay_lag_bytes,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused()::int END
         AS replay_paused)sql";

class ReplicationCollector final : public ColumnCollector {
 public:
  explicit ReplicationCollector(const CollectorOptions& o)
      : ColumnCollector(
            "replication", o, kReplicationQuery, {},
            {{"lag", "pg_replication_lag_seconds",
              "Replication lag behind the primary in seconds (0 on a primary "
              "or when all received WAL is replayed).",
              Kind::kGauge, 1, "pg_replication_lag"},
             {"is_replica", "pg_replication_is_replica",
              "1 if the server is a standby."},
             {"last_replay", "pg_replication_last_replay_seconds",
              "Age of the last replayed transaction in seconds (0 on a "
              "primary, as postgres_exporter emits it)."},
             {"replay_lag_bytes", "pg_replication_replay_lag_bytes",
              "WAL received but not yet replayed, in bytes (standbys only)."},
             {"replay_paused", "pg_replication_replay_paused",
              "1 if WAL replay is paused (standbys only)."}}) {}
};

}  // namespace
}  // namespace pgwarden

PGWARDEN_REGISTER_COLLECTOR(replication, OnByDefault(),
                            ::pgwarden::ReplicationCollector);
